"""The SAM models on this machine: snapshots in the Hugging Face cache and the models bundled with the
package. Looking one up, listing, removing, and their sizes. Reads the disk only, never the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sam_cli.errors import CheckpointError
from sam_cli.store.hub_settings import cache_dir
from sam_cli.store.model_spec import DEFAULT_REVISION, parse_model_spec
from sam_cli.store.sam_config import is_sam_folder

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"

_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


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


def _repo_folder_name(repo_id: str) -> str:
    # The HF cache's folder naming for a model repo ("models--owner--name").
    return "models--" + repo_id.replace("/", "--")


def bundled_model(name: str) -> Path | None:
    """The folder of the bundled model ``name``, or None if the package ships no such model."""
    folder = BUNDLED_DIR / name
    return folder if (folder / "config.json").is_file() else None


def list_models() -> list[CachedModel]:
    """Every SAM checkpoint in the HF cache (one entry per cached revision), then the bundled models."""
    return sorted(_cached_models(), key=lambda m: (m.name, m.refs, m.commit or "")) + bundled_models()


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
            if is_sam_folder(Path(rev.snapshot_path)):
                yield CachedModel(
                    name=repo.repo_id,
                    source="hub",
                    path=Path(rev.snapshot_path),
                    size_bytes=int(rev.size_on_disk),
                    commit=rev.commit_hash,
                    refs=tuple(sorted(rev.refs)),
                )


def bundled_models() -> list[CachedModel]:
    if not BUNDLED_DIR.is_dir():
        return []
    return [
        CachedModel(name=d.name, source="bundled", path=d, size_bytes=folder_size(d))
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
    if not any(is_sam_folder(Path(r.snapshot_path)) for r in repo.revisions):
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


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def format_size(n: int) -> str:
    """Bytes for people: 512 B, 1.5 kB, 12.3 MB, 2.0 GB (powers of 1000, like the Hub shows them)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
