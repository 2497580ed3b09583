"""The output formats by name: their file extensions, and a writer of a format on a stream or a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from sam_cli.errors import UsageError
from sam_cli.writers.base import Writer
from sam_cli.writers.delimited import CsvWriter, TsvWriter
from sam_cli.writers.json_lines import JsonlWriter, JsonWriter
from sam_cli.writers.subtitles import SrtWriter, VttWriter
from sam_cli.writers.text import TextWriter

EXTENSIONS = {"text": "txt", "json": "json", "jsonl": "jsonl", "csv": "csv", "tsv": "tsv", "srt": "srt", "vtt": "vtt"}
FORMATS = tuple(EXTENSIONS)
SUBTITLE_FORMATS = ("srt", "vtt")  # timed captions of one clip: describe / ask, one file per clip
READABLE_FORMATS = ("json", "jsonl", "csv", "tsv")  # what read_records (and so a batch resume) reads back
_SUFFIX_FORMATS = {f".{ext}": fmt for fmt, ext in EXTENSIONS.items()}

WRITERS: dict[str, type[Writer]] = {
    "text": TextWriter, "json": JsonWriter, "jsonl": JsonlWriter, "csv": CsvWriter, "tsv": TsvWriter,
    "srt": SrtWriter, "vtt": VttWriter,
}


def format_from_path(path: str | Path) -> str:
    """The output format implied by a file name's extension."""
    fmt = _SUFFIX_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: cannot tell the output format from the extension; use .jsonl, .json, .csv, "
                         ".tsv, .txt, .srt or .vtt (or give --format)")
    return fmt


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
