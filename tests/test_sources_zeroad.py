"""Pure logic of the 0 A.D. collector: the rule table over archive member names, groups, ambience pieces."""

import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from sources import zeroad as z  # noqa: E402

NEW = {c.id for c in z.CATEGORIES}
REUSED = {"cow", "hen", "sheep", "goat", "pig", "horse", "camel", "elephant", "big_cat", "dog", "songbird", "thunder",
          "saw", "hammer"}


def test_rules_map_names_to_categories():
    assert z.rule_for("audio/actor/fauna/animal/cattle_03.ogg")[0] == "cow"
    assert z.rule_for("audio/actor/singlesteps/fs_gravel4.ogg")[0] == "footsteps_gravel"
    assert z.rule_for("audio/actor/human/death/female_death_07.ogg")[0] == "scream_female"
    assert z.rule_for("audio/actor/human/death/death_13.ogg")[0] == "scream_male"
    assert z.rule_for("audio/resource/lumbering/lumber_tree_17.ogg")[0] == "axe_chop"
    assert z.rule_for("audio/ambient/weather/snowstorm_11.ogg")[0] == "wind"
    # music, voices, copies: a rule that leaves the file out
    for m in ("audio/music/Celtica.ogg", "audio/voice/latin/civ/civ_male_attack_1.ogg",
              "audio/actor/singlesteps/fs_rock3.ogg", "audio/attack/weapon/pike_attack_02.ogg"):
        assert z.rule_for(m)[0] is None
    # a name no rule knows
    assert z.rule_for("audio/resource/gathering/gather_meat_04.ogg") is None


def test_plan_takes_and_leaves_out():
    names = ["audio/LICENSE.txt", "audio/actor/fauna/animal/pig.xml", "audio/actor/fauna/animal/pig_10.ogg",
             "audio/actor/fauna/animal/pig_12.ogg", "audio/music/Sunrise.ogg", "audio/attack/fire/sz11.ogg",
             "art/textures/x.png"]
    taken, left = z.plan(names)
    assert [(m, c) for m, c, _ in taken] == [("audio/actor/fauna/animal/pig_10.ogg", "pig")]
    assert left == {"audio/actor/fauna/animal/pig_12.ogg": "copy of pig_10",
                    "audio/attack/fire/sz11.ogg": "unclear from its name",
                    "audio/music/Sunrise.ogg": "music (soundtrack)"}


def test_every_rule_category_is_known_and_phrases_build():
    used = {cat for _, cat, _ in z.RULES if cat is not None}
    assert used - NEW <= REUSED
    assert NEW <= used  # no category is defined without a file for it
    for c in z.CATEGORIES:
        p = c.phrases()
        assert p["subject"] and p["verb"] and p["base"] and p["gerund"]
        assert c.kind in ("animal", "object", "vehicle", "nature", "human", "ambience")
        assert c.id == c.id.lower() and " " not in c.id


def test_single_steps_share_their_takes_group():
    grass = [z.rule_for(m)[1].get("group") for m in ("audio/actor/singlesteps/fs_grass2.ogg",
                                                     "audio/actor/human/movement/Footsteps/Footstep_Grass_Walking.ogg")]
    assert grass == ["fs_grass", "fs_grass"]
    assert z.rule_for("audio/actor/fauna/animal/cattle_01.ogg")[1].get("group") is None  # its own file


def test_pieces_and_ids():
    sr = 1000
    x = np.ones(int(75 * sr), dtype=np.float32)
    amb = z.pieces(x, sr, "ambience")
    assert [len(p) for p in amb] == [30 * sr, 30 * sr, 15 * sr]
    assert [len(p) for p in z.pieces(x[: 40 * sr], sr, "ambience")] == [30 * sr]  # 10 s left: not cut
    assert [len(p) for p in z.pieces(x, sr, "event")] == [6 * sr]
    assert z.record_id("audio/ambient/weather/rain_11.ogg") == "0ad.rain_11"
    assert z.record_id("audio/ambient/weather/rain_11.ogg", 2) == "0ad.rain_11.3"


@pytest.mark.skipif(not z.ZIP_PATH.exists(), reason="0ad-data is not installed")
def test_installed_archive_names_match_the_table():
    with zipfile.ZipFile(z.ZIP_PATH) as zf:
        names = zf.namelist()
        assert z.LICENSE_PHRASE in zf.read(z.LICENSE_MEMBER).decode()
    taken, left = z.plan(names)
    assert len(taken) >= 500
    assert {c for _, c, _ in taken} >= NEW
    # every rule that takes files matches at least one member (a renamed file would be noticed)
    members = {m[len("audio/"):] for m in names}
    import re
    for pattern, cat, _ in z.RULES:
        if cat is not None:
            assert any(re.fullmatch(pattern, m) for m in members), pattern
