"""What every `sam` command shares: the app, its settings (on the click context, one set per invocation),
logging to stderr, one-line errors, the shared options, model loading, inputs, --stats, and where records go.
"""

from __future__ import annotations

import errno
import functools
import importlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich.console import Console

from sam_cli import __version__
from sam_cli.errors import SamError, UsageError
from sam_cli.writers import EXTENSIONS, FORMATS, SUBTITLE_FORMATS, printable

app = typer.Typer(
    name="sam",
    help="Caption, tag and ask questions about audio, locally, with SAM (EAT encoder + Mamba-2 LM).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _show_usage_error(self, file=None) -> None:
    """click's usage errors (unknown option, bad value, missing argument) as one line, like every other error,
    with where to look instead of the usage block (click prints three lines)."""
    where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
    err_console().print(f"sam: error: {printable(self.format_message())}{where}", markup=False, style="red")


for _module in ("typer._click.exceptions", "click.exceptions"):  # typer shows them with e.show(); newer typers
    try:                                                         # vendor click as typer._click
        importlib.import_module(_module).UsageError.show = _show_usage_error
    except ImportError:
        pass


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
    prune_tokens: float | None = None  # None: the checkpoint's own pruning (normally off)
    prune_by: str | None = None
    encoder_macs: tuple[int, int] | None = None  # (with pruning, without), for --stats

    def log(self, msg: str) -> None:
        if not self.quiet:
            err_console().print(msg, markup=False)

    def debug(self, msg: str) -> None:
        if self.verbose:
            err_console().print(msg, markup=False, style="dim")


def settings(ctx: typer.Context) -> Settings:
    """This invocation's settings, kept on the root context: `sam` itself sets them, a command's own options
    override them."""
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings()
    return root.obj


def err_console() -> Console:
    # soft_wrap: an error is one line however narrow the terminal, so scripts can grep it.
    return Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")) or None, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console().print(f"sam: error: {printable(message)}", markup=False, style="red")  # names may hold ESC
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
        except OSError as e:
            if e.errno != errno.ENAMETOOLONG:
                raise
            # Any path given on the command line that no file system can hold (a name over 255 bytes).
            from sam_cli.store.limits import MAX_NAME_BYTES, MAX_PATH_BYTES, short_path

            raise fail(f"{short_path(e.filename or '?')}: file name too long (at most {MAX_NAME_BYTES} bytes a name, "
                       f"{MAX_PATH_BYTES} in all)", 1) from None

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
                                                   "into this folder instead of stdout, named after the input "
                                                   "(inputs with the same name: NAME.json, NAME-2.json, ... in "
                                                   "input order).", show_default=False)]
MaxTokOpt = Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens to generate per window.")]
TempOpt = Annotated[float, typer.Option("--temperature", min=0.0, help="0 = greedy (as the paper).")]
TopKOpt = Annotated[int, typer.Option("--top-k", min=0, help="Sample from the k most likely tokens (0 = off).")]
TopPOpt = Annotated[float, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling mass (1 = off).")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed for sampling.", show_default=False)]
StateOpt = Annotated[Optional[str], typer.Option(
    "--state-dtype", help="GPU decoding's recurrent state: model (default: the weights' dtype, as mamba_ssm "
    "keeps it; 1.3-1.4x faster at large batches) or fp32 (exact, as on the CPU; answers may differ slightly).",
    show_default=False)]
PruneOpt = Annotated[Optional[str], typer.Option(
    "--prune-tokens", metavar="RATE", help="TopK token pruning in the EAT encoder: drop this share (0 to <1, e.g. "
    "0.4) of the audio tokens at each of its pruning blocks (3, 6, 9 of 12); 0 = off. Default: the model's own "
    "(off unless trained with it).", show_default=False)]
PruneByOpt = Annotated[Optional[str], typer.Option(
    "--prune-by", help="What ranks the tokens for --prune-tokens: attention (from CLS; default), mean-attention, "
    "intensity or variation (of the fbank patch).", show_default=False)]
MicOpt = Annotated[Optional[float], typer.Option("--mic", help="Record this many seconds from the microphone "
                                                 "instead of reading a file.", show_default=False)]


def _apply(ctx: typer.Context, model: str | None = None, device: str | None = None, dtype: str | None = None,
           stats: bool = False, state_dtype: str | None = None, prune_tokens: str | None = None,
           prune_by: str | None = None) -> Settings:
    """The settings with a command's own options applied."""
    s = settings(ctx)
    if prune_tokens is not None:
        s.prune_tokens = prune_rate(prune_tokens)
    if prune_by is not None:
        from sam_cli.models.pruning import CRITERIA

        if prune_by not in CRITERIA:
            raise fail(f"--prune-by {prune_by}: use one of {', '.join(CRITERIA)}", 2)
        s.prune_by = prune_by
    if state_dtype is not None:
        from sam_cli.decoding.options import STATE_DTYPES

        if state_dtype not in STATE_DTYPES:
            raise fail(f"--state-dtype {state_dtype}: use one of {', '.join(STATE_DTYPES)}", 2)
        s.state_dtype = state_dtype
    if model is not None:
        s.model = model
    if device is not None:
        s.device = device
    if dtype is not None:
        s.dtype = dtype
    s.stats = s.stats or stats
    return s


