"""`sam describe`, `sam ask`, `sam classify`: one record per input clip, handed to a writer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sam_cli.cli.common import (
    Clip,
    DeviceOpt,
    DtypeOpt,
    FormatOpt,
    JsonOpt,
    MaxTokOpt,
    MicOpt,
    ModelOpt,
    OutDirOpt,
    PruneByOpt,
    PruneOpt,
    SeedOpt,
    Settings,
    StatsOpt,
    TempOpt,
    TopKOpt,
    TopPOpt,
    _apply,
    app,
    clip_duration,
    collect_inputs,
    decode_options,
    handle_errors,
    load,
    model_name,
    output_format,
    run_per_clip,
)
from sam_cli.errors import SamError, UsageError

ServerOpt = Annotated[Optional[str], typer.Option(
    "--server", help="Send the audio to a running `sam serve` at this URL instead of loading a model here (its "
    "model answers; --model, --device, --dtype are the server's). Default: $SAM_SERVER.", show_default=False)]


def run_remote(s: Settings, url: str, task: str, files: list[str], mic: float | None, fmt: str,
               output_dir: Path | None, fields: dict) -> None:
    """Each clip through the server's task endpoint; its record goes to the same writers. Files and stdin are
    sent as they are, without importing torch here (a warm server answers before torch could load)."""
    from types import SimpleNamespace

    from sam_cli.serve.client import remote_record

    if s.prune_tokens is not None or s.prune_by is not None:
        raise UsageError("--prune-tokens and --prune-by are the server's settings with --server (start it with "
                         "`sam --prune-tokens RATE serve`)")
    clips = collect_inputs(s, files, mic) if mic is not None else [Clip(f, f) for f in _remote_files(files)]

    def one(clip: Clip) -> tuple[dict, float]:
        record = remote_record(url, task, clip_bytes(clip), clip.name, fields)
        return record, float(record.get("duration") or 0.0)

    timings = SimpleNamespace(encode_s=0.0, prefill_s=0.0, decode_s=0.0, new_tokens=0, extra={})
    run_per_clip(s, clips, fmt, output_dir, 0.0, timings, one)


def _remote_files(files: list[str]) -> list[str]:
    """The inputs checked as collect_inputs checks them."""
    if not files:
        raise UsageError("no input: give audio files, '-' for stdin, or --mic SECONDS")
    for f in files:
        if f != "-" and Path(f).is_dir():
            raise UsageError(f"{f}: is a directory (use `sam batch {f}` for folders)")
        if f != "-" and not Path(f).exists():
            raise UsageError(f"{f}: no such file")
    return files


def clip_bytes(clip: Clip) -> bytes:
    """The clip as a file's bytes: the file itself (stdin for '-'), or the recording written as WAV."""
    import tempfile

    if clip.source == "-":
        return sys.stdin.buffer.read()
    if isinstance(clip.source, str):
        try:
            return Path(clip.source).read_bytes()
        except OSError as e:  # it exists (checked): unreadable, or gone since
            raise SamError(f"{clip.source}: cannot read ({e.strerror or e})") from None
    from sam_cli.audio import write_audio

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "clip.wav"
        write_audio(path, clip.source)
        return path.read_bytes()


def run_generation(s: Settings, task: str, files: list[str], prompt: str | None, mic: float | None, fmt: str,
                   output_dir: Path | None, opts) -> None:
    from sam_cli.decoding.options import Timings
    from sam_cli.tasks import check_prompt_length, iter_answers, prompt_ids
    from sam_cli.writers import caption_record, format_time

    what = "the question" if task == "ask" else "the prompt"
    if prompt is not None:
        check_prompt_length(prompt, what)  # before the model loads; its tokens once it has
    clips = collect_inputs(s, files, mic)
    model, load_s = load(s)
    question = prompt or model.cfg.describe_prompt
    prompt_ids(model, question, what)  # over the limit: one usage error, not one per clip
    timings = Timings()
    # Stream tokens to a terminal as they are decoded; pipes and files get whole records.
    stream = fmt == "text" and output_dir is None and sys.stdout.isatty()

    def one(clip: Clip) -> tuple[dict | None, float]:
        duration = clip_duration(clip.source)
        if not stream:
            segments = list(iter_answers(model, clip.source, question, opts, timings=timings))
            return caption_record(clip.name, segments, task=task, prompt=question, model=model_name(s),
                                  duration=duration), duration
        prefix = f"{clip.name}: " if len(clips) > 1 else ""
        multi = duration > model.cfg.window_seconds

        def show(_window: int, piece: str) -> None:
            if not multi:
                sys.stdout.write(piece)
                sys.stdout.flush()

        for seg in iter_answers(model, clip.source, question, opts, batch_size=1, timings=timings, on_token=show):
            if multi:
                sys.stdout.write(f"{prefix}[{format_time(seg.start)} → {format_time(seg.end)}] {seg.text}")
            sys.stdout.write("\n")
            sys.stdout.flush()
        return None, duration

    run_per_clip(s, clips, fmt, output_dir, load_s, timings, one)


