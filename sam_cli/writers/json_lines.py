"""The json and jsonl formats: one compact JSON object per record per line."""

from __future__ import annotations

import json
import math
from typing import Any, TextIO

from sam_cli.writers.base import Writer
from sam_cli.writers.records import Record


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
