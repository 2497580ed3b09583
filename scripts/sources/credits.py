"""Per-file credits for packages whose sounds carry different licences and authors (minetest, opensfx,
supertuxkart): the `Copyright:` holders of a file's DEP-5 stanza, and a LICENSES.md section listing each file
used with its licence and credit (attribution licences ask for the author's name next to the work).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any, Callable


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


def collect_dep5(ctx, package: str, module: str, table, root: Path, prefix: str,
                 name_of: Callable[[str], str]) -> list:
    """The records of a table of rows (fxtable.Row) whose licence and credit are each file's own DEP-5 stanza
    in the package's copyright file (`prefix` + the row's file is the path the stanzas name). A file no stanza
    covers stops the collection: its licence would be unknown."""
    from sources.fxtable import Dep5, records

    text = Path(f"/usr/share/doc/{package}/copyright").read_text(errors="replace")
    dep5 = Dep5(text)
    out: list = []
    for row in table:
        path = prefix + row.file
        lic = dep5.license_for(path)
        if not lic:
            raise ValueError(f"{module}: the copyright file names no licence for {path}")
        origin = {"package": package, "version": ctx.versions[package], "license": lic,
                  "credit": copyright_of(text, path)}
        out += records(row, root, module, origin, ctx.categories, name=name_of(row.file))
    return out
