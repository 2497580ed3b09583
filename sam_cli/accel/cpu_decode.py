"""Fast CPU decode step for `Mamba2LMHeadModel` (docs/design.md §9): reduced-precision copies of the big matrices.

Why: on CPU one decode step is a chain of matrix-vector products over every weight of the LM (~520 MB in
float32 for the 130M shape) plus a few hundred tiny element-wise ops. A mat-vec reads each weight once and
does one multiply-add with it, so its time is the time to stream the matrix from memory: halving the bytes
per weight roughly halves the step. `CPUDecoder` keeps, next to the float32 parameters, copies of in_proj,
out_proj (every layer) and lm_head in a smaller format, used only by `step`; `forward` (prefill, training,
scoring) never sees them. Everything else in the step (norms, conv, SSD update, residual, state) is the
reference code in fp32, and the products accumulate in fp32.

Formats, chosen by measurement on a CPU with AVX2 and F16C but no AVX-512 or AMX (benchmarks/bench_cpu.py;
BENCHMARKS.md, "CPU (model core)"):
- fp16 weights, fp16 activations, fp32 accumulation: PyTorch's fp16 gemv widens with F16C and accumulates in
  fp32 (as long as `torch._C._get_cpu_allow_fp16_reduced_precision_reduction()` stays False, the default).
  Published `state-spaces` checkpoints ship fp16 weights, so for them the copy is exact; what is rounded is
  the activation entering each product (relative 2^-11) and the product's fp16 output.
- bf16 is slower than fp32 here (no native bf16 dot products without avx512_bf16/AMX).
- int8 (fbgemm dynamic quantisation: per-channel int8 weights, activations quantised per call to 7-bit
  uint8) is the fastest per byte but rounds the activation to 1/127 of its range: too coarse for the tested
  tolerance, so it is offered (`SAM_CPU_DECODE=int8`) but not the default.

Memory: the copies add half the size of those matrices (~260 MB for the 130M shape, on top of its ~520 MB
in fp32). `accel.select` decides when they are used (SAM_CPU_DECODE=auto|exact|fast|int8) and rebuilds them
when a source weight changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from sam_cli.models.lora import effective_weight
from sam_cli.models.mamba2 import decode_step
from sam_cli.models.ssd import gated_rmsnorm, ssd_step

if TYPE_CHECKING:
    from sam_cli.models.mamba2 import InferenceState, Mamba2LMHeadModel

__all__ = ["CPUDecoder", "supported"]

Linear = Callable[[Tensor], Tensor]


# ---------------------------------------------------------------------------------------------------------
# One matrix in a reduced-precision format: a callable x (b, in) fp32 -> (b, out) fp32.


def _fp16_linear(w: Tensor, bias: Tensor | None) -> Linear:
    w16 = w.to(torch.float16).contiguous()
    b32 = None if bias is None else bias.detach().float()

    def apply(x: Tensor) -> Tensor:
        # fp16 in, fp32 accumulate (PyTorch's CPU fp16 gemv), fp16 out, widened back for the fp32 residual.
        y = F.linear(x.to(torch.float16), w16).float()
        return y if b32 is None else y + b32

    return apply


def _int8_linear(w: Tensor, bias: Tensor | None) -> Linear:
    # Symmetric per-output-channel int8 weights; fbgemm quantises the activation per call (reduce_range:
    # 7-bit activations, so AVX2's 16-bit pairwise sums cannot saturate).
    w = w.float()
    scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12).double()
    qw = torch.quantize_per_channel(w, scale, torch.zeros_like(scale, dtype=torch.long), 0, torch.qint8)
    packed = torch.ops.quantized.linear_prepack(qw, None if bias is None else bias.detach().float())

    def apply(x: Tensor) -> Tensor:
        return torch.ops.quantized.linear_dynamic(x.float().contiguous(), packed, True)

    return apply


_FORMATS: dict[str, Callable[[Tensor, Tensor | None], Linear]] = {"fp16": _fp16_linear, "int8": _int8_linear}


# ---------------------------------------------------------------------------------------------------------
# The decoder: per-layer copies plus the step that uses them.


@dataclass
class _LayerMats:
    in_proj: Linear
    out_proj: Linear


class CPUDecoder:
    """Reduced-precision copies of in_proj / out_proj / lm_head of one model, and the decode step using them.

    `accel.select.cpu_decoder(model)` makes one when it should be used, and keeps it while the weights stay.
    """

    def __init__(self, model: Mamba2LMHeadModel, fmt: str = "fp16"):
        if fmt not in _FORMATS:
            raise ValueError(f"unknown CPU decode format {fmt!r}")
        make = _FORMATS[fmt]
        self.fmt = fmt
        with torch.no_grad():
            self.layers = [
                _LayerMats(make(effective_weight(l.mixer.in_proj), l.mixer.in_proj.bias),
                           make(effective_weight(l.mixer.out_proj), l.mixer.out_proj.bias))
                for l in model.backbone.layers
            ]
            self.lm_head = make(model.lm_head.weight.detach(), model.lm_head.bias)

    def step(self, model: Mamba2LMHeadModel, input_ids: Tensor | None, state: InferenceState,
             inputs_embeds: Tensor | None = None) -> Tensor:
        """Mamba2LMHeadModel.step with the copies: same signature, same state updates (to rounding)."""
        return decode_step(CPUStep(self, model), state, input_ids, inputs_embeds)


class CPUStep:
    """The decode step's stages with the copies, and the reference maths written with fewer, fused tensor ops:
    at one token each op costs a few microseconds whatever its size, and there are ~25 per layer."""

    def __init__(self, dec: CPUDecoder, model: Mamba2LMHeadModel):
        self.dec, self.model, self.cfg = dec, model, model.cfg
        self.n_layer = model.cfg.n_layer
        self.layers = list(model.backbone.layers)

    def begin(self, input_ids: Tensor | None, inputs_embeds: Tensor | None) -> Tensor:
        h = self.model.embed(input_ids) if inputs_embeds is None else inputs_embeds
        # A fresh fp32 copy: the residual is then updated in place (it may otherwise alias the embedding).
        return h.to(torch.float32, copy=True)

    def norm_in_proj(self, i: int, residual: Tensor) -> tuple[Tensor, Tensor]:
        norm = self.layers[i].norm
        return self.dec.layers[i].in_proj(F.rms_norm(residual, (self.cfg.d_model,), norm.weight, norm.eps)), residual

    def conv_ssm(self, i: int, zx: Tensor, cs: Tensor, ss: Tensor) -> Tensor:
        c, mixer = self.cfg, self.layers[i].mixer
        b, nB = zx.shape[0], c.ngroups * c.d_state
        _, xBC, dt = mixer._split(zx)
        _conv_shift_(cs, xBC)
        conv = mixer.conv1d
        xBC = F.silu(torch.linalg.vecdot(cs, conv.weight[:, 0, :]) + conv.bias)
        x, B, C = torch.split(xBC, [c.d_inner, nB, nB], dim=-1)
        dt, A = mixer._dt_A(dt)
        x = x.view(b, c.nheads, c.headdim)
        if c.ngroups == 1 and ss.is_contiguous():
            y = _ssd_step_1group(ss, x, dt, A, B, C, mixer.D)
        else:
            y = ssd_step(ss, x, dt, A, B.view(b, c.ngroups, c.d_state), C.view(b, c.ngroups, c.d_state), mixer.D)
        return y.view(b, c.d_inner)

    def gate_out_proj(self, i: int, y: Tensor, zx: Tensor, residual: Tensor) -> Tensor:
        norm = self.layers[i].mixer.norm
        g = gated_rmsnorm(y, zx[:, : self.cfg.d_inner], norm.weight, norm.eps, norm.group_size)
        return residual.add_(self.dec.layers[i].out_proj(g))

    def head(self, residual: Tensor) -> Tensor:
        return self.dec.lm_head(self.model.backbone.norm_f(residual))


def _conv_shift_(conv_state: Tensor, x: Tensor) -> None:
    """conv_state (b, d, w) <- its last w-1 columns, then x (b, d): as causal_conv1d_step, in fewer ops.

    In a contiguous state, shifting the whole buffer left by one element moves every channel's columns 1..w-1
    to 0..w-2 (and the next channel's column 0 into this channel's column w-1, which x then overwrites): one
    contiguous copy instead of a strided concatenation.
    """
    if conv_state.is_contiguous():
        flat = conv_state.view(-1)
        flat[:-1].copy_(flat[1:].clone())  # clone: source and destination overlap
        conv_state[:, :, -1].copy_(x)
    else:
        conv_state.copy_(torch.cat([conv_state[:, :, 1:], x.unsqueeze(-1).to(conv_state.dtype)], dim=-1))


def _ssd_step_1group(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor) -> Tensor:
    """ssd_step for ngroups = 1 and fp32 inputs, D folded into the read-out (one op fewer per layer).

    state (b, h, p, n) updated in place; x (b, h, p); dt (b, h); A, D (h,); B, C (b, n) -> y (b, h, p).
    """
    b, h, p, n = state.shape
    state.mul_(torch.exp(dt * A).view(b, h, 1, 1))
    state.addcmul_((x * dt.unsqueeze(-1)).unsqueeze(-1), B.view(b, 1, 1, n))
    y = torch.baddbmm((x * D.view(h, 1)).view(b, h * p, 1), state.view(b, h * p, n), C.reshape(b, n, 1))
    return y.view(b, h, p)


def supported(model: Mamba2LMHeadModel) -> bool:
    """The copies are only valid for modules whose whole effect is one weight matrix (plus bias)."""
    lins = [m for layer in model.backbone.layers for m in (layer.mixer.in_proj, layer.mixer.out_proj)]
    return all(type(m) is nn.Linear or "lora_A" in m._parameters for m in lins + [model.lm_head])
