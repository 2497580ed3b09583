"""0 A.D. (Debian package `0ad-data`): the game's real recorded sound effects and ambiences.

The audio lies inside one zip archive, /usr/share/games/0ad/mods/public/public.zip (3.3 GB; `audio/` holds
about 1,000 Ogg Vorbis files, 44.1/48 kHz, mostly mono). Members are read with zipfile, written to a scratch
file and decoded with sox. Licence: Debian's copyright file says "Files: * / Copyright: 2010 Wildfire Games /
License: CC-BY-SA-3.0", and the archive's own audio/LICENSE.txt says "The files in this directory are
Copyright (C) 2009 Wildfire Games. These files are licensed under the Creative Commons Attribution-Share
Alike 3.0 (CC-by-sa) license"; attribution must name "Wildfire Games" and link to
http://creativecommons.org/licenses/by-sa/3.0/ and http://www.wildfiregames.com/. Both are checked at run time.

What is taken: a hand-written table of rules over each member's path (`RULES`, first match wins) maps it to a
category and caption phrase; everything no rule takes is left out and listed by `plan()`. Left out on purpose:
- the music (audio/music/: soundtracks);
- the voice lines (audio/voice/<civ>/: short commands acted in reconstructed Greek, Latin, Meroitic and Old
  Persian; the meaning is only in the English file name, not a transcript, and only Latin has an ISO 639-1
  code) — the two dog sounds in audio/voice/global/ are taken;
- the interface sounds (audio/interface/: alarms, horns, chimes and "building selected/completed" stingers,
  several of them music or mixtures whose content the names do not say);
- sounds whose identity the name leaves unclear (`UNCLEAR`), and copies (`COPIES`): byte-identical files and
  files that an audio cross-correlation (>= 0.97, or the same steps found inside a longer file) showed to be
  the same recording under another name. Notably the "rock" footsteps are the "gravel" footsteps (fs_rockN is
  fs_gravelN sample for sample; Footstep_Rock_* contain the same steps), so only the gravel files are kept.

Groups (the hold-out unit): each file is its own group unless the files are cuts or mixes of one recording:
the single footsteps of a surface are cut from that surface's walking/running takes (their steps are found
inside them), the fire loops are nine 5-s cuts of one take, the farm/port/market ambiences and the temperate
birdsong loops are mixes over shared layers (cross-correlation 0.2-0.8 at zero lag).

Long loops (20-170 s: weather, water, birds, farm/port/market) are role "ambience", at most 30 s each, with up
to two further 30-s pieces of the same file (same group); events (the 5-s fire loops included) are trimmed and
cut at 6 s.
"""

from __future__ import annotations

import hashlib
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from sources.common import C, Category, Rec, cap, decode, storage_rate, trim

PACKAGE = "0ad-data"
ZIP_PATH = Path("/usr/share/games/0ad/mods/public/public.zip")
LICENSE_MEMBER = "audio/LICENSE.txt"
LICENSE_PHRASE = "Creative Commons Attribution-Share Alike 3.0"

PACKAGES: dict[str, dict[str, str]] = {
    PACKAGE: {
        "license": "CC-BY-SA-3.0",
        "check": "License: CC-BY-SA-3.0",
        "holder": "Wildfire Games (2009-2010), http://www.wildfiregames.com/",
        "note": "Debian copyright: 'Files: * / Copyright: 2010 Wildfire Games / License: CC-BY-SA-3.0' (the other "
                "stanzas cover fonts and debian/ only). The archive's audio/LICENSE.txt: 'The files in this directory "
                "are Copyright (C) 2009 Wildfire Games. These files are licensed under the Creative Commons "
                "Attribution-Share Alike 3.0 (CC-by-sa) license'; attribution must include a link to "
                "http://creativecommons.org/licenses/by-sa/3.0/, the name 'Wildfire Games' as the original author "
                "and a link to http://www.wildfiregames.com/. Sound effects and ambiences from audio/ in "
                "mods/public/public.zip; no music, no voice lines.",
    },
}

EVENT_MAX = 6.0
PIECE = 30.0  # an ambience piece
MAX_PIECES = 3  # the first 30 s and up to two further pieces of a long loop
MIN_PIECE = 15.0  # a further piece shorter than this is not cut

# ---------------------------------------------------------------------------------------------------------
# Categories this module introduces. Existing ids reused: cow, hen, sheep, goat, pig, horse, camel, elephant,
# big_cat, dog, songbird, thunder, saw, hammer.

