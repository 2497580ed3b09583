"""`sam pull`, `sam models`, `sam rm`: checkpoints in the local cache."""

from __future__ import annotations

from typing import Annotated

import typer

from sam_cli.cli.common import app, handle_errors, settings


@app.command()
@handle_errors
def pull(ctx: typer.Context, repo: Annotated[str, typer.Argument(help="Hub id, optionally @revision (branch, tag or commit).")]) -> None:
    """Download a SAM checkpoint from the Hugging Face Hub into the local cache."""
    from sam_cli.store.hub_download import pull as pull_

    got = pull_(repo, progress=not settings(ctx).quiet)
    print(f"{got.path}\t{got.commit}")


@app.command()
@handle_errors
def models(ctx: typer.Context, json_: Annotated[bool, typer.Option("--json", help="One JSON object per model.")] = False) -> None:
    """List SAM checkpoints available offline (Hub cache and bundled)."""
    import json

    from sam_cli.store.local_models import format_size, list_models

    found = list_models()
    for m in found:
        if json_:
            print(json.dumps({"name": m.name, "revision": m.revision, "size_bytes": m.size_bytes,
                              "path": str(m.path), "source": m.source}))
        else:
            rev = (m.revision or "")[:12]
            print(f"{m.name}\t{rev}\t{format_size(m.size_bytes)}\t{m.path}")
    if not found:
        settings(ctx).log("no SAM models found; fetch one with: sam pull OWNER/NAME")


@app.command("rm")
@handle_errors
def rm(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Hub id of a cached model, optionally @revision.")]) -> None:
    """Delete a cached SAM checkpoint."""
    from sam_cli.store.local_models import format_size, remove_model

    freed = remove_model(name)
    settings(ctx).log(f"removed {name} ({format_size(freed)})")
