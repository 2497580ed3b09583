"""`sam eval` end to end: predictions (resumable, split across torchrun's processes), then metrics.

Under torchrun (RANK / WORLD_SIZE) process I takes clips I, I+N, I+2N, ... and writes its own predictions
file, `NAME.predictions.shard-I-of-N.jsonl`. When the processes can meet (torch.distributed's gloo backend,
from torchrun's MASTER_ADDR / MASTER_PORT), they wait for each other and rank 0 scores the union of the
shards; otherwise each says how to score them together (`sam eval ... --predictions FILE...`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import timedelta
from pathlib import Path

from sam_cli.batch.files import shard_output
from sam_cli.batch.ledger import write_error
from sam_cli.errors import UsageError
from sam_cli.evaluation.datasets import Dataset, Item
from sam_cli.evaluation.ledger import read_predictions


def predictions_path(output: Path) -> Path:
    """results.json -> results.predictions.jsonl, beside it."""
    return output.with_name(f"{output.stem}.predictions.jsonl")


def shard_items(items: list[Item], shard: tuple[int, int] | None) -> list[Item]:
    return items if shard is None else items[shard[0] :: shard[1]]


def shard_files(path: Path, world: int) -> list[Path]:
    return [shard_output(path, (r, world)) for r in range(world)]


def load_rows(paths: list[Path]) -> tuple[dict | None, dict[str, dict]]:
    """The rows of several predictions files (shards of one run, or one file), merged; their headers must agree."""
    header, rows, first = None, {}, None
    for p in paths:
        h, r = read_predictions(p)
        if first is not None and h != header:
            raise UsageError(f"{p}: made with other settings than {first}; score them apart")
        if first is None:
            header, first = h, p
        rows.update(r)
    return header, rows


def meet(shard: tuple[int, int]) -> bool:
    """Wait until every process of a torchrun run has finished its share (True), or say False when they cannot
    meet (no MASTER_ADDR: started by hand with --shard-like environment)."""
    if not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
        return False
    import torch.distributed as dist

    if not dist.is_initialized():
        # A day: a share of a large AudioSet eval can take hours, and the default (30 min) would fail it.
        dist.init_process_group("gloo", rank=shard[0], world_size=shard[1], timeout=timedelta(days=1))
    dist.barrier()
    return True


def finite(value):
    """`value` with every infinite or NaN number as None (null): strict JSON has no Infinity (a d-prime of a
    perfect AUC) or NaN (a metric with no class to average)."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def results_text(results: dict) -> str:
    return json.dumps(finite(results), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_results(path: Path, results: dict) -> None:
    """The results JSON, atomically (a rerun or a crash never leaves half a file)."""
    text = results_text(results)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise write_error(path, e, "the predictions are kept; rescore them with --predictions") from None


def describe_data(ds: Dataset) -> dict:
    out = {"task": ds.task, "kind": ds.kind, "clips": len(ds.items)}
    if ds.kind == "classification":
        out.update(labels=len(ds.labels), multi_label=ds.multi_label)
    if ds.missing:
        out["clips_without_audio"] = ds.missing
    return out
