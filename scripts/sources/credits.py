"""Per-file credits for packages whose sounds carry different licences and authors (minetest, opensfx,
supertuxkart): the `Copyright:` holders of a file's DEP-5 stanza, and a LICENSES.md section listing each file
used with its licence and credit (attribution licences ask for the author's name next to the work).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any


def copyright_of(text: str, path: str) -> str:
    """The `Copyright:` field of the last DEP-5 stanza whose `Files:` matches `path` (one line), or ''."""
    found = ""
    for para in re.split(r"\n\s*\n", text):
        m_files = re.search(r"^Files:(.*(?:\n[ \t]+\S.*)*)", para, re.M)
        m_copy = re.search(r"^Copyright:(.*(?:\n[ \t]+\S.*)*)", para, re.M)
        if m_files and m_copy and any(fnmatch.fnmatchcase(path, g) for g in m_files.group(1).split()):
            found = " ".join(m_copy.group(1).split())
    return found


def licenses_markdown(title: str, recs: list[dict[str, Any]]) -> str:
    """One row per file used: file, licence, credit (origin.credit, else origin.description)."""
    rows: dict[str, tuple[str, str]] = {}
    for r in recs:
        o = r["origin"]
        rows.setdefault(o["file"], (o["license"], o.get("credit") or o.get("description", "")))
    lines = [f"### {title}: each file's licence and credit", "", "| file | licence | credit |", "|---|---|---|"]
    for f, (lic, credit) in sorted(rows.items()):
        lines.append(f"| {f} | {lic} | {credit.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
