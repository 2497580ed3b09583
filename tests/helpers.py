"""Helpers shared by several test modules: running the real `sam` process, and an ALSA file device."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def sam(*args: str, model: Path | None = None, stdin: bytes | None = None, env: dict | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SAM_", "HF_"))}
    e["HF_HOME"] = e.get("SAM_TEST_HF_HOME", "/nonexistent-hf-home")
    e["HF_HUB_OFFLINE"] = "1"
    if model is not None:
        e["SAM_MODEL"] = str(model)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "sam_cli", *args], input=stdin, capture_output=True,
                          timeout=timeout, env=e, cwd=REPO)


def out(p: subprocess.CompletedProcess) -> str:
    return p.stdout.decode()


def err(p: subprocess.CompletedProcess) -> str:
    return p.stderr.decode()


def assert_clean_error(p: subprocess.CompletedProcess, pattern: str, code: int | None = None) -> None:
    """A one-line message naming the problem, a non-zero exit, no traceback, nothing on stdout."""
    text = err(p)
    assert p.returncode != 0 and (code is None or p.returncode == code), (p.returncode, text)
    assert "Traceback" not in text, text
    lines = [l for l in text.splitlines() if l.strip()]
    assert len(lines) == 1, text
    assert pattern.lower() in lines[0].lower(), text
    assert out(p) == ""


FILE_RATE = 16000  # the ALSA null device has no rate: samples arrive verbatim at whatever rate we open


def alsa_config(folder: Path) -> np.ndarray:
    """Write the signal file and the ALSA config; return the signal."""
    n = FILE_RATE * 6
    t = np.arange(n) / FILE_RATE
    # Left a tone, right seeded noise: any offset, channel mix-up or wrong averaging shows.
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, n)
    ref = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), noise], axis=1).astype("<f4")
    ref.tofile(folder / "signal.raw")
    (folder / "asound.conf").write_text(f"""
pcm.!default {{
    type file
    slave.pcm {{ type null }}
    file "/dev/null"
    infile "{folder / 'signal.raw'}"
    format "raw"
    hint {{ show on description "sam test signal" }}
}}
""")
    return ref