@app.command()
@handle_errors
def describe(
    ctx: typer.Context,
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
    prune_tokens: PruneOpt = None,
    prune_by: PruneByOpt = None,
    server: ServerOpt = None,
) -> None:
    """Caption audio files (long audio: one caption per 10.24 s window, with timestamps)."""
    from sam_cli.serve.client import server_url

    s = _apply(ctx, model, device, dtype, stats, prune_tokens=prune_tokens, prune_by=prune_by)
    fmt = output_format(fmt, json_, clips=len(files or []) + (mic is not None), output_dir=output_dir)
    url = server_url(server)
    if url:
        run_remote(s, url, "describe", files or [], mic, fmt, output_dir, dict(
            prompt=prompt, max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed))
        return
    run_generation(s, "describe", files or [], prompt, mic, fmt, output_dir,
                   decode_options(s, max_tokens, temperature, top_k, top_p, seed))


@app.command()
@handle_errors
def ask(
    ctx: typer.Context,
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
    prune_tokens: PruneOpt = None,
    prune_by: PruneByOpt = None,
    server: ServerOpt = None,
) -> None:
    """Answer a question about an audio file."""
    from sam_cli.serve.client import server_url

    s = _apply(ctx, model, device, dtype, stats, prune_tokens=prune_tokens, prune_by=prune_by)
    if mic is not None and question is None:
        file, question = None, file  # `sam ask --mic 5 "Is there a dog?"`
    if question is None or not question.strip():
        raise UsageError("give a question: sam ask FILE \"QUESTION\"")
    fmt = output_format(fmt, json_, timed=choices is None)
    files = [file] if file else []
    url = server_url(server)
    if url:
        run_remote(s, url, "ask", files, mic, fmt, output_dir, dict(
            question=question, choices=choices, max_tokens=max_tokens, temperature=temperature, top_k=top_k,
            top_p=top_p, seed=seed))
        return
    if choices is None:
        run_generation(s, "ask", files, question, mic, fmt, output_dir,
                       decode_options(s, max_tokens, temperature, top_k, top_p, seed))
        return
    from sam_cli.decoding.options import Timings
    from sam_cli.tasks import check_choices, check_prompt_length, choose, prompt_ids
    from sam_cli.writers import choices_record

    check_prompt_length(question)
    options = check_choices(choices.split(","), "--choices")
    if len([c for c in options if c.strip()]) < 2:
        raise UsageError("--choices needs at least two comma-separated choices")
    clips = collect_inputs(s, files, mic)
    model_, load_s = load(s)
    prompt_ids(model_, question)
    timings = Timings()

    def one(clip: Clip) -> tuple[dict, float]:
        ranked = choose(model_, clip.source, question, options, timings=timings)
        return choices_record(clip.name, question, ranked, model_name(s)), clip_duration(clip.source)

    run_per_clip(s, clips, fmt, output_dir, load_s, timings, one)


def read_labels(spec: str) -> list[str]:
    p = Path(spec)
    try:
        is_file, exists = p.is_file(), p.exists()
    except OSError:  # e.g. ENAMETOOLONG: a long inline list is no file name, so it is read as a list
        is_file = exists = False
    if is_file:
        labels = [line.strip() for line in p.read_text(encoding="utf-8", errors="replace").splitlines()]
        labels = [l for l in labels if l and not l.startswith("#")]
        if not labels:
            raise UsageError(f"{spec}: the label file is empty")
        return labels
    if p.suffix in (".txt", ".csv", ".lst") and not exists:
        raise UsageError(f"{spec}: no such label file")
    labels = [l.strip() for l in spec.split(",") if l.strip()]
    if not labels:
        raise UsageError("--labels is empty")
    return labels


@app.command()
@handle_errors
def classify(
    ctx: typer.Context,
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
    prune_tokens: PruneOpt = None,
    prune_by: PruneByOpt = None,
    server: ServerOpt = None,
) -> None:
    """Tag audio: top-k labels with scores."""
    from sam_cli.serve.client import server_url

    from sam_cli.decoding.options import Timings
    from sam_cli.tasks import check_choices, check_prompt_length, prompt_ids
    from sam_cli.tasks import classify as classify_
    from sam_cli.writers import labels_record

    s = _apply(ctx, model, device, dtype, stats, prune_tokens=prune_tokens, prune_by=prune_by)
    fmt = output_format(fmt, json_, timed=False)
    label_list = check_choices(read_labels(labels), "--labels") if labels is not None else None
    if prompt is not None:
        check_prompt_length(prompt, "the prompt")
    url = server_url(server)
    if url:  # labels one a line: a label from a file may hold a comma
        run_remote(s, url, "classify", files or [], mic, fmt, output_dir, dict(
            labels="\n".join(label_list) if label_list is not None else None, top=top_k, prompt=prompt))
        return
    clips = collect_inputs(s, files or [], mic)
    model_, load_s = load(s)
    if prompt is not None:
        prompt_ids(model_, prompt, "the prompt")
    timings, opts = Timings(), decode_options(s, 96, 0.0, 0, 1.0, None)

    def one(clip: Clip) -> tuple[dict, float]:
        seconds = clip_duration(clip.source)
        tags = classify_(model_, clip.source, label_list, top_k, prompt=prompt, timings=timings, opts=opts)
        return labels_record(clip.name, tags, model_name(s)), seconds

    run_per_clip(s, clips, fmt, output_dir, load_s, timings, one)
