"""`sam serve` end to end: a real server process on 127.0.0.1, the official `openai` client and httpx, answers
compared with the `sam` command's for the same clips (greedy decoding: equal, whatever else is in the batch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import shutil

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import tone
from helpers import REPO
from serve_helpers import Server, chat_body, metric, wait_for

openai = pytest.importorskip("openai")

QUESTION = "Is there a dog?"
LENGTHS = {"a": (1.5, 440.0), "b": (3.0, 700.0), "c": (12.0, 300.0), "d": (25.0, 220.0)}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve-clips")
    files = {}
    for i, (name, (seconds, freq)) in enumerate(LENGTHS.items()):
        files[name] = d / f"{name}.wav"
        sf.write(files[name], tone(seconds, freq=freq, seed=i), 16000)
    files["long"] = d / "long.wav"  # 5 minutes: 30 windows
    sf.write(files["long"], tone(300.0, sr=8000, freq=330.0), 8000, subtype="PCM_16")
    files["gap"] = d / "gap.wav"  # a tone window, a window of digital silence, 2 s of tone
    sf.write(files["gap"], np.concatenate([tone(10.24, freq=500), np.zeros(163840, np.float32), tone(2.0)]), 16000)
    return files


def _cli(model, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAM_", "HF_"))}
    env.update({"HF_HOME": "/nonexistent-hf-home", "HF_HUB_OFFLINE": "1", "SAM_MODEL": str(model)})
    return subprocess.Popen([sys.executable, "-m", "sam_cli", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def server_and_cli(tiny_model_dir, clips):
    """The server, and the CLI's records for the same clips (computed while the server starts)."""
    short = [str(clips[k]) for k in LENGTHS]
    procs = {
        "describe": _cli(tiny_model_dir, "describe", "--format", "jsonl", *short),
        "gap": _cli(tiny_model_dir, "describe", "--json", str(clips["gap"])),
        "gap_ask": _cli(tiny_model_dir, "ask", "--json", str(clips["gap"]), QUESTION),
        "prompted": _cli(tiny_model_dir, "describe", "--format", "jsonl", "--prompt", QUESTION, *short),
        "ask": _cli(tiny_model_dir, "ask", "--json", str(clips["c"]), QUESTION),
        "choices": _cli(tiny_model_dir, "ask", "--json", str(clips["b"]), QUESTION, "--choices", "yes,no,maybe"),
        "labels": _cli(tiny_model_dir, "classify", "--json", str(clips["d"]), "--labels", "dog,rain,bell"),
        "tags": _cli(tiny_model_dir, "classify", "--json", str(clips["c"])),  # the tags the model writes
        "sampled": _cli(tiny_model_dir, "describe", "--format", "jsonl", "--temperature", "0.9", "--seed", "5",
                        str(clips["a"]), str(clips["b"])),
    }
    server = Server(tiny_model_dir, "--max-batch", "8", "--max-queue", "64", "--allow-paths",
                    str(clips["a"].parent))
    refs = {}
    for key, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr.decode()
        refs[key] = [json.loads(line) for line in stdout.decode().splitlines()]
    yield server, refs
    code = server.terminate()
    assert code == 0, server.stderr
    assert "Traceback" not in server.stderr, server.stderr


@pytest.fixture(scope="module")
def server(server_and_cli):
    return server_and_cli[0]


@pytest.fixture(scope="module")
def refs(server_and_cli):
    return server_and_cli[1]


def _text(refs, key: str, clip: str) -> str:
    return next(r for r in refs[key] if r["file"].endswith(f"/{clip}.wav"))["text"]


def _client(server) -> "openai.OpenAI":
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


# --- the OpenAI API ---------------------------------------------------------------------------------------
def test_chat_answers_equal_the_cli(server, refs, clips):
    client = _client(server)
    for name in LENGTHS:
        r = client.chat.completions.create(**chat_body(clips[name]))
        assert r.choices[0].message.content == _text(refs, "describe", name), name
        assert r.choices[0].finish_reason in ("stop", "length")
        assert r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 0
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    r = client.chat.completions.create(**chat_body(clips["c"], QUESTION))
    assert r.choices[0].message.content == refs["ask"][0]["text"]


