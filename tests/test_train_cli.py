"""`sam train` as users run it: user errors are one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json

import pytest
from train_helpers import (cli, make_dataset, one_thread, record, tiny_settings,  # noqa: F401
                               train_in_process, write_config)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data"))


def lm_folder(path):
    from sam_cli.store.mamba2_files import save_language_model
    from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel

    save_language_model(Mamba2LMHeadModel(Mamba2Config(d_model=32, n_layer=1, vocab_size=300, d_state=8, headdim=8,
                                                       chunk_size=16)), path)
    return path


def test_user_errors_are_one_line(tmp_path, data):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[{"instruction": "x", "output": "y" "audio_id": "a.wav"}]')
    missing_field = tmp_path / "missing.json"
    recs = [record("audio/hum.wav", "a hum"), record("audio/beep.wav", "a beep")]
    del recs[1]["output"]
    missing_field.write_text(json.dumps(recs))
    recipe = write_config(tmp_path / "recipe.toml", tiny_settings())
    unknown = write_config(tmp_path / "unknown.toml", tiny_settings(lora_rnak=4))
    cases = {
        "malformed JSON": (["-d", bad_json, "-c", recipe], f"{bad_json}: not valid JSON (Expecting ',' delimiter at "
                                                           "line 1 column 37)"),
        "missing field": (["-d", missing_field, "-c", recipe], f"{missing_field}: record 1: missing field 'output'"),
        "no audio root": (["-d", data, "-c", recipe, "--audio-root", tmp_path / "nowhere"],
                          f"audio root {tmp_path / 'nowhere'} does not exist"),
        "incompatible checkpoint": (["-d", data, "--init", lm_folder(tmp_path / "mamba2")],
                                    "not a SAM checkpoint but a Mamba-2 language model"),
        "unknown key": (["-d", data, "-c", unknown], "unknown setting 'lora_rnak' (did you mean 'lora_rank'?)"),
    }  # more setting errors: test_train_config.py
    procs = {name: cli(*args, "-o", tmp_path / name.replace(" ", "-")) for name, (args, _) in cases.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, name
        assert out == "", name
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sam: error: "), (name, err)
        assert cases[name][1] in lines[0], (name, lines[0])


def test_existing_run_needs_resume(tmp_path, data, one_thread):  # noqa: F811
    settings = tiny_settings(train_json=str(data), output=str(tmp_path / "run"), max_steps=1)
    assert train_in_process(settings) == tmp_path / "run" / "model"
    recipe = write_config(tmp_path / "recipe.toml", settings)
    again, other_seed = cli("-c", recipe), cli("-c", recipe, "--resume", "--seed", "3")
    _, err = again.communicate(timeout=120)
    assert again.returncode != 0 and "pass --resume to continue it" in err
    # Changing what fixes the data order is refused.
    _, err = other_seed.communicate(timeout=120)
    assert other_seed.returncode != 0 and "cannot resume: seed was 0 in the checkpoint, now 3" in err


def test_register_adds_the_command():
    import typer
    from typer.testing import CliRunner

    from sam_cli.train.command import register

    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for option in ("--train-json", "--curriculum", "--lora-rank", "--freeze-encoder", "--resume", "--merge-lora"):
        assert option in result.output
