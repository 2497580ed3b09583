"""`sam train` learns: a tiny model trained from scratch on a few real wav files reproduces every caption."""

from __future__ import annotations

import json
import subprocess
import sys

from train_helpers import (CLIPS, REPO, env, make_dataset, one_thread, read_metrics,  # noqa: F401
                               tiny_settings, train_in_process)


def test_tiny_model_learns_every_caption(tmp_path, one_thread):
    data = make_dataset(tmp_path / "data", broken=True)
    run = tmp_path / "run"
    settings = tiny_settings(train_json=str(data), output=str(run), max_steps=150, batch_size=5, micro_batch_size=5,
                             warmup_steps=10, num_workers=2, eval_every=75, save_every=75, num_samples=5,
                             log_every=25, eval_split=0.0)
    export = train_in_process(settings)
    assert export == run / "model"

    # The loss fell, and the last sample generations (greedy, during training) are the captions.
    losses = [m["loss"] for m in read_metrics(run)]
    assert len(losses) == 150 and losses[-1] < 0.1 * losses[0]
    last = [s for s in read_metrics(run, "sample") if s["step"] == 150]
    assert {s["output"] for s in last} == {caption for caption, _ in CLIPS.values()}

    # Missing and undecodable audio was skipped, counted and listed, and did not stop the run.
    skipped = (run / "skipped_audio.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0].rsplit("/", 1)[1] for line in skipped) == ["corrupt.wav", "missing.wav"]
    assert sum(m["skipped"] for m in read_metrics(run)) > 0

    # The export is a SAM checkpoint that `sam describe` runs as it is, and it knows every clip.
    config = json.loads((export / "config.json").read_text())
    assert config["lora_rank"] == 0 and config["extra"]["train_config"]["max_steps"] == 150
    files = [str(data.parent / "audio" / name) for name in CLIPS]
    out = subprocess.run([sys.executable, "-c", "from sam_cli.cli import main; main()", "describe", "--model",
                          str(export), *files], cwd=REPO, env=env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    answers = dict(line.rsplit(": ", 1) for line in out.stdout.strip().splitlines())
    assert answers == {f: caption for f, (caption, _) in zip(files, CLIPS.values())}
