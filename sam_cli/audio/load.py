"""Audio input: decode any file (or bytes, or a stream) to mono 16 kHz, and cut it into windows.

Everything here must match what EAT was trained on (docs/design.md §3), so the constants are EAT's, the
resampler is torchaudio's at its defaults, and the fbank call is EAT's literal parameter list.

Decoding uses libsndfile (through soundfile) for what it can read - wav, flac, ogg/vorbis/opus, mp3 on
libsndfile >= 1.1, aiff, ... - and falls back to ffmpeg for everything else (m4a, mka, webm, video files).
ffmpeg is only asked to decode: it hands us float samples at the file's own rate and channel count, and
we mix down and resample ourselves, so both paths give the same waveform for the same samples.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from sam_cli.audio.sources import (  # noqa: F401 (SAMPLE_RATE, AudioSource re-exported)
    SAMPLE_RATE,
    AudioSource,
    _ffprobe_info,
    _first_line,
    _mix_down,
    _open,
    _require_ffmpeg,
    _resample,
    _resolve,
    _soundfile_info,
    _Source,
)
from sam_cli.errors import AudioError

WINDOW_SECONDS = 10.24  # = fbank.TARGET_LENGTH frames, so one window fills the encoder exactly


_BLOCK_FRAMES = 1 << 16  # frames per read when streaming (about 1.5 s at 44.1 kHz)


@dataclass
class AudioWindow:
    """One window of a longer recording: `samples` at the target rate, `start`/`end` in seconds."""

    index: int
    start: float
    end: float
    samples: torch.Tensor


def load_audio(source: AudioSource, sr: int = SAMPLE_RATE, *, name: str | None = None) -> torch.Tensor:
    """Decode `source` (a path, raw file bytes, or a binary file object) to a 1-D float32 mono tensor at `sr`.

    Channels are averaged; the rate is converted with torchaudio's resampler at its defaults (as EAT did).
    Integer formats decode to [-1, 1); float files are passed through unscaled (as EAT did), and resampling
    may overshoot by a hair. No DC removal here: `fbank` does that per clip.

    Raises AudioError (one line, naming the file) for a missing file, a directory, an unreadable file, data
    that is not audio (or needs ffmpeg when it is not installed), audio with no samples, and audio holding
    NaN or infinite samples (possible in float wav files; they would poison every feature downstream, so
    they are rejected rather than silently zeroed). `name` overrides the name used in messages (e.g. "-").
    """
    src = _resolve(source, name)
    with _open(src) as stream:
        blocks = [_mix_down(b) for b in stream.blocks(1 << 22)]
        rate = stream.rate
    if not blocks:
        raise AudioError(f"{src.name}: contains no samples")
    wav = torch.cat(blocks) if len(blocks) > 1 else blocks[0]
    return _resample(wav, rate, sr)


def audio_info(source: AudioSource, *, name: str | None = None) -> tuple[float, int, int]:
    """(duration in seconds, sample rate, channels) of the file as stored, read from the header where possible.

    Formats that need ffmpeg are probed with ffprobe; without ffprobe they are decoded and counted.
    Durations of compressed formats are the container's estimate and may differ slightly from the decode.
    """
    src = _resolve(source, name)
    if (info := _soundfile_info(src)) is not None:
        return info
    _require_ffmpeg(src)
    if shutil.which("ffprobe") and (info := _ffprobe_info(src)) is not None:
        return info
    with _open(src) as stream:
        frames = sum(len(b) for b in stream.blocks(_BLOCK_FRAMES))
        return frames / stream.rate, stream.rate, stream.channels


def iter_windows(
    source: AudioSource,
    window_seconds: float = WINDOW_SECONDS,
    sr: int = SAMPLE_RATE,
    *,
    name: str | None = None,
) -> Iterator[AudioWindow]:
    """Stream `source` as consecutive windows, with memory bounded by one window (hour-long files are fine).

    Gives the same windows as `split_windows(load_audio(source, sr), window_seconds, sr)`: same count and
    timestamps, and samples equal up to float rounding (|diff| < 1e-5; tested). Each window is resampled
    with enough source context on both sides that torchaudio's filter sees exactly the samples it would
    see when resampling the whole file. Both libsndfile and ffmpeg formats are streamed.
    Path problems raise AudioError at once; decoding problems when iteration reaches them.
    """
    src = _resolve(source, name)
    window = _window_samples(window_seconds, sr)
    return _stream_windows(src, window, sr)


def split_windows(wav: torch.Tensor, window_seconds: float = WINDOW_SECONDS, sr: int = SAMPLE_RATE) -> list[AudioWindow]:
    """Cut `wav` into consecutive, non-overlapping windows that cover ALL of it.

    Audio no longer than one window gives one window. The last window is usually shorter than the others
    (the encoder zero-pads it); nothing is ever dropped, so a one-hour file is captioned end to end.
    """
    window = _window_samples(window_seconds, sr)
    n = wav.shape[-1]
    starts = range(0, max(n, 1), window)
    return [AudioWindow(i, s / sr, min(s + window, n) / sr, wav[..., s : s + window]) for i, s in enumerate(starts)]


def peak_db(wav: torch.Tensor) -> float:
    """The loudest sample's level in dBFS (full scale 1.0); -inf for digital silence or no samples."""
    if wav.numel() == 0:
        return float("-inf")
    peak = float(wav.abs().max())
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def duration(wav: torch.Tensor, sr: int = SAMPLE_RATE) -> float:
    """Length of `wav` (samples on the last dim) in seconds."""
    return wav.shape[-1] / sr


