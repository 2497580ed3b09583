"""Finding a SAM checkpoint: a local folder, a model bundled with the package, or a Hugging Face Hub repo.

Hub checkpoints live in the standard Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``), downloaded with
``huggingface_hub.snapshot_download``, so they are shared with every other tool that uses that cache.

How a model spec is read (``resolve_model``), first match wins:

1. an existing path (``dir/sub`` included): that folder;
2. something that looks like a path (starts with ``.``, ``/`` or ``~``, or holds more than one ``/``): an
   error, as the folder does not exist;
3. a bare name without ``/``: a bundled model (``sam_cli/assets/models/<name>/``);
4. ``owner/name[@revision]``: a Hub repo, from the cache, downloaded first if it is not cached yet.

So a relative folder ``owner/name`` in the working directory shadows the Hub repo of the same name; write
``./owner/name`` to mean the folder, and nothing to mean the Hub (there is no way to force the Hub
reading of a name whose folder exists, other than changing directory).

Settings are read when a function is called, not at import: the environment variables ``HF_ENDPOINT``,
``HF_HUB_CACHE`` / ``HF_HOME`` and ``HF_HUB_OFFLINE`` win when set, else ``huggingface_hub.constants``.
The cache folder and the endpoint are passed explicitly to the library, so what we look up and what it
writes always agree.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sam_cli.errors import CheckpointError, UsageError
from sam_cli.store.limits import check_path_length

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"
DEFAULT_MODEL = "sam-tiny"
SAM_MODEL_TYPE = "sam"
DEFAULT_REVISION = "main"

# What `pull` downloads: the checkpoint itself plus small text files at the top level of the repo. A SAM
# checkpoint is flat, so everything in sub-folders (and stray pickles, optimizer states, ...) is skipped.
PULL_ALLOW_PATTERNS = [
    "config.json",
    "tokenizer.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "*.json",
    "*.md",
    "*.txt",
    "*.csv",
    "LICENSE*",
    "NOTICE*",
]
PULL_IGNORE_PATTERNS = ["*/*"]

_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class PulledModel:
    repo_id: str
    revision: str  # as requested (a branch, tag or commit); "main" when none was given
    commit: str  # the commit hash the revision pointed at
    path: Path  # the snapshot folder in the HF cache
    size_bytes: int


@dataclass(frozen=True)
class CachedModel:
    name: str  # Hub repo id, or the bundled model's name
    source: Literal["hub", "bundled"]
    path: Path
    size_bytes: int
    commit: str | None = None  # Hub commit of this snapshot; None for bundled models
    refs: tuple[str, ...] = ()  # branches / tags that point at this snapshot in the cache

    @property
    def revision(self) -> str | None:
        """The refs pointing at this snapshot (comma-separated), else its commit hash."""
        return ",".join(self.refs) or self.commit


# ---------------------------------------------------------------------------------------------------------------
# Settings


def cache_dir() -> Path:
    """The Hub cache folder (``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else the library's default)."""
    env = os.environ
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name):
            return _expand(env[name])
    if env.get("HF_HOME"):
        return _expand(env["HF_HOME"]) / "hub"
    from huggingface_hub import constants

    return _expand(constants.HF_HUB_CACHE)


