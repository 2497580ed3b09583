"""Pure logic of the Tux Paint spoken-description collector and the shared speech helpers (no package needed)."""

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from sources import common_speech as cs  # noqa: E402
from sources import tuxpaint_speech as tp  # noqa: E402


def test_desc_names():
    assert tp.parse_desc_name("owl_desc_fr.ogg") == ("owl", "fr")
    assert tp.parse_desc_name("owl_desc.ogg") == ("owl", "")
    assert tp.parse_desc_name("corn_desc_pt_BR.wav") == ("corn", "pt_BR")
    assert tp.parse_desc_name("x-1_desc_da.ogg.ogg") == ("x-1", "da")
    assert tp.parse_desc_name("owl.ogg") is None
    assert tp.LOCALES["pt_BR"][0] == "pt"


def test_txt_and_cleaning(tmp_path):
    text = "An owl.\nfr.utf8=Un « hibou ».\npt_BR.utf8=Uma coruja.\nca@valencia.utf8=Una òliba\n"
    table = tp.parse_txt(text)
    assert table[""] == "An owl."
    assert table["pt_BR"] == "Uma coruja."
    assert table["ca@valencia"] == "Una òliba"
    assert tp.clean_text(table["fr"]) == "Un hibou ."
    assert tp.clean_text('Dis  "Cheese"\u00a0!') == "Dis Cheese !"
    (tmp_path / "Brown_slug.txt").write_text("A slug.\n")
    clip = tmp_path / "brownslug_desc_el.ogg"
    assert tp.find_txt(clip, "brownslug") == tmp_path / "Brown_slug.txt"
    assert tp.find_txt(tmp_path / "wallaby_desc.ogg", "wallaby") is None


def _page(packet: bytes, seq: int, serial: int = 7) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    head = b"OggS" + bytes([0, 2 if seq == 0 else 0]) + struct.pack("<qIII", 0, serial, seq, 0)
    return head + bytes([len(lacing)]) + bytes(lacing) + packet


def test_ogg_comments(tmp_path):
    ident = b"\x01vorbis" + bytes(23)
    vendor = b"Xiph.Org libVorbis I 20101101"
    items = [b"ARTIST=Andrius Jurkus", b"TITLE=" + b"x" * 300]
    comment = b"\x03vorbis" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(items))
    comment += b"".join(struct.pack("<I", len(s)) + s for s in items) + b"\x01"
    path = tmp_path / "a.ogg"
    path.write_bytes(_page(ident, 0) + _page(comment, 1))
    tags = cs.ogg_comments(path)
    assert tags["artist"] == ["Andrius Jurkus"]
    assert tags["title"] == ["x" * 300]
    assert tags["_vendor"] == [vendor.decode()]
    assert tp.voice_of("fr", tags) == "tux.fr.2" and tp.voice_of("fr", {}) == "tux.fr.1"
    (tmp_path / "b.wav").write_bytes(b"RIFF....")
    assert cs.ogg_comments(tmp_path / "b.wav") == {}


def _voice(f0: float, sr: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    vib = 1 + 0.02 * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * f0 * np.cumsum(vib) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.mark.parametrize("sr", [8000, 16000])
@pytest.mark.parametrize("f0", [95.0, 130.0, 210.0, 300.0])
def test_f0_estimate(f0, sr):
    got = cs.median_f0(_voice(f0, sr), sr)
    assert got == pytest.approx(f0, rel=0.03)


def test_f0_telephone_band():
    # A male voice without its fundamental (telephone band) is still heard at its fundamental.
    sr, f0 = 8000, 110.0
    t = np.arange(sr) / sr
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(3, 25) if k * f0 < 3400).astype(np.float32)
    assert cs.median_f0(x, sr) == pytest.approx(f0, rel=0.05)


def test_speaker_rule():
    assert cs.speaker_from_f0(120.0) == "man"
    assert cs.speaker_from_f0(165.0) is None
    assert cs.speaker_from_f0(220.0) == "woman"
    assert cs.speaker_from_f0(None) is None
    assert cs.median_f0(np.zeros(16000, np.float32), 16000) is None
    assert cs.speech_category("child") == "speech_child" and cs.speech_category(None) == "speech"


@pytest.mark.skipif(not tp.ROOT.exists(), reason="tuxpaint-stamps-default is not installed")
def test_scan_installed():
    items, left = tp.scan()
    assert len(items) > 7000
    assert {it["code"] for it in items} >= {"fr", "ru", "ro", "ca", "bg", "es", "be", "el", "da", "nl", "en", "pt"}
    assert all(it["transcript"] for it in items)
