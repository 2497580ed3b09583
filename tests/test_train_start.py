"""The starting points (published parts, a SAM checkpoint, scratch), what each stage trains, the curriculum,
and fetching the parts from a (fake) Hub."""

from __future__ import annotations

import json

import pytest
import torch
from hubserver import FakeHub, fake_hub  # noqa: F401  (fake_hub is a fixture)
from safetensors.torch import load_file
from train_helpers import (DESCRIBE, make_dataset, one_thread, read_metrics, tiny_settings,  # noqa: F401
                               train_in_process)

from sam_cli.models.encoder import EATConfig, EATEncoder
from sam_cli.errors import CheckpointError
from sam_cli.store.eat_files import save_audio_encoder
from sam_cli.store.mamba2_files import save_language_model
from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel
from sam_cli.models.tokenizer import Tokenizer, train_tokenizer
from sam_cli.train import build
from sam_cli.train.config import build_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A tiny state-spaces LM folder, a tiny EAT folder (with an AudioSet-style head) and a tokenizer.json."""
    root = tmp_path_factory.mktemp("parts")
    data = make_dataset(root / "data")
    torch.manual_seed(0)
    save_language_model(Mamba2LMHeadModel(Mamba2Config(d_model=32, n_layer=2, vocab_size=300, d_state=8, headdim=8,
                                                       chunk_size=16)), root / "mamba2", format="bin")
    save_audio_encoder(EATEncoder(EATConfig(embed_dim=32, depth=2, num_heads=2, num_classes=5, max_length=64)),
                       root / "eat")
    captions = [r["output"] for r in json.loads(data.read_text())]
    train_tokenizer([DESCRIBE, "### Instruction:", "### Response:"] + captions, vocab_size=300).save(root / "tok.json")
    return root, data


def _weights(run):
    return load_file(run / "model" / "model.safetensors")


def test_parts_then_init_train_what_each_stage_says(parts, tmp_path):
    root, data = parts
    lm = torch.load(root / "mamba2" / "pytorch_model.bin", weights_only=True)
    eat = load_file(root / "eat" / "model.safetensors")
    common = tiny_settings(train_json=str(data), max_steps=2, merge_lora=False, lr=1e-2)
    del common["scratch"], common["model"]

    # Stage 1 from the parts: only the fresh connector trains; LoRA is there (rank 8) but untouched.
    one = tmp_path / "one"
    train_in_process({**common, "lm": str(root / "mamba2"), "encoder": str(root / "eat"),
                      "tokenizer": str(root / "tok.json"), "stage": 1, "output": str(one)})
    w1 = _weights(one)
    exported = json.loads((one / "model" / "config.json").read_text())
    assert exported["lora_rank"] == 8
    # the unused [model] table of a from-scratch model is not recorded as if it were this model's shapes
    assert "model" not in exported["extra"]["train_config"] and exported["lm"]["d_model"] == 32
    assert read_metrics(one, "stage")[0]["trains"] == "connector"
    assert read_metrics(one, "stage")[0]["examples"] == 2  # stage 1: classification records only
    for k, v in eat.items():
        assert torch.equal(w1["encoder." + k[len("model."):]], v), k
    for k, v in lm.items():
        if k != "lm_head.weight":
            assert torch.equal(w1["lm." + k], v.float()), k
    assert all(not v.any() for k, v in w1.items() if k.endswith("lora_B"))

    # Stage 2 from that checkpoint (--init): encoder + connector + LoRA; the LM's base weights stay; the
    # encoder's AudioSet head is not on the path to the LM and stays too.
    two = tmp_path / "two"
    train_in_process({**common, "init": str(one / "model"), "stage": 2, "output": str(two)})
    w2 = _weights(two)
    assert read_metrics(two, "stage")[0]["trains"] == "encoder + connector + LoRA"
    changed = {k for k in w1 if not torch.equal(w1[k], w2[k])}
    assert any(k.startswith("encoder.blocks.") for k in changed)
    assert any(k.startswith("connector.") for k in changed)
    assert any(k.endswith("lora_B") for k in changed)
    assert all(k.startswith(("encoder.", "connector.")) or "lora_" in k for k in changed), sorted(changed)
    assert not any(k.startswith(("encoder.head", "encoder.fc_norm")) for k in changed)


def test_curriculum_filters_records_by_stage(tmp_path):
    data = make_dataset(tmp_path / "data")
    run = tmp_path / "run"
    settings = tiny_settings(train_json=str(data), output=str(run), curriculum=True, max_steps=1, lora_rank=2,
                             eval_json=str(data), eval_every=1)
    assert train_in_process(settings) == run / "model"
    stages = read_metrics(run, "stage")
    # cla_label, cla_label_des | + caption, temporal_single | + open-ended question
    assert [(s["stage"], s["examples"]) for s in stages] == [(1, 2), (2, 2), (3, 4), (4, 5)]
    assert [(e["stage"], e["eval_examples"]) for e in read_metrics(run, "eval")] == [(1, 2), (2, 2), (3, 4), (4, 5)]
    assert [s["trains"] for s in stages] == ["connector"] + ["encoder + connector + LM"] * 3
    saved = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert saved == ["stage2-step000001", "stage3-step000001", "stage4-step000001"]  # keep_last 3


def test_time_major_separator_starts_from_the_text_embedding(parts):
    root, _ = parts
    cfg = build_config({"lm": str(root / "mamba2"), "encoder": str(root / "eat"), "tokenizer": str(root / "tok.json"),
                        "connector": "time_major"})
    tok = build.load_tokenizer(cfg.tokenizer)
    model = build.from_parts(cfg, tok)
    ids = torch.tensor(tok.encode("&&"))
    assert torch.allclose(model.connector.separator, model.lm.embed(ids).mean(0))
    assert model.cfg.lora_rank == 8 and model.cfg.connector.kind == "time_major"


def test_parts_come_from_the_hub_cache(fake_hub: FakeHub, parts):  # noqa: F811
    root, _ = parts
    files = {name: (root / "mamba2" / name) for name in ("config.json", "pytorch_model.bin")}
    fake_hub.add_repo("state-spaces/mamba2-tiny", files)
    fake_hub.add_repo("someone/no-weights", {"config.json": "{}", "README.md": "hi"})
    fake_hub.add_repo("EleutherAI/tok", {"tokenizer.json": root / "tok.json", "big/other.bin": b"x" * 10})
    first = build.resolve_component("state-spaces/mamba2-tiny", "lm")
    assert (first / "pytorch_model.bin").is_file() and (first / "config.json").is_file()
    fake_hub.clear_log()
    assert build.resolve_component("state-spaces/mamba2-tiny", "lm") == first  # from the cache, no request
    assert fake_hub.requests == []
    tok = build.load_tokenizer("EleutherAI/tok")
    assert tok.vocab_size == Tokenizer.from_file(root / "tok.json").vocab_size
    assert not any("other.bin" in r.path for r in fake_hub.requests)
    with pytest.raises(CheckpointError, match="not a Mamba-2 language model repo"):
        build.resolve_component("someone/no-weights", "lm")
    with pytest.raises(CheckpointError, match="no such file or folder"):
        build.resolve_component("./missing-folder", "encoder")