CATEGORIES: list[Category] = [
    # animals
    C("flamingo", "animal", "flamingo honking", "flamingo", "honks", "honk", "honking", "flamingo, flamingos"),
    C("peacock", "animal", "peacock calling", "peacock", "calls", "call", "calling", "peacock, peacocks, peafowl",
      countable=True),
    C("horse_hooves", "animal", "horse hooves clopping", "hooves", "clop", "clop", "clopping",
      "hooves, hoof, hoofbeats, clop, clopping, trotting, galloping", article="", plural=True),
    # people
    C("scream_male", "human", "man screaming", "man", "screams", "scream", "screaming",
      "scream, screams, screaming, shriek, shrieks, yell, yells, yelling, groan, groans, groaning, cry of pain",
      countable=True),
    C("scream_female", "human", "woman screaming", "woman", "screams", "scream", "screaming",
      "scream, screams, screaming, shriek, shrieks, yell, yells, yelling, groan, groans, groaning, cry of pain",
      countable=True),
    C("footsteps_grass", "human", "footsteps on grass", "footsteps", "swish through grass", "swish through grass",
      "swishing through grass", "footsteps, footstep, steps, walking, walks, walker, grass", article="",
      plural=True, countable=True),
    C("footsteps_gravel", "human", "footsteps on gravel", "footsteps", "crunch on gravel", "crunch on gravel",
      "crunching on gravel", "footsteps, footstep, steps, walking, walks, walker, gravel", article="", plural=True,
      countable=True),
    C("footsteps_sand", "human", "footsteps on sand", "footsteps", "shuffle through sand", "shuffle through sand",
      "shuffling through sand", "footsteps, footstep, steps, walking, walks, walker, sand", article="", plural=True,
      countable=True),
    C("footsteps_snow", "human", "footsteps in snow", "footsteps", "crunch in the snow", "crunch in the snow",
      "crunching in the snow", "footsteps, footstep, steps, walking, walks, walker, snow", article="", plural=True,
      countable=True),
    C("footsteps_wood", "human", "footsteps on wood", "footsteps", "knock on wooden boards", "knock on wooden boards",
      "knocking on wooden boards", "footsteps, footstep, steps, walking, walks, walker, floorboards, wooden floor",
      article="", plural=True, countable=True),
    C("footsteps_dirt", "human", "footsteps on dirt", "footsteps", "tread on a dirt path", "tread on a dirt path",
      "treading on a dirt path", "footsteps, footstep, steps, walking, walks, walker, dirt", article="",
      plural=True, countable=True),
    # nature
    C("rain", "nature", "rain", "rain", "falls", "fall", "falling",
      "rain, raining, rainfall, rainy, drizzle, downpour, shower, rainstorm", article=""),
    C("wind", "nature", "wind blowing", "wind", "blows", "blow", "blowing",
      "wind, windy, gust, gusts, gale, breeze, windstorm, blizzard, snowstorm, howling wind", article=""),
    C("river", "nature", "river flowing", "river", "flows", "flow", "flowing",
      "river, stream, creek, brook, rapids, running water, flowing water"),
    C("waterfall", "nature", "waterfall", "waterfall", "roars", "roar", "roaring", "waterfall, cascade, falls"),
    C("waves", "nature", "waves on the shore", "waves", "wash onto the shore", "wash onto the shore",
      "washing onto the shore", "waves, wave, surf, sea, ocean, shore, beach, seashore", article="", plural=True),
    C("fire", "nature", "fire crackling", "fire", "crackles", "crackle", "crackling",
      "fire, fires, crackling, crackles, flames, blaze, burning, campfire, bonfire"),
    C("rustling_leaves", "nature", "leaves rustling", "leaves", "rustle", "rustle", "rustling",
      "leaves, rustle, rustles, rustling, foliage, bush, bushes, branches", article="", plural=True),
    # ambiences (mixtures: role "ambience")
    C("farm_ambience", "ambience", "farmyard ambience", "farmyard", "bustles with life", "bustle with life",
      "bustling with life", "farm, farmyard, barnyard, barn"),
    C("harbour_ambience", "ambience", "harbour ambience", "harbour", "bustles with activity",
      "bustle with activity", "bustling with activity", "harbour, harbor, port, dock, docks, pier, quay, wharf"),
    C("market_ambience", "ambience", "market ambience", "market", "bustles with traders", "bustle with traders",
      "bustling with traders", "market, marketplace, bazaar, merchants, traders, vendors"),
    # objects: crafts and work
    C("axe_chop", "object", "axe chopping wood", "axe", "chops wood", "chop wood", "chopping wood",
      "axe, ax, axes, hatchet, chop, chops, chopping, woodcutter, lumberjack", countable=True),
    C("tree_fall", "object", "tree falling", "tree", "creaks and crashes down", "creak and crash down",
      "creaking and crashing down", "tree, trees, timber, falling tree"),
    C("pickaxe", "object", "pickaxe striking rock", "pickaxe", "strikes rock", "strike rock", "striking rock",
      "pickaxe, pickaxes, pick, mining, miner, quarry, quarrying", countable=True),
    C("hoe", "object", "hoe digging soil", "hoe", "digs into the soil", "dig into the soil",
      "digging into the soil", "hoe, hoeing, digging, digs, dig, tilling, spade, shovel", countable=True),
    C("stone_impact", "object", "stone knocking", "stone", "knocks against stone", "knock against stone",
      "knocking against stone", "stone, stones, rock, rocks, pebble, pebbles", countable=True),
    # objects: arms and war
    C("sword_clash", "object", "swords clashing", "swords", "clash", "clash", "clashing",
      "sword, swords, blade, blades, clash, clashes, clashing, sword fight, swordfight", article="", plural=True,
      countable=True),
    C("spear_strike", "object", "spear striking", "spear", "strikes", "strike", "striking",
      "spear, spears, lance, pike, thrust", countable=True),
    C("shield_metal", "object", "blow on a metal shield", "metal shield", "clangs under a blow",
      "clang under a blow", "clanging under a blow", "shield, shields, clang, clangs, clanging", countable=True),
    C("shield_wood", "object", "blow on a wooden shield", "wooden shield", "thuds under a blow",
      "thud under a blow", "thudding under a blow", "shield, shields, thud, thuds", countable=True),
    C("arrow_impact", "object", "arrow hitting", "arrow", "hits", "hit", "hitting",
      "arrow, arrows, thud, thunk", countable=True),
    C("arrow_whoosh", "object", "arrow flying", "arrow", "whooshes past", "whoosh past", "whooshing past",
      "arrow, arrows, whoosh, whooshes, whooshing, swish, javelin", countable=True),
    C("bow_shot", "object", "bow shooting", "bow", "shoots an arrow", "shoot an arrow", "shooting an arrow",
      "bow, bows, archer, archers, archery, arrow, arrows, bowstring, longbow", countable=True),
    C("sling", "object", "sling whirling", "sling", "whirls and releases", "whirl and release",
      "whirling and releasing", "sling, slingshot, whirl, whirling, swish, whoosh", countable=True),
    C("stab", "object", "blade stabbing flesh", "blade", "stabs into flesh", "stab into flesh",
      "stabbing into flesh", "stab, stabs, stabbing, knife, dagger, blade", countable=True),
    C("gunshot", "object", "gunshot", "musket", "fires", "fire", "firing",
      "gun, guns, gunshot, gunshots, shot, shots, gunfire, rifle, musket, pistol, shotgun", countable=True),
    C("catapult", "object", "catapult firing", "catapult", "launches", "launch", "launching",
      "catapult, catapults, ballista, onager, trebuchet, siege engine", countable=True),
    C("boulder_impact", "object", "boulder crashing into a wall", "boulder", "crashes into a wall",
      "crash into a wall", "crashing into a wall", "boulder, crash, crashes, crashing, impact, rubble, debris",
      countable=True),
    C("battering_ram", "object", "battering ram pounding", "battering ram", "pounds a gate", "pound a gate",
      "pounding a gate", "battering ram, ram, pounding, pounds, thud, thuds"),
    C("explosion", "object", "explosion", "explosion", "booms", "boom", "booming",
      "explosion, explosions, explodes, blast, boom, booms, detonation", countable=True),
    C("building_collapse", "object", "building collapsing", "building", "collapses", "collapse", "collapsing",
      "collapse, collapses, collapsing, building, demolition, rubble, crumbling, debris"),
    C("gate", "object", "heavy gate moving", "stone gate", "grinds open", "grind open", "grinding open",
      "gate, gates, portcullis, drawbridge"),
    C("ship_wake", "vehicle", "ship moving through water", "ship", "swishes through the water",
      "swish through the water", "swishing through the water", "ship, ships, boat, boats, hull, splash, splashing"),
    C("ship_breaking", "vehicle", "wooden ship breaking apart", "wooden ship", "breaks apart", "break apart",
      "breaking apart", "ship, ships, boat, wreck, shipwreck, crash, splintering, breaking"),
]

