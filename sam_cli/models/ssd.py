"""Pure-PyTorch reference ops of the Mamba-2 mixer (the "SSD" layer).

These are the readable, exact versions: the GPU path swaps them for fused kernels (mamba_ssm's chunk scan
and selective_state_update, causal_conv1d's conv and update) behind the same signatures, and is tested
against them. Shapes use b = batch, l = length, h = heads, p = headdim, g = groups, n = d_state,
d = channels.

The recurrence every function here implements, per head (docs/design.md §6):
    S_t = exp(dt_t * A) * S_{t-1} + dt_t * x_t ⊗ B_t        S: (p, n)
    y_t = S_t @ C_t + D * x_t
Heads h are split into g contiguous groups that share B and C (head h uses group h // (H / G)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def upcast(t: Tensor) -> Tensor:
    """fp16/bf16 -> fp32; fp32 and fp64 unchanged (so float64 tests keep their precision)."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


# ---------------------------------------------------------------------------------------------------------
# Causal depthwise convolution (kernel d_conv, with bias, SiLU), over the xBC channels only.


def causal_conv1d(
    xBC: Tensor, weight: Tensor, bias: Tensor | None, initial_conv_state: Tensor | None = None, silu: bool = True
) -> tuple[Tensor, Tensor]:
    """Causal depthwise conv over time of xBC (b, l, d) with weight (d, w) and bias (d,).

    initial_conv_state (b, d, w) holds the last w raw inputs before this sequence (oldest first); None means
    zeros, i.e. the start of a sequence. Returns SiLU(conv) (b, l, d) and the final conv state (b, d, w): the
    last w raw inputs, zero-padded on the left when fewer than w were ever seen.
    """
    b, l, d = xBC.shape
    w = weight.shape[-1]
    if initial_conv_state is None:
        context = xBC.new_zeros(b, w, d)
    else:
        context = initial_conv_state.transpose(1, 2).to(xBC.dtype)
    full = torch.cat([context, xBC], dim=1)  # (b, w + l, d)
    # out_t = bias + sum_k weight[:, k] * input_{t - (w-1) + k}: w shifted multiply-adds, no per-channel loop.
    padded = full[:, 1:]
    out = padded[:, 0:l] * weight[:, 0]
    for k in range(1, w):
        out = out + padded[:, k : k + l] * weight[:, k]
    if bias is not None:
        out = out + bias
    if silu:
        out = F.silu(out)
    final_state = full[:, -w:].transpose(1, 2).contiguous()
    return out, final_state


def causal_conv1d_step(conv_state: Tensor, x: Tensor, weight: Tensor, bias: Tensor | None, silu: bool = True) -> Tensor:
    """One token x (b, d) through the conv; conv_state (b, d, w) is shifted left and x appended, in place."""
    conv_state.copy_(torch.cat([conv_state[:, :, 1:], x.unsqueeze(-1).to(conv_state.dtype)], dim=-1))
    out = (conv_state * weight.to(conv_state.dtype)).sum(-1).to(x.dtype)
    if bias is not None:
        out = out + bias
    return F.silu(out) if silu else out


# ---------------------------------------------------------------------------------------------------------
# Gated RMSNorm (mamba_ssm's RMSNormGated with norm_before_gate=False).


