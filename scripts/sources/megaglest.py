"""MegaGlest (`megaglest-data`): its real recorded ambiences, animals, work sounds and cries of pain.

Licence: Debian's copyright file has one stanza for the data, "Files: * / Copyright: 2001-2008, The Glest Team
... 2008-2017, The MegaGlest Team / License: CC-BY-SA-3.0", and its upstream notes end "All files are released
under the Terms of the Creative Commons Attribution-ShareAlike 3.0 Unported license"; they credit "My family,
some friends and neighbors for the unit voices", Elimnator (soundbible.com) for the autumn day and night and
the desert day sounds, and dobroide for the spring daytime ambience.

Taken (one copy of each: the tilesets share files byte for byte, so each row names one tileset's copy):
- tileset ambiences: daytime birdsong (5 distinct loops), night insects (4), rain (4), winter wind (1; winter_forest's
  is the same recording), cut
  into pieces of at most 10 s (one group a file); single calls of a wolf (2), a hen, an owl, a rooster, a hawk
  and a cow; the six short water splashes of data/core/water_sounds;
- units: cows, pigs, hens, sheep, a bull, an elephant, bees (the "ack"/"select"/"die" calls of the animal
  units are the animals' own calls), horse hooves, an anvil, bow shots and arrow hits, a catapult, a
  building collapsing, and the death cries of the human units (pain_cry: "a person", or "a woman" for the
  Valkyrie and the princess).

Left out: the human units' "ack"/"select" lines (spoken acknowledgements without a transcript); the attack
sounds of the human units (spectrograms show voiced shouts mixed with weapon noise: neither a clean grunt
nor a clean clash); everything of the magic, mummy, daemon, golem, dragon, genie, thunderbird, flying carpet,
airship and battle machine units (invented or processed); 20-150-ms fragments (worker_build,
technician_build, harvest_wood, shaman_build); the birch forest / evergreen night loop (harmonic calls whose
source the signal does not tell), the desert day loops and hell.ogg / good_morning.wav (unclear content);
the interface sounds in data/core/menu; the music.
"""

from __future__ import annotations

from pathlib import Path

from sources.common import C, Category, Rec
from sources.fxtable import Row, records

ROOT = Path("/usr/share/games/megaglest")
PKG = "megaglest-data"
T = "tilesets/"
CD = "techs/megapack/commondata/sounds/"
F = "techs/megapack/factions/"

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "CC-BY-SA-3.0", "check": "License: CC-BY-SA-3.0",
          "holder": "The Glest Team (2001-2008) and The MegaGlest Team (2008-2017), http://megaglest.org; factions "
                    "by Titus and Philipp Tscharntke (http://www.titusgames.de); tileset sounds by Elimnator "
                    "(soundbible.com) and dobroide",
          "note": "Debian copyright: 'Files: * / License: CC-BY-SA-3.0'; upstream: 'All files are released under "
                  "the Terms of the Creative Commons Attribution-ShareAlike 3.0 Unported license'. Files read: "
                  "tilesets/*/sounds, data/core/water_sounds, techs/megapack/commondata/sounds and the animal and "
                  "human units' sounds under techs/megapack/factions."},
}

CATEGORIES: list[Category] = [
    C("hawk", "animal", "hawk screeching", "hawk", "screeches", "screech", "screeching",
      "hawk, hawks, falcon, bird of prey, eagle, screech, screeching", countable=True),
    C("bee", "animal", "bees buzzing", "bee", "buzzes", "buzz", "buzzing",
      "bee, bees, beehive, hive, swarm, buzz, buzzing, insect", countable=False),
    C("anvil", "object", "hammer on an anvil", "anvil", "rings under a hammer", "ring under a hammer",
      "ringing under a hammer", "anvil, hammer, smith, blacksmith, forge, clang, clink, ring", countable=True),
]

BIRDS = {"noun": "birds", "article": "", "verb": "sing", "base": "sing", "gerund": "singing", "plural": True}
NIGHT = {"noun": "crickets", "article": "", "verb": "chirp", "base": "chirp", "gerund": "chirping", "plural": True}
CRY = {"noun": "person", "verb": "cries out in pain"}
WOMAN = {"noun": "woman", "verb": "cries out in pain"}


