"""Shared fixtures: a tiny SAM checkpoint in the real on-disk format, and real audio files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

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
