"""The Audio Mamba encoder's mixers on fused kernels: all scan directions of a mixer in one scan.

The reference (`sam_cli.models.audio_mamba.CrossScanMixer.forward`) runs one convolution and one SSD scan per
direction. Here the directions become groups of heads of ONE Mamba-2 scan: each direction's reordered xBC is
stacked on the channel axis and goes through one depthwise convolution (the directions' kernels side by
side), its x becomes heads [k*h, (k+1)*h) and its B, C group k (heads of a group share B and C), so
`kernels.ssd_chunked` (mamba_ssm's mamba_chunk_scan_combined on CUDA) scans every direction in one launch,
and the gated RMSNorm is mamba_ssm's kernel. Same weights, same numbers to rounding as the reference
(tests/test_audio_mamba.py, and tests/test_gpu.py-style on CUDA). Inference only: training runs the
reference, whose autograd is plain PyTorch. `accel.select.encode_fn` picks it (CUDA, kernels importable).

On the CPU `kernels` runs the reference ops, so this path gives the reference's numbers through the stacked
layout: that is what the CPU test checks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sam_cli.accel import kernels
from sam_cli.models.audio_mamba import AudioMambaEncoder, CrossScanMixer, reorder, restore
from sam_cli.models.mamba2 import MIXER_NORM_EPS

FUSED_CHUNK = 128  # mamba_ssm's chunk scan wants 64-256; the reference's small chunk suits the CPU


def fused_mix(mixer: CrossScanMixer, u: Tensor, grid: tuple[int, int]) -> Tensor:
    """As CrossScanMixer.forward(u, grid): u [b, T*F, d_model] time-major -> [b, T*F, d_model]."""
    c, k = mixer.cfg, mixer.directions
    b, l, _ = u.shape
    h, n = c.nheads, c.d_state
    z, xBC, dt = mixer.split(F.linear(u, mixer.in_proj.weight))
    stacked = torch.cat([reorder(xBC, d, grid) for d in range(k)], dim=-1)  # [b, l, k * conv_dim]
    conv, _ = kernels.causal_conv1d(stacked, mixer.conv_weight.reshape(k * c.conv_dim, c.d_conv),
                                    mixer.conv_bias.reshape(-1))
    x, B, C = torch.split(conv.view(b, l, k, c.conv_dim), [c.d_inner, n, n], dim=-1)  # per direction
    dt_all = torch.cat([reorder(dt, d, grid) for d in range(k)], dim=-1)  # [b, l, k * h]
    dt_all = F.softplus(dt_all.float() + mixer.dt_bias.reshape(-1).float())
    A = -torch.exp(mixer.A_log.reshape(-1).float())
    chunk = FUSED_CHUNK if x.is_cuda else c.chunk_size  # the result does not depend on it beyond rounding
    y, _ = kernels.ssd_chunked(x.reshape(b, l, k * h, c.headdim), dt_all, A, B, C, chunk, mixer.D.reshape(-1))
    y = y.view(b, l, k, h, c.headdim)
    total = restore(y[:, :, 0], 0, grid)
    for d in range(1, k):
        total = total + restore(y[:, :, d], d, grid)
    out = kernels.gated_rmsnorm(total.reshape(b, l, c.d_inner), z, mixer.norm.weight, MIXER_NORM_EPS, c.d_inner)
    return F.linear(out, mixer.out_proj.weight)


@torch.no_grad()
def encode(encoder: AudioMambaEncoder, fbank: Tensor) -> Tensor:
    """As `encoder(fbank)`, every mixer on the fused path."""
    return encoder.run(fbank, fused_mix)
