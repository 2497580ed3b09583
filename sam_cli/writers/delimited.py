"""The csv and tsv formats: a header, then one row per segment / label / choice, with an error column."""

from __future__ import annotations

import re
from typing import Sequence, TextIO

from sam_cli.writers.base import Writer
from sam_cli.writers.records import Record, record_kind

# Columns of the delimited formats, per record kind. Every kind has an error column so that a run over
# several files can report a bad one in the same table.
COLUMNS = {
    "caption": ("file", "start", "end", "text", "error"),
    "tags": ("file", "label", "score", "error"),
    "choice": ("file", "choice", "prob", "error"),
}


class _DelimitedWriter(Writer):
    """Header once, then one row per segment / label / choice; an error is one row with the error column set.

    The columns follow the record kind (`kind`, or the first record's kind; errors alone give caption
    columns), then `extra_columns` (values taken from the record's keys of those names).
    """

    def __init__(self, stream: TextIO, *, kind: str | None = None, extra_columns: Sequence[str] = (),
                 header: bool = True, owns_stream: bool = False):
        super().__init__(stream, owns_stream=owns_stream)
        if kind is not None and kind not in COLUMNS:
            raise ValueError(f"kind must be one of {sorted(COLUMNS)}, not {kind!r}")
        self.kind = kind
        self.extra_columns = tuple(extra_columns)
        self.need_header = header

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS[self.kind or "caption"] + self.extra_columns

    def render(self, record: Record) -> str:
        kind = record_kind(record)
        if self.kind is None:
            self.kind = "caption" if kind == "error" else kind
        elif kind not in (self.kind, "error"):
            raise ValueError(f"a {self.format} table of {self.kind} rows cannot take a {kind} record")
        rows = []
        if self.need_header:
            rows.append(list(self.columns))
            self.need_header = False
        extra = ["" if record.get(c) is None else str(record[c]) for c in self.extra_columns]
        file = str(record.get("file", ""))
        if kind == "error":
            rows.append([file] + [""] * (len(COLUMNS[self.kind]) - 2) + [str(record["error"])] + extra)
        elif kind == "tags":
            rows += [[file, x["label"], repr(float(x["score"])), ""] + extra for x in record["labels"]]
        elif kind == "choice":
            rows += [[file, x["choice"], repr(float(x["prob"])), ""] + extra for x in record["choices"]]
        elif record.get("segments"):
            rows += [[file, repr(float(s["start"])), repr(float(s["end"])), s["text"], ""] + extra
                     for s in record["segments"]]
        else:  # a caption without times (e.g. from the API): one row, empty start / end
            rows.append([file, "", "", record.get("text", ""), ""] + extra)
        return self.format_rows(rows)

    def format_rows(self, rows: list[list[str]]) -> str:
        raise NotImplementedError


class CsvWriter(_DelimitedWriter):
    """RFC 4180 CSV, rows ended by "\n": fields with a comma, a quote, a newline or a carriage return are
    quoted, quotes doubled. (The csv module's QUOTE_MINIMAL with lineterminator="\n" leaves a lone "\r"
    unquoted, which readers take for a line break: a file name holding one broke the table.)"""

    format = "csv"

    def format_rows(self, rows: list[list[str]]) -> str:
        return "".join(",".join(map(_csv_field, row)) + "\n" for row in rows)


_CSV_QUOTE = re.compile(r'[,"\r\n]')


def _csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if _CSV_QUOTE.search(value) else value


class TsvWriter(_DelimitedWriter):
    """Tab-separated, one row per line: backslash, tab, newline and CR are escaped as \\\\, \\t, \\n, \\r.

    Escaping rather than quoting keeps every row on one line, so cut / awk / sort work on it.
    """

    format = "tsv"

    def format_rows(self, rows: list[list[str]]) -> str:
        return "".join("\t".join(_tsv_escape(v) for v in row) + "\n" for row in rows)


_TSV_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_TSV_UNESCAPES = {v: k for k, v in _TSV_ESCAPES.items()}


def _tsv_escape(value: str) -> str:
    return re.sub(r"[\\\t\n\r]", lambda m: _TSV_ESCAPES[m.group()], value)


def tsv_unescape(value: str) -> str:
    """A tsv field as it was before `TsvWriter` escaped it (for reading an output back)."""
    return re.sub(r"\\[\\tnr]", lambda m: _TSV_UNESCAPES[m.group()], value)
