"""Shared by the sound-effect collectors (gcompris, lincity, wesnoth, hedgewars_fx): a file table -> records.

- `Dep5`: reads a machine-readable Debian copyright file and says which `License:` covers a path (the last
  matching `Files:` stanza wins, as the format specifies).
- `Row`: one file of a package and what it is (category, caption overrides, role, labels, how to cut it).
- `records()`: decodes a row's file at its storage rate, trims it, cuts it (whole, capped, separate calls,
  or pieces of at most `max_s` seconds, all of one group) and returns the `Rec`s.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sources.common import MAX_SECONDS, Category, Rec, bursts, cap, decode, fade, frame_db, storage_rate, trim


class Dep5:
    """The `Files:` / `License:` stanzas of a DEP-5 copyright file."""

    def __init__(self, text: str):
        self.stanzas: list[tuple[list[str], str]] = []
        for para in re.split(r"\n\s*\n", text):
            m_files = re.search(r"^Files:(.*(?:\n[ \t]+\S.*)*)", para, re.M)
            m_lic = re.search(r"^License:[ \t]*(\S.*)$", para, re.M)
            if m_files and m_lic:
                self.stanzas.append((m_files.group(1).split(), m_lic.group(1).strip()))

    @classmethod
    def read(cls, package: str) -> "Dep5":
        return cls(Path(f"/usr/share/doc/{package}/copyright").read_text(errors="replace"))

    def license_for(self, path: str) -> str | None:
        """`path` as the copyright file spells it (relative to the upstream source tree)."""
        found = None
        for globs, lic in self.stanzas:
            # In DEP-5, '*' matches any characters including '/', which is what fnmatch does.
            if any(fnmatch.fnmatchcase(path, g) for g in globs):
                found = lic
        return found


@dataclass
class Row:
    file: str  # relative to the collector's root folder
    category: str
    over: dict[str, Any] = field(default_factory=dict)  # caption overrides: noun, verb, base, gerund, ...
    role: str = "event"
    labels: list[str] | None = None  # every category audible, primary first (ambiences, mixtures)
    cut: str = "whole"  # whole (capped at max_s) | calls (one recording per burst) | pieces (<= max_s each)
    max_s: float = MAX_SECONDS
    note: str = ""  # goes into origin.description


def _cut_points(x: np.ndarray, sr: int, n: int) -> list[int]:
    """n pieces of about equal length, each cut at the quietest 10-ms frame within 0.75 s of the even split."""
    db = frame_db(x, sr)
    hop = int(sr * 0.010)
    cuts = [0]
    for k in range(1, n):
        target = k * len(x) // n
        lo, hi = max(0, (target - int(0.75 * sr)) // hop), min(len(db), (target + int(0.75 * sr)) // hop)
        cuts.append(int((lo + int(np.argmin(db[lo:hi]))) * hop) if hi > lo else target)
    cuts.append(len(x))
    return cuts


def cut(x: np.ndarray, sr: int, how: str, max_s: float) -> list[np.ndarray]:
    if how == "calls":
        parts = bursts(x, sr)
        if len(parts) > 1:
            pad = int(0.04 * sr)
            return [fade(x[max(0, a - pad): b + pad], sr) for a, b in parts]
        return [cap(x, sr, max_s)]
    if how == "pieces" and len(x) > 1.25 * max_s * sr:
        n = int(np.ceil(len(x) / (max_s * sr)))
        cuts = _cut_points(x, sr, n)
        out = []
        for a, b in zip(cuts[:-1], cuts[1:]):
            piece = trim(x[a:b], sr)
            if len(piece) >= int(1.0 * sr):
                out.append(cap(piece, sr, max_s))
        return out
    return [cap(x, sr, max_s)]


def records(row: Row, root: Path, prefix: str, origin: dict[str, str], cats: dict[str, Category],
            sr: int | None = None, origin_file: str | None = None, name: str | None = None,
            group: str | None = None) -> list[Rec]:
    """The records of one table row. `origin` holds package, version, license; origin.file is `origin_file`, or
    the path read. `group` (prefix.group): shared by several files cut from one original (they split together);
    by default each file is its own group."""
    path = root / row.file
    if not path.exists():
        raise FileNotFoundError(path)
    if row.category not in cats:
        raise KeyError(f"{prefix}: unknown category {row.category!r} for {row.file}")
    for lab in row.labels or []:
        if lab not in cats:
            raise KeyError(f"{prefix}: unknown label {lab!r} for {row.file}")
    sr = sr or storage_rate(path)
    x = trim(decode(path, sr), sr)
    if len(x) < int(0.05 * sr):
        return []
    stem = name or re.sub(r"[^a-z0-9]+", "_", Path(row.file).with_suffix("").as_posix().lower()).strip("_")
    rid_base = f"{prefix}.{stem}"
    group = f"{prefix}.{group}" if group else rid_base
    parts = cut(x, sr, row.cut, row.max_s)
    out: list[Rec] = []
    for k, piece in enumerate(parts):
        rid = rid_base + (f".{k + 1}" if len(parts) > 1 else "")
        where = {**origin, "file": origin_file or str(path), **({"description": row.note} if row.note else {})}
        rec: dict[str, Any] = {"id": rid, "category": row.category, "role": row.role, "sr": sr,
                               **cats[row.category].phrases(**row.over), "origin": where, "group": group}
        if row.labels:
            rec["labels"] = list(row.labels)
        if row.role == "ambience":
            rec["countable"] = False
        if len(parts) > 1:
            rec["segment"] = k + 1
        out.append((rec, piece.astype(np.float32)))
    return out
