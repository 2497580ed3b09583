"""`sam batch`: a folder of audio in, one resumable results file out."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from sam_cli.cli.common import DeviceOpt, DtypeOpt, MaxTokOpt, ModelOpt, PruneByOpt, PruneOpt, StateOpt, StatsOpt, _apply, app, decode_options, err_console, handle_errors, load, model_name, print_stats
from sam_cli.errors import UsageError


@app.command()
@handle_errors
def batch(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(help="Folders (searched recursively) and/or files.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Results file: .jsonl, .csv or .tsv. Rows are "
                                         "appended as clips finish; a rerun resumes.")] = Path("results.jsonl"),
    ext: Annotated[Optional[str], typer.Option("--ext", help="Comma-separated extensions to include "
                                               "(default: common audio formats).", show_default=False)] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Override the instruction.",
                                                  show_default=False)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Windows per model batch.")] = 8,
    workers: Annotated[int, typer.Option("--workers", "-j", min=0, help="Background audio decoding workers.")] = 2,
    processes: Annotated[Optional[bool], typer.Option("--processes/--threads", help="Decode audio in worker "
                         "processes or threads. Default: processes on a GPU for 10000 files or more (faster there "
                         "after a few seconds of start-up), else threads.", show_default=False)] = None,
    shard: Annotated[Optional[str], typer.Option("--shard", help="I/N: process the I-th of N shares of the files "
                                                 "(0-based). Under torchrun, picked up from RANK/WORLD_SIZE.",
                                                 show_default=False)] = None,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Redo files that failed last time.")] = False,
    max_tokens: MaxTokOpt = 96,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    stats: StatsOpt = False,
    state_dtype: StateOpt = None,
    prune_tokens: PruneOpt = None,
    prune_by: PruneByOpt = None,
) -> None:
    """Caption every audio file under folders, resumably, into one results file."""
    from sam_cli.batch.files import DEFAULT_EXTENSIONS, parse_shard
    from sam_cli.batch.runner import run_batch
    from sam_cli.decoding.options import Timings

    s = _apply(ctx, model, device, dtype, stats, state_dtype, prune_tokens, prune_by)
    for i in inputs:
        if not Path(i).exists():
            raise UsageError(f"{i}: no such file or folder")
    shard_t = parse_shard(shard) if shard else None
    local_rank = os.environ.get("LOCAL_RANK")
    if local_rank is not None and s.device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():  # under torchrun: one GPU per process
            s.device = f"cuda:{int(local_rank)}"
    exts = tuple(e.strip().lower().lstrip(".") for e in ext.split(",") if e.strip()) if ext else DEFAULT_EXTENSIONS
    threads = _model_thread_gets_torch_threads(s.device)
    model_, load_s = load(s)
    timings = Timings()
    t0 = time.perf_counter()
    progress = None if s.quiet else BatchProgress()
    try:
        summary = run_batch(model_, inputs, output, extensions=exts, prompt=prompt,
                            opts=decode_options(s, max_tokens, 0.0, 0, 1.0, None), batch_size=batch_size,
                            workers=workers, processes=processes, shard=shard_t, retry_errors=retry_errors,
                            progress=progress, timings=timings, model_name=model_name(s), threads=threads)
    finally:
        if progress:
            progress.close()
    if summary.batch_size < batch_size:
        s.log(f"note: the GPU ran out of memory; batch size went down to {summary.batch_size}")
    # Error rows of earlier runs are in the output but not done: counted apart from the skipped results.
    earlier = summary.failed_before
    s.log(f"{summary.done} done, {summary.skipped - earlier} already done, {summary.failed} failed -> {summary.output}")
    print_stats(s, load_s, timings, getattr(summary, "audio_seconds", 0.0), time.perf_counter() - t0)
    if summary.failed or earlier:
        if earlier:
            s.log(f"{earlier} {'file' if earlier == 1 else 'files'} failed in an earlier run (use --retry-errors "
                "to retry them)")
        raise typer.Exit(1)


def _model_thread_gets_torch_threads(device: str | None) -> int | None:
    """On the CPU, before the model loads: this thread takes one torch thread, so it never starts an OpenMP team
    beside the model thread's (accel/threads.py; with both, sam-tiny's batch ran at 13.5 clips/s instead of 16.1
    on 2 cores: BENCHMARKS.md); -> the count for the model thread. None on a GPU, whose model thread takes one."""
    import torch

    from sam_cli import resolve_device
    from sam_cli.accel.threads import set_torch_threads

    if resolve_device(device).type != "cpu":
        return None
    threads = torch.get_num_threads()
    set_torch_threads(1)
    return threads


class BatchProgress:
    """files done, clips/s and ETA on stderr, redrawn in place on a terminal, a line every few s otherwise."""

    def __init__(self):
        self.console = err_console()
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int, rate: float, eta: float) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 5 and done < total:
            return
        self.last = now
        eta_txt = f"{int(eta // 60)}:{int(eta % 60):02d}" if eta == eta and eta < 1e9 else "?"
        line = f"{done}/{total} files  {rate:.1f} clips/s  ETA {eta_txt}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
            sys.stderr.flush()
        else:
            self.console.print(line, markup=False)

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
