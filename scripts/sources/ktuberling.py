"""KTuberling's spoken object names (`ktuberling-data`, GPL-2+): real readers, 20 languages, one word or a few.

Layout: /usr/share/ktuberling/sounds/<locale>.soundtheme (XML, `<sound name="ball" file="de/ball.ogg"/>`)
maps the game's object names (English keys: "ball", "egypt_camel", "tux-apple") to one recording per
language folder. The package holds no text of what is said in each language; the transcript comes from:

- English: the key itself ("egypt_palmtree" -> "palm tree");
- folders whose file names are the spoken word (ca `patata_*`, da, es, fi, fr, ga, it, nds, nl, pt, ro, sr,
  sv): the file name with its orthography restored by hand (`SPELLING`, `FR_ACCENTS`, `DA_LETTERS`: file
  names are ASCII: "oculos-de-sol" -> "óculos de sol");
- Danish files of Martha Schou: their Vorbis comment `comments=da:<text>`;
- elsewhere (de, el, gl, lt, ru, sl, uk, wa, and the English-named files of ca/da): None (the language
  and speaker are still known; the word is not written anywhere in the package).

Readers: the Vorbis comment `artist` where present (ca: six readers, da Martha Schou, el "clavisound.gr and
patty", lt Donatas Glodenis, wa Djan Cayron), else the credits
of the game's translation (/usr/share/locale/<lang>/LC_MESSAGES/ktuberling.mo, "NAME OF TRANSLATORS"):
nl "Stem: Nadine", gl two voices (Sara Barreiro Riveiro, Miguel Solla), sv Petra Larsson, aged 6 ("6år;
inläsning"): the only folder whose speaker is a child by the package's own words. The voice is
"ktub.<lang>" or, where the files name readers, "ktub.<lang>.<reader>"; the hold-out group is the language
folder ("ktub.ca"), because a folder's untagged files may be any of its readers.

Speaker: "child" for sv (credits). Else one label per voice from the median F0 of its clips, where the voice
is one named reader, or at least 85% of its decided clips agree on the F0 rule, or its named readers' first
names agree on the sex (`NAME_SEX`; then F0 only checks for an adult: common_speech.speaker_with_name, so the
Catalan boys Otger, Bernat, Jaume and Eudald, who read at 220-255 Hz, get None rather than "woman"). In the
other folders (readers unnamed and their clips disagreeing: fr, ru, en, da, sl, pt) each clip's own F0 gives
the speaker (None where ambiguous) and its voice is that estimate ("ktub.ru.man", "ktub.ru.woman",
"ktub.ru.unsure").

Left out: the sr@latin / sr@ijekavian / sr@ijekavianlatin folders (byte-identical copies of sr/); nn/
(text-to-speech: `SYNTHETIC`); the
id.soundtheme (its folder is not in the package); the wordless Robin-Tux exclamations (angry, huh, laugh,
sick, zzz: possibly vocal sounds rather than words); clips under 0.3 s or over 15 s after trimming.
"""

from __future__ import annotations

import gettext
import re
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sources.common import Rec, decode, storage_rate, trim  # noqa: E402
from sources.common_speech import (SPEECH_CATEGORIES, measured_clips, ogg_comments,  # noqa: E402
                                   speaker_from_f0, speaker_with_name, speech_category)

PACKAGE = "ktuberling-data"
ROOT = Path("/usr/share/ktuberling/sounds")
LOCALE_DIR = Path("/usr/share/locale")
MIN_SECONDS, MAX_SECONDS = 0.3, 15.0
CONSENSUS = 0.85

PACKAGES: dict[str, dict[str, str]] = {
    PACKAGE: {
        "license": "GPL-2+",
        "check": "License: GPL-2+",
        "holder": "Albert Astals Cid, Éric Bischoff and the KTuberling contributors; readers named in the files' "
                  "Vorbis comments and in the translation credits",
        "note": "Debian copyright 'Files: *' (GPL-2+) covers sounds/; only doc/ is GFDL, pics/moon.svg CC-BY. "
                "The nn files' own comment says 'GPL V3+' (compatible; recorded per file).",
    },
}
CATEGORIES = list(SPEECH_CATEGORIES)

