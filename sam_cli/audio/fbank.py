"""EAT's input features: Kaldi fbank with EAT's exact parameters and normalisation (docs/design.md §3).

The readable per-clip reference; `fbank_batched.py` computes the same features for many clips at once on a
GPU, and a test compares the two.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio.compliance.kaldi as kaldi

from sam_cli.audio.load import SAMPLE_RATE
from sam_cli.errors import AudioError

TARGET_LENGTH = 1024  # fbank frames the encoder sees: 10.24 s at a 10 ms shift
NUM_MEL_BINS = 128
FBANK_MEAN = -4.268  # EAT's AudioSet statistics; note that fbank() divides by TWICE the std
FBANK_STD = 4.569
FRAME_SAMPLES = 400  # one 25 ms Kaldi frame at 16 kHz: the least audio that yields a frame


def fbank(wav: torch.Tensor, target_length: int = TARGET_LENGTH) -> torch.Tensor:
    """EAT's input features for one 16 kHz mono clip: a normalised [target_length, 128] tensor.

    The clip's mean is removed, Kaldi fbank features are computed with EAT's exact parameters, the frames
    are zero-padded at the end or cropped to the first `target_length`, and only then normalised, so padded
    rows hold (0 - mean) / (2 * std). Runs on the device `wav` lives on. Clips shorter than one 25 ms frame
    are zero-padded to one frame instead of failing. Samples so large (~1e17 and more) that the power spectrum
    overflows raise AudioError instead of giving NaN features (the decoders already refuse float files
    beyond load.MAX_FLOAT_SAMPLE; this guards waveforms handed in directly).
    """
    if wav.dim() == 2 and wav.shape[0] == 1:
        wav = wav[0]
    if wav.dim() != 1:
        raise ValueError(f"fbank expects a 1-D mono waveform, got shape {tuple(wav.shape)}")
    wav = wav.to(torch.float32)
    if wav.numel() > 0:
        wav = wav - wav.mean()
    if wav.numel() < FRAME_SAMPLES:
        wav = F.pad(wav, (0, FRAME_SAMPLES - wav.numel()))
    feats = kaldi.fbank(
        wav[None],
        htk_compat=True,
        sample_frequency=SAMPLE_RATE,
        use_energy=False,
        window_type="hanning",
        num_mel_bins=NUM_MEL_BINS,
        dither=0.0,
        frame_shift=10,
    )
    if not torch.isfinite(feats).all():
        raise AudioError("the audio's samples are too large for the fbank features (overflow); scale them to [-1, 1]")
    n = feats.shape[0]
    if n < target_length:
        feats = F.pad(feats, (0, 0, 0, target_length - n))
    else:
        feats = feats[:target_length]
    return (feats - FBANK_MEAN) / (2 * FBANK_STD)


def fbank_batch(wavs: list[torch.Tensor], target_length: int = TARGET_LENGTH) -> torch.Tensor:
    """`fbank` of each clip, stacked in the encoder's layout [B, 1, target_length, 128]."""
    return torch.stack([fbank(w, target_length) for w in wavs])[:, None]
