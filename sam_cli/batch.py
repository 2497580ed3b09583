"""`sam batch`: caption every audio file under some folders into one results file, resumably.

- Files: directories are searched recursively (symlinks followed, loops cut, hidden entries skipped) for
  the given extensions; files named explicitly are always taken. The list is sorted, so it is the same on
  every machine, and shard I of N takes files I, I+N, I+2N, ... of it.
- Output: one row per file, APPENDED (flushed and fsync'ed) as each file finishes, so a crash or Ctrl-C
  loses nothing already done. Each row carries the file's fingerprint (size, mtime_ns). A rerun reads the
  output, drops rows whose file changed, duplicate rows and a truncated last line, rewrites the file
  atomically (temp + rename), and appends only what is missing: every file ends with exactly one row.
  Error rows count as done unless retry_errors.
- Shards (--shard I/N, or RANK / WORLD_SIZE under torchrun) each write their own file,
  `results.shard-I-of-N.jsonl` next to `results.jsonl` (concatenate them afterwards; for csv/tsv keep
  one header). A lock file (`.results.jsonl.lock`) stops two runs from writing the same output at once.
- Decoding runs in background THREADS on the CPU and for short runs: the heavy parts (libsndfile, ffmpeg
  in its own process, torch's resampler) release the GIL, threads need no pickling of samples, start at
  once, and stop at once on Ctrl-C (daemon threads, a stop flag, bounded queue). With `processes=True`
  (`--processes`; the default on a GPU for 10,000 files or more) the same work runs in spawned worker
  processes (never forked from a CUDA process), since on a fast GPU the decode threads' share of the
  interpreter is the limit (BENCHMARKS.md); they ignore Ctrl-C (the parent stops them) and exit when the
  parent dies.
- The model runs batched across files: windows of several files fill one batch of `batch_size`; a file's
  row is written when all its windows are done. The model runs in its own thread, one batch in flight, so
  reading the next batch's windows (and writing the last batch's rows) overlaps the model's work. On CUDA
  out-of-memory the batch size halves and the batch is retried, down to 1, after which that window's file
  gets an error row.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import re
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Sequence

import numpy as np
import torch

from sam_cli import audio as A
from sam_cli.errors import AudioError, SamError, UsageError
from sam_cli.generate import DecodeOptions, Timings, generate
from sam_cli.inference import Segment, encode_windows, prompt_ids
from sam_cli.model import SAM
from sam_cli.writers import (READABLE_FORMATS, Record, Writer, format_from_path, get_writer, read_records,
                             record_kind)

DEFAULT_EXTENSIONS = ("wav", "flac", "ogg", "mp3", "m4a", "opus", "aac", "wma", "aiff", "aif", "webm", "mka")
# Columns after file,start,end,text,error in csv/tsv outputs: what resuming needs to know.
EXTRA_COLUMNS = ("duration", "size", "mtime_ns")

ProgressFn = Callable[[int, int, float, float], None]  # (files_done, files_total, clips_per_s, eta_s or nan)
BatchFn = Callable[[SAM, list[A.AudioWindow], list[int], DecodeOptions | None, Timings | None], list[str]]


@dataclass
class BatchSummary:
    done: int = 0  # files captioned by this run
    skipped: int = 0  # files already in the output
    failed: int = 0  # error rows written by this run
    failed_before: int = 0  # error rows from earlier runs, skipped (not retried) by this one
    windows: int = 0  # windows run through the model
    seconds: float = 0.0
    audio_seconds: float = 0.0  # audio captioned by this run
    output: Path | None = None  # the file written (the shard's own file when sharded)
    batch_size: int = 0  # the batch size at the end (smaller than asked after CUDA out-of-memory)


# ---------------------------------------------------------------------------------------------------------
# Inputs and shards


def find_audio_files(inputs: Sequence[str | Path], extensions: Sequence[str] = DEFAULT_EXTENSIONS) -> list[Path]:
    """Audio files under `inputs`, sorted by path components, each once."""
    exts = {"." + e.lower().lstrip(".") for e in extensions}
    found: dict[str, Path] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for f in _walk(path, exts):
                found.setdefault(os.path.normpath(f), f)
        elif path.exists() or path.is_symlink():  # a broken link becomes an error row, not a silent skip
            found.setdefault(os.path.normpath(path), path)
        else:
            raise UsageError(f"{item}: no such file or folder")
    return sorted(found.values(), key=lambda p: p.parts)


def _walk(root: Path, exts: set[str]) -> Iterator[Path]:
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # reached again through a symlink: a loop or a duplicate
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        # Hidden entries are skipped: .git, and macOS "._x.wav" resource forks that are not audio.
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in exts:
                yield Path(dirpath, name)


def parse_shard(text: str) -> tuple[int, int]:
    """"I/N" -> (I, N), with 0 <= I < N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise UsageError(f"--shard must look like I/N, e.g. 0/4, not {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1:
        raise UsageError(f"--shard {text}: the number of shards must be at least 1")
    if i >= n:
        raise UsageError(f"--shard {text}: shards are numbered from 0, so I must be below N ({n})")
    return i, n


def shard_from_env(env: dict[str, str] | None = None) -> tuple[int, int] | None:
    """(RANK, WORLD_SIZE) when run under torchrun with more than one process, else None."""
    env = os.environ if env is None else env
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
    except (KeyError, ValueError):
        return None
    return (rank, world) if world > 1 and 0 <= rank < world else None


def shard_output(output: Path, shard: tuple[int, int] | None) -> Path:
    """results.jsonl -> results.shard-I-of-N.jsonl (unchanged without shards or with one)."""
    if shard is None or shard[1] == 1:
        return output
    return output.with_name(f"{output.stem}.shard-{shard[0]}-of-{shard[1]}{output.suffix}")


# ---------------------------------------------------------------------------------------------------------
# Resuming


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
def _locked(output: Path) -> Iterator[None]:
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


def _rewrite(output: Path, fmt: str, records: list[Record], options: dict) -> Writer:
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


# ---------------------------------------------------------------------------------------------------------
# Decoding in the background


class _Event(NamedTuple):
    file: int
    window: A.AudioWindow | None = None  # one more window of the file...
    count: int | None = None  # ...or the end of it, with its number of windows...
    error: str | None = None  # ...or why it cannot be read


_WORKER_DONE = object()


def _decode_file(index: int, path: Path, window_seconds: float) -> Iterator[_Event]:
    n = 0
    try:
        for w in A.iter_windows(path, window_seconds=window_seconds):
            yield _Event(index, window=w)
            n += 1
    except AudioError as e:
        yield _Event(index, error=str(e).removeprefix(f"{path}: "))  # the row names the file already
        return
    except Exception as e:  # noqa: BLE001 - one odd file must not end a long run
        yield _Event(index, error=f"cannot decode ({type(e).__name__}: {e})")
        return
    yield _Event(index, count=n)


def decode_events(files: Sequence[Path], workers: int, window_seconds: float, depth: int,
                  processes: bool = False) -> Iterator[_Event]:
    """Windows of `files` as they are decoded by `workers` threads (0: in the caller's thread, in order), or
    by `workers` spawned processes.

    Each file's events come in order; files interleave. At most `depth` events wait in memory.
    """
    if workers == 0:
        for i, f in enumerate(files):
            yield from _decode_file(i, f, window_seconds)
        return
    if processes:
        yield from _decode_in_processes(files, workers, window_seconds, depth)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    todo = iter(enumerate(files))
    todo_lock = threading.Lock()

    def put(item: object) -> bool:
        while not stop.is_set():  # time out now and then, so a stopped consumer never strands a worker
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def work() -> None:
        try:
            while not stop.is_set():
                with todo_lock:
                    item = next(todo, None)
                if item is None:
                    return
                for event in _decode_file(item[0], item[1], window_seconds):
                    if not put(event):
                        return
        finally:
            put(_WORKER_DONE)

    threads = [threading.Thread(target=work, name=f"sam-decode-{k}", daemon=True) for k in range(workers)]
    for t in threads:
        t.start()
    try:
        running = len(threads)
        while running:
            item = q.get()
            if item is _WORKER_DONE:
                running -= 1
            else:
                yield item
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=1.0)


