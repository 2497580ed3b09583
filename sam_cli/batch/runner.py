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
  one header). A lock file (`.results.jsonl.lock`, beside the output's real path, symlinks resolved, never
  deleted) stops two runs from writing the same output at once: the second refuses with a one-line error.
  An output given through a symlink is written through it: the link's target is rewritten, the link kept.
- A failed write (disk full, quota) stops the run with a one-line error: the rows already written are kept
  and the rewrite's temp file removed, so a rerun with space resumes.
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
- torch's CPU threads: the model thread has the process's threads (on a GPU: one), the main thread and the
  decoding threads one each while the run lasts (accel/threads.py says why: a second OpenMP team made
  libgomp stop spinning between parallel regions, and the CPU model slow).
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from sam_cli import audio as A
from sam_cli.accel.threads import set_torch_threads
from sam_cli.batch.files import DEFAULT_EXTENSIONS, find_audio_files, shard_from_env, shard_output
from sam_cli.batch.ledger import (
    EXTRA_COLUMNS,
    Fingerprint,
    fingerprint,
    locked,
    plan_resume,
    real_output,
    rewrite,
    write_error,
)
from sam_cli.batch.workers import Event, decode_events
from sam_cli.decoding.options import DecodeOptions, Timings
from sam_cli.errors import SamError, UsageError
from sam_cli.models.sam import SAM
from sam_cli.tasks import Segment, answer_windows, prompt_ids
from sam_cli.writers import (
    READABLE_FORMATS,
    Record,
    Writer,
    caption_record,
    error_record,
    format_from_path,
    read_records,
    record_kind,
)

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


def run_windows(model: SAM, wins: list[A.AudioWindow], ids: list[int], opts: DecodeOptions | None,
                timings: Timings | None) -> list[str]:
    """Answer the prompt `ids` for each window in one batch (as sam_cli.tasks.iter_answers does)."""
    return answer_windows(model, wins, [ids] * len(wins), opts, timings)


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError)


class _ModelThread:
    """One long-lived thread that runs one call at a time (the model on a batch), so the caller can go on
    reading audio meanwhile. Errors are raised in the caller by `result()`. Leaving the `with` block waits
    for the batch in flight (its rows are not written after an error or Ctrl-C; a rerun redoes them)."""

    def __init__(self, device: torch.device, threads: int):
        self.device, self.threads = device, threads  # torch's CPU threads on this thread
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
        set_torch_threads(self.threads)
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
        self.write_failed = False  # set when writing a row failed (e.g. disk full): run_batch reports it
        self.in_flight: list[tuple[_File, A.AudioWindow]] = []

    def run(self, events: Iterator[Event], files: list[_File], threads: int) -> None:
        """Read events and run full batches on the model thread (with `threads` torch CPU threads): while it runs
        batch k, this thread takes the windows of batch k + 1 off the decoders and writes the rows batch k - 1
        finished."""
        self._report()
        pending: list[tuple[_File, A.AudioWindow]] = []
        with _ModelThread(getattr(self.model, "device", torch.device("cpu")), threads) as model:
            for ev in events:
                f = files[ev.file]
                if ev.error is not None:
                    self._finish(f, error_record(str(f.path), ev.error))
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
                self._finish(f, error_record(str(f.path), "out of GPU memory even at batch size 1"))
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
        self.summary.audio_seconds += segs[-1].end
        self._finish(f, caption_record(str(f.path), segs, **self.base))

    def _finish(self, f: _File, record: Record) -> None:
        f.finished = True
        f.segments.clear()
        self.write_failed = True  # until the row is written (an OSError from here is the output's)
        self.writer.write({**record, "size": f.fp.size, "mtime_ns": f.fp.mtime_ns})
        self.write_failed = False
        self.unsynced = True
        if "error" in record:
            self.summary.failed += 1
        else:
            self.summary.done += 1
        self._report()

    def _sync(self) -> None:
        # One fsync per group of rows (those a batch finished): the rows survive a power cut too.
        if self.unsynced:
            self.write_failed = True
            os.fsync(self.writer.stream.fileno())
            self.write_failed = False
            self.unsynced = False

    def _report(self) -> None:
        if self.progress is None:
            return
        n = self.summary.done + self.summary.failed
        elapsed = time.perf_counter() - self.t0
        rate = n / elapsed if n and elapsed > 0 else 0.0
        eta = (self.total - n) / rate if rate > 0 else (0.0 if n >= self.total else math.nan)
        self.progress(n, self.total, rate, eta)


