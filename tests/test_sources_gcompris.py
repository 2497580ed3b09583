"""scripts/sources/gcompris.py: names and licence paths of files inside GCompris's .rcc archives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from sources import gcompris  # noqa: E402


def test_names() -> None:
    p = "gcompris/src/activities/memory-sound/resource/LRBark_1_LA_cut.ogg"
    assert gcompris.copyright_path(p) == "src/activities/memory-sound/resource/LRBark_1_LA_cut.ogg"
    assert gcompris.short_name(p) == "memory_sound.lrbark_1_la_cut"
    assert gcompris.short_name("gcompris/src/core/resource/sounds/win.wav") == "core.win"
    names = [gcompris.short_name(r.file) for r in gcompris.TABLE]
    assert len(names) == len(set(names))


def test_archives_hold_the_table_where_installed(tmp_path: Path) -> None:
    if subprocess.run(["dpkg-query", "-W", gcompris.PKG], capture_output=True).returncode != 0:
        pytest.skip(f"{gcompris.PKG} is not installed")
    found = gcompris.extract_table(tmp_path)
    assert set(found) == {r.file for r in gcompris.TABLE}
    piano = tmp_path / "gcompris/src/activities/instruments/resource/piano.ogg"
    assert piano.read_bytes()[:4] == b"OggS"
    dep5 = gcompris.Dep5.read(gcompris.PKG)
    assert dep5.license_for(gcompris.copyright_path(
        "gcompris/src/activities/memory-sound/resource/LRBark_1_LA_cut.ogg")) == "free-art"
