"""The Battle for Wesnoth (`wesnoth-1.16-data`): its real recorded sounds, conservatively chosen.

Taken: birdsong, a campfire, a night ambience (crickets), war drums, eight horn calls, a bell, gunshots,
an explosion, a fuse, lightning, bow and crossbow shots, a sword, a mace, horse canters and cries, wolf
growls, bat wings, the cries and grunts of men, women and old men, two laughs, coins.

Left out: everything named after a fantasy creature or magic (drake, gryphon, lich, naga, ogre, orc, goblin,
troll, skeleton, zombie, wose, yeti, merfolk, tusker, ghoul, elf hits, wails, magic-*, petrified, poison,
slowed, heal, entangle, ink, mud-*, water-blast, flame-*, dragonstick, *-fire variants of weapons: processed
or invented sounds); weapon swishes, throws and misses whose source a listener could not name (axe, club,
dagger, flail, hatchet, knife, spear, staff, sling, net, fist, claws, bite, pincers, tail, throw-*, miss-*,
torch); the wolf hit/die yelps; groan.wav and ugg.wav (11 kHz fragments of unclear voices); cave-in, rumble,
fire.wav and open-chest (unclear); ambient/ship.ogg and morning.ogg (their content is unclear from the
signal); the user-interface sounds in /usr/share/games/wesnoth/1.16/sounds except bell.wav; and the music.
"""

from __future__ import annotations

from pathlib import Path

from sources.common import C, Category, Rec
from sources.fxtable import Row, records

ROOT = Path("/usr/share/games/wesnoth/1.16")
PKG = "wesnoth-1.16-data"
S = "data/core/sounds/"

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "GPL-2+", "check": "or at your option any later version",
          "holder": "David White and the Battle for Wesnoth contributors (sound effects: Corey Woodworth, J.W. Bjerk, "
                    "Lari Nieminen, Adam Rinsky, Leonardo Magno Sampaio and others; see data/core/about.cfg)",
          "note": "Debian copyright: the whole of Wesnoth is under the GNU GPL version 2 or any later version; no "
                  "separate licence is given for the sounds. Files read: data/core/sounds/**, sounds/bell.wav, "
                  "data/campaigns/World_Conquest/sounds/witches-laugh.wav."},
}

CATEGORIES: list[Category] = [
    C("horn_call", "music", "horn call", "horn", "sounds", "sound", "sounding",
      "horn, horns, hunting horn, bugle, horn call, war horn"),
    C("gunshot", "object", "gunshot", "gun", "fires", "fire", "firing",
      "gun, guns, gunshot, gunshots, gunfire, shot, shots, rifle, musket, pistol", countable=True),
    C("fuse", "object", "burning fuse", "fuse", "fizzes", "fizz", "fizzing", "fuse, fizz, fizzing, sizzling, sizzle"),
    C("bow_shot", "object", "arrow shot", "bow", "shoots an arrow", "shoot an arrow", "shooting an arrow",
      "bow, arrow, arrows, archer, archery, crossbow", countable=True),
    C("sword", "object", "sword clash", "sword", "clashes", "clash", "clashing",
      "sword, swords, blade, blades, swordfight, clash, clang", countable=True),
    C("mace", "object", "mace blow", "mace", "strikes", "strike", "striking", "mace, club, blow, strike, thud",
      countable=True),
    C("hooves", "animal", "horse hooves", "horse", "canters", "canter", "cantering",
      "horse, horses, hooves, hoofbeats, hoof, gallop, galloping, canter, cantering, trot, trotting"),
    C("wolf", "animal", "wolf growling", "wolf", "growls", "growl", "growling",
      "wolf, wolves, growl, growls, growling"),
    C("wings", "animal", "wings flapping", "bat", "flaps its wings", "flap its wings", "flapping its wings",
      "wings, flapping, flap, flaps, flutter, bat, bats"),
    C("pain_cry", "human", "cry of pain", "man", "cries out in pain", "cry out in pain", "crying out in pain",
      "cry, cries, scream, screams, screaming, yell, yells, shout, groan, groans, grunt, grunts, pain", countable=True),
    C("laughter", "human", "laughter", "person", "laughs", "laugh", "laughing",
      "laugh, laughs, laughing, laughter, cackle, cackles, cackling, giggle, chuckle", countable=False),
]

HIT = {"verb": "grunts in pain", "base": "grunt in pain", "gerund": "grunting in pain"}