PROCESSES_FROM_FILES = 10_000  # below this, the processes' start-up costs more than they save


@contextmanager
def _one_cpu_thread_per_op(model_on_gpu: bool, threads: int | None) -> Iterator[int]:
    """This (the main) thread's torch ops on one CPU thread while the run lasts; -> the model thread's count:
    on the CPU `threads`, else the count before. A second OpenMP team slows the CPU model down (accel/threads.py;
    best avoided from the start: `sam batch` gives the main thread one before it loads the model). With the model
    on a GPU, this process's CPU work is many small torch ops on audio (decoding threads, samples from decoding
    processes): each would fan out to torch's intra-op threads, one a core, which then compete with the decoding
    threads and processes for the same cores; one thread an op is faster, on the model thread too."""
    before = torch.get_num_threads()
    set_torch_threads(1)
    try:
        yield 1 if model_on_gpu else threads or before
    finally:
        torch.set_num_threads(before)


def auto_processes(model: SAM, files: int) -> bool:
    """Decode in processes (not threads) when the model is on a GPU and the run is long enough: processes feed a
    fast GPU faster than threads, after seconds of start-up that only a long run earns back (BENCHMARKS.md)."""
    device = getattr(model, "device", torch.device("cpu"))
    return device.type == "cuda" and files >= PROCESSES_FROM_FILES


def run_batch(model: SAM, inputs: Sequence[str | Path], output: str | Path, *,
              extensions: Sequence[str] = DEFAULT_EXTENSIONS, prompt: str | None = None,
              opts: DecodeOptions | None = None, batch_size: int = 8, workers: int = 2, processes: bool | None = None,
              shard: tuple[int, int] | None = None, retry_errors: bool = False,
              progress: ProgressFn | None = None, timings: Timings | None = None,
              task: str = "describe", model_name: str | None = None,
              batch_fn: BatchFn = run_windows, threads: int | None = None) -> BatchSummary:
    """Caption every audio file in `inputs` (or answer `prompt` about it), resumably, into `output`.

    `output` is .jsonl / .json (one JSON object per line), .csv or .tsv; with a shard of several it becomes
    that shard's own file (see `shard_output`). `progress(files_done, files_total, clips_per_s, eta_s)`
    is called as files finish (counts cover this run's files; eta is nan until known). `batch_fn` runs
    one batch of windows (replaceable for tests). `task` and `model_name` are recorded in each row. `threads`:
    torch's CPU threads for the model's thread on the CPU (default: this thread's count), this thread and the
    decoding threads taking one each while the run lasts.
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
    real = real_output(output)  # a symlink's target: one lock and one ledger per real file, the link kept
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SamError(f"{real.parent}: cannot create the output folder ({e.strerror or e})") from None
    with locked(real, output):
        kept, done = plan_resume(read_records(real, fmt), fps, retry_errors)
        other = next((r for r in kept if r["file"] in done and r.get("prompt", question) != question), None)
        if other is not None:  # skipping its rows would mix two prompts' answers in one table
            raise UsageError(f"{output} holds answers to another prompt ({other['prompt']!r}); give another --output")
        todo = [_File(p, fps[str(p)]) for p in paths if str(p) not in done]
        summary.skipped = len(paths) - len(todo)
        summary.failed_before = sum(1 for r in kept if r["file"] in done and record_kind(r) == "error")
        writer = rewrite(real, fmt, kept, options, shown=output)
        try:
            if todo:
                runner = _Runner(model, writer, base, prompt_ids(model, question), opts, batch_size, timings,
                                 batch_fn, progress, summary, len(todo))
                if processes is None:
                    processes = auto_processes(model, len(todo))
                events = decode_events([f.path for f in todo], workers, model.cfg.window_seconds,
                                       depth=2 * batch_size + workers, processes=processes)
                try:
                    with _one_cpu_thread_per_op(model.device.type == "cuda", threads) as model_threads:
                        runner.run(events, todo, model_threads)
                except OSError as e:
                    if not runner.write_failed:
                        raise
                    raise write_error(output, e, "the rows written so far are kept; rerun to resume") from None
                finally:
                    events.close()  # stops the decoding threads, also on Ctrl-C
        except BaseException:
            try:
                writer.close()
            except OSError:
                pass  # the write that failed is already reported (a full disk fails the flush again)
            raise
        try:
            writer.close()
        except OSError as e:
            raise write_error(output, e, "the rows written so far are kept; rerun to resume") from None
    summary.seconds = time.perf_counter() - t0
    return summary
