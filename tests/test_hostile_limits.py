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

    # 30 minutes, so that decoding is still going on when the signal comes, even on an idle machine (10
    # minutes of windows were done in under 8 s there).
    long = tmp_path / "long.wav"
    noise = 0.1 * np.random.default_rng(0).standard_normal(16000 * 1800)
    sf.write(long, noise.astype("float32"), 16000, subtype="PCM_16")
    for delay in (3.0, 6.0):
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


def test_a_decoding_process_survives_ctrl_c_while_python_starts_and_the_parent_keeps_its_handler():
    """`sam batch --processes`: the terminal's Ctrl-C reaches the decoding processes too, and one still
    starting (importing torch, before its own code runs) died with a traceback (a CI failure)."""
    import multiprocessing

    from sam_cli.batch.workers import _start_deaf

    handler, mask = signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, set())
    p = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0.5,))
    _start_deaf(p)
    try:
        assert signal.getsignal(signal.SIGINT) is handler
        assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == mask
        os.kill(p.pid, signal.SIGINT)  # the child is in Python's start-up now: it takes seconds
        p.join(timeout=60)
        assert p.exitcode == 0
    finally:
        if p.is_alive():
            p.kill()


# --- 9: question, prompt and label-list length --------------------------------------------------------------
def test_a_question_of_100k_characters_is_a_usage_error_before_any_work(wav_file):
    t = time.monotonic()
    p = sam("ask", str(wav_file), "is there a dog " * 7000, "--model", BUNDLED)  # 105,000 characters
    assert_clean_error(p, "the question is 105,000 characters long; the most is 32,768", code=2)
    assert time.monotonic() - t < 30  # refused before the model loads: no 8 GB prefill


def test_a_question_over_the_token_limit_is_refused_and_the_limit_is_configurable(wav_file):
    question = "Is there a dog " + "or a cat " * 300  # 2,715 characters, some 600 tokens
    p = sam("ask", str(wav_file), question, "--model", BUNDLED, "--max-tokens", "2",
            env={"SAM_MAX_PROMPT_TOKENS": "200"})
    assert_clean_error(p, "tokens long with the prompt template; the most is 200 (raise with $SAM_MAX_PROMPT_TOKENS)",
                       code=2)
    p = sam("describe", str(wav_file), "--prompt", question, "--model", BUNDLED, "--max-tokens", "2",
            env={"SAM_MAX_PROMPT_TOKENS": "200"})
    assert_clean_error(p, "the prompt is", code=2)
    p = sam("ask", str(wav_file), question, "--model", BUNDLED, "--max-tokens", "2")  # under the default
    assert p.returncode == 0 and out(p).strip(), err(p)
    p = sam("ask", str(wav_file), "Is there a dog?", "--model", BUNDLED, env={"SAM_MAX_PROMPT_TOKENS": "lots"})
    assert_clean_error(p, "$SAM_MAX_PROMPT_TOKENS='lots': give a positive whole number", code=2)


def test_label_and_choice_lists_have_limits(wav_file, tmp_path):
    many = ",".join(f"label {i}" for i in range(1001))
    assert_clean_error(sam("classify", str(wav_file), "--labels", many, "--model", BUNDLED),
                       "--labels has 1,001 items; the most is 1,000 (raise with $SAM_MAX_CHOICES)", code=2)
    label_file = tmp_path / "labels.txt"
    label_file.write_text("\n".join("a very long label " * 3 + str(i) for i in range(700)))  # ~38,000 chars
    assert_clean_error(sam("classify", str(wav_file), "--labels", str(label_file), "--model", BUNDLED),
                       "characters long in all; the most is 32,000 (raise with $SAM_MAX_CHOICES_CHARS)", code=2)
    assert_clean_error(sam("ask", str(wav_file), "Which?", "--choices", "yes,no," + "x" * 1001, "--model", BUNDLED),
                       "--choices: one item is 1,001 characters long; the most is 1,000", code=2)
    assert_clean_error(sam("ask", str(wav_file), "Which?", "--choices", "a,b,c", "--model", BUNDLED,
                           env={"SAM_MAX_CHOICES": "2"}), "--choices has 3 items; the most is 2", code=2)
    p = sam("ask", str(wav_file), "Which?", "--choices", "a,b", "--model", BUNDLED, env={"SAM_MAX_CHOICES": "2"})
    assert p.returncode == 0, err(p)


def test_the_python_api_has_the_same_limits(tiny_model_dir, wav_file, monkeypatch):
    import sam_cli
    from sam_cli.errors import UsageError

    model = sam_cli.load_model(str(tiny_model_dir))
    with pytest.raises(UsageError, match="the question is 100,000 characters long"):
        sam_cli.ask(model, str(wav_file), "x" * 100_000)
    with pytest.raises(UsageError, match="--labels has 5,000 items"):
        sam_cli.classify(model, str(wav_file), labels=[f"l{i}" for i in range(5000)])
    monkeypatch.setenv("SAM_MAX_CHOICES_CHARS", "10")
    with pytest.raises(UsageError, match="--choices is 12 characters long in all; the most is 10"):
        sam_cli.choose(model, str(wav_file), "Which?", ["twelve", "chars!"])


# --- 16: README's test command on a machine without the system packages --------------------------------------
NEED_PORTAUDIO = ["tests/test_cli.py::test_record_from_a_real_portaudio_device",
                  "tests/test_cli.py::test_listen_captions_the_microphone_until_ctrl_c",
                  "tests/test_mic.py::test_no_microphone"]
NEED_FFMPEG = ["tests/test_cli.py::test_unsupported_container_without_ffmpeg"]


def _pytest(tests: list[str], env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("SAM_TEST_REQUIRE_DEVICES", "PYTEST_ADDOPTS")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", *tests],
                          cwd=REPO, env={**base, **env}, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("need,tests", [("portaudio", NEED_PORTAUDIO), ("ffmpeg", NEED_FFMPEG)])
def test_system_library_tests_skip_saying_what_to_install_but_fail_on_ci(tmp_path, need, tests):
    if need == "portaudio":
        # A broken libportaudio.so.2 first on the loader's path: as on a machine without the library.
        (tmp_path / "libportaudio.so.2").write_bytes(b"not a shared library")
        env = {"LD_LIBRARY_PATH": str(tmp_path)}
        reason = "PortAudio is not installed (apt install libportaudio2)"
    else:
        (tmp_path / "bin").mkdir()  # a PATH without ffmpeg (the tests run python by its full path)
        env = {"PATH": str(tmp_path / "bin")}
        reason = "ffmpeg is not installed (apt install ffmpeg)"
    fresh = _pytest(tests, env)
    assert fresh.returncode == 0, fresh.stdout[-3000:]
    assert f"{len(tests)} skipped" in fresh.stdout and reason in fresh.stdout, fresh.stdout
    ci = _pytest(tests, {**env, "SAM_TEST_REQUIRE_DEVICES": "1"})
    assert ci.returncode == 1 and f"{len(tests)} failed" in ci.stdout, ci.stdout[-3000:]
    assert "refuses" in ci.stdout and reason in ci.stdout
