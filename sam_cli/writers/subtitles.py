"""The srt and vtt formats: timed captions of describe / ask, one cue per window."""

from __future__ import annotations

from typing import TextIO

from sam_cli.errors import UsageError
from sam_cli.writers.base import Writer
from sam_cli.writers.records import Record, record_kind


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