def write_audio(path: str | Path, wav: torch.Tensor, sr: int = SAMPLE_RATE, subtype: str | None = None) -> None:
    """Write a 1-D (mono) or [channels, samples] tensor; the format follows the extension (wav: 16-bit PCM)."""
    import soundfile as sf

    data = wav.detach().to("cpu", torch.float32).numpy()
    if data.ndim == 2:
        data = data.T
    try:
        sf.write(str(path), data, sr, subtype=subtype)
    except (RuntimeError, TypeError, ValueError, OSError) as e:  # soundfile's errors are RuntimeErrors
        raise AudioError(f"{path}: cannot write audio ({_first_line(e)})") from None


def _window_samples(window_seconds: float, sr: int) -> int:
    window = round(window_seconds * sr)
    if window < 1:
        raise ValueError(f"window_seconds must be positive, got {window_seconds}")
    return window


def _stream_windows(src: _Source, window: int, sr: int) -> Iterator[AudioWindow]:
    with _open(src) as stream:
        chunks = (_mix_down(b) for b in stream.blocks(_BLOCK_FRAMES))
        first = next(chunks, None)
        if first is None:
            raise AudioError(f"{src.name}: contains no samples")
        chunks = _chain(first, chunks)
        for i, (o0, o1, samples) in enumerate(_resampled_windows(chunks, stream.rate, sr, window)):
            yield AudioWindow(i, o0 / sr, o1 / sr, samples)


def _chain(first: torch.Tensor, rest: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
    yield first
    yield from rest


def _resampled_windows(
    chunks: Iterator[torch.Tensor], rate: int, sr: int, window: int
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield (start, end, samples) of consecutive `window`-sample windows of the resampled stream.

    torchaudio's resampler (rates reduced by their gcd to orig -> new) maps each group of `orig` input
    samples to `new` outputs; group q reads inputs [q*orig - width, q*orig + orig + width), with zeros
    beyond the signal's ends. So resampling a slice that starts on a group boundary and carries at least
    `width` extra inputs on each side reproduces those outputs of the whole-file resampling, and the slice
    may end at the true end of the signal, where the zero padding is the same as for the whole file.
    """
    g = math.gcd(rate, sr)
    orig, new = rate // g, sr // g
    width = math.ceil(6 * orig / (0.99 * min(orig, new)))  # torchaudio's half-width at its defaults
    margin = orig * (width // orig + 2)  # whole groups, a little more than `width`
    buf, buf_start, eof = torch.zeros(0), 0, False
    o0 = 0
    while True:
        o1 = o0 + window
        need = -(-o1 // new) * orig + margin  # input needed for outputs < o1, plus context
        pending = [buf]
        have = buf_start + len(buf)
        while not eof and have < need:
            chunk = next(chunks, None)
            if chunk is None:
                eof = True
            else:
                pending.append(chunk)
                have += len(chunk)
        buf = torch.cat(pending) if len(pending) > 1 else buf
        if eof:
            n_out = -(-new * have // orig)  # the whole-file output length: ceil(new * n_in / orig)
            o1 = min(o1, n_out)
        a = max(0, (o0 // new) * orig - margin)  # on a group boundary
        out = _resample(buf[a - buf_start : need - buf_start], rate, sr)
        a_out = a // orig * new
        yield o0, o1, out[o0 - a_out : o1 - a_out].clone()  # a copy: a view would pin the buffer
        if eof and o1 >= n_out:
            return
        o0 = o1
        keep = max(0, (o0 // new) * orig - margin)  # drop input no later window can need
        buf, buf_start = buf[keep - buf_start :], keep