def hub_endpoint() -> str:
    """The Hub's base URL (``HF_ENDPOINT``, else the library's default)."""
    if os.environ.get("HF_ENDPOINT"):
        return os.environ["HF_ENDPOINT"].rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is on (read now, so setting it after import counts)."""
    if "HF_HUB_OFFLINE" in os.environ:
        return os.environ["HF_HUB_OFFLINE"].strip().lower() in _TRUE
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _expand(path: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(path)))


# ---------------------------------------------------------------------------------------------------------------
# Specs


def parse_model_spec(spec: str) -> tuple[str, str | None]:
    """Split ``owner/name[@revision]`` into ``(repo_id, revision or None)``; UsageError if malformed."""
    repo_id, sep, revision = spec.strip().partition("@")
    if sep and not revision:
        raise UsageError(f"invalid model id {spec!r}: nothing after '@' (expected owner/name@revision)")
    _check_repo_id(repo_id, spec)
    return repo_id, (revision or None)


def _check_repo_id(repo_id: str, spec: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    problem = None
    if repo_id.count("/") != 1:
        problem = "expected owner/name or owner/name@revision"
    else:
        try:
            validate_repo_id(repo_id)
        except HFValidationError as e:
            problem = str(e).split("\n")[0].rstrip(".")
    if problem:
        raise UsageError(f"invalid model id {spec!r}: {problem}")


def looks_like_path(spec: str) -> bool:
    # Hub ids have exactly one '/' before any '@'; anything else with a separator is meant as a folder.
    head = spec.partition("@")[0]
    return (
        spec.startswith((".", "/", "~"))
        or (os.sep != "/" and os.sep in spec)
        or head.count("/") > 1
        or (len(spec) > 1 and spec[1] == ":")  # Windows drive letter
    )


# ---------------------------------------------------------------------------------------------------------------
# Resolution


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
            _check_sam_config(snapshot / "config.json", spec, strict=True)
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
    _check_sam_config(path / "config.json", spec, strict=False)
    return path.resolve()


def _bundled(name: str, from_default: bool) -> Path:
    folder = BUNDLED_DIR / name
    if (folder / "config.json").is_file():
        return folder
    if from_default:
        raise CheckpointError(
            f"no model configured and the default model '{DEFAULT_MODEL}' is not bundled with this installation;"
            " download one with `sam pull owner/name`, then pass --model owner/name or set SAM_MODEL=owner/name"
        )
    available = ", ".join(m.name for m in _bundled_models()) or "none"
    raise CheckpointError(
        f"unknown model '{name}': not a folder, a bundled model (bundled: {available}) or a Hub id owner/name"
    )


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The cache's snapshot folder for ``repo_id`` at ``revision`` (a ref or a full commit), or None.

    Reads only the cache layout (``refs/<revision>`` holds the commit of a branch or tag); no network.
    """
    storage = cache_dir() / _repo_folder_name(repo_id)
    revision = revision or DEFAULT_REVISION
    if _COMMIT_RE.fullmatch(revision):
        commit = revision
    else:
        ref = storage / "refs" / revision
        if not ref.is_file():
            return None
        commit = ref.read_text(encoding="utf-8").strip()
    snapshot = storage / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def missing_files(folder: Path) -> list[str]:
    """The files a complete SAM checkpoint needs that ``folder`` lacks (weights may be sharded)."""
    missing = [name for name in ("config.json", "tokenizer.json") if not (folder / name).is_file()]
    if not (folder / "model.safetensors").is_file() and not (folder / "model.safetensors.index.json").is_file():
        missing.append("model.safetensors")
    return missing


def _repo_folder_name(repo_id: str) -> str:
    # The HF cache's folder naming for a model repo ("models--owner--name").
    return "models--" + repo_id.replace("/", "--")


# ---------------------------------------------------------------------------------------------------------------
# Checking configs


