"""Decoding audio files into windows in the background: threads, or spawned worker processes."""

from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
from multiprocessing.connection import wait as connection_wait
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch

from sam_cli import audio as A
from sam_cli.accel.threads import set_torch_threads
from sam_cli.errors import AudioError, SamError


class Event(NamedTuple):
    file: int
    window: A.AudioWindow | None = None  # one more window of the file...
    count: int | None = None  # ...or the end of it, with its number of windows...
    error: str | None = None  # ...or why it cannot be read


_WORKER_DONE = object()


def _decode_file(index: int, path: Path, window_seconds: float) -> Iterator[Event]:
    n = 0
    try:
        for w in A.iter_windows(path, window_seconds=window_seconds):
            yield Event(index, window=w)
            n += 1
    except AudioError as e:
        yield Event(index, error=str(e).removeprefix(f"{path}: "))  # the row names the file already
        return
    except Exception as e:  # noqa: BLE001 - one odd file must not end a long run
        yield Event(index, error=f"cannot decode ({type(e).__name__}: {e})")
        return
    yield Event(index, count=n)


def _put_unless(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put `item` on the bounded `q` unless `stop` is set first (False then). Times out now and then to look
    at `stop`, so a consumer that went away never strands the producer."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            pass
    return False


def decode_events(files: Sequence[Path], workers: int, window_seconds: float, depth: int,
                  processes: bool = False) -> Iterator[Event]:
    """Windows of `files` as they are decoded by `workers` threads (0: in the caller's thread, in order), or
    by `workers` spawned processes.

    Each file's events come in order; files interleave. At most `depth` events wait in memory (with
    processes: depth // workers in each, at least one).
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
        return _put_unless(q, item, stop)

    def work() -> None:
        set_torch_threads(1)  # the model's thread keeps torch's CPU threads (accel/threads.py says why)
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


def _process_main(tasks, results, window_seconds: float, ahead: int) -> None:
    """A decoding process: (index, path) tasks from the `tasks` pipe, each answered on `results` by the file's
    events (windows as numpy arrays) and then `_FILE_DONE`; None ends it, and so does a closed pipe (the parent
    is gone). A thread sends, so that decoding goes on while the parent is busy: at most `ahead` events wait."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal reaches us too; the parent decides
    torch.set_num_threads(1)
    out: queue.Queue = queue.Queue(maxsize=ahead)
    broken = threading.Event()

    def send() -> None:
        try:
            while (item := out.get()) is not None:
                results.send(item)
        except OSError:  # the parent closed its end or died: nobody reads what we decode
            broken.set()

    def put(item: object) -> bool:
        return _put_unless(out, item, broken)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        while (item := tasks.recv()) is not None:
            index, path = item
            for ev in _decode_file(index, Path(path), window_seconds):
                w = ev.window
                packed = None if w is None else (w.index, w.start, w.end, pack_samples(w.samples.numpy()))
                if not put(ev if w is None else ev._replace(window=packed)):
                    return
            if not put(_FILE_DONE):
                return
    except (EOFError, OSError):
        return
    if put(None):
        sender.join()


def _start_deaf(p) -> None:
    """Start `p` with SIGINT ignored, which it keeps through exec (a blocked mask it would not): a terminal's
    Ctrl-C reaches the whole process group, and a child still importing, before `_process_main` ignores SIGINT
    itself, would die with a traceback. The parent blocks SIGINT meanwhile, so its own Ctrl-C waits, not lost."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        p.start()
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        p.start()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if handler is None else handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


_FILE_DONE = "file done"  # object identity does not cross processes
_FILES_AHEAD = 2  # files given to a process before it finishes its current one, so it never waits for work


def _decode_in_processes(files: Sequence[Path], workers: int, window_seconds: float, depth: int) -> Iterator[Event]:
    # spawn, never fork: the parent may hold a CUDA context and running threads. Two pipes a process (tasks
    # in, events out), not multiprocessing.Queues: a Queue's named semaphores go through the resource tracker,
    # which warned of a "leaked semaphore" on stderr when Ctrl-C ended a run while they were being released.
    # A pipe also bounds what waits in memory: a process's sending thread blocks until the parent reads.
    ctx = multiprocessing.get_context("spawn")
    todo = iter(enumerate(map(str, files)))
    peers: dict = {}  # a process's results pipe (what we read) -> (its tasks pipe, the process)
    try:
        for k in range(min(workers, len(files))):
            task_r, task_w = ctx.Pipe(duplex=False)
            res_r, res_w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_process_main, args=(task_r, res_w, window_seconds, max(1, depth // workers)),
                            name=f"sam-decode-{k}", daemon=True)
            _start_deaf(p)
            task_r.close()
            res_w.close()
            peers[res_r] = (task_w, p)
        given = dict.fromkeys(peers, 0)  # files given and not yet finished, per process

        def died(conn) -> SamError:
            p = peers[conn][1]
            p.join(timeout=1.0)
            return SamError(f"an audio decoding process died (exit code {p.exitcode}); run the same command "
                            "again to go on")

        def give(conn) -> None:
            tasks = peers[conn][0]
            try:
                while given[conn] < _FILES_AHEAD and (item := next(todo, None)) is not None:
                    tasks.send(item)
                    given[conn] += 1
                if not given[conn]:
                    tasks.send(None)  # no more files: the process ends
                    del given[conn]
            except OSError:
                raise died(conn) from None

        for conn in peers:
            give(conn)
        while given:
            for conn in connection_wait(list(given), timeout=1.0):
                try:
                    item = conn.recv()
                except (EOFError, OSError):
                    raise died(conn) from None
                if item == _FILE_DONE:
                    given[conn] -= 1
                    give(conn)
                    continue
                if item.window is not None:
                    index, start, end, samples = item.window
                    item = item._replace(window=A.AudioWindow(index, start, end, unpack_samples(samples)))
                yield item
    finally:
        for _, p in peers.values():
            p.terminate()
        for conn, (tasks, p) in peers.items():
            p.join(timeout=2.0)
            conn.close()
            tasks.close()
