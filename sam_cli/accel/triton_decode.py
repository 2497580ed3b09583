"""Fused Triton kernels for one Mamba-2 decode step: three launches per layer instead of six.

At batch 1 a decode step is latency-bound: the 130M model's weights stream in tens of microseconds, but the
~150 small launches of the library path cost several times that. These kernels merge each norm into the matrix-vector
product that follows it and the convolution into the SSM update:

    rmsnorm_gemv          RMSNorm(residual) @ W_in^T            (layer 0: gathers the embedding rows too)
    conv_ssm_step         causal conv update + SiLU + selective state update (+ D skip)
    gated_norm_gemv_add   residual += RMSNorm(y * silu(z)) @ W_out^T

`rmsnorm_gemv` with the final norm and the LM head gives the logits. Each kernel has a readable reference
below it built from `sam_cli.models.ssd` (the functions the model itself uses), and tests/test_gpu.py compares
them. The two GEMV kernels serve batches of at most MAX_GEMV_ROWS rows (each program streams a block of
weight rows once and applies it to every batch row); larger batches use cuBLAS. conv_ssm_step serves any
batch, with small tiles at batch 1 (latency) and several chunks of rows a program at large batch (bytes).
Accumulations are fp32, and every projection's output is rounded to the weight dtype, as in the eager
model; the GEMV kernels apply the norm's scale after the products (one pass), so their input is not rounded
to the weight dtype first as the eager model's is (bf16: 2.6e-3 relative to the eager output).

Launch latency, not bytes, bounds these kernels at batch 1 (a 5-MB GEMV's bytes take a fraction of a launch).
On Hopper they are launched with programmatic dependent launch (PDL): a kernel may start while the one before
it finishes, loads what the kernel just before it does not write (its first slab of weights; the SSM state
and conv history of its layer; the residual the out_proj adds to), then waits (`gdc_wait`) for the previous
kernel's results. Each kernel lets the next one launch only after its own wait, so at most two kernels
overlap and every write still follows the previous kernel's end.

The LM head can fuse the greedy pick: every program packs its best (logit, index) into one int64 that
orders like the logit (ties: the lower index, as torch.argmax) and merges it with an atomic max; the next
step's first kernel unpacks the token id. That replaces a separate 50k-way argmax launch a step.

The convolution state is double-buffered: a program reads all of B and C's history (shared by every head of
a group) while others may be writing theirs, so the new state goes to a second buffer (`conv_out`).

Imports Triton at import time: import this module only after `sam_cli.accel.kernels.available()`.
"""

from __future__ import annotations

import functools
import os
import sys

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from sam_cli.accel import kernels

from sam_cli.models import ssd

MAX_GEMV_ROWS = 4
PACKED_EMPTY = -(2**63)  # below every packed (logit, index) key: the initial value of an argmax slot
_PACKED_EMPTY = tl.constexpr(PACKED_EMPTY)  # the same, readable inside kernels (globals must be constexpr)


@functools.lru_cache(maxsize=None)
def _pdl_capable(device_index: int) -> bool:
    return torch.cuda.get_device_capability(device_index) >= (9, 0)


def use_pdl(t: Tensor) -> bool:
    """Programmatic dependent launch for kernels on t's device: Hopper or newer, compiled (not Triton's
    interpreter, which has no inline assembly), and not switched off with SAM_PDL=0."""
    if not t.is_cuda or os.environ.get("TRITON_INTERPRET") == "1" or os.environ.get("SAM_PDL", "1") == "0":
        return False
    return _pdl_capable(t.device.index if t.device.index is not None else torch.cuda.current_device())


def _launch_options(t: Tensor, pdl: bool = True) -> dict:
    pdl = pdl and use_pdl(t)
    return {"PDL": pdl, "launch_pdl": True} if pdl else {"PDL": False}


def unpack_argmax(packed: Tensor) -> Tensor:
    """Token ids from packed argmax keys (see `_pack_argmax`)."""
    return 0xFFFFFFFF - (packed & 0xFFFFFFFF)


def argmax_ref(logits: Tensor) -> Tensor:
    """What the fused pick computes: torch.argmax over the last dimension (first index of equal maxima)."""
    return torch.argmax(logits, dim=-1)


# ---------------------------------------------------------------------------------------------------------
# Shared pieces


@triton.jit
def _softplus(x):
    # log1p(exp(x)) for x <= 20, as F.softplus; Kahan's log1p (no libdevice, so it runs in the interpreter).
    u = tl.exp(x)
    w = 1.0 + u
    lp = tl.where(w == 1.0, u, tl.log(w) * u / (w - 1.0))
    return tl.where(x <= 20.0, lp, x)


