"""The results file as a resume ledger: each row carries its file's fingerprint; a rerun keeps the rows of
unchanged files, rewrites the file atomically and appends only what is missing. One writer at a time: a lock
file beside the output's real path (symlinks resolved), never deleted.
"""

from __future__ import annotations

import os
import tempfile
import time
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


def real_output(output: Path) -> Path:
    """The file a run really writes: `output` with every symlink resolved (also a link to a file not yet
    made), so that a link and its target share one lock and one ledger, and the link stays a link."""
    return Path(os.path.realpath(output))


# Tests only: "STAGE:DIR" makes a run stop at STAGE ("opened": the lock file is open but not yet locked;
# "locked": the lock is held), create DIR/STAGE, and wait until DIR/go exists (at most TEST_PAUSE_S), so a
# test can force a race between two real `sam batch` processes instead of hoping for one.
TEST_PAUSE_ENV = "SAM_TEST_BATCH_PAUSE"
TEST_PAUSE_S = 120.0


def _test_pause(stage: str) -> None:
    spec = os.environ.get(TEST_PAUSE_ENV)
    if not spec or spec.partition(":")[0] != stage:
        return
    folder = Path(spec.partition(":")[2])
    (folder / stage).touch()
    deadline = time.monotonic() + TEST_PAUSE_S
    while not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def lock_path(output: Path) -> Path:
    """The lock file of a (real) output path: `.NAME.lock` beside it, never deleted."""
    return output.with_name(f".{output.name}.lock")


@contextmanager
def locked(output: Path, shown: Path | None = None) -> Iterator[None]:
    """Hold the lock of `output` (a real path: see real_output) for the block, or refuse at once.

    The lock file is never deleted: deleting it would let a run that opened the old file and a run that
    created a new one both hold "the" lock, and then one run's atomic rewrite would orphan the other's rows.
    `shown` is the name the user gave, for messages.
    """
    shown = output if shown is None else shown
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        yield
        return
    try:
        fd = os.open(lock_path(output), os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as e:
        raise SamError(f"{shown}: cannot write there ({e.strerror or e})") from None
    try:
        _test_pause("opened")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            where = "" if Path(shown) == output else f" (it is {output})"
            raise UsageError(f"{shown}: another `sam batch` is writing it{where}; wait for it to finish") from None
        _test_pause("locked")
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays, for the next run to lock the same inode


def rewrite(output: Path, fmt: str, records: list[Record], options: dict, shown: Path | None = None) -> Writer:
    """Write `records` to a temp file, rename it over `output`, and return a writer appending to it. A failed
    write (disk full) removes the temp file and raises a SamError naming `shown` (default: `output`)."""
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
    except BaseException as e:
        try:
            stream.close()
        except OSError:
            pass  # e.g. the disk is full: the flush fails again; the temp file goes anyway
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_error(output if shown is None else shown, e, "it is unchanged") from None
        raise
    _fsync_dir(output.parent)
    return writer


def write_error(output: Path, e: OSError, state: str) -> SamError:
    """The one-line error for a failed write to `output` (disk full, quota, I/O error); `state` says what
    the file holds now."""
    return SamError(f"{output}: cannot write ({e.strerror or e}); {state}")


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
