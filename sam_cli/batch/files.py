"""Which files a batch run takes: folders searched recursively for audio extensions, sorted, and its shard."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator, Sequence

from sam_cli.errors import UsageError

DEFAULT_EXTENSIONS = ("wav", "flac", "ogg", "mp3", "m4a", "opus", "aac", "wma", "aiff", "aif", "webm", "mka")


def find_audio_files(inputs: Sequence[str | Path], extensions: Sequence[str] = DEFAULT_EXTENSIONS) -> list[Path]:
    """Audio files under `inputs`, sorted by path components, each once."""
    exts = {"." + e.lower().lstrip(".") for e in extensions}
    found: dict[str, Path] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for f in _walk(path, exts):
                found.setdefault(os.path.normpath(f), f)
        elif path.exists() or path.is_symlink():  # a broken link becomes an error row, not a silent skip
            found.setdefault(os.path.normpath(path), path)
        else:
            raise UsageError(f"{item}: no such file or folder")
    return sorted(found.values(), key=lambda p: p.parts)


def _walk(root: Path, exts: set[str]) -> Iterator[Path]:
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # reached again through a symlink: a loop or a duplicate
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        # Hidden entries are skipped: .git, and macOS "._x.wav" resource forks that are not audio.
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in exts:
                yield Path(dirpath, name)


def parse_shard(text: str) -> tuple[int, int]:
    """"I/N" -> (I, N), with 0 <= I < N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise UsageError(f"--shard must look like I/N, e.g. 0/4, not {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1:
        raise UsageError(f"--shard {text}: the number of shards must be at least 1")
    if i >= n:
        raise UsageError(f"--shard {text}: shards are numbered from 0, so I must be below N ({n})")
    return i, n


def shard_from_env(env: dict[str, str] | None = None) -> tuple[int, int] | None:
    """(RANK, WORLD_SIZE) when run under torchrun with more than one process, else None."""
    env = os.environ if env is None else env
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
    except (KeyError, ValueError):
        return None
    return (rank, world) if world > 1 and 0 <= rank < world else None


def shard_output(output: Path, shard: tuple[int, int] | None) -> Path:
    """results.jsonl -> results.shard-I-of-N.jsonl (unchanged without shards or with one)."""
    if shard is None or shard[1] == 1:
        return output
    return output.with_name(f"{output.stem}.shard-{shard[0]}-of-{shard[1]}{output.suffix}")