COPIES = {"sr@latin", "sr@ijekavian", "sr@ijekavianlatin"}  # same files as sr/
# Text-to-speech, not a reader: nn/'s artist tag names Karl Ove Hufthammer and Øystein Steffensen-Alværvik,
# whom klettres-data's nn/sounds.xml credits for making its Norwegian files with the CereVoice Cloud service.
SYNTHETIC = {"nn"}
LANG = {"nds": "nds", "wa": "wa"}  # ISO 639-1 where one exists; Low German has none (ISO 639-3 "nds")
EXCLAMATIONS = {"angry", "huh", "laugh", "sick", "zzz", "je-ris", "je-dors", "heu"}
READER_ALIAS = {"Bernat": "Bernat Mas"}
CREDITED: dict[str, tuple[str, str | None]] = {  # folder -> (reader from the translation credits, speaker)
    "nl": ("Nadine", None),
    "sv": ("Petra Larsson (aged 6)", "child"),
    "gl": ("Sara Barreiro Riveiro or Miguel Solla", None),
    "de": ("Helmut Pozimski (German audio files)", None),
}
SINGLE_READER_FOLDERS = {"nl", "de"}  # one reader credited, files untagged
# The sex that a reader's first name tells (by hand; None where the name does not say). With a name, F0 only
# checks for an adult (common_speech.speaker_with_name): the Catalan boys' names read at 220-255 Hz get None.
NAME_SEX: dict[str, str] = {
    "Otger Mas": "male", "Bernat Mas": "male", "Martí Mas": "male", "Jaume Lladó": "male", "Eudald Lladó": "male",
    "Orestes": "male", "Martha Schou": "female", "Donatas Glodenis": "male", "Djan Cayron": "male",
    "Nadine": "female", "Helmut Pozimski (German audio files)": "male",
    "Karl Ove Hufthammer / Øystein Steffensen-Alværvik": "male",
}

