"""`sam analyze` and `sam train`'s checkpoint analysis: audio files -> windows -> a model's probes -> the
paper's measures, averaged per layer over windows (per file for the tokens entering the LM).

Each 10.24-s window (the model's own window length) is one sample, as one clip was in the paper. A file's
last window, when shorter than a quarter of a window and not the file's only one, is left out: it is
mostly zero padding and would pull the measures towards those of silence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch

from sam_cli import audio as A
from sam_cli.analysis.measures import TAU, cosine_similarity, effective_rank, retention, update_steps
from sam_cli.analysis.probe import probe
from sam_cli.errors import AudioError
from sam_cli.models.sam import SAM, token_frames

MIN_TAIL_SHARE = 0.25


@dataclass
class Window:
    path: str
    index: int
    samples: torch.Tensor


def load_windows(paths: Iterable[str | Path], window_seconds: float,
                 on_error: Callable[[str, str], None] | None = None) -> list[Window]:
    """Every window of every file, in order. A file that cannot be decoded raises AudioError (naming it), or
    with `on_error` is reported there and left out."""
    out: list[Window] = []
    for path in paths:
        try:
            wins = list(A.iter_windows(path, window_seconds=window_seconds))
        except AudioError as e:
            if on_error is None:
                raise
            on_error(str(path), str(e))
            continue
        if len(wins) > 1 and wins[-1].end - wins[-1].start < MIN_TAIL_SHARE * window_seconds:
            wins = wins[:-1]
        out += [Window(str(path), w.index, w.samples) for w in wins]
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v == v]
    return sum(finite) / len(finite) if finite else float("nan")


def _std(values: list[float]) -> float:
    finite = [v for v in values if v == v]
    if len(finite) < 2:
        return 0.0
    m = sum(finite) / len(finite)
    return math.sqrt(sum((v - m) ** 2 for v in finite) / (len(finite) - 1))


def analyze_model(model: SAM, windows: list[Window], label: str, batch_size: int = 8, tau: float = TAU,
                  progress: Callable[[int, int], None] | None = None) -> dict:
    """The measures of one model over the windows: a JSON-ready dict (see README "Analysis")."""
    if not windows:
        raise AudioError("no audio to analyze")
    cfg = model.cfg
    kind, bands = cfg.connector.kind, cfg.connector.num_bands
    time_steps = _time_steps(cfg)
    ranks: dict[str, list[float]] = {}
    cosines: dict[str, list[float]] = {}
    shapes: dict[str, tuple[int, int]] = {}
    n_layer = cfg.lm.n_layer
    change: list[list[float]] = [[] for _ in range(n_layer)]
    kept: dict[str, list[list[float]]] = {d: [[] for _ in range(n_layer)] for d in ("time", "frequency")}
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(windows), batch_size):
            chunk = windows[start:start + batch_size]
            feats = A.fbank_batch([w.samples for w in chunk], cfg.target_length)
            p = probe(model, feats)
            for name, t in p.tokens.items():
                shapes[name] = tuple(t.shape[1:])
                ranks.setdefault(name, []).extend(effective_rank(t[r], tau) for r in range(len(chunk)))
                cosines.setdefault(name, []).extend(cosine_similarity(t[r]) for r in range(len(chunk)))
            # With token pruning (time_major, frequency_major) E_a no longer holds the whole grid: no retention.
            on_grid = p.log_decay.shape[2] == cfg.connector.num_tokens(time_steps)
            for i in range(n_layer):
                for r in range(len(chunk)):
                    row = p.state_change[i, r]
                    change[i].append(float(row[~row.isnan()].mean()) if bool((~row.isnan()).any()) else float("nan"))
                    for d in ("time", "frequency"):
                        kept[d][i].append(retention(p.log_decay[i, r], kind, time_steps, bands)[d] if on_grid
                                          else float("nan"))
            if progress is not None:
                progress(min(start + batch_size, len(windows)), len(windows))
    finally:
        model.train(was_training)
    per_file: dict[str, list[int]] = {}
    for k, w in enumerate(windows):
        per_file.setdefault(w.path, []).append(k)
    return {
        "model": label,
        "connector": kind,
        "lm_layers": n_layer,
        "d_model": cfg.lm.d_model,
        "files": len(per_file),
        "windows": len(windows),
        "update_steps": update_steps(kind, time_steps, bands),
        "table3": {"effective_rank": _mean(ranks["connector"]),
                   "cosine_similarity": _mean(cosines["connector"])},
        "layers": [{"name": name, "tokens": shapes[name][0], "width": shapes[name][1],
                    "effective_rank": _mean(ranks[name]), "effective_rank_std": _std(ranks[name]),
                    "cosine_similarity": _mean(cosines[name])} for name in ranks],
        "state": [{"layer": i, "state_change": _mean(change[i]), "retention_time": _mean(kept["time"][i]),
                   "retention_frequency": _mean(kept["frequency"][i])} for i in range(n_layer)],
        "per_file": [{"path": path, "windows": len(ks),
                      "effective_rank": _mean([ranks["connector"][k] for k in ks]),
                      "cosine_similarity": _mean([cosines["connector"][k] for k in ks])}
                     for path, ks in per_file.items()],
    }


def _time_steps(cfg) -> int:
    """Time steps of the encoder's token grid for one window (EAT: 1024 / 16 = 64)."""
    return cfg.target_length // token_frames(cfg.encoder)