# ---------------------------------------------------------------------------------------------------------
# The table. Each rule: (regex over the member path under audio/, category, spec). Spec keys: phrase overrides
# (noun, verb, base, gerund, article, plural), "role" ("event" default / "ambience"), "labels" (extra audible
# categories), "group" (a shared hold-out group; default: the file), "countable" (False forbids counting).
# First match wins. Category None leaves the file out (the spec's "why" is reported).

_DEATH = {"verb": "cries out in pain", "base": "cry out in pain", "gerund": "crying out in pain"}
_STEP = {"noun": "footstep", "article": "a", "plural": False}  # a single step, cut from a walking take

RULES: list[tuple[str, str | None, dict[str, Any]]] = [
    # --- copies (byte-identical, or the same recording under another name) ---------------------------------
    (r"actor/mounted/death/death_horse_1[01]\.ogg", None, {"why": "copy of actor/fauna/death/death_horse_1x"}),
    (r"actor/fauna/death/death_horse_1[23]\.ogg", None, {"why": "copy of actor/fauna/animal/horse_death1/2"}),
    (r"actor/fauna/animal/pig_12\.ogg", None, {"why": "copy of pig_10"}),
    (r"actor/human/movement/hstep_dirt_MN_13\.ogg", None, {"why": "copy of hstep_dirt_MN_11"}),
    (r"actor/singlesteps/fs_rock\d\.ogg", None, {"why": "the same audio as fs_gravelN"}),
    (r"actor/human/movement/Footsteps/Footstep_Rock_\w+\.ogg", None,
     {"why": "holds the same steps as the gravel takes (surface unclear)"}),
    (r"ambient/weather/windleaves_11\.ogg", None, {"why": "the same recording as windleaves_10 (corr 0.97)"}),
    (r"ambient/weather/rain_12\.ogg", None, {"why": "another mix of rain_11 (corr 0.68 at zero lag)"}),
    (r"ambient/dayscape/day_tropical_11\.ogg", None, {"why": "day_tropical_10 shifted by 10.5 s (corr 0.62)"}),
    (r"ambient/dayscape/day_temperate_gen_0\d\.ogg", None,
     {"why": "long renders repeating the day_temperate_11-14 birds"}),
    (r"ambient/dayscape/day_temperate_1[23]\.ogg", None,
     {"why": "near-copies of day_temperate_11 (corr 0.58/0.76 at zero lag)"}),
    (r"attack/weapon/pike_attack_\d+\.ogg", None, {"why": "pike_attack_N is spear_attack_N (corr 0.85-0.95)"}),
    (r"attack/weapon/Musket_2\.ogg", None, {"why": "copy of Musket_1"}),
    (r"attack/weapon/swordhit_15a\.ogg", None, {"why": "copy of swordhit_10"}),
    (r"attack/weapon/swordhit_18a\.ogg", None, {"why": "copy of swordhit_12a (corr 0.98)"}),
    (r"attack/impact/siegeprojectilehit_04\.ogg", None, {"why": "copy of siegeprojectilehit_02"}),
    (r"attack/impact/shield_wood_1[24]\.ogg", None, {"why": "copies of shield_wood_08/07 (corr 0.99)"}),
    (r"attack/impact/arrow_wood_1[78]\.ogg", None, {"why": "copies of shield_wood_08/13 (corr 0.97-0.98)"}),
    (r"attack/impact/sling_wood_12\.ogg", None, {"why": "copy of sling_wood_05 (corr 0.985)"}),
    (r"attack/weapon/arrowfly_02\.ogg", None, {"why": "copy of arrowfly_01 (corr 0.99)"}),
    (r"attack/weapon/jav_attack_0[23]\.ogg", None, {"why": "copies of arrowfly_01/03 (corr 0.96-0.98)"}),
    (r"resource/construction/con_wood_1[03]\.ogg", None, {"why": "copies of con_wood_09 (corr 0.98)"}),
    # --- left out: not events, or unclear from the name ----------------------------------------------------
    (r"music/.*", None, {"why": "music (soundtrack)"}),
    (r"voice/(greek|latin|napatan|persian)/.*", None,
     {"why": "voice lines in reconstructed ancient languages, no transcript"}),
    (r"interface/.*", None, {"why": "interface signals and stingers (some musical, some mixtures)"}),
    # --- animals ---------------------------------------------------------------------------------------------
    (r"actor/fauna/animal/camel_10\.ogg", "camel", {}),
    (r"actor/fauna/death/death_camel_10\.ogg", "camel", {}),
    (r"actor/fauna/animal/cattle_0\d\.ogg", "cow", {}),
    (r"actor/fauna/animal/chicken_1\d\.ogg", "hen", {"noun": "chicken"}),
    (r"actor/fauna/animal/elephant_attack\d\.ogg", "elephant", {}),
    (r"actor/fauna/animal/elephant_(death|order|select|trained)\d\.ogg", "elephant",
     {"verb": "calls", "base": "call", "gerund": "calling"}),
    (r"actor/fauna/animal/flamingo_10\.ogg", "flamingo", {}),
    (r"actor/fauna/animal/horse_(11|attack\d|select\d|idle\d)\.ogg", "horse", {}),
    (r"actor/fauna/animal/horse_death\d\.ogg", "horse", {"verb": "squeals", "base": "squeal",
                                                         "gerund": "squealing"}),
    (r"actor/fauna/death/death_horse_1[01]\.ogg", "horse", {"verb": "squeals", "base": "squeal",
                                                            "gerund": "squealing"}),
    (r"actor/fauna/animal/lion_(attack\d|select1)\.ogg", "big_cat", {}),
    (r"actor/fauna/animal/peacock_call_01\.ogg", "peacock", {}),
    (r"actor/fauna/animal/pig_1[01]\.ogg", "pig", {}),
    (r"actor/fauna/animal/pig_(death|squeal_move)\.ogg", "pig", {"verb": "squeals", "base": "squeal",
                                                                 "gerund": "squealing"}),
    (r"actor/fauna/animal/sheep_1\d\.ogg", "sheep", {}),
    (r"actor/fauna/death/goat_1\d\.ogg", "goat", {}),
    (r"voice/global/civ_dog_bark\.ogg", "dog", {}),
    (r"actor/mounted/movement/mstep11\d\.ogg", "horse_hooves", {}),
    # --- people ----------------------------------------------------------------------------------------------
    (r"actor/human/death/(male_)?death_\d+\.ogg", "scream_male", _DEATH),
    (r"actor/human/death/female_death_\d+\.ogg", "scream_female", _DEATH),
    (r"actor/singlesteps/fs_grass\d\.ogg", "footsteps_grass",
     {**_STEP, "verb": "swishes through grass", "group": "fs_grass"}),
    (r"actor/human/movement/Footsteps/Footstep_Grass_(Walking|Running)\.ogg", "footsteps_grass",
     {"group": "fs_grass"}),
    (r"actor/singlesteps/fs_gravel\d\.ogg", "footsteps_gravel",
     {**_STEP, "verb": "crunches on gravel", "group": "fs_gravel"}),
    (r"actor/human/movement/Footsteps/Footstep_Gravel_(Walking|Running)\.ogg", "footsteps_gravel",
     {"group": "fs_gravel"}),
    (r"actor/singlesteps/fs_sand\d\.ogg", "footsteps_sand",
     {**_STEP, "verb": "shuffles through sand", "group": "fs_sand"}),
    (r"actor/human/movement/Footsteps/Foorstep_Sand_(Walking|Running)\.ogg", "footsteps_sand",
     {"group": "fs_sand"}),
    (r"actor/singlesteps/fs_snow_1\d\.ogg", "footsteps_snow",
     {**_STEP, "verb": "crunches in the snow", "group": "fs_snow"}),
    (r"actor/singlesteps/fs_wood\d\.ogg", "footsteps_wood",
     {**_STEP, "verb": "knocks on wooden boards", "group": "fs_wood"}),
    (r"actor/human/movement/Footsteps/Footstep_Wood_(Walking|Running)\.ogg", "footsteps_wood",
     {"group": "fs_wood"}),
    (r"actor/human/movement/hstep_(run_)?dirt_MN_1\d\.ogg", "footsteps_dirt", {}),
    # --- weather, water, fire (loops: role ambience) ---------------------------------------------------------
    (r"ambient/weather/rain_11\.ogg", "rain", {"role": "ambience"}),
    (r"ambient/weather/thunder_1\d\.ogg", "thunder", {}),
    (r"ambient/weather/wind_11\.ogg", "wind", {"role": "ambience"}),
    (r"ambient/weather/windstorm_11\.ogg", "wind", {"role": "ambience", "verb": "howls", "base": "howl",
                                                    "gerund": "howling"}),
    (r"ambient/weather/snowstorm_11\.ogg", "wind", {"role": "ambience", "noun": "snowstorm", "article": "a",
                                                    "verb": "howls", "base": "howl", "gerund": "howling"}),
    (r"ambient/weather/windgust_11\.ogg", "wind", {"noun": "gust of wind", "article": "a", "verb": "blows past",
                                                   "base": "blow past", "gerund": "blowing past"}),
    (r"ambient/weather/windleaves_10\.ogg", "wind", {"labels": ["rustling_leaves"], "verb": "rustles the leaves",
                                                     "base": "rustle the leaves", "gerund": "rustling the leaves"}),
    (r"ambient/water/river_slow_21\.ogg", "river", {"role": "ambience", "verb": "flows gently",
                                                    "base": "flow gently", "gerund": "flowing gently"}),
    (r"ambient/water/river_med_21\.ogg", "river", {"role": "ambience"}),
    (r"ambient/water/river_fast_21\.ogg", "river", {"role": "ambience", "verb": "rushes", "base": "rush",
                                                    "gerund": "rushing"}),
    (r"ambient/water/river_raging_21\.ogg", "river", {"role": "ambience", "noun": "raging river",
                                                      "verb": "roars", "base": "roar", "gerund": "roaring"}),
    (r"ambient/water/waterfall_31\.ogg", "waterfall", {"role": "ambience"}),
    (r"ambient/water/wave_21\.ogg", "waves", {"role": "ambience"}),
    (r"ambient/water/wavecrash_21\.ogg", "waves", {"role": "ambience", "verb": "crash onto the shore",
                                                   "base": "crash onto the shore",
                                                   "gerund": "crashing onto the shore"}),
    (r"ambient/water/waverocky_21\.ogg", "waves", {"role": "ambience", "verb": "crash against rocks",
                                                   "base": "crash against rocks", "gerund": "crashing against rocks"}),
    (r"attack/fire/c_1\d\.ogg", "fire", {"group": "fire_crackling"}),
    (r"attack/fire/sp_1\d\.ogg", "fire", {"group": "fire_spreading", "verb": "roars",
                                          "base": "roar", "gerund": "roaring"}),
    (r"resource/foraging/leaves_\d+\.ogg", "rustling_leaves", {}),
    # --- birds and places (ambiences) ------------------------------------------------------------------------
    (r"ambient/dayscape/day_temperate_1[14]\.ogg", "songbird",
     {"role": "ambience", "group": "day_temperate", "noun": "birds", "article": "", "plural": True,
      "verb": "sing", "base": "sing"}),
    (r"ambient/dayscape/day_tropical_10\.ogg", "songbird",
     {"role": "ambience", "noun": "tropical birds", "article": "", "plural": True, "verb": "call",
      "base": "call", "gerund": "calling"}),
    (r"ambient/building/amb_farm_\d+\.ogg", "farm_ambience", {"role": "ambience", "group": "amb_farm"}),
    (r"ambient/building/amb_port_\d+\.ogg", "harbour_ambience", {"role": "ambience", "group": "amb_port"}),
    (r"ambient/building/amb_trade_\d+\.ogg", "market_ambience", {"role": "ambience", "group": "amb_trade"}),
    # --- work --------------------------------------------------------------------------------------------------
    (r"resource/construction/con_saw_\d+\.ogg", "saw", {}),
    (r"resource/construction/con_wood_\d+\.ogg", "hammer", {"verb": "strikes wood", "base": "strike wood",
                                                            "gerund": "striking wood"}),
    (r"resource/construction/con_stone_\d+\.ogg", "stone_impact", {}),
    (r"resource/farming/hoe_1\d\.ogg", "hoe", {}),
    (r"resource/lumbering/lumber_tree_\d+\.ogg", "axe_chop", {}),
    (r"resource/lumbering/lumber_treeexpire_0[234]\.ogg", "tree_fall", {}),
    (r"resource/mining/mine_stone_\d+\.ogg", "pickaxe", {}),
    (r"resource/mining/mine_metal_\d+\.ogg", "pickaxe", {"verb": "strikes metal ore", "base": "strike metal ore",
                                                         "gerund": "striking metal ore"}),
    # --- arms and war ------------------------------------------------------------------------------------------
    (r"attack/weapon/swordhit_\d+[ab]?\.ogg", "sword_clash", {}),
    (r"attack/weapon/sword_attack_\d+\.ogg", "sword_clash", {}),
    (r"attack/weapon/spear_attack_\d+\.ogg", "spear_strike", {}),
    (r"attack/impact/shield_metal_\d+\.ogg", "shield_metal", {}),
    (r"attack/impact/shield_wood_\d+\.ogg", "shield_wood", {}),
    (r"attack/impact/arrow_0\d\.ogg", "arrow_impact", {"verb": "thuds into a target", "base": "thud into a target",
                                                       "gerund": "thudding into a target"}),
    (r"attack/impact/arrow_dirt_\d+\.ogg", "arrow_impact", {"verb": "thuds into the ground",
                                                            "base": "thud into the ground",
                                                            "gerund": "thudding into the ground"}),
    (r"attack/impact/arrow_metal_\d+\.ogg", "arrow_impact", {"verb": "strikes metal", "base": "strike metal",
                                                             "gerund": "striking metal"}),
    (r"attack/impact/arrow_stone_\d+\.ogg", "arrow_impact", {"verb": "clacks against stone",
                                                             "base": "clack against stone",
                                                             "gerund": "clacking against stone"}),
    (r"attack/impact/arrow_wood_\d+\.ogg", "arrow_impact", {"verb": "thunks into wood", "base": "thunk into wood",
                                                            "gerund": "thunking into wood"}),
    (r"attack/weapon/arrowfly_\d+\.ogg", "arrow_whoosh", {}),
    (r"attack/weapon/jav_attack_0[14]\.ogg", "arrow_whoosh", {"noun": "javelin"}),
    (r"attack/weapon/bow_attack_\d+\.ogg", "bow_shot", {}),
    (r"attack/weapon/sling_attack_\d+\.ogg", "sling", {}),
    (r"attack/impact/sling_metal_\d+\.ogg", "stone_impact", {"noun": "sling stone", "verb": "strikes metal",
                                                             "base": "strike metal", "gerund": "striking metal"}),
    (r"attack/impact/sling_stone_\d+\.ogg", "stone_impact", {"noun": "sling stone"}),
    (r"attack/impact/sling_wood_\d+\.ogg", "stone_impact", {"noun": "sling stone", "verb": "knocks against wood",
                                                            "base": "knock against wood",
                                                            "gerund": "knocking against wood"}),
    (r"attack/impact/fleshstab_0\d\.ogg", "stab", {}),
    (r"attack/weapon/Musket_[13]\.ogg", "gunshot", {}),
    (r"attack/siege/ballist(_rome)?_attack_0\d\.ogg", "catapult", {"noun": "ballista", "verb": "fires",
                                                                   "base": "fire", "gerund": "firing"}),
    (r"attack/siege/onager_shooting_11\.ogg", "catapult", {}),
    (r"attack/siege/ram_attack\.ogg", "battering_ram", {}),
    (r"attack/impact/siegeprojectilehit_0[123]\.ogg", "boulder_impact", {}),
    (r"attack/destruction/explode_debris_20\.ogg", "explosion", {}),
    (r"attack/destruction/building_collapse_large_0\d\.ogg", "building_collapse", {}),
    (r"actor/gate/stonegate_open_2\d\.ogg", "gate", {"group": "stonegate_open"}),
    (r"actor/gate/stonegate_close_2\d\.ogg", "gate", {"verb": "grinds shut", "base": "grind shut",
                                                      "gerund": "grinding shut"}),
    (r"actor/ship/(ship_move|warship_move_01)\.ogg", "ship_wake", {}),
    (r"actor/ship/(smove_21|ship_select_01)\.ogg", "ship_wake", {"group": "smove"}),
    (r"actor/ship/warship_death_0\d\.ogg", "ship_breaking", {}),
]

