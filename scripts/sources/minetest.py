"""Minetest Game (`minetest-data`): its recorded footsteps, doors, fire, water, glass and blasting sounds.

Licence, per file, from Debian's machine-readable copyright file (the last matching `Files:` stanza, paths
spelt `mtg/mods/<mod>/sounds/<file>`): "Files: *.ogg *.png ... License: CC-BY-SA-3.0" ("According to the main
README file all Minetest textures and sounds are licensed under CC-BY-SA-3.0 with the notable exceptions
below"), with mtg/mods/doors/sounds/* under CC-BY-3.0 (CGEffex, bennstir and others), the glass door and
mtg/mods/tnt/sounds/* under CC0-1.0, and the cart sounds under Expat; each record carries its own licence
and its stanza's Copyright line (origin.credit), and LICENSES.md lists them per file.

Taken: single footsteps on wood, gravel, snow, grass, sand, dirt (the ids 0 A.D. and GCompris define), on
metal and on stone ("hard"), and wading steps in water; glass breaking; doors, gates and a chest opening and
closing; fire (three loops, a small and a large fire, a furnace); water hissing on fire; flowing water; a
mine cart rolling; an explosion, a lit fuse and burning gunpowder.

Left out: the digging / dug / place-node sounds (knocks whose source a listener could not name), the ice and
glass footsteps (clicks), tool_breaks, item_smoke, player_damage, flint_and_steel; default_cool_lava.N (the
same lengths as fire_extinguish_flame.N: the same hiss) and the bubbling-lava loops (what makes the sound is
not lava); devtest's soundstuff test tone.
"""

from __future__ import annotations

from pathlib import Path

from sources import credits
from sources.common import C, Category, Rec
from sources.fxtable import Row

ROOT = Path("/usr/share/games/minetest/games/minetest_game/mods")
PKG = "minetest-data"
D = "default/sounds/default_"

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "CC-BY-SA-3.0", "check": "all Minetest textures and sounds are",
          "holder": "Perttu Ahola (celeron55) and the Minetest Game contributors; door sounds CGEffex, bennstir "
                    "and others (CC-BY-3.0); see /usr/share/doc/minetest-data/copyright",
          "note": "Debian copyright (DEP-5): 'Files: *.ogg *.png / License: CC-BY-SA-3.0' ('all Minetest textures "
                  "and sounds are licensed under CC-BY-SA-3.0 with the notable exceptions below'); "
                  "mtg/mods/doors/sounds/* CC-BY-3.0; the glass door and mtg/mods/tnt/sounds/* CC0-1.0; the cart "
                  "sounds Expat. Each record's origin.license is its file's, read from the copyright file. Files "
                  "read: games/minetest_game/mods/*/sounds."},
}

CATEGORIES: list[Category] = [
    C("footsteps_metal", "human", "footsteps on metal", "footsteps", "clang on metal", "clang on metal",
      "clanging on metal", "footsteps, footstep, steps, walking, walks, walker, metal", article="", plural=True,
      countable=True),
    C("footsteps_stone", "human", "footsteps on stone", "footsteps", "tap on stone", "tap on stone",
      "tapping on stone", "footsteps, footstep, steps, walking, walks, walker, stone, stone floor", article="",
      plural=True, countable=True),
    C("footsteps_water", "human", "wading through water", "person", "wades through water", "wade through water",
      "wading through water", "wading, wades, wade, splashing, footsteps, steps, water", countable=False),
    C("glass_break", "object", "glass breaking", "glass", "shatters", "shatter", "shattering",
      "glass, shatter, shatters, shattering, smash, smashes, breaking, breaks, window", countable=True),
    C("rail_cart", "vehicle", "cart rolling on rails", "cart", "rolls along the rails", "roll along the rails",
      "rolling along the rails", "cart, minecart, mine cart, wagon, trolley, rails, rolling", countable=False),
]

STEP = {"noun": "footstep", "article": "a", "plural": False}
CLOSE = {"verb": "closes", "base": "close", "gerund": "closing"}

