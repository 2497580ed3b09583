"""Helpers shared by the `sam train` tests (no tests here): a toy OpenAQA data set of real wav files, a tiny
from-scratch recipe, and ways to run the command (in this process, or as a real subprocess)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
SR = 16000
SECONDS = 2.56  # = target_length 256 frames: the tiny model sees whole clips
DESCRIBE = "Close-ended question: Write an audio caption describing the sound."

# Distinct sounds, distinct captions, and an OpenAQA task each (the curriculum test filters on it).
CLIPS = {
    "hum.wav": ("a low steady hum", "cla_label"),
    "beep.wav": ("a high pitched beep", "cla_label_des"),
    "noise.wav": ("a burst of white noise", "caption"),
    "clicks.wav": ("a series of sharp clicks", "temporal_single"),
    "sweep.wav": ("a rising whistle sweep", "open-ended question"),
}

TINY_MODEL = {"d_model": 64, "n_layer": 2, "d_state": 16, "headdim": 16, "chunk_size": 32, "encoder_dim": 32,
              "encoder_depth": 2, "encoder_heads": 2, "vocab_size": 300}


def sound(name: str) -> np.ndarray:
    n = int(SECONDS * SR)
    t = np.arange(n) / SR
    rng = np.random.default_rng(0)
    if name == "hum.wav":
        x = 0.4 * np.sin(2 * math.pi * 220 * t)
    elif name == "beep.wav":
        x = 0.4 * np.sin(2 * math.pi * 3000 * t)
    elif name == "noise.wav":
        x = np.where((t > 0.5) & (t < 1.5), 0.5 * rng.standard_normal(n), 0.0)
    elif name == "clicks.wav":
        x = np.where(np.arange(n) % 3200 < 40, 0.8, 0.0)
    else:  # a sweep from 200 Hz to 4 kHz
        x = 0.4 * np.sin(2 * math.pi * (200 * t + 3800 / (2 * SECONDS) * t**2))
    return x.astype(np.float32)


def make_dataset(root: Path, broken: bool = False) -> Path:
    """root/audio/*.wav + root/train.json; with `broken`, also a record whose file is missing and one whose
    file is not audio. The hum is written at 44.1 kHz stereo, to go through resampling and mixing down."""
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    records = []
    for name, (caption, task) in CLIPS.items():
        x = sound(name)
        if name == "hum.wav":
            import torch
            import torchaudio.functional as AF

            up = AF.resample(torch.from_numpy(x), SR, 44100).numpy()
            sf.write(audio / name, np.stack([up, up], axis=1), 44100)
        else:
            sf.write(audio / name, x, SR)
        records.append(record(f"audio/{name}", caption, task))
    if broken:
        (audio / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + b"\x01" * 100)
        records.insert(1, record("audio/missing.wav", "a sound nobody recorded", "caption"))
        records.insert(3, record("audio/corrupt.wav", "a sound nobody can decode", "caption"))
    path = root / "train.json"
    path.write_text(json.dumps(records, indent=1))
    return path


def record(audio_id: str, output: str, task: str = "caption", instruction: str = DESCRIBE) -> dict[str, str]:
    return {"instruction": instruction, "input": "", "output": output, "audio_id": audio_id, "dataset": "toy",
            "task": task}


def tiny_settings(**over: Any) -> dict[str, Any]:
    """A from-scratch recipe small enough for a CPU test."""
    base = {"scratch": True, "target_length": 256, "loss_on": "answer", "lr": 3e-3, "warmup_steps": 2,
            "max_steps": 4, "batch_size": 4, "micro_batch_size": 2, "num_workers": 0, "log_every": 1,
            "eval_every": 1000, "save_every": 1000, "num_samples": 0, "model": dict(TINY_MODEL)}
    base.update(over)
    return base


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    """A TOML file (the nested model table last, as TOML wants)."""
    lines = []
    for key, value in settings.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {json.dumps(value)}")
    for key, value in settings.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def train_in_process(settings: dict[str, Any]) -> Path:
    from sam_cli.train.config import build_config
    from sam_cli.train.loop import Trainer

    return Trainer(build_config(settings)).fit()


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e["OMP_NUM_THREADS"] = "1"  # tiny tensors: threads only add overhead on a 2-core machine
    e.pop("WORLD_SIZE", None)
    return e


# The command as users get it: a Typer app with `register(app)` (what `sam` does), in a fresh interpreter.
APP = ("import typer; from sam_cli.train.command import register; "
       "app = typer.Typer(pretty_exceptions_enable=False); app.callback()(lambda: None); register(app); app()")


def cli(*args: str, **kw: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", APP, "train", *map(str, args)], cwd=REPO, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def read_metrics(run: Path, kind: str = "train") -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == kind]


@pytest.fixture
def one_thread():
    """Tiny tensors on a shared 2-core machine: one thread is several times faster than two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