_PROCESS_DONE = "done"  # a worker process's last message (object identity does not cross processes)
_INT16_SCALE = 2.0**-15


def pack_samples(x: np.ndarray) -> np.ndarray:
    """Samples to send from a decoding process: as int16 when that is exact (16-bit audio that was not
    resampled or mixed), else unchanged. The driving process, which also feeds the GPU, receives and
    unpickles every window: 0.4-0.7 ms of its CPU a 10-s clip in float32, 0.2-0.3 ms as int16 including
    the conversion back (2-core VM). `unpack_samples` returns equal float32 values (scaling by a power of
    two is exact; a negative zero comes back as zero)."""
    if x.dtype != np.float32 or not x.size:
        return x
    s = x * np.float32(32768.0)
    q = np.rint(s)
    if not np.array_equal(q, s) or q.min() < -32768 or q.max() > 32767:
        return x
    return q.astype(np.int16)


def unpack_samples(x: np.ndarray) -> torch.Tensor:
    # numpy, not torch: a torch op this size fans out to torch's intra-op threads (one a core), which on a
    # 16-core machine busy with decoding processes cut `sam batch` from 807 to 322 clips/s.
    if x.dtype == np.int16:
        x = np.multiply(x, np.float32(_INT16_SCALE), dtype=np.float32)
    return torch.from_numpy(x)


