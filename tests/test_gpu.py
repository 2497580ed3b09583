"""The GPU fast path against the pure-PyTorch reference and against upstream mamba_ssm (`pytest -m gpu`).

Skipped without a CUDA device or without the kernels (mamba_ssm, causal_conv1d). Tolerances are relative
(‖fast − ref‖ / ‖ref‖): float32 ≤ 1e-4 (the Triton kernels' float32 dots are set to IEEE below, so float32
means float32, not tf32); bfloat16 ≤ 5e-2 for one op and 8e-2 for the model (the kernels round
intermediates to bf16 at other points than the eager model does). The measured errors are written to
$SAM_GPU_TEST_REPORT when set. Token sequences are compared exactly in float32.

LM shapes use the real kernel shapes (d_state 128, headdim 64, chunk 256) at a small width and depth, so
the kernels compiled here are the ones the real models run.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_F32_DEFAULT", "ieee")  # before any kernel compiles: float32 dots in float32

import pytest
import torch

from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel

pytestmark = pytest.mark.gpu

if not torch.cuda.is_available():
    pytest.skip("needs a CUDA device", allow_module_level=True)

from sam_cli.accel import kernels  # noqa: E402

from sam_cli.models import ssd

if not kernels.available():
    pytest.skip(f"GPU kernels unavailable: {kernels.why_unavailable()}", allow_module_level=True)

from sam_cli.accel import triton_decode as T  # noqa: E402
from sam_cli.accel.cuda_graphs import GraphDecoder  # noqa: E402
from sam_cli.decoding.generate import greedy_tokens
from sam_cli.accel.fast_mamba2 import FastMamba2  # noqa: E402
from sam_cli.accel.select import fused_view

DEV = "cuda"
TOL = {torch.float32: 1e-4, torch.bfloat16: 5e-2}  # one op
MODEL_TOL = {torch.float32: 1e-4, torch.bfloat16: 8e-2}  # a few layers of them
# The fused GEMVs: their bf16 output differs from the eager one by about one rounding (2.6e-3 measured).
GEMV_TOL = {torch.float32: 1e-4, torch.bfloat16: 1e-2}
DTYPES = [torch.float32, torch.bfloat16]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    assert torch.isfinite(a).all(), "non-finite values"
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def check(name: str, a: torch.Tensor, b: torch.Tensor, tol: float) -> None:
    """Assert rel(a, b) < tol; the measured error is appended to $SAM_GPU_TEST_REPORT (gpu_suite.sh sets it)."""
    r = rel(a, b)
    report = os.environ.get("SAM_GPU_TEST_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]}\t{name}\t{r:.3g}\t{tol:g}\n")
    assert r < tol, f"{name}: relative error {r:.3g} >= {tol:g}"


def lm_config(ngroups: int = 1, n_layer: int = 3) -> Mamba2Config:
    return Mamba2Config(d_model=256, n_layer=n_layer, vocab_size=1000, ngroups=ngroups)


def make_lm(dtype: torch.dtype, seed: int = 0, **kw) -> Mamba2LMHeadModel:
    torch.manual_seed(seed)
    lm = Mamba2LMHeadModel(lm_config(**kw), device=DEV, dtype=torch.float32)
    with torch.no_grad():  # make every parameter matter (norm weights off 1, D off 1)
        for name, p in lm.named_parameters():
            if name.endswith("norm.weight") or name.endswith(".D"):
                p.add_(0.2 * torch.randn_like(p))
    return lm.to(dtype).eval()


# --- 1. thin wrappers = the reference ops -------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_wrappers_match_reference_ops(dtype):
    torch.manual_seed(1)
    tol = TOL[dtype]
    b, l, d, w = 3, 300, 768, 4
    x = torch.randn(b, 2 * l, d + 64, device=DEV, dtype=dtype)[:, :l, 16 : 16 + d]  # strided, like a split
    wt = (torch.randn(d, w, device=DEV) / 2).to(dtype)
    bi = (torch.randn(d, device=DEV) / 5).to(dtype)
    init = torch.randn(b, d, w, device=DEV, dtype=dtype)
    for i0 in (None, init):
        o1, s1 = kernels.causal_conv1d(x, wt, bi, i0)
        o2, s2 = ssd.causal_conv1d(x, wt, bi, i0)
        check("causal_conv1d", o1, o2, tol)
        assert torch.equal(s1, s2)
    xs = torch.randn(b, d + 64, device=DEV, dtype=dtype)[:, 16 : 16 + d]
    c1, c2 = init.clone(), init.clone()
    check("causal_conv1d_step", kernels.causal_conv1d_step(c1, xs, wt, bi), ssd.causal_conv1d_step(c2, xs, wt, bi), tol)
    assert torch.equal(c1, c2)
    y, z = torch.randn(2, l, 512, device=DEV, dtype=dtype), torch.randn(2, l, 512, device=DEV, dtype=dtype)
    gw = (1 + 0.2 * torch.randn(512, device=DEV)).to(dtype)
    for gs in (512, 256):
        check(f"gated_rmsnorm/{gs}", kernels.gated_rmsnorm(y, z, gw, 1e-5, gs), ssd.gated_rmsnorm(y, z, gw, 1e-5, gs), tol)
    r = torch.randn(2, l, 512, device=DEV)
    check("rms_norm", kernels.rms_norm(r, gw, 1e-5), ssd.rms_norm(r, gw, 1e-5), tol)
    out, res = kernels.add_rms_norm(y, r, gw, 1e-5)
    check("add_rms_norm/residual", res, r + y.float(), 1e-6)
    check("add_rms_norm", out, ssd.rms_norm(r + y.float(), gw, 1e-5).to(dtype), tol)
    h, p, n = 8, 64, 128
    xx = torch.randn(b, l, h, p, device=DEV, dtype=dtype)
    dt = torch.nn.functional.softplus(torch.randn(b, l, h, device=DEV) - 3)
    A = -torch.rand(h, device=DEV) * 4 - 0.5
    B, C = (torch.randn(b, l, 1, n, device=DEV, dtype=dtype) for _ in range(2))
    D = torch.randn(h, device=DEV)
    s0 = torch.randn(b, h, p, n, device=DEV)
    y1, f1 = kernels.ssd_chunked(xx, dt, A, B, C, 256, D, s0)  # 300 > 256: two chunks
    y2, f2 = ssd.ssd_chunked(xx, dt, A, B, C, 256, D, s0)
    check("ssd_chunked/y", y1, y2, tol)
    check("ssd_chunked/state", f1, f2, tol)
    assert f1.dtype == torch.float32
    st1, st2 = s0.clone(), s0.clone()
    o1 = kernels.ssd_step(st1, xx[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D)
    o2 = ssd.ssd_step(st2, xx[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D)
    check("ssd_step/y", o1, o2, tol)
    check("ssd_step/state", st1, st2, tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_chunk_scan_is_the_combined_scan(dtype):
    """A prompt of one chunk from a zero state skips mamba_chunk_scan_combined's state passing
    (kernels._one_chunk_scan): the same output and final state, bit for bit, with the split-like strided
    inputs the prefill passes; and both = the pure-PyTorch reference within tolerance."""
    torch.manual_seed(2)
    lib = kernels._lib()
    assert lib.one_chunk is not None, "mamba_ssm's chunk functions were not found"
    h, p, n, b = 8, 64, 128, 3
    for l in (40, 256):  # 256 = exactly one chunk
        xbc = torch.randn(b, l, h * p + 2 * n + 16, device=DEV, dtype=dtype)
        x = xbc[..., : h * p].unflatten(-1, (h, p))
        B = xbc[..., h * p : h * p + n].unflatten(-1, (1, n))
        C = xbc[..., h * p + n : h * p + 2 * n].unflatten(-1, (1, n))
        dt = torch.randn(b, l, h, device=DEV, dtype=dtype) - 2
        A, D, bias = -torch.rand(h, device=DEV) * 4 - 0.5, torch.randn(h, device=DEV), torch.randn(h, device=DEV) / 4
        y1, f1 = kernels.ssd_chunked_raw_dt(x, dt, A, B, C, 256, D, None, dt_bias=bias, dt_softplus=True)
        y2, f2 = lib.mamba_chunk_scan_combined(x, dt, A, B, C, 256, D=D, dt_bias=bias, dt_softplus=True,
                                               return_final_states=True)
        assert torch.equal(y1, y2) and torch.equal(f1, f2), l
        assert f1.dtype == torch.float32 and f1.shape == (b, h, p, n)
        sp = torch.nn.functional.softplus(dt.float() + bias)
        y3, f3 = ssd.ssd_chunked(x, sp, A, B, C, 256, D)
        check(f"one_chunk/{l}/y", y1, y3, TOL[dtype])
        check(f"one_chunk/{l}/state", f1, f3, TOL[dtype])


# --- 2. the fused decode kernels = their references -----------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 3])
def test_triton_decode_kernels_match_references(dtype, m):
    torch.manual_seed(2)
    tol = GEMV_TOL[dtype]
    K, N, V = 768, 3352, 1000
    emb = torch.randn(V, K, device=DEV).to(dtype)
    nw = (1 + 0.2 * torch.randn(K, device=DEV)).to(dtype)
    W = (torch.randn(N, K, device=DEV) / 30).to(dtype)
    ids = torch.randint(0, V, (m,), device=DEV)
    out, r = torch.full((m, N), float("nan"), device=DEV, dtype=dtype), torch.full((m, K), float("nan"), device=DEV)
    T.rmsnorm_gemv(emb, nw, W, 1e-5, out, ids=ids, residual_out=r)
    ref, rref = T.rmsnorm_gemv_ref(emb, nw, W, 1e-5, ids=ids)
    check("rmsnorm_gemv/gather", out, ref, tol)
    assert torch.equal(r, rref)
    x = torch.randn(m, K, device=DEV)
    out = torch.full((m, N), float("nan"), device=DEV, dtype=dtype)
    check("rmsnorm_gemv", T.rmsnorm_gemv(x, nw, W, 1e-5, out), T.rmsnorm_gemv_ref(x, nw, W, 1e-5)[0], tol)
    Kd, Nd = 1536, 768
    y = torch.randn(m, Kd, device=DEV).to(dtype)
    z = torch.randn(m, Kd + 40, device=DEV).to(dtype)[:, :Kd]
    gw = (1 + 0.2 * torch.randn(Kd, device=DEV)).to(dtype)
    Wo = (torch.randn(Nd, Kd, device=DEV) / 40).to(dtype)
    res = torch.randn(m, Nd, device=DEV)
    want = T.gated_norm_gemv_add_ref(y, z, gw, Wo, 1e-5, res)
    got = T.gated_norm_gemv_add(y, z, gw, Wo, 1e-5, res.clone())
    check("gated_norm_gemv_add", got, want, tol)


GEMV_TILES_TESTED = sorted(set(T.GEMV_TILES.values()) | set(T.GEMV_CANDIDATES))


@pytest.mark.parametrize("tile", GEMV_TILES_TESTED, ids=["x".join(map(str, t)) for t in GEMV_TILES_TESTED])
def test_every_gemv_tile_matches_reference(tile):
    """Each tile the measured table or the autotuner can pick (pipelined ones included), on shapes whose K is
    not a multiple of the K slice and whose N is not a multiple of the rows a program takes."""
    torch.manual_seed(7)
    K, N, Kd, Nd = 2600, 1003, 5200, 501
    for m in (1, 2):
        x = torch.randn(m, K, device=DEV)
        nw = (1 + 0.2 * torch.randn(K, device=DEV)).to(torch.bfloat16)
        W = (torch.randn(N, K, device=DEV) / 50).to(torch.bfloat16)
        out = torch.full((m, N), float("nan"), device=DEV, dtype=torch.bfloat16)
        packed = torch.full((m,), T.PACKED_EMPTY, dtype=torch.long, device=DEV)
        if not T.tile_fits(T._block_m(m), *tile[:3]):
            continue  # too many accumulators for this many rows: never launched so
        T.rmsnorm_gemv(x, nw, W, 1e-5, out, argmax_out=packed, tile=tile)
        ref = T.rmsnorm_gemv_ref(x, nw, W, 1e-5)[0]
        check(f"rmsnorm_gemv/{tile}", out, ref, GEMV_TOL[torch.bfloat16])
        assert torch.equal(T.unpack_argmax(packed), T.argmax_ref(out))
        y = torch.randn(m, Kd, device=DEV).to(torch.bfloat16)
        z = torch.randn(m, Kd + 24, device=DEV).to(torch.bfloat16)[:, :Kd]
        gw = (1 + 0.2 * torch.randn(Kd, device=DEV)).to(torch.bfloat16)
        Wo = (torch.randn(Nd, Kd, device=DEV) / 70).to(torch.bfloat16)
        res = torch.randn(m, Nd, device=DEV)
        got = T.gated_norm_gemv_add(y, z, gw, Wo, 1e-5, res.clone(), tile=tile)
        check(f"gated_norm_gemv_add/{tile}", got - res, T.gated_norm_gemv_add_ref(y, z, gw, Wo, 1e-5, res) - res,
              GEMV_TOL[torch.bfloat16])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 3])
def test_fused_argmax_and_packed_ids(dtype, m):
    """The LM head's fused greedy pick = torch.argmax of the same logits (ties: the first index), and the
    next step's gather unpacks it."""
    torch.manual_seed(6)
    K, N, V = 768, 50280, 50280
    nw = (1 + 0.2 * torch.randn(K, device=DEV)).to(dtype)
    W = (torch.randn(N, K, device=DEV) / 30).to(dtype)
    W[31000:] = W[17]  # many rows equal to row 17: ties, whichever of them is the maximum
    for trial in range(5):
        x = torch.randn(m, K, device=DEV) * (1 + trial)
        out = torch.empty(m, N, device=DEV, dtype=dtype)
        packed = torch.full((m,), T.PACKED_EMPTY, device=DEV, dtype=torch.long)
        T.rmsnorm_gemv(x, nw, W, 1e-5, out, argmax_out=packed)
        assert torch.equal(T.unpack_argmax(packed), T.argmax_ref(out))
    neg = torch.full((m, 300), 0.0, device=DEV, dtype=dtype)  # all logits equal: index 0
    packed = torch.full((m,), T.PACKED_EMPTY, device=DEV, dtype=torch.long)
    T.rmsnorm_gemv(x, nw, -W[17:18].expand(300, K).contiguous(), 1e-5, neg, argmax_out=packed)
    assert T.unpack_argmax(packed).tolist() == [0] * m
    emb = torch.randn(V, K, device=DEV).to(dtype)
    ids = T.unpack_argmax(packed[:m]) + torch.arange(m, device=DEV) * 7
    keyed = (torch.randint(-2**31, 2**31 - 1, (m,), device=DEV) << 32) | (0xFFFFFFFF - ids)
    tok, r = torch.full((m,), -1, device=DEV), torch.empty(m, K, device=DEV)
    out = torch.empty(m, 3352, device=DEV, dtype=dtype)
    T.rmsnorm_gemv(emb, nw, W[:3352], 1e-5, out, packed_ids=keyed, ids_out=tok, residual_out=r)
    ref, rref = T.rmsnorm_gemv_ref(emb, nw, W[:3352], 1e-5, ids=ids)
    assert torch.equal(tok, ids) and torch.equal(r, rref)
    check("rmsnorm_gemv/packed_gather", out, ref, GEMV_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ngroups", [1, 2])
@pytest.mark.parametrize("tile", [T.SMALL_BATCH_TILE, T.LARGE_BATCH_TILE, (4, 1, 2), (8, 8, 4)])
def test_conv_ssm_step_matches_reference(dtype, ngroups, tile):
    torch.manual_seed(3)
    tol = TOL[dtype]
    b, h, p, n, w = 5, 8, 64, 128, 4
    d_inner = h * p
    conv_dim = d_inner + 2 * ngroups * n
    zx = torch.randn(b, d_inner + conv_dim + h, device=DEV).to(dtype)
    cw = (torch.randn(conv_dim, w, device=DEV) / 2).to(dtype)
    cb = (torch.randn(conv_dim, device=DEV) / 5).to(dtype)
    cs = torch.randn(b, conv_dim, w, device=DEV).to(dtype)
    s0 = torch.randn(b, h, p, n, device=DEV)
    A = -torch.rand(h, device=DEV) * 4
    dtb = (torch.randn(h, device=DEV) - 3).to(dtype)
    D = torch.randn(h, device=DEV).to(dtype)
    cs_ref, s_ref = cs.clone(), s0.clone()
    y_ref = T.conv_ssm_step_ref(zx, cs_ref, cw, cb, s_ref, A, dtb, D, d_inner, ngroups)
    cout = torch.full_like(cs, float("nan"))
    s = s0.clone()
    y = torch.full((b, d_inner), float("nan"), device=DEV, dtype=dtype)
    T.conv_ssm_step(zx, cs, cout, cw, cb, s, A, dtb, D, y, d_inner, ngroups, tile=tile)
    check("conv_ssm_step/y", y, y_ref, tol)
    check("conv_ssm_step/state", s, s_ref, tol)
    assert torch.equal(cout, cs_ref), "the shifted convolution history is copied exactly"
    if dtype != torch.float32:  # the state kept in the model dtype: computed in fp32, stored rounded
        s_low, y_low = s0.to(dtype), torch.empty_like(y)
        s_ref = s_low.float()
        y_ref = T.conv_ssm_step_ref(zx, cs.clone(), cw, cb, s_ref, A, dtb, D, d_inner, ngroups)
        T.conv_ssm_step(zx, cs, cout, cw, cb, s_low, A, dtb, D, y_low, d_inner, ngroups, tile=tile)
        check("conv_ssm_step/low_state_y", y_low, y_ref, tol)
        check("conv_ssm_step/low_state", s_low, s_ref.to(dtype), tol)


# --- 3. the model: prefill and step ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_forward_and_step_match_reference(dtype):
    lm = make_lm(dtype)
    fast = fused_view(lm)
    assert isinstance(fast, FastMamba2)
    tol = MODEL_TOL[dtype]
    ids = torch.randint(0, 1000, (2, 300), device=DEV)  # longer than one 256-token chunk
    with torch.inference_mode():
        lr, sr = lm(ids, return_state=True)
        lf, sf = fast.forward(ids, return_state=True)
        check("forward/logits", lf, lr, tol)
        for i, (a, b) in enumerate(zip(sf.ssm_states + sf.conv_states, sr.ssm_states + sr.conv_states)):
            check(f"forward/state{i}", a, b, tol)
        more = torch.randint(0, 1000, (2, 7), device=DEV)  # continuing from a state
        check("forward/from_state", fast.forward(more, state=sr, num_last_tokens=3), lm(more, state=sr, num_last_tokens=3), tol)
        tok = torch.randint(0, 1000, (2,), device=DEV)
        s1, s2 = sr.clone(), sr.clone()
        check("step/logits", fast.step(tok, s1), lm.step(tok, s2), tol)
        for i, (a, b) in enumerate(zip(s1.ssm_states + s1.conv_states, s2.ssm_states + s2.conv_states)):
            check(f"step/state{i}", a, b, tol)


def test_prefill_state_equals_stepping():
    lm = make_lm(torch.float32)
    fast = fused_view(lm)
    ids = torch.randint(0, 1000, (2, 270), device=DEV)
    with torch.inference_mode():
        _, pre = fast.forward(ids, return_state=True)
        st = fast.allocate_state(2)
        for t in range(ids.shape[1]):
            fast.step(ids[:, t], st)
    for i, (a, b) in enumerate(zip(pre.ssm_states + pre.conv_states, st.ssm_states + st.conv_states)):
        check(f"prefill_vs_steps/state{i}", a, b, 1e-4)


# --- 4. CUDA graphs = eager ---------------------------------------------------------------------------


def _eager_greedy(lm: Mamba2LMHeadModel, ids: torch.Tensor, n: int) -> list[list[int]]:
    """The reference model, token by token."""
    logits, state = lm(ids, return_state=True, num_last_tokens=1)
    tok = logits[:, -1].argmax(-1)
    out = [tok.tolist()]
    for _ in range(n - 1):
        tok = lm.step(tok, state).argmax(-1)
        out.append(tok.tolist())
    return out


@pytest.mark.parametrize("variant,batch", [("fused", 1), ("fused", 3), ("hybrid", 5), ("hybrid", 9), ("library", 5)])
def test_graph_replay_equals_eager(variant, batch):
    lm = make_lm(torch.float32)
    fast = fused_view(lm)
    ids = torch.randint(0, 1000, (batch, 40), device=DEV)
    with torch.inference_mode():
        want = _eager_greedy(lm, ids, 30)
        dec = GraphDecoder(fast, batch, variants=(variant,))
        assert dec.variant == variant, dec.variant_ms
        logits, _ = fast.forward(ids, return_state=True, num_last_tokens=1, out_state=dec.state)
        first = logits[:, -1].argmax(-1)
        got = [first.tolist()] + list(dec.tokens_after(first, 29))
    assert got == want


def test_graph_bf16_logits_close_to_eager():
    lm = make_lm(torch.bfloat16)
    fast = fused_view(lm)
    ids = torch.randint(0, 1000, (1, 40), device=DEV)
    with torch.inference_mode():
        dec = GraphDecoder(fast, 1, variants=("fused",))
        fast.forward(ids, return_state=True, num_last_tokens=1, out_state=dec.state)
        st = dec.state.clone()
        dec.tokens[0].fill_(5)
        dec.replay()  # STEPS_PER_GRAPH steps; dec.logits holds the last one's
        inputs = [torch.full((1,), 5, device=DEV)] + [dec.tokens[k].clone() for k in range(1, dec.steps)]
        for tok in inputs:  # the same inputs through the eager step
            logits = fast.step(tok, st)
    check("graph_bf16/logits", dec.logits.float(), logits, MODEL_TOL[torch.bfloat16])


def test_programmatic_dependent_launch_changes_nothing(monkeypatch):
    """PDL lets a kernel start before the previous one ends; the tokens and logits must be bit-identical
    to launching without it, over many replays (a race would show as a difference)."""
    lm = make_lm(torch.float32, n_layer=4)
    fast = fused_view(lm)
    ids = torch.randint(0, 1000, (1, 40), device=DEV)
    runs = []
    for pdl in ("0", "1"):
        monkeypatch.setenv("SAM_PDL", pdl)
        with torch.inference_mode():
            dec = GraphDecoder(fast, 1, variants=("fused",))
            logits, _ = fast.forward(ids, return_state=True, num_last_tokens=1, out_state=dec.state)
            first = logits[:, -1].argmax(-1)
            toks = [first.tolist()] + list(dec.tokens_after(first, 199))
        runs.append((toks, dec.logits.clone(), [s.clone() for s in dec.state.ssm_states]))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    assert all(torch.equal(a, b) for a, b in zip(runs[0][2], runs[1][2]))


@pytest.mark.parametrize("variant,batch", [("fused", 1), ("library", 5)])
def test_state_in_the_model_dtype(variant, batch):
    """state_dtype = the model dtype (as mamba_ssm keeps it). Teacher-forced steps with a bf16 state stay
    close to those with the fp32 state; the graph decoder with a bf16 state = eager steps on a bf16 state."""
    lm = make_lm(torch.bfloat16)
    fast = fused_view(lm)
    ids = torch.randint(0, 1000, (batch, 40), device=DEV)
    with torch.inference_mode():
        _, st = fast.forward(ids, return_state=True)
        low = fast.allocate_state(batch, torch.bfloat16)
        low.copy_(st)
        assert low.ssm_states[0].dtype == torch.bfloat16
        for t in range(8):
            tok = torch.randint(0, 1000, (batch,), device=DEV)
            check(f"state_dtype/step{t}", fast.step(tok, low), fast.step(tok, st), MODEL_TOL[torch.bfloat16])
        dec = GraphDecoder(fast, batch, variants=(variant,), state_dtype=torch.bfloat16)
        assert dec.state.ssm_states[0].dtype == torch.bfloat16
        fast.forward(ids, return_state=True, num_last_tokens=1, out_state=dec.state)
        eager = dec.state.clone()
        dec.tokens[0].fill_(5)
        dec.replay()
        inputs = [torch.full((batch,), 5, device=DEV)] + [dec.tokens[k].clone() for k in range(1, dec.steps)]
        for tok in inputs:
            logits = fast.step(tok, eager)
        if variant == "library":  # the very kernels of the eager step: the same picks
            assert torch.equal(dec.tokens[dec.steps], logits.argmax(-1))
        else:
            check("state_dtype/graph_logits", dec.logits.float(), logits, MODEL_TOL[torch.bfloat16])


def test_greedy_batched_equals_single():
    lm = make_lm(torch.float32)
    ids = torch.randint(0, 1000, (4, 33), device=DEV)
    batched = greedy_tokens(lm, ids, 20)
    for i in range(4):
        assert torch.equal(greedy_tokens(lm, ids[i : i + 1], 20)[0], batched[i])


def test_decode_variant_by_rule(monkeypatch):
    """Without SAM_GRAPH_VARIANT a decoder builds one variant, the rule's: fused up to 4 rows; above, library
    with the fp32 state and hybrid with a state in the model dtype. =timed builds every candidate and keeps
    the fastest (what every decoder did before: seconds of each process's start)."""
    monkeypatch.delenv("SAM_GRAPH_VARIANT", raising=False)
    fast = fused_view(make_lm(torch.bfloat16))
    with torch.inference_mode():
        for batch, state_dtype, want in [(1, None, "fused"), (4, None, "fused"), (5, None, "library"),
                                         (5, torch.bfloat16, "hybrid")]:
            dec = GraphDecoder(fast, batch, state_dtype=state_dtype)
            assert (dec.variant, list(dec.variant_ms)) == (want, [want]), (batch, state_dtype, dec.variant_ms)
        monkeypatch.setenv("SAM_GRAPH_VARIANT", "timed")
        dec = GraphDecoder(fast, 1)
    assert sorted(dec.variant_ms) == ["fused", "hybrid", "library"], dec.variant_ms
    assert dec.variant == min(dec.variant_ms, key=dec.variant_ms.get)


_TUNE_ONE_GEMV = """
import torch
from sam_cli.accel import triton_decode as T
torch.manual_seed(0)
x = torch.randn(1, 200, device="cuda", dtype=torch.bfloat16)
w = torch.randn(300, 200, device="cuda", dtype=torch.bfloat16)
out = torch.empty(1, 300, device="cuda", dtype=torch.bfloat16)
T.rmsnorm_gemv(x, torch.ones(200, device="cuda", dtype=torch.bfloat16), w, 1e-5, out)
print("BEST", T.config_tile(T._rmsnorm_gemv_kernel.best_config), out.float().sum().item())
"""


def test_tuning_is_kept_on_disk(tmp_path):
    """A GEMV shape outside GEMV_TILES is tuned by the first process on a machine and read back from Triton's
    cache directory by the next, which times nothing; mamba_ssm's chunk-scan autotuners are kept the same
    way once the kernels are loaded, except those Triton cannot save (config pre_hooks: backward kernels)."""
    import subprocess
    import sys
    from pathlib import Path

    from mamba_ssm.ops.triton import ssd_bmm, ssd_chunk_scan, ssd_chunk_state, ssd_state_passing

    assert kernels.available()
    for k in (ssd_chunk_state._chunk_cumsum_fwd_kernel, ssd_chunk_state._chunk_state_fwd_kernel,
              ssd_bmm._bmm_chunk_fwd_kernel, ssd_state_passing._state_passing_fwd_kernel,
              ssd_chunk_scan._chunk_scan_fwd_kernel):
        assert k.cache_results, k
    assert not ssd_chunk_scan._chunk_scan_bwd_dx_kernel.cache_results
    assert T._rmsnorm_gemv_kernel.cache_results

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "TRITON_CACHE_DIR": str(tmp_path), "TRITON_PRINT_AUTOTUNING": "1",
           "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("TRITON_CACHE_AUTOTUNING", None)
    runs = [subprocess.run([sys.executable, "-c", _TUNE_ONE_GEMV], env=env, capture_output=True, text=True,
                           timeout=300) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    tuned = ["Triton autotuning for function _rmsnorm_gemv_kernel" in r.stdout + r.stderr for r in runs]
    assert tuned == [True, False], [r.stdout[-500:] for r in runs]
    assert list(tmp_path.rglob("_rmsnorm_gemv_kernel.autotune.json"))
    best = [next(line for line in r.stdout.splitlines() if line.startswith("BEST")) for r in runs]
    assert best[0] == best[1]


_NO_COMPILER = """
import sys
import torch
from sam_cli.accel import kernels
from sam_cli.accel.cuda_graphs import GraphDecoder
from sam_cli.accel.select import fused_view
from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel
lm = Mamba2LMHeadModel(Mamba2Config(d_model=256, n_layer=2, vocab_size=1000), device="cuda",
                       dtype=torch.bfloat16).eval()
fast = fused_view(lm)
assert kernels.conv_available() and kernels._lib().conv_direct is not None
with torch.inference_mode():
    ids = torch.randint(0, 1000, (2, 40), device="cuda")
    fast.forward(ids, return_state=True, num_last_tokens=1)  # prefill: causal_conv1d
    for variant in ("library", "fused"):  # library: causal_conv1d_update
        dec = GraphDecoder(fast, 8 if variant == "library" else 1, variants=(variant,))
        dec.replay()
torch.cuda.synchronize()
print("DYNAMO", "torch._dynamo" in sys.modules)
"""


def test_inference_imports_no_compiler():
    """A GPU process that prefills and decodes never imports torch._dynamo: causal_conv1d 1.7's public
    functions are torch custom ops, whose first call imports it (and sympy), seconds of every one-off
    command; the wrappers call its extension directly (kernels._conv_extension)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    r = subprocess.run([sys.executable, "-c", _NO_COMPILER], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DYNAMO False" in r.stdout, r.stdout[-500:]


def test_conv_with_gradient_takes_the_autograd_function():
    """With a gradient wanted the convolution goes through causal_conv1d_fn (its autograd Function), and
    the gradients match the reference's."""
    torch.manual_seed(3)
    b, l, d, w = 2, 50, 256, 4
    x = torch.randn(b, l, d, device=DEV, requires_grad=True)
    wt = torch.randn(d, w, device=DEV, requires_grad=True)
    bi = torch.randn(d, device=DEV, requires_grad=True)
    grads = []
    for f in (kernels.causal_conv1d, ssd.causal_conv1d):
        out, _ = f(x, wt, bi, None)
        grads.append(torch.autograd.grad(out.square().sum(), (x, wt, bi)))
    for g1, g2 in zip(*grads):
        check("causal_conv1d grad", g1, g2, 1e-4)


def test_prefill_graph_equals_eager(monkeypatch):
    """A prompt length met again is prefilled from a CUDA graph: the same logits and state as the eager
    prefill of the same inputs, new inputs each time (no stale replay), across a chunk boundary, with the
    reference's decode after it; graphs only for small prompts, and a few lengths at a time."""
    import sam_cli.accel.cuda_graphs as G

    lm = make_lm(torch.float32)
    fast = fused_view(lm)
    with torch.inference_mode():
        dec = GraphDecoder(fast, 2, variants=("fused",))
        graphs = dec.prefill_graphs
        for length in (40, 300):  # 300: longer than one 256-token chunk
            for k in range(3):  # eager, captured, replayed
                ids = torch.randint(0, 1000, (2, length), device=DEV)
                got = dec.prefill(fast.embed(ids))
                st = dec.state.clone()
                want, ref = fast.forward(ids, return_state=True, num_last_tokens=1)
                check(f"prefill_graph/L{length}/{k}/logits", got, want[:, -1], 1e-6)
                for i, (a, b) in enumerate(zip(st.ssm_states + st.conv_states, ref.ssm_states + ref.conv_states)):
                    check(f"prefill_graph/L{length}/{k}/state{i}", a, b, 1e-6)
            assert ((2, length, 256), torch.float32) in graphs.graphs, graphs.failed
        assert graphs.capture_s > 0
        ids = torch.randint(0, 1000, (2, 40), device=DEV)
        first = dec.prefill(fast.embed(ids)).argmax(-1)
        assert [first.tolist()] + list(dec.tokens_after(first, 29)) == _eager_greedy(lm, ids, 30)
        monkeypatch.setattr(G, "PREFILL_GRAPH_SIZE", 2 * 50 * 256)
        graphs.clear()
        for length in (10, 20, 30, 45, 60, 10):
            x = fast.embed(torch.randint(0, 1000, (2, length), device=DEV))
            dec.prefill(x)
            dec.prefill(x)
        lengths = [k[0][1] for k in graphs.graphs]
        assert 60 not in lengths and graphs.seen[((2, 60, 256), torch.float32)] == 2  # 120 tokens: eager
        assert lengths == [20, 30, 45, 10][-G.MAX_PREFILL_GRAPHS:]  # the least recently used dropped


def test_encoder_graph_equals_eager():
    """A batch size met again is encoded from a CUDA graph: the eager encoder's output for every input,
    and fresh graphs after the weights are replaced (here: cast to bf16)."""
    from sam_cli.accel import select

    model = _sam(torch.float32)
    with torch.inference_mode():
        for dtype in (torch.float32, torch.bfloat16):
            model.to(dtype)
            for k in range(3):
                feats = torch.randn(2, 1, 64, 128, device=DEV)
                got = select.encode_fn(model)(feats)[:2]
                want = model.encode_audio(feats)
                tol = 1e-6 if dtype == torch.float32 else GEMV_TOL[dtype]  # bf16: a rounding, should cuBLAS
                for name, a, b in zip(("embeds", "tokens"), got, want):  # choose other kernels in a capture
                    check(f"encoder_graph/{dtype}/{k}/{name}", a, b, tol)
            graphs = select.cached(model.encoder)["encode"]
            assert len(graphs.graphs) == 1 and graphs.capture_s > 0, graphs.failed


# --- 5. against upstream mamba_ssm ---------------------------------------------------------------------


def test_matches_upstream_mamba_ssm():
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel

    lm = make_lm(torch.float32)
    c = lm.cfg
    up = MambaLMHeadModel(MambaConfig(d_model=c.d_model, n_layer=c.n_layer, d_intermediate=0, vocab_size=c.vocab_size,
                                      ssm_cfg={"layer": "Mamba2"}, rms_norm=True, residual_in_fp32=True,
                                      fused_add_norm=True, pad_vocab_size_multiple=c.pad_vocab_size_multiple,
                                      tie_embeddings=True), device=DEV, dtype=torch.float32)
    up.load_state_dict(lm.state_dict(), strict=True)
    up.eval()
    ids = torch.randint(0, 1000, (2, 300), device=DEV)
    with torch.inference_mode():
        theirs = up(ids).logits
        check("upstream/fast_logits", fused_view(lm).forward(ids), theirs, 1e-4)
        check("upstream/reference_logits", lm(ids), theirs, 1e-4)  # the pure-PyTorch reference too
        prompt = ids[:, :50]
        up_gen = up.generate(prompt, max_length=50 + 64, cg=True)[:, 50:]
        ours = greedy_tokens(lm, prompt, 64)
        assert torch.equal(ours.cpu(), up_gen.cpu())
        assert torch.tensor(_eager_greedy(lm, prompt, 64)).T.equal(ours.cpu())


# --- 6. through generate(): SAM with LoRA, EOS, loop guard, batches ---------------------------------------


def _sam(dtype: torch.dtype):
    from conftest import CAPTIONS

    from sam_cli.models.connector import ConnectorConfig
    from sam_cli.models.encoder import EATConfig
    from sam_cli.models.lora import lora_layers
    from sam_cli.models.sam import SAM, SAMConfig
    from sam_cli.models.tokenizer import train_tokenizer

    torch.manual_seed(4)
    cfg = SAMConfig(encoder=EATConfig(embed_dim=64, depth=1, num_heads=1, num_classes=0, max_length=64),
                    lm=lm_config(), connector=ConnectorConfig(hidden_dim=64), lora_rank=4)
    model = SAM(cfg)
    for layer in lora_layers(model):  # a trained adapter is not zero
        torch.nn.init.normal_(layer.lora_B, std=0.05)
    model.tokenizer = train_tokenizer(CAPTIONS * 4, vocab_size=300)
    return model.to(DEV, dtype).eval()


def test_generate_graph_path_equals_eager_path(monkeypatch):
    from sam_cli.decoding.options import DecodeOptions, Timings
    from sam_cli.decoding.generate import generate

    model = _sam(torch.float32)
    audio = torch.randn(3, 64, 256, device=DEV)
    prompts = [[5, 6, 7, 8], [9, 10], [5, 6, 7, 8]]  # two prompt lengths: grouped prefill
    opts = DecodeOptions(max_new_tokens=40)
    tm = Timings()
    fast_out = generate(model, audio, prompts, opts, timings=tm)
    assert tm.extra.get("decode_variant"), "the greedy CUDA path was not taken"
    single = [generate(model, audio[i : i + 1], [prompts[i]], opts)[0] for i in range(3)]
    same = [prompts[0]] * 3  # one prompt for every row, as `sam batch` asks: prefilled as one tensor
    same_out = generate(model, audio, same, opts)
    assert same_out == [generate(model, audio[i : i + 1], same[:1], opts)[0] for i in range(3)]
    monkeypatch.setenv("SAM_KERNELS", "0")  # the pure-PyTorch model on the same GPU
    assert same_out == generate(model, audio, same, opts)
    eager = generate(model, audio, prompts, opts)
    assert fast_out == eager == single
    # EOS: make a token that row 0 emits the end token; then the loop guard
    monkeypatch.delenv("SAM_KERNELS")
    row0 = eager[0]
    assert len(row0) >= 2
    model.tokenizer.eos_id = row0[len(row0) // 2]  # row 0 now ends there (or earlier)
    guard = DecodeOptions(max_new_tokens=40, loop_repeats=2, loop_ngram=3)
    a, b = generate(model, audio, prompts, opts), generate(model, audio, prompts, guard)
    monkeypatch.setenv("SAM_KERNELS", "0")
    assert a == generate(model, audio, prompts, opts) and b == generate(model, audio, prompts, guard)
    assert len(a[0]) <= len(row0) // 2


def test_bundled_model_on_the_gpu_as_a_long_running_process(monkeypatch):
    """The bundled model through the public API, as `sam listen` or a script uses it: every example clip
    described in one process (the first clip eager, then the encoder and the prefill captured and replayed)
    gives the pure-PyTorch model's captions on the same GPU with the exact (fp32) state; with the default
    state in the model dtype, the dog still barks twice."""
    from pathlib import Path

    import sam_cli.tasks as I
    from sam_cli.accel import select
    from sam_cli.store.checkpoint import load_checkpoint
    from sam_cli.decoding.options import DecodeOptions

    repo = Path(__file__).resolve().parent.parent
    model = load_checkpoint(repo / "sam_cli" / "assets" / "models" / "sam-tiny", device=DEV)
    clips = sorted((repo / "examples").glob("*.wav"))
    assert len(clips) >= 3

    def captions(**kw) -> list[str]:
        return [I.describe(model, p, **kw)[0].text for p in clips]

    exact = DecodeOptions(state_dtype="fp32")
    fast = [captions(opts=exact), captions(opts=exact)]
    default = captions()
    assert select.cached(model.encoder)["encode"].graphs, "the encoder was not replayed from a graph"
    decoders = select.graph_decoders(model.lm).values()
    assert any(d.prefill_graphs.graphs for d in decoders), "the prefill was not replayed from a graph"
    monkeypatch.setenv("SAM_KERNELS", "0")
    monkeypatch.setattr(select, "ENCODE_GRAPH_ROWS", 0)
    reference = captions()
    assert fast[0] == fast[1] == reference
    dog = [p.name for p in clips].index("dog_bark.wav")
    assert "dog" in reference[dog].lower(), reference
    assert default[dog] == reference[dog], (default, reference)


def test_memory_is_flat_in_generated_length():
    from sam_cli.decoding.options import DecodeOptions
    from sam_cli.decoding.generate import generate

    model = _sam(torch.bfloat16)
    model.tokenizer.eos_id = -1  # never stop early
    audio = torch.randn(2, 64, 256, device=DEV, dtype=torch.bfloat16)
    peaks = []
    for n in (16, 512):
        generate(model, audio, [[5, 6]] * 2, DecodeOptions(max_new_tokens=n, loop_repeats=10**6))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        generate(model, audio, [[5, 6]] * 2, DecodeOptions(max_new_tokens=n, loop_repeats=10**6))
        peaks.append(torch.cuda.max_memory_allocated())
    assert peaks[1] <= peaks[0] + (1 << 20), peaks


# --- 7. audio side: fbank on the GPU, EAT in bf16 with flash attention --------------------------------------


def test_fbank_on_gpu_matches_cpu():
    from sam_cli.audio import fbank, fbank_batch
    from sam_cli.audio.fbank_batched import fbank_batch as batched

    wav = torch.randn(160000) * 0.1
    check("fbank/gpu_vs_cpu", fbank(wav.to(DEV)).cpu(), fbank(wav), 1e-4)
    wavs = [torch.randn(n, device=DEV) * 0.1 for n in (164000, 164000, 50000, 300)]
    check("fbank/batched", batched(wavs), fbank_batch(wavs), 1e-5)  # what encode_windows runs on a GPU


def test_eat_bf16_flash_attention_matches_fp32():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from sam_cli.models.encoder import EATConfig, EATEncoder

    torch.manual_seed(5)
    enc = EATEncoder(EATConfig(depth=2, num_classes=0)).to(DEV).eval()
    x = torch.randn(2, 1, 1024, 128, device=DEV)
    with torch.inference_mode():
        ref = enc(x)
        enc16 = enc.to(torch.bfloat16)
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):  # raises if flash cannot run these shapes
            out = enc16(x)
    assert out.dtype == torch.bfloat16
    check("eat/bf16_flash_vs_fp32", out, ref, 3e-2)
