"""hedgewars_voices: what each voice-pack file becomes (no Debian package needed)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from sources.hedgewars_voices import LINES, NON_VERBAL, PACKS, VERIFIED, kind_of  # noqa: E402


def test_verified_line_gets_the_file_names_phrase():
    assert kind_of("Classic", "Incoming") == ("speech", {}, "Incoming!")
    assert kind_of("Classic", "Youllregretthat")[2] == "You'll regret that!"


def test_unverified_line_has_no_transcript():
    # British says "Most splendid!" for Amazing: the file name is a response type, not the words
    assert kind_of("British", "Amazing") == ("speech", {}, None)
    assert kind_of("Default_pl", "Incoming") == ("speech", {}, None)


def test_non_verbal_and_sung():
    assert kind_of("Pirate", "Laugh")[0] == "laughter"
    assert kind_of("Default", "PoisonCough")[0] == "cough"
    assert kind_of("Default", "Ooff2")[0] == "pain_cry"
    assert kind_of("Default", "Jump1")[0] == "grunt"
    assert kind_of("Default", "Nooo")[0] == "scream"
    assert kind_of("Singer", "Incoming") == ("singing", {}, None)


def test_tables_consistent():
    for pack, stems in VERIFIED.items():
        assert pack in PACKS
        assert all(s in LINES and s not in NON_VERBAL for s in stems)
    assert "Robot" not in PACKS
    assert all(len(lang) == 2 for lang, _ in PACKS.values())