# Words whose file name lost its letters (hand-restored); keys are file stems without the theme prefix.
SPELLING: dict[str, dict[str, str]] = {
    "es": {"gafasdesol": "gafas de sol"},
    "fi": {"nena": "nenä", "silma": "silmä", "silmalasit": "silmälasit"},
    "ga": {"beal": "béal", "croimeal": "croiméal", "cuachog": "cuachóg", "fainne-cluaise": "fáinne cluaise",
           "speaclai": "spéaclaí", "speaclai-greine": "spéaclaí gréine", "sron": "srón", "suil": "súil"},
    "it": {"occhialidasole": "occhiali da sole"},
    "nds": {"suennbrill": "sünnbrill"},
    "pt": {"chapeu": "chapéu", "laco": "laço", "oculos": "óculos", "oculos-de-sol": "óculos de sol"},
    "ro": {"cravata": "cravată", "gura": "gură", "mustata": "mustață", "palarie": "pălărie", "par": "păr",
           "sprinceana": "sprânceană"},
    "sv": {"glasogon": "glasögon", "har": "hår", "nasa": "näsa", "oga": "öga", "ogonbryn": "ögonbryn", "ora": "öra",
           "orhange": "örhänge", "solglasogon": "solglasögon"},
    "sr": {"masna": "mašna", "mindjusa": "minđuša", "naocare": "naočare", "naocare_za_sunce": "naočare za sunce",
           "sesir": "šešir", "znacka": "značka"},
    "ca": {"basto": "bastó", "corbati": "corbatí", "ulleresdesol": "ulleres de sol"},
}
# Folders whose every file name is the word (no English keys among them).
WORD_FOLDERS = {"es", "fi", "ga", "it", "nds", "nl", "pt", "ro", "sv", "sr", "fr"}
# Danish: the file names that are Danish words (the rest are English keys); aa/ae/oe stand for å/æ/ø.
DA_WORDS = set("""blomst bold briller aesel bro broend bue dreng fugle graes kamel kvinde mand oase palme pige
pyramide sfinx soejle vej vogn frakke haar hat astronaut hotel jorden maanefartoej planet radar raket rumvaesen
satellit skilt stjerne stjerneskud ufo uhyre mund naese nederdel oeje oejenbryn oere oerering overskaeg paraply
agurk ananas ansjos bacon broccoli champignon loeg oliven oregano ost pebber pebberoni salami tomat shorts sko
slips sloejfe solbriller stok bil cykel cyklist tog""".split())
DA_LETTERS = [("aa", "å"), ("ae", "æ"), ("oe", "ø")]
FR_ACCENTS = {
    "ane": "âne", "charette": "charrette", "garcon": "garçon", "etoile": "étoile", "fusee": "fusée", "hotel": "hôtel",
    "planete": "planète", "noel": "Noël", "comete": "comète", "coeur": "cœur", "oeil": "œil", "baton": "bâton",
    "noeud": "nœud", "sorciere": "sorcière", "frere": "frère", "sheriff": "shérif", "cle": "clé", "fleche": "flèche",
    "fleches": "flèches", "idee": "idée", "fache": "fâche", "tete": "tête", "barriere": "barrière",
    "depannage": "dépannage", "cloture": "clôture", "echelle": "échelle", "ecole": "école", "elephant": "éléphant",
    "fumee": "fumée", "mecanicien": "mécanicien", "pecheur": "pêcheur", "ovni": "OVNI",
}
FR_UNSURE = {"robin_avis-recherche"}  # "avis de recherche", most likely; the file name drops a word
THEME_PREFIX = re.compile(r"^(robot_workshop|egypt|egypte|moon|lune|noel|papillons|patate|patata|pizzeria|pizza|"
                          r"robin|robot|tv|xmas|butterflies|say)[_-]")
EN_FIX = {"brocolli": "broccoli", "sphynx": "sphinx", "palmtree": "palm tree", "fallingstar": "falling star",
          "ufo": "UFO", "moonwalker": "moon walker"}


def parse_soundtheme(text: str) -> tuple[str, list[tuple[str, str]]]:
    """A .soundtheme's XML -> (language code, [(sound name, file relative to sounds/)])."""
    root = ET.fromstring(text)
    return root.get("code", ""), [(s.get("name", ""), s.get("file", "")) for s in root.iter("sound")]


def strip_theme(stem: str) -> str:
    s = stem
    for _ in range(2):  # "robot_workshop_arm", "pizzeria_x"
        s = THEME_PREFIX.sub("", s)
    return s


def english_word(key: str) -> str:
    s = strip_theme(key)
    s = re.sub(r"^tux-|-tux$", "", s) if s not in ("tux",) else s
    words = [EN_FIX.get(w, w) for w in re.split(r"[_\-]+", s) if w]
    return " ".join(words)


def french_word(stem: str) -> str:
    s = strip_theme(stem)
    if s == "paquet-cadeau":
        return "paquet-cadeau"
    s = re.sub(r"(?:(?<=^)|(?<=-))([jld])-", r"\1'", s)  # j-ai -> j'ai, Tux-l-enfant -> Tux-l'enfant
    out = []
    for part in s.split("-"):
        bits = part.split("'")
        bits[-1] = FR_ACCENTS.get(bits[-1].lower(), bits[-1])
        out.append("'".join(bits))
    return " ".join(out)


def danish_word(stem: str) -> str | None:
    s = strip_theme(stem)
    if s not in DA_WORDS:
        return None
    for a, b in DA_LETTERS:
        s = s.replace(a, b)
    return s


