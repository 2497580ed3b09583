"""Shared fixtures: a tiny SAM checkpoint in the real on-disk format, and real audio files."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

# --- tests that need a system library or program ---------------------------------------------------------
# On a newcomer's machine they skip, saying what to install; CI (.ci/run) installs everything and sets
# SAM_TEST_REQUIRE_DEVICES=1, which turns every such skip into a failure. A skip counts as one of these when
# its reason says "apt install" (so also a skipif marker or a pytest.skip written elsewhere that says so).
REQUIRE_DEVICES_ENV = "SAM_TEST_REQUIRE_DEVICES"
SYSTEM_SKIP_MARK = "apt install"
SYSTEM_NEEDS = {
    "portaudio": "PortAudio is not installed (apt install libportaudio2)",
    "ffmpeg": "ffmpeg is not installed (apt install ffmpeg)",
    "jackd": "jackd2 is not installed (apt install jackd2)",
}


@functools.cache
def missing_system(what: str) -> str | None:
    """Why `what` (a key of SYSTEM_NEEDS) cannot be used here, or None when it can."""
    if what == "portaudio":
        name = ctypes.util.find_library("portaudio")
        try:
            ctypes.CDLL("libportaudio.so.2" if name is None and os.name == "posix" else name)
        except (OSError, TypeError):  # absent, or a broken copy first on the loader's path
            return SYSTEM_NEEDS[what]
        return None
    programs = {"ffmpeg": ["ffmpeg"], "jackd": ["jackd", "jack_simple_client", "jack_connect"]}[what]
    return None if all(shutil.which(p) for p in programs) else SYSTEM_NEEDS[what]


def system_skip(reason: str) -> None:
    """Skip for a missing system dependency (the reason says what to install); a failure on CI."""
    if SYSTEM_SKIP_MARK not in reason:
        raise ValueError(f"a system-dependency skip must say what to install ({SYSTEM_SKIP_MARK} ...): {reason}")
    if os.environ.get(REQUIRE_DEVICES_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_DEVICES_ENV}=1 refuses to skip")
    pytest.skip(reason)


def need_system(*what: str) -> None:
    """Skip (or, on CI, fail) unless each of `what` is installed."""
    for w in what:
        reason = missing_system(w)
        if reason:
            system_skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under SAM_TEST_REQUIRE_DEVICES=1, a skip for a missing system dependency, however it was written, fails."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or os.environ.get(REQUIRE_DEVICES_ENV) != "1":
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if SYSTEM_SKIP_MARK in reason:
        report.outcome = "failed"
        report.longrepr = f"{reason} -- {REQUIRE_DEVICES_ENV}=1 (CI) refuses skips for missing system packages"


CAPTIONS = [
    "a dog barks twice",
    "a woman says please hold",
    "rain falls on a metal roof",
    "a bell rings three times",
    "a car engine starts and idles",
    "birds chirp in the morning",
]


def tiny_config(connector: str = "concat", lora_rank: int = 4, num_classes: int = 5, labels=None):
    from sam_cli.models.connector import ConnectorConfig
    from sam_cli.models.encoder import EATConfig
    from sam_cli.models.mamba2 import Mamba2Config
    from sam_cli.models.sam import SAMConfig

    return SAMConfig(
        encoder=EATConfig(embed_dim=32, depth=2, num_heads=2, num_classes=num_classes, max_length=64),
        lm=Mamba2Config(d_model=32, n_layer=2, vocab_size=400, d_state=8, headdim=8, chunk_size=16,
                        pad_vocab_size_multiple=16),
        connector=ConnectorConfig(kind=connector, hidden_dim=48),
        lora_rank=lora_rank,
        labels=labels if labels is not None else ([f"tag {i}" for i in range(num_classes)] or None),
    )


def build_tiny_model(seed: int = 0, **kw):
    from sam_cli.models.sam import SAM
    from sam_cli.models.tokenizer import train_tokenizer

    torch.manual_seed(seed)
    texts = CAPTIONS + ["### Instruction:", "### Response:", "Close-ended question: Write an audio caption "
                        "describing the sound.", "Is there a dog? yes no"]
    tok = train_tokenizer(texts * 4, vocab_size=400)
    model = SAM(tiny_config(**kw))
    if model.cfg.lora_rank:
        # A trained adapter is not zero; make it count so save/load must carry it.
        from sam_cli.models.lora import lora_layers

        for layer in lora_layers(model):
            torch.nn.init.normal_(layer.lora_B, std=0.02)
    model.tokenizer = tok
    return model.eval()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random tiny SAM saved in the real checkpoint format (config.json, model.safetensors, tokenizer.json)."""
    from sam_cli.store.checkpoint import save_checkpoint

    model = build_tiny_model()
    return save_checkpoint(model, model.tokenizer, tmp_path_factory.mktemp("ckpt") / "tiny-sam")


def tone(seconds: float, sr: int = 16000, freq: float = 440.0, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * math.pi * freq * t) + 0.01 * rng.standard_normal(t.shape)
    x = x.astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


@pytest.fixture
def wav_file(tmp_path) -> Path:
    path = tmp_path / "clip.wav"
    sf.write(path, tone(3.0), 16000)
    return path
