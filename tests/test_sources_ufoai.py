"""The UFO: Alien Invasion collector (scripts/sources/ufoai.py): its table, each file's licence, its records.

The table and naming checks run anywhere; the checks against the sound archive and the copyright file skip
where `ufoai-sound` is not installed.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from sources import ufoai  # noqa: E402
from sources.fxtable import Dep5  # noqa: E402
from sources.records import problems  # noqa: E402

INSTALLED = subprocess.run(["dpkg-query", "-W", ufoai.PKG], capture_output=True).returncode == 0 and ufoai.PK3.exists()
needs_package = pytest.mark.skipif(not INSTALLED, reason="ufoai-sound is not installed")
# Words of the invented weapons, machines and creatures that are left out (module docstring).
INVENTED = ("alien", "plasma", "laser", "ptl", "needler", "gauss", "flechette", "bolter", "psi", "taser", "hover",
            "/aliens/", "geoscape/", "/ui/")


def test_table_takes_no_invented_or_interface_sound() -> None:
    assert not [r.file for r in ufoai.TABLE if any(w in r.file for w in INVENTED)]
    assert all(r.file.startswith("sound/") and r.file.endswith(".ogg") for r in ufoai.TABLE)


def test_names_and_bursts() -> None:
    assert ufoai.name_of("sound/weapons/bullet-chaingun-10x.ogg") == "weapons_bullet_chaingun_10x"
    rows = {r.file: r for r in ufoai.TABLE}
    assert rows["sound/weapons/bullet-pistol.ogg"].category == "gunshot"
    assert all(rows[f"sound/weapons/bullet-chaingun-{n}x.ogg"].category == "machine_gun" for n in (5, 10, 40, 50))
    # the file names say who cries
    assert rows["sound/soldiers/femaledeath01.ogg"].over["noun"] == "woman"
    assert rows["sound/civilians/civmaledeath01a.ogg"].over["noun"] == "man"


@needs_package
def test_every_file_is_in_the_archive_with_a_free_licence() -> None:
    text = Path(f"/usr/share/doc/{ufoai.PKG}/copyright").read_text(errors="replace")
    assert ufoai.PACKAGES[ufoai.PKG]["check"] in text
    dep5 = Dep5(text)
    with zipfile.ZipFile(ufoai.PK3) as z:
        members = set(z.namelist())
    assert not [r.file for r in ufoai.TABLE if r.file not in members]
    lic = {r.file: dep5.license_for("base/" + r.file) for r in ufoai.TABLE}
    assert set(lic.values()) <= {"GPL-2", "GPL-2+", "CC-BY-3.0", "CC-BY-SA-3.0", "public-domain"}
    assert lic["sound/misc/breakwood02.ogg"] == "public-domain"
    assert lic["sound/soldiers/malehurt02.ogg"] == "GPL-2"
    assert lic["sound/doors/open_close.ogg"] == "GPL-2+"
    assert lic["sound/weapons/bullet-pistol.ogg"] == "CC-BY-SA-3.0"


@needs_package
def test_collect_gives_valid_records(tmp_path, monkeypatch) -> None:
    import collect_sources
    cats = dict(collect_sources.CATEGORIES)
    for mod in ("tuxpaint", "wesnoth", "zeroad", "megaglest", "minetest", "opensfx", "gcompris", "ufoai"):
        for c in __import__(f"sources.{mod}", fromlist=["CATEGORIES"]).CATEGORIES:
            cats.setdefault(c.id, c)
    rows = {r.file: r for r in ufoai.TABLE}
    pick = ["sound/weapons/bullet-pistol.ogg", "sound/ambience/thunder2.ogg", "sound/misc/breakwood02.ogg"]
    monkeypatch.setattr(ufoai, "TABLE", [rows[f] for f in pick])
    ctx = SimpleNamespace(versions={ufoai.PKG: "test"}, categories=cats, tmp=str(tmp_path))
    recs = ufoai.collect(ctx)
    assert [r["id"] for r, _ in recs][:1] == ["ufoai.weapons_bullet_pistol"]
    assert sum(r["category"] == "thunder" for r, _ in recs) >= 2  # a 33-s ambience cut into pieces of <= 10 s
    for rec, x in recs:
        assert not problems(rec, x, cats, {ufoai.PKG}), rec["id"]
        assert rec["origin"]["file"].startswith(f"{ufoai.PK3}:sound/") and rec["origin"]["credit"]
        assert len(x) <= (10.0 if rec["role"] == "ambience" else 6.0) * rec["sr"]
    assert {r["origin"]["license"] for r, _ in recs} == {"CC-BY-SA-3.0", "public-domain"}
