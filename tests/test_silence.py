"""A silent window asked for a caption (or tags) is answered "Silence." without the model, the same way by
every path that generates: `describe`/`ask` (tasks.answer_windows), `sam batch`, `sam eval`'s predictions
and `sam serve` (test_serve.py checks the server against the CLI on the clip below)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import tone
from helpers import err, out, sam
from sam_cli import audio as A
from sam_cli.batch.runner import run_batch
from sam_cli.decoding.options import DecodeOptions, Timings
from sam_cli.tasks import SILENT_ANSWER, ask, describe, iter_answers, silent
from sam_cli.writers import read_records

OPTS = DecodeOptions(max_new_tokens=6)
WINDOW = int(A.WINDOW_SECONDS * A.SAMPLE_RATE)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from sam_cli.store.checkpoint import load_checkpoint

    return load_checkpoint(tiny_model_dir)


def sound_silence_sound() -> np.ndarray:
    """A tone window, a window of digital silence, then 2 s of tone: three windows, the middle one silent."""
    return np.concatenate([tone(A.WINDOW_SECONDS, freq=500), np.zeros(WINDOW, np.float32), tone(2.0, freq=300)])


def at_level(db: float, seconds: float = 2.0) -> torch.Tensor:
    """A tone whose peak is `db` dBFS."""
    x = torch.sin(torch.arange(int(seconds * A.SAMPLE_RATE)) * 0.1)
    return x / x.abs().max() * 10 ** (db / 20)


def test_peak_db():
    assert A.peak_db(torch.zeros(100)) == float("-inf")
    assert A.peak_db(torch.zeros(0)) == float("-inf")
    assert A.peak_db(torch.tensor([0.0, -0.5, 0.25])) == pytest.approx(-6.0206, abs=1e-3)
    assert A.peak_db(at_level(-70.0)) == pytest.approx(-70.0, abs=1e-3)


def test_the_level_decides_and_none_turns_the_gate_off():
    def win(x: torch.Tensor) -> A.AudioWindow:
        return A.AudioWindow(0, 0.0, x.numel() / A.SAMPLE_RATE, x)

    assert silent(win(torch.zeros(16000)), OPTS)
    assert silent(win(at_level(-75.0)), OPTS)
    assert not silent(win(at_level(-65.0)), OPTS)  # quiet, but the model hears it
    assert not silent(win(torch.zeros(16000)), DecodeOptions(silence_db=None))
    assert silent(win(at_level(-45.0)), DecodeOptions(silence_db=-40.0))
    with pytest.raises(ValueError, match="dBFS"):
        DecodeOptions(silence_db=3.0)


def test_describe_and_ask_answer_a_silent_window_without_the_model(model):
    wav = torch.from_numpy(sound_silence_sound())
    timings = Timings()
    segs = describe(model, wav, opts=OPTS, timings=timings)
    assert [(s.start, s.end) for s in segs] == [(0.0, 10.24), (10.24, 20.48), (20.48, 22.48)]
    assert segs[1].text == SILENT_ANSWER
    assert SILENT_ANSWER not in (segs[0].text, segs[2].text)  # the tiny random model never writes it
    # The model ran for the two windows it heard, and for the silent one only when the gate is off.
    raw = describe(model, wav, opts=DecodeOptions(max_new_tokens=6, silence_db=None))
    assert [s.text for s in raw][::2] == [segs[0].text, segs[2].text]
    assert raw[1].text != SILENT_ANSWER
    # The caption prompt given as a question is gated too; any other question goes to the model.
    assert ask(model, torch.zeros(3 * A.SAMPLE_RATE), model.cfg.describe_prompt, opts=OPTS)[0].text == SILENT_ANSWER
    assert ask(model, torch.zeros(3 * A.SAMPLE_RATE), "Is there a dog?", opts=OPTS)[0].text != SILENT_ANSWER
    # A quiet sound still goes to the model.
    assert describe(model, at_level(-60.0), opts=OPTS)[0].text != SILENT_ANSWER


def test_streaming_gives_the_silent_window_its_text(model):
    wav = torch.from_numpy(sound_silence_sound())
    pieces: dict[int, str] = {}
    segs = list(iter_answers(model, wav, model.cfg.describe_prompt, OPTS, batch_size=1,
                             on_token=lambda i, text: pieces.__setitem__(i, pieces.get(i, "") + text)))
    assert pieces[1] == SILENT_ANSWER
    assert [pieces[i].strip() for i in range(3)] == [s.text for s in segs]


def test_sam_batch_and_the_command_line_answer_silence_alike(model, tiny_model_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    sf.write(data / "mixed.wav", sound_silence_sound(), A.SAMPLE_RATE)
    sf.write(data / "silent.flac", np.zeros(A.SAMPLE_RATE // 2, np.float32), A.SAMPLE_RATE)
    summary = run_batch(model, [data], tmp_path / "rows.jsonl", opts=OPTS, batch_size=4, workers=0)
    rows = {Path(r["file"]).name: r for r in read_records(summary.output)}
    assert rows["silent.flac"]["text"] == SILENT_ANSWER
    assert [s["text"] for s in rows["mixed.wav"]["segments"]][1] == SILENT_ANSWER
    p = sam("describe", str(data / "mixed.wav"), str(data / "silent.flac"), "--format", "jsonl",
            "--max-tokens", "6", model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    cli = {Path(r["file"]).name: r for r in map(json.loads, out(p).splitlines())}
    for name in rows:
        assert cli[name]["segments"] == rows[name]["segments"], name


def test_eval_predictions_gate_silence_too(model, tmp_path):
    from sam_cli.evaluation.datasets import Dataset, Item
    from sam_cli.evaluation.ledger import PredictionLedger
    from sam_cli.evaluation.predict import Predictor

    sf.write(tmp_path / "silent.wav", np.zeros(A.SAMPLE_RATE, np.float32), A.SAMPLE_RATE)
    sf.write(tmp_path / "tone.wav", tone(1.0), A.SAMPLE_RATE)
    ds = Dataset(task="clotho", items=[Item(id="s", audio=tmp_path / "silent.wav"),
                                       Item(id="t", audio=tmp_path / "tone.wav")])
    with PredictionLedger(tmp_path / "pred.jsonl", {}) as ledger:
        assert Predictor(model, ds, ledger, ("generate",), opts=OPTS, workers=1).run(ds.items) == 2
        rows = dict(ledger.rows)
    assert rows["s"]["text"] == SILENT_ANSWER and rows["t"]["text"] != SILENT_ANSWER