TABLE: list[Row] = [
    *[Row(S + f"ambient/birds{k}.ogg", "songbird", {"noun": "birds", "article": "", "verb": "sing", "plural": True},
          role="ambience", labels=["songbird"]) for k in (1, 2, 3)],
    Row(S + "ambient/campfire.ogg", "fire", {"noun": "campfire", "article": "a"}, role="ambience", labels=["fire"],
        cut="pieces"),
    Row(S + "ambient/night.ogg", "grasshopper", {"noun": "crickets", "article": "", "verb": "chirp", "plural": True},
        role="ambience", labels=["grasshopper"], note="night ambience: crickets chirping and another, tonal call"),
    Row(S + "ambient/wardrums.ogg", "drums", {"noun": "war drums"}, cut="pieces"),
    *[Row(S + f"horn-signals/horn-{k}.ogg", "horn_call") for k in range(1, 9)],
    Row("sounds/bell.wav", "bell"),
    Row(S + "gunshot.wav", "gunshot"),
    Row(S + "thunderstick.ogg", "gunshot", {"noun": "musket"}, note="'thunderstick': a musket shot"),
    Row(S + "explosion.ogg", "explosion"),
    Row(S + "fuse.ogg", "fuse"),
    Row(S + "lightning.ogg", "thunder", {"noun": "lightning", "verb": "cracks", "base": "crack",
                                         "gerund": "cracking"}),
    Row(S + "bow.ogg", "bow_shot"),
    Row(S + "bow-miss.ogg", "bow_shot"),
    Row(S + "crossbow.ogg", "bow_shot", {"noun": "crossbow", "verb": "shoots a bolt", "base": "shoot a bolt",
                                         "gerund": "shooting a bolt"}),
    Row(S + "crossbow-miss.ogg", "bow_shot", {"noun": "crossbow", "verb": "shoots a bolt", "base": "shoot a bolt",
                                              "gerund": "shooting a bolt"}),
    Row(S + "sword-1.ogg", "sword"),
    Row(S + "mace.ogg", "mace"),
    Row(S + "mace.wav", "mace"),
    Row(S + "horse-canter.wav", "hooves"),
    Row(S + "horse-elf-canter.wav", "hooves"),
    Row(S + "horse-die.ogg", "horse", {"verb": "screams", "base": "scream", "gerund": "screaming"}),
    *[Row(S + f"horse-hit-{k}.ogg", "horse", {"verb": "whinnies", "base": "whinny", "gerund": "whinnying"})
      for k in (1, 2, 3)],
    *[Row(S + f"wolf-growl-{k}.ogg", "wolf") for k in range(1, 5)],
    Row(S + "bat-flapping.wav", "wings"),
    *[Row(S + f"human-die-{k}.ogg", "pain_cry", {"verb": "cries out", "base": "cry out", "gerund": "crying out"})
      for k in (1, 2, 3)],
    *[Row(S + f"human-hit-{k}.ogg", "pain_cry", HIT) for k in range(1, 6)],
    *[Row(S + f"human-old-die-{k}.ogg", "pain_cry", {"noun": "old man", "verb": "cries out", "base": "cry out",
                                                     "gerund": "crying out"}) for k in (1, 2, 3)],
    *[Row(S + f"human-old-hit-{k}.ogg", "pain_cry", {"noun": "old man", **HIT}) for k in range(1, 5)],
    *[Row(S + f"human-female-die-{k}.ogg", "pain_cry", {"noun": "woman", "verb": "screams", "base": "scream",
                                                        "gerund": "screaming"}) for k in (1, 2, 3)],
    *[Row(S + f"human-female-hit-{k}.ogg", "pain_cry", {"noun": "woman", **HIT}) for k in (1, 2, 3)],
    Row(S + "dwarf-laugh.wav", "laughter", {"noun": "man"}, note="a man's hearty laugh (the dwarf's)"),
    Row("data/campaigns/World_Conquest/sounds/witches-laugh.wav", "laughter",
        {"noun": "woman", "verb": "cackles", "base": "cackle", "gerund": "cackling"}, note="a witch's cackle"),
    Row(S + "gold.ogg", "coins"),
]


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PKG]
    origin = {"package": PKG, "version": version, "license": PACKAGES[PKG]["license"]}
    out: list[Rec] = []
    stems = [Path(r.file).stem for r in TABLE]
    for row in TABLE:
        name = Path(row.file).stem.lower().replace("-", "_")
        if stems.count(Path(row.file).stem) > 1:
            name += "_" + Path(row.file).suffix.lstrip(".")
        if "World_Conquest" in row.file:
            name = "world_conquest." + name
        elif "/ambient/" in row.file:
            name = "ambient." + name
        elif row.file.startswith("sounds/"):
            name = "ui." + name
        out += records(row, ROOT, "wesnoth", origin, ctx.categories, name=name)
    return out