def prune_rate(text: str) -> float:
    """--prune-tokens RATE, checked: a number in [0, 1) (a usage error otherwise)."""
    import math

    try:
        rate = float(text)
    except ValueError:
        raise fail(f"--prune-tokens {text}: give a number from 0 to below 1, e.g. 0.4", 2) from None
    if not (math.isfinite(rate) and 0.0 <= rate < 1.0):
        raise fail(f"--prune-tokens {text}: the share of tokens dropped must be at least 0 and below 1", 2)
    return rate


def _version(value: bool) -> None:
    if value:
        print(f"sam {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail on stderr.")] = False,
    stats: StatsOpt = False,
    state_dtype: StateOpt = None,
    prune_tokens: PruneOpt = None,
    prune_by: PruneByOpt = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Caption, tag and ask questions about audio, locally."""
    s = settings(ctx)
    s.model = model or os.environ.get("SAM_MODEL")
    s.quiet, s.verbose = quiet, verbose
    _apply(ctx, None, device, dtype, stats, state_dtype, prune_tokens, prune_by)


# --- model loading and stats -----------------------------------------------------------------------------
def load(s: Settings):
    import sam_cli

    t0 = time.perf_counter()
    model = sam_cli.load_model(s.model, device=s.device, dtype=s.dtype)
    load_s = time.perf_counter() - t0
    s.debug(f"model loaded in {load_s:.2f} s on {model.device} ({model.dtype})")
    apply_pruning(s, model)
    return model, load_s


def apply_pruning(s: Settings, model) -> None:
    """--prune-tokens / --prune-by onto the loaded model's config, and its encoder MACs for --stats."""
    import dataclasses

    from sam_cli.models.encoder import EATConfig
    from sam_cli.models.pruning import PruneConfig, encoder_macs

    cfg = model.cfg
    if s.prune_tokens is not None or s.prune_by is not None:
        if not isinstance(cfg.encoder, EATConfig):
            raise UsageError("--prune-tokens works on the EAT encoder only; this model has another")
        changes = {k: v for k, v in (("rate", s.prune_tokens), ("criterion", s.prune_by)) if v is not None}
        cfg.prune = dataclasses.replace(cfg.prune, **changes)
        cfg.prune.blocks(cfg.encoder.depth)
    if s.stats and isinstance(cfg.encoder, EATConfig):
        s.encoder_macs = (encoder_macs(cfg.encoder, cfg.target_length, cfg.prune),
                          encoder_macs(cfg.encoder, cfg.target_length, PruneConfig()))


def print_stats(s: Settings, load_s: float, timings, audio_seconds: float, wall_s: float) -> None:
    if not s.stats:
        return
    tok_s = timings.new_tokens / timings.decode_s if timings.decode_s > 0 else 0.0
    rtf = wall_s / audio_seconds if audio_seconds > 0 else 0.0
    # Building and capturing CUDA graphs is paid once a process; the phases above leave it out.
    warm = sum(timings.extra.get(k, 0.0) for k in ("graph_build_s", "prefill_capture_s", "encode_capture_s"))
    err_console().print(
        f"load {load_s:.2f} s | encode {timings.encode_s * 1e3:.0f} ms | prefill {timings.prefill_s * 1e3:.0f} ms"
        f" | decode {timings.new_tokens} tokens, {tok_s:.1f} tok/s"
        + (f" | GPU warm-up {warm:.2f} s" if warm else "")
        + (macs_text(s.encoder_macs) if s.encoder_macs else "")
        + f" | audio {audio_seconds:.2f} s, real-time factor {rtf:.3f}", markup=False)


def macs_text(macs: tuple[int, int]) -> str:
    pruned, full = macs
    if pruned == full:
        return f" | encoder {full / 1e9:.3g} GMACs a window"
    return f" | encoder {pruned / 1e9:.3g} GMACs a window ({pruned / full:.0%} of {full / 1e9:.3g}, pruned)"


def decode_options(s: Settings, max_tokens: int, temperature: float, top_k: int, top_p: float, seed: int | None):
    from sam_cli.decoding.options import DecodeOptions

    state = {"state_dtype": s.state_dtype} if s.state_dtype else {}
    return DecodeOptions(max_new_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                         **state)


# --- inputs ----------------------------------------------------------------------------------------------
@dataclass
class Clip:
    name: str  # what the user called it ("-" for stdin, "mic")
    source: object  # a Path, a SpooledInput (stdin, a FIFO, a device: read once), or a waveform tensor