def _process_main(tasks, results, window_seconds: float, parent: int) -> None:
    """A decoding process: files from `tasks`, events to `results` (windows as numpy arrays)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal reaches us too; the parent decides
    torch.set_num_threads(1)

    def orphaned() -> bool:
        if os.getppid() == parent:
            return False
        # Nobody reads `results` any more: exit without waiting to flush what is buffered for it.
        results.cancel_join_thread()
        return True

    def put(item: object) -> bool:
        while True:
            try:
                results.put(item, timeout=0.5)
                return True
            except queue.Full:
                if orphaned():
                    return False

    while True:
        try:
            item = tasks.get(timeout=0.5)
        except queue.Empty:
            if orphaned():
                return
            continue
        if item is None:
            break
        index, path = item
        for ev in _decode_file(index, Path(path), window_seconds):
            w = ev.window
            packed = None if w is None else (w.index, w.start, w.end, pack_samples(w.samples.numpy()))
            if not put(ev if w is None else ev._replace(window=packed)):
                return
    put(_PROCESS_DONE)


def _decode_in_processes(files: Sequence[Path], workers: int, window_seconds: float, depth: int) -> Iterator[_Event]:
    # spawn, never fork: the parent may hold a CUDA context and running threads.
    ctx = multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue(maxsize=depth)
    for item in enumerate(map(str, files)):
        tasks.put(item)
    for _ in range(workers):
        tasks.put(None)
    procs = [ctx.Process(target=_process_main, args=(tasks, results, window_seconds, os.getpid()),
                         name=f"sam-decode-{k}", daemon=True) for k in range(workers)]
    for p in procs:
        p.start()
    try:
        running = len(procs)
        while running:
            try:
                item = results.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise SamError(f"an audio decoding process died (exit code {dead[0].exitcode}); run the "
                                   "same command again to go on") from None
                continue
            if item == _PROCESS_DONE:
                running -= 1
                continue
            if item.window is not None:
                index, start, end, samples = item.window
                item = item._replace(window=A.AudioWindow(index, start, end, unpack_samples(samples)))
            yield item
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=2.0)
        for q in (tasks, results):
            q.cancel_join_thread()  # exit without waiting for undelivered items
            q.close()


# ---------------------------------------------------------------------------------------------------------
# The model side


def run_windows(model: SAM, wins: list[A.AudioWindow], ids: list[int], opts: DecodeOptions | None,
                timings: Timings | None) -> list[str]:
    """Answer the prompt `ids` for each window in one batch (what sam_cli.inference.iter_answers does)."""
    audio_embeds, _ = encode_windows(model, wins, timings)
    outs = generate(model, audio_embeds, [ids] * len(wins), opts, timings=timings)
    return [model.tokenizer.decode(o).strip() for o in outs]


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError)


class _ModelThread:
    """One long-lived thread that runs one call at a time (the model on a batch), so the caller can go on
    reading audio meanwhile. Errors are raised in the caller by `result()`. Leaving the `with` block waits
    for the batch in flight (its rows are not written after an error or Ctrl-C; a rerun redoes them)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.jobs: queue.Queue = queue.Queue()
        self.done: queue.Queue = queue.Queue(maxsize=1)
        self.busy = False
        self.thread = threading.Thread(target=self._work, name="sam-model", daemon=True)

    def __enter__(self) -> _ModelThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # The thread ends after the call in flight, if any, and is joined: a thread still inside torch when
        # the interpreter exits aborts the process (seen on CUDA: "terminate called without an active
        # exception", exit code 134 after every row was written). A second Ctrl-C stops the wait.
        self.jobs.put(None)
        self.thread.join()

    def _work(self) -> None:
        if self.device.type == "cuda":  # the current device is per thread
            torch.cuda.set_device(self.device)
        while (job := self.jobs.get()) is not None:
            fn, args = job
            try:
                self.done.put((True, fn(*args)))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                self.done.put((False, e))

    def start(self, fn: Callable, *args: object) -> None:
        assert not self.busy
        self.busy = True
        self.jobs.put((fn, args))

    def result(self) -> object:
        ok, value = self.done.get()
        self.busy = False
        if not ok:
            raise value
        return value


