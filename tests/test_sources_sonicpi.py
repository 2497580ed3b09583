"""The Sonic Pi samples collector (scripts/sources/sonicpi.py): credits per file, and its table."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from sources import sonicpi  # noqa: E402

COPYRIGHT = """Files: *
Copyright: 2016 Samuel Aaron <samaaron@gmail.com>
License: MIT

Files: etc/samples/misc_crow.flac
Copyright: 2008 davidworksonline
Source: http://freesound.org/people/davidworksonline/sounds/54973/
License: CC0

Files: etc/samples/loop_garzul.flac
Copyright: 2014 Garzul
http://freesound.org/people/Garzul/sounds/213524/
License: CC0
"""

README = """## Percussion

* `:perc_bell_2`- https://freesound.org/people/hullum/sounds/415559/
* `:perc_door` - https://freesound.org/people/hullum/sounds/415579/
* `:loop_3dprinter` - https://freesound.org/people/Some%20One/sounds/415571/
"""


def test_parse_copyright():
    got = sonicpi.parse_copyright(COPYRIGHT)
    assert set(got) == {"misc_crow", "loop_garzul"}
    assert got["misc_crow"] == {"year": "2008", "author": "davidworksonline", "license": "CC0",
                                "source": "http://freesound.org/people/davidworksonline/sounds/54973/"}
    assert got["loop_garzul"]["source"] == "http://freesound.org/people/Garzul/sounds/213524/"


def test_credit_from_copyright_or_readme():
    stanzas, readme = sonicpi.parse_copyright(COPYRIGHT), sonicpi.parse_readme(README)
    crow = sonicpi.credit("misc_crow", stanzas, readme)
    assert crow["license"] == "CC0-1.0" and crow["author"] == "davidworksonline"
    assert crow["credit_from"] == "debian/copyright"
    bell = sonicpi.credit("perc_bell2", stanzas, readme)  # the README spells it perc_bell_2
    assert bell["license"] == "CC0-1.0" and bell["author"] == "hullum" and bell["source"].endswith("/415559/")
    assert sonicpi.credit("loop_3d_printer", stanzas, readme)["author"] == "Some One"
    with pytest.raises(KeyError):
        sonicpi.credit("bd_808", stanzas, readme)


def test_table_is_consistent():
    stems = [row[0] for row in sonicpi.TABLE]
    left_out = sonicpi.ELECTRONIC + sonicpi.FROM_RECORDS + sonicpi.TOO_SHORT + sonicpi.UNCLEAR
    assert len(stems) == len(set(stems)) and len(left_out) == len(set(left_out))
    assert not set(stems) & set(left_out)
    assert len(stems) + len(left_out) == 165
    for stem, cat, over, how, role in sonicpi.TABLE:
        assert how in ("whole", "pieces") and role in ("event", "ambience"), stem
    ids = {c.id for c in sonicpi.CATEGORIES}
    assert {"tabla", "bass_drum", "snare_drum", "hi_hat", "finger_snap", "cash_register"} <= ids


@pytest.mark.skipif(not sonicpi.ROOT.is_dir(), reason="sonic-pi-samples is not installed")
def test_every_taken_file_has_a_credit():
    present = {p.stem for p in sonicpi.ROOT.glob("*.flac")}
    left_out = sonicpi.ELECTRONIC + sonicpi.FROM_RECORDS + sonicpi.TOO_SHORT + sonicpi.UNCLEAR
    assert present == {row[0] for row in sonicpi.TABLE} | set(left_out)
    stanzas = sonicpi.parse_copyright(Path("/usr/share/doc/sonic-pi-samples/copyright").read_text())
    readme = sonicpi.parse_readme(sonicpi.README.read_text())
    for row in sonicpi.TABLE:
        info = sonicpi.credit(row[0], stanzas, readme)
        assert info["license"] == "CC0-1.0" and info["author"] and "freesound.org" in info["source"], row[0]
