"""scripts/sources/fxtable.py and the tables of the effect collectors (gcompris, lincity, wesnoth, hedgewars_fx,
megaglest, minetest, opensfx, supertuxkart, widelands).

Pure logic only: the DEP-5 licence lookup, the cutting of long recordings, and that every table row names a
known category. The check that the packages' files exist skips where a package is not installed.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from sources.fxtable import Dep5, cut  # noqa: E402

FIRST_MODULES = ["gcompris", "lincity", "wesnoth", "hedgewars_fx"]
# The later modules reuse the ids any collector defines (footsteps_*, wind, creak), so that categories merge.
NEW_MODULES = ["megaglest", "minetest", "opensfx", "supertuxkart", "widelands", "ufoai"]
MODULES = FIRST_MODULES + NEW_MODULES

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: someone
License: GPL-3+

Files: src/sounds/*.ogg
       src/other/a.wav
Copyright: someone else
License: CC0-1.0
Comment: a comment

Files: src/sounds/special_*.ogg
Copyright: a third
License: CC-BY-3.0

License: CC0-1.0
 the text of the licence
"""


def test_dep5_last_matching_stanza_wins() -> None:
    d = Dep5(COPYRIGHT)
    assert d.license_for("README") == "GPL-3+"
    assert d.license_for("src/sounds/dog.ogg") == "CC0-1.0"
    assert d.license_for("src/sounds/deep/dog.ogg") == "CC0-1.0"  # '*' crosses '/' in DEP-5
    assert d.license_for("src/other/a.wav") == "CC0-1.0"
    assert d.license_for("src/other/b.wav") == "GPL-3+"
    assert d.license_for("src/sounds/special_1.ogg") == "CC-BY-3.0"
    assert Dep5("Files: x\nCopyright: y\n").license_for("x") is None


def test_copyright_of_the_last_matching_stanza() -> None:
    from sources.credits import copyright_of, licenses_markdown
    assert copyright_of(COPYRIGHT, "src/sounds/special_2.ogg") == "a third"
    assert copyright_of(COPYRIGHT, "src/other/a.wav") == "someone else"
    assert copyright_of(COPYRIGHT, "README") == "someone"
    assert copyright_of("Files: x\nLicense: GPL\n", "x") == ""
    recs = [{"origin": {"file": "/a.ogg", "license": "CC0-1.0", "credit": "A | B"}},
            {"origin": {"file": "/a.ogg", "license": "CC0-1.0", "credit": "A | B"}},
            {"origin": {"file": "/b.ogg", "license": "CC-BY-3.0", "description": "by C"}}]
    table = licenses_markdown("pkg", recs).splitlines()
    assert table[-2:] == ["| /a.ogg | CC0-1.0 | A / B |", "| /b.ogg | CC-BY-3.0 | by C |"]


def tone_bursts(sr: int, starts: list[float], length: float, total: float) -> np.ndarray:
    x = np.zeros(int(total * sr), dtype=np.float32)
    t = np.arange(int(length * sr)) / sr
    for s in starts:
        a = int(s * sr)
        x[a: a + len(t)] = 0.5 * np.sin(2 * np.pi * 440 * t)
    return x


def test_cut_pieces_calls_and_cap() -> None:
    sr = 8000
    rng = np.random.default_rng(0)
    long = (0.3 * rng.standard_normal(int(13.0 * sr))).astype(np.float32)
    long[int(6.4 * sr): int(6.6 * sr)] *= 0.001  # a quiet spot near the middle: the cut goes there
    pieces = cut(long, sr, "pieces", 6.0)
    assert len(pieces) == 3 and all(len(p) <= 6.0 * sr for p in pieces)
    assert sum(len(p) for p in pieces) > 12.0 * sr
    assert len(cut(long[: int(7.0 * sr)], sr, "pieces", 6.0)) == 1  # up to 1.25 x max: capped, not cut
    assert len(cut(long, sr, "whole", 6.0)[0]) == 6 * sr
    calls = cut(tone_bursts(sr, [0.2, 1.0, 2.0], 0.3, 3.0), sr, "calls", 6.0)
    assert len(calls) == 3 and all(0.3 * sr <= len(c) <= 0.45 * sr for c in calls)


def all_categories() -> dict:
    import collect_sources
    from sources import COLLECTORS
    cats = dict(collect_sources.CATEGORIES)
    for name in COLLECTORS:
        for c in importlib.import_module(f"sources.{name}").CATEGORIES:
            cats[c.id] = c
    return cats


