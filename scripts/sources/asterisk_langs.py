"""Asterisk's telephone prompts in Spanish, French, Italian and Russian: studio speech with transcripts, plus
three older prompt sets (Colombian Spanish, French, Italian) whose packages ship no transcripts.

Core sound sets (installed packages; the WAV package gives the audio, the package of the same name without
"-wav" gives the transcripts in /usr/share/doc/asterisk-core-sounds-XX/core-sounds-XX.txt.gz). All four
share one DEP-5 copyright file; its stanzas say who recorded what:

- es (Mexican Spanish), es_MX_f_Allison: Allison Smith ("Files: *", the English set's reader), CC-BY-SA-3.0,
  the English set's voice and group.
- fr (Canadian French), fr_CA_f_June: June Wallack ("Files: fr-*"), CC-BY-SA-3.0, voice asterisk.fr.june.
- it, it_IT_m_Carlo: Carlo Flora ("Files: it-*"), CC-BY-3.0, voice asterisk.it.carlo.
- ru, ru_RU_f_IvrvoiceRU: a woman of ivrvoice.ru, "Provided by: Maxim Topal" ("Files: ru-*"), CC-BY-3.0,
  voice asterisk.ru.ivrvoice (her name is not given).

The Spanish set is read by Allison Smith, who also reads the English set (asterisk.py): her Spanish prompts
carry the English module's voice and group ("ast.en.allison"), so she is never split across train and
evaluation. The speaker's sex comes from the folder name (`_f_`/`_m_`) and the reader's name; common_speech.py's
F0 rule agrees for every woman (median F0 of one clip in 20: 183-231 Hz for the six women's voices; the rule
calls 66-100% of each one's clips "woman" and 0-13% "man"); Carlo reads high (193 Hz), so F0 alone would
call him a woman: the folder name and his name say man.

Transcripts: each line "key: text" of core-sounds-XX.txt, cleaned as the English ones (asterisk.py's
`clean_transcript`: bracketed notes dropped, "..." fragments joined, "*"/"#" spoken as star/pound). Keys whose
text is a bracketed note ("[tono simple]", "(ahooga)") are beeps and other non-speech: left out (the English
module already has the beeps). The Italian file lost its accented letters to "?" ("pu?", "sar?", " ? "): the
words found (può, sarà, più, così, è) are restored (`fix_italian`); a line that still has a "?" inside a word
is left out. The Spanish text is written mostly without accents ("numero", "contrasena"): the words are
right, so it is kept as it is. Prompts longer than MAX_PROMPT_SECONDS after trimming are left out; silence/ files too.

Extra prompt sets (no transcripts in their packages; speech with `transcript: None`, language and speaker
known). They conflict with the installed core sets, so they are read from packages unpacked by hand:

    mkdir -p /work/pkgs/debs && cd /work/pkgs/debs && \\
      apt-get download asterisk-prompt-es-co asterisk-prompt-fr-armelle asterisk-prompt-it-menardi-wav && \\
      for d in *.deb; do dpkg -x "$d" /work/pkgs/$(dpkg-deb -f "$d" Package); done

(`EXTRA_ROOT` below; a set that is not unpacked there is skipped with a note.)

- asterisk-prompt-es-co: July E. Jiménez, for Avatar Ltda. (Colombia, 2006); GPL-2 (LEEME: "Distribuidos
  bajo la licencia GNU GPL v2"); voice asterisk.es_co.july.
- asterisk-prompt-fr-armelle: Armelle Desjardins, (C) 2006 Michel Gutierrez; BSD-style (redistribution with the
  copyright notice and disclaimer); voice asterisk.fr.armelle.
- asterisk-prompt-it-menardi-wav: Paola Dal Zot, (C) 2006-2011 Marco Menardi and Paola Dal Zot; CC BY-SA 3.0
  Italy, with the authors' condition: credit them visibly to the end user, with http://www.voip.ammdomus.it;
  voice asterisk.it.menardi (the folder is it_IT_f_Menardi: a woman).

Their file names follow Asterisk's prompt names, but each set is its own translation, so the core sets'
texts are not theirs: no transcript is guessed. Non-speech files (beeps, tones, monkeys, silence/) are left
out by name.
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path
from typing import Any

from sources.asterisk import VOICE as ALLISON_VOICE
from sources.asterisk import clean_transcript
from sources.common import Category, Rec, decode, trim
from sources.records import make_record

SOUNDS = Path("/usr/share/asterisk/sounds")
DOC = Path("/usr/share/doc")
EXTRA_ROOT = Path("/work/pkgs")  # where the conflicting prompt packages are unpacked (dpkg -x)
MAX_PROMPT_SECONDS = 10.0
MIN_PROMPT_SECONDS = 0.15
ALLISON_GROUP = "ast.en.allison"  # asterisk.py's group for Allison Smith's English prompts

CORE_CHECK = "Files: fr-*"  # the shared copyright file names each language's stanza

# language: (folder, reader, speaker, voice, group, licence, licence stanza, holder)
CORE: dict[str, dict[str, str]] = {
    "es": {"folder": "es_MX_f_Allison", "reader": "Allison Smith", "speaker": "woman", "voice": ALLISON_VOICE,
           "group": ALLISON_GROUP, "license": "CC-BY-SA-3.0", "check": "Allison Smith (http://www.theivrvoice.com)",
           "holder": "Allison Smith (voice), Digium, Inc. (2003-2010)"},
    "fr": {"folder": "fr_CA_f_June", "reader": "June Wallack", "speaker": "woman", "voice": "asterisk.fr.june",
           "group": "asterisk.fr.june", "license": "CC-BY-SA-3.0", "check": "June Wallack (http://www.junewallack.com)",
           "holder": "June Wallack (voice, 2006-2008); translated by Clod Patry, Kristopher Lalletti, June Wallack; "
                     "Digium, Unlimitel, BGM Informatique"},
    "it": {"folder": "it_IT_m_Carlo", "reader": "Carlo Flora", "speaker": "man", "voice": "asterisk.it.carlo",
           "group": "asterisk.it.carlo", "license": "CC-BY-3.0", "check": "Carlo Flora (http://www.carloflora.com)",
           "holder": "Carlo Flora (voice, 2012, http://www.segreterietelefoniche.it); translated by Silvia Petrin"},
    "ru": {"folder": "ru_RU_f_IvrvoiceRU", "reader": "ivrvoice.ru (a woman; provided by Maxim Topal)",
           "speaker": "woman", "voice": "asterisk.ru.ivrvoice", "group": "asterisk.ru.ivrvoice",
           "license": "CC-BY-3.0", "check": "Provided by: Maxim Topal",
           "holder": "Maxim Topal, http://www.ivrvoice.ru (2010)"},
}

EXTRA: dict[str, dict[str, str]] = {
    "asterisk-prompt-es-co": {"language": "es", "folder": "usr/share/asterisk/sounds/es", "speaker": "woman",
                              "voice": "asterisk.es_co.july", "reader": "July E. Jiménez (Avatar Ltda.)"},
    "asterisk-prompt-fr-armelle": {"language": "fr", "folder": "usr/share/asterisk/sounds/fr", "speaker": "woman",
                                   "voice": "asterisk.fr.armelle", "reader": "Armelle Desjardins"},
    "asterisk-prompt-it-menardi-wav": {"language": "it", "folder": "usr/share/asterisk/sounds/it_IT_f_Menardi",
                                       "speaker": "woman", "voice": "asterisk.it.menardi",
                                       "reader": "Paola Dal Zot (Marco Menardi's prompts)"},
}

PACKAGES: dict[str, dict[str, str]] = {}
for _lang, _s in CORE.items():
    PACKAGES[f"asterisk-core-sounds-{_lang}-wav"] = {
        "license": _s["license"], "check": _s["check"], "holder": _s["holder"],
        "note": f"Prompts of {SOUNDS / _s['folder']} (8 kHz WAV), read by {_s['reader']}; the copyright file's "
                f"stanza for this language gives {_s['license']}."}
    PACKAGES[f"asterisk-core-sounds-{_lang}"] = {
        "license": _s["license"], "check": _s["check"], "holder": _s["holder"],
        "note": f"Transcripts: core-sounds-{_lang}.txt in this package."}
PACKAGES.update({
    "asterisk-prompt-es-co": {
        "license": "GPL-2", "check": "version 2 dated June, 1991",
        "holder": "Avatar Ltda. (2006), voice of July E. Jiménez",
        "copyright": str(EXTRA_ROOT / "asterisk-prompt-es-co/usr/share/doc/asterisk-prompt-es-co/copyright"),
        "note": "Colombian Spanish prompts (8 kHz GSM), not installed (conflicts with asterisk-core-sounds-es): "
                "apt-get download + dpkg -x into /work/pkgs. No transcripts in the package."},
    "asterisk-prompt-fr-armelle": {
        "license": "BSD-style (redistribution with the copyright notice and disclaimer)",
        "check": "Voice actor: Armelle Desjardins",
        "holder": "Copyright (C) 2006 Michel Gutierrez; voice actor Armelle Desjardins",
        "copyright": str(EXTRA_ROOT / "asterisk-prompt-fr-armelle/usr/share/doc/asterisk-prompt-fr-armelle/copyright"),
        "note": "French prompts (8 kHz GSM), not installed (conflicts with asterisk-core-sounds-fr): apt-get "
                "download + dpkg -x into /work/pkgs. Licence: 'Redistribution and use, with or without modification, "
                "are permitted provided that ... Redistributions must retain the above copyright notice'. No "
                "transcripts in the package."},
    "asterisk-prompt-it-menardi-wav": {
        "license": "CC-BY-SA-3.0-IT", "check": "License: CC-SA-BY-3.0",
        "holder": "Marco Menardi and Paola Dal Zot (2006-2011), http://www.voip.ammdomus.it",
        "copyright": str(EXTRA_ROOT / "asterisk-prompt-it-menardi-wav/usr/share/doc/asterisk-prompt-it-menardi-wav/"
                                      "copyright"),
        "note": "Italian prompts (8 kHz WAV), not installed (conflicts with asterisk-core-sounds-it): apt-get "
                "download + dpkg -x into /work/pkgs. Attribution condition of the authors: wherever distributed, "
                "state visibly to the end user that the sound files were made by Marco Menardi and Paola Dal Zot, "
                "with the URL http://www.voip.ammdomus.it. No transcripts in the package."},
})

CATEGORIES: list[Category] = []  # speech_female / speech_male come from asterisk.py

NON_SPEECH = {"beep", "beeperr", "ascending-2tone", "descending-2tone", "tt-monkeys", "tt-monkeysintro"}

ITALIAN_FIXES = [("pu?", "può"), ("sar?", "sarà"), ("pi?", "più"), ("cos?", "così")]  # and " ? " -> " è "


def parse_transcripts(lines: list[str]) -> dict[str, str]:
    """'key: text' lines (';' comments, blank lines and a BOM ignored) -> {key: text}."""
    table = {}
    for line in lines:
        m = re.match(r"^([A-Za-z0-9_/\-]+):\s*(.*)$", line.strip().lstrip("\ufeff"))
        if m:
            table[m.group(1)] = m.group(2).strip()
    return table


def read_transcripts(lang: str) -> dict[str, str]:
    path = DOC / f"asterisk-core-sounds-{lang}" / f"core-sounds-{lang}.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        return parse_transcripts(f.readlines())


def fix_italian(text: str) -> str | None:
    """Restore the accented letters core-sounds-it.txt lost to '?'; None if a '?' is still inside a word."""
    for bad, good in ITALIAN_FIXES:
        text = re.sub(r"(?<![A-Za-z])" + re.escape(bad) + r"(?![A-Za-z])", good, text)
        text = re.sub(r"(?<![A-Za-z])" + re.escape(bad.capitalize()) + r"(?![A-Za-z])", good.capitalize(), text)
    text = re.sub(r"(?<=\s)\?(?=\s)", "è", text)  # "La conferenza ? piena." -> "è"
    text = re.sub(r"^\?(?=\s)", "È", text)
    if re.search(r"\w\?\w|\s\?\s|^\?|\w\?\s+[a-zàèéìòù]", text):  # "Citt? bella": not a question
        return None
    return text


def transcript_for(lang: str, raw: str) -> str | None:
    """The cleaned transcript of one prompt line, or None for non-speech notes and unfixable lines."""
    if lang == "it":
        fixed = fix_italian(raw)
        if fixed is None:
            return None
        raw = fixed
    if raw.strip().startswith(("[", "(")):
        return None
    text = clean_transcript(raw)
    text = re.sub(r"\s+([?!.,;:])", r"\1", text)  # "el mensaje ?" -> "el mensaje?"
    text = re.sub(r"(?<!\.)\.\.$", ".", text)  # "esattamente.." -> "esattamente."
    if not text or text.startswith("(") or not re.search(r"\w", text):
        return None
    return text


def extra_version(pkg: str) -> str | None:
    """The version of an unpacked (not installed) package, from its changelog.Debian.gz's first line."""
    log = EXTRA_ROOT / pkg / "usr/share/doc" / pkg / "changelog.Debian.gz"
    if not log.exists():
        return None
    with gzip.open(log, "rt", errors="replace") as f:
        m = re.match(r"^\S+ \(([^)]+)\)", f.readline())
    return m.group(1) if m else None


