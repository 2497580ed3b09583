"""Asterisk's English prompts (asterisk-core-sounds-en-wav): Allison Smith's studio speech with the
transcripts of core-sounds-en.txt, plus the set's beeps and its monkeys.

The other languages' Asterisk voices are another module's (asterisk_langs).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

from sources.common import C, Category, Rec, cap, decode, trim
from sources.records import make_record

ASTERISK_ROOT = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
MAX_PROMPT_SECONDS = 5.0  # prompts longer than this are skipped: too long for a 10-s scene
VOICE = "Allison Smith (studio recording)"

PACKAGES: dict[str, dict[str, str]] = {
    "asterisk-core-sounds-en": {
        "license": "CC-BY-SA-3.0",
        "check": "License: CC-BY-SA-3.0",
        "holder": "Allison Smith (voice), Digium, Inc. (2003-2010)",
        "note": "English prompts recorded by Allison Smith (http://www.theivrvoice.com); transcripts from "
                "core-sounds-en.txt in this package.",
    },
    "asterisk-core-sounds-en-wav": {
        "license": "CC-BY-SA-3.0",
        "check": "License: CC-BY-SA-3.0",
        "holder": "Allison Smith (voice), Digium, Inc. (2003-2010)",
        "note": "The same prompts as 8 kHz 16-bit WAV files (the ones read here).",
    },
}

# Categories first defined here: beeps and the speech categories every speech module uses.
CATEGORIES: list[Category] = [
    C("beep", "signal", "beep", "beep", "sounds", "sound", "sounding", "beep, beeps, beeping, tone, tones",
      countable=True),
    C("speech_female", "speech", "woman speaking", "woman", "speaks", "speak", "speaking",
      "woman, women, female, lady, girl"),
    C("speech_male", "speech", "man speaking", "man", "speaks", "speak", "speaking", "man, men, male, guy, boy"),
    C("speech_child", "speech", "child speaking", "child", "speaks", "speak", "speaking", "child, children, kid, kids"),
    C("speech", "speech", "person speaking", "person", "speaks", "speak", "speaking",
      "person, people, someone, speaker, voice, voices"),
]


def asterisk_transcripts() -> dict[str, str]:
    table = {}
    with gzip.open(ASTERISK_TRANSCRIPTS, "rt", errors="replace") as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_/\-]+):\s*(.*)$", line.strip())
            if m:
                table[m.group(1)] = m.group(2).strip()
    return table


def clean_transcript(text: str) -> str:
    text = re.sub(r"\s*\[[^\]]*\]", "", text)  # "at [@]" -> "at"
    text = text.replace("exclaimation", "exclamation").replace('"', "")
    text = re.sub(r"\s*(\.\.\.|…)\s*", " ", text).strip()  # "...has left the conference." is a fragment
    text = re.sub(r"(?<![A-Za-z0-9])\*(?![A-Za-z0-9])", "star", text)  # "press * to" is spoken "press star to"
    text = re.sub(r"(?<![A-Za-z0-9])#(?![A-Za-z0-9])", "pound", text)
    return re.sub(r"\s+", " ", text).strip()


def collect(ctx: Any) -> list[Rec]:
    version = ctx.versions["asterisk-core-sounds-en-wav"]
    table = asterisk_transcripts()
    out: list[Rec] = []
    non_speech = {"beep": ("beep", {}), "beeperr": ("beep", {"noun": "error beep"}),
                  "ascending-2tone": ("beep", {"noun": "rising double beep"}),
                  "descending-2tone": ("beep", {"noun": "falling double beep"}),
                  # transcribed "<beep ascending>" / "<beep decending>": tones, not speech (the first dataset
                  # had them as speech)
                  "confbridge-join": ("beep", {"noun": "rising beep"}),
                  "confbridge-leave": ("beep", {"noun": "falling beep"}),
                  "tt-monkeys": ("monkey", {"noun": "monkeys", "article": "", "verb": "screech", "base": "screech",
                                            "plural": True})}
    for path in sorted(ASTERISK_ROOT.rglob("*.wav")):
        key = str(path.relative_to(ASTERISK_ROOT).with_suffix(""))
        if key.startswith("silence/") or key not in table:
            continue
        x = trim(decode(path, 8000), 8000)
        if key in non_speech:
            x = cap(x, 8000)  # the monkeys run for 9 s; a cut keeps them usable
        elif len(x) == 0 or len(x) > MAX_PROMPT_SECONDS * 8000:
            continue
        origin = {"package": "asterisk-core-sounds-en-wav", "version": version, "file": str(path),
                  "license": PACKAGES["asterisk-core-sounds-en-wav"]["license"],
                  "transcript_source": f"{ASTERISK_TRANSCRIPTS} ({key})"}
        rid = "ast." + key.replace("/", ".").replace("-", "_")
        if key in non_speech:
            category, over = non_speech[key]
            out.append(make_record(ctx.categories, rid, category, 8000, x, origin, group=rid, **over))
            continue
        text = clean_transcript(table[key])
        if not text or text.startswith(("(", "<")):
            continue
        # One voice: a whole voice is held out or not (group = voice).
        out.append(make_record(ctx.categories, rid, "speech_female", 8000, x, origin, group="ast.en.allison",
                               transcript=text, language="en", speaker="woman", voice=VOICE, gender="female"))
    return out

