"""The `sam` command line: a thin Typer layer over the Python API and the writers.

Results go to stdout; progress, logs and errors to stderr. A SamError becomes one line on stderr and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from sam_cli import __version__
from sam_cli.errors import SamError, UsageError
from sam_cli.writers import EXTENSIONS, FORMATS, SUBTITLE_FORMATS

app = typer.Typer(
    name="sam",
    help="Caption, tag and ask questions about audio, locally, with SAM (EAT encoder + Mamba-2 LM).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


@dataclass
class Settings:
    """Options shared by every command; set on `sam` itself or on the command (the command wins)."""

    model: Optional[str] = None
    device: str = "auto"
    dtype: str = "auto"
    quiet: bool = False
    verbose: bool = False
    stats: bool = False
    state_dtype: str | None = None  # None: DecodeOptions' default


_settings = Settings()


def err_console() -> Console:
    # soft_wrap: an error is one line however narrow the terminal, so scripts can grep it.
    return Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")) or None, highlight=False, soft_wrap=True)


def log(msg: str) -> None:
    if not _settings.quiet:
        err_console().print(msg, markup=False)


def debug(msg: str) -> None:
    if _settings.verbose:
        err_console().print(msg, markup=False, style="dim")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console().print(f"sam: error: {message}", markup=False, style="red")
    return typer.Exit(code)


def handle_errors(fn):
    """Turn user errors and Ctrl-C into one line on stderr and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SamError as e:
            raise fail(str(e), e.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except BrokenPipeError:  # `sam describe … | head`
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper


# --- shared options --------------------------------------------------------------------------------------
ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", "-m", help="Hub id[@revision], local folder, or bundled model name. Default: $SAM_MODEL, "
    "else the bundled model.", show_default=False)]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda or cuda:N.", show_default=False)]
DtypeOpt = Annotated[Optional[str], typer.Option("--dtype", help="auto (bf16 on GPU, fp32 on CPU), float32, "
                                                 "bfloat16, float16.", show_default=False)]
StatsOpt = Annotated[bool, typer.Option("--stats", help="Print timings (load, encode, prefill, decode, "
                                        "real-time factor) on stderr.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="Output format: text, json, jsonl, csv, tsv, or "
                                        "srt / vtt subtitles (describe, ask).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Same as --format json: one JSON object per clip.")]
OutDirOpt = Annotated[Optional[Path], typer.Option("--output-dir", "-o", help="Write one result file per input "
                                                   "into this folder instead of stdout.", show_default=False)]
MaxTokOpt = Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens to generate per window.")]
TempOpt = Annotated[float, typer.Option("--temperature", min=0.0, help="0 = greedy (as the paper).")]
TopKOpt = Annotated[int, typer.Option("--top-k", min=0, help="Sample from the k most likely tokens (0 = off).")]
TopPOpt = Annotated[float, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling mass (1 = off).")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed for sampling.", show_default=False)]
StateOpt = Annotated[Optional[str], typer.Option(
    "--state-dtype", help="GPU decoding's recurrent state: model (default: the weights' dtype, as mamba_ssm "
    "keeps it; 1.3-1.4x faster at large batches) or fp32 (exact, as on the CPU; answers may differ slightly).",
    show_default=False)]
MicOpt = Annotated[Optional[float], typer.Option("--mic", help="Record this many seconds from the microphone "
                                                 "instead of reading a file.", show_default=False)]


def _apply(model: str | None = None, device: str | None = None, dtype: str | None = None,
           stats: bool = False, state_dtype: str | None = None) -> Settings:
    if state_dtype is not None:
        from sam_cli.generate import STATE_DTYPES

        if state_dtype not in STATE_DTYPES:
            raise fail(f"--state-dtype {state_dtype}: use one of {', '.join(STATE_DTYPES)}", 2)
        _settings.state_dtype = state_dtype
    if model is not None:
        _settings.model = model
    if device is not None:
        _settings.device = device
    if dtype is not None:
        _settings.dtype = dtype
    _settings.stats = _settings.stats or stats
    return _settings