def test_streamed_answer_equals_the_cli(server, refs, clips):
    client = _client(server)
    for name in ("b", "d"):  # one window; three windows
        stream = client.chat.completions.create(**chat_body(clips[name], QUESTION), stream=True,
                                                stream_options={"include_usage": True})
        pieces, finish, usage = [], None, None
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
        assert len([p for p in pieces if p]) > 1  # token by token, not one piece
        assert "".join(pieces) == _text(refs, "prompted", name)
        assert finish in ("stop", "length") and usage is not None and usage.completion_tokens > 0


def test_stream_is_server_sent_events_ending_with_done(server, clips):
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=chat_body(clips["a"], stream=True,
                                                                              max_tokens=5), timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    last = json.loads(events[-2][6:])
    assert last["choices"][0]["finish_reason"] == "length"


def test_32_concurrent_clients_get_their_own_answers(server, refs, clips):
    jobs = [(name, QUESTION if i % 2 else None) for i, name in enumerate(list(LENGTHS) * 8)]

    def one(job):
        name, question = job
        r = httpx.post(server.url + "/v1/chat/completions", json=chat_body(clips[name], question), timeout=180)
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["message"]["content"]

    def counts() -> tuple[float, float]:
        text = httpx.get(server.url + "/metrics").text
        return metric(text, "sam_generated_tokens_total"), metric(text, "sam_decode_steps_total")

    tokens0, steps0 = counts()
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(one, jobs))
    for (name, question), answer in zip(jobs, answers):
        assert answer == _text(refs, "prompted" if question else "describe", name), (name, question)
    tokens, steps = counts()
    assert (tokens - tokens0) / (steps - steps0) > 2  # rows shared their steps: they were batched


def test_stop_strings_and_options(server, refs, clips):
    client = _client(server)
    full = _text(refs, "describe", "b")
    cut = full[len(full) // 3:][:3]
    r = client.chat.completions.create(**chat_body(clips["b"]), stop=[cut])
    assert r.choices[0].message.content == full[:full.index(cut)] and r.choices[0].finish_reason == "stop"
    assert 0 < r.usage.completion_tokens < 96 and r.usage.prompt_tokens > 0
    r = client.chat.completions.create(**chat_body(clips["b"]), max_tokens=3)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens <= 3

def test_seeded_sampling_draws_as_the_cli(server, refs, clips):
    """One window: the same seed gives the CLI's draw, whatever else is in the batch."""
    client = _client(server)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda name: client.chat.completions.create(
            **chat_body(clips[name]), temperature=0.9, seed=5).choices[0].message.content, ["a", "b", "a", "b"]))
    assert answers == [_text(refs, "sampled", n) for n in ("a", "b", "a", "b")]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (apt install curl)")
