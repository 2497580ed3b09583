"""`sam serve` under pressure and at its edges, on a real server process: a full queue, an oversized upload, an
API key, a client that leaves a non-streamed request, SIGTERM with a request in flight, bad options."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
import soundfile as sf
from conftest import tone
from helpers import assert_clean_error, sam
from serve_helpers import Server, chat_body, metric, wait_for

pytest.importorskip("fastapi")

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("limit-clips")
    files = {"short": d / "short.wav", "long": d / "long.wav"}
    sf.write(files["short"], tone(2.0), 16000)
    sf.write(files["long"], tone(120.0, sr=8000, freq=330.0), 8000, subtype="PCM_16")  # 12 windows
    return files


@pytest.fixture(scope="module")
def server(tiny_model_dir, clips):
    """One window at a time, one request waiting, 1 MiB bodies, a key, 4 s a request."""
    s = Server(tiny_model_dir, "--max-batch", "1", "--max-queue", "1", "--max-upload-mb", "1", "--api-key", KEY,
               "--timeout", "4",
               "--allow-paths", str(clips["short"].parent))
    yield s
    s.terminate()


def _give_up_on_long(server, clips) -> None:
    """A long describe whose client leaves after 2 s."""
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + "/v1/describe", headers=AUTH, timeout=2,
                   data={"path": str(clips["long"]), "max_tokens": "2000"})


def _busy(server) -> bool:
    h = httpx.get(server.url + "/health").json()
    return h["batch"] > 0


def test_api_key(server, clips):
    body = chat_body(clips["short"], max_tokens=2)
    r = httpx.post(server.url + "/v1/chat/completions", json=body)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = httpx.post(server.url + "/v1/chat/completions", json=body, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert httpx.get(server.url + "/v1/models").status_code == 401
    assert httpx.get(server.url + "/health").status_code == 200  # for load balancers: no key
    r = httpx.post(server.url + "/v1/chat/completions", json=body, headers=AUTH, timeout=60)
    assert r.status_code == 200, r.text


def test_oversized_upload_is_413(server):
    r = httpx.post(server.url + "/v1/chat/completions", content=b"x" * (1 << 20 + 1) * 2, headers=AUTH)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    r = httpx.post(server.url + "/v1/describe", files={"file": ("big.wav", b"\0" * (2 << 20))}, headers=AUTH)
    assert r.status_code == 413


def test_full_queue_is_503_with_retry_after(server, clips):
    holder = threading.Thread(target=_give_up_on_long, args=(server, clips), daemon=True)
    holder.start()
    assert wait_for(lambda: _busy(server))
    # The long request holds the only row and waits with 11 windows: the queue (1) is full.
    r = httpx.post(server.url + "/v1/chat/completions", json=chat_body(clips["short"], max_tokens=2), headers=AUTH)
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] and r.json()["error"]["code"] == "server_busy"
    assert metric(httpx.get(server.url + "/metrics", headers=AUTH).text, "sam_rejected_total") >= 1
    holder.join()
    # The client that gave up (a non-streamed request) frees its row and its place in the queue.
    assert wait_for(lambda: not _busy(server), timeout=5)
    r = httpx.post(server.url + "/v1/chat/completions", json=chat_body(clips["short"], max_tokens=2), headers=AUTH,
                   timeout=60)
    assert r.status_code == 200, r.text


def test_a_request_past_the_timeout_is_504_and_leaves_the_batch(server, clips):
    t0 = time.monotonic()
    r = httpx.post(server.url + "/v1/describe", headers=AUTH, timeout=60,
                   data={"path": str(clips["long"]), "max_tokens": "4000"})
    assert r.status_code == 504 and r.json()["error"]["code"] == "timeout", r.text
    assert 3.5 < time.monotonic() - t0 < 10
    assert wait_for(lambda: not _busy(server), timeout=2)


def test_sigterm_lets_requests_in_flight_finish(tiny_model_dir, clips):
    s = Server(tiny_model_dir, "--max-batch", "1", "--allow-paths", str(clips["short"].parent))
    result: dict = {}

    def request() -> None:
        result["r"] = httpx.post(s.url + "/v1/describe", data={"path": str(clips["long"]), "max_tokens": "300"},
                                 timeout=120)

    t = threading.Thread(target=request)
    t.start()
    assert wait_for(lambda: httpx.get(s.url + "/health").json()["batch"] > 0)
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.TransportError):  # no new connections once stopping
        httpx.get(s.url + "/health", timeout=2)
    t.join(120)
    r = result["r"]
    assert r.status_code == 200 and len(r.json()["segments"]) == 12  # all of it
    assert s.terminate() == 0
    assert "Traceback" not in s.stderr and "server stopped" in s.stderr


def test_bad_command_lines_are_one_line_errors(tiny_model_dir, tmp_path):
    assert_clean_error(sam("serve", "--allow-paths", str(tmp_path / "nope"), model=tiny_model_dir),
                       "no such folder")
    assert_clean_error(sam("serve", "--port", "99999", model=tiny_model_dir), "port")
    assert_clean_error(sam("serve", "--host", "no.such.host.invalid", model=tiny_model_dir), "--host")
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        assert_clean_error(sam("serve", "--port", port, model=tiny_model_dir), f"cannot listen on 127.0.0.1:{port}")