@dataclass
class _File:
    path: Path
    fp: Fingerprint
    segments: dict[int, Segment] = field(default_factory=dict)
    count: int | None = None  # number of windows, once decoding has finished
    finished: bool = False


class _Runner:
    def __init__(self, model: SAM, writer: Writer, base: Record, ids: list[int], opts: DecodeOptions | None,
                 batch_size: int, timings: Timings | None, batch_fn: BatchFn, progress: ProgressFn | None,
                 summary: BatchSummary, total: int):
        self.model, self.writer, self.base, self.ids, self.opts = model, writer, base, ids, opts
        self.batch_size, self.timings, self.batch_fn = batch_size, timings, batch_fn
        self.progress, self.summary, self.total = progress, summary, total
        self.t0 = time.perf_counter()
        self.unsynced = False
        self.in_flight: list[tuple[_File, A.AudioWindow]] = []

    def run(self, events: Iterator[_Event], files: list[_File]) -> None:
        """Read events and run full batches on the model thread: while it runs batch k, this thread takes
        the windows of batch k + 1 off the decoders and writes the rows batch k - 1 finished."""
        self._report()
        pending: list[tuple[_File, A.AudioWindow]] = []
        with _ModelThread(getattr(self.model, "device", torch.device("cpu"))) as model:
            for ev in events:
                f = files[ev.file]
                if ev.error is not None:
                    self._finish(f, {"error": ev.error})
                elif ev.window is not None:
                    pending.append((f, ev.window))
                    if len(pending) >= self.batch_size:
                        self._submit(model, pending)
                        pending = []
                else:
                    f.count = ev.count
                    self._maybe_finish(f)
                self._sync()
            if pending:
                self._submit(model, pending)
            self._collect(model)
            self._sync()

    def _submit(self, model: _ModelThread, pending: list[tuple[_File, A.AudioWindow]]) -> None:
        self._collect(model)  # one batch in flight at a time: rows are written in batch order
        pending = [(f, w) for f, w in pending if not f.finished]  # a file may have failed meanwhile
        model.start(self._infer, [w for _, w in pending])
        self.in_flight = pending

    def _collect(self, model: _ModelThread) -> None:
        if not model.busy:
            return
        texts = model.result()
        pending, self.in_flight = self.in_flight, []
        for (f, w), text in zip(pending, texts):
            if f.finished:
                continue
            if text is None:
                self._finish(f, {"error": "out of GPU memory even at batch size 1"})
                continue
            f.segments[w.index] = Segment(w.start, w.end, text)
            self._maybe_finish(f)

    def _infer(self, wins: list[A.AudioWindow]) -> list[str | None]:
        """Texts for `wins` in batches; on out-of-memory, halve the batch size and retry (None: even 1 fails)."""
        out: list[str | None] = []
        i = 0
        while i < len(wins):
            chunk = wins[i : i + self.batch_size]
            try:
                texts = self.batch_fn(self.model, chunk, self.ids, self.opts, self.timings)
            except Exception as e:
                if not _is_oom(e):
                    raise
                # Retried after leaving the except block, whose traceback still holds the failed tensors.
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if len(chunk) == 1:
                    out.append(None)
                    i += 1
                else:
                    self.batch_size = max(1, min(self.batch_size, len(chunk)) // 2)
                continue
            out += texts
            i += len(chunk)
            self.summary.windows += len(chunk)
        self.summary.batch_size = self.batch_size
        return out

    def _maybe_finish(self, f: _File) -> None:
        if f.finished or f.count is None or len(f.segments) < f.count:
            return
        segs = [f.segments[i] for i in range(f.count)]
        duration = round(segs[-1].end, 3)
        self.summary.audio_seconds += segs[-1].end
        self._finish(f, {
            "duration": duration, "task": self.base["task"], "prompt": self.base["prompt"],
            "text": " ".join(s.text for s in segs if s.text),
            "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for s in segs],
            "model": self.base["model"],
        })

    def _finish(self, f: _File, fields: Record) -> None:
        f.finished = True
        f.segments.clear()
        self.writer.write({"file": str(f.path), **fields, "size": f.fp.size, "mtime_ns": f.fp.mtime_ns})
        self.unsynced = True
        if "error" in fields:
            self.summary.failed += 1
        else:
            self.summary.done += 1
        self._report()

    def _sync(self) -> None:
        # One fsync per group of rows (those a batch finished): the rows survive a power cut too.
        if self.unsynced:
            os.fsync(self.writer.stream.fileno())
            self.unsynced = False

    def _report(self) -> None:
        if self.progress is None:
            return
        n = self.summary.done + self.summary.failed
        elapsed = time.perf_counter() - self.t0
        rate = n / elapsed if n and elapsed > 0 else 0.0
        eta = (self.total - n) / rate if rate > 0 else (0.0 if n >= self.total else math.nan)
        self.progress(n, self.total, rate, eta)


# ---------------------------------------------------------------------------------------------------------
# The runner


PROCESSES_FROM_FILES = 10_000  # below this, the processes' start-up (5-12 s measured) costs more than they save


@contextmanager
def _one_cpu_thread_per_op(on: bool) -> Iterator[None]:
    """With the model on a GPU, this process's CPU work is many small torch ops on audio (decoding threads,
    samples from decoding processes). Each would fan out to torch's intra-op threads, one a core, which then
    compete with the decoding threads and processes for the same cores; one thread an op is faster."""
    if not on:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def auto_processes(model: SAM, files: int) -> bool:
    """Decode in processes (not threads) when the model is on a GPU and the run is long enough: measured on
    an H200 (BENCHMARKS.md), 8 processes fed sam batch 806 clips/s against 473-482 with 8-16 threads, after
    5-12 s of start-up (which made a 1500-file run twice as long, so: from 10,000 files)."""
    device = getattr(model, "device", torch.device("cpu"))
    return device.type == "cuda" and files >= PROCESSES_FROM_FILES


def run_batch(model: SAM, inputs: Sequence[str | Path], output: str | Path, *,
              extensions: Sequence[str] = DEFAULT_EXTENSIONS, prompt: str | None = None,
              opts: DecodeOptions | None = None, batch_size: int = 8, workers: int = 2, processes: bool | None = None,
              shard: tuple[int, int] | None = None, retry_errors: bool = False,
              progress: ProgressFn | None = None, timings: Timings | None = None,
              task: str = "describe", model_name: str | None = None,
              batch_fn: BatchFn = run_windows) -> BatchSummary:
    """Caption every audio file in `inputs` (or answer `prompt` about it), resumably, into `output`.

    `output` is .jsonl / .json (one JSON object per line), .csv or .tsv; with a shard of several it becomes
    that shard's own file (see `shard_output`). `progress(files_done, files_total, clips_per_s, eta_s)`
    is called as files finish (counts cover this run's files; eta is nan until known). `batch_fn` runs
    one batch of windows (replaceable for tests). `task` and `model_name` are recorded in each row.
    Raises UsageError for bad arguments or an output made with another prompt, SamError for an output
    that is not ours; unreadable audio becomes error rows.
    """
    t0 = time.perf_counter()
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if workers < 0:
        raise UsageError("--workers cannot be negative")
    if shard is None:
        shard = shard_from_env()
    elif not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise UsageError(f"--shard {shard[0]}/{shard[1]}: I must be in 0..N-1")
    output = shard_output(Path(output), shard)
    fmt = format_from_path(output)
    if fmt not in READABLE_FORMATS:
        raise UsageError(f"{output}: `sam batch` writes .jsonl, .json, .csv or .tsv ({fmt} output cannot be resumed)")
    all_files = find_audio_files(inputs, extensions)
    if not all_files:
        raise UsageError(f"no audio files ({', '.join(extensions)}) found in {', '.join(map(str, inputs))}")
    paths = all_files[shard[0] :: shard[1]] if shard else all_files
    fps = {str(p): fingerprint(p) for p in paths}

    question = prompt if prompt is not None else model.cfg.describe_prompt
    base = {"task": task, "prompt": question,
            "model": model_name if model_name is not None else str(getattr(model, "name", ""))}
    options = {"kind": "caption", "extra_columns": EXTRA_COLUMNS} if fmt in ("csv", "tsv") else {}
    summary = BatchSummary(output=output, batch_size=batch_size)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SamError(f"{output.parent}: cannot create the output folder ({e.strerror or e})") from None
    with _locked(output):
        kept, done = plan_resume(read_records(output), fps, retry_errors)
        other = next((r for r in kept if r["file"] in done and r.get("prompt", question) != question), None)
        if other is not None:  # skipping its rows would mix two prompts' answers in one table
            raise UsageError(f"{output} holds answers to another prompt ({other['prompt']!r}); give another --output")
        todo = [_File(p, fps[str(p)]) for p in paths if str(p) not in done]
        summary.skipped = len(paths) - len(todo)
        summary.failed_before = sum(1 for r in kept if r["file"] in done and record_kind(r) == "error")
        writer = _rewrite(output, fmt, kept, options)
        try:
            if todo:
                runner = _Runner(model, writer, base, prompt_ids(model, question), opts, batch_size, timings,
                                 batch_fn, progress, summary, len(todo))
                if processes is None:
                    processes = auto_processes(model, len(todo))
                events = decode_events([f.path for f in todo], workers, model.cfg.window_seconds,
                                       depth=2 * batch_size + workers, processes=processes)
                try:
                    with _one_cpu_thread_per_op(model.device.type == "cuda"):
                        runner.run(events, todo)
                finally:
                    events.close()  # stops the decoding threads, also on Ctrl-C
        finally:
            writer.close()
    summary.seconds = time.perf_counter() - t0
    return summary
