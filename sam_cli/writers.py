"""Output formats: one writer class per format (text, json, jsonl, csv, tsv, srt, vtt), and readers for resuming.

A record is a plain dict, one per input clip, of one of four kinds:
- caption / answer: {"file", "duration", "task", "prompt", "text", "segments": [{"start", "end", "text"}], "model"}
- choice: {"file", "task": "choose", "prompt", "answer", "choices": [{"choice", "prob"}]}
- tags: {"file", "task": "classify", "labels": [{"label", "score"}]}
- error: {"file", "error"}
Any other keys (e.g. `sam batch`'s fingerprint "size", "mtime_ns") pass through to json/jsonl, and to
csv/tsv when named in `extra_columns`.

Every writer writes a record in ONE `write()` call and flushes it, so a reader sees whole records, and a
crash can leave at most one truncated last line, which `read_records` drops.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any, Sequence, TextIO

from sam_cli.errors import SamError, UsageError

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


EXTENSIONS = {"text": "txt", "json": "json", "jsonl": "jsonl", "csv": "csv", "tsv": "tsv", "srt": "srt", "vtt": "vtt"}
FORMATS = tuple(EXTENSIONS)
SUBTITLE_FORMATS = ("srt", "vtt")  # timed captions of one clip: describe / ask, one file per clip
READABLE_FORMATS = ("json", "jsonl", "csv", "tsv")  # what read_records (and so a batch resume) reads back
_SUFFIX_FORMATS = {f".{ext}": fmt for fmt, ext in EXTENSIONS.items()}

# Columns of the delimited formats, per record kind. Every kind has an error column so that a run over
# several files can report a bad one in the same table.
COLUMNS = {
    "caption": ("file", "start", "end", "text", "error"),
    "tags": ("file", "label", "score", "error"),
    "choice": ("file", "choice", "prob", "error"),
}


def record_kind(record: Record) -> str:
    """"error", "tags", "choice" or "caption" (caption also covers answers)."""
    if record.get("error"):
        return "error"
    if "labels" in record:
        return "tags"
    if "choices" in record:
        return "choice"
    return "caption"


def format_from_path(path: str | Path) -> str:
    """The output format implied by a file name's extension."""
    fmt = _SUFFIX_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: cannot tell the output format from the extension; use .jsonl, .json, .csv, "
                         ".tsv, .txt, .srt or .vtt (or give --format)")
    return fmt


# ---------------------------------------------------------------------------------------------------------
# Writers


class Writer:
    """Writes records to a text stream; `close()` flushes, and closes the stream only if the writer opened it."""

    format = ""

    def __init__(self, stream: TextIO, *, owns_stream: bool = False):
        self.stream = stream
        self.owns_stream = owns_stream

    def write(self, record: Record) -> None:
        text = self.render(record)
        if text:
            self.stream.write(text)
        self.stream.flush()

    def render(self, record: Record) -> str:
        """The complete text for one record, newline-terminated."""
        raise NotImplementedError

    def close(self) -> None:
        try:
            self.stream.flush()
        finally:
            if self.owns_stream:
                self.stream.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TextWriter(Writer):
    """For people: the text alone for one window, timestamped lines for several, "label  0.873" for tags.

    `multi` prefixes every line with "file: " (several files in one stream); error lines always name
    their file.
    """

    format = "text"

    def __init__(self, stream: TextIO, *, multi: bool = False, owns_stream: bool = False):
        super().__init__(stream, owns_stream=owns_stream)
        self.multi = multi

    def render(self, record: Record) -> str:
        kind = record_kind(record)
        file = printable(str(record.get("file", "")))
        if kind == "error":
            return f"{file}: error: {printable(str(record['error']))}\n"
        if kind == "tags":
            lines = _scored_lines([(x["label"], x["score"]) for x in record["labels"]])
        elif kind == "choice":
            lines = _scored_lines([(x["choice"], x["prob"]) for x in record["choices"]])
        else:
            segments = record.get("segments") or []
            if len(segments) <= 1:
                lines = [record.get("text", segments[0]["text"] if segments else "")]
            else:
                hours = max(s["end"] for s in segments) >= 3600
                lines = [f"[{format_time(s['start'], hours)} → {format_time(s['end'], hours)}] {s['text']}"
                         for s in segments]
        if self.multi:
            lines = [f"{file}: {line}" for line in lines]
        return "".join(line + "\n" for line in lines)


# Control characters (C0, DEL, C1: ESC starts terminal escape sequences), line and paragraph separators, and
# the bidirectional overrides / isolates that reorder what a terminal shows.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` (a file name, a message naming one) safe to print on a terminal: control characters and
    direction overrides as \\xNN / \\uNNNN escapes, everything else (bytes that are not UTF-8 included) as is."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def _scored_lines(pairs: Sequence[tuple[str, float]]) -> list[str]:
    width = max((len(name) for name, _ in pairs), default=0)
    return [f"{name:<{width}}  {score:.3f}" for name, score in pairs]