def transcript_for(folder: str, key: str, stem: str, comments: dict[str, list[str]]) -> tuple[str | None, str]:
    """(transcript or None, where it came from)."""
    for c in comments.get("comments", []):
        if c.startswith(f"{folder}:") and c.split(":", 1)[1].strip():
            return c.split(":", 1)[1].strip(), "the file's Vorbis comment"
    if folder == "en":
        return english_word(key), "the sound's English name in en.soundtheme"
    if folder == "da":
        w = danish_word(stem)
        return (w, "the file name (å/æ/ø restored)") if w else (None, "not in the package")
    if folder == "fr":
        if stem in FR_UNSURE:
            return None, "the file name is not what is said"
        return french_word(stem), "the file name (accents restored by hand)"
    if folder == "ca":
        if not stem.startswith("patata_"):
            return None, "not in the package"
        w = strip_theme(stem)
        return SPELLING["ca"].get(w, w), "the file name"
    if folder in WORD_FOLDERS:
        w = SPELLING.get(folder, {}).get(stem, stem.replace("-", " ").replace("_", " "))
        return w, "the file name" + (" (letters restored by hand)" if stem in SPELLING.get(folder, {}) else "")
    return None, "not in the package"


def translator_credits(folder: str) -> str | None:
    mo = LOCALE_DIR / folder / "LC_MESSAGES" / "ktuberling.mo"
    if not mo.exists():
        return None
    with open(mo, "rb") as f:
        cat = gettext.GNUTranslations(f)._catalog  # noqa: SLF001 (stdlib reader, no public accessor)
    for k, v in cat.items():
        if isinstance(k, str) and k.endswith("Your names"):
            return str(v)
    return None


def slug(s: str) -> str:
    s = unicodedata.normalize("NFKD", s.replace("ø", "o").replace("Ø", "O")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def scan() -> tuple[list[dict[str, Any]], dict[str, int]]:
    items, left = [], {}
    for theme in sorted(ROOT.glob("*.soundtheme")):
        folder = theme.stem
        code, sounds = parse_soundtheme(theme.read_text(encoding="utf-8"))
        if folder in COPIES:
            left[f"{folder}: copy of sr/"] = len(sounds)
            continue
        if folder in SYNTHETIC:
            left[f"{folder}: text-to-speech"] = len(sounds)
            continue
        seen: set[str] = set()
        for key, rel in sounds:
            path = ROOT / rel
            if not path.exists():
                left[f"{folder}: file missing"] = left.get(f"{folder}: file missing", 0) + 1
                continue
            if rel in seen:  # es maps "bow" and "tie" to the same lazo.wav
                continue
            seen.add(rel)
            stem = path.stem
            tail = strip_theme(stem).lower()
            if tail.removeprefix("tux-") in EXCLAMATIONS or strip_theme(key).removeprefix("tux-") in EXCLAMATIONS:
                left["wordless exclamation"] = left.get("wordless exclamation", 0) + 1
                continue
            comments = ogg_comments(path)
            text, source = transcript_for(folder, key, stem, comments)
            artist = comments.get("artist", [None])[0]
            artist = READER_ALIAS.get(artist, artist) if artist else None
            items.append({"path": path, "folder": folder, "lang": LANG.get(folder, folder.split("@")[0][:2]),
                          "key": key, "transcript": text, "transcript_source": source, "artist": artist,
                          "comments": comments})
    # Voices: "ktub.<lang>.<reader>" where the file names its reader, else "ktub.<lang>".
    for it in items:
        one = it["artist"] and not re.search(r" and | / |,|&", it["artist"])  # several names: the folder's voice
        it["voice"] = f"ktub.{it['folder']}" + (f".{slug(it['artist'])}" if one else "")
        it["group"] = f"ktub.{it['folder']}"
    return items, left


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PACKAGE]
    items, left = scan()
    clips = measured_clips(items, lambda it: read_audio(it["path"], Path(ctx.tmp)), left, MIN_SECONDS, MAX_SECONDS)
    credits = {f: translator_credits(f) for f in sorted({it["folder"] for it, _, _ in clips})}
    voice_label = voice_speakers([it for it, _, _ in clips])
    out: list[Rec] = []
    for it, x, sr in clips:
        folder = it["folder"]
        reader, given = CREDITED.get(folder, (None, None))
        if it["artist"]:
            reader = it["artist"]
        if given:
            speaker, how = given, "the translation credits"
        elif it["voice"] in voice_label:
            speaker, how = voice_label[it["voice"]]
        else:
            speaker, how = speaker_from_f0(it["f0"]), "this clip's median F0"
            # A folder of unnamed readers whose clips disagree: the voice is estimated from the clip's F0.
            it["voice"] = f"{it['voice']}.{speaker or 'unsure'}"
        category = speech_category(speaker)
        rid = f"ktub.{slug(folder)}.{slug(it['path'].stem)}"
        license_ = PACKAGES[PACKAGE]["license"]
        own = it["comments"].get("copyright", [None])[0]
        origin = {"package": PACKAGE, "version": version, "file": str(it["path"]),
                  "license": license_ + (f" (the file's own comment: {own})" if own else ""),
                  "sound": it["key"], "transcript_source": it["transcript_source"],
                  "reader": reader or "not named", "translation_credits": credits.get(folder),
                  "speaker_from": how, "f0_hz": None if it["f0"] is None else round(it["f0"], 1)}
        rec = {"id": rid, "category": category, "role": "event", "sr": sr, **ctx.categories[category].phrases(),
               "transcript": it["transcript"], "language": it["lang"], "speaker": speaker, "voice": it["voice"],
               "origin": origin, "group": it["group"], "countable": False}
        out.append((rec, x))
    for why, n in sorted(left.items()):
        print(f"  ktuberling: left out {n}: {why}", file=sys.stderr)
    return out


