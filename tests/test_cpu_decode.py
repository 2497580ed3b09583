"""The fast CPU decode step (sam_cli.accel.cpu_decode) against the exact float32 step, on small random models.

Tolerance. The fast step rounds three things to fp16 (unit roundoff u = 2^-11 ~ 4.9e-4): each weight of
in_proj / out_proj / lm_head (exact for the fp16 weights that published checkpoints ship; not for these
random fp32 ones), the activation entering each product, and each product's output; the products
themselves accumulate in fp32. That is a relative error of a few u per product, and the residual stream
adds one layer's error to the next. We allow 1e-2 of the largest |value| for logits and states: ~20 u,
several times what these models show (~1e-3), while any real mistake (a wrong op, a stale copy, a
missed gate) is O(1).
"""

from __future__ import annotations

import math

import pytest
import torch

from sam_cli.accel import select
from sam_cli.models.lora import apply_lora
from sam_cli.models.mamba2 import InferenceState, Mamba2Config, Mamba2LMHeadModel
from sam_cli.decoding.generate import greedy_tokens

REL_TOL = 1e-2


def small_model(seed: int = 0, n_layer: int = 3, dtype: torch.dtype = torch.float32) -> Mamba2LMHeadModel:
    """A small float32 model with random weights at unit output scale (so logits are O(1), not near-ties)."""
    # Untied: with a tied unit-scale embedding, greedy decoding just repeats the last token.
    cfg = Mamba2Config(d_model=64, n_layer=n_layer, vocab_size=200, d_state=16, headdim=16, chunk_size=16,
                       tie_embeddings=False)
    torch.manual_seed(seed)
    model = Mamba2LMHeadModel(cfg, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2:  # Linear weights and the (tied) embedding
                std = 1.0 / math.sqrt(p.shape[1]) if "embedding" not in name else 1.0
                p.copy_(torch.randn(p.shape, generator=g) * std)
            elif name.endswith("dt_bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5 - 1.0)
    return model.eval()


def rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    return ((a - ref).abs().max() / ref.abs().max()).item()


def run_steps(model: Mamba2LMHeadModel, prompt: torch.Tensor, tokens: torch.Tensor, mode: str,
              monkeypatch: pytest.MonkeyPatch) -> tuple[torch.Tensor, InferenceState]:
    """Prefill `prompt` (exact, parallel), then step through `tokens` [B, T] in `mode`: logits [B, T, V]."""
    monkeypatch.setenv(select.CPU_DECODE_ENV, mode)
    with torch.inference_mode():
        runner = select.lm_runner(model)
        _, state = model(prompt, return_state=True, num_last_tokens=1)
        logits = torch.stack([runner.step(tokens[:, t], state) for t in range(tokens.shape[1])], dim=1)
    return logits, state


def greedy(model: Mamba2LMHeadModel, prompt: torch.Tensor, n: int, mode: str,
           monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setenv(select.CPU_DECODE_ENV, mode)
    return greedy_tokens(model, prompt, n)[0].tolist()


def ids(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randint(0, 200, shape, generator=torch.Generator().manual_seed(seed))


def test_fast_step_matches_exact_step(monkeypatch):
    model = small_model()
    prompt, tokens = ids((2, 20), 1), ids((2, 12), 2)
    exact, exact_state = run_steps(model, prompt, tokens, "exact", monkeypatch)
    fast, fast_state = run_steps(model, prompt, tokens, "fast", monkeypatch)
    with torch.inference_mode():
        assert select.lm_runner(model).name == "cpu-fp16"  # the fast path really ran
    assert fast.dtype == exact.dtype == torch.float32 and fast.shape == exact.shape
    assert rel_err(fast, exact) < REL_TOL
    assert fast_state.ssm_states[0].dtype == torch.float32
    for a, b in zip(fast_state.ssm_states + fast_state.conv_states, exact_state.ssm_states + exact_state.conv_states):
        assert rel_err(a, b) < REL_TOL
    # By embedding == by id, and a row's result does not depend on the other rows.
    monkeypatch.setenv(select.CPU_DECODE_ENV, "fast")
    with torch.inference_mode():
        runner = select.lm_runner(model)
        _, st = model(prompt, return_state=True)
        st1 = st.index_select([1])
        by_id = runner.step(tokens[:, 0], st.clone())
        by_emb = runner.step(None, st, inputs_embeds=model.embed(tokens[:, 0]))
        one = runner.step(tokens[1:, 0], st1)
    torch.testing.assert_close(by_emb, by_id, rtol=0, atol=0)
    torch.testing.assert_close(one, by_id[1:], rtol=1e-5, atol=1e-5)


def test_greedy_tokens_identical_over_32_steps(monkeypatch):
    # Greedy decoding only differs where the top two logits are closer than the error (~1e-3 of the scale):
    # with random weights that is rare, and seed 0 has no such step in 32 (checked here, both ways).
    model = small_model(seed=0)
    prompt = ids((1, 24), 3)
    exact = greedy(model, prompt, 32, "exact", monkeypatch)
    assert greedy(model, prompt, 32, "fast", monkeypatch) == exact
    assert len(set(exact)) > 4  # a real sequence, not one token repeated


def test_exact_mode_is_the_reference_step(monkeypatch):
    model = small_model()
    prompt, tokens = ids((1, 10), 4), ids((1, 4), 5)
    monkeypatch.setenv(select.CPU_DECODE_ENV, "exact")
    with torch.inference_mode():
        assert select.cpu_decoder(model) is None
    exact, _ = run_steps(model, prompt, tokens, "exact", monkeypatch)
    with torch.inference_mode():
        assert select.lm_runner(model).name == "reference"
        # The reference step continues the parallel forward exactly where prefill left off.
        full = model(torch.cat([prompt, tokens], dim=1))
    torch.testing.assert_close(exact, full[:, prompt.shape[1]:], rtol=1e-4, atol=1e-4)


def test_when_the_fast_path_applies(monkeypatch):
    model = small_model()
    monkeypatch.setenv(select.CPU_DECODE_ENV, "fast")
    with torch.no_grad():
        assert select.cpu_decoder(model) is not None
    assert select.cpu_decoder(model) is None  # autograd on: the copies carry no gradient
    with torch.no_grad():
        assert select.cpu_decoder(small_model(dtype=torch.float64)) is None  # asked for its own precision
        monkeypatch.setenv(select.CPU_DECODE_ENV, "auto")
        assert select.cpu_decoder(model) is None  # too small to pay off
        monkeypatch.setenv(select.CPU_DECODE_ENV, "nonsense")
        with pytest.raises(ValueError, match=select.CPU_DECODE_ENV):
            select.cpu_decoder(model)


def test_copies_follow_weight_changes(monkeypatch):
    model = small_model(seed=1)
    other = small_model(seed=2)
    prompt, tokens = ids((1, 10), 6), ids((1, 3), 7)
    run_steps(model, prompt, tokens, "fast", monkeypatch)
    with torch.inference_mode():
        first = select.cpu_decoder(model)
    run_steps(model, prompt, tokens, "fast", monkeypatch)
    with torch.inference_mode():
        assert select.cpu_decoder(model) is first  # unchanged weights: kept
    model.load_state_dict(other.state_dict())  # in-place copy_ into every parameter
    fast, _ = run_steps(model, prompt, tokens, "fast", monkeypatch)
    with torch.inference_mode():
        assert select.cpu_decoder(model) is not first
    want, _ = run_steps(other, prompt, tokens, "exact", monkeypatch)
    assert rel_err(fast, want) < REL_TOL


def test_unmerged_lora_is_folded_in(monkeypatch):
    model = small_model(seed=3)
    apply_lora(model, rank=4)
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "lora_B") and isinstance(m.lora_B, torch.Tensor):
                m.lora_B.normal_(std=0.05)
    prompt, tokens = ids((1, 10), 8), ids((1, 6), 9)
    exact, _ = run_steps(model, prompt, tokens, "exact", monkeypatch)
    fast, _ = run_steps(model, prompt, tokens, "fast", monkeypatch)
    assert rel_err(fast, exact) < REL_TOL
    with torch.no_grad():  # an adapter update must be seen too
        for m in model.modules():
            if hasattr(m, "lora_B") and isinstance(m.lora_B, torch.Tensor):
                m.lora_B.mul_(-1)
    exact, _ = run_steps(model, prompt, tokens, "exact", monkeypatch)
    fast, _ = run_steps(model, prompt, tokens, "fast", monkeypatch)
    assert rel_err(fast, exact) < REL_TOL


def test_int8_mode_runs_and_is_close(monkeypatch):
    # int8 (fbgemm dynamic quantisation) is an opt-in, lossier format: 7-bit activations. Only a loose bound.
    model = small_model(seed=4)
    prompt, tokens = ids((1, 10), 10), ids((1, 4), 11)
    exact, _ = run_steps(model, prompt, tokens, "exact", monkeypatch)
    q, _ = run_steps(model, prompt, tokens, "int8", monkeypatch)
    assert rel_err(q, exact) < 0.2
