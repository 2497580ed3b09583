"""Widelands (`widelands-data`): the sounds its own sound list documents with an author or source and licence.

Licence: Debian's copyright file covers the data with "Files: * / Copyright: 2002-2019 by the Widelands
Development Team / License: GPL-2+" (the other stanzas cover fonts, images, three music files and debian/).
Upstream's data/sound/wl-sound-docu.csv lists, for part of the sounds, the author, the licence of the
original ("CC-0", "CC-3", "PD"), the original file and its freesound.org / soundbible.com page, and marks the
rest "UNKNOWN" (DATA_SOURCES.md: honour it). Only rows with a source page and one of those licences are taken,
and the collector checks each one against the installed CSV at run time; origin.license is Debian's GPL-2+,
origin.credit the CSV's author, original and page.

Taken: beer and wine bubbling, two metal pings, gathered stones, stone grinding, dishes being prepared, food
frying, a glass jar, two looms weaving, a pickaxe on rock, a bench saw, hand sawing, metal debris falling, a
tree falling, an elk bugling, a red stag roaring, a coyote calling (its author "UNKNOWN", its soundbible.com
page and "PD" given). Cuts of one original share a group.

Left out: every file the CSV marks UNKNOWN or does not list (birds, crickets, frog, wolves, farm animals,
furnace, taverns' other sounds, the smiths, mills, woodcutting, fishers, military and interface sounds), the
boar (licence "personal"), tree_falling_00 (an edit of ecfike's "A tree falling down", which OpenSFX's
"Crashing tree" also cuts: the fingerprint does not pair the two edits, and a held-out copy could then be
trained on), fizzle.ogg (an original named "fire3alternate": what burns is unclear), and
benchsaw_02 (not in the list); the music.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sources import credits
from sources.common import C, Category, Rec
from sources.fxtable import Row, records

ROOT = Path("/usr/share/games/widelands/data/sound")
PKG = "widelands-data"
DOCU = "wl-sound-docu.csv"
KNOWN_LICENSES = ("CC-0", "CC-3", "PD")

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "GPL-2+", "check": "Copyright: 2002-2019 by the Widelands Development Team",
          "holder": "the Widelands Development Team; each sound's original author as data/sound/wl-sound-docu.csv "
                    "names them (Eelke Dekker, Hannebu, Mike Koenig, Xavier Serra, Yle Arkisto, Benboncan, mauxuam, "
                    "dobroide, ecfike, Daniel Simion, Juan Carlos, fws.gov, qubodup, Thalamus Lab, timgormly and "
                    "others)",
          "note": "Debian copyright: 'Files: * / License: GPL-2+'. Only sounds that upstream's wl-sound-docu.csv "
                  "documents with an original, its freesound.org / soundbible.com page and a licence (CC-0, CC-3, "
                  "PD) are used; origin.credit repeats that row."},
}

CATEGORIES: list[Category] = [
    C("stone_grind", "object", "stone grinding", "millstone", "grinds", "grind", "grinding",
      "grind, grinds, grinding, millstone, quern, stone, stones, mill, scrape"),
    C("dishes", "object", "dishes clattering", "dishes", "clatter", "clatter", "clattering",
      "dishes, plates, crockery, pots, pans, cutlery, kitchen, clatter, clattering, washing up", article="",
      plural=True),
    C("frying", "object", "food frying", "pan", "sizzles", "sizzle", "sizzling",
      "frying, fry, fries, sizzle, sizzles, sizzling, pan, frying pan, cooking, oil"),
    C("loom", "object", "loom weaving", "loom", "clacks", "clack", "clacking",
      "loom, weaving, weaver, weaves, shuttle, textile, clack, clacking"),
    C("coyote", "animal", "coyote howling", "coyote", "howls", "howl", "howling",
      "coyote, coyotes, howl, howls, howling, yip, yipping"),
]

PIECES = {"cut": "pieces", "max_s": 10.0}
SAW = {"noun": "hand saw"}

# (file, category, caption overrides, group of the cuts of one original, Row keywords)
ITEMS: list[tuple[str, str, dict, str, dict]] = [
    ("empire/beerbubble_00.ogg", "bubbles", {"noun": "fermenting beer"}, "beer", {}),
    ("empire/beerbubble_01.ogg", "bubbles", {"noun": "fermenting beer"}, "beer", {}),
    ("empire/winebubble_00.ogg", "bubbles", {}, "wine", {}),
    ("empire/winebubble_01.ogg", "bubbles", {}, "wine", {}),
    ("metal/ironping.ogg", "metal_clang", {"verb": "pings", "base": "ping", "gerund": "pinging"}, "ping", {}),
    ("metal/goldping.ogg", "metal_clang", {"verb": "pings", "base": "ping", "gerund": "pinging"}, "ping", {}),
    ("barbarians/mortar.ogg", "stone_impact", {"noun": "stones"}, "", {}),
    ("barbarians/stonegrind.ogg", "stone_grind", {}, "", {}),
    ("barbarians/taverns/inn_00.ogg", "dishes", {}, "dishes", {}),
    ("barbarians/taverns/biginn_00.ogg", "dishes", {}, "dishes", {}),
    ("barbarians/taverns/inn_01.ogg", "frying", {}, "", {"role": "ambience", "labels": ["frying"], **PIECES}),
    ("barbarians/taverns/biginn_01.ogg", "glass_clink", {"noun": "glass jar"}, "", {}),
    ("mill/weaving.ogg", "loom", {}, "", {"role": "ambience", "labels": ["loom"], **PIECES}),
    ("barbarians/weaver.ogg", "loom", {"noun": "wooden loom"}, "", {"role": "ambience", "labels": ["loom"],
                                                                    **PIECES}),
    *[(f"atlanteans/cutting/stonecutter_0{k}.ogg", "pickaxe", {}, "stonecutter", PIECES) for k in (0, 1, 2)],
    *[(f"atlanteans/saw/benchsaw_0{k}.ogg", "saw", {"noun": "bench saw"}, "benchsaw", PIECES) for k in (0, 1)],
    *[(f"atlanteans/saw/sawing_0{k}.ogg", "saw", SAW, "sawing", {}) for k in (0, 1, 2)],
    *[(f"atlanteans/goldspin_0{k}.ogg", "metal_clang", {"noun": "metal debris", "verb": "clatters down",
                                                         "base": "clatter down", "gerund": "clattering down"},
       "goldspin", {}) for k in (0, 1)],
    ("woodcutting/tree_falling_01.ogg", "tree_fall", {}, "", {}),
    *[(f"animals/moose_0{k}.ogg", "deer", {"noun": "elk", "verb": "bugles", "base": "bugle", "gerund": "bugling"},
       "", PIECES) for k in (0, 1)],
    *[(f"animals/stag_0{k}.ogg", "deer", {"noun": "red stag", "verb": "roars", "base": "roar", "gerund": "roaring"},
       "stag", PIECES) for k in (0, 1)],
    *[(f"animals/coyote_0{k}.ogg", "coyote", {}, "coyote", {**PIECES, "max_s": 6.0}) for k in (0, 1)],
]

TABLE: list[Row] = [Row(f, cat, dict(over), **kw) for f, cat, over, _, kw in ITEMS]
GROUP: dict[str, str] = {f: g for f, _, _, g, _ in ITEMS if g}


def documented(text: str) -> dict[str, dict[str, str]]:
    """wl-sound-docu.csv's rows with a known licence and a source page, by file name."""
    out = {}
    for row in csv.reader(text.splitlines()):
        if len(row) < 9:
            continue
        name, author, lic, original, page = row[0].strip(), row[4].strip(), row[5].strip(), row[7], row[8].strip()
        if lic in KNOWN_LICENSES and page.startswith("http"):
            out[name] = {"author": author, "license": lic, "original": original, "page": page}
    return out


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PKG]
    docs = documented((ROOT / DOCU).read_text(errors="replace"))
    out: list[Rec] = []
    for row in TABLE:
        doc = docs.get(Path(row.file).name)
        if doc is None:
            raise ValueError(f"widelands: {row.file} is not documented with a licence and source in {DOCU}")
        credit = (f"{doc['author']}: \"{doc['original']}\", {doc['page']} ({doc['license']}, "
                  f"per wl-sound-docu.csv)")
        origin = {"package": PKG, "version": version, "license": PACKAGES[PKG]["license"], "credit": credit}
        name = row.file.rsplit(".", 1)[0].replace("/", ".")
        out += records(row, ROOT, "widelands", origin, ctx.categories, name=name, group=GROUP.get(row.file))
    return out


def licenses_markdown(recs: list[dict]) -> str:
    return credits.licenses_markdown("widelands-data", recs)
