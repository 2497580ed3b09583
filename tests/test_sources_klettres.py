"""The KLettres collector (scripts/sources/klettres.py): sounds.xml, transcripts, readers and voices.

The logic runs on small folders and F0 values made here; the checks against the installed package skip where
`klettres-data` is not installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from sources import klettres as kl  # noqa: E402

XML = """<!-- a comment -->
<klettres><language code="xx"><menuitem><label>X</label></menuitem>
  <alphabet><sound name="A" file="xx/alpha/a.ogg" /><sound name="Ä" file="xx/alpha/ae.ogg" /></alphabet>
  <syllables><sound name="BÄR" file="xx/syllab/baer.ogg" /><sound name="TIES" file="xx/syllab/ties.ogg" />
  <sound name="TEIS" file="xx/syllab/ties.ogg" /><sound name="ZU" file="xx/syllab/missing.ogg" /></syllables>
</language></klettres>"""


def test_parse_sounds_and_transcripts():
    got = kl.parse_sounds(XML)
    assert got[:3] == [("alpha", "A", "xx/alpha/a.ogg"), ("alpha", "Ä", "xx/alpha/ae.ogg"),
                       ("syllab", "BÄR", "xx/syllab/baer.ogg")]
    assert kl.transcript("alpha", "Ä") == "Ä" and kl.transcript("syllab", "BÄR") == "bär"


def test_scan_skips_missing_files_and_unsure_double_listings(tmp_path):
    (tmp_path / "xx").mkdir()
    (tmp_path / "xx" / "sounds.xml").write_text(XML, encoding="utf-8")
    for rel in ("xx/alpha/a.ogg", "xx/alpha/ae.ogg", "xx/syllab/baer.ogg", "xx/syllab/ties.ogg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    items, left = kl.scan(tmp_path)
    assert left == {"xx: file not in the package": 1}
    by = {it["path"].name: it for it in items}
    assert len(items) == 4 and by["baer.ogg"]["transcript"] == "bär"
    assert by["ties.ogg"]["transcript"] is None and by["ties.ogg"]["name"] == "TIES / TEIS"


def item(folder, part, f0, k=0):
    return {"folder": folder, "part": part, "f0": f0, "path": Path(f"{folder}/{part}/{k}.ogg")}


def voices(items):
    kl.assign_voices(items)
    return [(it["voice"], it["speaker"]) for it in items]


def test_named_reader_whose_voice_fits_or_not():
    assert set(voices([item("da", "alpha", 120.0, k) for k in range(5)])) == {("klet.da", "man")}
    # credited to a man, read at 220 Hz: the package and the signal disagree, so no label
    assert set(voices([item("it", "alpha", 220.0, k) for k in range(5)])) == {("klet.it", None)}


def test_alphabet_and_syllables_by_two_readers():
    its = [item("de", "alpha", 225.0, k) for k in range(6)] + [item("de", "syllab", 115.0, k) for k in range(6)]
    assert set(voices(its)) == {("klet.de.alpha", None), ("klet.de.syllab", "man")}


def test_credited_child_and_mixed_folders():
    assert set(voices([item("ar", "alpha", 280.0)])) == {("klet.ar", "child")}
    assert voices([item("pt_BR", "syllab", 320.0), item("pt_BR", "syllab", 60.0, 1)]) == [
        ("klet.pt_br.child", "child"), ("klet.pt_br.unsure", None)]
    assert voices([item("es", "syllab", 185.0), item("es", "syllab", 165.0, 1)]) == [
        ("klet.es.woman", "woman"), ("klet.es.unsure", None)]


def test_unnamed_reader_gets_the_f0_rule():
    assert set(voices([item("uk", "alpha", 230.0, k) for k in range(4)])) == {("klet.uk", "woman")}
    mixed = [item("xx", "alpha", 120.0, k) for k in range(3)] + [item("xx", "alpha", 230.0, k + 3) for k in range(3)]
    assert {v for v, _ in voices(mixed)} == {"klet.xx.man", "klet.xx.woman"}


@pytest.mark.skipif(not kl.ROOT.exists(), reason="klettres-data is not installed")
def test_installed_folders_and_credits():
    items, left = kl.scan()
    folders = {it["folder"] for it in items}
    assert {"nn", "id"}.isdisjoint(folders) and left["nn: file not in the package"] == 29
    assert len(folders) == 20 and len(items) > 1800
    assert {it["lang"] for it in items if it["folder"] in ("en_GB", "pt_BR", "nds")} == {"en", "pt", "nds"}
    handbook = Path("/usr/share/doc/HTML/en/klettres/index.docbook")
    if handbook.exists():
        text = handbook.read_text(encoding="utf-8")
        for folder, (reader, where) in kl.READERS.items():
            if where.startswith("handbook"):
                first = reader.split(" and ")[0].split(" (")[0]
                assert first in text, folder
