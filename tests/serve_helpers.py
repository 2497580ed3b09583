"""Running a real `sam serve` process on a free 127.0.0.1 port for the serve tests, and talking to it."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers import REPO


class Server:
    """`sam serve --port 0 ARGS` as a subprocess; `url` once it said where it listens (after warm-up)."""

    def __init__(self, model: Path, *args: str, env: dict | None = None):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("SAM_", "HF_"))}
        e.update({"HF_HOME": "/nonexistent-hf-home", "HF_HUB_OFFLINE": "1", "SAM_MODEL": str(model)})
        e.update(env or {})
        self.proc = subprocess.Popen([sys.executable, "-m", "sam_cli", "serve", "--port", "0", *args], cwd=REPO,
                                     env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr_lines: list[str] = []
        found = None
        while found is None:  # lines before it (a library's warning, say) are kept for the failure message
            line = self.proc.stderr.readline().decode()
            self.stderr_lines.append(line)
            found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            if not line:
                self.proc.kill()
                raise RuntimeError(f"sam serve did not start: {''.join(self.stderr_lines)}")
        self.url = found.group(1)
        # Keep draining stderr so the server never blocks on a full pipe.
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode(errors="replace"))

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        return code


def audio_part(path: Path, fmt: str = "wav") -> dict:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(path.read_bytes()).decode(),
                                                   "format": fmt}}


def chat_body(path: Path, question: str | None = None, **kw) -> dict:
    content = ([{"type": "text", "text": question}] if question else []) + [audio_part(path)]
    return {"model": "sam", "messages": [{"role": "user", "content": content}], **kw}


def wait_for(predicate, timeout: float = 10.0, every: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))
