"""Reading an output back (json / jsonl / csv / tsv) as records, for resuming a batch."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from sam_cli.errors import SamError, UsageError
from sam_cli.writers.delimited import COLUMNS, tsv_unescape
from sam_cli.writers.formats import READABLE_FORMATS, format_from_path
from sam_cli.writers.records import Record


def read_records(path: str | Path, fmt: str | None = None) -> list[Record]:
    """Read back the records of a json / jsonl / csv / tsv output (`fmt`, else the extension's); a missing
    file gives [].

    A last line without its newline is what a crash mid-write leaves: it is dropped. Anything else that
    does not parse means the file is not one of ours, and raises SamError rather than guessing.
    """
    path = Path(path)
    fmt = fmt or format_from_path(path)
    if fmt not in READABLE_FORMATS:
        raise UsageError(f"{path}: {fmt} output cannot be read back; use .jsonl, .csv or .tsv")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise SamError(f"{path}: cannot read ({e.strerror or e})") from None
    # Every record ends with a newline; cut whatever follows the last one (a partial record).
    data = data[: data.rfind(b"\n") + 1]
    text = data.decode("utf-8", errors="surrogateescape")  # as written: file names need not be UTF-8
    if fmt in ("json", "jsonl"):
        return _read_json_lines(path, text)
    return _read_delimited(path, text, fmt)


def _read_json_lines(path: Path, text: str) -> list[Record]:
    records = []
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines(): U+2028 may sit inside a string
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            raise SamError(f"{path}:{n}: not a JSON object per line, so not a sam output")
        records.append(record)
    return records


def _read_delimited(path: Path, text: str, fmt: str) -> list[Record]:
    rows = _split_rows(path, text, fmt)
    if not rows:
        return []
    header, rows = rows[0], rows[1:]
    kind = next((k for k, cols in COLUMNS.items() if tuple(header[: len(cols)]) == cols), None)
    if kind is None:
        raise SamError(f"{path}: unexpected header {','.join(header)!r}, so not a sam output")
    width = len(COLUMNS[kind])
    extra_columns = header[width:]
    records: list[Record] = []
    for row in rows:
        if len(row) != len(header):
            raise SamError(f"{path}: a row has {len(row)} fields where the header has {len(header)}")
        file, a, b, text_or_error = row[0], row[1], row[2], row[3]
        extra = {c: _scalar(v) for c, v in zip(extra_columns, row[width:]) if v != ""}
        error = row[width - 1]
        if error:
            records.append({"file": file, "error": error, **extra})
            continue
        last = records[-1] if records and records[-1].get("file") == file and "error" not in records[-1] else None
        if kind == "caption":
            if a == "" and b == "":
                records.append({"file": file, "text": text_or_error, "segments": [], **extra})
                continue
            seg = {"start": float(a), "end": float(b), "text": text_or_error}
            if last is not None and last.get("segments"):
                last["segments"].append(seg)
                last["text"] = " ".join(s["text"] for s in last["segments"] if s["text"])
            else:
                records.append({"file": file, "text": seg["text"], "segments": [seg], **extra})
        elif kind == "tags":
            item = {"label": a, "score": float(b)}
            if last is not None and "labels" in last:
                last["labels"].append(item)
            else:
                records.append({"file": file, "task": "classify", "labels": [item], **extra})
        else:
            item = {"choice": a, "prob": float(b)}
            if last is not None and "choices" in last:
                last["choices"].append(item)
            else:
                records.append({"file": file, "task": "choose", "answer": a, "choices": [item], **extra})
    return records


def _split_rows(path: Path, text: str, fmt: str) -> list[list[str]]:
    if fmt == "tsv":
        return [[tsv_unescape(v) for v in line.split("\t")] for line in text.split("\n") if line]
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            if row:
                rows.append(row)
    except csv.Error as e:
        # A quoted field cut by a crash ends the data inside its quotes: that partial row is dropped.
        if "unexpected end of data" not in str(e):
            raise SamError(f"{path}: not valid CSV ({e}), so not a sam output") from None
    return rows


def _scalar(value: str) -> int | float | str:
    # Extra columns are written with str(); give numbers back as numbers so fingerprints compare equal.
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d*(e[-+]?\d+)?", value, re.IGNORECASE):
        return float(value)
    return value