def _version(value: bool) -> None:
    if value:
        print(f"sam {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail on stderr.")] = False,
    stats: StatsOpt = False,
    state_dtype: StateOpt = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Caption, tag and ask questions about audio, locally."""
    _settings.__init__()  # a fresh start per invocation (tests call the app repeatedly)
    _settings.model = model or os.environ.get("SAM_MODEL")
    _settings.quiet, _settings.verbose = quiet, verbose
    _apply(None, device, dtype, stats, state_dtype)


# --- model loading and stats -----------------------------------------------------------------------------
def load(settings: Settings):
    import sam_cli

    t0 = time.perf_counter()
    model = sam_cli.load_model(settings.model, device=settings.device, dtype=settings.dtype)
    load_s = time.perf_counter() - t0
    debug(f"model loaded in {load_s:.2f} s on {model.device} ({model.dtype})")
    return model, load_s


def print_stats(load_s: float, timings, audio_seconds: float, wall_s: float) -> None:
    if not _settings.stats:
        return
    tok_s = timings.new_tokens / timings.decode_s if timings.decode_s > 0 else 0.0
    rtf = wall_s / audio_seconds if audio_seconds > 0 else 0.0
    # Building and capturing CUDA graphs is paid once a process; the phases above leave it out.
    warm = sum(timings.extra.get(k, 0.0) for k in ("graph_build_s", "prefill_capture_s", "encode_capture_s"))
    err_console().print(
        f"load {load_s:.2f} s | encode {timings.encode_s * 1e3:.0f} ms | prefill {timings.prefill_s * 1e3:.0f} ms"
        f" | decode {timings.new_tokens} tokens, {tok_s:.1f} tok/s"
        + (f" | GPU warm-up {warm:.2f} s" if warm else "")
        + f" | audio {audio_seconds:.2f} s, real-time factor {rtf:.3f}", markup=False)


def decode_options(max_tokens: int, temperature: float, top_k: int, top_p: float, seed: int | None):
    from sam_cli.generate import DecodeOptions

    state = {"state_dtype": _settings.state_dtype} if _settings.state_dtype else {}
    return DecodeOptions(max_new_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                         **state)


# --- inputs ----------------------------------------------------------------------------------------------
@dataclass
class Clip:
    name: str  # what the user called it ("-" for stdin, "mic")
    source: object  # a Path, bytes, or a waveform tensor


def collect_inputs(files: list[str], mic: float | None) -> list[Clip]:
    if mic is not None:
        if files:
            raise UsageError("give either files or --mic, not both")
        from sam_cli.mic import record

        log(f"recording {mic:g} s from the microphone …")
        return [Clip("mic", record(mic))]
    if not files:
        raise UsageError("no input: give audio files, '-' for stdin, or --mic SECONDS")
    clips = []
    for f in files:
        if f == "-":
            data = sys.stdin.buffer.read()
            if not data:
                raise UsageError("stdin ('-') is empty")
            clips.append(Clip("-", data))
            continue
        p = Path(f)
        if p.is_dir():
            raise UsageError(f"{f}: is a directory (use `sam batch {f}` for folders)")
        if not p.exists():
            raise UsageError(f"{f}: no such file")
        clips.append(Clip(f, p))
    return clips


def clip_duration(source) -> float:
    from sam_cli import audio as A

    if isinstance(source, Path):
        return A.audio_info(source)[0]
    if isinstance(source, bytes):
        return A.duration(A.load_audio(source))
    return A.duration(source)


def output_format(fmt: str, json_flag: bool, *, timed: bool = True, clips: int = 1,
                  output_dir: Path | None = None) -> str:
    """The --format value, checked. srt / vtt need timed captions (`timed`) and one file per clip."""
    fmt = "json" if json_flag else fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt in SUBTITLE_FORMATS and not timed:
        raise UsageError(f"--format {fmt} holds timed captions (describe, ask); use text, json, jsonl, csv or tsv")
    if fmt in SUBTITLE_FORMATS and clips > 1 and output_dir is None:
        raise UsageError(f"--format {fmt} makes one subtitle file per clip: give --output-dir DIR for "
                         f"{clips} inputs")
    return fmt


class Sink:
    """Where records go: stdout (one writer for all clips) or one file per clip under --output-dir."""

    def __init__(self, fmt: str, output_dir: Path | None, many: bool):
        from sam_cli.writers import get_writer

        self.fmt, self.output_dir = fmt, output_dir
        self.writer = None
        if output_dir is None:
            self.writer = get_writer(fmt, sys.stdout, multi=many)
        else:
            output_dir.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        from sam_cli.writers import get_writer

        if self.writer is not None:
            self.writer.write(record)
            return
        name = Path(record["file"]).stem if record["file"] not in ("-", "mic") else record["file"].strip("-") or "stdin"
        path = self.output_dir / f"{name}.{EXTENSIONS[self.fmt]}"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = get_writer(self.fmt, fh, multi=False)
            w.write(record)
            w.close()
        log(f"wrote {path}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run_generation(task: str, files: list[str], prompt: str | None, mic: float | None, fmt: str,
                   output_dir: Path | None, opts) -> None:
    from sam_cli.generate import Timings
    from sam_cli.inference import iter_answers
    from sam_cli.writers import format_time

    clips = collect_inputs(files, mic)
    model, load_s = load(_settings)
    question = prompt or model.cfg.describe_prompt
    timings = Timings()
    t0 = time.perf_counter()
    audio_total = 0.0
    sink = Sink(fmt, output_dir, many=len(clips) > 1)
    # Stream tokens to a terminal as they are decoded; pipes and files get whole records.
    stream = fmt == "text" and output_dir is None and sys.stdout.isatty()
    failed = 0
    try:
        for clip in clips:
            try:
                duration = clip_duration(clip.source)
                audio_total += duration
                segments = []
                if stream:
                    prefix = f"{clip.name}: " if len(clips) > 1 else ""
                    multi = duration > model.cfg.window_seconds
                    for seg in iter_answers(model, clip.source, question, opts, batch_size=1, timings=timings,
                                            on_token=lambda _i, piece: (sys.stdout.write(piece), sys.stdout.flush())
                                            if not multi else None):
                        if multi:
                            sys.stdout.write(f"{prefix}[{format_time(seg.start)} → {format_time(seg.end)}] {seg.text}")
                        sys.stdout.write("\n")
                        sys.stdout.flush()
                        segments.append(seg)
                    continue
                segments = list(iter_answers(model, clip.source, question, opts, timings=timings))
                sink.write({
                    "file": clip.name, "duration": round(duration, 3), "task": task, "prompt": question,
                    "text": " ".join(s.text for s in segments).strip(),
                    "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for s in segments],
                    "model": model_name(),
                })
            except SamError as e:
                if len(clips) == 1:
                    raise
                failed += 1
                err_console().print(f"sam: error: {e}", markup=False, style="red")
    finally:
        sink.close()
    print_stats(load_s, timings, audio_total, time.perf_counter() - t0)
    if failed:
        raise typer.Exit(1)


def model_name() -> str:
    from sam_cli.hub import DEFAULT_MODEL

    return _settings.model or DEFAULT_MODEL


# --- commands --------------------------------------------------------------------------------------------
@app.command()
@handle_errors
def describe(
    files: Annotated[Optional[list[str]], typer.Argument(help="Audio files, or '-' to read audio from stdin.",
                                                         show_default=False)] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Override the instruction.",
                                                  show_default=False)] = None,
    mic: MicOpt = None,
    fmt: FormatOpt = "text",
    json_: JsonOpt = False,
    output_dir: OutDirOpt = None,
    max_tokens: MaxTokOpt = 96,
    temperature: TempOpt = 0.0,
    top_k: TopKOpt = 0,
    top_p: TopPOpt = 1.0,
    seed: SeedOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    stats: StatsOpt = False,
) -> None:
    """Caption audio files (long audio: one caption per 10.24 s window, with timestamps)."""
    _apply(model, device, dtype, stats)
    fmt = output_format(fmt, json_, clips=len(files or []) + (mic is not None), output_dir=output_dir)
    run_generation("describe", files or [], prompt, mic, fmt, output_dir,
                   decode_options(max_tokens, temperature, top_k, top_p, seed))


@app.command()
@handle_errors
def ask(
    file: Annotated[Optional[str], typer.Argument(help="Audio file, or '-' for stdin (omit with --mic).",
                                                  show_default=False)] = None,
    question: Annotated[Optional[str], typer.Argument(help="The question, e.g. \"Is there a dog?\"",
                                                      show_default=False)] = None,
    choices: Annotated[Optional[str], typer.Option("--choices", "-c", help="Comma-separated answers to choose "
                                                   "from (scored, not generated: each as the whole answer, also "
                                                   "spelt as the model writes answers, \"twice\" as "
                                                   "\"Twice.\").", show_default=False)] = None,
    mic: MicOpt = None,
    fmt: FormatOpt = "text",
    json_: JsonOpt = False,
    output_dir: OutDirOpt = None,
    max_tokens: MaxTokOpt = 96,
    temperature: TempOpt = 0.0,
    top_k: TopKOpt = 0,
    top_p: TopPOpt = 1.0,
    seed: SeedOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    stats: StatsOpt = False,
) -> None:
    """Answer a question about an audio file."""
    _apply(model, device, dtype, stats)
    if mic is not None and question is None:
        file, question = None, file  # `sam ask --mic 5 "Is there a dog?"`
    if question is None or not question.strip():
        raise UsageError("give a question: sam ask FILE \"QUESTION\"")
    fmt = output_format(fmt, json_, timed=choices is None)
    files = [file] if file else []
    if choices is None:
        run_generation("ask", files, question, mic, fmt, output_dir,
                       decode_options(max_tokens, temperature, top_k, top_p, seed))
        return
    from sam_cli.generate import Timings
    from sam_cli.inference import choose

    options = [c for c in choices.split(",")]
    if len([c for c in options if c.strip()]) < 2:
        raise UsageError("--choices needs at least two comma-separated choices")
    clips = collect_inputs(files, mic)
    model_, load_s = load(_settings)
    timings, t0 = Timings(), time.perf_counter()
    ranked = choose(model_, clips[0].source, question, options, timings=timings)
    sink = Sink(fmt, output_dir, many=False)
    sink.write({"file": clips[0].name, "task": "choose", "prompt": question, "answer": ranked[0][0],
                "choices": [{"choice": c, "prob": round(p, 4)} for c, p in ranked], "model": model_name()})
    sink.close()
    print_stats(load_s, timings, clip_duration(clips[0].source), time.perf_counter() - t0)


def read_labels(spec: str) -> list[str]:
    p = Path(spec)
    if p.is_file():
        labels = [line.strip() for line in p.read_text(encoding="utf-8", errors="replace").splitlines()]
        labels = [l for l in labels if l and not l.startswith("#")]
        if not labels:
            raise UsageError(f"{spec}: the label file is empty")
        return labels
    if p.suffix in (".txt", ".csv", ".lst") and not p.exists():
        raise UsageError(f"{spec}: no such label file")
    labels = [l.strip() for l in spec.split(",") if l.strip()]
    if not labels:
        raise UsageError("--labels is empty")
    return labels


@app.command()
@handle_errors
def classify(
    files: Annotated[Optional[list[str]], typer.Argument(help="Audio files, or '-' for stdin.",
                                                         show_default=False)] = None,
    labels: Annotated[Optional[str], typer.Option("--labels", "-l", help="Comma-separated labels, or a file with "
                                                  "one label per line, scored by the LM as an item of its answer "
                                                  "to the classification prompt (first, or after a comma of the "
                                                  "list it writes; \"dog\" also as \"Dog\"). "
                                                  "Default: the encoder's "
                                                  "own AudioSet head, or, for a model without one (sam-tiny), the "
                                                  "tags the model writes, scored by the share of windows that "
                                                  "name them.", show_default=False)] = None,
    top_k: Annotated[int, typer.Option("--top", "-k", min=1, help="How many tags to show.")] = 5,
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Instruction for scoring --labels, or for "
                                                  "the written tags.",
                                                  show_default=False)] = None,
    mic: MicOpt = None,
    fmt: FormatOpt = "text",
    json_: JsonOpt = False,
    output_dir: OutDirOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    stats: StatsOpt = False,
) -> None:
    """Tag audio: top-k labels with scores."""
    from sam_cli.generate import Timings
    from sam_cli.inference import classify as classify_

    _apply(model, device, dtype, stats)
    fmt = output_format(fmt, json_, timed=False)
    label_list = read_labels(labels) if labels is not None else None
    clips = collect_inputs(files or [], mic)
    model_, load_s = load(_settings)
    timings, t0, audio_total, failed = Timings(), time.perf_counter(), 0.0, 0
    sink = Sink(fmt, output_dir, many=len(clips) > 1)
    try:
        for clip in clips:
            try:
                audio_total += clip_duration(clip.source)
                tags = classify_(model_, clip.source, label_list, top_k, prompt=prompt, timings=timings)
                sink.write({"file": clip.name, "task": "classify",
                            "labels": [{"label": n, "score": round(s, 4)} for n, s in tags], "model": model_name()})
            except SamError as e:
                if len(clips) == 1:
                    raise
                failed += 1
                err_console().print(f"sam: error: {e}", markup=False, style="red")
    finally:
        sink.close()
    print_stats(load_s, timings, audio_total, time.perf_counter() - t0)
    if failed:
        raise typer.Exit(1)


@app.command()
@handle_errors
def batch(
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
) -> None:
    """Caption every audio file under folders, resumably, into one results file."""
    from sam_cli.batch import DEFAULT_EXTENSIONS, parse_shard, run_batch
    from sam_cli.generate import Timings

    _apply(model, device, dtype, stats, state_dtype)
    for i in inputs:
        if not Path(i).exists():
            raise UsageError(f"{i}: no such file or folder")
    shard_t = parse_shard(shard) if shard else None
    local_rank = os.environ.get("LOCAL_RANK")
    if local_rank is not None and _settings.device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():  # under torchrun: one GPU per process
            _settings.device = f"cuda:{int(local_rank)}"
    exts = tuple(e.strip().lower().lstrip(".") for e in ext.split(",") if e.strip()) if ext else DEFAULT_EXTENSIONS
    model_, load_s = load(_settings)
    timings = Timings()
    t0 = time.perf_counter()
    progress = None if _settings.quiet else BatchProgress()
    try:
        summary = run_batch(model_, inputs, output, extensions=exts, prompt=prompt,
                            opts=decode_options(max_tokens, 0.0, 0, 1.0, None), batch_size=batch_size,
                            workers=workers, processes=processes, shard=shard_t, retry_errors=retry_errors,
                            progress=progress, timings=timings, model_name=model_name())
    finally:
        if progress:
            progress.close()
    if summary.batch_size < batch_size:
        log(f"note: the GPU ran out of memory; batch size went down to {summary.batch_size}")
    # Error rows of earlier runs are in the output but not done: counted apart from the skipped results.
    earlier = summary.failed_before
    log(f"{summary.done} done, {summary.skipped - earlier} already done, {summary.failed} failed -> {summary.output}")
    print_stats(load_s, timings, getattr(summary, "audio_seconds", 0.0), time.perf_counter() - t0)
    if summary.failed or earlier:
        if earlier:
            log(f"{earlier} {'file' if earlier == 1 else 'files'} failed in an earlier run (use --retry-errors "
                "to retry them)")
        raise typer.Exit(1)


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


@app.command()
@handle_errors
def record(
    out: Annotated[Path, typer.Argument(help="Where to write the recording (.wav or .flac).")],
    seconds: Annotated[float, typer.Option("--seconds", "-s", min=0.1, help="How long to record.")] = 5.0,
    input_device: Annotated[Optional[str], typer.Option("--input-device", help="Input device name or index "
                                                       "(see `sam devices`).", show_default=False)] = None,
) -> None:
    """Record the microphone to a file (16 kHz mono)."""
    from sam_cli.audio import write_audio
    from sam_cli.mic import record as record_

    log(f"recording {seconds:g} s …")
    wav = record_(seconds, device=_device_arg(input_device))
    write_audio(out, wav)
    print(out)


@app.command()
@handle_errors
def devices() -> None:
    """List microphone (input) devices."""
    from sam_cli.mic import list_input_devices

    for d in list_input_devices():
        print(f"{d['index']}\t{d['name']}\t{d['channels']} ch\t{d['samplerate']:g} Hz")


def _device_arg(value: str | None):
    return int(value) if value is not None and value.isdigit() else value


@app.command()
@handle_errors
def listen(
    every: Annotated[float, typer.Option("--every", help="Caption a new window this often (seconds).", min=1.0)] = 5.0,
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Override the instruction.",
                                                  show_default=False)] = None,
    input_device: Annotated[Optional[str], typer.Option("--input-device", help="Input device name or index.",
                                                       show_default=False)] = None,
    max_tokens: MaxTokOpt = 48,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Live captions of the microphone every few seconds, until Ctrl-C."""
    from sam_cli.inference import describe as describe_
    from sam_cli.mic import check_microphone, stream_chunks

    _apply(model, device, dtype)
    check_microphone(_device_arg(input_device))
    model_, _ = load(_settings)
    opts = decode_options(max_tokens, 0.0, 0, 1.0, None)
    log("listening … (Ctrl-C to stop)")
    started = time.monotonic()
    try:
        for chunk in stream_chunks(every, device=_device_arg(input_device)):
            seg = describe_(model_, chunk, prompt, opts=opts)[0]
            stamp = time.monotonic() - started
            print(f"[{int(stamp // 60):02d}:{stamp % 60:05.2f}] {seg.text}", flush=True)
    except KeyboardInterrupt:  # Ctrl-C is how listening ends
        log("stopped")


