"""The Writer base class: renders one record to text and writes it to a stream.

Every writer writes a record in ONE `write()` call and flushes it, so a reader sees whole records, and a
crash can leave at most one truncated last line, which `read_records` drops.
"""

from __future__ import annotations

from typing import TextIO

from sam_cli.writers.records import Record


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
