"""The qABCs collector (scripts/sources/qabcs.py): its alphabet parser and its hand-made table."""

import dataclasses
import importlib.util
import re
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))
from sources import qabcs, sonicpi  # noqa: E402

KINDS = {"animal", "object", "vehicle", "music", "speech", "signal", "noise", "nature", "human", "ambience"}


def _base_categories():
    spec = importlib.util.spec_from_file_location("collect_sources", SCRIPTS / "collect_sources.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("collect_sources", module)
    spec.loader.exec_module(module)
    return module.CATEGORIES


def test_parse_properties():
    text = ("language:English\n#a\nanimals:a=angelfish==angelfish=fish\nfood:a=apple==apple\n"
            "instrument:b=bass drum==bass_drum=bass_drum\ndummy:c=camera lens==camera_lens=camera_lens\n"
            "toys:d=doll==doll=\n")
    assert qabcs.parse_properties(text) == [("fish", "animals", "angelfish"), ("bass_drum", "instrument", "bass drum"),
                                            ("camera_lens", "dummy", "camera lens")]


def test_table_is_consistent():
    stems = [s for s, _, _ in qabcs.TABLE]
    left_out = qabcs.CARTOON + qabcs.MUSIC + qabcs.UNCLEAR
    assert len(stems) == len(set(stems)) and len(left_out) == len(set(left_out))
    assert not set(stems) & set(left_out)
    assert len(stems) + len(left_out) == 241
    cats = {**_base_categories(), **{c.id: c for c in qabcs.CATEGORIES}}
    for stem, cat, over in qabcs.TABLE:
        assert cat in cats, (stem, cat)
        assert set(over) <= {"noun", "verb", "base", "gerund", "article", "plural"}, stem
        phrases = cats[cat].phrases(**over)
        assert phrases["subject"] and phrases["verb"] and phrases["base"] and phrases["gerund"]
    used = {cat for _, cat, _ in qabcs.TABLE}
    assert not {c.id for c in qabcs.CATEGORIES} - used, "a category is defined but never used"
    assert set(qabcs.MAX_S) <= set(stems)


def test_categories_well_formed():
    for c in qabcs.CATEGORIES + sonicpi.CATEGORIES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", c.id) and c.kind in KINDS, c.id
        assert all(s and s == s.strip() for s in c.synonyms), c.id
    # the ids both modules define are defined the same way
    mine = {c.id: c for c in qabcs.CATEGORIES}
    for c in sonicpi.CATEGORIES:
        if c.id in mine:
            assert dataclasses.asdict(c) == dataclasses.asdict(mine[c.id]), c.id


def test_articles():
    cats = {c.id: c for c in qabcs.CATEGORIES}
    row = {s: over for s, _, over in qabcs.TABLE}
    assert cats["ukulele"].phrases(**row["ukulele"])["subject"] == "a ukulele"
    assert cats["bagpipes"].phrases()["subject"] == "bagpipes"


@pytest.mark.skipif(not qabcs.NOISES.is_dir(), reason="qabcs-data is not installed")
def test_table_covers_the_package():
    present = {p.stem for p in qabcs.NOISES.glob("*.ogg")}
    listed = {s for s, _, _ in qabcs.TABLE} | set(qabcs.CARTOON + qabcs.MUSIC + qabcs.UNCLEAR)
    assert present == listed
    names = qabcs.english_names()
    assert "animals: angelfish" in names["fish"] and names["wood_grouse"] == ["animals: wood grouse"]
