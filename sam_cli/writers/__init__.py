"""Output formats: one writer class per format (text, json, jsonl, csv, tsv, srt, vtt), and readers for resuming.

records: the record dict every writer renders; base: the Writer class; text, json_lines, delimited, subtitles:
the formats; formats: a writer by format name or file extension; readers: an output read back as records.
The names other modules use are re-exported here.
"""

from sam_cli.writers.base import Writer
from sam_cli.writers.formats import (
    EXTENSIONS,
    FORMATS,
    READABLE_FORMATS,
    SUBTITLE_FORMATS,
    format_from_path,
    get_writer,
    open_writer,
)
from sam_cli.writers.readers import read_records
from sam_cli.writers.records import (
    Record,
    caption_record,
    choices_record,
    error_record,
    labels_record,
    record_kind,
)
from sam_cli.writers.text import format_time, printable

__all__ = [
    "EXTENSIONS", "FORMATS", "READABLE_FORMATS", "SUBTITLE_FORMATS", "Record", "Writer", "caption_record",
    "choices_record", "error_record", "format_from_path", "format_time", "get_writer", "labels_record",
    "open_writer", "printable", "read_records", "record_kind",
]