def amb(file: str, category: str, over: dict, labels: list[str], note: str) -> Row:
    return Row(file, category, over, role="ambience", labels=labels, cut="pieces", max_s=10.0, note=note)


def calls(folder: str, stem: str, ks, category: str, over: dict | None = None, note: str = "") -> list[Row]:
    return [Row(f"{folder}{stem}{k}.wav", category, dict(over or {}), note=note) for k in ks]


TABLE: list[Row] = [
    # tileset ambiences (each row one distinct file; the other tilesets hold byte-identical copies)
    amb(T + "birch_forest/sounds/day.ogg", "songbird", BIRDS, ["songbird"], "forest daytime ambience: birdsong"),
    amb(T + "dark_forest/sounds/day.ogg", "songbird", BIRDS, ["songbird"], "forest daytime ambience: birdsong"),
    amb(T + "fernland/sounds/day.ogg", "songbird", BIRDS, ["songbird"], "jungle daytime ambience: birdsong"),
    amb(T + "spring/sounds/day.ogg", "songbird", BIRDS, ["songbird"], "spring daytime ambience (dobroide)"),
    amb(T + "autumn/sounds/sunny_day.ogg", "songbird", BIRDS, ["songbird"], "autumn day ambience (Elimnator)"),
    amb(T + "autumn/sounds/nightime.ogg", "grasshopper", NIGHT, ["grasshopper"],
        "autumn night ambience (Elimnator): a steady insect chorus"),
    amb(T + "dark_forest/sounds/night.ogg", "grasshopper", NIGHT, ["grasshopper"],
        "forest night ambience: an insect chorus"),
    amb(T + "desert2/sounds/night.ogg", "grasshopper", NIGHT, ["grasshopper"],
        "desert night ambience: a cricket's regular chirps"),
    amb(T + "fernland/sounds/night.ogg", "grasshopper", NIGHT, ["grasshopper", "frog"],
        "jungle night ambience: insects with frog calls"),
    amb(T + "birch_forest/sounds/rain.ogg", "rain", {}, ["rain"], "rain ambience"),
    amb(T + "dark_forest/sounds/rain.ogg", "rain", {}, ["rain"], "rain ambience"),
    amb(T + "autumn/sounds/rain.ogg", "rain", {}, ["rain"], "rain ambience"),
    amb(T + "desert2/sounds/rain.wav", "rain", {}, ["rain"], "rain ambience"),
    amb(T + "winter/sounds/wind.ogg", "wind", {}, ["wind"], "winter wind"),
    Row(T + "birch_forest/sounds/wolf.wav", "wolf", {"verb": "howls", "base": "howl", "gerund": "howling"}),
    Row(T + "desert2/sounds/wolf.wav", "wolf", {"verb": "howls", "base": "howl", "gerund": "howling"}),
    Row(T + "birch_forest/sounds/chicken.wav", "hen"),
    Row(T + "autumn/sounds/owl.ogg", "owl"),
    Row(T + "autumn/sounds/rooster.ogg", "rooster"),
    Row(T + "desert2/sounds/hawk.ogg", "hawk"),
    Row(T + "pine_peat/sounds/mudchute_cow_1.ogg", "cow"),
    *[Row(f"data/core/water_sounds/water{k}.wav", "splash") for k in range(6)],
    # animals
    *calls(CD, "cow_ack", (1, 2, 3), "cow"), *calls(CD, "cow_select", (1, 2, 3), "cow"),
    *calls(CD, "cow_die", (1, 2, 3), "cow"),
    *calls(CD, "pig_ack", (1, 2, 3, 4), "pig"), *calls(CD, "pig_select", (1, 2, 3, 4), "pig"),
    *calls(CD, "pig_die", (1, 2, 3, 4), "pig", {"verb": "squeals", "base": "squeal", "gerund": "squealing"}),
    *calls(F + "norsemen/units/wild_sow/sounds/", "pig_attack", (1, 2, 3), "pig",
           {"noun": "wild boar", "verb": "grunts", "base": "grunt", "gerund": "grunting"}),
    *calls(F + "egypt/units/chicken/sounds/", "chicken_ack", (1, 2, 3, 4), "hen"),
    *calls(F + "egypt/units/chicken/sounds/", "chicken_select", (1, 2, 3, 4), "hen"),
    *calls(F + "egypt/units/chicken/sounds/", "chicken_standing", (1, 2), "hen"),
    *calls(F + "egypt/units/chicken/sounds/", "chicken_die", (1, 2, 3, 4), "hen",
           {"verb": "squawks", "base": "squawk", "gerund": "squawking"}),
    *calls(F + "persian/units/sheep/sounds/", "sheep", range(1, 11), "sheep"),
    *calls(F + "persian/units/sheep/sounds/", "sheep_die", (1, 2, 3), "sheep"),
    *calls(F + "indian/units/bull/sounds/", "bull_ack", (1, 2, 3, 4), "cow", {"noun": "bull"}),
    *calls(F + "indian/units/bull/sounds/", "bull_select", (1, 2, 3), "cow", {"noun": "bull"}),
    *calls(F + "indian/units/bull/sounds/", "bull_attack", (1, 2, 3, 4), "cow",
           {"noun": "bull", "verb": "bellows", "base": "bellow", "gerund": "bellowing"}),
    *calls(F + "indian/units/bull/sounds/", "bull_die", (1, 2, 3, 4), "cow",
           {"noun": "bull", "verb": "bellows", "base": "bellow", "gerund": "bellowing"}),
    *calls(F + "persian/units/elephant/sounds/", "ele", (1, 2, 3, 4, 5), "elephant"),
    *calls(F + "persian/units/elephant/sounds/", "eleattack", (2, 3), "elephant"),
    *calls(F + "indian/units/beehive/sounds/", "bee", (1, 2, 3, 4), "bee",
           {"noun": "bees", "article": "", "verb": "buzz", "base": "buzz", "plural": True}),
    *calls(CD, "horseman_walk", (1, 2, 3), "horse_hooves"),
    # work, weapons, buildings
    *calls(CD, "anvil", (1, 2, 3, 4), "anvil"),
    *calls(CD, "archer_attack", (1, 2, 3, 4), "bow_shot"),
    *calls(CD, "arrow_hit", (1, 2, 3, 4, 5), "arrow_impact"),
    *calls(CD, "catapult_attack", (1, 2), "catapult"),
    *calls(CD, "tech_building_fall", (1, 2, 3, 4, 5), "building_collapse"),
    # death cries of the human units
    *calls(CD, "archer_die", (1, 2, 3, 4), "pain_cry", CRY),
    *calls(CD, "axe_thrower_die", (1, 2, 3, 4), "pain_cry", CRY),
    *calls(CD, "guard_die", (1, 2, 3, 4), "pain_cry", CRY),
    *calls(CD, "swordman_die", (1, 2), "pain_cry", CRY),
    *calls(CD, "technician_die", (1, 2, 3, 4), "pain_cry", CRY),
    *calls(CD, "worker_die", (1, 2, 3), "pain_cry", CRY),
    *calls(F + "norsemen/units/swordman/sounds/", "swordman_die", range(1, 7), "pain_cry", CRY),
    *calls(F + "egypt/units/spearman/sounds/", "spearman_die", (1, 2, 3), "pain_cry", CRY),
    *calls(F + "indian/units/archer/sounds/", "archer_die", range(1, 6), "pain_cry", CRY),
    *calls(F + "indian/units/stickfighter/sounds/", "stickfighter_die", (1, 2, 3, 4), "pain_cry", CRY),
    *calls(F + "indian/units/shaman/sounds/", "shaman_die", (1, 2, 3, 4), "pain_cry", CRY),
    *calls(F + "norsemen/units/valkyrie/sounds/", "valkyrie_die", (1, 2, 3), "pain_cry", WOMAN),
    *calls(F + "persian/units/princess/sounds/", "princess_die", (1, 2, 3, 4), "pain_cry", WOMAN),
]


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PKG]
    origin = {"package": PKG, "version": version, "license": PACKAGES[PKG]["license"]}
    out: list[Rec] = []
    for row in TABLE:
        rel = row.file
        for prefix, short in ((F, ""), (CD, "common/"), (T, "tileset/"), ("data/core/", "")):
            if rel.startswith(prefix):
                rel = short + rel[len(prefix):]
                break
        name = rel.replace("/units/", "/").replace("/sounds/", "/").rsplit(".", 1)[0].lower()
        name = name.replace("/", ".").replace("-", "_")
        out += records(row, ROOT, "megaglest", origin, ctx.categories, name=name)
    return out
