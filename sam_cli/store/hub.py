"""Finding a SAM checkpoint: a local folder, a model bundled with the package, or a Hugging Face Hub repo.

Hub checkpoints live in the standard Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``): see
hub_settings (where it is), local_models (what it holds) and hub_download (filling it).

How a model spec is read (``resolve_model``), first match wins:

1. an existing path (``dir/sub`` included): that folder;
2. something that looks like a path (starts with ``.``, ``/`` or ``~``, or holds more than one ``/``): an
   error, as the folder does not exist;
3. a bare name without ``/``: a bundled model (``sam_cli/assets/models/<name>/``);
4. ``owner/name[@revision]``: a Hub repo, from the cache, downloaded first if it is not cached yet.

So a relative folder ``owner/name`` in the working directory shadows the Hub repo of the same name; write
``./owner/name`` to mean the folder, and nothing to mean the Hub (there is no way to force the Hub
reading of a name whose folder exists, other than changing directory).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sam_cli.errors import CheckpointError
from sam_cli.store.hub_download import pull
from sam_cli.store.hub_settings import hub_endpoint, offline_mode
from sam_cli.store.limits import check_path_length
from sam_cli.store.local_models import bundled_model, bundled_models, cached_snapshot, format_size
from sam_cli.store.model_spec import looks_like_path, parse_model_spec
from sam_cli.store.sam_config import check_sam_config, missing_files

DEFAULT_MODEL = "sam-tiny"


def resolve_model(spec: str | None = None, *, offline: bool | None = None) -> Path:
    """Return a local folder holding the SAM checkpoint named by ``spec`` (see the module docstring).

    ``None`` means ``$SAM_MODEL``, else ``DEFAULT_MODEL``. A Hub repo that is not cached is downloaded
    (with a note on stderr) unless offline (``offline=True`` or ``HF_HUB_OFFLINE=1``), in which case this
    fails at once, without touching the network.
    """
    from_default = False
    if spec is None or not spec.strip():
        spec = os.environ.get("SAM_MODEL", "").strip()
        if not spec:
            spec, from_default = DEFAULT_MODEL, True
    spec = spec.strip()
    if offline is None:
        offline = offline_mode()

    check_path_length(spec, "model folder")  # else Path.exists raises ENAMETOOLONG
    path = Path(spec).expanduser()
    if path.exists():
        return _local_folder(path, spec)
    if looks_like_path(spec):
        raise CheckpointError(f"{spec}: no such model folder")
    if "/" not in spec:
        return _bundled(spec, from_default)

    repo_id, revision = parse_model_spec(spec)
    snapshot = cached_snapshot(repo_id, revision)
    if snapshot is not None:
        missing = missing_files(snapshot)
        if not missing:
            check_sam_config(snapshot / "config.json", spec, strict=True)
            return snapshot
        if offline:
            raise CheckpointError(
                f"model {spec} is only partly in the cache (missing {', '.join(missing)}) and HF_HUB_OFFLINE=1;"
                f" run: sam pull {spec}"
            )
        print(f"sam: {spec} is only partly in the cache; downloading the rest", file=sys.stderr)
    elif offline:
        raise CheckpointError(f"model {spec} is not in the cache and HF_HUB_OFFLINE=1; run: sam pull {spec}")
    else:
        print(f"sam: {spec} is not in the cache; downloading it from {hub_endpoint()}", file=sys.stderr)
    pulled = pull(repo_id, revision)
    print(
        f"sam: saved {spec} (commit {pulled.commit[:8]}, {format_size(pulled.size_bytes)}) in {pulled.path}",
        file=sys.stderr,
    )
    return pulled.path


def _local_folder(path: Path, spec: str) -> Path:
    if not path.is_dir():
        raise CheckpointError(f"{spec}: not a SAM checkpoint folder (a file, expected a folder with config.json)")
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{spec}: not a SAM checkpoint folder (no config.json)")
    # Lenient: only refuse configs that clearly describe something else (a loader checks the rest).
    check_sam_config(path / "config.json", spec, strict=False)
    return path.resolve()


def _bundled(name: str, from_default: bool) -> Path:
    folder = bundled_model(name)
    if folder is not None:
        return folder
    if from_default:
        raise CheckpointError(
            f"no model configured and the default model '{DEFAULT_MODEL}' is not bundled with this installation;"
            " download one with `sam pull owner/name`, then pass --model owner/name or set SAM_MODEL=owner/name"
        )
    available = ", ".join(m.name for m in bundled_models()) or "none"
    raise CheckpointError(
        f"unknown model '{name}': not a folder, a bundled model (bundled: {available}) or a Hub id owner/name"
    )
