"""KLettres's spoken letters and syllables (`klettres-data`, GPL-2+): real readers, 20 folders in 19 languages.

Layout: /usr/share/klettres/<folder>/sounds.xml (`<alphabet>` and `<syllables>` lists of `<sound name="BA"
file="cs/syllab/ad-0.ogg"/>`) maps what is shown on screen, written in capitals, to one recording. The
transcript is that name: letters as written ("B", "Ä", Hungarian "CS"), syllables and the German short words
in lower case ("ba", "haus"), because they are said as a syllable or word, not spelt out.

Readers, from the package's own words: the handbook's credits (/usr/share/doc/HTML/en/klettres/index.docbook,
"Czech sounds: Eva Mikulčíková", ...), the comments of sounds.xml (ar: "Staring Rafik, my little nephew's
voice"; lt: Liudas Ališauskas; pt_BR: "Lindonjohnson Monte <Father> and Michelle Monte 09 years (Son)") and the
files' Vorbis `artist` (lt; ru "Dashk0"; nb "Johnstad/Gabor", taken from GCompris). Translators of the
interface (klettres.mo) are not readers and are not used.

Speaker (records.py allows man / woman / child / None; None where the package and the signal disagree or do
not say):
- ar: "child" (the sounds.xml comment; the clips read at 255-310 Hz);
- pt_BR, credited to a father and his 9-year-old son: a clip is "child" when its median F0 is 200 Hz or more
  (95 of 102 read at 230-510 Hz), else None (the rest sit at the estimator's 60-Hz floor: hum, not a voice);
- es, credited to a woman and a man: each clip's own F0 (common_speech.speaker_from_f0); voice by estimate;
- a reader whose first name tells the sex (`NAME_SEX`): common_speech.speaker_with_name on the median F0 of
  the voice, which gives None where the F0 does not fit (it, nl: credited to a man, read at 210-220 Hz;
  de's alphabet, encoded in 2010 and read at ~225 Hz, while its words, encoded in 2002-2004, read at ~115 Hz);
- no name (en_GB, hu, ml, ru, tn, uk, nb): the F0 rule on the voice's median (common_speech).
A voice is the language folder ("klet.cs") when at least 85% of its clips that the F0 rule decides agree;
else the alphabet and the syllables are tried as two voices ("klet.de.alpha"); else each clip's F0 names the
voice ("klet.he.man", "klet.he.unsure"). The hold-out group is the folder.

Left out: nn/ and id/ (their sounds.xml names files the package does not ship; nn's were made with the
CereVoice text-to-speech service, so they would be synthetic anyway); clips under 0.2 s or over 15 s after
trimming. A file that sounds.xml lists under two different names (lt "ties"/"teis", three ml syllables, all
slips of the list) is kept once without a transcript. No byte-identical files across folders (checked).
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sources.common import Rec, decode, storage_rate, trim  # noqa: E402
from sources.common_speech import (SPEECH_CATEGORIES, consensus, measured_clips, ogg_comments,  # noqa: E402
                                   speaker_from_f0, speaker_with_name, speech_category)

PACKAGE = "klettres-data"
ROOT = Path("/usr/share/klettres")
MIN_SECONDS, MAX_SECONDS = 0.2, 15.0
CHILD_FROM_HZ = 200.0  # pt_BR: the credited readers are a man and a boy; no woman

PACKAGES: dict[str, dict[str, str]] = {
    PACKAGE: {
        "license": "GPL-2+",
        "check": "License: GPL-2+",
        "holder": "Anne-Marie Mahfouf and the KLettres contributors; readers credited in the handbook, in "
                  "sounds.xml and in the files' Vorbis comments (origin.reader)",
        "note": "Debian copyright 'Files: * / License: GPL-2+' covers the sounds (only doc/ is GFDL, the appdata "
                "CC0, tests/ LGPL-2). nb's sounds.xml: 'Sounds taken from GCompris (license: GPL 2 or later)'; "
                "the nb files' artist field: 'Copyright 2007 Johnstad/Gabor ... GNU General Public License, "
                "either version 2 or ... any later version'.",
    },
}
CATEGORIES = list(SPEECH_CATEGORIES)

LANG = {"en_GB": "en", "pt_BR": "pt", "nds": "nds"}  # nds: Low German has no ISO 639-1 code (639-3)
# Folder -> (reader, where the package says so). By hand from the handbook credits and the sounds.xml comments.
READERS: dict[str, tuple[str, str]] = {
    "ar": ("Rafik, the contributor's little nephew", "ar/sounds.xml comment"),
    "cs": ("Eva Mikulčíková", "handbook credits"),
    "da": ("Erik Kjaer Pedersen", "handbook credits"),
    "de": ("Helmut Kriege", "handbook credits"),
    "en": ("Robert Wadley", "handbook credits"),
    "es": ("Ana Belén Caballero and Juan Pedro Paredes", "handbook credits"),
    "fr": ("Ludovic Grossard", "handbook credits"),
    "he": ("Assaf Gorgon", "handbook credits"),
    "it": ("Pietro Pasotti", "handbook credits"),
    "lt": ("Liudas Ališauskas", "lt/sounds.xml comment and the files' artist field"),
    "nds": ("Manfred Wiese and Sönke Dibbern", "handbook credits"),
    "nl": ("Geert Stams", "handbook credits"),
    "pt_BR": ("Lindonjohnson Monte (father) and Michelle Monte, aged 9 (son)", "handbook credits, pt_BR/sounds.xml"),
    "ru": ("Dashk0 (Google Code-in)", "the files' artist field, ru/sounds.xml comment"),
    "nb": ("Johnstad/Gabor (from GCompris)", "the files' artist field, nb/sounds.xml comment"),
}
# The sex a reader's first name tells (by hand); both names male for nds. es is mixed: no entry.
NAME_SEX = {"cs": "female", "da": "male", "de": "male", "en": "male", "fr": "male", "he": "male", "it": "male",
            "lt": "male", "nds": "male", "nl": "male"}
BY_CLIP = {"es", "pt_BR"}  # readers of two kinds credited: each clip's F0 decides
CHILD_FOLDERS = {"ar"}
CONSENSUS = 0.85


def parse_sounds(text: str) -> list[tuple[str, str, str]]:
    """A sounds.xml -> [(part "alpha"/"syllab", name as written, file relative to the klettres folder)]."""
    root = ET.fromstring(text)
    out = []
    for tag, part in (("alphabet", "alpha"), ("syllables", "syllab")):
        for block in root.iter(tag):
            out += [(part, s.get("name", "").strip(), s.get("file", "")) for s in block.iter("sound")]
    return out


def transcript(part: str, name: str) -> str:
    return name if part == "alpha" else name.lower()


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def scan(root: Path = ROOT) -> tuple[list[dict[str, Any]], dict[str, int]]:
    items: dict[Path, dict[str, Any]] = {}
    left: dict[str, int] = {}
    for xml in sorted(root.glob("*/sounds.xml")):
        folder = xml.parent.name
        for part, name, rel in parse_sounds(xml.read_text(encoding="utf-8")):
            path = root / rel
            if not path.exists():
                left[f"{folder}: file not in the package"] = left.get(f"{folder}: file not in the package", 0) + 1
                continue
            if path in items:  # one file listed twice (lt ties/teis, ml khi for both ഖി and ഖീ): which is said?
                if items[path]["name"] != name:
                    items[path]["transcript"] = None
                    items[path]["name"] += f" / {name}"
                continue
            items[path] = {"path": path, "folder": folder, "part": part, "name": name,
                           "lang": LANG.get(folder, folder[:2]), "transcript": transcript(part, name)}
    return list(items.values()), left


def _label(f0: float | None, folder: str) -> str | None:
    sex = NAME_SEX.get(folder)
    return speaker_with_name(f0, sex) if sex else speaker_from_f0(f0)


def assign_voices(items: list[dict[str, Any]]) -> None:
    """Set each item's voice, speaker and `speaker_from` (items carry their clip's "f0")."""
    for folder in sorted({it["folder"] for it in items}):
        mine = [it for it in items if it["folder"] == folder]
        base = f"klet.{slug(folder)}"
        if folder in CHILD_FOLDERS:
            for it in mine:
                it.update(voice=base, speaker="child", speaker_from="the package names the reader a child")
            continue
        if folder in BY_CLIP:
            for it in mine:
                f0 = it["f0"]
                if folder == "pt_BR":
                    sp = "child" if f0 is not None and f0 >= CHILD_FROM_HZ else None
                    how = f"this clip's median F0 (>= {CHILD_FROM_HZ:g} Hz: the credited son)"
                else:
                    sp, how = speaker_from_f0(f0), "this clip's median F0"
                it.update(voice=f"{base}.{sp or 'unsure'}", speaker=sp, speaker_from=how)
            continue
        units = [(base, mine)]
        if not consensus([it["f0"] for it in mine], CONSENSUS)[0]:
            parts = [(f"{base}.{p}", [it for it in mine if it["part"] == p]) for p in ("alpha", "syllab")]
            parts = [(v, g) for v, g in parts if g]
            units = parts if all(consensus([it["f0"] for it in g], CONSENSUS)[0] for _, g in parts) else []
        if not units:  # neither the folder nor its two parts agree: each clip's own estimate
            for it in mine:
                sp = _label(it["f0"], folder)
                it.update(voice=f"{base}.{sp or 'unsure'}", speaker=sp, speaker_from="this clip's median F0")
            continue
        for voice, group in units:
            f0s = [it["f0"] for it in group if it["f0"] is not None]
            med = float(np.median(f0s)) if f0s else None
            sp = _label(med, folder)
            how = "median F0 of the voice's clips" + (f" ({med:.0f} Hz)" if med else "")
            if folder in NAME_SEX:
                how += f"; the credited name is {NAME_SEX[folder]}"
            for it in group:
                it.update(voice=voice, speaker=sp, speaker_from=how)


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PACKAGE]
    items, left = scan()

    def load(it: dict) -> tuple[int, np.ndarray]:
        sr = storage_rate(it["path"])
        return sr, trim(decode(it["path"], sr), sr)

    clips = measured_clips(items, load, left, MIN_SECONDS, MAX_SECONDS)
    assign_voices([it for it, _, _ in clips])
    out: list[Rec] = []
    for it, x, sr in clips:
        folder = it["folder"]
        reader, said_where = READERS.get(folder, ("not named", ""))
        comments = ogg_comments(it["path"])
        category = speech_category(it["speaker"])
        origin = {"package": PACKAGE, "version": version, "file": str(it["path"]), "license": "GPL-2+",
                  "reader": reader, "reader_from": said_where or None, "artist": comments.get("artist", [None])[0],
                  "shown": it["name"], "speaker_from": it["speaker_from"],
                  "f0_hz": None if it["f0"] is None else round(it["f0"], 1)}
        rec = {"id": f"klet.{slug(folder)}.{it['part']}.{slug(it['path'].stem)}", "category": category,
               "role": "event", "sr": sr, **ctx.categories[category].phrases(), "transcript": it["transcript"],
               "language": it["lang"], "speaker": it["speaker"], "voice": it["voice"], "origin": origin,
               "group": f"klet.{slug(folder)}", "countable": False}
        out.append((rec, x))
    for why, n in sorted(left.items()):
        print(f"  klettres: left out {n}: {why}", file=sys.stderr)
    return out