TABLE: list[Row] = [
    *[Row(f"{D}wood_footstep.{k}.ogg", "footsteps_wood", {**STEP, "verb": "knocks on wooden boards"})
      for k in (1, 2)],
    *[Row(f"{D}gravel_footstep.{k}.ogg", "footsteps_gravel", {**STEP, "verb": "crunches on gravel"})
      for k in range(1, 5)],
    *[Row(f"{D}snow_footstep.{k}.ogg", "footsteps_snow", {**STEP, "verb": "crunches in the snow"})
      for k in range(1, 6)],
    *[Row(f"{D}grass_footstep.{k}.ogg", "footsteps_grass", {**STEP, "verb": "swishes through grass"})
      for k in (1, 2, 3)],
    *[Row(f"{D}sand_footstep.{k}.ogg", "footsteps_sand", {**STEP, "verb": "shuffles through sand"})
      for k in (1, 2, 3)],
    *[Row(f"{D}dirt_footstep.{k}.ogg", "footsteps_dirt", {**STEP, "verb": "treads on a dirt path"})
      for k in (1, 2)],
    *[Row(f"{D}metal_footstep.{k}.ogg", "footsteps_metal", {**STEP, "verb": "clangs on metal"}) for k in (1, 2, 3)],
    *[Row(f"{D}hard_footstep.{k}.ogg", "footsteps_stone", {**STEP, "verb": "taps on stone"}) for k in (1, 2, 3)],
    *[Row(f"{D}water_footstep.{k}.ogg", "footsteps_water") for k in (1, 2, 3)],
    *[Row(f"{D}break_glass.{k}.ogg", "glass_break") for k in (1, 2, 3)],
    Row(D + "chest_open.ogg", "creak", {"noun": "wooden chest", "verb": "creaks open", "base": "creak open",
                                        "gerund": "creaking open"}),
    Row(D + "chest_close.ogg", "door", {"noun": "wooden chest lid", **CLOSE}),
    Row("doors/sounds/doors_door_open.ogg", "door", {"noun": "wooden door"}),
    Row("doors/sounds/doors_door_close.ogg", "door", {"noun": "wooden door", **CLOSE}),
    Row("doors/sounds/doors_fencegate_open.ogg", "door", {"noun": "gate"}),
    Row("doors/sounds/doors_fencegate_close.ogg", "door", {"noun": "gate", **CLOSE}),
    Row("doors/sounds/doors_steel_door_open.ogg", "door", {"noun": "steel door"}),
    Row("doors/sounds/doors_steel_door_close.ogg", "door", {"noun": "steel door", **CLOSE}),
    Row("doors/sounds/doors_glass_door_open.ogg", "door", {"noun": "glass door"}),
    Row("doors/sounds/doors_glass_door_close.ogg", "door", {"noun": "glass door", **CLOSE}),
    Row("xpanes/sounds/xpanes_steel_bar_door_open.ogg", "door", {"noun": "barred iron gate"}),
    Row("xpanes/sounds/xpanes_steel_bar_door_close.ogg", "door", {"noun": "barred iron gate", **CLOSE}),
    *[Row(f"fire/sounds/fire_fire.{k}.ogg", "fire", role="ambience", labels=["fire"]) for k in (1, 2, 3)],
    Row("fire/sounds/fire_small.ogg", "fire", {"noun": "small fire"}, role="ambience", labels=["fire"]),
    Row("fire/sounds/fire_large.ogg", "fire", {"noun": "large fire", "verb": "roars", "base": "roar",
                                               "gerund": "roaring"}, role="ambience", labels=["fire"]),
    Row(D + "furnace_active.ogg", "fire", {"noun": "furnace fire", "verb": "roars", "base": "roar",
                                           "gerund": "roaring"}, role="ambience", labels=["fire"], cut="pieces"),
    *[Row(f"fire/sounds/fire_extinguish_flame.{k}.ogg", "steam", note="a flame put out with water: a hiss")
      for k in (1, 2, 3)],
    *[Row(f"env_sounds/sounds/env_sounds_water.{k}.ogg", "water_running", {"verb": "flows", "base": "flow",
                                                                          "gerund": "flowing"},
          role="ambience", labels=["water_running"]) for k in range(1, 5)],
    *[Row(f"carts/sounds/carts_cart_moving.{k}.ogg", "rail_cart") for k in (1, 2, 3)],
    Row("tnt/sounds/tnt_explode.ogg", "explosion"),
    Row("tnt/sounds/tnt_ignite.ogg", "fuse", note="a fuse lit and burning"),
    Row("tnt/sounds/tnt_gunpowder_burning.ogg", "fuse", {"noun": "trail of gunpowder", "verb": "fizzes as it burns",
                                                         "base": "fizz as it burns", "gerund": "fizzing as it burns"}),
]


def collect(ctx) -> list[Rec]:
    return credits.collect_dep5(ctx, PKG, "minetest", TABLE, ROOT, "mtg/mods/", lambda f: Path(f).name.rsplit(
        ".ogg", 1)[0].replace("default_", "").replace(".", "_").lower())


def licenses_markdown(recs: list[dict]) -> str:
    return credits.licenses_markdown("minetest-data", recs)