@pytest.mark.parametrize("name", MODULES)
def test_tables_name_known_categories(name: str) -> None:
    mod = importlib.import_module(f"sources.{name}")
    cats = all_categories()
    assert mod.TABLE and mod.PACKAGES
    files = [r.file for r in mod.TABLE]
    assert len(files) == len(set(files))
    for row in mod.TABLE:
        assert row.category in cats, row
        assert all(lab in cats for lab in row.labels or []), row
        assert row.role in ("event", "ambience") and row.cut in ("whole", "calls", "pieces")
        cats[row.category].phrases(**row.over)  # the overrides are valid keywords
    for c in mod.CATEGORIES:
        assert c.id == c.id.lower() and " " not in c.id and c.kind in (
            "animal", "object", "vehicle", "music", "speech", "signal", "noise", "nature", "human", "ambience")


def test_no_category_defined_twice_among_these_modules() -> None:
    import collect_sources
    seen = set(collect_sources.CATEGORIES)
    for name in FIRST_MODULES:
        for c in importlib.import_module(f"sources.{name}").CATEGORIES:
            assert c.id not in seen, c.id
            seen.add(c.id)


def test_new_modules_define_only_new_ids() -> None:
    """A sound kind another collector already names is reused, not defined again under its own wording."""
    import collect_sources
    from sources import COLLECTORS
    assert all(m in COLLECTORS for m in NEW_MODULES)
    older = set(collect_sources.CATEGORIES)
    for name in COLLECTORS:
        if name not in NEW_MODULES:
            older |= {c.id for c in importlib.import_module(f"sources.{name}").CATEGORIES}
    seen: set[str] = set()
    for name in NEW_MODULES:
        ids = [c.id for c in importlib.import_module(f"sources.{name}").CATEGORIES]
        assert not (set(ids) & older), (name, set(ids) & older)
        assert not (set(ids) & seen) and len(ids) == len(set(ids)), name
        seen |= set(ids)


@pytest.mark.parametrize("name", ["lincity", "wesnoth", "hedgewars_fx", "megaglest", "minetest", "supertuxkart",
                                  "widelands"])
def test_files_exist_where_installed(name: str) -> None:
    mod = importlib.import_module(f"sources.{name}")
    pkg = next(iter(mod.PACKAGES))
    if subprocess.run(["dpkg-query", "-W", pkg], capture_output=True).returncode != 0:
        pytest.skip(f"{pkg} is not installed")
    missing = [r.file for r in mod.TABLE if not (mod.ROOT / r.file).exists()]
    assert not missing
    text = Path(f"/usr/share/doc/{pkg}/copyright").read_text(errors="replace")
    assert mod.PACKAGES[pkg]["check"] in text


def test_minetest_rows_have_a_licence_where_installed() -> None:
    """Each Minetest sound's licence comes from its own DEP-5 stanza (doors CC-BY-3.0, tnt CC0, carts Expat)."""
    from sources import minetest
    if subprocess.run(["dpkg-query", "-W", minetest.PKG], capture_output=True).returncode != 0:
        pytest.skip(f"{minetest.PKG} is not installed")
    dep5 = Dep5.read(minetest.PKG)
    lic = {r.file: dep5.license_for("mtg/mods/" + r.file) for r in minetest.TABLE}
    assert all(lic.values())
    assert lic["doors/sounds/doors_door_open.ogg"] == "CC-BY-3.0"
    assert lic["tnt/sounds/tnt_explode.ogg"] == "CC0-1.0"
    assert lic["default/sounds/default_wood_footstep.1.ogg"] == "CC-BY-SA-3.0"


def test_widelands_takes_only_documented_sounds() -> None:
    """Every file taken has a row in upstream's sound list with a licence and a source page; UNKNOWN rows do not."""
    from sources import widelands
    text = (",,\nFile Name,Format,Location,Usage,Author,License,reworked,Original File Name,Source\n"
            'a.ogg,x,sound,"u, v",Someone,CC-3,yes,a.wav,http://example.org/a\n'
            "b.ogg,x,sound,u,UNKNOWN,,,b.wav,UNKNOWN\n"
            "c.ogg,x,sound,u,Someone,personal,yes,c.wav,http://example.org/c\n")
    assert set(widelands.documented(text)) == {"a.ogg"}
    assert widelands.documented(text)["a.ogg"]["author"] == "Someone"
    if subprocess.run(["dpkg-query", "-W", widelands.PKG], capture_output=True).returncode != 0:
        pytest.skip(f"{widelands.PKG} is not installed")
    docs = widelands.documented((widelands.ROOT / widelands.DOCU).read_text(errors="replace"))
    assert all(Path(r.file).name in docs for r in widelands.TABLE)