@app.command()
@handle_errors
def pull(repo: Annotated[str, typer.Argument(help="Hub id, optionally @revision (branch, tag or commit).")]) -> None:
    """Download a SAM checkpoint from the Hugging Face Hub into the local cache."""
    from sam_cli.hub import pull as pull_

    got = pull_(repo, progress=not _settings.quiet)
    print(f"{got.path}\t{got.commit}")


@app.command()
@handle_errors
def models(json_: Annotated[bool, typer.Option("--json", help="One JSON object per model.")] = False) -> None:
    """List SAM checkpoints available offline (Hub cache and bundled)."""
    import json

    from sam_cli.hub import format_size, list_models

    found = list_models()
    for m in found:
        if json_:
            print(json.dumps({"name": m.name, "revision": m.revision, "size_bytes": m.size_bytes,
                              "path": str(m.path), "source": m.source}))
        else:
            rev = (m.revision or "")[:12]
            print(f"{m.name}\t{rev}\t{format_size(m.size_bytes)}\t{m.path}")
    if not found:
        log("no SAM models found; fetch one with: sam pull OWNER/NAME")


@app.command("rm")
@handle_errors
def rm(name: Annotated[str, typer.Argument(help="Hub id of a cached model, optionally @revision.")]) -> None:
    """Delete a cached SAM checkpoint."""
    from sam_cli.hub import format_size, remove_model

    freed = remove_model(name)
    log(f"removed {name} ({format_size(freed)})")


def _register_train() -> None:
    from sam_cli.train.command import register

    register(app)


_register_train()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console().print("sam: interrupted", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
