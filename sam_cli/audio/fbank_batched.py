"""`sam_cli.audio.fbank_batch`, computed for a whole batch at once (for the GPU).

`audio.fbank` calls torchaudio's Kaldi fbank once per clip: about twenty small launches plus a mel matrix
built on the CPU and copied over, each time. At 256 clips a batch that host work alone would cap `sam batch`
below what the GPU can run. This runs the same steps, in the same order and precision, on all clips of one
length together ([clips, frames, samples] instead of [frames, samples]); the mel matrix is built once per
device. Reference: `audio.fbank_batch`; tests compare them (tests/test_kernels_fallback.py on the CPU,
tests/test_gpu.py on the GPU).

EAT's parameters (docs/design.md §3), as audio.fbank: 25 ms Hann ("hanning") frames every 10 ms, snip_edges, per-frame
DC removal, pre-emphasis 0.97, 512-point power spectrum, 128 HTK mel bins from 20 Hz, log, no dither, no
energy; the clip's own mean removed first; padded/cropped to target_length frames, then normalised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchaudio.compliance import kaldi

from sam_cli.audio.fbank import FBANK_MEAN, FBANK_STD, FRAME_SAMPLES, NUM_MEL_BINS, TARGET_LENGTH
from sam_cli.audio.load import SAMPLE_RATE

WINDOW = FRAME_SAMPLES  # 400 samples = 25 ms
SHIFT = SAMPLE_RATE // 100  # 10 ms
PADDED = 512  # next power of two
PREEMPHASIS = 0.97

_MEL: dict[torch.device, Tensor] = {}
_HANN: dict[torch.device, Tensor] = {}


def _mel(device: torch.device) -> Tensor:
    """(PADDED // 2 + 1, mel bins): torchaudio's Kaldi mel banks, zero column added, transposed."""
    if device not in _MEL:
        banks, _ = kaldi.get_mel_banks(NUM_MEL_BINS, PADDED, float(SAMPLE_RATE), 20.0, 0.0, 100.0, -500.0, 1.0)
        _MEL[device] = F.pad(banks.to(torch.float32), (0, 1)).T.contiguous().to(device)
        _HANN[device] = torch.hann_window(WINDOW, periodic=False, device=device, dtype=torch.float32)
    return _MEL[device]


def _log_mel(x: Tensor) -> Tensor:
    """Kaldi fbank of equal-length clips x [G, N] (N >= WINDOW) -> [G, frames, mel bins]."""
    g, n = x.shape
    m = 1 + (n - WINDOW) // SHIFT
    frames = x.as_strided((g, m, WINDOW), (x.stride(0), SHIFT, 1))
    frames = frames - frames.mean(dim=2, keepdim=True)  # remove_dc_offset
    previous = F.pad(frames, (1, 0), mode="replicate")[..., :-1]  # x[max(0, j-1)]
    frames = frames - PREEMPHASIS * previous
    mel = _mel(x.device)
    frames = F.pad(frames * _HANN[x.device], (0, PADDED - WINDOW))
    spectrum = torch.fft.rfft(frames).abs().pow(2.0)
    energies = torch.matmul(spectrum, mel)
    return torch.max(energies, torch.tensor(torch.finfo(torch.float32).eps, device=x.device)).log()


def fbank_batch(wavs: list[Tensor], target_length: int = TARGET_LENGTH) -> Tensor:
    """As audio.fbank_batch: normalised features [B, 1, target_length, 128] of 16 kHz mono clips."""
    device = wavs[0].device
    flat = [w.reshape(-1) if w.dim() == 2 and w.shape[0] == 1 else w for w in wavs]
    for w in flat:
        if w.dim() != 1:
            raise ValueError(f"fbank expects a 1-D mono waveform, got shape {tuple(w.shape)}")
    out = torch.empty(len(wavs), 1, target_length, NUM_MEL_BINS, device=device)
    groups: dict[int, list[int]] = {}
    for i, w in enumerate(flat):
        groups.setdefault(w.numel(), []).append(i)
    for n, rows in groups.items():
        x = torch.stack([flat[i] for i in rows]).to(torch.float32)
        if n > 0:
            x = x - x.mean(dim=1, keepdim=True)
        if n < FRAME_SAMPLES:  # shorter than one frame: zero-padded to one, as audio.fbank
            x = F.pad(x, (0, FRAME_SAMPLES - n))
        feats = _log_mel(x.contiguous())
        frames = feats.shape[1]
        if frames < target_length:
            feats = F.pad(feats, (0, 0, 0, target_length - frames))
        else:
            feats = feats[:, :target_length]
        out[rows, 0] = (feats - FBANK_MEAN) / (2 * FBANK_STD)
    return out
