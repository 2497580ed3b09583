"""`sam analyze`: the SAM paper's analysis of audio tokens (Table 3, Figures 2-3) for the user's own models."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from sam_cli.cli.common import DeviceOpt, DtypeOpt, _apply, app, handle_errors, load, model_name
from sam_cli.errors import SamError, UsageError

JSON_FILE = "analysis.json"


@app.command()
@handle_errors
def analyze(
    ctx: typer.Context,
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Audio files and/or folders (searched recursively).",
                                                          show_default=False)] = None,
    models: Annotated[Optional[list[str]], typer.Option(
        "--model", "-m", help="A model to analyze (Hub id, folder, bundled name, or a `sam train` run folder: "
        "each of its checkpoints, then its export). Repeat to compare. Default: $SAM_MODEL, else the bundled "
        "model.", show_default=False)] = None,
    file_list: Annotated[Optional[Path], typer.Option("--list", help="A text file of audio paths, one a line "
                                                      "(relative to the list's folder).", show_default=False)] = None,
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-o", help=f"Write {JSON_FILE} and PNG "
                                                       "figures into this folder.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON on stdout instead of the table.")] = False,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="PNG figures in --output-dir (needs "
                                          "the analyze extra: matplotlib).")] = True,
    tau: Annotated[float, typer.Option("--tau",
                                       help="Energy share of the τ-effective rank (the paper: 0.95).")] = 0.95,
    ext: Annotated[Optional[str], typer.Option("--ext", help="Comma-separated extensions to take from folders "
                                               "(default: common audio formats).", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Take the first N files only (0: all).")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Windows per model batch.")] = 8,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """τ-effective rank, token cosine similarity and state updates of the audio tokens, per layer and model."""
    from sam_cli.batch.files import DEFAULT_EXTENSIONS, find_audio_files

    s = _apply(ctx, None, device, dtype)
    if not 0.0 < tau <= 1.0:
        raise UsageError(f"--tau {tau}: give a share in (0, 1]")
    given = list(inputs or [])
    if file_list is not None:
        given += _read_list(file_list)
    if not given:
        raise UsageError("no input: give audio files or folders, or --list FILE")
    exts = tuple(e.strip().lower().lstrip(".") for e in ext.split(",") if e.strip()) if ext else DEFAULT_EXTENSIONS
    files = find_audio_files(given, exts)
    if not files:
        raise UsageError(f"no audio files ({', '.join(exts)}) in {', '.join(given)}")
    if limit and len(files) > limit:
        s.log(f"taking the first {limit} of {len(files)} files (--limit)")
        files = files[:limit]
    names = _expand_models(models or [model_name(s)])
    from sam_cli.store.hub import resolve_model

    for name in names:  # a missing model fails before the others are analyzed, not after
        resolve_model(name)
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"--output-dir {output_dir}: exists and is not a folder")

    from sam_cli.analysis.run import analyze_model, load_windows, text_table

    results, windows, seconds = [], None, None
    for name in names:
        s.model = name
        model, _ = load(s)
        if windows is None or seconds != model.cfg.window_seconds:
            seconds = model.cfg.window_seconds
            windows = load_windows(files, seconds)
        s.log(f"{name}: {len(windows)} windows of {len(files)} files")
        results.append(analyze_model(model, windows, name, batch_size, tau))
        del model
    report = {"tau": tau, "inputs": [str(f) for f in files], "models": results}
    text = json.dumps(_finite(report), indent=1, ensure_ascii=False)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / JSON_FILE).write_text(text + "\n", encoding="utf-8")
        s.log(f"wrote {output_dir / JSON_FILE}")
    print(text if as_json else text_table(results, tau))
    if output_dir is not None and figures:
        from sam_cli.analysis.figures import write_figures

        for path in write_figures(results, output_dir, tau):
            s.log(f"wrote {path}")


def _read_list(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--list {path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    base = path.parent
    return [str(base / line.strip()) if not os.path.isabs(line.strip()) else line.strip()
            for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _expand_models(names: list[str]) -> list[str]:
    """A `sam train` run folder -> its checkpoints in training order, then its export; other names as given."""
    from sam_cli.train.checkpoints import CHECKPOINT_RE, EXPORT_DIR

    out = []
    for name in names:
        ckpts = Path(name) / "checkpoints"
        if not ckpts.is_dir():
            out.append(name)
            continue
        found = sorted((tuple(map(int, m.groups())), p) for p in ckpts.iterdir()
                       if (m := CHECKPOINT_RE.match(p.name)) and p.is_dir())
        out += [str(p) for _, p in found]
        if (Path(name) / EXPORT_DIR).is_dir():
            out.append(str(Path(name) / EXPORT_DIR))
        if not found and not (Path(name) / EXPORT_DIR).is_dir():
            raise SamError(f"{name}: a run folder without checkpoints or an exported model")
    return out


def _finite(x):
    """NaN (a measure with nothing to average) as null: JSON has no NaN."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x