def _read_config(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{what}: config.json is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{what}: config.json is not a JSON object")
    return data


def _component_kind(config: dict[str, Any]) -> str | None:
    """Name the SAM component a config describes (a Mamba-2 LM or an EAT encoder), if it is one."""
    model_type = str(config.get("model_type", "")).lower()
    ssm_cfg = config.get("ssm_cfg")
    if model_type == "mamba2" or (isinstance(ssm_cfg, dict) and ssm_cfg.get("layer") == "Mamba2"):
        return "a Mamba-2 language model (like state-spaces/mamba2-*)"
    if model_type == "eat":
        return "an EAT audio encoder"
    return None


def _check_sam_config(config_path: Path, what: str, *, strict: bool) -> None:
    """CheckpointError unless config.json describes a SAM model.

    strict: model_type must be "sam". Not strict: only a config that names something else is refused.
    """
    config = _read_config(config_path, what)
    model_type = config.get("model_type")
    if model_type == SAM_MODEL_TYPE:
        return
    component = _component_kind(config)
    if component:
        raise CheckpointError(
            f"{what}: not a SAM checkpoint but {component}, one of SAM's components;"
            " `sam train` can start from it"
        )
    if strict or model_type is not None:
        found = f"model_type {model_type!r}" if model_type is not None else "no model_type"
        raise CheckpointError(f"{what}: not a SAM checkpoint (config.json has {found}, expected 'sam')")


def _is_sam_folder(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and config.get("model_type") == SAM_MODEL_TYPE


# ---------------------------------------------------------------------------------------------------------------
# Downloading


def pull(repo_id: str, revision: str | None = None, *, progress: bool = True) -> PulledModel:
    """Download a SAM checkpoint from the Hub into the HF cache (or complete it) and return where it is.

    ``repo_id`` may carry ``@revision``. config.json is fetched and checked first, so a repo that is not a SAM
    checkpoint is refused before its weights are downloaded. Progress bars go to stderr.
    """
    spec_repo, spec_revision = parse_model_spec(repo_id)
    if spec_revision and revision and spec_revision != revision:
        raise UsageError(f"two revisions given for {spec_repo}: {spec_revision!r} and {revision!r}")
    repo_id, revision = spec_repo, revision or spec_revision or DEFAULT_REVISION
    spec = repo_id if revision == DEFAULT_REVISION else f"{repo_id}@{revision}"
    if offline_mode():
        raise CheckpointError(f"cannot download {spec}: HF_HUB_OFFLINE=1 is set")

    # 1. config.json alone: resolves the revision to a commit and lets us refuse other kinds of repos cheaply.
    first = Path(download_snapshot(repo_id, revision, spec, ["config.json"], None, progress=False))
    commit = first.name
    if not (first / "config.json").is_file():
        raise CheckpointError(f"{spec}: not a SAM checkpoint (the repo has no config.json)")
    _check_sam_config(first / "config.json", spec, strict=True)

    # 2. The rest, pinned to that commit so a branch that moves meanwhile cannot mix two versions.
    folder = Path(download_snapshot(repo_id, commit, spec, PULL_ALLOW_PATTERNS, PULL_IGNORE_PATTERNS, progress=progress))
    missing = missing_files(folder)
    if missing:
        raise CheckpointError(f"{spec}: not a complete SAM checkpoint (the repo has no {', '.join(missing)})")
    return PulledModel(repo_id, revision, commit, folder, _folder_size(folder))


def download_snapshot(
    repo_id: str,
    revision: str,
    spec: str,
    allow: list[str],
    ignore: list[str] | None,
    *,
    progress: bool,
) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = hub_endpoint()
    try:
        return snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir(),
            endpoint=endpoint,
            allow_patterns=allow,
            ignore_patterns=ignore,
            tqdm_class=None if progress else _silent_tqdm(),
        )
    except GatedRepoError:
        raise CheckpointError(
            f"{spec}: the repository is gated; accept its terms on the Hub, then log in (hf auth login)"
        ) from None
    except RepositoryNotFoundError:
        raise CheckpointError(
            f"repository not found on the Hub: {repo_id} (check the name; private repos need hf auth login)"
        ) from None
    except RevisionNotFoundError:
        raise CheckpointError(f"revision not found: {revision!r} in {repo_id}") from None
    except LocalEntryNotFoundError as e:
        # snapshot_download turns "no network and not cached" into this; name the real cause.
        cause = e.__cause__
        if isinstance(cause, OfflineModeIsEnabled):
            raise CheckpointError(f"cannot download {spec}: HF_HUB_OFFLINE=1 is set") from None
        raise CheckpointError(f"cannot reach the Hub at {endpoint} to download {spec}{_reason(cause)}") from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise CheckpointError(f"the Hub at {endpoint} refused {spec}: HTTP {status}") from None
    except _network_errors() as e:
        raise CheckpointError(f"cannot reach the Hub at {endpoint} to download {spec}{_reason(e)}") from None
    except OSError as e:
        raise CheckpointError(f"download of {spec} failed: {_first_line(e)}") from None


def _network_errors() -> tuple[type[BaseException], ...]:
    # The HTTP client differs between huggingface_hub versions (requests, httpx, httpx2): catch the base
    # transport error of whichever one is loaded, without importing the others.
    found: list[type[BaseException]] = []
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "RequestException")):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def _reason(error: BaseException | None) -> str:
    return f" ({_first_line(error)})" if error is not None and str(error).strip() else ""


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