def summary(result: dict) -> dict:
    """The few numbers `sam train` logs at a checkpoint: Table 3's pair, and the state measures' means."""
    state = result["state"]
    return {"windows": result["windows"], "effective_rank": result["table3"]["effective_rank"],
            "cosine_similarity": result["table3"]["cosine_similarity"],
            "effective_rank_per_layer": {r["name"]: r["effective_rank"] for r in result["layers"]},
            "state_change_per_layer": [s["state_change"] for s in state],
            "retention_time_per_layer": [s["retention_time"] for s in state]}


# `sam train --analyze-data`: a folder is searched for these (`sam batch`'s list lives in a layer above).
TRAIN_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a")


class CheckpointAnalysis:
    """What `sam train` logs at each checkpoint with `analyze_data`: the summary() of the model over the first
    `limit` audio files of a folder (or one file), decoded once at the first checkpoint. Files that cannot be
    decoded are reported through `log` and left out; none left is reported once and the analysis is off."""

    def __init__(self, data: str, limit: int, log: Callable[[str], None]):
        self.data, self.limit, self.log = Path(data), limit, log
        self.windows: list[Window] | None = None

    def __call__(self, model: SAM) -> dict | None:
        if self.windows is None:
            files = ([self.data] if self.data.is_file() else
                     sorted(p for p in self.data.rglob("*") if p.suffix.lower() in TRAIN_EXTENSIONS
                            and not p.name.startswith(".")))[: self.limit]
            self.windows = load_windows(files, model.cfg.window_seconds,
                                        on_error=lambda path, why: self.log(f"analysis: leaving out {why}"))
            if not self.windows:
                self.log(f"analysis: no audio in {self.data}; no analysis at checkpoints")
        if not self.windows:
            return None
        return summary(analyze_model(model, self.windows, "checkpoint"))


def text_table(results: list[dict], tau: float = TAU) -> str:
    """The results as a plain table: Table 3's pair per model, then the measures per layer."""
    lines = [f"{'model':<32} {'connector':<16} {'windows':>7}  rank_{tau:g} / cosine (tokens entering the LM)"]
    for r in results:
        t3 = r["table3"]
        lines.append(f"{_short(r['model'], 32):<32} {r['connector']:<16} {r['windows']:>7}  "
                     f"{t3['effective_rank']:.1f} / {t3['cosine_similarity']:.2f}")
    for r in results:
        steps = r["update_steps"]
        lines += ["", f"{r['model']}: state updates between neighbouring cells: {steps['time']} along time, "
                      f"{steps['frequency']} along frequency",
                  f"{'layer':<12} {'tokens x width':>15} {'rank':>7} {'cosine':>7} {'state change':>13} "
                  f"{'kept (time)':>12} {'kept (freq)':>12}"]
        state = {f"lm.{s['layer']}": s for s in r["state"]}
        for row in r["layers"]:
            s = state.get(row["name"])
            extra = (f" {s['state_change']:>13.3f} {s['retention_time']:>12.3f} {s['retention_frequency']:>12.3f}"
                     if s else "")
            lines.append(f"{row['name']:<12} {row['tokens']:>7} x {row['width']:<5} {row['effective_rank']:>7.1f} "
                         f"{row['cosine_similarity']:>7.3f}{extra}")
    return "\n".join(lines)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]
