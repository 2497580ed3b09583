"""Downloading a SAM checkpoint (or any repo's files) from the Hub into the Hugging Face cache, with
``huggingface_hub.snapshot_download``, so it is shared with every other tool that uses that cache. The
library's errors become one-line CheckpointErrors.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam_cli.errors import CheckpointError, UsageError
from sam_cli.store.hub_settings import cache_dir, hub_endpoint, offline_mode
from sam_cli.store.local_models import folder_size
from sam_cli.store.model_spec import DEFAULT_REVISION, parse_model_spec
from sam_cli.store.sam_config import check_sam_config, missing_files

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


@dataclass(frozen=True)
class PulledModel:
    repo_id: str
    revision: str  # as requested (a branch, tag or commit); "main" when none was given
    commit: str  # the commit hash the revision pointed at
    path: Path  # the snapshot folder in the HF cache
    size_bytes: int


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
    check_sam_config(first / "config.json", spec, strict=True)

    # 2. The rest, pinned to that commit so a branch that moves meanwhile cannot mix two versions.
    folder = Path(download_snapshot(repo_id, commit, spec, PULL_ALLOW_PATTERNS, PULL_IGNORE_PATTERNS, progress=progress))
    missing = missing_files(folder)
    if missing:
        raise CheckpointError(f"{spec}: not a complete SAM checkpoint (the repo has no {', '.join(missing)})")
    return PulledModel(repo_id, revision, commit, folder, folder_size(folder))


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
