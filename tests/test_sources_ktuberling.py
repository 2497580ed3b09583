"""Pure logic of the KTuberling collector: sound themes, transcripts from file names and comments, voices."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from sources import ktuberling as kt  # noqa: E402


def test_parse_soundtheme():
    xml = '<language code="fr">\n  <sound name="ball"   file="fr/patate_ballon.wav" />\n</language>\n'
    assert kt.parse_soundtheme(xml) == ("fr", [("ball", "fr/patate_ballon.wav")])


def test_words_from_names():
    assert kt.english_word("egypt_palmtree") == "palm tree"
    assert kt.english_word("robot_workshop_antenna") == "antenna"
    assert kt.english_word("pizzeria_brocolli") == "broccoli"
    assert kt.french_word("patate_boucle-d-oreille") == "boucle d'oreille"
    assert kt.french_word("robin_j-ai-une-idee") == "j'ai une idée"
    assert kt.french_word("robin_Tux-l-enfant") == "Tux l'enfant"
    assert kt.french_word("tv_camion-de-depannage") == "camion de dépannage"
    assert kt.french_word("noel_paquet-cadeau") == "paquet-cadeau"
    assert kt.danish_word("egypt_broend") == "brønd"
    assert kt.danish_word("moon_maanefartoej") == "månefartøj"
    assert kt.danish_word("tv_accident") is None  # an English key: the Danish word is not known


def test_transcript_sources():
    assert kt.transcript_for("da", "tux-apple", "tux-apple", {"comments": ["da:Æble"]})[0] == "Æble"
    assert kt.transcript_for("pt", "sunglasses", "oculos-de-sol", {})[0] == "óculos de sol"
    assert kt.transcript_for("nl", "eye", "oog", {})[0] == "oog"
    assert kt.transcript_for("ca", "ball", "patata_pilota", {})[0] == "pilota"
    assert kt.transcript_for("ca", "tv_car", "tv_car", {})[0] is None
    assert kt.transcript_for("de", "ball", "ball", {})[0] is None
    assert kt.transcript_for("fr", "tux-wanted", "robin_avis-recherche", {})[0] is None


def test_slug():
    assert kt.slug("Jaume Lladó") == "jaume_llado"
    assert kt.slug("Øystein") == "oystein"


@pytest.mark.skipif(not kt.ROOT.exists(), reason="ktuberling-data is not installed")
def test_scan_installed():
    items, left = kt.scan()
    folders = {it["folder"] for it in items}
    assert "sr@latin" not in folders and {"en", "fr", "sv"} <= folders
    assert "nn" not in folders and left["nn: text-to-speech"] > 100  # CereVoice, as klettres-data's nn/ says
    assert all(it["group"] == "ktub." + it["folder"] for it in items)
    assert len(items) > 1500
