"""The run folder: resolved config, metrics, periodic checkpoints, the final export.

    RUN/train_config.json             the resolved settings (a resume starts from them)
    RUN/metrics.jsonl                 one JSON object per line: train steps, evals, sample generations
    RUN/checkpoints/stage2-step000500 a SAM checkpoint (runs with `sam describe --model`) + trainer_state.pt
    RUN/model/                        the final export
    RUN/skipped_audio.txt             clips that were missing or could not be decoded

A checkpoint is written into a hidden folder beside its final name, then renamed: a kill at any moment leaves
either the old set of checkpoints or the new one, never half a checkpoint. trainer_state.pt holds only
tensors and plain containers (optimizer state, RNG states, data position, metrics offset), written with
torch.save and read back with weights_only=True.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sam_cli.store.checkpoint import load_checkpoint, save_checkpoint
from sam_cli.errors import CheckpointError
from sam_cli.models.sam import SAM
from sam_cli.models.tokenizer import Tokenizer

STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"
SKIPPED_FILE = "skipped_audio.txt"
EXPORT_DIR = "model"
CHECKPOINT_RE = re.compile(r"^stage(\d)-step(\d{6,})$")
STATE_VERSION = 1


@dataclass(frozen=True)
class Saved:
    path: Path
    stage: int
    step: int


class RunFolder:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.checkpoints = self.root / "checkpoints"

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def export_path(self) -> Path:
        return self.root / EXPORT_DIR

    def create(self) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)

    def list(self) -> list[Saved]:
        """Complete checkpoints, oldest first."""
        if not self.checkpoints.is_dir():
            return []
        found = []
        for p in self.checkpoints.iterdir():
            m = CHECKPOINT_RE.match(p.name)
            if m and p.is_dir() and (p / STATE_FILE).is_file():
                found.append(Saved(p, int(m.group(1)), int(m.group(2))))
        return sorted(found, key=lambda s: (s.stage, s.step))

    def latest(self) -> Saved | None:
        saved = self.list()
        return saved[-1] if saved else None

    def clean_partial(self) -> None:
        """Remove what a killed run left half-written (hidden .tmp folders)."""
        if self.checkpoints.is_dir():
            for p in self.checkpoints.glob(".tmp-*"):
                shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(f".{EXPORT_DIR}.tmp-*"):
            shutil.rmtree(p, ignore_errors=True)

    def write_json(self, path: Path, data: Any) -> None:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def save(self, model: SAM, tokenizer: Tokenizer, stage: int, step: int, state: dict[str, Any],
             extra: dict[str, Any], keep_last: int) -> Path:
        """Write checkpoint (stage, step) atomically, then delete all but the newest `keep_last`."""
        name = f"stage{stage}-step{step:06d}"
        final = self.checkpoints / name
        tmp = self.checkpoints / f".tmp-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        save_checkpoint(model, tokenizer, tmp, extra=extra)
        torch.save(state, tmp / STATE_FILE)
        _fsync_tree(tmp)
        if final.exists():  # the same step saved again (after a resume): replace it
            old = self.checkpoints / f".tmp-old-{name}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        for saved in self.list()[:-keep_last]:
            shutil.rmtree(saved.path, ignore_errors=True)
        return final

    def load(self, saved: Saved) -> tuple[SAM, dict[str, Any]]:
        try:
            state = torch.load(saved.path / STATE_FILE, map_location="cpu", weights_only=True)
        except Exception as e:  # a pickle with anything but tensors and containers is refused here
            raise CheckpointError(f"{saved.path / STATE_FILE}: unreadable training state ({e})") from None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise CheckpointError(f"{saved.path / STATE_FILE}: not a training state this sam understands")
        return load_checkpoint(saved.path), state

    def export(self, model: SAM, tokenizer: Tokenizer, extra: dict[str, Any]) -> Path:
        tmp = self.root / f".{EXPORT_DIR}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        save_checkpoint(model, tokenizer, tmp, extra=extra)
        _fsync_tree(tmp)
        final = self.export_path
        if final.exists():
            old = self.root / f".{EXPORT_DIR}.tmp-old-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        return final

    def truncate_metrics(self, offset: int) -> None:
        """Drop metrics written after a checkpoint (they will be written again, by the resumed run)."""
        if self.metrics_path.exists() and self.metrics_path.stat().st_size > offset:
            with open(self.metrics_path, "r+b") as f:
                f.truncate(offset)


def _fsync_tree(folder: Path) -> None:
    # The rename is atomic, but without a sync a power loss could leave the renamed files empty.
    for p in folder.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())


# ---------------------------------------------------------------------------------------------------------
# RNG states, as tensors and plain containers (loadable with weights_only=True)


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
