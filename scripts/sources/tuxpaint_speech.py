"""Tux Paint's spoken stamp descriptions (`tuxpaint-stamps-default`, GPL-2+): real readers in 12 languages.

Each stamp `<dir>/<name>.png|svg` may have spoken descriptions `<name>_desc_<lang>.ogg` (`<name>_desc.ogg` is
English; `<name>_desc_pt_BR.wav` Brazilian Portuguese) and a text file `<name>.txt`: its first line is the
English description, then one line per translation, `<locale>.utf8=<text>` (`fr.utf8=Un hibou.`). The
transcript is the line of the clip's locale, cleaned (quotation marks dropped, spaces collapsed): it is the
written description, which the reader read; a reading may differ slightly (numbers, a parenthesis).
The collector `tuxpaint` reads this package's sound effects; this one reads only the descriptions.

Readers: no file names its reader except the 88 Lithuanian letters (Vorbis comment artist=Andrius Jurkus)
and one Danish file (artist=Joe Hansen). The package's changelog (CHANGES.txt) credits one reader per
language: be Kseniya Buraya, bg Krasimir Petkov, fr PaulK, ro Tabbytha, ru Edwin Veber (Google Code-In
students, i.e. aged 13-17, 2014), es Estefanía Ortiz, da Joe Hansen (Dalton), el Kiriaki Serafeim, ca Pere
Pujal Carabantes; pt_BR "various Brazilian school children"; en, nl and ml are not credited. Each credited
name's sex agrees with the median F0 of its language's clips (be 241 Hz, bg 117, ca 142, da 123, el 206,
es 258, fr PaulK 130, ro 246, ru 130), which supports one reader per language. French has three batches,
told apart by their encoder: the letters (libVorbis 2005, median F0 166 Hz), the 2007 animals (libVorbis
2007, 226 Hz) and PaulK's 2014 set (libVorbis 2010, tagged); the changelog also credits Jacques Chion with
French description sounds (2007), but which batch he read is unclear (the 2007 animals are read by a higher
voice), so the two older batches count as uncredited voices.
Voices: "tux.<lang>" ("tux.es"), French "tux.fr.1" (letters), "tux.fr.2" (PaulK), "tux.fr.3" (2007 animals).
A voice is one hold-out group.

Speaker: "child" for pt_BR (the credits say so). For a credited reader, the first name gives the sex and
the median F0 of all the voice's clips checks for an adult (common_speech.speaker_with_name: a male name
above 175 Hz gives None). For an uncredited voice (fr.1, fr.3, en, nl, ml): if at least 85% of the clips the
F0 rule decides agree, the rule on the voice's median F0 labels all its clips; otherwise each clip's own F0
(None where ambiguous) and the voice is that estimate ("tux.en.woman", "tux.en.unsure") within the group
"tux.en". The category follows (speech_male / speech_female / speech_child / speech).

Left out: clips whose stamp has no .txt or whose .txt has no line for the clip's language (the 88
Lithuanian letters among them: their .txt has no Lithuanian line), clips shorter than 0.3 s or longer than
15 s after trimming silence, and clips that are silent.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sources.common import Rec, decode, storage_rate, trim  # noqa: E402
from sources.common_speech import (SPEECH_CATEGORIES, consensus, median_f0, ogg_comments, reject_reason,  # noqa: E402
                                   speaker_from_f0, speaker_with_name, speech_category)

PACKAGE = "tuxpaint-stamps-default"
ROOT = Path("/usr/share/tuxpaint/stamps")
MIN_SECONDS, MAX_SECONDS = 0.3, 15.0

PACKAGES: dict[str, dict[str, str]] = {
    PACKAGE: {
        "license": "GPL-2+",
        "check": "License: GPL-2",
        "holder": "Bill Kendrick and Tux Paint contributors (2002-2022); readers credited in CHANGES.txt",
        "note": "Debian copyright: 'Files: * ... License: GPL-2' (version 2 or any later) covers the spoken "
                "descriptions *_desc*.ogg/.wav and the .txt descriptions used as transcripts.",
    },
}
CATEGORIES = list(SPEECH_CATEGORIES)

# locale in the file name -> (ISO 639-1, key in the .txt)
LOCALES = {"": ("en", None), "pt_BR": ("pt", "pt_BR")}
# Readers credited in the package's changelog (docs of the package: /usr/share/doc/<pkg>/changelog.gz).
CREDITS: dict[str, tuple[str, str | None, str | None]] = {  # voice -> (reader, speaker by credits, name's sex)
    "tux.be": ("Kseniya Buraya (Google Code-In student)", None, "female"),
    "tux.bg": ("Krasimir Petkov (Google Code-In student)", None, "male"),
    "tux.ro": ("Tabbytha (Google Code-In student)", None, "female"),
    "tux.ru": ("Edwin Veber (Google Code-In student)", None, "male"),
    "tux.es": ("Estefanía Ortiz", None, "female"),
    "tux.da": ("Joe Hansen (Joe Dalton)", None, "male"),
    "tux.el": ("Kiriaki Serafeim", None, "female"),
    "tux.ca": ("Pere Pujal Carabantes", None, "male"),
    "tux.fr.2": ("PaulK (Google Code-In student)", None, "male"),
    "tux.pt": ("various Brazilian school children", "child", None),
}


def parse_desc_name(name: str) -> tuple[str, str] | None:
    """'owl_desc_fr.ogg' -> ('owl', 'fr'); 'owl_desc.ogg' -> ('owl', ''); 'x_desc_pt_BR.wav' -> ('x', 'pt_BR')."""
    m = re.match(r"^(.+)_desc(?:_([a-z]{2,3}(?:_[A-Z]{2})?))?((?:\.ogg)+|\.wav)$", name)
    if not m:
        return None
    return m.group(1), m.group(2) or ""


def parse_txt(text: str) -> dict[str, str]:
    """A stamp's .txt -> {locale: description}; the first line (English) is under ''."""
    lines = text.splitlines()
    out: dict[str, str] = {}
    if lines and "=" not in lines[0].split(" ")[0]:
        out[""] = lines[0]
    for line in lines[1:]:
        m = re.match(r"^\s*([A-Za-z]{2,3}(?:_[A-Za-z]{2})?(?:@[A-Za-z]+)?)\.utf-?8\s*=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def clean_text(text: str) -> str:
    text = re.sub(r"<[^>]*>", " ", text)  # markup, if any
    text = re.sub(r"[\"«»“”„‟]", "", text)  # quotation marks: the transcript is itself quoted in captions
    text = text.replace("\u00a0", " ").replace("|", " ")
    return re.sub(r"\s+", " ", text).strip()


def _norm(stem: str) -> str:
    return re.sub(r"[-_ ]", "", stem.lower())


def find_txt(clip: Path, stem: str) -> Path | None:
    """The stamp's .txt: same stem, else the one whose stem matches ignoring case, '-' and '_' (a few Greek
    clips kept the name of a stamp since renamed: brownslug_desc_el.ogg for Brown_slug.txt)."""
    exact = clip.with_name(stem + ".txt")
    if exact.exists():
        return exact
    want = _norm(stem)
    for p in sorted(clip.parent.glob("*.txt")):
        if _norm(p.stem) == want:
            return p
    return None


def voice_of(lang_tag: str, comments: dict[str, list[str]]) -> str:
    code = LOCALES.get(lang_tag, (lang_tag, lang_tag))[0]
    if code == "fr":
        # Three batches: the letters (libVorbis 2005), the 2007 animals (libVorbis 2007, a higher voice), and
        # PaulK's 2014 set (libVorbis 2010, tagged).
        vendor = comments.get("_vendor", [""])[0]
        return "tux.fr.2" if "20101101" in vendor else "tux.fr.3" if "20070622" in vendor else "tux.fr.1"
    return f"tux.{code}"


def scan() -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Every spoken description with a transcript: [{path, lang, code, transcript, voice, comments}], and
    counts of what was left out."""
    items, left = [], {}
    for path in sorted(ROOT.rglob("*_desc*")):
        parsed = parse_desc_name(path.name)
        if parsed is None or path.suffix not in (".ogg", ".wav"):
            continue
        stem, tag = parsed
        code, key = LOCALES.get(tag, (tag, tag))
        txt = find_txt(path, stem)
        table = parse_txt(txt.read_text(encoding="utf-8", errors="replace")) if txt else {}
        text = clean_text(table.get(key if key is not None else "", ""))
        if not text:
            why = f"no .txt ({code})" if txt is None else f"no {tag or 'English'} line in .txt ({code})"
            left[why] = left.get(why, 0) + 1
            continue
        comments = ogg_comments(path) if path.suffix == ".ogg" else {}
        items.append({"path": path, "tag": tag, "code": code, "transcript": text, "voice": voice_of(tag, comments),
                      "comments": comments, "txt": txt})
    return items, left


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PACKAGE]
    items, left = scan()
    clips = []
    for it in items:
        path = it["path"]
        sr = storage_rate(path)
        x = trim(decode(path, sr), sr)
        why = reject_reason(x, sr, MIN_SECONDS, MAX_SECONDS)
        if why:
            left[why] = left.get(why, 0) + 1
            continue
        clips.append((it, x, sr, median_f0(x, sr)))
    # One speaker label per credited voice (the median of its clips' F0), clip by clip elsewhere.
    voice_f0: dict[str, float | None] = {}
    for v in sorted({it["voice"] for it, *_ in clips}):
        f0s = [f for it, _, _, f in clips if it["voice"] == v and f is not None]
        voice_f0[v] = float(np.median(f0s)) if f0s else None
    agree = {v: consensus([f for it, _, _, f in clips if it["voice"] == v]) for v in voice_f0}
    out: list[Rec] = []
    for it, x, sr, f0 in clips:
        v = it["voice"]
        reader, given, name_sex = CREDITS.get(v, (None, None, None))
        artist = it["comments"].get("artist", [None])[0]
        if given:
            speaker, how = given, "package credits"
        elif reader:
            speaker = speaker_with_name(voice_f0[v], name_sex)
            how = f"median F0 of the voice's clips ({voice_f0[v]:.0f} Hz) and the credited reader's name ({name_sex})"
        elif agree[v][0]:
            speaker = agree[v][1]
            how = f"median F0 of the voice's clips ({voice_f0[v]:.0f} Hz; {agree[v][2]:.0%} of its clips agree)"
        else:
            # Uncredited, clips disagreeing: the clip's own F0; its voice is estimated from it.
            speaker, how = speaker_from_f0(f0), "this clip's median F0"
            v = f"{v}.{speaker or 'unsure'}"
        category = speech_category(speaker)
        rel = it["path"].relative_to(ROOT)
        rid = "tuxsp." + it["code"] + "." + re.sub(r"[^A-Za-z0-9]+", "_", str(rel.with_suffix("")).lower())
        origin = {"package": PACKAGE, "version": version, "file": str(it["path"]),
                  "license": PACKAGES[PACKAGE]["license"],
                  "transcript_source": f"{it['txt']} ({(it['tag'] or 'first line')})",
                  "reader": artist or reader or "not credited",
                  "speaker_from": how, "f0_hz": None if f0 is None else round(f0, 1)}
        rec = {"id": rid, "category": category, "role": "event", "sr": sr,
               **ctx.categories[category].phrases(), "transcript": it["transcript"], "language": it["code"],
               "speaker": speaker, "voice": v, "origin": origin, "group": it["voice"], "countable": False}
        out.append((rec, x))
    for why, n in sorted(left.items()):
        print(f"  tuxpaint_speech: left out {n} clips: {why}", file=sys.stderr)
    return out
