"""The text format, for people, and the helpers that make text safe and readable on a terminal."""

from __future__ import annotations

import re
from typing import Sequence, TextIO

from sam_cli.writers.base import Writer
from sam_cli.writers.records import Record, record_kind


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
