"""Issue 23, items 9 and 13, through the real `sam` process: questions, prompts and label lists have limits
(one-line usage errors past them), and Ctrl-C at any moment gives exit 130 (or the finished result), never a
traceback, a swallowed interrupt or SIGABRT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import REPO, assert_clean_error, err, out, sam

BUNDLED = "sam-tiny"


# --- 13: Ctrl-C -----------------------------------------------------------------------------------------------
def _interpreter_start() -> float:
    """Seconds a bare interpreter of this venv takes to start on this (maybe loaded) machine: a SIGINT before
    it reaches sam's own first line lands inside Python's `site` import, which no program can handle."""
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - t


def _interrupt(delay: float, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAM_", "HF_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME="/nonexistent-hf-home")
    proc = subprocess.Popen([sys.executable, "-m", "sam_cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=REPO)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=60)  # a swallowed Ctrl-C runs on to the result, or hangs
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stdout.decode(), stderr.decode()


def test_ctrl_c_at_any_moment_of_start_up_exits_130_in_one_line():
    start = _interpreter_start()
    # 20 moments from just after the interpreter is up to well into torch's import and model loading.
    delays = [max(0.1, 1.5 * start) + 0.05 * i for i in range(20)]
    outcomes = []
    for delay in delays:
        code, stdout, stderr = _interrupt(delay, "describe", "examples/dog_bark.wav")
        outcomes.append((round(delay, 2), code, stderr.strip()[-300:]))
        assert "Traceback" not in stderr and "Fatal Python error" not in stderr, outcomes
        assert code != -signal.SIGABRT, outcomes
        if code == 0:  # finished before the signal: then it must be the whole, right result
            assert stdout.strip() and stderr.strip() == "", outcomes
        else:
            assert code == 130 and stdout == "", outcomes
            assert stderr.strip() == "sam: error: interrupted", outcomes


def test_ctrl_c_while_describing_is_exit_130_not_swallowed(tmp_path):
    # Later on: inside the command (model loaded, decoding): the command's own handling, one line, 130.
    import numpy as np
    import soundfile as sf

    long = tmp_path / "long.wav"  # 10 minutes: decoding is still going on when the signal comes
    noise = 0.1 * np.random.default_rng(0).standard_normal(16000 * 600)
    sf.write(long, noise.astype("float32"), 16000, subtype="PCM_16")
    for delay in (3.0, 8.0):
        code, stdout, stderr = _interrupt(delay, "describe", str(long), "--max-tokens", "8")
        assert "Traceback" not in stderr and code == 130, (delay, code, stderr)
        assert stderr.strip().splitlines()[-1] == "sam: error: interrupted", stderr


@pytest.mark.parametrize("decoders", ["threads", "processes"])
def test_ctrl_c_in_sam_batch_keeps_rows_and_leaves_no_process(tiny_model_dir, tmp_path, decoders):
    import json

    import soundfile as sf
    from conftest import tone

    data = tmp_path / "many"
    data.mkdir()
    for i in range(60):
        sf.write(data / f"c{i:02d}.wav", tone(0.5, freq=200 + 20 * i, seed=i), 16000)
    results = tmp_path / "results.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAM_", "HF_"))}
    env.update(HF_HUB_OFFLINE="1", SAM_MODEL=str(tiny_model_dir))
    args = ["batch", str(data), "--output", str(results), "--batch-size", "1"]
    if decoders == "processes":
        args.append("--processes")
    proc = subprocess.Popen([sys.executable, "-m", "sam_cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (results.exists() and results.read_text().count("\n") >= 3):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no rows appeared"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = stderr.decode()
    assert proc.returncode == 130 and "Traceback" not in text, text
    assert text.strip().splitlines()[-1] == "sam: error: interrupted", text
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert 3 <= len(rows) <= 60 and len({r["file"] for r in rows}) == len(rows)
    deadline = time.monotonic() + 20  # multiprocessing's resource tracker leaves once it has cleaned up
    while (left := subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()):
        assert time.monotonic() < deadline, f"processes of the run outlived it: {left}"
        time.sleep(0.2)
