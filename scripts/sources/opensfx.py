"""OpenSFX, OpenTTD's free base sound set (`openttd-opensfx`): vehicles, industry, animals, weather.

The 73 sounds lie in one archive, /usr/share/games/openttd/baseset/opensfx/opensfx.cat (OpenTTD's sample
format: a table of (offset, size) pairs of little-endian uint32, the first offset telling the table's length;
at each offset a length byte, a name and a RIFF WAV file of `size` bytes). Each name credits its source, e.g.
'"Ship horn". Original "ship2_bergen.aif" by Leon Milo. Edited by Wuzzy. License: Creative Commons Attribution
3.0 Unported.': the recordings are freesound.org originals under CC BY 3.0, CC BY-SA 3.0 or CC0, edited for
the game. Debian's copyright file: "Files: src/wav/* ... License: CC-BY-SA-3.0 / Comment: Individual files in
this directory are licensed under CC-BY 3.0, CC-BY-SA 3.0 and CC0, as listed in opensfx.psfo. As indicated in
readme.ptxt, the collection as a whole is relicensed under CC-BY-SA-3.0". Each record keeps its file's own
licence (read from its name) and that name as origin.credit.

Taken (`TABLE`, by index; the name's title is checked): steam and diesel train horns, a metro train, ship
and ferry horns, a propeller plane and three jets, a helicopter, trucks and buses pulling away, a car horn, a
level crossing bell, electric sparking, lift machinery, a jackhammer, a smithy, a circular saw, a chainsaw,
two falling trees, a crash, wind, applause, sheep, a cow, a horse, tropical birds, monkeys.
Two edits of one original share a group (the hold-out unit).

Left out: every "Toyland" sound (cartoon mixes: boings, slide whistles, squeaky toys), the sounds credited
to an author without an original recording ("By Janis Lukss": the jingles, factory whistle, beep, morse,
steam, explosion, cash till, "oooh", splats), the two empty files, the splats and breakdowns made from
unrelated sources (a dropped gun, dumpster diving, a kick drum), the 0.16-s skid, the lion roar (its
original, "elaine-growl", does not say what growls), the monorail (a tape-stop effect) and "Heavy wind" (an
edit of "Wind").
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

from sources import credits
from sources.common import C, Category, Rec
from sources.fxtable import Row, records

PKG = "openttd-opensfx"
CAT = Path("/usr/share/games/openttd/baseset/opensfx/opensfx.cat")

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "CC-BY-SA-3.0", "check": "the collection as a whole is relicensed under CC-BY-SA-3.0",
          "holder": "the OpenSFX authors (Janis Lukss, Wuzzy, Richard Wheeler) and the freesound.org authors each "
                    "sound's name credits (Leon Milo, eliasheuninck, lorenzosu, dobroide, Benboncan and others)",
          "note": "Debian copyright: 'Files: src/wav/* / License: CC-BY-SA-3.0 / Comment: Individual files in this "
                  "directory are licensed under CC-BY 3.0, CC-BY-SA 3.0 and CC0, as listed in opensfx.psfo. As "
                  "indicated in readme.ptxt, the collection as a whole is relicensed under CC-BY-SA-3.0'. Each "
                  "record's origin.license is the licence its name in opensfx.cat gives, origin.credit the name "
                  "(title, original, author, editor)."},
}

CATEGORIES: list[Category] = [
    C("train_horn", "vehicle", "train horn", "train", "sounds its horn", "sound its horn", "sounding its horn",
      "train, locomotive, horn, whistle, train horn, train whistle, railway", countable=True),
    C("ship_horn", "vehicle", "ship horn", "ship", "sounds its horn", "sound its horn", "sounding its horn",
      "ship, boat, ferry, horn, foghorn, ship horn, ship's horn", countable=True),
    C("car_horn", "vehicle", "car horn", "car", "honks", "honk", "honking",
      "car, horn, car horn, honk, honks, honking, hooter", countable=True),
    C("level_crossing", "signal", "level crossing bell", "level crossing", "rings", "ring", "ringing",
      "level crossing, railroad crossing, railway crossing, crossing, bell, bells, warning bell"),
    C("electric_arc", "object", "electric sparking", "electric arc", "crackles", "crackle", "crackling",
      "electricity, electric, spark, sparks, sparking, arc, zap, buzz, crackle, crackling"),
    C("jackhammer", "object", "jackhammer", "jackhammer", "hammers", "hammer", "hammering",
      "jackhammer, pneumatic drill, air hammer, drill, drilling, road works, roadworks"),
    C("chainsaw", "object", "chainsaw", "chainsaw", "buzzes", "buzz", "buzzing",
      "chainsaw, chain saw, saw, sawing, logging"),
    C("crash", "object", "crash", "crash", "bangs", "bang", "banging",
      "crash, crashes, smash, smashing, collision, wreck, impact, bang", countable=True),
]

JET = {"noun": "jet", "verb": "takes off", "base": "take off", "gerund": "taking off"}
PULL = {"verb": "starts and pulls away", "base": "start and pull away", "gerund": "starting and pulling away"}

# Rows name the sound's index as a file ("03.wav", written to a scratch folder); EXPECT: the title its name
# must have (guards against a reordered archive); GROUP: the group shared by edits of one original.
TABLE: list[Row] = []
EXPECT: dict[str, str] = {}
GROUP: dict[str, str] = {}


def _add(index: int, title: str, category: str, over: dict[str, Any] | None = None, group: str = "",
         role: str = "event", labels: list[str] | None = None) -> None:
    key = f"{index:02d}.wav"
    TABLE.append(Row(key, category, dict(over or {}), role=role, labels=labels))
    EXPECT[key] = title
    if group:
        GROUP[key] = group


_add(4, "Steam train station departure", "train_horn", {"noun": "steam train", "verb": "whistles", "base": "whistle",
                                                         "gerund": "whistling"}, group="steam_train_horn")
_add(5, "Steam engine going in tunnel", "train_horn", {"noun": "steam train", "verb": "whistles",
                                                        "base": "whistle", "gerund": "whistling"},
     group="steam_train_horn")
_add(6, "Ship horn", "ship_horn")
_add(7, "Ferry horn", "ship_horn", {"noun": "ferry"})
_add(8, "Propeller plane start", "airplane", {"noun": "propeller plane", "verb": "starts its engine",
                                              "base": "start its engine", "gerund": "starting its engine"})
_add(9, "Early jet take off", "airplane", JET)
_add(10, "Diesel/electric train station departure", "train_horn", {"noun": "diesel locomotive"})
_add(11, "Mining machinery", "machine", {"noun": "lift machinery", "verb": "whirs and clanks",
                                         "base": "whir and clank", "gerund": "whirring and clanking"})
_add(12, "Electric sparking", "electric_arc")
_add(14, "Level crossing", "level_crossing")
_add(17, "Crash", "crash", group="crash")
_add(19, "Big crash", "crash", group="crash")
_add(24, "Helicopter", "helicopter")
_add(25, "Truck/old bus start, pull away", "car_engine", {"noun": "truck", **PULL}, group="truck_start")
_add(26, "Truck/old bus start, pull away with horn", "car_engine", {"noun": "truck", **PULL}, group="truck_start",
     labels=["car_engine", "car_horn"])
_add(27, "Modern bus start", "car_engine", {"noun": "bus", **PULL})
_add(28, "Old bus start", "car_engine", {"noun": "old bus", **PULL})
_add(29, "Applause", "applause", {"noun": "audience"})
_add(33, "Jackhammer", "jackhammer")
_add(35, "Modern car horn", "car_horn")
_add(36, "Sheep", "sheep")
_add(37, "Cow", "cow")
_add(38, "Horse", "horse")
_add(39, "Building bridge", "blacksmith", {"noun": "smith", "verb": "hammers metal", "base": "hammer metal",
                                           "gerund": "hammering metal"})
_add(40, "Sawmill", "saw", {"noun": "circular saw"})
_add(52, "Wind", "wind", role="ambience", labels=["wind"])
_add(54, "Lumber mill: Crashing tree", "tree_fall")
_add(55, "Lumber mill: Falling tree", "tree_fall")
_add(56, "Lumber mill: Chainsaw", "chainsaw")
_add(59, "Mach 1+ Jet take off", "airplane", JET)
_add(61, "Modern jet take off", "airplane", JET)
_add(65, "Maglev train station departure", "train", {"noun": "metro train", "verb": "pulls away",
                                                     "base": "pull away", "gerund": "pulling away"})
_add(66, "Tropical: Bird (1)", "songbird", {"noun": "tropical bird", "verb": "calls", "base": "call",
                                            "gerund": "calling"})
_add(68, "Tropical: Monkeys", "monkey", {"noun": "monkeys", "article": "", "verb": "screech", "plural": True})
_add(72, "Tropical: Bird (2)", "songbird", {"noun": "tropical bird", "verb": "calls", "base": "call",
                                            "gerund": "calling"})

LICENSES = {"Creative Commons Attribution 3.0": "CC-BY-3.0", "Creative Commons Zero 1.0": "CC0-1.0",
            "Creative Commons Attribution-ShareAlike 3.0": "CC-BY-SA-3.0"}


def read_cat(data: bytes) -> list[tuple[str, bytes]]:
    """(name, WAV bytes) of each sound of an OpenTTD sample archive."""
    first = struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF
    out = []
    for i in range(first // 8):
        off, size = struct.unpack_from("<II", data, 8 * i)
        off &= 0x7FFFFFFF
        n = data[off]
        name = data[off + 1: off + 1 + n].rstrip(b"\0").decode("latin-1")
        wav = data[off + 1 + n: off + 1 + n + size]
        if wav[:4] != b"RIFF":
            raise ValueError(f"opensfx: entry {i} ({name[:40]!r}) is not a WAV file")
        out.append((name, wav))
    return out


def license_of(name: str) -> str:
    m = re.search(r"License: (Creative Commons [A-Za-z -]+?\d\.\d)", name)
    if not m or m.group(1) not in LICENSES:
        raise ValueError(f"opensfx: no known licence in {name!r}")
    return LICENSES[m.group(1)]


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PKG]
    sounds = read_cat(CAT.read_bytes())
    folder = Path(ctx.tmp) / "opensfx"
    folder.mkdir(parents=True, exist_ok=True)
    out: list[Rec] = []
    for row in TABLE:
        index = int(row.file[:2])
        name, wav = sounds[index]
        title = name.split('"')[1] if name.startswith('"') else name
        if title != EXPECT[row.file]:
            raise ValueError(f"opensfx: entry {index} is {title!r}, not {EXPECT[row.file]!r}")
        (folder / row.file).write_bytes(wav)
        origin = {"package": PKG, "version": version, "license": license_of(name), "credit": name}
        stem = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
        out += records(Row(row.file, row.category, row.over, role=row.role, labels=row.labels),
                       folder, "opensfx", origin, ctx.categories, sr=16000,
                       origin_file=f"{CAT}#{index}", name=f"{index:02d}_{stem}", group=GROUP.get(row.file))
    return out


def licenses_markdown(recs: list[dict]) -> str:
    return credits.licenses_markdown("openttd-opensfx", recs)
