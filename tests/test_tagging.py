"""The tagging loss (`sam train --tag-weight`): records' `tags` teach the encoder's head, which ships with the
model and answers `sam classify` without --labels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import (REPO, cli, env, make_dataset, one_thread, read_metrics, tiny_settings,  # noqa: F401
                           train_in_process, write_config)

from sam_cli.train.data import Collate, DataError, read_records, tokenize
from sam_cli.models.tokenizer import Tokenizer

TAGS = {"hum.wav": ["hum"], "beep.wav": ["beep"], "noise.wav": ["noise burst"], "clicks.wav": ["clicks"],
        "sweep.wav": ["sweep", "hum"]}


def tagged_dataset(root: Path, untagged: str | None = "sweep.wav") -> Path:
    """The toy dataset with a `tags` list on every record, but none on `untagged`'s (its tags are unknown)."""
    path = make_dataset(root)
    records = json.loads(path.read_text())
    for r in records:
        name = Path(r["audio_id"]).name
        if name != untagged:
            r["tags"] = TAGS.get(name, [])
    path.write_text(json.dumps(records))
    return path


def test_records_read_tags_and_reject_bad_ones(tmp_path):
    path = tagged_dataset(tmp_path)
    records = read_records(path)
    by_name = {Path(r.audio_id).name: r.tags for r in records}
    assert by_name["hum.wav"] == ("hum",) and by_name["sweep.wav"] is None
    bad = json.loads(path.read_text())
    bad[2]["tags"] = "hum"
    path.write_text(json.dumps(bad))
    with pytest.raises(DataError, match="record 2: field 'tags' must be a list of non-empty strings"):
        read_records(path)


def test_collate_makes_multi_hot_targets_and_marks_unknown_rows(tmp_path):
    path = tagged_dataset(tmp_path)
    records = read_records(path)
    tok = Tokenizer.from_file(REPO / "sam_cli/assets/models/sam-tiny/tokenizer.json")
    classes = ["beep", "hum", "sweep"]  # "clicks" and "noise burst" are not classes here: left out
    ex = tokenize(records, tok, tmp_path, "{question}", 108, classes)
    items = [{"tokens": ex.tokens(i), "prompt_len": int(ex.prompt_len[i]), "fbank": torch.zeros(1, 16, 128),
              "wav": None, "tags": ex.tags(i), "error": None, "index": i, "path": ex.audio(i)} for i in range(len(ex))]
    batch = Collate(tok.eos_id, "answer", 16, num_tags=len(classes))(items)
    names = [Path(r.audio_id).name for r in records]
    expect = {"hum.wav": [0, 1, 0], "beep.wav": [1, 0, 0], "noise.wav": [0, 0, 0], "clicks.wav": [0, 0, 0]}
    for row, name in enumerate(names):
        if name == "sweep.wav":
            assert not batch.tag_known[row]
        else:
            assert batch.tag_known[row] and batch.tags[row].tolist() == expect[name], name


def test_training_with_tags_ships_a_head_that_sam_classify_reads(tmp_path, one_thread):
    data = tagged_dataset(tmp_path / "data")
    run = tmp_path / "run"
    settings = tiny_settings(train_json=str(data), output=str(run), tag_weight=1.0, max_steps=12, lr=1e-2,
                             batch_size=5, micro_batch_size=5, save_every=6)
    model_dir = train_in_process(settings)
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["labels"] == ["beep", "clicks", "hum", "noise burst"]  # sweep.wav's record has no tags
    assert cfg["encoder"]["model_variant"] == "finetune" and cfg["encoder"]["num_classes"] == 4
    losses = [m["tag_loss"] for m in read_metrics(run)]
    assert len(losses) == 12 and losses[-1] < losses[0]  # the head learns the toy tags

    # What a user runs: `sam classify` without labels reads the head, the classes by name.
    out = subprocess.run([sys.executable, "-m", "sam_cli", "classify", "--model", str(model_dir), "--json",
                          str(tmp_path / "data/audio/beep.wav")], cwd=REPO, env=env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert all(name in text for name in ("beep", "hum")) and "class_" not in text

    # Resume keeps the head; other tags in the data are refused in one line.
    more = write_config(tmp_path / "more.toml", {**settings, "max_steps": 14, "resume": True})

    p = cli("--config", more)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "the encoder's head over 4 classes goes on training" in err
    records = json.loads(data.read_text())
    records[0]["tags"] = ["a new sound"]
    data.write_text(json.dumps(records))
    even_more = write_config(tmp_path / "even.toml", {**settings, "max_steps": 16, "resume": True})
    p = cli("--config", even_more)
    _, err = p.communicate(timeout=300)
    assert p.returncode != 0 and err.strip().splitlines()[-1].startswith("sam: error: the checkpoint's tagging head")


def test_tag_weight_without_tags_is_a_one_line_error(tmp_path):
    data = make_dataset(tmp_path / "data")

    cfg = write_config(tmp_path / "c.toml", tiny_settings(train_json=str(data), output=str(tmp_path / "run"),
                                                          tag_weight=0.5))
    p = cli("--config", cfg)
    _, err = p.communicate(timeout=300)
    assert p.returncode != 0
    assert err.strip().splitlines()[-1].startswith("sam: error: tag_weight is set but no training record has")


def test_tag_weight_on_an_audio_mamba_encoder_is_a_one_line_error(tmp_path):
    data = tagged_dataset(tmp_path / "data")
    model = {**tiny_settings()["model"], "encoder_type": "audio_mamba", "encoder_dims": [16, 32],
             "encoder_depths": [1, 1]}
    cfg = write_config(tmp_path / "c.toml", tiny_settings(train_json=str(data), output=str(tmp_path / "run"),
                                                          tag_weight=0.5, model=model))
    p = cli("--config", cfg)
    _, err = p.communicate(timeout=300)
    assert p.returncode != 0
    assert err.strip().splitlines()[-1] == ("sam: error: tag_weight: the tagging loss trains the EAT encoder's head, "
                                           "not an Audio Mamba one")
