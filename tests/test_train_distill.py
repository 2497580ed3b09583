"""`sam train --distill-teacher`: a tiny random Whisper-shaped CTranslate2 model (written by test_distill's own
writer) teaches the encoder of the toy from-scratch recipe. The distillation loss is logged, the export is the
same model as without a teacher (the head is not part of it), and a stopped run resumes with its head."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_distill import tiny_whisper_variables, write_ct2
from train_helpers import cli, make_dataset, one_thread, read_metrics, tiny_settings, train_in_process, write_config  # noqa: F401

from sam_cli.train import ct2_format as C
from sam_cli.train import whisper_ct2 as W
from sam_cli.train import whisper_decode as WD
from sam_cli.train.checkpoints import STATE_FILE
from sam_cli.audio import load_audio
from sam_cli.train.data import AudioTextDataset, Collate, Examples, window_samples
from sam_cli.train.distill import WhisperTeacher


def write_teacher(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_ct2(folder / "model.bin", tiny_whisper_variables(), {"decoder/projection/weight": "decoder/embeddings/weight"})
    return folder


def test_encoder_only_copy_is_the_same_teacher(tmp_path):
    full = write_teacher(tmp_path / "full")
    m = C.read_ct2(full)
    for dtype in (None, "float32", "float16"):
        out = tmp_path / str(dtype)
        out.mkdir()
        C.write_ct2(C.encoder_subset(m, dtype), out / "model.bin")
        back = C.read_ct2(out)
        assert set(back.variables) == {k for k in m.variables if k.startswith("encoder/")}
        assert back.scalar("encoder/num_heads") == m.scalar("encoder/num_heads")
        wav = torch.randn(2, 40960) * 0.1
        a = WhisperTeacher.from_ct2(full, full_context=False)(wav)
        b = WhisperTeacher.from_ct2(out, full_context=False)(wav)
        if dtype == "float16":  # the tiny model stores some variables in float32 and bfloat16: rounded here
            assert torch.nn.functional.cosine_similarity(a, b, dim=-1).min() > 0.999
        else:
            assert torch.equal(a, b)
    C.write_ct2(m, tmp_path / "again.bin")  # the whole model round-trips, aliases included
    again = C.read_ct2(tmp_path / "again.bin")
    assert again.aliases == m.aliases and all(torch.equal(again.variables[k], v) for k, v in m.variables.items())


def test_batches_carry_the_window_waveform(tmp_path):
    data = make_dataset(tmp_path / "data")
    paths = [b"audio/hum.wav", b"audio/missing.wav", b"audio/noise.wav"]
    offsets = np.cumsum([0] + [len(p) for p in paths])
    n = len(paths)
    ex = Examples(str(data.parent), np.frombuffer(b"".join(paths), np.uint8), offsets, np.zeros(n, np.int32),
                  np.arange(n + 1), np.zeros(n, np.int32))
    ds = AudioTextDataset(ex, 256, with_wav=True)
    items = [ds[i] for i in range(n)]
    assert items[0]["wav"].shape == (256 * 160,) and items[1]["wav"] is None  # a missing file: no waveform
    assert items[2]["wav"][:40960].equal(load_audio(str(data.parent / "audio/noise.wav"))[:40960])
    batch = Collate(0, "all", 256, with_wav=True)(items)
    assert batch.wav.shape == (2, 256 * 160) and batch.indices == [0, 2]
    dummy = Collate(0, "all", 256, with_wav=True)([items[1]])  # every clip failed
    assert dummy.wav.shape == (1, 256 * 160) and not dummy.wav.any() and dummy.indices == []
    assert Collate(0, "all", 256)(items).wav is None and AudioTextDataset(ex, 256)[0]["wav"] is None
    short = window_samples(torch.ones(1000), 256)  # zero-padded, or cut, to the window
    assert short.shape == (40960,) and short[:1000].all() and not short[1000:].any()
    assert window_samples(torch.ones(50000), 256).shape == (40960,)


@pytest.fixture
def toy(tmp_path):
    data = make_dataset(tmp_path / "data")
    teacher = write_teacher(tmp_path / "teacher")
    # The teacher hears the 2.56-s window alone (its 30-s context costs ~0.5 s a micro-batch on this CPU).
    settings = tiny_settings(train_json=str(data), max_steps=3, save_every=1, keep_last=1,
                             distill_full_context=False)
    return tmp_path, settings, teacher


def test_a_teacher_adds_a_logged_loss_leaves_the_export_alone_and_resumes(toy, one_thread):  # noqa: F811
    tmp, settings, teacher = toy
    plain = train_in_process(settings | {"output": str(tmp / "plain")})
    taught = train_in_process(settings | {"output": str(tmp / "taught"), "distill_teacher": str(teacher)})

    steps = read_metrics(tmp / "taught")
    assert [m["step"] for m in steps] == [1, 2, 3]
    assert all(math.isfinite(m["distill_loss"]) and m["distill_loss"] > 0 for m in steps)
    assert "distill_loss" not in read_metrics(tmp / "plain")[0]
    # The first step's LM loss comes before any update: same model, same data, same number.
    assert steps[0]["loss"] == pytest.approx(read_metrics(tmp / "plain")[0]["loss"], rel=1e-6)

    # The export: the same files, keys and shapes as without a teacher (the head is not part of SAM) ...
    assert sorted(p.name for p in taught.iterdir()) == sorted(p.name for p in plain.iterdir())
    a, b = load_file(plain / "model.safetensors"), load_file(taught / "model.safetensors")
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("encoder.blocks."))  # ... but taught

    # The real command with --distill-teacher, stopped by the time limit after step 1 (exit 75), then resumed.
    run = tmp / "stopped"
    config = write_config(tmp / "recipe.toml", {k: v for k, v in settings.items() if k != "distill_full_context"})
    proc = cli("-c", config, "-o", run, "--distill-teacher", teacher, "--distill-window-context", "--time-limit", "0.01")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    assert "teaches the encoder in stage 4: weight 0.5, cosine loss, window context" in err
    state = torch.load(run / "checkpoints" / "stage4-step000001" / STATE_FILE, weights_only=True)
    assert "frames.0.weight" in state["distill_head"]

    from sam_cli.train.command import run as run_command

    resumed = run_command(None, {"output": str(run), "resume": True, "time_limit": 1000.0})
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3]
    for x, y in zip(steps, read_metrics(run)):  # a fresh head would give another distillation loss from step 2 on
        assert y["distill_loss"] == pytest.approx(x["distill_loss"], rel=1e-5, abs=1e-6)
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-5, abs=1e-6)
    c = load_file(resumed / "model.safetensors")
    assert all((b[k] - c[k]).abs().max() <= 1e-5 for k in b)

    # A plain run cannot be resumed with a teacher: its optimizer state has no head in it.
    with pytest.raises(Exception, match="distillation was off"):
        train_in_process(settings | {"output": str(tmp / "plain"), "resume": True, "max_steps": 4,
                                     "distill_teacher": str(teacher)})


def test_a_folder_without_a_teacher_is_a_clear_error(toy):
    tmp, settings, _ = toy
    with pytest.raises(Exception, match="no model.bin there"):
        train_in_process(settings | {"output": str(tmp / "x"), "distill_teacher": str(tmp)})
    from sam_cli.train.config import ConfigError, build_config

    with pytest.raises(ConfigError, match="distill_loss must be one of cosine, mse"):
        build_config(settings | {"distill_loss": "l1"})