def read_audio(path: Path, tmp: Path) -> tuple[int, np.ndarray]:
    """(storage rate, trimmed float audio). sox has no Opus reader: the nn/ files go through ffmpeg to a WAV
    (48 kHz, as Opus always decodes) and then through sox's resampler like every other file."""
    if path.suffix == ".opus":
        tmp.mkdir(parents=True, exist_ok=True)
        wav = tmp / "ktuberling_opus.wav"
        res = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-ac", "1", "-ar", "48000",
                              "-c:a", "pcm_s16le", str(wav)], capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"ffmpeg could not decode {path}: {res.stderr.strip()}")
        path = wav
    sr = storage_rate(path)
    return sr, trim(decode(path, sr), sr)


def voice_speakers(items: list[dict[str, Any]]) -> dict[str, tuple[str | None, str]]:
    """Voice -> (speaker, how) for voices labelled as a whole: one named reader, or a clear F0 majority."""
    out = {}
    for v in sorted({it["voice"] for it in items}):
        f0s = [it["f0"] for it in items if it["voice"] == v and it["f0"] is not None]
        if not f0s:
            continue
        med = float(np.median(f0s))
        said = [s for s in (speaker_from_f0(f) for f in f0s) if s]
        top = max(set(said), key=said.count) if said else None
        share = said.count(top) / len(said) if said else 0.0
        folder = v.split(".")[1]
        artists = {it["artist"] for it in items if it["voice"] == v}
        one = len(artists) == 1 and None not in artists and not re.search(r" and | / |,|&", next(iter(artists)))
        named = one or (artists == {None} and folder in SINGLE_READER_FOLDERS)
        names = {it["artist"] or CREDITED.get(folder, (None, None))[0] for it in items if it["voice"] == v}
        sexes = {NAME_SEX.get(n) for n in names}
        name_sex = sexes.pop() if len(sexes) == 1 else None
        if named or share >= CONSENSUS or name_sex:
            why = "one named reader" if named else f"{share:.0%} of its clips agree"
            if name_sex:
                why += f"; the name is {name_sex}"
            out[v] = (speaker_with_name(med, name_sex), f"median F0 of the voice's clips ({med:.0f} Hz; {why})")
    return out