# Named here so the report can list them: files left out because the sound is unclear from the name (and, where
# a spectrogram was looked at, from that too).
UNCLEAR: dict[str, str] = {
    "actor/fauna/death/Animal_death_generic_*": "which animal is not said",
    "actor/fauna/movement/camel_10": "a steady 800-Hz tone with pulses: a bell or a groan, unclear",
    "voice/global/civ_dog_move": "not a bark; what the dog does is unclear",
    "attack/fire/sz1*": "not used by the game; 'sz' unexplained",
    "attack/impact/fleshimp_*": "not used by the game; a body blow of unclear kind",
    "attack/weapon/sling_2*": "not used by the game; which part of a sling shot is unclear",
    "attack/weapon/jav_attack_05/06": "not used by the game, much shorter than the others",
    "attack/siege/onager_moving_11, ram_move, ram_attack_order, siege_select_10":
        "rolling machines or orders: what is audible is unclear",
    "resource/gathering/*": "gathering grain, fruit and meat: broadband swishes and rustles of unclear source",
    "resource/lumbering/lumber_treeexpire_01": "not used by the game, much shorter than 02-04",
}


def rule_for(member: str) -> tuple[str | None, dict[str, Any]] | None:
    """The first rule matching `member` ("audio/..." or a path under audio/), or None when no rule matches."""
    rel = member[len("audio/"):] if member.startswith("audio/") else member
    for pattern, category, spec in RULES:
        if re.fullmatch(pattern, rel):
            return category, spec
    return None