def test_curl_is_a_client(server, refs, clips):
    out = subprocess.run(["curl", "-sS", "-F", f"file=@{clips['d']}", server.url + "/v1/describe"],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["text"] == _text(refs, "describe", "d")
    body = json.dumps(chat_body(clips["b"], QUESTION, stream=True))
    out = subprocess.run(["curl", "-sSN", "-H", "Content-Type: application/json", "-d", "@-",
                          server.url + "/v1/chat/completions"], input=body.encode(), capture_output=True, timeout=60)
    events = [line[6:] for line in out.stdout.decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == _text(refs, "prompted", "b")


@pytest.mark.parametrize("change, param", [
    ({"n": 2}, "n"),
    ({"messages": []}, "messages"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"temperature": -1}, "temperature"),
    ({"max_tokens": "many"}, "max_tokens"),
    ({"frobnicate": 1}, "frobnicate"),
])
def test_refused_options_get_a_400_in_openai_shape(server, clips, change, param):
    r = httpx.post(server.url + "/v1/chat/completions", json={**chat_body(clips["a"]), **change}, timeout=60)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"] and error["param"] == param


def test_bad_audio_and_malformed_json(server, clips):
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        r = httpx.post(server.url + "/v1/chat/completions", content=body,
                       headers={"content-type": "application/json"}, timeout=30)
        assert r.status_code == 400 and r.json()["error"]["message"], body
    bad = chat_body(clips["a"])
    bad["messages"][0]["content"][0]["input_audio"]["data"] = "not base64!!"
    r = httpx.post(server.url + "/v1/chat/completions", json=bad, timeout=30)
    assert r.status_code == 400 and "base64" in r.json()["error"]["message"]
    bad["messages"][0]["content"][0]["input_audio"]["data"] = "dGhpcyBpcyBub3QgYXVkaW8="  # "this is not audio"
    r = httpx.post(server.url + "/v1/chat/completions", json=bad, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_audio"
    assert httpx.get(server.url + "/health").json()["status"] == "ok"  # still up


def test_models_health_metrics(server):
    models = _client(server).models.list()
    assert [m.id for m in models.data] and models.data[0].object == "model"
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    text = httpx.get(server.url + "/metrics").text
    for name in ("sam_queue_length", "sam_batch_size", "sam_tokens_per_second", "sam_generated_tokens_total"):
        metric(text, name)
    assert 'sam_request_latency_seconds{quantile="0.99"}' in text
    r = httpx.get(server.url + "/nowhere")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


# --- task endpoints: the records of `sam ... --json` ------------------------------------------------------
def _without_file(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "file"}


def test_task_endpoints_return_the_cli_records(server, refs, clips):
    with open(clips["d"], "rb") as fh:
        r = httpx.post(server.url + "/v1/describe", files={"file": ("d.wav", fh)}, timeout=60)
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["file"] == "d.wav" and len(record["segments"]) == 3  # one result per window
    assert _without_file(record) == _without_file(next(x for x in refs["describe"] if x["file"].endswith("/d.wav")))
    with open(clips["c"], "rb") as fh:
        r = httpx.post(server.url + "/v1/ask", files={"file": ("c.wav", fh)}, data={"question": QUESTION})
    assert _without_file(r.json()) == _without_file(refs["ask"][0])
    with open(clips["b"], "rb") as fh:
        r = httpx.post(server.url + "/v1/ask", files={"file": ("b.wav", fh)},
                       data={"question": QUESTION, "choices": "yes,no,maybe"})
    assert _without_file(r.json()) == _without_file(refs["choices"][0])
    r = httpx.post(server.url + "/v1/classify", data={"path": str(clips["d"]), "labels": "dog,rain,bell"})
    assert r.json() == refs["labels"][0]  # a server-side path under --allow-paths: the same file name too


def test_a_silent_window_is_answered_as_the_cli_answers_it(server, refs, clips):
    """The middle window is digital silence: captioned "Silence." without the model, in its place among the
    others, in a streamed chat answer, a plain one and the describe endpoint's record."""
    ref = refs["gap"][0]
    assert [s["text"] for s in ref["segments"]][1] == "Silence."
    client = _client(server)
    assert client.chat.completions.create(**chat_body(clips["gap"])).choices[0].message.content == ref["text"]
    pieces = [c.delta.content or "" for chunk in client.chat.completions.create(**chat_body(clips["gap"]), stream=True)
              for c in chunk.choices]
    assert "".join(pieces) == ref["text"]
    with open(clips["gap"], "rb") as fh:
        r = httpx.post(server.url + "/v1/describe", files={"file": ("gap.wav", fh)}, timeout=60)
    assert r.status_code == 200, r.text
    assert _without_file(r.json()) == _without_file(ref)
    # A question about it goes to the model for every window, as `sam ask` does.
    asked = refs["gap_ask"][0]
    assert "Silence." not in [s["text"] for s in asked["segments"]]
    assert client.chat.completions.create(**chat_body(clips["gap"], QUESTION)).choices[0].message.content == asked["text"]


def test_scoring_and_generation_at_once_answer_as_the_cli(server, refs, clips):
    """Scoring requests join the batch beside generation: every answer is still the CLI's."""
    def one(kind: str):
        if kind == "choices":
            r = httpx.post(server.url + "/v1/ask", data={"path": str(clips["b"]), "question": QUESTION,
                                                         "choices": "yes,no,maybe"}, timeout=180)
            return r.json(), refs["choices"][0]
        if kind == "labels":
            r = httpx.post(server.url + "/v1/classify", data={"path": str(clips["d"]), "labels": "dog,rain,bell"},
                           timeout=180)
            return r.json(), refs["labels"][0]
        if kind == "tags":
            r = httpx.post(server.url + "/v1/classify", data={"path": str(clips["c"])}, timeout=180)
            return r.json(), refs["tags"][0]
        r = httpx.post(server.url + "/v1/chat/completions", json=chat_body(clips[kind]), timeout=180)
        return r.json()["choices"][0]["message"]["content"], _text(refs, "describe", kind)

    admitted0 = metric(httpx.get(server.url + "/metrics").text, "sam_windows_admitted_total")
    kinds = ["c", "choices", "labels", "a", "choices", "tags", "d", "labels", "b"]
    with ThreadPoolExecutor(len(kinds)) as pool:
        for kind, (got, expected) in zip(kinds, pool.map(one, kinds)):
            assert got == expected, kind
    admitted = metric(httpx.get(server.url + "/metrics").text, "sam_windows_admitted_total") - admitted0
    assert admitted == 2 * 1 + 2 * 3 + 2 + 1 + 3 + 1 + 2  # the scoring requests' windows went through the batch


def test_written_tags_decode_in_the_batch(tmp_path, clips):
    """A model without an audio head writes its tags: those answers decode in the batch, as the CLI's."""
    from conftest import build_tiny_model
    from sam_cli.store.checkpoint import save_checkpoint

    model = build_tiny_model(num_classes=0)
    folder = save_checkpoint(model, model.tokenizer, tmp_path / "headless")
    cli = _cli(folder, "classify", "--json", str(clips["c"]))
    server = Server(folder, "--max-batch", "4", "--allow-paths", str(clips["c"].parent))
    try:
        stdout, stderr = cli.communicate(timeout=300)
        assert cli.returncode == 0, stderr.decode()
        expected = json.loads(stdout)

        def one(_):
            return httpx.post(server.url + "/v1/classify", data={"path": str(clips["c"])}, timeout=180).json()

        with ThreadPoolExecutor(2) as pool:
            for got in pool.map(one, range(2)):
                assert got == expected and got["labels"]
        assert metric(httpx.get(server.url + "/metrics").text, "sam_windows_admitted_total") == 2 * 2 + 1  # + warm-up
    finally:
        assert server.terminate() == 0, server.stderr


def test_task_endpoint_errors(server, clips, tmp_path):
    r = httpx.post(server.url + "/v1/describe", data={"path": "/etc/passwd"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    r = httpx.post(server.url + "/v1/ask", data={"path": str(clips["a"])})
    assert r.status_code == 400 and r.json()["error"]["param"] == "question"
    r = httpx.post(server.url + "/v1/describe", json={"file": "x"})
    assert r.status_code == 400
    r = httpx.post(server.url + "/v1/ask", data={"path": str(clips["a"]), "question": "q", "choices": "only"})
    assert r.status_code == 400 and "two" in r.json()["error"]["message"]


# --- clients that go away ---------------------------------------------------------------------------------
def test_disconnect_mid_stream_frees_the_rows(server, clips):
    body = chat_body(clips["long"], stream=True, max_tokens=2000)
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=60) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]  # the role, then text
        assert any('"content"' in line for line in got)
        assert httpx.get(server.url + "/health").json()["batch"] > 0
    # Closed: its 30 windows (8 at a time, up to 2000 tokens each) leave the batch and the queue at once.
    health = lambda: httpx.get(server.url + "/health").json()  # noqa: E731
    assert wait_for(lambda: health()["batch"] == 0 and health()["queue"] == 0, timeout=5), health()
    before = metric(httpx.get(server.url + "/metrics").text, "sam_generated_tokens_total")
    time.sleep(0.5)
    assert metric(httpx.get(server.url + "/metrics").text, "sam_generated_tokens_total") == before


# --- the command line as a client (--server / $SAM_SERVER) ------------------------------------------------
def test_cli_through_the_server_prints_the_same_records(server, refs, clips, tmp_path):
    from helpers import assert_clean_error, err, out, sam

    p = sam("describe", "--server", server.url, "--format", "jsonl", *(str(clips[k]) for k in LENGTHS))
    assert p.returncode == 0, err(p)
    assert [json.loads(line) for line in out(p).splitlines()] == refs["describe"]
    p = sam("ask", str(clips["b"]), QUESTION, "--choices", "yes,no,maybe", "--json", env={"SAM_SERVER": server.url})
    assert p.returncode == 0 and json.loads(out(p)) == refs["choices"][0], err(p)
    labels = tmp_path / "labels.txt"
    labels.write_text("dog\nrain\nbell\n")
    p = sam("classify", str(clips["d"]), "--labels", str(labels), "--json", "--server", server.url)
    assert p.returncode == 0 and json.loads(out(p)) == refs["labels"][0], err(p)
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    assert_clean_error(sam("describe", str(text), "--server", server.url), "notes.wav: not a readable audio file", 1)
    assert_clean_error(sam("describe", str(clips["a"]), "--server", "http://127.0.0.1:9"), "cannot reach the server", 1)
    if Path("/proc/self/mem").exists():  # a file that exists and cannot be read (even by root): EIO
        unreadable = sam("describe", "/proc/self/mem", "--server", server.url, "--output-dir", str(tmp_path / "o"))
        assert_clean_error(unreadable, "/proc/self/mem: cannot read", 1)
    assert_clean_error(sam("describe", str(clips["a"]), "--server", "localhost:8177"), "give a URL", 2)


def _imported(importtime_stderr: str) -> set[str]:
    """The modules that `python -X importtime` says it imported."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime_stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def test_plain_client_commands_run_without_the_app_and_answer_as_it_does(server, refs, clips, tmp_path):
    """`sam describe|ask --server` in their plain shapes run without building the Typer app (cli/quick_remote.py):
    the same stdout, stderr and exit code as the full command line for each shape, and neither torch nor numpy,
    typer, rich or pydantic imported on the way."""
    from helpers import sam

    full = ("-c", "from sam_cli.cli import app; app(prog_name='python -m sam_cli')")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAM_", "HF_"))}
    env.update({"HF_HOME": "/nonexistent-hf-home", "HF_HUB_OFFLINE": "1"})  # as helpers.sam
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio")
    a, b, c = (str(clips[k]) for k in "abc")
    cases = [
        ("describe", "--server", server.url, a),
        ("describe", a, b, "--server=" + server.url, "-f", "CSV"),
        ("describe", "--server", server.url, "--format", "jsonl", "--temperature", "0.9", "--seed", "5", a, b),
        ("describe", "--server", server.url, "--prompt", QUESTION, "--max-tokens", "3", "--json", c),
        ("describe", "--server", server.url, "--format", "srt", c),
        ("describe", "--server", server.url, str(notes)),  # the server's error
        ("describe", "--server", server.url, str(notes), a),  # one fails, the other is printed: exit 1
        ("describe", "--server", "http://127.0.0.1:9", a),
        ("ask", c, QUESTION, "--server", server.url),
        ("ask", b, QUESTION, "--choices", "yes,no,maybe", "--json", "--server", server.url),
        ("ask", b, QUESTION, "--choices", "yes", "--server", server.url),
        ("describe", "--server", server.url, "-"),
    ]
    for args in cases:
        stdin = clips["b"].read_bytes() if args[-1] == "-" else None
        quick = sam(*args, stdin=stdin)
        reference = subprocess.run([sys.executable, *full, *args], input=stdin, capture_output=True, timeout=120,
                                   cwd=REPO, env=env)
        assert (quick.returncode, quick.stdout, quick.stderr) == (
            reference.returncode, reference.stdout, reference.stderr), args
        assert "Traceback" not in quick.stderr.decode()
    p = sam("describe", "--server", server.url, "--format", "jsonl", a, b, "--temperature", "0.9", "--seed", "5")
    assert [json.loads(line) for line in p.stdout.decode().splitlines()] == refs["sampled"]
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "sam_cli", "describe", "--server", server.url, a],
                       capture_output=True, timeout=60, cwd=REPO, env=env)
    assert p.returncode == 0 and p.stdout.decode().strip() == _text(refs, "describe", "a"), p.stderr.decode()[-2000:]
    imported = _imported(p.stderr.decode())
    assert "sam_cli.serve.client" in imported  # the parse saw its modules
    assert not {"torch", "numpy", "typer", "rich", "pydantic"} & imported


def test_the_plain_client_s_options_are_the_commands_own():
    """cli/quick_remote.py's tables (names, defaults, ranges) say what the Typer commands say."""
    from typer.main import get_command

    from sam_cli.cli import app
    from sam_cli.cli import quick_remote as Q

    for command in ("describe", "ask"):
        params = {opt: p for p in get_command(app).commands[command].params for opt in p.opts}
        assert params["--json"].default is False
        for opt, key in {**Q._VALUE_OPTIONS, **Q._OWN[command]}.items():
            p = params[opt]
            assert p.name == key, (command, opt)
            assert p.default == Q._DEFAULTS[key], (command, opt)
            if key in Q._NUMBERS:
                info = p.type_descriptor.parameter_info
                assert (info.min, info.max) == Q._NUMBERS[key][2:], (command, opt)
