"""A run killed with SIGKILL after a checkpoint, stopped by SIGTERM, or stopped by --time-limit, and resumed,
gives the loss curve and the weights of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file
from train_helpers import REPO, env, make_dataset, read_metrics, tiny_settings, write_config

# The real command, with every optimizer step slowed down so that the test can kill it between two steps.
SLOW_APP = """
import time
from sam_cli.train import loop
step = loop.Trainer._step
def slow(self, *args, **kw):
    out = step(self, *args, **kw)
    time.sleep(0.4)
    return out
loop.Trainer._step = slow
from sam_cli.train.command import main
main()
"""


def run_cli(*args: str, slow: bool = False) -> subprocess.Popen:
    code = SLOW_APP if slow else "from sam_cli.train.command import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_kill_and_resume_matches_an_uninterrupted_run(tmp_path):
    data = make_dataset(tmp_path / "data")
    settings = tiny_settings(train_json=str(data), max_steps=12, save_every=4, keep_last=2, eval_every=4,
                             eval_split=0.2, num_samples=1, num_workers=1)
    config = write_config(tmp_path / "recipe.toml", settings)
    whole, killed = tmp_path / "whole", tmp_path / "killed"

    # Both runs at once: the uninterrupted reference, and the one to kill.
    ref = run_cli("-c", str(config), "-o", str(whole))
    victim = run_cli("-c", str(config), "-o", str(killed), slow=True)
    deadline = time.time() + 120
    # Kill once step 9 is in the metrics: after the step-8 checkpoint, with metrics written past it.
    while time.time() < deadline and victim.poll() is None:
        if (killed / "metrics.jsonl").exists() and any(m["step"] == 9 for m in read_metrics(killed)):
            break
        time.sleep(0.05)
    assert victim.poll() is None, victim.communicate()[1]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert ref.wait(timeout=120) == 0, ref.communicate()[1]

    assert not (killed / "model").exists()
    saved = sorted(p.name for p in (killed / "checkpoints").iterdir())
    assert saved == ["stage4-step000004", "stage4-step000008"]  # keep_last 2, and nothing half-written
    # A half-written checkpoint, as a kill during a save leaves it: must be ignored and cleaned up.
    partial = killed / "checkpoints" / ".tmp-stage4-step000012-99999"
    partial.mkdir()
    (partial / "config.json").write_text("{")

    # Resume with nothing but the run folder: the settings come from the run's train_config.json.
    resumed = run_cli("-o", str(killed), "--resume")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert out.strip() == str(killed / "model")
    assert "resuming from" in err and "stage4-step000008" in err
    assert not partial.exists()

    a, b = read_metrics(whole), read_metrics(killed)
    assert [m["step"] for m in b] == list(range(1, 13))  # the steps after the checkpoint were replaced, not repeated
    for x, y in zip(a, b):
        assert x["lr"] == y["lr"]
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-6, abs=1e-7)
    evals_a, evals_b = read_metrics(whole, "eval"), read_metrics(killed, "eval")
    assert [e["step"] for e in evals_b] == [4, 8, 12]
    for x, y in zip(evals_a, evals_b):
        assert y["eval_loss"] == pytest.approx(x["eval_loss"], rel=1e-6, abs=1e-7)
    assert [s["output"] for s in read_metrics(whole, "sample")] == [s["output"] for s in read_metrics(killed, "sample")]

    assert_same_weights(whole, killed)
    cfg = json.loads((killed / "train_config.json").read_text())
    assert cfg["max_steps"] == 12 and cfg["resume"] is True

    # SIGTERM (what schedulers send) and --time-limit: the step finishes, a checkpoint is saved, exit 75.
    termed, timed = tmp_path / "termed", tmp_path / "timed"
    victim = run_cli("-c", str(config), "-o", str(termed), slow=True)
    limited = run_cli("-c", str(config), "-o", str(timed), "--time-limit", "0.01")
    while time.time() < deadline and victim.poll() is None:
        if (termed / "metrics.jsonl").exists() and any(m["step"] == 6 for m in read_metrics(termed)):
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGTERM)
    for proc, folder, why in ((victim, termed, "SIGTERM"), (limited, timed, "time limit of 0.01 s")):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 75, err
        assert out == "" and not (folder / "model").exists()
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"sam train: stopped ({why}) at stage 4 step ") and last.endswith(f"continue with: sam train --resume -o {folder}")
        step = read_metrics(folder)[-1]["step"]
        assert (folder / "checkpoints" / f"stage4-step{step:06d}").is_dir()  # saved at the step it stopped
        assert f"step {step}/12, after saving a checkpoint" in last
    assert 6 <= read_metrics(termed)[-1]["step"] < 12 and read_metrics(timed)[-1]["step"] == 1
    for folder in (termed, timed):
        resumed = run_cli("-o", str(folder), "--resume", "--time-limit", "1000")
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        assert [m["step"] for m in read_metrics(folder)] == list(range(1, 13))
        assert_same_weights(whole, folder)


def assert_same_weights(a_run, b_run) -> None:
    wa, wb = load_file(a_run / "model" / "model.safetensors"), load_file(b_run / "model" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert (wa[k] - wb[k]).abs().max() <= 1e-6, k
