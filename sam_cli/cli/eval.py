"""`sam eval`: a benchmark in the layout people download, through the model (resumable, batched, split
across torchrun's processes), into metrics; or saved predictions rescored without a model."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from sam_cli.cli.common import (
    DeviceOpt,
    DtypeOpt,
    MaxTokOpt,
    ModelOpt,
    PruneByOpt,
    PruneOpt,
    SeedOpt,
    StatsOpt,
    _apply,
    app,
    decode_options,
    err_console,
    handle_errors,
    load,
    model_name,
    print_stats,
)
from sam_cli.errors import UsageError

METHOD_HELP = ("Classification: sam (every label scored by the LM, as classify --labels; the default), ltu "
               "(generate with the classification prompt, map the text to labels by cosine similarity in "
               "--text-encoder), or both. MMAU: match (generate, MMAU's string-match rule; the default), choices "
               "(every choice scored, as ask --choices), or both. Captions: generate.")
DEFAULT_METHOD = {"classification": "sam", "captioning": "generate", "mcq": "match"}


def _methods(kind: str, method: str | None) -> tuple[str, ...]:
    from sam_cli.evaluation.predict import METHODS

    allowed = METHODS[kind]
    if method is None:
        return (DEFAULT_METHOD[kind],)
    if method == "both" and len(allowed) == 2:
        return allowed
    if method not in allowed:
        raise UsageError(f"--method {method}: for this task use {', '.join(allowed)}"
                         + (" or both" if len(allowed) == 2 else ""))
    return (method,)


@app.command("eval")
@handle_errors
def eval_(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="esc50, audioset, classify (a file,label CSV), audiocaps, clotho or "
                                        "mmau.")],
    data: Annotated[Path, typer.Argument(help="The ESC-50 folder; the segments CSV (audioset); the CSV (classify, "
                                         "audiocaps, clotho); the JSON (mmau).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The results JSON; predictions go beside it in "
                                         "NAME.predictions.jsonl (a rerun resumes them).")] = Path("eval.json"),
    method: Annotated[Optional[str], typer.Option("--method", help=METHOD_HELP, show_default=False)] = None,
    text_encoder: Annotated[Optional[str], typer.Option(
        "--text-encoder", help="For --method ltu: a sentence-transformers model (name in the Hugging Face cache, or a "
        "folder), loaded offline. The SAM paper used CLAP's text encoder, LTU OpenAI's text-embedding-ada.",
        show_default=False)] = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="audioset: its labels CSV (index,mid,"
                                                   "display_name); classify: a label file, one a line.",
                                                   show_default=False)] = None,
    audio_dir: Annotated[Optional[Path], typer.Option("--audio-dir", help="Where the audio is (default: beside the "
                                                      "data file).", show_default=False)] = None,
    fold: Annotated[Optional[int], typer.Option("--fold", help="esc50: only this fold (default: all).",
                                                show_default=False)] = None,
    predictions: Annotated[Optional[list[Path]], typer.Option(
        "--predictions", help="Score these saved predictions files (shards of one run may be given together) "
        "without a model.", show_default=False)] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Captions: sample this many captions a clip "
                                         "(--temperature) and average the metrics over them, as LTU did.")] = 1,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="For --samples > 1.")] = 0.0,
    seed: SeedOpt = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Override the instruction (mmau: a "
                                                  "template with {question} and {choices}).",
                                                  show_default=False)] = None,
    skip_missing: Annotated[bool, typer.Option("--skip-missing", help="Leave out clips whose audio file is "
                                               "missing (else an error).")] = False,
    no_java: Annotated[bool, typer.Option("--no-java", help="Captions: skip the Java metrics (METEOR, SPICE) and "
                                          "the Java PTB tokenizer.")] = False,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Redo clips whose audio failed last "
                                               "time.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Clips per model batch.")] = 8,
    workers: Annotated[int, typer.Option("--workers", "-j", min=1, help="Audio decoding threads (the next batch's "
                                         "clips are decoded while the model runs).")] = 2,
    max_tokens: MaxTokOpt = 96,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    stats: StatsOpt = False,
    prune_tokens: PruneOpt = None,
    prune_by: PruneByOpt = None,
) -> None:
    """Evaluate on a benchmark (ESC-50, AudioSet, file,label CSV, AudioCaps, Clotho, MMAU): metrics as JSON."""
    from sam_cli.evaluation.datasets import TASKS, read_dataset

    s = _apply(ctx, model, device, dtype, stats, prune_tokens=prune_tokens, prune_by=prune_by)
    task = task.lower()
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if samples > 1 and temperature <= 0:
        raise UsageError("--samples needs --temperature above 0 (greedy captions would all be the same)")
    if samples > 1 and task not in ("audiocaps", "clotho"):
        raise UsageError("--samples is for captions (audiocaps, clotho)")
    ds = read_dataset(task, data, labels=labels, audio_dir=audio_dir, fold=fold, skip_missing=skip_missing,
                      need_audio=not predictions)
    if ds.missing:
        s.log(f"note: {ds.missing} clips have no audio file and are left out")
    methods = _methods(ds.kind, method)
    encoder = None
    if "ltu" in methods:
        if text_encoder is None:
            raise UsageError("--method ltu needs --text-encoder NAME (a sentence-transformers model)")
        from sam_cli.evaluation.text_map import SentenceTransformerEncoder

        encoder = SentenceTransformerEncoder(text_encoder)
    elif text_encoder is not None:
        raise UsageError("--text-encoder is for --method ltu or both")
    if predictions:
        from sam_cli.evaluation.run import load_rows

        _, rows = load_rows(predictions)
        extra = {"predictions": [str(p) for p in predictions]}
        _report(s, ds, rows, methods, encoder, samples, no_java, output, extra)
        return
    _predict_and_score(s, ds, methods, encoder, output, prompt=prompt, samples=samples, temperature=temperature,
                       seed=seed, no_java=no_java, retry_errors=retry_errors, batch_size=batch_size,
                       workers=workers, max_tokens=max_tokens)


def _predict_and_score(s, ds, methods, encoder, output: Path, *, prompt, samples, temperature, seed, no_java,
                       retry_errors, batch_size, workers, max_tokens) -> None:
    from sam_cli.batch.files import shard_from_env, shard_output
    from sam_cli.decoding.options import Timings
    from sam_cli.evaluation.ledger import PredictionLedger
    from sam_cli.evaluation.predict import Predictor
    from sam_cli.evaluation.run import load_rows, meet, predictions_path, shard_files, shard_items

    shard = shard_from_env()
    if shard is not None and s.device in ("auto", "cuda"):
        import os

        import torch

        if torch.cuda.is_available() and os.environ.get("LOCAL_RANK") is not None:  # one GPU per process
            s.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    pred_path = predictions_path(output)
    mine = shard_output(pred_path, shard)
    opts = decode_options(s, max_tokens, temperature if samples > 1 else 0.0, 0, 1.0, seed)
    header = {"task": ds.task, "model": model_name(s), "prompt": prompt, "max_tokens": max_tokens,
              "samples": samples, "temperature": opts.temperature, "seed": seed}
    if s.prune_tokens is not None or s.prune_by is not None:  # pruning changes the answers: a run of its own
        header.update(prune_tokens=s.prune_tokens, prune_by=s.prune_by)
    with PredictionLedger(mine, header) as ledger:  # a locked or mismatched file fails before the model loads
        model, load_s = load(s)
        timings, t0 = Timings(), time.perf_counter()
        progress = None if s.quiet else _Progress()
        predictor = Predictor(model, ds, ledger, methods, prompt=prompt, opts=opts, samples=samples,
                              batch_size=batch_size, workers=workers, retry_errors=retry_errors, timings=timings,
                              progress=progress)
        items = shard_items(ds.items, shard)
        done = predictor.run(items)
        rows = dict(ledger.rows)
    s.log(f"{done} clips predicted, {len(items) - done} already done -> {mine}")
    print_stats(s, load_s, timings, predictor.audio_seconds, time.perf_counter() - t0)
    extra = {"predictions": [str(mine)], "model": model_name(s)}
    if shard is not None:
        files = shard_files(pred_path, shard[1])
        if not meet(shard):
            together = " ".join(f"--predictions {f}" for f in files)
            s.log(f"shard {shard[0]} of {shard[1]} done; when all are, score them together: "
                  f"sam eval {ds.task} ... {together}")
            return
        if shard[0] != 0:
            return
        _, rows = load_rows(files)
        extra["predictions"] = [str(f) for f in files]
    _report(s, ds, rows, methods, encoder, samples, no_java, output, extra)


def _report(s, ds, rows, methods, encoder, samples, no_java, output: Path, extra: dict) -> None:
    from sam_cli.evaluation.run import describe_data, results_text, write_results
    from sam_cli.evaluation.score import score

    results = {**describe_data(ds), **extra}
    results.update(score(ds, rows, methods, encoder=encoder, samples=samples, java=False if no_java else None,
                         where=", ".join(extra["predictions"])))
    for note in results.get("notes", []):
        s.log(f"note: {note}")
    write_results(output, results)
    sys.stdout.write(results_text(results))
    s.log(f"results -> {output}")
    if results["failed"]:
        s.log(f"{results['failed']} clips failed (their audio could not be read; see their rows, or --retry-errors)")
        raise typer.Exit(1)


class _Progress:
    def __init__(self):
        self.console, self.last = err_console(), 0.0
        self.t0 = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 5:
            return
        self.last = now
        rate = done / (now - self.t0) if now > self.t0 else 0.0
        self.console.print(f"{done}/{total} clips  {rate:.2f} clips/s", markup=False)
        sys.stderr.flush()
