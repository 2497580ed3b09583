"""Training settings: presets, files (TOML / YAML / JSON), overrides, and the errors they give."""

from __future__ import annotations

import pytest

from sam_cli.train.config import (ConfigError, TrainConfig, build_config, plan_stage, read_config_file,
                                  task_selected)
from sam_cli.train.loop import lr_factor


def test_stage_presets_follow_ltu():
    cfg = build_config({"init": "x"})
    plans = [plan_stage(cfg, s) for s in (1, 2, 3, 4)]
    assert [p.lr for p in plans] == [1e-3, 1e-4, 1e-4, 1e-4]
    assert [p.epochs for p in plans] == [2, 2, 1, 1]
    assert [p.describe() for p in plans] == ["connector"] + ["encoder + connector + LoRA"] * 3
    assert all(p.warmup_steps == 100 for p in plans)
    assert cfg.batch_size == 256 and cfg.weight_decay == 0.0 and cfg.max_text_tokens == 108
    # Stage filters on OpenAQA's task names.
    tasks = ["cla_label", "cla_label_des", "caption", "temporal_single", "open-ended question"]
    assert [t for t in tasks if plans[0].selects(t)] == ["cla_label", "cla_label_des"]
    assert [t for t in tasks if plans[2].selects(t)] == tasks[:4]
    assert [t for t in tasks if plans[3].selects(t)] == tasks


def test_precedence_preset_file_option_stage_table():
    cfg = build_config({"init": "x", "curriculum": True, "lr": 5e-4, "stages": {"3": {"lr": 2e-5, "epochs": 3}}},
                       {"warmup_steps": 7, "freeze_encoder": True})
    p2, p3 = plan_stage(cfg, 2), plan_stage(cfg, 3)
    assert (p2.lr, p2.epochs, p2.warmup_steps, p2.train_encoder) == (5e-4, 2, 7, False)
    assert (p3.lr, p3.epochs) == (2e-5, 3)
    scratch = build_config({"scratch": True, "stage": 2})
    assert plan_stage(scratch, 2).train_lm == "full"  # a random LM has nothing to keep frozen


def test_files_in_three_formats(tmp_path):
    (tmp_path / "a.toml").write_text('lr = 1e-4\nlora-rank = 16\ntasks = ["cla*"]\n[model]\nd_model = 128\n')
    (tmp_path / "a.yaml").write_text("lr: 0.0001\nlora_rank: 16\ntasks: [cla*]\nmodel:\n  d_model: 128\n")
    (tmp_path / "a.json").write_text('{"lr": 1e-4, "lora_rank": 16, "tasks": ["cla*"], "model": {"d_model": 128}}')
    cfgs = [build_config(read_config_file(tmp_path / f"a.{ext}")) for ext in ("toml", "yaml", "json")]
    assert all(c.to_dict() == cfgs[0].to_dict() for c in cfgs)
    assert cfgs[0].lora_rank == 16 and cfgs[0].model.d_model == 128 and cfgs[0].tasks == ["cla*"]
    assert "model" not in cfgs[0].to_dict()  # not a scratch model: the table sizes nothing
    assert build_config({"scratch": True, "model": {"d_model": 128}}).to_dict()["model"]["d_model"] == 128


@pytest.mark.parametrize("values,message", [
    ({"lr": "fast"}, "recipe.toml: lr: expected a number, got a string 'fast'"),
    ({"epochs": 1.5}, "epochs: expected an integer, got a number 1.5"),
    ({"curriculum": "yes"}, "curriculum: expected true or false"),
    ({"learning_rate": 1e-4}, "unknown setting 'learning_rate'"),
    ({"model": {"d_modle": 64}}, "model: unknown setting 'd_modle' (did you mean 'd_model'?)"),
    ({"stages": {"5": {"lr": 1.0}}}, "unknown stage '5'"),
    ({"stages": {"2": {"batch_size": 8}}}, "'batch_size' cannot be set per stage"),
    ({"batch_size": 10, "micro_batch_size": 4}, "batch_size 10 is not a multiple of micro_batch_size 4"),
    ({"init": "a", "scratch": True}, "give one starting point, not init and scratch"),
    ({"lm": "a"}, "needs --lm, --encoder and --tokenizer (missing: --encoder, --tokenizer)"),
    ({"loss_on": "prompt"}, "loss_on must be one of answer, all"),
    ({"stage": 1, "curriculum": True}, "give either stage or curriculum"),
    ({"lora_rank": 0}, "stage 4 trains LoRA adapters (train_lm = lora) but lora_rank is 0"),
    ({"time_limit": 0}, "time_limit must be positive, not 0"),
    ({"time_limit": "1h"}, "time_limit: expected a number, got a string '1h'"),
])
def test_bad_settings(values, message):
    with pytest.raises(ConfigError) as e:
        build_config(values, source="recipe.toml")
    assert message in str(e.value)


def test_unreadable_files(tmp_path):
    (tmp_path / "bad.toml").write_text("lr = \n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"bad.toml: not valid TOML"):
        read_config_file(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="expected a table of settings"):
        read_config_file(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="unknown config format '.ini'"):
        (tmp_path / "x.ini").write_text("")
        read_config_file(tmp_path / "x.ini")


def test_task_patterns_and_schedule():
    assert task_selected("Cla_Label", ["cla*"]) and not task_selected("caption", ["cla*"])
    assert not task_selected("open-ended question", ["*", "!*open*"])
    # Linear warm-up from the first step (no wasted step at lr 0), then linear decay to 0.
    factors = [lr_factor(s, 4, 10) for s in range(10)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4:] == pytest.approx([1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert TrainConfig().loss_on == "all"  # LTU's choice


def test_example_recipes_are_valid():
    from train_helpers import REPO

    files = sorted((REPO / "configs").glob("*.*"))
    assert len(files) >= 4
    for path in files:
        cfg = build_config(read_config_file(path), source=str(path))
        assert cfg.stage_list
