"""SuperTuxKart (`supertuxkart-data`): the sound effects whose origin its copyright file documents.

Licence, per file, from Debian's machine-readable copyright file (paths spelt `data/sfx/<file>`): each
effect has its own stanza naming its author, licence (CC0, public-domain, CC-BY-3.0, CC-BY-SA-3.0 or
CC-BY-SA-4.0) and, in a comment, the freesound.org / soundbible.com / pdsounds.org / Wikimedia Commons
recording it was cut from. Each record carries its file's licence and that stanza's authors.

Taken (a recorded original named in the copyright file): a jet flying over (Wikimedia Commons), a car
accelerating and revving, an engine idling, a clock ticking, three impacts, exotic birds (two loops), a
fireworks show, a crowd cheering, a car horn, a restaurant (chatter, cutlery), a machine, a river, a waterfall,
a tyre skid, a splash, radio static, thunder, knocking on wood, a cow and a steam locomotive (Black Forest
track).

Left out: the music, fanfares and jingles; sara_airport_pa and nolok_speech (speech); the Wilhelm scream (a
film stock effect); rain.ogg (MegaGlest's rain, already collected from megaglest-data) and anvil.ogg
(Wesnoth's mace.wav); mixes of unrelated sources (hammer, metal_clang, engine_large, break, bubblegum_explode)
and sounds with no recorded original named or of a processed or invented kind (explosion, nitro, portal,
forcefield, tractor_beam, spaceship*, goo, boing, bzzt, swatter, plunger, appear, swap, jump, wee, ugh, shoot,
the karts' own skids); the Scotland sheep and the library copy of the locomotive (no source given).
"""

from __future__ import annotations

import re
from pathlib import Path

from sources import credits
from sources.common import C, Category, Rec
from sources.fxtable import Row

ROOT = Path("/usr/share/games/supertuxkart/data")
PKG = "supertuxkart-data"

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "per file: CC0, public-domain, CC-BY-3.0, CC-BY-SA-3.0, CC-BY-SA-4.0",
          "check": "Files: data/sfx/river_loop.ogg",
          "holder": "each sound's author as its stanza in /usr/share/doc/supertuxkart-data/copyright names them "
                    "(Fritz Schlüter, Mike Koenig, Adam Newns, VKProduktion, jordiroquer, Alcappuccino, The Audio "
                    "Monkey and others; edits by Marianne Gagnon); SuperTuxKart-Team",
          "note": "Debian copyright (DEP-5): one stanza per sound effect with its author, licence (CC0, "
                  "public-domain, CC-BY-3.0, CC-BY-SA-3.0, CC-BY-SA-4.0) and the recording it comes from. Each "
                  "record's origin.license is its file's and origin.credit its stanza's Copyright line, read from the "
                  "copyright file. Files read: data/sfx, data/tracks/black_forest."},
}

CATEGORIES: list[Category] = [
    C("restaurant", "ambience", "restaurant ambience", "restaurant", "bustles with chatter",
      "bustle with chatter", "bustling with chatter",
      "restaurant, cafe, diners, chatter, chattering, murmur, crowd, people talking, cutlery, dishes"),
    C("tyre_skid", "vehicle", "tyres skidding", "car", "skids", "skid", "skidding",
      "skid, skids, skidding, tyre, tyres, tire, tires, squeal, screech, screeching, brakes"),
    C("radio_static", "noise", "radio static", "radio", "hisses with static", "hiss with static",
      "hissing with static", "radio, static, hiss, white noise, interference, crackle, tuning"),
]

JET = {"noun": "jet"}

TABLE: list[Row] = [
    Row("sfx/airplane_jetEngine.ogg", "airplane", JET, note="an airliner flying over Berlin Tegel"),
    Row("sfx/car_accel.ogg", "car_engine", {"noun": "car", "verb": "accelerates", "base": "accelerate",
                                            "gerund": "accelerating"}),
    Row("sfx/car_revup.ogg", "car_engine", {"verb": "revs", "base": "rev", "gerund": "revving"},
        note="an engine revving, heard inside the car"),
    Row("sfx/engine_small.ogg", "car_engine", {"verb": "idles", "base": "idle", "gerund": "idling"}),
    Row("sfx/clock.ogg", "clock"),
    *[Row(f"sfx/{n}.ogg", "crash", {"noun": "collision"}) for n in ("crash", "crash2", "crash3")],
    Row("sfx/exotic-birds.ogg", "songbird", {"noun": "exotic birds", "article": "", "verb": "call", "base": "call",
                                            "gerund": "calling", "plural": True}, role="ambience",
        labels=["songbird"], cut="pieces", max_s=10.0),
    Row("sfx/exotic-birds_2.ogg", "songbird", {"noun": "exotic birds", "article": "", "verb": "call",
                                              "base": "call", "gerund": "calling", "plural": True},
        role="ambience", labels=["songbird"], cut="pieces", max_s=10.0),
    Row("sfx/fireworks_show.ogg", "fireworks", role="ambience", labels=["fireworks"], max_s=10.0),
    Row("sfx/goal_scored.ogg", "crowd", {"noun": "stadium crowd"}, role="ambience", labels=["crowd"], max_s=10.0),
    Row("sfx/horn.ogg", "car_horn"),
    Row("sfx/lenautile_restaurant.ogg", "restaurant", role="ambience", labels=["restaurant"], cut="pieces",
        max_s=10.0),
    Row("sfx/machine_sound.ogg", "machine"),
    Row("sfx/river_loop.ogg", "river", role="ambience", labels=["river"], cut="pieces", max_s=10.0),
    Row("sfx/waterfall_loop_2.ogg", "waterfall", role="ambience", labels=["waterfall"], cut="pieces", max_s=10.0),
    Row("sfx/skid.ogg", "tyre_skid"),
    Row("sfx/splash.ogg", "splash"),
    Row("sfx/static-radio.ogg", "radio_static", role="ambience", labels=["radio_static"], max_s=10.0,
        note="the first 10 s of a 102-s loop"),
    Row("sfx/thunder.ogg", "thunder"),
    Row("sfx/wooden_bridge.ogg", "knock", {"noun": "person", "verb": "knocks on wood",
                                           "base": "knock on wood", "gerund": "knocking on wood"}),
    Row("tracks/black_forest/cow.ogg", "cow"),
    Row("tracks/black_forest/steamLocomotive.ogg", "train", {"noun": "steam locomotive", "verb": "chugs",
                                                             "base": "chug", "gerund": "chugging"},
        role="ambience", labels=["train"], cut="pieces", max_s=10.0),
]


def collect(ctx) -> list[Rec]:
    return credits.collect_dep5(ctx, PKG, "stk", TABLE, ROOT, "data/", lambda f: re.sub(
        r"[^a-z0-9]+", "_", f.rsplit(".", 1)[0].replace("sfx/", "").lower()).strip("_"))


def licenses_markdown(recs: list[dict]) -> str:
    return credits.licenses_markdown("supertuxkart-data", recs)