def collect_inputs(s: Settings, files: list[str], mic: float | None) -> list[Clip]:
    if mic is not None:
        if files:
            raise UsageError("give either files or --mic, not both")
        from sam_cli.audio.mic import record

        s.log(f"recording {mic:g} s from the microphone …")
        return [Clip("mic", record(mic))]
    if not files:
        raise UsageError("no input: give audio files, '-' for stdin, or --mic SECONDS")
    import stat

    from sam_cli.audio.sources import spool

    clips = []
    for f in files:
        if f == "-":  # copied once, in chunks, to a temporary file (bounded memory), then read like a file
            clips.append(Clip("-", spool(sys.stdin.buffer, name="stdin")))
            continue
        p = Path(f)
        if p.is_dir():
            raise UsageError(f"{f}: is a directory (use `sam batch {f}` for folders)")
        if not p.exists():
            raise UsageError(f"{f}: no such file")
        try:
            regular = stat.S_ISREG(p.stat().st_mode)
        except OSError:
            regular = True  # let the decoder report it
        # A FIFO, `<(…)` or a device can be opened only once: copy it now, read the copy twice (length, decode).
        clips.append(Clip(f, p if regular else spool(p, name=f)))
    return clips


def clip_duration(source) -> float:
    from sam_cli import audio as A
    from sam_cli.audio.sources import SpooledInput

    if isinstance(source, (Path, SpooledInput)):
        return A.audio_info(source)[0]
    return A.duration(source)  # a waveform: stdin, the microphone


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
    """Where records go: stdout (one writer for all clips) or one file per clip under --output-dir.

    Files are named after the input's stem; inputs whose names clash (a/same.wav, b/same.wav, or names
    differing only in case) get same.json, same-2.json, ... in input order, and the log line says which
    input each went to. A file that cannot be written (disk full, no permission), or stdout that cannot be
    written (e.g. /dev/full), stops the command with a one-line error and exit code 1; a partial result
    file is removed.
    """

    def __init__(self, s: Settings, fmt: str, output_dir: Path | None, many: bool):
        from sam_cli.writers import get_writer

        self.settings, self.fmt, self.output_dir = s, fmt, output_dir
        self.writer = None
        self.taken: dict[str, str] = {}  # file name written (casefolded) -> the input it holds
        if output_dir is None:
            self.writer = get_writer(fmt, sys.stdout, multi=many)
        else:
            try:
                output_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UsageError(f"{output_dir}: cannot create the output folder ({e.strerror or e})") from None

    def write(self, record: dict) -> None:
        from sam_cli.writers import get_writer

        if self.writer is not None:
            try:
                self.writer.write(record)
            except BrokenPipeError:
                raise  # `| head`: handle_errors ends quietly
            except OSError as e:
                self._stdout_failed(e)
            return
        file = record["file"]
        name = Path(file).stem if file not in ("-", "mic") else file.strip("-") or "stdin"
        ext, n = EXTENSIONS[self.fmt], 1
        while (f"{name}.{ext}" if n == 1 else f"{name}-{n}.{ext}").casefold() in self.taken:
            n += 1
        filename = f"{name}.{ext}" if n == 1 else f"{name}-{n}.{ext}"
        path = self.output_dir / filename
        try:
            with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
                w = get_writer(self.fmt, fh, multi=False)
                w.write(record)
                w.close()
        except OSError as e:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            raise fail(f"{path}: cannot write ({e.strerror or e})") from None
        clash = self.taken.get(f"{name}.{ext}".casefold())
        self.taken[filename.casefold()] = file
        self.settings.log(f"wrote {path}" + (f" for {file} ({clash} has the same name)" if clash else ""))

    def _stdout_failed(self, e: OSError) -> None:
        self.writer = None
        try:  # what is still buffered would fail again at exit, with a traceback: let it go to /dev/null
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        raise fail(f"stdout: cannot write ({e.strerror or e})") from None

    def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except BrokenPipeError:
                raise
            except OSError as e:
                self._stdout_failed(e)


def run_per_clip(s: Settings, clips: list[Clip], fmt: str, output_dir: Path | None, load_s: float, timings,
                 per_clip: Callable[[Clip], tuple[dict | None, float]]) -> None:
    """One record per clip to stdout or --output-dir: per_clip(clip) -> (record, or None when it wrote its own
    output; seconds of audio). With several clips, a clip that fails is reported in one line and the others
    go on; the exit code is then 1. Then --stats."""
    t0, audio_total, failed = time.perf_counter(), 0.0, 0
    sink = Sink(s, fmt, output_dir, many=len(clips) > 1)
    try:
        for clip in clips:
            try:
                record, seconds = per_clip(clip)
                audio_total += seconds
                if record is not None:
                    sink.write(record)
            except SamError as e:
                if len(clips) == 1:
                    raise
                failed += 1
                err_console().print(f"sam: error: {printable(str(e))}", markup=False, style="red")
    finally:
        sink.close()
    print_stats(s, load_s, timings, audio_total, time.perf_counter() - t0)
    if failed:
        raise typer.Exit(1)


def model_name(s: Settings) -> str:
    from sam_cli.store.hub import DEFAULT_MODEL

    return s.model or DEFAULT_MODEL