@functools.cache
def _silent_tqdm() -> type:
    """A tqdm class that never draws (built on first use, so importing this module does not import tqdm)."""
    from tqdm.auto import tqdm

    class SilentTqdm(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return SilentTqdm


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------------------------
# Listing and removing


def list_models() -> list[CachedModel]:
    """Every SAM checkpoint in the HF cache (one entry per cached revision), then the bundled models."""
    return sorted(_cached_models(), key=lambda m: (m.name, m.refs, m.commit or "")) + _bundled_models()


def _scan_cache() -> Any | None:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    folder = cache_dir()
    if not folder.is_dir():
        return None
    try:
        return scan_cache_dir(folder)
    except (CacheNotFound, ValueError, OSError):
        return None


def _cached_models() -> Iterable[CachedModel]:
    info = _scan_cache()
    if info is None:
        return
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for rev in repo.revisions:
            if _is_sam_folder(Path(rev.snapshot_path)):
                yield CachedModel(
                    name=repo.repo_id,
                    source="hub",
                    path=Path(rev.snapshot_path),
                    size_bytes=int(rev.size_on_disk),
                    commit=rev.commit_hash,
                    refs=tuple(sorted(rev.refs)),
                )


def _bundled_models() -> list[CachedModel]:
    if not BUNDLED_DIR.is_dir():
        return []
    return [
        CachedModel(name=d.name, source="bundled", path=d, size_bytes=_folder_size(d))
        for d in sorted(BUNDLED_DIR.iterdir())
        if (d / "config.json").is_file()
    ]


def remove_model(name: str, revision: str | None = None) -> int:
    """Delete a cached SAM model from the HF cache: all its revisions, or one (a ref or a commit).

    Returns the bytes freed. Blobs shared with revisions that stay are kept (the cache's delete strategy).
    """
    name = name.strip()
    if "/" not in name and (BUNDLED_DIR / name).is_dir():
        raise CheckpointError(f"'{name}' is bundled with sam and cannot be removed")
    repo_id, spec_revision = parse_model_spec(name)
    revision = revision or spec_revision

    info = _scan_cache()
    repo = None
    if info is not None:
        repo = next((r for r in info.repos if r.repo_type == "model" and r.repo_id == repo_id), None)
    if repo is None:
        raise CheckpointError(f"model {repo_id} is not in the cache ({cache_dir()})")
    if not any(_is_sam_folder(Path(r.snapshot_path)) for r in repo.revisions):
        raise CheckpointError(f"{repo_id} is in the HF cache but is not a SAM checkpoint; use `hf cache` to manage it")

    if revision is None:
        commits = [r.commit_hash for r in repo.revisions]
    else:
        commits = [
            r.commit_hash
            for r in repo.revisions
            if revision in r.refs or (len(revision) >= 7 and r.commit_hash.startswith(revision))
        ]
        if not commits:
            cached = ", ".join(sorted(",".join(sorted(r.refs)) or r.commit_hash[:8] for r in repo.revisions))
            raise CheckpointError(f"revision {revision!r} of {repo_id} is not in the cache (cached: {cached})")
    strategy = info.delete_revisions(*commits)
    freed = int(strategy.expected_freed_size)
    strategy.execute()
    return freed


def format_size(n: int) -> str:
    """Bytes for people: 512 B, 1.5 kB, 12.3 MB, 2.0 GB (powers of 1000, like the Hub shows them)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
