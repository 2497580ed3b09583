"""Mamba-2 LM: the SSD reference against the plain recurrence, parallel vs recurrent model, and loading.

Small dimensions throughout (none of these properties depends on size); float64 where the comparison is
exact up to rounding.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from sam_cli.errors import CheckpointError
from sam_cli.store.mamba2_files import load_language_model, save_language_model
from sam_cli.models.mamba2 import InferenceState, Mamba2Config, Mamba2LMHeadModel, Mamba2Mixer, ReferenceStep
from sam_cli.models.ssd import ssd_chunked, ssd_step
from sam_cli.store.weights import read_tensors

CHUNK = 8
F64 = torch.float64


def small_cfg(**kw) -> Mamba2Config:
    base = dict(d_model=64, n_layer=2, vocab_size=100, d_state=16, headdim=16, chunk_size=CHUNK)
    return Mamba2Config(**{**base, **kw})


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights with decays that matter: dt ~ 0.1..1 and A in [-2, -0.2], so exp(dt*A) is far from 1
    within a chunk and far from 0 across a few chunks."""
    g = torch.Generator().manual_seed(seed)

    def rnd(p, std=1.0, mean=0.0):
        return (torch.randn(p.shape, generator=g, dtype=F64) * std + mean).to(p.dtype)

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("A_log"):
                p.copy_((torch.rand(p.shape, generator=g, dtype=F64) * math.log(10) + math.log(0.2)).to(p.dtype))
            elif name.endswith("dt_bias"):
                p.copy_(rnd(p, 0.5, -1.0))
            elif name.endswith("norm.weight") or name.endswith("norm_f.weight"):
                p.copy_(rnd(p, 0.2, 1.0))
            elif name.endswith(".D"):
                p.copy_(rnd(p))
            elif p.ndim == 2:  # Linear / embedding: unit-scale outputs
                p.copy_(rnd(p, 1.0 / math.sqrt(p.shape[1]) if "embedding" not in name else 1.0))
            else:  # conv weight and bias
                p.copy_(rnd(p, 0.5))
    return model


def small_model(dtype=F64, seed=0, **kw) -> Mamba2LMHeadModel:
    torch.manual_seed(seed)
    return randomize_(Mamba2LMHeadModel(small_cfg(**kw), dtype=dtype), seed).eval()


# ---------------------------------------------------------------------------------------------------------
# SSD: chunked scan and step against the recurrence written from the equations.


def naive_ssd(x, dt, A, B, C, D=None, state=None):
    """S_t = exp(dt_t A) S_{t-1} + dt_t x_t ⊗ B_t; y_t = S_t C_t + D x_t, per head, one step at a time."""
    b, l, h, p = x.shape
    g, n = B.shape[-2:]
    group = torch.arange(h) // (h // g)  # head -> its group
    S = torch.zeros(b, h, p, n, dtype=x.dtype) if state is None else state.clone()
    ys = []
    for t in range(l):
        Bt, Ct = B[:, t, group], C[:, t, group]  # (b, h, n)
        decay = torch.exp(dt[:, t] * A)  # (b, h)
        S = decay[:, :, None, None] * S + dt[:, t, :, None, None] * x[:, t, :, :, None] * Bt[:, :, None, :]
        y = (S * Ct[:, :, None, :]).sum(-1)
        if D is not None:
            y = y + D[:, None] * x[:, t]
        ys.append(y)
    return torch.stack(ys, dim=1), S


def ssd_inputs(l, h=4, p=3, g=1, n=5, b=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen, dtype=F64)
    dt = F.softplus(torch.randn(b, l, h, generator=gen, dtype=F64) - 0.5)
    A = -torch.exp(torch.rand(h, generator=gen, dtype=F64) * 2 - 1)
    B = torch.randn(b, l, g, n, generator=gen, dtype=F64)
    C = torch.randn(b, l, g, n, generator=gen, dtype=F64)
    D = torch.randn(h, generator=gen, dtype=F64)
    S0 = torch.randn(b, h, p, n, generator=gen, dtype=F64)
    return x, dt, A, B, C, D, S0