def format_time(seconds: float, hours: bool = False) -> str:
    """mm:ss.ss, or hh:mm:ss.ss when `hours` (or when the time needs it)."""
    centis = round(seconds * 100)
    h, rest = divmod(centis, 360_000)
    m, rest = divmod(rest, 6000)
    s, c = divmod(rest, 100)
    if hours or h:
        return f"{h:02d}:{m:02d}:{s:02d}.{c:02d}"
    return f"{m:02d}:{s:02d}.{c:02d}"


class JsonWriter(Writer):
    """One compact JSON object per record per line, so `--json` over many files stays machine-readable."""

    format = "json"

    def __init__(self, stream: TextIO, *, owns_stream: bool = False):
        super().__init__(stream, owns_stream=owns_stream)
        # Non-ASCII as is when the stream can carry it; \u escapes otherwise (e.g. a C-locale terminal).
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
        self.ensure_ascii = encoding not in ("utf8", "utf16", "utf32")

    def render(self, record: Record) -> str:
        text = json.dumps(_finite(record), ensure_ascii=self.ensure_ascii, allow_nan=False,
                          separators=(",", ":"), default=str)
        # Characters that str.splitlines() and some editors take for line breaks: escape them (they can only
        # be inside strings), so that a record is one line for every tool.
        return text.translate(_LINE_BREAK_ESCAPES) + "\n"


_LINE_BREAK_ESCAPES = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


class JsonlWriter(JsonWriter):
    format = "jsonl"


def _finite(value: Any) -> Any:
    # NaN / inf are not JSON; write null rather than produce a file other tools cannot parse.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


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


def _tsv_unescape(value: str) -> str:
    return re.sub(r"\\[\\tnr]", lambda m: _TSV_UNESCAPES[m.group()], value)


class _SubtitleWriter(Writer):
    """Timed captions: one cue per window, numbered across the stream. Errors write nothing (the command
    reports them on stderr); tags and choices have no times and are refused."""

    def __init__(self, stream: TextIO, *, owns_stream: bool = False):
        super().__init__(stream, owns_stream=owns_stream)
        self.cues = 0

    def render(self, record: Record) -> str:
        kind = record_kind(record)
        if kind == "error":
            return ""
        if kind != "caption":
            raise UsageError(f"{self.format} output holds timed captions (describe, ask), not {kind}")
        segments = record.get("segments") or [{"start": 0.0, "end": record.get("duration") or 0.0,
                                               "text": record.get("text", "")}]
        out = [self.header()] if self.cues == 0 else []
        for seg in segments:
            text = " ".join(str(seg["text"]).split())  # one line: a blank line would end the cue
            if not text:
                continue
            self.cues += 1
            out.append(self.cue(self.cues, float(seg["start"]), float(seg["end"]), text))
        return "".join(out)

    def header(self) -> str:
        return ""

    def cue(self, n: int, start: float, end: float, text: str) -> str:
        raise NotImplementedError


def _clock(seconds: float, sep: str) -> str:
    millis = max(0, round(seconds * 1000))
    h, rest = divmod(millis, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


class SrtWriter(_SubtitleWriter):
    """SubRip: "1", "00:00:00,000 --> 00:00:10,240", the caption, a blank line."""

    format = "srt"

    def cue(self, n: int, start: float, end: float, text: str) -> str:
        return f"{n}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n\n"


class VttWriter(_SubtitleWriter):
    """WebVTT: a "WEBVTT" header, then cues "00:00:00.000 --> 00:00:10.240" with &, < and > escaped."""

    format = "vtt"

    def header(self) -> str:
        return "WEBVTT\n\n"

    def cue(self, n: int, start: float, end: float, text: str) -> str:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f"{n}\n{_clock(start, '.')} --> {_clock(end, '.')}\n{text}\n\n"


WRITERS: dict[str, type[Writer]] = {
    "text": TextWriter, "json": JsonWriter, "jsonl": JsonlWriter, "csv": CsvWriter, "tsv": TsvWriter,
    "srt": SrtWriter, "vtt": VttWriter,
}


def get_writer(fmt: str, stream: TextIO, **options: Any) -> Writer:
    """A writer of format `fmt` on `stream` (not closed by the writer unless owns_stream=True).

    Options: multi (text: several files share the stream, so lines name their file; ignored by the
    other formats, which always name it); csv / tsv: kind, extra_columns, header.
    """
    cls = WRITERS.get(fmt)
    if cls is None:
        raise UsageError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    multi = options.pop("multi", False)
    if cls is TextWriter:
        options["multi"] = multi
    return cls(stream, **options)


def open_writer(path: str | Path, fmt: str | None = None, *, append: bool = False, **options: Any) -> Writer:
    """A writer on a file it owns (closed by `close()`); the format follows the extension unless given."""
    fmt = fmt or format_from_path(path)
    stream = open(path, "a" if append else "w", encoding="utf-8", errors="surrogateescape", newline="")
    return get_writer(fmt, stream, owns_stream=True, **options)


# ---------------------------------------------------------------------------------------------------------
# Readers (for resuming a batch)


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
        return [[_tsv_unescape(v) for v in line.split("\t")] for line in text.split("\n") if line]
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