def plan(members: list[str]) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, str]]:
    """Audio members -> (taken: [(member, category, spec)], left out: {member: why}). Pure: names only."""
    taken, left = [], {}
    for m in sorted(members):
        if not m.startswith("audio/") or not m.lower().endswith(".ogg"):
            continue
        hit = rule_for(m)
        if hit is None:
            left[m] = "unclear from its name"
        elif hit[0] is None:
            left[m] = hit[1].get("why", "left out")
        else:
            taken.append((m, hit[0], hit[1]))
    return taken, left


def record_id(member: str, piece: int = 0) -> str:
    stem = Path(member).stem.lower().replace("-", "_")
    return f"0ad.{stem}" + (f".{piece + 1}" if piece else "")


def pieces(x: np.ndarray, sr: int, role: str) -> list[np.ndarray]:
    """An event: one recording cut at 6 s. An ambience: the first 30 s, plus up to two further 30-s pieces."""
    if role != "ambience":
        return [cap(x, sr, EVENT_MAX)]
    n = int(PIECE * sr)
    out = [cap(x, sr, PIECE)]
    for k in range(1, MAX_PIECES):
        seg = x[k * n:(k + 1) * n]
        if len(seg) < MIN_PIECE * sr:
            break
        out.append(cap(seg, sr, PIECE))
    return out


