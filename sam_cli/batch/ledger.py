"""The results file as a resume ledger: each row carries its file's fingerprint; a rerun keeps the rows of
unchanged files, rewrites the file atomically and appends only what is missing. One writer at a time (a lock).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

from sam_cli.errors import SamError, UsageError
from sam_cli.writers import Record, Writer, get_writer, record_kind

# Columns after file,start,end,text,error in csv/tsv outputs: what resuming needs to know.
EXTRA_COLUMNS = ("duration", "size", "mtime_ns")


class Fingerprint(NamedTuple):
    size: int | None
    mtime_ns: int | None


def fingerprint(path: Path) -> Fingerprint:
    try:
        st = os.stat(path)
    except OSError:
        return Fingerprint(None, None)  # vanished or a broken link: decoding will give the error row
    return Fingerprint(st.st_size, st.st_mtime_ns)


def _is_current(record: Record, fp: Fingerprint) -> bool:
    if (record.get("size"), record.get("mtime_ns")) != tuple(fp):
        return False
    if record_kind(record) == "error":
        return True
    # A csv/tsv record is several rows: make sure none went missing (segments must tile [0, duration]).
    segs, end = record.get("segments") or [], 0.0
    for s in segs:
        if abs(s["start"] - end) > 1e-3:
            return False
        end = s["end"]
    return bool(segs) and abs(end - record.get("duration", end)) <= 1e-3


def plan_resume(records: list[Record], fingerprints: dict[str, Fingerprint],
                retry_errors: bool = False) -> tuple[list[Record], set[str]]:
    """-> (rows to keep, files already done). Rows of files not in this run are kept as they are."""
    last: dict[str, int] = {}
    for n, r in enumerate(records):
        if not isinstance(r.get("file"), str) or record_kind(r) not in ("caption", "error"):
            raise SamError("the output holds rows that `sam batch` did not write; give another --output")
        last[r["file"]] = n
    kept, done = [], set()
    for n, r in enumerate(records):
        file = r["file"]
        if last[file] != n:
            continue  # an older row of the same file
        if file in fingerprints:
            if not _is_current(r, fingerprints[file]):
                continue  # the file changed (or the row is incomplete): redo it
            if retry_errors and record_kind(r) == "error":
                continue
            done.add(file)
        kept.append(r)
    return kept, done


@contextmanager
def locked(output: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        yield
        return
    lock_path = output.with_name(f".{output.name}.lock")
    try:
        fh = open(lock_path, "w")
    except OSError as e:
        raise SamError(f"{output}: cannot write there ({e.strerror or e})") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{output}: another `sam batch` is writing it") from None
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)


def rewrite(output: Path, fmt: str, records: list[Record], options: dict) -> Writer:
    """Write `records` to a temp file, rename it over `output`, and return a writer appending to it."""
    try:
        mode = os.stat(output).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as e:
        raise SamError(f"{output}: cannot write there ({e.strerror or e})") from None
    # surrogateescape: a file name that is not valid UTF-8 is written back byte for byte, not a crash.
    stream = os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="")
    try:
        writer = get_writer(fmt, stream, owns_stream=True, **options)
        for r in records:
            writer.write(r)
        os.fsync(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, output)  # the open stream now writes to `output`
    except BaseException:
        stream.close()
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(output.parent)
    return writer


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the data itself is synced
    finally:
        os.close(fd)
