"""Connectors, LoRA, the SAM model as a whole, and its checkpoint folder."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import build_tiny_model, tiny_config

from sam_cli.store.checkpoint import load_checkpoint, read_config, save_checkpoint
from sam_cli.models.connector import Connector, ConnectorConfig
from sam_cli.errors import CheckpointError
from sam_cli.models.lora import LoRALinear, apply_lora, merge_lora, remove_lora, unmerge_lora
from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel
from sam_cli.models.sam import SAM, IGNORE_INDEX
from sam_cli.accel.select import lm_runner
from sam_cli.decoding.generate import prefill_batch


# --- connectors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,expected", [("concat", 64), ("time_major", 576), ("frequency_major", 520)])
def test_connector_lengths_for_eat_base(kind, expected):
    cfg = ConnectorConfig(kind=kind, encoder_dim=768, lm_dim=16, hidden_dim=8)
    conn = Connector(cfg)
    assert cfg.num_tokens(64) == expected
    out = conn(torch.randn(1, 1 + 512, 768))
    assert out.shape == (1, expected, 16)
    if kind == "concat":
        assert conn.mlp[0].in_features == 6144


def _grid_tokens(t: int = 4, f: int = 8, d: int = 3) -> torch.Tensor:
    """Encoder-like output whose patch token (time i, band j) holds the value 10*i + j everywhere."""
    vals = torch.tensor([[10.0 * i + j for j in range(f)] for i in range(t)])
    patches = vals.reshape(1, t * f, 1).expand(1, t * f, d)
    return torch.cat([torch.full((1, 1, d), -1.0), patches], dim=1)  # CLS first, dropped by connectors


def test_concat_orders_bands_within_each_time_step():
    conn = Connector(ConnectorConfig(kind="concat", encoder_dim=3, lm_dim=5, num_bands=8))
    g = conn.grid(_grid_tokens())
    assert g[0, 2, 5, 0] == 25  # time 2, band 5
    flat = g.reshape(1, 4, 24)
    # The concatenated vector of time step 1 is band 0's 3 dims, then band 1's, ...
    assert flat[0, 1].tolist() == [10.0 + j for j in range(8) for _ in range(3)]


@pytest.mark.parametrize("kind", ["time_major", "frequency_major"])
def test_separator_positions(kind):
    t, f = 4, 8
    conn = Connector(ConnectorConfig(kind=kind, encoder_dim=3, lm_dim=5, num_bands=f))
    with torch.no_grad():
        conn.separator.fill_(123.0)
    out = conn(_grid_tokens(t, f))[0]
    is_sep = (out == 123.0).all(dim=-1)
    if kind == "time_major":
        assert out.shape[0] == t * (f + 1)
        expected = [i % (f + 1) == f for i in range(t * (f + 1))]
    else:
        assert out.shape[0] == (t + 1) * f
        expected = [i % (t + 1) == t for i in range(f * (t + 1))]
    assert is_sep.tolist() == expected
    # Non-separator positions follow the stated order: the MLP applied to tokens in that order.
    tokens = conn.grid(_grid_tokens(t, f))
    order = tokens if kind == "time_major" else tokens.transpose(1, 2)
    want = conn.mlp(order)[0].reshape(-1, 5)
    torch.testing.assert_close(out[~is_sep], want)


# --- LoRA ------------------------------------------------------------------------------------------------
def _small_lm() -> Mamba2LMHeadModel:
    torch.manual_seed(0)
    return Mamba2LMHeadModel(Mamba2Config(d_model=32, n_layer=2, vocab_size=50, d_state=8, headdim=8, chunk_size=8))


def test_fresh_lora_changes_nothing_and_merge_equals_unmerged():
    lm = _small_lm().double()
    ids = torch.randint(0, 50, (2, 11))
    before = lm(ids)
    layers = apply_lora(lm, rank=4)
    assert len(layers) == 4 and all(l.alpha == 8 for l in layers)  # alpha = 2r
    torch.testing.assert_close(lm(ids), before, rtol=0, atol=0)
    for l in layers:
        torch.nn.init.normal_(l.lora_B, std=0.1)
    adapted = lm(ids)
    assert (adapted - before).abs().max() > 1e-3
    merge_lora(lm)
    torch.testing.assert_close(lm(ids), adapted, rtol=1e-10, atol=1e-10)
    unmerge_lora(lm)
    torch.testing.assert_close(lm(ids), adapted, rtol=1e-10, atol=1e-10)
    remove_lora(lm)
    assert not any(isinstance(m, LoRALinear) for m in lm.modules())
    torch.testing.assert_close(lm(ids), adapted, rtol=1e-10, atol=1e-10)


def test_lora_keeps_base_keys_so_published_weights_load():
    lm = _small_lm()
    base_keys = set(lm.state_dict())
    apply_lora(lm, rank=2)
    keys = set(lm.state_dict())
    assert base_keys <= keys
    assert {k for k in keys - base_keys} == {k for k in keys if k.endswith(("lora_A", "lora_B"))}


# --- SAM -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("connector", ["concat", "time_major", "frequency_major"])
def test_prefill_then_steps_equals_full_forward(connector):
    model = build_tiny_model(connector=connector).double()
    fbank = torch.randn(2, 1, 1024, 128, dtype=torch.float64)
    text = torch.randint(1, 300, (2, 9))
    logits, _ = model(fbank, text)  # text_logits[:, i] predicts text[:, i]
    audio, _ = model.encode_audio(fbank)
    assert audio.shape[1] == model.cfg.num_audio_tokens
    runner = lm_runner(model.lm)
    with torch.inference_mode():
        last, state = prefill_batch(model, audio, text[:, :4].tolist(), runner)
        torch.testing.assert_close(last, logits[:, 4].to(last.dtype), rtol=1e-9, atol=1e-9)
        for i in range(4, 8):
            step_logits = runner.step(text[:, i], state)
            torch.testing.assert_close(step_logits, logits[:, i + 1].to(step_logits.dtype), rtol=1e-9, atol=1e-9)


def test_loss_on_answer_only_ignores_prompt_positions():
    model = build_tiny_model().double()
    fbank = torch.randn(1, 1, 1024, 128, dtype=torch.float64)
    text = torch.randint(1, 300, (1, 8))
    labels = text.clone()
    labels[:, :5] = IGNORE_INDEX
    logits, loss = model(fbank, text, labels)
    ref = torch.nn.functional.cross_entropy(logits[0, 5:].double(), text[0, 5:])
    torch.testing.assert_close(loss.double(), ref)


def test_checkpoint_round_trip_is_exact(tmp_path):
    model = build_tiny_model(connector="time_major")
    folder = save_checkpoint(model, model.tokenizer, tmp_path / "ckpt")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_type"] == "sam" and cfg["connector"]["kind"] == "time_major" and cfg["lora_rank"] == 4
    loaded = load_checkpoint(folder)
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert loaded.lm.lm_head.weight is loaded.lm.backbone.embedding.weight  # still tied
    assert loaded.cfg.to_dict() == model.cfg.to_dict()
    assert loaded.tokenizer.encode("a dog barks") == model.tokenizer.encode("a dog barks")
    fbank = torch.randn(1, 1, 1024, 128)
    text = torch.randint(1, 300, (1, 5))
    with torch.no_grad():
        torch.testing.assert_close(loaded(fbank, text)[0], model(fbank, text)[0], rtol=0, atol=0)


def test_checkpoint_errors_name_the_problem(tmp_path, tiny_model_dir):
    with pytest.raises(CheckpointError, match="no such model folder"):
        read_config(tmp_path / "nope")
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    (bad / "config.json").write_text(json.dumps({"d_model": 768, "n_layer": 24, "ssm_cfg": {}}))
    with pytest.raises(CheckpointError, match="Mamba LM"):
        load_checkpoint(bad)
    shutil.copytree(tiny_model_dir, bad, dirs_exist_ok=True)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    shutil.copytree(tiny_model_dir, bad, dirs_exist_ok=True)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["lm"]["d_model"] = 48
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="lm.d_model 48, but the weights' embedding is 32 wide"):
        load_checkpoint(bad)
    (bad / "tokenizer.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="tokenizer"):
        load_checkpoint(bad)


def test_model_without_lora_or_head():
    model = SAM(tiny_config(lora_rank=0, num_classes=0, labels=[]))
    assert not model.has_audio_head
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
