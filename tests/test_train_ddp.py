"""Two processes under torchrun (DDP, gloo on the CPU) train exactly what one process trains on the same
global batch: same losses step by step, same final weights."""

from __future__ import annotations

import subprocess
import sys

import pytest
from safetensors.torch import load_file
from train_helpers import REPO, env, make_dataset, read_metrics, tiny_settings, write_config


def test_two_processes_match_one(tmp_path):
    data = make_dataset(tmp_path / "data", broken=True)  # a failed clip must not desynchronise the processes
    # 7 records, global batch 4 in micro-batches of 2: one process accumulates 2, two processes take 1 each.
    settings = tiny_settings(train_json=str(data), max_steps=6, eval_split=0.2, eval_every=3, num_workers=0)
    config = write_config(tmp_path / "recipe.toml", settings)
    one, two = tmp_path / "one", tmp_path / "two"
    cmd = ["-m", "sam_cli.train", "-c", str(config), "-o"]
    # The single process also recomputes activations (gradient checkpointing): the numbers must not change.
    single = subprocess.Popen([sys.executable, *cmd, str(one), "--gradient-checkpointing"], cwd=REPO, env=env(),
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    multi = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                              *cmd, str(two)], cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    out1, err1 = single.communicate(timeout=180)
    out2, err2 = multi.communicate(timeout=180)
    assert single.returncode == 0, err1
    assert multi.returncode == 0, err2
    assert "2 processes" in err2
    assert out2.strip() == str(two / "model")  # the result once, from rank 0

    a, b = read_metrics(one), read_metrics(two)
    assert [m["step"] for m in b] == list(range(1, 7))
    for x, y in zip(a, b):
        assert (y["samples"], y["tokens"], y["lr"]) == (x["samples"], x["tokens"], x["lr"])
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-5)
    ea, eb = read_metrics(one, "eval"), read_metrics(two, "eval")
    assert [e["eval_loss"] for e in eb] == pytest.approx([e["eval_loss"] for e in ea], rel=1e-5)

    wa, wb = load_file(one / "model" / "model.safetensors"), load_file(two / "model" / "model.safetensors")
    for k in wa:
        assert (wa[k] - wb[k]).abs().max() <= 1e-4 * max(1.0, float(wa[k].abs().max())), k
    # Skipped clips from every process end up in the one list rank 0 writes.
    assert len((two / "skipped_audio.txt").read_text().splitlines()) == len(
        (one / "skipped_audio.txt").read_text().splitlines())