def _check_archive_license(zf: zipfile.ZipFile) -> None:
    text = zf.read(LICENSE_MEMBER).decode("utf-8", errors="replace")
    if LICENSE_PHRASE not in text or "Wildfire Games" not in text:
        sys.exit(f"{ZIP_PATH}:{LICENSE_MEMBER} no longer says {LICENSE_PHRASE!r}; check the licence by hand")


def _phrases(ctx: Any, category: str, over: dict[str, Any]) -> dict[str, Any]:
    cats = dict(getattr(ctx, "categories", None) or {})
    cat = cats.get(category) or {c.id: c for c in CATEGORIES}[category]
    return cat.phrases(**over)


PHRASE_KEYS = ("noun", "verb", "base", "gerund", "article", "plural")


def collect(ctx: Any) -> list[Rec]:
    if not ZIP_PATH.exists():
        sys.exit(f"{ZIP_PATH} is missing; install the package: apt-get install --no-install-recommends {PACKAGE}")
    version = ctx.versions[PACKAGE]
    lic = PACKAGES[PACKAGE]["license"]
    out: list[Rec] = []
    seen: dict[str, str] = {}
    tmp = Path(ctx.tmp) / "0ad_member.ogg"
    with zipfile.ZipFile(ZIP_PATH) as zf:
        _check_archive_license(zf)
        taken, _left = plan(zf.namelist())
        for member, category, spec in taken:
            data = zf.read(member)
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:  # a byte-identical copy the table does not name yet
                print(f"  note: {member} is a copy of {seen[digest]}; skipped", file=sys.stderr)
                continue
            seen[digest] = member
            tmp.write_bytes(data)
            sr = storage_rate(tmp)
            x = trim(decode(tmp, sr), sr)
            if len(x) < int(0.05 * sr):
                print(f"  note: {member} is silent; skipped", file=sys.stderr)
                continue
            role = spec.get("role", "event")
            over = {k: spec[k] for k in PHRASE_KEYS if k in spec}
            phr = _phrases(ctx, category, over)
            origin = {"package": PACKAGE, "version": version, "file": f"{ZIP_PATH}:{member}", "license": lic,
                      "archive": str(ZIP_PATH), "member": member}
            group = "0ad." + spec.get("group", Path(member).stem.lower())
            for k, piece in enumerate(pieces(x, sr, role)):
                rec: dict[str, Any] = {"id": record_id(member, k), "category": category, "role": role, "sr": sr,
                                       **phr, "origin": origin, "group": group}
                labels = [category, *spec.get("labels", [])]
                if len(labels) > 1 or role == "ambience":
                    rec["labels"] = labels
                if "countable" in spec:
                    rec["countable"] = spec["countable"]
                if k:
                    rec["segment"] = k + 1
                out.append((rec, piece.astype(np.float32)))
    return out