def gated_rmsnorm(y: Tensor, z: Tensor, weight: Tensor, eps: float, group_size: int | None = None) -> Tensor:
    """Gate first, then RMS-normalise: g = y * silu(z); g / sqrt(mean(g^2) + eps) * weight.

    The mean runs over groups of `group_size` channels (all d_inner channels when ngroups = 1). Computed in
    at least fp32, returned in y's dtype.
    """
    g = upcast(y) * F.silu(upcast(z))
    d = g.shape[-1]
    if group_size is None or group_size == d:
        return F.rms_norm(g, (d,), upcast(weight), eps).to(y.dtype)
    gg = F.rms_norm(g.unflatten(-1, (d // group_size, group_size)), (group_size,), None, eps)
    return (gg.flatten(-2) * upcast(weight)).to(y.dtype)


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """Plain RMSNorm in at least fp32, returned in weight's dtype (what the next Linear expects)."""
    return F.rms_norm(upcast(x), x.shape[-1:], upcast(weight), eps).to(weight.dtype)


# ---------------------------------------------------------------------------------------------------------
# The selective state space: chunked (parallel) form and one recurrent step.


def segsum(x: Tensor) -> Tensor:
    """out[..., i, j] = x[..., j+1] + ... + x[..., i] for i >= j, and -inf above the diagonal.

    Built by a masked cumsum rather than as cumsum_i - cumsum_j, which cancels catastrophically when the
    running sums get large.
    """
    t = x.shape[-1]
    ones = torch.ones(t, t, dtype=torch.bool, device=x.device)
    xx = x.unsqueeze(-1).expand(*x.shape, t).masked_fill(~ones.tril(-1), 0)  # xx[..., i, j] = x_i for i > j
    return xx.cumsum(dim=-2).masked_fill(~ones.tril(0), float("-inf"))


def ssd_chunked(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    D: Tensor | None = None,
    initial_state: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The SSD chunked scan: exact output of the recurrence for a whole sequence at once.

    x (b, l, h, p), dt (b, l, h) already softplus'ed, A (h,) negative, B and C (b, l, g, n), D (h,) or None,
    initial_state (b, h, p, n) or None. Returns y (b, l, h, p) in x's dtype and the final state (b, h, p, n)
    in at least fp32. Any length: the last chunk is zero-padded (dt = 0 there, so the padding neither decays
    nor feeds the state). Within a chunk the output is a masked quadratic form; across chunks the state is
    passed on. The result does not depend on chunk_size beyond rounding.
    """
    b, l, h, p = x.shape
    g, n = B.shape[-2:]
    r = h // g
    out_dtype = x.dtype
    cd = torch.promote_types(upcast(x).dtype, upcast(dt).dtype)  # compute dtype: fp32 or fp64
    q = max(1, min(chunk_size, l))  # short prompts need not pay for a full 256-step chunk
    nc = -(-l // q)
    pad = nc * q - l
    xs, dts, Bs, Cs = (t.to(cd) for t in (x, dt, B, C))
    if pad:
        xs, Bs, Cs = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (xs, Bs, Cs))
        dts = F.pad(dts, (0, 0, 0, pad))
    xs = xs.view(b, nc, q, h, p)
    Bs, Cs = Bs.view(b, nc, q, g, n), Cs.view(b, nc, q, g, n)
    dts = dts.view(b, nc, q, h)

    dA = (dts * A.to(cd)).permute(0, 3, 1, 2)  # (b, h, c, q)
    dA_cs = dA.cumsum(dim=-1)

    # 1. Within each chunk: y_l = sum_{s<=l} (C_l . B_s) exp(dA_{s+1} + ... + dA_l) dt_s x_s.
    CB = torch.einsum("bclgn,bcsgn->bcgls", Cs, Bs).unsqueeze(3)  # (b, c, g, 1, q, q)
    decay = torch.exp(segsum(dA)).permute(0, 2, 1, 3, 4).reshape(b, nc, g, r, q, q)
    dts_s = dts.permute(0, 1, 3, 2).reshape(b, nc, g, r, 1, q)
    M = (CB * decay * dts_s).reshape(b, nc, h, q, q)
    y = torch.einsum("bchls,bcshp->bclhp", M, xs)

    # 2. Each chunk's own contribution to the state at its end (starting from zero).
    to_end = torch.exp(dA_cs[..., -1:] - dA_cs) * dts.permute(0, 3, 1, 2)  # (b, h, c, q)
    xw = (xs * to_end.permute(0, 2, 3, 1).unsqueeze(-1)).view(b, nc, q, g, r, p)
    chunk_states = torch.einsum("bclgn,bclgrp->bcgrpn", Bs, xw).reshape(b, nc, h, p, n)

    # 3. Pass states across chunks: state at the start of chunk c (index 0 = initial), plus the final state.
    if initial_state is None:
        init = chunk_states.new_zeros(b, 1, h, p, n)
    else:
        init = initial_state.to(cd).unsqueeze(1)
    states = torch.cat([init, chunk_states], dim=1)  # (b, c+1, h, p, n)
    chunk_decay = torch.exp(segsum(F.pad(dA_cs[..., -1], (1, 0))))  # (b, h, c+1, c+1)
    states = torch.einsum("bhzc,bchpn->bzhpn", chunk_decay, states)
    start_states, final_state = states[:, :-1], states[:, -1].contiguous()

    # 4. What the incoming state adds to each position: exp(dA_1 + ... + dA_l) * (S_start @ C_l).
    y_off = torch.einsum("bclgn,bcgrpn->bclgrp", Cs, start_states.view(b, nc, g, r, p, n)).reshape(b, nc, q, h, p)
    y = y + y_off * torch.exp(dA_cs).permute(0, 2, 3, 1).unsqueeze(-1)

    y = y.reshape(b, nc * q, h, p)[:, :l]
    if D is not None:
        y = y + x.to(cd) * D.to(cd).view(h, 1)
    return y.to(out_dtype), final_state


def ssd_step(
    state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None
) -> Tensor:
    """One token of the recurrence. state (b, h, p, n), contiguous, at least fp32, updated in place;
    x (b, h, p); dt (b, h) already softplus'ed; A (h,); B and C (b, g, n); D (h,) or None. Returns y (b, h, p)
    in x's dtype."""
    b, h, p, n = state.shape
    g = B.shape[1]
    cd = state.dtype
    xf = x.to(cd)
    dt = dt.to(cd)
    B, C = B.to(cd), C.to(cd)
    # Heads of a group share B: expanding B over heads is a view for one group, a small copy otherwise.
    Bh = B.expand(b, h, n) if g == 1 else B.repeat_interleave(h // g, dim=1)
    # One pass over the state: S = exp(dt A) S + (dt x) ⊗ B, with no (b, h, p, n) temporary.
    decay = torch.exp(dt * A.to(cd)).view(b, h, 1, 1)
    state.mul_(decay).addcmul_((xf * dt.unsqueeze(-1)).unsqueeze(-1), Bh.unsqueeze(2))
    if state.is_contiguous():  # per group, one mat-vec of (h/g * p) rows
        y = torch.bmm(state.view(b * g, (h // g) * p, n), C.reshape(b * g, n, 1)).view(b, h, p)
    else:
        Ch = C.expand(b, h, n) if g == 1 else C.repeat_interleave(h // g, dim=1)
        y = torch.einsum("bhpn,bhn->bhp", state, Ch)
    if D is not None:
        y = y + xf * D.to(cd).view(h, 1)
    return y.to(x.dtype)
