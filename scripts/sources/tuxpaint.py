"""Tux Paint's sound effects (tuxpaint-stamps-default): 74 of the 108 stamp sounds, by a hand-written table.

The stamps' spoken descriptions (<stamp>_desc*.ogg) are another module's (tuxpaint_speech).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sources.common import C, Category, Rec, bursts, cap, decode, fade, storage_rate, trim
from sources.records import make_record

TUX_ROOT = Path("/usr/share/tuxpaint/stamps")

PACKAGES: dict[str, dict[str, str]] = {
    "tuxpaint-stamps-default": {
        "license": "GPL-2+",
        "check": "License: GPL-2",
        "holder": "Bill Kendrick and Tux Paint contributors (2002-2022)",
        "note": "Debian copyright: 'Files: * ... License: GPL-2' (version 2 or any later). The upstream changelog "
                "credits some sound sets separately: animals imported from Childsplay (GPL), the household sounds "
                "of Caroline Ford (GFDL / CC BY-SA / GPL), the Mudchute farm animals.",
    },
}

# Categories first defined here (the animals and household sounds of the original 72; Asterisk's monkeys and
# sox's sirens use them too).
CATEGORIES: list[Category] = [
    C("dog", "animal", "dog barking", "dog", "barks", "bark", "barking", "dog, dogs, puppy, hound", countable=True),
    C("cat", "animal", "cat meowing", "cat", "meows", "meow", "meowing", "cat, cats, kitten, kitty, meow, meows",
      countable=True),
    C("cow", "animal", "cow mooing", "cow", "moos", "moo", "mooing", "cow, cows, bull, cattle, moo, moos, mooing",
      countable=True),
    C("pig", "animal", "pig oinking", "pig", "oinks", "oink", "oinking",
      "pig, pigs, piglet, hog, oink, oinks, grunting pig", countable=True),
    C("sheep", "animal", "sheep bleating", "sheep", "bleats", "bleat", "bleating", "sheep, lamb, ram", countable=True),
    C("goat", "animal", "goat bleating", "goat", "bleats", "bleat", "bleating", "goat, goats", countable=True),
    C("horse", "animal", "horse neighing", "horse", "neighs", "neigh", "neighing",
      "horse, horses, pony, neigh, neighs, neighing", countable=True),
    C("donkey", "animal", "donkey braying", "donkey", "brays", "bray", "braying", "donkey, mule, bray, brays, braying",
      countable=True),
    C("duck", "animal", "duck quacking", "duck", "quacks", "quack", "quacking", "duck, ducks, quack, quacks, quacking",
      countable=True),
    C("goose", "animal", "goose honking", "goose", "honks", "honk", "honking", "goose, geese", countable=True),
    C("hen", "animal", "hen clucking", "hen", "clucks", "cluck", "clucking",
      "hen, chicken, chickens, cluck, clucks, clucking", countable=True),
    C("rooster", "animal", "rooster crowing", "rooster", "crows", "crow", "crowing",
      "rooster, cockerel, crowing", countable=True),
    C("turkey", "animal", "turkey gobbling", "turkey", "gobbles", "gobble", "gobbling",
      "turkey, gobble, gobbles, gobbling", countable=True),
    C("songbird", "animal", "bird singing", "bird", "sings", "sing", "singing",
      "bird, birds, songbird, blackbird, lark, birdsong"),
    C("crow", "animal", "crow cawing", "crow", "caws", "caw", "cawing",
      "crow, raven, caw, caws, cawing", countable=True),
    C("owl", "animal", "owl hooting", "owl", "hoots", "hoot", "hooting", "owl, hoot, hoots, hooting", countable=True),
    C("cuckoo", "animal", "cuckoo calling", "cuckoo", "calls", "call", "calling", "cuckoo", countable=True),
    C("seagull", "animal", "seagull crying", "seagull", "cries", "cry", "crying", "seagull, gull, seagulls, gulls"),
    C("penguin", "animal", "penguin calling", "penguin", "calls", "call", "calling", "penguin, penguins"),
    C("frog", "animal", "frog croaking", "frog", "croaks", "croak", "croaking",
      "frog, frogs, toad, croak, croaks, croaking", countable=True),
    C("insect", "animal", "insect buzzing", "bee", "buzzes", "buzz", "buzzing",
      "bee, bees, hornet, mosquito, insect, insects, wasp, fly, buzzing insect"),
    C("grasshopper", "animal", "grasshopper chirping", "grasshopper", "chirps", "chirp", "chirping",
      "grasshopper, cricket, crickets"),
    C("monkey", "animal", "monkey screeching", "chimpanzee", "screeches", "screech", "screeching",
      "monkey, monkeys, chimpanzee, chimp, ape, apes"),
    C("dolphin", "animal", "dolphin chattering", "dolphin", "chatters", "chatter", "chattering", "dolphin, dolphins"),
    C("whale", "animal", "whale calling", "whale", "calls", "call", "calling", "whale, whales, orca, killer whale"),
    C("sea_lion", "animal", "sea lion barking", "sea lion", "barks", "bark", "barking",
      "sea lion, sea lions, seal, seals", countable=True),
    C("bear", "animal", "bear growling", "bear", "growls", "growl", "growling", "bear, bears"),
    C("big_cat", "animal", "lion roaring", "lion", "roars", "roar", "roaring", "lion, lions, tiger, tigers, big cat"),
    C("camel", "animal", "camel groaning", "camel", "groans", "groan", "groaning", "camel, camels, dromedary"),
    C("deer", "animal", "deer calling", "deer", "calls", "call", "calling", "deer, doe, caribou, reindeer, stag, elk"),
    C("fox", "animal", "fox yelping", "fox", "yelps", "yelp", "yelping", "fox, foxes", countable=True),
    C("elephant", "animal", "elephant trumpeting", "elephant", "trumpets", "trumpet", "trumpeting",
      "elephant, elephants"),
    C("hippo", "animal", "hippopotamus grunting", "hippopotamus", "grunts", "grunt", "grunting", "hippopotamus, hippo"),
    C("mouse", "animal", "mouse squeaking", "mouse", "squeaks", "squeak", "squeaking", "mouse, mice, rat, rodent",
      countable=True),
    # objects, machines, weather (Tux Paint)
    C("crunch", "object", "crunching food", "person", "crunches on something", "crunch on something",
      "crunching on something",
      "crunch, crunches, crunching, crunchy, bite, bites, biting, chewing, chews, eating, eats, munching"),
    C("camera", "object", "camera shutter", "camera shutter", "clicks", "click", "clicking",
      "camera, shutter, camera shutter", countable=True),
    C("washing_machine", "object", "washing machine", "washing machine", "runs", "run", "running",
      "washing machine, washer"),
    C("scissors", "object", "scissors snipping", "scissors", "snip", "snip", "snipping", "scissors", article="",
      plural=True, countable=True),
    C("rubber_duck", "object", "rubber duck squeaking", "rubber duck", "squeaks", "squeak", "squeaking",
      "rubber duck, squeaky toy, toy", countable=True),
    C("toilet", "object", "toilet flushing", "toilet", "flushes", "flush", "flushing",
      "toilet, flush, flushes, flushing"),
    C("hammer", "object", "hammer banging", "hammer", "bangs", "bang", "banging", "hammer, mallet, hammering",
      countable=True),
    C("saw", "object", "saw cutting", "saw", "cuts wood", "cut wood", "cutting wood", "saw, sawing, saws"),
    C("vacuum", "object", "vacuum cleaner", "vacuum cleaner", "hums", "hum", "humming",
      "vacuum cleaner, vacuum, hoover"),
    C("thunder", "object", "thunder", "thunder", "rumbles", "rumble", "rumbling",
      "thunder, thunderstorm, lightning, storm", article=""),
    C("fireworks", "object", "fireworks", "fireworks", "explode", "explode", "exploding",
      "fireworks, firework, explosion, explosions", article="", plural=True),
    C("sleigh_bells", "object", "sleigh bells jingling", "sleigh bells", "jingle", "jingle", "jingling",
      "sleigh bells, jingle bells, jingling, jingle", article="", plural=True),
    C("paper", "object", "paper rustling", "paper", "rustles", "rustle", "rustling",
      "paper, rustling, rustles, rustle, wrapping paper", article=""),
    C("car", "object", "car passing", "race car", "speeds past", "speed past", "speeding past",
      "car, cars, race car, engine, vehicle"),
    C("siren", "signal", "siren", "siren", "wails", "wail", "wailing",
      "siren, sirens, fire truck, fire engine, ambulance"),
]

# ---------------------------------------------------------------------------------------------------------
# Tux Paint: a hand-written table for the 108 sound effects (<stamp>.ogg; <stamp>_desc*.ogg are spoken
# descriptions in many languages and are not used). Each row: relative path, category, phrase overrides.
# Left out: 4 silent files (giraffe, iguana, nandou, wombat) and sounds whose identity is unclear from their
# name, description and signal (badger, beaver, bison, bottle, glass, kettle, ferret, gorilla, koala, rabbit,
# squirrel, quetzal, toucan, vulture, xanthia, zebra, heron, bat, ghost, spider, the dreidels, the road signs,
# the roll call, the Apollo lander, the bathyscaphe).
# "split": the file holds several separate calls (measured by `bursts`); cut it into one recording per call,
# used for categories that otherwise have a single recording (so one call can be held out).

TUX_TABLE: list[tuple[str, str, dict[str, Any]]] = [
    ("animals/amphibians/frog.ogg", "frog", {}),
    ("animals/birds/blackbird.ogg", "songbird", {"noun": "blackbird"}),
    ("animals/birds/lark.ogg", "songbird", {"noun": "lark"}),
    ("animals/birds/crow.ogg", "crow", {}),
    ("animals/birds/cuckoo.ogg", "cuckoo", {}),
    ("animals/birds/drake.ogg", "duck", {}),
    ("animals/birds/duck.ogg", "duck", {}),
    ("animals/birds/gander.ogg", "goose", {}),
    ("animals/birds/hen.ogg", "hen", {}),
    ("animals/birds/owl.ogg", "owl", {}),
    ("animals/birds/penguin.ogg", "penguin", {}),
    ("animals/birds/rooster.ogg", "rooster", {}),
    ("animals/birds/seagull.ogg", "seagull", {}),
    ("animals/birds/turkey.ogg", "turkey", {}),
    ("animals/insects/bee.ogg", "insect", {}),
    ("animals/insects/hornet.ogg", "insect", {"noun": "hornet"}),
    ("animals/insects/mosquito.ogg", "insect", {"noun": "mosquito"}),
    ("animals/insects/grasshopper.ogg", "grasshopper", {}),
    ("animals/mammals/apes/chimp.ogg", "monkey", {}),
    ("animals/mammals/aquatic/dolphin.ogg", "dolphin", {}),
    ("animals/mammals/aquatic/orca.ogg", "whale", {"noun": "killer whale"}),
    ("animals/mammals/aquatic/whale.ogg", "whale", {}),
    ("animals/mammals/aquatic/sea_lion.ogg", "sea_lion", {}),
    ("animals/mammals/bears/bear.ogg", "bear", {}),
    ("animals/mammals/bovines/bull.ogg", "cow", {"noun": "bull", "verb": "bellows", "base": "bellow",
                                                 "gerund": "bellowing"}),
    ("animals/mammals/bovines/cow.ogg", "cow", {}),
    ("animals/mammals/bovines/cow_white.ogg", "cow", {}),
    ("animals/mammals/bovines/goat.ogg", "goat", {}),
    ("animals/mammals/bovines/mountaingoat.ogg", "goat", {"noun": "mountain goat"}),
    ("animals/mammals/bovines/ram.ogg", "sheep", {"noun": "ram"}),
    ("animals/mammals/bovines/sheep.ogg", "sheep", {}),
    ("animals/mammals/bovines/sheep_lamb.ogg", "sheep", {"noun": "lamb"}),
    ("animals/mammals/camel/camel.ogg", "camel", {}),
    ("animals/mammals/camel/dromedary.ogg", "camel", {}),
    ("animals/mammals/cats/lion.ogg", "big_cat", {}),
    ("animals/mammals/cats/tiger.ogg", "big_cat", {"noun": "tiger", "verb": "growls", "base": "growl",
                                                   "gerund": "growling"}),
    ("animals/mammals/deer/caribou.ogg", "deer", {"noun": "caribou"}),
    ("animals/mammals/deer/deer.ogg", "deer", {}),
    ("animals/mammals/deer/doe.ogg", "deer", {"noun": "doe"}),
    ("animals/mammals/dogs/dog.ogg", "dog", {"split": True}),
    ("animals/mammals/dogs/fox.ogg", "fox", {}),
    ("animals/mammals/elephant.ogg", "elephant", {}),
    ("animals/mammals/equines/donkey.ogg", "donkey", {}),
    ("animals/mammals/equines/horse.ogg", "horse", {}),
    ("animals/mammals/hippopotamus.ogg", "hippo", {}),
    ("animals/mammals/pig.ogg", "pig", {}),
    ("animals/mammals/pig_golden.ogg", "pig", {}),
    ("animals/mammals/pig_golden2.ogg", "pig", {}),
    ("animals/mammals/rodents/mouse.ogg", "mouse", {}),
    ("seasonal/halloween/blackcat.ogg", "cat", {"split": True}),
    ("food/fruit/apple_red.ogg", "crunch", {"verb": "bites into an apple", "base": "bite into an apple",
                                            "gerund": "biting into an apple"}),
    ("seasonal/christmas/hard_candy.ogg", "crunch", {"verb": "crunches hard candy", "base": "crunch hard candy",
                                                     "gerund": "crunching hard candy"}),
    ("hobbies/camera_35mm.ogg", "camera", {}),
    ("hobbies/music/percussion/cymbal_crash.ogg", "cymbal", {}),
    ("hobbies/music/percussion/drum_tomtom_floor.ogg", "drums", {"noun": "drum", "article": "a", "verb": "beats",
                                                               "base": "beat", "gerund": "beating",
                                                               "plural": False}),
    ("hobbies/music/percussion/drumkit.ogg", "drums", {}),
    ("hobbies/music/string/cello.ogg", "cello", {}),
    ("hobbies/music/string/violin.ogg", "violin", {}),
    ("hobbies/music/wind/bassoon.ogg", "bassoon", {}),
    ("household/Washing-machine.ogg", "washing_machine", {}),
    ("household/arttools/scissors_small_closed.ogg", "scissors", {}),
    ("household/arttools/scissors_small_open.ogg", "scissors", {}),
    ("household/rubberduck.ogg", "rubber_duck", {}),
    ("household/toilet.ogg", "toilet", {}),
    ("household/tools/hammer.ogg", "hammer", {}),
    ("household/tools/mallet_metal.ogg", "hammer", {"noun": "metal mallet", "verb": "clangs", "base": "clang",
                                                    "gerund": "clanging"}),
    ("household/tools/saw.ogg", "saw", {}),
    ("household/vacuum_cleaner.ogg", "vacuum", {}),
    ("naturalforces/lightningbolt.ogg", "thunder", {}),
    ("seasonal/newyears/fireworks.ogg", "fireworks", {}),
    ("seasonal/christmas/santahat.ogg", "sleigh_bells", {}),
    ("seasonal/christmas/gift.ogg", "paper", {"noun": "wrapping paper"}),
    ("town/flags/checkeredflag.ogg", "car", {}),
    ("vehicles/emergency/firetruck.ogg", "siren", {"noun": "fire truck siren"}),
]


def collect(ctx: Any) -> list[Rec]:
    version = ctx.versions["tuxpaint-stamps-default"]
    out: list[Rec] = []
    for rel, category, over in TUX_TABLE:
        path = TUX_ROOT / rel
        if not path.exists():
            sys.exit(f"{path} is missing; is tuxpaint-stamps-default {version} installed?")
        over = dict(over)
        split_calls = over.pop("split", False)
        sr = storage_rate(path)
        x = trim(decode(path, sr), sr)
        desc_path = path.with_suffix(".txt")
        desc = desc_path.read_text(errors="replace").splitlines()[0].strip() if desc_path.exists() else ""
        origin = {"package": "tuxpaint-stamps-default", "version": version, "file": str(path),
                  "license": PACKAGES["tuxpaint-stamps-default"]["license"], "description": desc}
        stem = path.stem.lower().replace("-", "_")
        parts = bursts(x, sr) if split_calls else [(0, len(x))]
        if split_calls and len(parts) < 2:
            print(f"  note: {rel} was to be split into calls but holds one burst; kept whole", file=sys.stderr)
        for k, (a, b) in enumerate(parts):
            pad = int(0.04 * sr)
            piece = fade(x[max(0, a - pad): b + pad], sr) if len(parts) > 1 else x
            rid = f"tux.{stem}" + (f".{k + 1}" if len(parts) > 1 else "")
            rec, audio = make_record(ctx.categories, rid, category, sr, cap(piece, sr), origin, group=f"tux.{stem}",
                                     **over)
            if len(parts) > 1:
                rec["segment"] = k + 1
            out.append((rec, audio))
    return out



def licenses_markdown(recs: list[dict[str, Any]]) -> str:
    """The table of the sound effects used, for LICENSES.md."""
    lines = ["## Tux Paint sound effects used (tuxpaint-stamps-default, GPL-2+)", "",
             "Paths under /usr/share/tuxpaint/stamps/; the description is the stamp's English .txt file.", "",
             "| file | description | category | caption phrase | split |", "|---|---|---|---|---|"]
    for r in recs:
        if r["id"].startswith("tux."):
            rel = Path(r["origin"]["file"]).relative_to(TUX_ROOT)
            seg = f" (call {r['segment']})" if "segment" in r else ""
            lines.append(f"| {rel}{seg} | {r['origin'].get('description', '')} | {r['category']} | "
                         f"{r['subject']} {r['verb']} | {r['split']} |")
    return "\n".join(lines) + "\n"
