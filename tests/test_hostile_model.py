"""Issue 23, hostile input to model loading and options: a config.json is checked (types, limits, and against
the weights file's header) before anything is built or allocated (#1); path names too long for any file
system (#7); unknown --device values (#8). Each case goes through the real `sam` process where there is one."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from helpers import assert_clean_error, err, out, sam
from sam_cli.errors import CheckpointError
from sam_cli.store import limits

LONG = "a" * 300  # one path component over NAME_MAX (255 bytes)


def _variant(tiny_model_dir: Path, folder: Path, edit) -> Path:
    """A copy of the tiny model whose config.json `edit` changed; the weights and tokenizer are links."""
    folder.mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        (folder / name).symlink_to(tiny_model_dir / name)
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    edit(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _set(section: str | None, key: str, value):
    def edit(cfg):
        (cfg[section] if section else cfg)[key] = value
    return edit


# -- #1: config.json against limits and against the weights' header, before allocating ------------------------
@pytest.mark.parametrize("section, key, value, message", [
    ("lm", "n_layer", 10**6, "lm.n_layer is 1000000, out of range (1 to 512)"),
    ("encoder", "depth", 10**6, "encoder.depth is 1000000, out of range (0 to 512)"),
    ("lm", "d_model", 10**9, "lm.d_model is 1000000000, out of range (1 to 65536)"),
    ("lm", "vocab_size", 10**12, "lm.vocab_size is 1000000000000, out of range (1 to 1000000)"),
    ("lm", "headdim", 0, "lm.headdim is 0, out of range"),
    ("lm", "d_model", 32.0, "lm.d_model must be an integer, not the number 32.0"),
    (None, "encoder", "x", "encoder must be a JSON object"),
    # within the limits, but not what the file holds: named by field, found from the header alone
    ("lm", "n_layer", 300, "lm.n_layer 300, but the weights hold 2 LM layers"),
    ("encoder", "depth", 100, "encoder.depth 100, but the weights hold 2 encoder blocks"),
    ("lm", "vocab_size", 500000, "lm.vocab_size 500000 (padded to 500000), but the weights' embedding has 400 rows"),
])
def test_config_is_checked_before_allocating(tiny_model_dir, wav_file, tmp_path, section, key, value, message):
    bad = _variant(tiny_model_dir, tmp_path / "m", _set(section, key, value))
    p = sam("describe", str(wav_file), model=bad, timeout=90)  # n_layer 10**6 used to grow memory without end
    assert_clean_error(p, message, code=1)


def test_a_header_that_lies_about_its_sizes_is_corrupt(tiny_model_dir, wav_file, tmp_path):
    bad = _variant(tiny_model_dir, tmp_path / "m", lambda cfg: None)
    (bad / "model.safetensors").unlink()
    header = json.dumps({"lm.backbone.embedding.weight": {"dtype": "F32", "shape": [2**31, 2**31],
                                                          "data_offsets": [0, 4]}}).encode()
    (bad / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    assert_clean_error(sam("describe", str(wav_file), model=bad), "corrupt safetensors file", code=1)
    (bad / "model.safetensors").write_bytes(struct.pack("<Q", 2**40) + b"{}")
    assert_clean_error(sam("describe", str(wav_file), model=bad), "header length 1099511627776 does not fit", code=1)


def test_a_valid_variant_still_loads(tiny_model_dir, wav_file, tmp_path):
    ok = _variant(tiny_model_dir, tmp_path / "m", lambda cfg: None)
    p = sam("describe", str(wav_file), model=ok)
    assert p.returncode == 0 and out(p).strip(), err(p)


@pytest.fixture(scope="module")
def component_dirs(tmp_path_factory, tiny_model_dir):
    """The tiny model's LM and encoder saved as a state-spaces folder and an EAT Hub folder."""
    from sam_cli.store.checkpoint import load_checkpoint
    from sam_cli.store.eat_files import save_audio_encoder
    from sam_cli.store.mamba2_files import save_language_model

    root = tmp_path_factory.mktemp("parts")
    model = load_checkpoint(tiny_model_dir)
    from sam_cli.models.lora import remove_lora

    remove_lora(model.lm)
    save_language_model(model.lm, root / "lm")
    save_language_model(model.lm, root / "lm-bin", format="bin")
    save_audio_encoder(model.encoder, root / "eat")
    return root


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("weights", ["lm", "lm-bin"])
@pytest.mark.parametrize("where, key, value, message", [
    (None, "n_layer", 10**6, "n_layer is 1000000, out of range"),
    (None, "d_model", 10**9, "d_model is 1000000000, out of range"),
    (None, "vocab_size", 10**12, "vocab_size is 1000000000000, out of range"),
    ("ssm_cfg", "headdim", 0, "ssm_cfg.headdim is 0, out of range"),
    (None, "ssm_cfg", "Mamba2", "ssm_cfg must be a JSON object"),
    (None, "n_layer", 200, "n_layer 200, but the weights hold 2 layers"),
    (None, "d_model", 64, "d_model 64, but the weights' embedding is 32 wide"),
])
def test_load_language_model_checks_the_config(component_dirs, tmp_path, weights, where, key, value, message):
    import sam_cli

    folder = tmp_path / "lm"
    folder.mkdir()
    for f in (component_dirs / weights).iterdir():
        (folder / f.name).symlink_to(f)
    (folder / "config.json").unlink()
    (folder / "config.json").write_text((component_dirs / weights / "config.json").read_text())
    _edit_json(folder / "config.json", lambda d: (d[where] if where else d).__setitem__(key, value))
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sam_cli.load_language_model(folder)


