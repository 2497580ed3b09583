"""The predictions file of `sam eval`: JSON lines, one row per clip, appended and synced as each clip is done,
so an interrupted run loses nothing and a rerun skips what is done.

The first line is a header, {"sam_eval": {...}}, with what the predictions depend on (task, model, prompt,
decoding); a rerun with other settings refuses, rather than mixing two runs' rows. A row is keyed by the
clip's id; the last row of an id wins. A row is done when it holds every field the methods asked for need
(a rerun with one more method computes the missing fields and writes a fuller row); error rows (audio that
could not be read) count as done unless retry_errors. A rerun rewrites the file atomically with only the
latest row of each clip (dropping a line cut off by a crash), then appends. One writer at a time: the same
lock as `sam batch` (batch.ledger.locked).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from sam_cli.batch.ledger import locked, real_output, write_error
from sam_cli.errors import SamError, UsageError

HEADER = "sam_eval"


def read_predictions(path: Path) -> tuple[dict | None, dict[str, dict]]:
    """(header settings, latest row per clip id) of a predictions file; a cut-off last line is ignored."""
    try:
        lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read it ({e.strerror or e})") from None
    header, rows = None, {}
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines) - 1:
                break  # the row being written when the run stopped
            raise UsageError(f"{path}: line {n + 1} is not JSON: not a predictions file of `sam eval`") from None
        if not isinstance(row, dict):
            raise UsageError(f"{path}: line {n + 1} is not a JSON object: not a predictions file of `sam eval`")
        if HEADER in row and n == 0:
            header = row[HEADER]
        elif isinstance(row.get("id"), str):
            rows[row["id"]] = row
        else:
            raise UsageError(f"{path}: line {n + 1} has no clip id: not a predictions file of `sam eval`")
    return header, rows


def is_done(row: dict, fields: Iterable[str], retry_errors: bool = False) -> bool:
    if "error" in row:
        return not retry_errors
    return all(f in row for f in fields)


class PredictionLedger:
    """`with PredictionLedger(path, settings) as ledger:` -> ledger.rows (what is there), ledger.write(row)."""

    def __init__(self, path: Path, settings: dict):
        self.shown, self.path, self.settings = path, real_output(path), settings
        self.rows: dict[str, dict] = {}
        self.stream = None

    def __enter__(self) -> PredictionLedger:
        self._lock = locked(self.path, self.shown)
        try:
            self._lock.__enter__()
        except UsageError as e:  # the shared lock's message names `sam batch`; here it is an eval
            raise UsageError(str(e).replace("`sam batch`", "`sam eval`")) from None
        try:
            self._open()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.stream is not None:
                self.stream.close()
        finally:
            self._lock.__exit__(None, None, None)

    def _open(self) -> None:
        if self.path.exists():
            header, self.rows = read_predictions(self.path)
            if header != self.settings:
                what = "not a predictions file of `sam eval`" if header is None else "made with other settings"
                changed = "" if header is None else " (" + ", ".join(
                    f"{k}: {header.get(k)!r} -> {v!r}" for k, v in self.settings.items() if header.get(k) != v) + ")"
                raise UsageError(f"{self.shown}: {what}{changed}; give another --output or remove it")
        self.stream = self._rewrite([{HEADER: self.settings}, *self.rows.values()])

    def _rewrite(self, rows: list[dict]):
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as e:
            raise SamError(f"{self.shown}: cannot write there ({e.strerror or e})") from None
        stream = os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape")
        try:
            for row in rows:
                stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            stream.flush()
            os.fsync(fd)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, self.path)
        except BaseException as e:
            stream.close()
            Path(tmp).unlink(missing_ok=True)
            if isinstance(e, OSError):
                raise write_error(self.shown, e, "it is unchanged") from None
            raise
        return stream

    def write(self, row: dict) -> None:
        """Append one row and sync it: it survives a crash from here on."""
        try:
            self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            self.stream.flush()
            os.fsync(self.stream.fileno())
        except OSError as e:
            raise write_error(self.shown, e, "the rows before this one are kept; rerun to resume") from None
        self.rows[row["id"]] = row


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