def _rid(prefix: str, key: str) -> str:
    return prefix + "." + key.replace("/", ".").replace("-", "_").lower()


def _speech_cat(speaker: str) -> str:
    return {"man": "speech_male", "woman": "speech_female"}[speaker]


def collect(ctx: Any) -> list[Rec]:
    out: list[Rec] = []
    left_out: dict[str, int] = {}
    for lang, s in CORE.items():
        pkg = f"asterisk-core-sounds-{lang}-wav"
        root = SOUNDS / s["folder"]
        if not root.exists():
            print(f"  asterisk_langs: {root} missing; is {pkg} installed?", file=sys.stderr)
            continue
        table = read_transcripts(lang)
        for path in sorted(root.rglob("*.wav")):
            key = str(path.relative_to(root).with_suffix(""))
            if key.startswith("silence/") or key in NON_SPEECH:
                continue
            if key not in table:
                left_out[f"{lang}: no transcript line"] = left_out.get(f"{lang}: no transcript line", 0) + 1
                continue
            text = transcript_for(lang, table[key])
            if text is None:
                left_out[f"{lang}: non-speech note or unfixable text"] = \
                    left_out.get(f"{lang}: non-speech note or unfixable text", 0) + 1
                continue
            x = trim(decode(path, 8000), 8000)
            if not MIN_PROMPT_SECONDS * 8000 <= len(x) <= MAX_PROMPT_SECONDS * 8000:
                left_out[f"{lang}: longer than {MAX_PROMPT_SECONDS:g} s or empty"] = \
                    left_out.get(f"{lang}: longer than {MAX_PROMPT_SECONDS:g} s or empty", 0) + 1
                continue
            origin = {"package": pkg, "version": ctx.versions.get(pkg, "?"), "file": str(path),
                      "license": s["license"], "reader": s["reader"],
                      "transcript_source": f"{DOC}/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz ({key})"}
            out.append(make_record(ctx.categories, _rid(f"ast.{lang}", key), _speech_cat(s["speaker"]), 8000, x,
                                   origin, group=s["group"], transcript=text, language=lang, speaker=s["speaker"],
                                   voice=s["voice"]))
    for pkg, e in EXTRA.items():
        root = EXTRA_ROOT / pkg / e["folder"]
        version = extra_version(pkg)
        if not root.exists() or version is None:
            print(f"  asterisk_langs: {pkg} is not unpacked under {EXTRA_ROOT}; skipped (see the module docstring)",
                  file=sys.stderr)
            continue
        lic = PACKAGES[pkg]["license"]
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".wav", ".gsm")):
            key = str(path.relative_to(root).with_suffix(""))
            if key.startswith("silence/") or key in NON_SPEECH or "tone" in key:
                continue
            x = trim(decode(path, 8000), 8000)
            if not MIN_PROMPT_SECONDS * 8000 <= len(x) <= MAX_PROMPT_SECONDS * 8000:
                left_out[f"{pkg}: longer than {MAX_PROMPT_SECONDS:g} s or empty"] = \
                    left_out.get(f"{pkg}: longer than {MAX_PROMPT_SECONDS:g} s or empty", 0) + 1
                continue
            origin = {"package": pkg, "version": version, "file": str(path), "license": lic, "reader": e["reader"],
                      "transcript_source": None, "unpacked_from": f"apt-get download {pkg} (dpkg -x)"}
            out.append(make_record(ctx.categories, _rid(e["voice"].replace("asterisk.", "ast."), key),
                                   _speech_cat(e["speaker"]), 8000, x, origin, group=e["voice"], transcript=None,
                                   language=e["language"], speaker=e["speaker"], voice=e["voice"]))
    for why, n in sorted(left_out.items()):
        print(f"  asterisk_langs: left out {n} ({why})", file=sys.stderr)
    return out
