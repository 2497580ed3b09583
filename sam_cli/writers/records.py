"""The record: a plain dict, one per input clip, that every writer renders and `read_records` gives back.

Four kinds:
- caption / answer: {"file", "duration", "task", "prompt", "text", "segments": [{"start", "end", "text"}], "model"}
- choice: {"file", "task": "choose", "prompt", "answer", "choices": [{"choice", "prob"}]}
- tags: {"file", "task": "classify", "labels": [{"label", "score"}]}
- error: {"file", "error"}
Any other keys (e.g. `sam batch`'s fingerprint "size", "mtime_ns") pass through to json/jsonl, and to
csv/tsv when named in `extra_columns`.
"""

from __future__ import annotations

from typing import Any, Sequence

Record = dict[str, Any]


def caption_record(file: str, segments: Sequence[Any], *, task: str, prompt: str, model: str,
                   duration: float | None = None) -> Record:
    """A caption / answer record from a clip's segments (objects with start, end and text: tasks.Segment)."""
    return {"file": file, "duration": round(segments[-1].end if duration is None else duration, 3), "task": task,
            "prompt": prompt, "text": " ".join(s.text for s in segments if s.text).strip(),
            "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for s in segments],
            "model": model}


def choices_record(file: str, prompt: str, ranked: Sequence[tuple[str, float]], model: str) -> Record:
    return {"file": file, "task": "choose", "prompt": prompt, "answer": ranked[0][0],
            "choices": [{"choice": c, "prob": round(p, 4)} for c, p in ranked], "model": model}


def labels_record(file: str, tags: Sequence[tuple[str, float]], model: str) -> Record:
    return {"file": file, "task": "classify", "labels": [{"label": n, "score": round(s, 4)} for n, s in tags],
            "model": model}


def error_record(file: str, error: str) -> Record:
    return {"file": file, "error": error}


def record_kind(record: Record) -> str:
    """"error", "tags", "choice" or "caption" (caption also covers answers)."""
    if record.get("error"):
        return "error"
    if "labels" in record:
        return "tags"
    if "choices" in record:
        return "choice"
    return "caption"