@pytest.mark.parametrize("length", [1, 5, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 2])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("ngroups", [1, 2])
def test_ssd_chunked_matches_recurrence(length, with_state, ngroups):
    x, dt, A, B, C, D, S0 = ssd_inputs(length, g=ngroups, seed=length)
    init = S0 if with_state else None
    y_ref, S_ref = naive_ssd(x, dt, A, B, C, D, init)
    y, S = ssd_chunked(x, dt, A, B, C, CHUNK, D=D, initial_state=init)
    assert y.shape == x.shape and S.shape == S0.shape
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(S, S_ref, rtol=0, atol=1e-10)
    # No D: the skip term really is separate.
    y0, _ = ssd_chunked(x, dt, A, B, C, CHUNK, initial_state=init)
    torch.testing.assert_close(y0, y_ref - D[:, None] * x, rtol=0, atol=1e-10)


@pytest.mark.parametrize("ngroups", [1, 2])
def test_ssd_step_matches_recurrence(ngroups):
    x, dt, A, B, C, D, S0 = ssd_inputs(7, g=ngroups)
    y_ref, S_ref = naive_ssd(x, dt, A, B, C, D, S0)
    S = S0.clone()
    ys = [ssd_step(S, x[:, t], dt[:, t], A, B[:, t], C[:, t], D) for t in range(x.shape[1])]
    torch.testing.assert_close(torch.stack(ys, 1), y_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(S, S_ref, rtol=0, atol=1e-10)  # updated in place
    # A non-contiguous state (e.g. a view into a larger buffer) is updated in place as well.
    S = S0.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert not S.is_contiguous()
    ys = [ssd_step(S, x[:, t], dt[:, t], A, B[:, t], C[:, t], D) for t in range(x.shape[1])]
    torch.testing.assert_close(torch.stack(ys, 1), y_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(S, S_ref, rtol=0, atol=1e-10)


def test_ssd_chunked_is_stable_with_strong_decay():
    # Large dt*A: cumulative sums reach ~ -1e3 inside a chunk, where exp(cumsum_i - cumsum_j) in fp32 would
    # lose everything; the output must stay finite and match the recurrence.
    x, dt, A, B, C, D, _ = ssd_inputs(40, seed=3)
    dt = dt * 20
    y_ref, S_ref = naive_ssd(x, dt, A, B, C, D)
    y, S = ssd_chunked(x.float(), dt.float(), A.float(), B.float(), C.float(), 32, D=D.float())
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.double(), y_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(S.double(), S_ref, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------------------
# The mixer against an independent, loop-by-loop implementation of the Mamba-2 block.


def naive_mixer(m: Mamba2Mixer, u, conv_state=None, ssm_state=None):
    c = m.cfg
    b, l, _ = u.shape
    zxbcdt = u @ m.in_proj.weight.T
    z = zxbcdt[..., : c.d_inner]
    xBC = zxbcdt[..., c.d_inner : c.d_inner + c.conv_dim]
    dt_raw = zxbcdt[..., c.d_inner + c.conv_dim :]
    assert dt_raw.shape[-1] == c.nheads
    w = m.conv1d.weight[:, 0, :]  # (conv_dim, d_conv); w[:, -1] multiplies the current input
    hist = [conv_state[:, :, k] for k in range(c.d_conv)] if conv_state is not None else \
        [torch.zeros(b, c.conv_dim, dtype=u.dtype)] * c.d_conv
    S = torch.zeros(b, c.nheads, c.headdim, c.d_state, dtype=u.dtype) if ssm_state is None else ssm_state.clone()
    A = -torch.exp(m.A_log)
    heads_per_group = c.nheads // c.ngroups
    outs = []
    for t in range(l):
        hist = hist[1:] + [xBC[:, t]]
        conv = m.conv1d.bias + sum(w[:, k] * hist[k] for k in range(c.d_conv))
        xbc = conv * torch.sigmoid(conv)
        x = xbc[:, : c.d_inner].reshape(b, c.nheads, c.headdim)
        Bg = xbc[:, c.d_inner : c.d_inner + c.ngroups * c.d_state].reshape(b, c.ngroups, c.d_state)
        Cg = xbc[:, c.d_inner + c.ngroups * c.d_state :].reshape(b, c.ngroups, c.d_state)
        dt = torch.log1p(torch.exp(dt_raw[:, t] + m.dt_bias))
        y = torch.empty(b, c.nheads, c.headdim, dtype=u.dtype)
        for h in range(c.nheads):
            grp = h // heads_per_group
            S[:, h] = torch.exp(dt[:, h] * A[h])[:, None, None] * S[:, h] \
                + (dt[:, h, None] * x[:, h])[:, :, None] * Bg[:, grp, None, :]
            y[:, h] = torch.einsum("bpn,bn->bp", S[:, h], Cg[:, grp])
            y[:, h] += m.D[h] * x[:, h]
        gated = y.reshape(b, c.d_inner) * z[:, t] * torch.sigmoid(z[:, t])
        gs = c.d_inner // c.ngroups
        parts = [gated[:, i * gs : (i + 1) * gs] for i in range(c.ngroups)]
        normed = torch.cat([q / torch.sqrt(q.pow(2).mean(-1, keepdim=True) + 1e-5) for q in parts], dim=-1)
        outs.append((normed * m.norm.weight) @ m.out_proj.weight.T)
    return torch.stack(outs, 1), torch.stack(hist, -1), S


@pytest.mark.parametrize("ngroups", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
def test_mixer_matches_naive_block(ngroups, with_state):
    cfg = small_cfg(ngroups=ngroups)
    m = randomize_(Mamba2Mixer(cfg, dtype=F64), seed=ngroups)
    g = torch.Generator().manual_seed(1)
    u = torch.randn(2, 2 * CHUNK + 3, cfg.d_model, generator=g, dtype=F64)
    cs = torch.randn(2, cfg.conv_dim, cfg.d_conv, generator=g, dtype=F64) if with_state else None
    ss = torch.randn(2, cfg.nheads, cfg.headdim, cfg.d_state, generator=g, dtype=F64) if with_state else None
    ref, ref_cs, ref_ss = naive_mixer(m, u, cs, ss)
    with torch.no_grad():
        out, new_cs, new_ss = m(u, cs, ss)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)
        torch.testing.assert_close(new_cs, ref_cs, rtol=0, atol=1e-12)
        torch.testing.assert_close(new_ss, ref_ss, rtol=0, atol=1e-10)
        # The recurrent path, token by token, on its own copies of the states.
        cs2 = cs.clone() if with_state else torch.zeros(2, cfg.conv_dim, cfg.d_conv, dtype=F64)
        ss2 = ss.clone() if with_state else torch.zeros(2, cfg.nheads, cfg.headdim, cfg.d_state, dtype=F64)
        # The decode step's stages for this mixer (ReferenceStep on a one-layer model holding it).
        lm = Mamba2LMHeadModel(replace(cfg, n_layer=1), dtype=F64)
        lm.backbone.layers[0].mixer = m
        ops = ReferenceStep(lm)

        def step(u_t):
            zx = m.in_proj(u_t)
            return ops.gate_out_proj(0, ops.conv_ssm(0, zx, cs2, ss2), zx, torch.zeros_like(u_t))

        steps = torch.stack([step(u[:, t]) for t in range(u.shape[1])], 1)
        torch.testing.assert_close(steps, ref, rtol=0, atol=1e-10)
        torch.testing.assert_close(cs2, ref_cs, rtol=0, atol=1e-12)
        torch.testing.assert_close(ss2, ref_ss, rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------------------------------------
# Whole model: parallel == recurrent, prefill states, continuation, batching.


def step_all(model, ids, state=None):
    state = model.allocate_state(ids.shape[0]) if state is None else state
    logits = torch.stack([model.step(ids[:, t], state) for t in range(ids.shape[1])], dim=1)
    return logits, state


def assert_states_close(a: InferenceState, b: InferenceState, atol=1e-10):
    for x, y in zip(a.conv_states + a.ssm_states, b.conv_states + b.ssm_states):
        torch.testing.assert_close(x, y, rtol=0, atol=atol)


def ids(b, l, seed=0, vocab=100):
    return torch.randint(0, vocab, (b, l), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("ngroups", [1, 2])
def test_forward_equals_step_recurrence(ngroups):
    model = small_model(ngroups=ngroups)
    x = ids(2, 3 * CHUNK + 2)
    with torch.inference_mode():
        par, par_state = model(x, return_state=True)
        rec, rec_state = step_all(model, x)
    assert par.shape == (2, x.shape[1], model.cfg.padded_vocab_size) and par.dtype == F64
    torch.testing.assert_close(par, rec, rtol=0, atol=1e-9)
    assert_states_close(par_state, rec_state)
    # Decoding on from a prefilled state = decoding on from the stepped one.
    nxt = ids(2, 1, seed=9)[:, 0]
    with torch.inference_mode():
        torch.testing.assert_close(model.step(nxt, par_state), model.step(nxt, rec_state), rtol=0, atol=1e-9)


@pytest.mark.parametrize("length", [1, 2, CHUNK + 3])
def test_prefill_state_equals_stepped_state(length):
    model = small_model(seed=1)
    x = ids(1, length, seed=length)
    with torch.inference_mode():
        _, pre = model(x, return_state=True)
        _, stepped = step_all(model, x)
    assert_states_close(pre, stepped)
    cfg = model.cfg
    assert pre.conv_states[0].shape == (1, cfg.conv_dim, cfg.d_conv)
    assert pre.ssm_states[0].shape == (1, cfg.nheads, cfg.headdim, cfg.d_state)
    if length < cfg.d_conv:  # short prompt: zero-padded on the left, oldest first
        assert (pre.conv_states[0][..., : cfg.d_conv - length] == 0).all()
        assert (pre.conv_states[0][..., -1] != 0).any()


@pytest.mark.parametrize("k", [1, 3, CHUNK, CHUNK + 5, 2 * CHUNK + 1])
def test_forward_continues_from_state(k):
    model = small_model(seed=2)
    x = ids(2, 3 * CHUNK + 2, seed=k)
    with torch.inference_mode():
        full, full_state = model(x, return_state=True)
        a, st = model(x[:, :k], return_state=True)
        kept = st.clone()
        b, st2 = model(x[:, k:], state=st, return_state=True)
    torch.testing.assert_close(torch.cat([a, b], 1), full, rtol=0, atol=1e-9)
    assert_states_close(st2, full_state)
    assert_states_close(st, kept, atol=0)  # forward does not modify the state it continues from


def test_batch_equals_one_by_one():
    model = small_model(seed=3)
    x = ids(3, 2 * CHUNK + 1, seed=3)
    with torch.inference_mode():
        batched, bstate = model(x, return_state=True)
        nxt = ids(3, 1, seed=4)[:, 0]
        bstep = model.step(nxt, bstate)
        for i in range(3):
            one, ostate = model(x[i : i + 1], return_state=True)
            torch.testing.assert_close(batched[i : i + 1], one, rtol=0, atol=1e-10)
            torch.testing.assert_close(bstep[i : i + 1], model.step(nxt[i : i + 1], ostate), rtol=0, atol=1e-10)


def test_embeds_last_tokens_and_state_utilities():
    model = small_model(seed=4)
    x = ids(2, 11, seed=5)
    with torch.inference_mode():
        full = model(x)
        emb = model.embed(x)
        torch.testing.assert_close(model(inputs_embeds=emb), full, rtol=0, atol=0)
        last = model(x, num_last_tokens=3)
        torch.testing.assert_close(last, full[:, -3:], rtol=0, atol=0)
        # step by embedding == step by id
        _, st = model(x[:, :-1], return_state=True)
        st_b = st.clone()
        by_id = model.step(x[:, -1], st)
        by_emb = model.step(None, st_b, inputs_embeds=emb[:, -1])
        torch.testing.assert_close(by_id, full[:, -1], rtol=0, atol=1e-10)
        torch.testing.assert_close(by_emb, by_id, rtol=0, atol=0)
        # clone is independent; index_select / repeat_interleave pick and copy rows
        _, st = model(x[:, :-1], return_state=True)
        rep = st.repeat_interleave(3)
        assert rep.batch_size == 6 and st.batch_size == 2
        rows = st.index_select(torch.tensor([1, 0]))
        out = model.step(x[[1, 0], -1], rows)
        torch.testing.assert_close(out, full[[1, 0], -1], rtol=0, atol=1e-10)
        out_rep = model.step(x[:, -1].repeat_interleave(3), rep)
        torch.testing.assert_close(out_rep, full[:, -1].repeat_interleave(3, dim=0), rtol=0, atol=1e-10)
        zero = InferenceState.zeros(model.cfg, 2, dtype=F64)
        assert all((s == 0).all() for s in zero.ssm_states) and len(zero.conv_states) == model.cfg.n_layer
        zero.copy_(st)
        assert_states_close(zero, st, atol=0)


def test_low_precision_model_keeps_fp32_state_and_logits():
    model = small_model(dtype=torch.bfloat16, seed=5)
    x = ids(1, 12, seed=6)
    with torch.inference_mode():
        par, st = model(x, return_state=True)
        rec, rst = step_all(model, x)
    assert par.dtype == torch.float32 and rec.dtype == torch.float32
    assert st.ssm_states[0].dtype == torch.float32 and st.conv_states[0].dtype == torch.bfloat16
    assert rst.ssm_states[0].dtype == torch.float32
    ref = small_model(dtype=F64, seed=5)
    ref.load_state_dict(model.state_dict())
    with torch.inference_mode():
        exact = ref(x).float()
    scale = exact.abs().max()
    assert (par - exact).abs().max() < 0.1 * scale and (rec - exact).abs().max() < 0.1 * scale


def test_gradients_flow_and_checkpointing_matches():
    model = small_model(dtype=torch.float32, seed=6).train()
    emb = torch.randn(2, CHUNK + 3, model.cfg.d_model, generator=torch.Generator().manual_seed(0))

    def grads():
        model.zero_grad()
        e = emb.clone().requires_grad_()
        model(inputs_embeds=e).logsumexp(-1).mean().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}, e.grad

    g0, e0 = grads()
    model.gradient_checkpointing = True
    g1, e1 = grads()
    for name in ("backbone.layers.0.mixer.A_log", "backbone.layers.0.mixer.dt_bias", "backbone.layers.1.mixer.D",
                 "backbone.layers.0.mixer.in_proj.weight", "backbone.layers.1.mixer.conv1d.weight"):
        assert torch.isfinite(g0[name]).all() and g0[name].abs().sum() > 0, name
    for name in g0:
        torch.testing.assert_close(g1[name], g0[name], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(e1, e0, rtol=1e-5, atol=1e-6)


def test_fresh_init_follows_mamba_ssm():
    torch.manual_seed(0)
    cfg = small_cfg(n_layer=4, d_model=128, vocab_size=1000)
    model = Mamba2LMHeadModel(cfg)
    mixer = model.backbone.layers[0].mixer
    A = torch.exp(torch.stack([l.mixer.A_log for l in model.backbone.layers]))
    assert A.min() >= 1 and A.max() <= 16
    dt = F.softplus(torch.stack([l.mixer.dt_bias for l in model.backbone.layers]))
    assert dt.min() >= 1e-3 * 0.999 and dt.max() <= 0.1 * 1.001
    assert (mixer.D == 1).all() and (mixer.norm.weight == 1).all()
    assert abs(model.backbone.embedding.weight.std().item() - 0.02) < 0.002
    assert model.lm_head.weight is model.backbone.embedding.weight
    bound = 1 / math.sqrt(cfg.d_inner) / math.sqrt(cfg.n_layer)  # kaiming_uniform(a=sqrt 5) / sqrt(n_layer)
    w = mixer.out_proj.weight
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


# ---------------------------------------------------------------------------------------------------------
# Config and the state-spaces folder layout.

MAMBA2_130M_CONFIG = {
    "d_model": 768, "d_intermediate": 0, "n_layer": 24, "vocab_size": 50277, "ssm_cfg": {"layer": "Mamba2"},
    "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
    "pad_vocab_size_multiple": 16, "tie_embeddings": True,
}


def test_published_config_constants():
    cfg = Mamba2Config.from_hf_dict(MAMBA2_130M_CONFIG)
    assert (cfg.d_state, cfg.d_conv, cfg.expand, cfg.headdim, cfg.ngroups, cfg.chunk_size) == (128, 4, 2, 64, 1, 256)
    assert (cfg.d_inner, cfg.nheads, cfg.conv_dim, cfg.padded_vocab_size) == (1536, 24, 1792, 50288)
    assert cfg.norm_eps == 1e-5 and cfg.tie_embeddings and cfg.residual_in_fp32
    assert cfg.to_hf_dict() == MAMBA2_130M_CONFIG
    assert Mamba2Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in Mamba2LMHeadModel(cfg).state_dict().items()}
    assert shapes["backbone.embedding.weight"] == (50288, 768) == shapes["lm_head.weight"]
    assert shapes["backbone.layers.23.mixer.in_proj.weight"] == (2 * 1536 + 2 * 128 + 24, 768)
    assert shapes["backbone.layers.0.mixer.conv1d.weight"] == (1792, 1, 4)
    assert shapes["backbone.layers.0.mixer.conv1d.bias"] == (1792,)
    assert shapes["backbone.layers.0.mixer.out_proj.weight"] == (768, 1536)
    assert shapes["backbone.layers.0.mixer.norm.weight"] == (1536,)
    for k in ("dt_bias", "A_log", "D"):
        assert shapes[f"backbone.layers.0.mixer.{k}"] == (24,)
    assert len(shapes) == 2 + 24 * 9 + 1
    # ssm_cfg overrides come through, and go back out
    over = {**MAMBA2_130M_CONFIG, "ssm_cfg": {"layer": "Mamba2", "d_state": 64, "headdim": 32, "ngroups": 2}}
    c2 = Mamba2Config.from_hf_dict(over)
    assert (c2.d_state, c2.headdim, c2.ngroups, c2.nheads) == (64, 32, 2, 48)
    assert c2.to_hf_dict() == over


def small_hf_config(**kw):
    return {"d_model": 64, "d_intermediate": 0, "n_layer": 2, "vocab_size": 100,
            "ssm_cfg": {"layer": "Mamba2", "d_state": 16, "headdim": 16, "chunk_size": CHUNK},
            "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": True, "residual_in_fp32": True,
            "fused_add_norm": True, "pad_vocab_size_multiple": 16, "tie_embeddings": True, **kw}


def write_state_spaces_folder(folder: Path, sd: dict, fmt: str, config: dict | None = None) -> Path:
    """What a published `state-spaces/mamba2-*` folder looks like: config.json and fp16 weights."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config or small_hf_config()))
    sd = {k: v.detach().to(torch.float16).clone() for k, v in sd.items()}
    if fmt == "bin":
        torch.save(sd, folder / "pytorch_model.bin")
    else:
        save_file(sd, str(folder / "model.safetensors"))
    return folder


@pytest.mark.parametrize("fmt", ["bin", "safetensors"])
def test_load_state_spaces_folder(tmp_path, fmt):
    model = small_model(dtype=torch.float32, seed=7)
    sd = model.state_dict()
    assert "backbone.embedding.weight" in sd and "lm_head.weight" in sd
    folder = write_state_spaces_folder(tmp_path / "m", sd, fmt)
    loaded = load_language_model(folder)
    assert loaded.dtype == torch.float32 and loaded.lm_head.weight is loaded.backbone.embedding.weight
    ref = small_model(dtype=torch.float32, seed=7)
    with torch.no_grad():  # what the fp16 checkpoint holds
        for p in ref.parameters():
            p.copy_(p.half().float())
    x = ids(2, 13, seed=8)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), ref(x), rtol=0, atol=1e-5)
        assert (loaded(x) - model(x)).abs().max() > 0  # the fp16 rounding is really there
    assert load_language_model(folder, dtype=torch.float16).dtype == torch.float16


@pytest.mark.parametrize("fmt", ["bin", "safetensors"])
def test_save_round_trip(tmp_path, fmt):
    model = small_model(dtype=torch.float32, seed=8)
    path = save_language_model(model, tmp_path / "out", format=fmt)
    assert json.loads((tmp_path / "out" / "config.json").read_text()) == small_hf_config()
    stored = read_tensors(path)
    assert set(stored) == set(model.state_dict()) and "lm_head.weight" in stored
    loaded = load_language_model(tmp_path / "out")
    x = ids(1, 9)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def assert_checkpoint_error(folder, *fragments):
    with pytest.raises(CheckpointError) as info:
        load_language_model(folder)
    msg = str(info.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, (f, msg)


def test_loading_errors(tmp_path):
    sd = small_model(dtype=torch.float32).state_dict()
    assert_checkpoint_error(tmp_path / "nope", "nope", "no such folder")
    (tmp_path / "empty").mkdir()
    assert_checkpoint_error(tmp_path / "empty", "config.json")
    mamba1 = small_hf_config(ssm_cfg={})
    assert_checkpoint_error(write_state_spaces_folder(tmp_path / "m1", sd, "bin", mamba1), "config.json", "Mamba-1")
    no_weights = tmp_path / "nw"
    no_weights.mkdir()
    (no_weights / "config.json").write_text(json.dumps(small_hf_config()))
    assert_checkpoint_error(no_weights, "model.safetensors", "pytorch_model.bin")

    missing = {k: v for k, v in sd.items() if k != "backbone.layers.1.mixer.A_log"}
    assert_checkpoint_error(write_state_spaces_folder(tmp_path / "mk", missing, "bin"),
                            "pytorch_model.bin", "missing", "backbone.layers.1.mixer.A_log")
    wrong = {**sd, "backbone.layers.0.mixer.conv1d.weight": torch.zeros(160, 1, 3)}
    assert_checkpoint_error(write_state_spaces_folder(tmp_path / "ws", wrong, "safetensors"),
                            "backbone.layers.0.mixer.conv1d.weight", "[160, 1, 3]", "expected [160, 1, 4]")
    extra = {**sd, "backbone.layers.0.mixer.z_bias": torch.zeros(3)}
    assert_checkpoint_error(write_state_spaces_folder(tmp_path / "ux", extra, "bin"), "unexpected", "z_bias")

    corrupt = write_state_spaces_folder(tmp_path / "cs", sd, "safetensors")
    data = (corrupt / "model.safetensors").read_bytes()
    (corrupt / "model.safetensors").write_bytes(data[:200])
    assert_checkpoint_error(corrupt, "model.safetensors", "corrupt")


def test_config_errors():
    with pytest.raises(CheckpointError, match="Mamba-1"):
        Mamba2Config.from_hf_dict({"d_model": 768, "n_layer": 24})
    with pytest.raises(CheckpointError, match="d_model"):
        Mamba2Config.from_hf_dict({"n_layer": 2, "ssm_cfg": {"layer": "Mamba2"}})
    with pytest.raises(CheckpointError, match="norm_before_gate"):
        Mamba2Config.from_hf_dict(small_hf_config(ssm_cfg={"layer": "Mamba2", "norm_before_gate": True}))
    with pytest.raises(CheckpointError, match="d_intermediate"):
        Mamba2Config.from_hf_dict(small_hf_config(d_intermediate=128))
    with pytest.raises(CheckpointError, match="transformers"):
        Mamba2Config.from_hf_dict({"model_type": "mamba2", "hidden_size": 768})
    # tied checkpoints may carry only one of the two keys; absent fields take mamba_ssm's defaults
    cfg = Mamba2Config.from_hf_dict({"d_model": 64, "n_layer": 1, "vocab_size": 100, "ssm_cfg": {"layer": "Mamba2"}})
    assert cfg.pad_vocab_size_multiple == 8 and cfg.padded_vocab_size == 104


def test_tied_checkpoint_with_one_key(tmp_path):
    model = small_model(dtype=torch.float32, seed=9)
    sd = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    loaded = load_language_model(write_state_spaces_folder(tmp_path / "t", sd, "safetensors"))
    torch.testing.assert_close(loaded.lm_head.weight, model.lm_head.weight.half().float(), rtol=0, atol=0)
