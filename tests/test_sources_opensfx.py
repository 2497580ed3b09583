"""The OpenSFX collector (scripts/sources/opensfx.py): reading OpenTTD's sample archive and each sound's licence.

The archive reader runs on an archive built here from two real WAV files; the checks against the installed
package skip where `openttd-opensfx` is not installed.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from sources import opensfx  # noqa: E402


def wav_bytes(freq: float, seconds: float, sr: int = 22050) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def build_cat(entries: list[tuple[str, bytes]]) -> bytes:
    """OpenTTD's layout: (offset, size) uint32 pairs, then at each offset a length byte, the name, the WAV."""
    table, body = b"", b""
    start = 8 * len(entries)
    for name, wav in entries:
        raw = name.encode("latin-1") + b"\0"
        table += struct.pack("<II", start + len(body), len(wav))
        body += bytes([len(raw)]) + raw + wav
    return table + body


def test_read_cat_returns_names_and_playable_wavs() -> None:
    a, b = wav_bytes(440, 0.5), wav_bytes(880, 0.25)
    names = ['"Cow". Original "moo.wav" by "someone". License: Creative Commons Zero 1.0.',
             '"Wind". By someone. License: Creative Commons Attribution 3.0 Unported.']
    sounds = opensfx.read_cat(build_cat([(names[0], a), (names[1], b)]))
    assert [n for n, _ in sounds] == names
    x, sr = sf.read(io.BytesIO(sounds[1][1]))
    assert sr == 22050 and len(x) == int(0.25 * 22050)


def test_read_cat_rejects_an_entry_that_is_not_a_wav() -> None:
    with pytest.raises(ValueError, match="not a WAV"):
        opensfx.read_cat(build_cat([("x", b"OggS" + bytes(40))]))


def test_license_of_each_wording() -> None:
    assert opensfx.license_of('"A". License: Creative Commons Zero 1.0.') == "CC0-1.0"
    assert opensfx.license_of('"A". License: Creative Commons Attribution 3.0 Unported.') == "CC-BY-3.0"
    assert opensfx.license_of('"A". License: Creative Commons Attribution 3.0.') == "CC-BY-3.0"
    assert opensfx.license_of('"A". License: Creative Commons Attribution-ShareAlike 3.0 Unported.') == "CC-BY-SA-3.0"
    with pytest.raises(ValueError):
        opensfx.license_of('"A". License: GPL.')


def test_table_matches_the_installed_archive() -> None:
    if subprocess.run(["dpkg-query", "-W", opensfx.PKG], capture_output=True).returncode != 0:
        pytest.skip(f"{opensfx.PKG} is not installed")
    sounds = opensfx.read_cat(opensfx.CAT.read_bytes())
    assert len(sounds) == 73
    for row in opensfx.TABLE:
        name = sounds[int(row.file[:2])][0]
        assert name.split('"')[1] == opensfx.EXPECT[row.file]
        assert opensfx.license_of(name) in ("CC0-1.0", "CC-BY-3.0", "CC-BY-SA-3.0")
        assert "Toyland" not in name and "By Janis Lukss" not in name
    text = Path(f"/usr/share/doc/{opensfx.PKG}/copyright").read_text(errors="replace")
    assert opensfx.PACKAGES[opensfx.PKG]["check"] in text
