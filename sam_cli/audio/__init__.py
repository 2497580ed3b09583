"""Audio in: files, bytes and microphones to mono 16-kHz windows, and EAT's fbank features.

Imports nothing from the model, decoding or CLI layers.
"""

from sam_cli.audio.fbank import FBANK_MEAN, FBANK_STD, FRAME_SAMPLES, NUM_MEL_BINS, TARGET_LENGTH, fbank, fbank_batch
from sam_cli.audio.load import (
    SAMPLE_RATE,
    WINDOW_SECONDS,
    AudioSource,
    AudioWindow,
    audio_info,
    duration,
    iter_windows,
    load_audio,
    peak_db,
    split_windows,
    write_audio,
)

__all__ = ["FBANK_MEAN", "FBANK_STD", "FRAME_SAMPLES", "NUM_MEL_BINS", "TARGET_LENGTH", "fbank", "fbank_batch",
           "SAMPLE_RATE", "WINDOW_SECONDS", "AudioSource", "AudioWindow", "audio_info", "duration", "iter_windows",
           "load_audio", "peak_db", "split_windows", "write_audio"]