# (BLOCK_N, BLOCK_K, warps, stages): weight rows a program streams, the K slice per iteration, and how
# many slices are in flight (STAGES > 1: Triton's pipeliner streams them through shared memory with
# cp.async). Thin slabs give more programs for the short matrices (130M out_proj: 768 rows); wide ones
# fewer, longer streams. The autotuner times the ones that fit (_prune_gemv) at warm-up, for shapes that
# GEMV_TILES does not hold. The single-stage shapes are those that won for the published shapes at batch 1
# with one slice in flight, plus neighbours and the thin ones that fit 2-4 rows; with one slice in flight a
# program waits a memory round trip a slice, which kept the large matrices well below the copy rate, hence
# the pipelined (STAGES > 1) ones.
GEMV_CANDIDATES = ((2, 1024, 4, 1), (4, 512, 4, 1), (4, 1024, 4, 1), (4, 2048, 8, 1), (8, 512, 4, 1), (8, 1024, 8, 1),
                   (16, 256, 4, 1), (16, 512, 8, 1), (4, 512, 4, 3), (8, 256, 4, 3), (8, 512, 4, 3), (16, 256, 8, 3))


def _gemv_configs() -> list[triton.Config]:
    return [triton.Config({"BLOCK_N": bn, "BLOCK_K": bk, "STAGES": st}, num_warps=w)
            for bn, bk, w, st in GEMV_CANDIDATES]


def config_tile(c: triton.Config) -> tuple[int, int, int, int]:
    """An autotuner config as a tile (BLOCK_N, BLOCK_K, warps, stages)."""
    return c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"], c.num_warps, c.kwargs["STAGES"]


def tile_fits(block_m: int, block_n: int, block_k: int, warps: int) -> bool:
    """The [rows, BLOCK_N, BLOCK_K] fp32 accumulator at most 64 values a thread (no spills)."""
    return block_m * block_n * block_k <= 64 * 32 * warps