@pytest.mark.parametrize("key, value, message", [
    ("depth", 10**6, "depth is 1000000, out of range"),
    ("embed_dim", 10**9, "embed_dim is 1000000000, out of range"),
    ("patch_size", 0, "patch_size is 0, out of range"),
    ("depth", 300, "depth 300, but the weights hold 2 blocks"),
    ("embed_dim", 64, "not a valid EAT checkpoint"),
])
def test_load_audio_encoder_checks_the_config(component_dirs, tmp_path, key, value, message):
    import sam_cli

    folder = tmp_path / "eat"
    folder.mkdir()
    (folder / "model.safetensors").symlink_to(component_dirs / "eat" / "model.safetensors")
    (folder / "config.json").write_text((component_dirs / "eat" / "config.json").read_text())
    _edit_json(folder / "config.json", lambda d: d.__setitem__(key, value))
    with pytest.raises(CheckpointError, match=message):
        sam_cli.load_audio_encoder(folder)


def test_encoder_inferred_from_a_hostile_header_is_limited(tmp_path):
    """No config at all: the shapes decide, and block 999999 would mean a million blocks."""
    import sam_cli

    t = {"local_encoder.proj.weight": torch.zeros(32, 1, 16, 16), "fixed_positional_encoder.positions":
         torch.zeros(1, 512, 32), "blocks.0.mlp.fc1.weight": torch.zeros(128, 32),
         "blocks.999999.mlp.fc1.weight": torch.zeros(128, 32)}
    save_file(t, str(tmp_path / "enc.safetensors"))
    with pytest.raises(CheckpointError, match="depth is 1000000, out of range"):
        sam_cli.load_audio_encoder(tmp_path / "enc.safetensors")
    t = {"local_encoder.proj.weight": torch.zeros(32, 1, 0, 0), "fixed_positional_encoder.positions":
         torch.zeros(1, 512, 32), "blocks.0.mlp.fc1.weight": torch.zeros(128, 32)}
    save_file(t, str(tmp_path / "enc0.safetensors"))
    with pytest.raises(CheckpointError, match="not an EAT patch embedding"):
        sam_cli.load_audio_encoder(tmp_path / "enc0.safetensors")


def test_limits_are_named_constants():
    assert (limits.MAX_LAYERS, limits.MAX_DIM, limits.MAX_VOCAB) == (512, 65536, 1_000_000)
    assert (limits.MAX_NAME_BYTES, limits.MAX_PATH_BYTES) == (255, 4095)


# -- #7: names over 255 bytes ----------------------------------------------------------------------------------
def test_a_long_inline_label_list_is_a_list(tiny_model_dir, wav_file):
    labels = [f"label number {i:02d} xx" for i in range(20)]  # 399 bytes: too long to be a file name
    p = sam("classify", str(wav_file), "--labels", ",".join(labels), "--json", "-k", "20", model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    assert {t["label"] for t in json.loads(out(p))["labels"]} == set(labels)


def test_long_names_are_one_line_errors(tiny_model_dir, wav_file, tmp_path):
    long_file = str(tmp_path / f"{LONG}.wav")
    assert_clean_error(sam("describe", long_file, model=tiny_model_dir), "file name too long", code=1)
    assert_clean_error(sam("describe", str(wav_file), model=tmp_path / LONG), "model folder name too long", code=1)
    assert_clean_error(sam("describe", str(wav_file), "--model", LONG), "model folder name too long", code=1)
    assert_clean_error(sam("batch", str(wav_file), long_file, "-o", str(tmp_path / "r.jsonl"),
                           model=tiny_model_dir), "file name too long", code=1)
    assert_clean_error(sam("classify", str(wav_file), "--labels", f"{LONG}.txt", model=tiny_model_dir),
                       "no such label file", code=2)


def test_long_names_in_the_api(tmp_path):
    import sam_cli

    for load in (sam_cli.load_model, sam_cli.load_language_model, sam_cli.load_audio_encoder):
        with pytest.raises(CheckpointError, match="name too long"):
            load(str(tmp_path / LONG))


# -- #8: --device ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device, message", [
    ("tpu", "unknown --device 'tpu'; use auto, cpu, cuda or cuda:N"),
    ("mps", "unknown --device 'mps'"),
    ("meta", "unknown --device 'meta'"),
    ("cuda:abc", "unknown --device 'cuda:abc'"),
    ("", "unknown --device ''"),
    ("cuda:7", "cuda:7"),  # no GPU here: "no CUDA GPU"; with fewer than 8: "there is no GPU 7"
])
def test_unknown_devices_are_usage_errors(tiny_model_dir, wav_file, device, message):
    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a GPU 7")
    assert_clean_error(sam("describe", str(wav_file), "--device", device, model=tiny_model_dir), message, code=2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_cuda_without_a_gpu(tiny_model_dir, wav_file):
    assert_clean_error(sam("describe", str(wav_file), "--device", "cuda", model=tiny_model_dir),
                       "--device cuda was asked for, but no CUDA GPU is available", code=2)


def test_resolve_device_accepts_the_documented_forms():
    import sam_cli

    assert sam_cli.resolve_device("cpu") == torch.device("cpu")
    assert sam_cli.resolve_device(" CPU ") == torch.device("cpu")
    assert sam_cli.resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert sam_cli.resolve_device("auto").type in ("cpu", "cuda")