def _prune_gemv(configs, named_args, **kwargs):
    # Accumulators that fit (tile_fits), K slices no wider than K needs.
    m = kwargs.get("BLOCK_M", named_args.get("BLOCK_M", 1))
    k = kwargs.get("K", named_args.get("K"))
    keep = [c for c in configs if tile_fits(m, c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"], c.num_warps)
            and (k is None or c.kwargs["BLOCK_K"] <= max(128, triton.next_power_of_2(k)))]
    return keep or configs[:1]


@triton.jit
def _pack_argmax(v, offs_n, valid):
    """int64 keys ordering like the fp32 values v, ties to the lower index offs_n; invalid lanes lowest.
    High word: the float's bits made order-preserving as a signed int; low word: 2^32 - 1 - index."""
    bits = v.to(tl.int32, bitcast=True)
    ordered = tl.where(bits >= 0, bits, bits ^ 0x7FFFFFFF).to(tl.int64)
    low = (tl.full([], 1, tl.int64) << 32) - 1
    key = (ordered << 32) | (low - offs_n.to(tl.int64))
    return tl.where(valid, key, tl.full([], _PACKED_EMPTY, tl.int64))


def _block_m(m: int) -> int:
    if m > MAX_GEMV_ROWS:
        raise ValueError(f"the fused GEMV kernels take at most {MAX_GEMV_ROWS} rows, not {m}")
    return triton.next_power_of_2(m)


# (BLOCK_N, BLOCK_K, warps, stages) by kernel ("rmsnorm" or "gated") and weight shape (N, K), for the
# published Mamba-2 shapes: measured inside a CUDA graph of PDL-chained launches over weights that do not
# fit in L2 (benchmarks/bench_gemv.py), and the in_proj and out_proj tiles inside the whole decode step
# (bench_decode.py --in-proj-tiles / --out-proj-tiles), which ranks tiles differently again: a tile that is
# fastest alone can make the step markedly slower, and inside the step single-stage tiles won for every
# out_proj. Triton's autotuner times one launch at a time after an L2 flush, which ranks tiles unlike the
# chain, so it is only the fallback, for other shapes. Every in_proj and out_proj entry was chosen in the
# step; the LM heads alone (in the step their tiles made no measurable difference). See docs/gpu.md.
GEMV_TILES: dict[tuple[str, int, int], tuple[int, int, int, int]] = {
    ("rmsnorm", 3352, 768): (4, 512, 4, 1),  # 130M in_proj
    ("gated", 768, 1536): (4, 2048, 8, 1),  # 130M out_proj
    ("rmsnorm", 50288, 768): (16, 256, 4, 3),  # 130M LM head
    ("rmsnorm", 4384, 1024): (4, 512, 4, 1),  # 370M
    ("gated", 1024, 2048): (4, 2048, 8, 1),
    ("rmsnorm", 50288, 1024): (16, 256, 4, 1),
    ("rmsnorm", 6448, 1536): (8, 512, 4, 3),  # 780M
    ("gated", 1536, 3072): (4, 1024, 4, 1),
    ("rmsnorm", 50288, 1536): (16, 256, 4, 3),
    ("rmsnorm", 8512, 2048): (4, 512, 4, 1),  # 1.3B
    ("gated", 2048, 4096): (8, 1024, 8, 1),
    ("rmsnorm", 50288, 2048): (8, 512, 4, 3),
    ("rmsnorm", 10576, 2560): (16, 256, 4, 1),  # 2.7B
    ("gated", 2560, 5120): (4, 1024, 4, 1),
    ("rmsnorm", 50288, 2560): (8, 512, 4, 3),
}


def gemv_tile(kernel: str, n: int, k: int, m: int) -> tuple[int, int, int, int] | None:
    """The measured tile for this kernel and shape, if any and if its accumulator fits m rows."""
    t = GEMV_TILES.get((kernel, n, k))
    return t if t is not None and tile_fits(_block_m(m), t[0], t[1], t[2]) else None


def _launch_gemv(kernel, kind: str, N: int, K: int, M: int, args: tuple, kwargs: dict, tile) -> None:
    """`kernel` over N output columns with `tile` (BLOCK_N, BLOCK_K, warps, stages); tile None: the
    measured one for (kind, N, K), else the autotuner's; "auto": the autotuner's."""
    tile = gemv_tile(kind, N, K, M) if tile is None else (None if tile == "auto" else tile)
    grid = lambda meta: (triton.cdiv(N, meta["BLOCK_N"]),)  # noqa: E731
    if tile is None:
        kernel[grid](*args, **kwargs)
    else:
        bn, bk, warps, stages = tile
        kernel.fn[grid](*args, **kwargs, BLOCK_N=bn, BLOCK_K=bk, STAGES=stages, num_warps=warps)


# ---------------------------------------------------------------------------------------------------------
# 1. RMSNorm + matrix-vector product


@triton.jit
def _input_slice(x_rows, offs_k, offs_m, mm, K, R_OUT, stride_r, pid, GATHER: tl.constexpr):
    """The rows' K slice `offs_k` in fp32; when GATHER (the embedding rows), program 0 also stores them to
    R_OUT: they start the fp32 residual stream."""
    mk = mm[:, None] & (offs_k < K)[None, :]
    x = tl.load(x_rows + offs_k[None, :], mask=mk, other=0.0).to(tl.float32)
    if GATHER:
        tl.store(R_OUT + offs_m[:, None] * stride_r + offs_k[None, :], x, mask=mk & (pid == 0))
    return x


@triton.jit
def _norm_weight_slice(NW, offs_k, K):
    return tl.load(NW + offs_k, mask=offs_k < K, other=0.0).to(tl.float32)[None, :]


@triton.autotune(configs=_gemv_configs(), key=["N", "K", "BLOCK_M", "GATHER", "ARGMAX"],
                 prune_configs_by={"early_config_prune": _prune_gemv})
@triton.jit
def _rmsnorm_gemv_kernel(
    X, stride_x,  # rows to normalise (M, K) -- or the embedding table (V, K) when GATHER
    IDS,  # (M,) token ids when GATHER, or packed argmax keys when PACKED_IDS
    TOK_OUT,  # (M,) int64: the unpacked ids are written here when PACKED_IDS
    R_OUT, stride_r,  # (M, K) fp32: the residual stream, written when GATHER
    NW,  # (K,) norm weight
    W, stride_w,  # (N, K) weight, K contiguous
    OUT, stride_o,  # (M, N)
    PACKED_OUT,  # (M,) int64 argmax keys, merged into when ARGMAX
    M, N, K, eps,
    GATHER: tl.constexpr, PACKED_IDS: tl.constexpr, ARGMAX: tl.constexpr, PDL: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, STAGES: tl.constexpr,
):
    pid = tl.program_id(0)
    offs_m = tl.arange(0, BLOCK_M)
    mm = offs_m < M
    offs_n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    mn = offs_n < N
    w_rows = W + offs_n[:, None] * stride_w
    # The first K slice of this program's weights: no kernel writes them, so with PDL the load overlaps
    # the previous kernel; everything after gdc_wait may read its results.
    offs_k = tl.arange(0, BLOCK_K)
    kk = offs_k < K
    w_first = tl.load(w_rows + offs_k[None, :], mask=mn[:, None] & kk[None, :], other=0.0)
    if PDL:
        gdc_wait()
        gdc_launch_dependents()
    if GATHER:
        if PACKED_IDS:  # the previous step's fused argmax
            packed = tl.load(IDS + offs_m, mask=mm, other=0)
            rows = ((tl.full([], 1, tl.int64) << 32) - 1) - (packed & ((tl.full([], 1, tl.int64) << 32) - 1))
            tl.store(TOK_OUT + offs_m, rows, mask=mm & (pid == 0))
        else:
            rows = tl.load(IDS + offs_m, mask=mm, other=0).to(tl.int64)
    else:
        rows = offs_m.to(tl.int64)
    x_rows = X + rows[:, None] * stride_x
    # One pass over K: the products with x * norm_weight accumulate while the rows' sums of squares do, and
    # rstd (one scalar a row) scales the K-sums at the end. Weights stream from the first iteration; a
    # separate pass over x for the norm first delayed the weight stream and slowed the step (docs/gpu.md).
    # Products accumulate elementwise, one reduction over K at the end, not a cross-lane sum per slice. The
    # first slice uses the weights loaded before the wait; the others stream with STAGES slices in flight.
    offs_k = tl.arange(0, BLOCK_K)
    x = _input_slice(x_rows, offs_k, offs_m, mm, K, R_OUT, stride_r, pid, GATHER)
    sq = x * x
    acc3 = (x * _norm_weight_slice(NW, offs_k, K))[:, None, :] * w_first.to(tl.float32)[None, :, :]
    for k0 in tl.range(BLOCK_K, K, BLOCK_K, num_stages=STAGES):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        w = tl.load(w_rows + offs_k[None, :], mask=mn[:, None] & (offs_k < K)[None, :], other=0.0)
        x = _input_slice(x_rows, offs_k, offs_m, mm, K, R_OUT, stride_r, pid, GATHER)
        sq += x * x
        acc3 += (x * _norm_weight_slice(NW, offs_k, K))[:, None, :] * w.to(tl.float32)[None, :, :]
    rstd = 1.0 / tl.sqrt(tl.sum(sq, axis=1) / K + eps)
    acc = tl.sum(acc3, axis=2) * rstd[:, None]
    out = acc.to(W.dtype.element_ty)  # a Linear's output is in the weight dtype
    tl.store(OUT + offs_m[:, None] * stride_o + offs_n[None, :], out, mask=mm[:, None] & mn[None, :])
    if ARGMAX:
        best = tl.max(_pack_argmax(out.to(tl.float32), offs_n[None, :], mm[:, None] & mn[None, :]), axis=1)
        # Most programs hold no new maximum: read first, and merge only a better key.
        seen = tl.load(PACKED_OUT + offs_m, mask=mm, other=0)
        tl.atomic_max(PACKED_OUT + offs_m, best, mask=mm & (best > seen))


def rmsnorm_gemv(x: Tensor, norm_weight: Tensor, weight: Tensor, eps: float, out: Tensor,
                 ids: Tensor | None = None, residual_out: Tensor | None = None, packed_ids: Tensor | None = None,
                 ids_out: Tensor | None = None, argmax_out: Tensor | None = None, tile=None) -> Tensor:
    """out[m] = Linear(RMSNorm(x[m])) for m < M <= MAX_GEMV_ROWS.

    With `ids`, x is the embedding table and row m is x[ids[m]]; those rows, in fp32, are also written to
    `residual_out` (the start of the residual stream). `packed_ids` instead of `ids`: argmax keys of the
    previous step, whose ids are also written to `ids_out`. With `argmax_out` (int64, M, filled with
    PACKED_EMPTY beforehand), each row's argmax over `out` is merged into it as a packed key
    (`unpack_argmax` reads it). `tile`: (BLOCK_N, BLOCK_K, warps, stages), or "auto" for the autotuner;
    by default GEMV_TILES' entry for this shape, else the autotuner. Reference: `rmsnorm_gemv_ref` (and
    `argmax_ref`).
    """
    K = x.shape[-1]
    N = weight.shape[0]
    M = out.shape[0]
    assert weight.stride(-1) == 1 and x.stride(-1) == 1 and out.stride(-1) == 1
    if packed_ids is not None:
        assert ids is None and ids_out is not None and packed_ids.dtype == ids_out.dtype == torch.int64
        ids = packed_ids
    gather = ids is not None
    if gather:
        assert residual_out is not None and residual_out.dtype == torch.float32
    if argmax_out is not None:
        assert argmax_out.dtype == torch.int64 and argmax_out.shape == (M,) and argmax_out.is_contiguous()
    args = (x, x.stride(0), ids if gather else x, ids_out if packed_ids is not None else x,
            residual_out if gather else out, residual_out.stride(0) if gather else 0, norm_weight, weight,
            weight.stride(0), out, out.stride(0), argmax_out if argmax_out is not None else out, M, N, K, eps)
    kwargs = dict(GATHER=gather, PACKED_IDS=packed_ids is not None, ARGMAX=argmax_out is not None,
                  BLOCK_M=_block_m(M), **_launch_options(out))
    _launch_gemv(_rmsnorm_gemv_kernel, "rmsnorm", N, K, M, args, kwargs, tile)
    return out


def rmsnorm_gemv_ref(x: Tensor, norm_weight: Tensor, weight: Tensor, eps: float,
                     ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The eager model's ops: (F.linear(ssd.rms_norm(r), W), r) with r = x (or x[ids]) in fp32."""
    rows = x[ids] if ids is not None else x
    r = rows.to(torch.promote_types(rows.dtype, torch.float32))
    return torch.nn.functional.linear(ssd.rms_norm(r, norm_weight, eps), weight), r


# ---------------------------------------------------------------------------------------------------------
# 2. Convolution update + selective state update


@triton.jit
def _conv_history(cin_row, stride_cd, CONV_W, CONV_B, ch, m, W: tl.constexpr):
    """What the causal conv of channels `ch` needs besides the new input; no kernel of this step writes it,
    so it is loaded before the PDL wait. Returns the history tile [ch, W] (column k = cin[ch, k]; column 0,
    the input that drops out, is not loaded), bias + the history's part of the sum, and the new input's
    tap."""
    taps = tl.arange(0, W)
    old = (taps >= 1)[None, :]
    hist = tl.load(cin_row + ch[:, None] * stride_cd + taps[None, :], mask=m[:, None] & old, other=0.0)
    w_old = tl.load(CONV_W + ch[:, None] * W + (taps - 1)[None, :], mask=m[:, None] & old, other=0.0)
    part = tl.load(CONV_B + ch, mask=m, other=0.0).to(tl.float32)
    part += tl.sum(hist.to(tl.float32) * w_old.to(tl.float32), axis=1)
    w_new = tl.load(CONV_W + ch * W + (W - 1), mask=m, other=0.0).to(tl.float32)
    return hist, part, w_new


@triton.jit
def _conv_finish(xbc_row, cout_row, stride_cd, ch, m, write, hist, part, w_new, W: tl.constexpr):
    """SiLU(causal conv) of channels `ch` once the new input (the in_proj output) can be read; where `write`,
    the shifted history (oldest dropped, new input appended) is stored to cout_row."""
    new = tl.load(xbc_row + ch, mask=m, other=0.0)
    taps = tl.arange(0, W)
    mw = m & write
    tl.store(cout_row + ch[:, None] * stride_cd + (taps - 1)[None, :], hist, mask=mw[:, None] & (taps >= 1)[None, :])
    tl.store(cout_row + ch * stride_cd + (W - 1), new, mask=mw)
    acc = part + w_new * new.to(tl.float32)
    return acc * tl.sigmoid(acc)


@triton.jit
def _conv_ssm_step_kernel(
    ZX, stride_zx,  # (b, d_in_proj): z | xBC | dt, the in_proj output
    CONV_IN, CONV_OUT, stride_cb, stride_cd,  # (b, conv_dim, W), W contiguous
    CONV_W, CONV_B,  # (conv_dim, W) contiguous, (conv_dim,)
    STATE, stride_sb, stride_sh, stride_sp,  # (b, h, p, n), n contiguous, fp32 or model dtype, updated in place
    A, DT_BIAS, D,  # (h,)
    Y, stride_y,  # (b, d_inner)
    d_inner, conv_dim, headdim, dstate, ngroups, heads_per_group,
    W: tl.constexpr, BLOCK_P: tl.constexpr, CHUNKS: tl.constexpr, BLOCK_N: tl.constexpr, PDL: tl.constexpr,
):
    # A program updates CHUNKS x BLOCK_P head-dim rows of one (row, head): small tiles and many programs
    # at batch 1 (latency), several chunks a program at large batch, so the convolution of B and C -- shared
    # by all rows of a head -- is computed once for many rows.
    pid_p = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    h = tl.program_id(2)
    g = h // heads_per_group
    row0 = pid_p * (BLOCK_P * CHUNKS)
    offs_n = tl.arange(0, BLOCK_N)
    mn = offs_n < dstate
    zx_row = ZX + b * stride_zx
    xbc_row = zx_row + d_inner
    cin_row = CONV_IN + b * stride_cb
    cout_row = CONV_OUT + b * stride_cb
    s_head = STATE + b * stride_sb + h * stride_sh
    dtype = ZX.dtype.element_ty
    ch_b = d_inner + g * dstate + offs_n
    ch_c = d_inner + (ngroups + g) * dstate + offs_n

    # Before the wait (PDL): everything no kernel of this step writes. This layer's SSM state and conv
    # history were last written by this kernel one step ago; weights and parameters never change.
    offs_p = row0 + tl.arange(0, BLOCK_P)
    mp = offs_p < headdim
    s_next = tl.load(s_head + offs_p[:, None] * stride_sp + offs_n[None, :], mask=mp[:, None] & mn[None, :], other=0.0)
    x_hist_n, x_part_n, x_wn_n = _conv_history(cin_row, stride_cd, CONV_W, CONV_B, h * headdim + offs_p, mp, W)
    b_hist, b_part, b_wn = _conv_history(cin_row, stride_cd, CONV_W, CONV_B, ch_b, mn, W)
    c_hist, c_part, c_wn = _conv_history(cin_row, stride_cd, CONV_W, CONV_B, ch_c, mn, W)
    a_h = tl.load(A + h).to(tl.float32)
    dt_b = tl.load(DT_BIAS + h).to(tl.float32)
    d_h = tl.load(D + h).to(tl.float32)
    if PDL:
        gdc_wait()
        gdc_launch_dependents()

    # One program per group and row writes B and C's shifted history; each program its own x channels'.
    owner = (pid_p == 0) & (h % heads_per_group == 0)
    Bv = _conv_finish(xbc_row, cout_row, stride_cd, ch_b, mn, owner, b_hist, b_part, b_wn, W)
    Cv = _conv_finish(xbc_row, cout_row, stride_cd, ch_c, mn, owner, c_hist, c_part, c_wn, W)
    # The eager path stores the conv output in the model dtype before the SSM reads it: round the same way.
    Bv = Bv.to(dtype).to(tl.float32)
    Cv = Cv.to(dtype).to(tl.float32)
    # S = exp(dt A) S + dt x B^T;  y = S C + D x, with dt = softplus(dt_raw + dt_bias).
    dt = _softplus(tl.load(xbc_row + conv_dim + h).to(tl.float32) + dt_b)
    dA = tl.exp(dt * a_h)
    for c in tl.static_range(CHUNKS):
        offs_p = row0 + c * BLOCK_P + tl.arange(0, BLOCK_P)
        mp = offs_p < headdim
        s_ptrs = s_head + offs_p[:, None] * stride_sp + offs_n[None, :]
        sm = mp[:, None] & mn[None, :]
        s_raw, x_hist, x_part, x_wn = s_next, x_hist_n, x_part_n, x_wn_n
        if c + 1 < CHUNKS:  # the next chunk's loads go out before this chunk's stores: more bytes in flight
            offs_q = offs_p + BLOCK_P
            mq = offs_q < headdim
            s_next = tl.load(s_head + offs_q[:, None] * stride_sp + offs_n[None, :], mask=mq[:, None] & mn[None, :],
                             other=0.0)
            x_hist_n, x_part_n, x_wn_n = _conv_history(cin_row, stride_cd, CONV_W, CONV_B, h * headdim + offs_q, mq, W)
        x = _conv_finish(xbc_row, cout_row, stride_cd, h * headdim + offs_p, mp, pid_p >= 0, x_hist, x_part, x_wn, W)
        x = x.to(dtype).to(tl.float32)
        s = s_raw.to(tl.float32) * dA + (dt * x)[:, None] * Bv[None, :]
        tl.store(s_ptrs, s.to(STATE.dtype.element_ty), mask=sm)
        y = tl.sum(s * Cv[None, :], axis=1) + d_h * x
        tl.store(Y + b * stride_y + h * headdim + offs_p, y.to(dtype), mask=mp)


# (rows a program's chunk, chunks a program, warps), chosen with benchmarks/bench_ssm_tiles.py and
# bench_decode.py --small-tiles (BENCHMARKS.md). Small batches: one chunk of 16 head-dim rows (96 programs
# for the 130M model's 24 heads); inside the decode graph 4-32 rows gave nearly the same step, 16 the
# fastest. Large batches: the state's bytes dominate, and every program also convolves B and C (2 x dstate
# channels), so a program takes a whole 64-row head in 4 chunks, loading the next chunk before it stores the
# current one: markedly faster than mamba_ssm's selective_state_update on a half-precision state, on a par
# with it on an fp32 state (both then move the state near the copy rate).
SMALL_BATCH_TILE = (16, 1, 4)
LARGE_BATCH_TILE = (16, 4, 4)
LARGE_BATCH_FROM = 8  # rows of the batch from which LARGE_BATCH_TILE is used


def ssm_tile(batch: int) -> tuple[int, int, int]:
    return SMALL_BATCH_TILE if batch < LARGE_BATCH_FROM else LARGE_BATCH_TILE


def conv_ssm_step(zxbcdt: Tensor, conv_in: Tensor, conv_out: Tensor, conv_weight: Tensor, conv_bias: Tensor,
                  ssm_state: Tensor, A: Tensor, dt_bias: Tensor, D: Tensor, y: Tensor, d_inner: int, ngroups: int,
                  tile: tuple[int, int, int] | None = None, pdl: bool = True) -> Tensor:
    """One token through conv + SSM for every row. Reads conv_in, writes the shifted history to conv_out
    (a different buffer), updates ssm_state (b, h, p, n) in place and writes y (b, d_inner). The state may
    be fp32 or the model dtype (computed in fp32, stored rounded). `tile` (rows, chunks, warps) overrides
    `ssm_tile` (benchmarks). pdl=False: launched without programmatic dependent launch (for neighbours that
    are not this module's kernels, where it cannot overlap anything). Reference: `conv_ssm_step_ref`."""
    b, h, p, n = ssm_state.shape
    conv_dim, w = conv_weight.shape
    assert conv_in.shape == conv_out.shape == (b, conv_dim, w) and conv_in.data_ptr() != conv_out.data_ptr()
    assert conv_in.stride() == conv_out.stride() and conv_in.stride(-1) == 1 and conv_weight.is_contiguous()
    assert ssm_state.stride(-1) == 1 and ssm_state.dtype in (torch.float32, torch.float16, torch.bfloat16)
    assert zxbcdt.stride(-1) == 1 and w == triton.next_power_of_2(w)
    assert conv_bias is not None and y.stride(-1) == 1
    block_p, chunks, warps = tile or ssm_tile(b)
    chunks = max(1, min(chunks, triton.cdiv(p, block_p)))  # no chunk entirely past the head
    grid = (triton.cdiv(p, block_p * chunks), b, h)
    _conv_ssm_step_kernel[grid](
        zxbcdt, zxbcdt.stride(0), conv_in, conv_out, conv_in.stride(0), conv_in.stride(1), conv_weight, conv_bias,
        ssm_state, ssm_state.stride(0), ssm_state.stride(1), ssm_state.stride(2), A, dt_bias, D, y, y.stride(0),
        d_inner, conv_dim, p, n, ngroups, h // ngroups,
        W=w, BLOCK_P=block_p, CHUNKS=chunks, BLOCK_N=triton.next_power_of_2(n), num_warps=warps,
        **_launch_options(y, pdl))
    return y


def conv_ssm_step_ref(zxbcdt: Tensor, conv_state: Tensor, conv_weight: Tensor, conv_bias: Tensor, ssm_state: Tensor,
                      A: Tensor, dt_bias: Tensor, D: Tensor, d_inner: int, ngroups: int) -> Tensor:
    """The eager Mamba2Mixer.step between in_proj and the gated norm; both states updated in place."""
    b, h, p, n = ssm_state.shape
    conv_dim = conv_weight.shape[0]
    xBC = zxbcdt[:, d_inner : d_inner + conv_dim]
    dt = zxbcdt[:, d_inner + conv_dim : d_inner + conv_dim + h]
    xBC = ssd.causal_conv1d_step(conv_state, xBC, conv_weight, conv_bias)
    x, B, C = torch.split(xBC, [d_inner, ngroups * n, ngroups * n], dim=-1)
    dt = torch.nn.functional.softplus(ssd.upcast(dt) + ssd.upcast(dt_bias))
    return ssd.ssd_step(ssm_state, x.reshape(b, h, p), dt, A, B.reshape(b, ngroups, n), C.reshape(b, ngroups, n),
                        D).reshape(b, d_inner)


# ---------------------------------------------------------------------------------------------------------
# 3. Gated RMSNorm + matrix-vector product + residual add


@triton.jit
def _gated_slice(y_rows, z_rows, offs_k, mm, K):
    """y * silu(z) on the rows' K slice `offs_k`, fp32."""
    mk = mm[:, None] & (offs_k < K)[None, :]
    yv = tl.load(y_rows + offs_k[None, :], mask=mk, other=0.0).to(tl.float32)
    zv = tl.load(z_rows + offs_k[None, :], mask=mk, other=0.0).to(tl.float32)
    return yv * (zv * tl.sigmoid(zv))


# restore_value: tuning runs the kernel many times, and it adds into R in place.
@triton.autotune(configs=_gemv_configs(), key=["N", "K", "BLOCK_M"], restore_value=["R"],
                 prune_configs_by={"early_config_prune": _prune_gemv})
@triton.jit
def _gated_norm_gemv_add_kernel(
    Y, stride_y,  # (M, K) SSM output
    Z, stride_z,  # (M, K) gate (a view into the in_proj output)
    GW,  # (K,) gated-norm weight
    W, stride_w,  # (N, K) out_proj weight
    R, stride_r,  # (M, N) fp32 residual stream, updated in place
    M, N, K, eps,
    PDL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    STAGES: tl.constexpr,
):
    pid = tl.program_id(0)
    offs_m = tl.arange(0, BLOCK_M)
    mm = offs_m < M
    offs_n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    mn = offs_n < N
    w_rows = W + offs_n[:, None] * stride_w
    offs_k = tl.arange(0, BLOCK_K)
    kk = offs_k < K
    w_first = tl.load(w_rows + offs_k[None, :], mask=mn[:, None] & kk[None, :], other=0.0)  # before the wait
    # The residual was last written two or more kernels ago (the previous layer's out_proj, or layer 0's
    # gather): loaded before the wait too, which takes a dependent load off the end of the chain.
    r_ptrs = R + offs_m[:, None] * stride_r + offs_n[None, :]
    rm = mm[:, None] & mn[None, :]
    r_old = tl.load(r_ptrs, mask=rm, other=0.0)
    if PDL:
        gdc_wait()
        gdc_launch_dependents()
    y_rows = Y + offs_m[:, None] * stride_y
    z_rows = Z + offs_m[:, None] * stride_z
    # One pass, as in _rmsnorm_gemv_kernel: sums of squares and products together, rstd at the end.
    offs_k = tl.arange(0, BLOCK_K)
    gv = _gated_slice(y_rows, z_rows, offs_k, mm, K)
    sq = gv * gv
    acc3 = (gv * _norm_weight_slice(GW, offs_k, K))[:, None, :] * w_first.to(tl.float32)[None, :, :]
    for k0 in tl.range(BLOCK_K, K, BLOCK_K, num_stages=STAGES):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        w = tl.load(w_rows + offs_k[None, :], mask=mn[:, None] & (offs_k < K)[None, :], other=0.0)
        gv = _gated_slice(y_rows, z_rows, offs_k, mm, K)
        sq += gv * gv
        acc3 += (gv * _norm_weight_slice(GW, offs_k, K))[:, None, :] * w.to(tl.float32)[None, :, :]
    rstd = 1.0 / tl.sqrt(tl.sum(sq, axis=1) / K + eps)
    acc = tl.sum(acc3, axis=2) * rstd[:, None]
    out = acc.to(W.dtype.element_ty).to(tl.float32)
    tl.store(r_ptrs, r_old + out, mask=rm)


def gated_norm_gemv_add(y: Tensor, z: Tensor, norm_weight: Tensor, weight: Tensor, eps: float, residual: Tensor,
                        tile=None) -> Tensor:
    """residual += Linear(gated RMSNorm(y, z)) for M <= MAX_GEMV_ROWS rows (ngroups = 1: one norm over all
    d_inner channels). `tile` as for `rmsnorm_gemv`. Reference: `gated_norm_gemv_add_ref`."""
    M, K = y.shape
    N = weight.shape[0]
    assert y.stride(-1) == 1 and z.stride(-1) == 1 and weight.stride(-1) == 1 and residual.stride(-1) == 1
    assert residual.dtype == torch.float32 and residual.shape == (M, N)
    args = (y, y.stride(0), z, z.stride(0), norm_weight, weight, weight.stride(0), residual, residual.stride(0),
            M, N, K, eps)
    kwargs = dict(BLOCK_M=_block_m(M), **_launch_options(residual))
    _launch_gemv(_gated_norm_gemv_add_kernel, "gated", N, K, M, args, kwargs, tile)
    return residual


def gated_norm_gemv_add_ref(y: Tensor, z: Tensor, norm_weight: Tensor, weight: Tensor, eps: float,
                            residual: Tensor) -> Tensor:
    """The eager model's ops: residual + out_proj(gated_rmsnorm(y, z)).float() (returned, not in place)."""
    out = torch.nn.functional.linear(ssd.gated_rmsnorm(y, z, norm_weight, eps), weight)
    return residual + out.to(residual.dtype)


# Shapes outside GEMV_TILES are tuned once a machine, not once a process.
kernels.keep_tuning(sys.modules[__name__])
