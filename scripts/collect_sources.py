#!/usr/bin/env python3
"""Collect the audio sources of the `sam-tiny-scenes` dataset from Debian packages into `data/sources/`.

Stage 1 of 2 (stage 2, `build_scenes.py`, mixes these sources into 10-s scenes anywhere numpy runs). This
stage needs the Debian packages below and the `sox`, `fluidsynth`, `espeak-ng` and `flite` programs; it
installs nothing itself. As root on Debian 12:

    apt-get update
    apt-get install -y --no-install-recommends tuxpaint-stamps-default asterisk-core-sounds-en \
        asterisk-core-sounds-en-wav fluidsynth fluid-soundfont-gm espeak-ng flite sox
    python3 scripts/collect_sources.py --out data/sources

What it writes (about 30 MiB, small enough to travel with a GPU run):
- `audio.npz`: one int16 array per recording, mono, trimmed of leading/trailing silence, peak-normalised,
  at 16 kHz, or at 8 kHz where the original is 8 kHz (the Asterisk prompts, some Tux Paint sounds): storing
  those at 16 kHz would double their size and add nothing. `build_scenes.py` resamples.
- `sources.json`: the manifest. Categories (caption phrases, synonyms) and recordings (category, phrases,
  transcript and voice for speech, origin package/version/file/licence, burst count, split).
- `LICENSES.md`: the licence of every package used (copied into `examples/SOURCES.md` by hand).

Splits are per recording: within each (category, origin), the recordings are grouped by what makes them
distinct (a file, a voice, a rendered phrase); where there are two groups or more, about 20% of the groups
(at least one) are held out for evaluation. Where there is one group of several recordings (one synthetic
voice's phrases, the two barks cut from Tux Paint's single dog recording), about 20% of the recordings are
held out; a held-out cut of a file whose other cut is in training is marked `holdout: "segment"`, so the
evaluation can report the strict subset without it. Everything is deterministic given `--seed`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/sources/, also when loaded by path
from sources.common import (SR, MAX_SECONDS, C, Category, Rec, bursts, cap, decode, fade, run,  # noqa: F401
                            storage_rate, to_int16, trim)

APT_PACKAGES = ["tuxpaint-stamps-default", "asterisk-core-sounds-en", "asterisk-core-sounds-en-wav", "fluidsynth",
                "fluid-soundfont-gm", "espeak-ng", "flite", "sox"]
APT_LINE = "apt-get install -y --no-install-recommends " + " ".join(APT_PACKAGES)

TUX_ROOT = Path("/usr/share/tuxpaint/stamps")
ASTERISK_ROOT = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

MAX_PROMPT_SECONDS = 5.0  # Asterisk prompts longer than this are skipped: too long for a 10-s scene
HOLDOUT_SHARE = 0.2

# ---------------------------------------------------------------------------------------------------------
# Licences. Each entry names the package whose /usr/share/doc/<pkg>/copyright was read, the licence that
# covers the files we use, and a string that file must contain (so a changed package is noticed, not
# silently mislabelled).

LICENSES: dict[str, dict[str, str]] = {
    "tuxpaint-stamps-default": {
        "license": "GPL-2+",
        "check": "License: GPL-2",
        "holder": "Bill Kendrick and Tux Paint contributors (2002-2022)",
        "note": "Debian copyright: 'Files: * ... License: GPL-2' (version 2 or any later). The upstream changelog "
                "credits some sound sets separately: animals imported from Childsplay (GPL), the household sounds "
                "of Caroline Ford (GFDL / CC BY-SA / GPL), the Mudchute farm animals.",
    },
    "asterisk-core-sounds-en": {
        "license": "CC-BY-SA-3.0",
        "check": "License: CC-BY-SA-3.0",
        "holder": "Allison Smith (voice), Digium, Inc. (2003-2010)",
        "note": "English prompts recorded by Allison Smith (http://www.theivrvoice.com); transcripts from "
                "core-sounds-en.txt in this package.",
    },
    "asterisk-core-sounds-en-wav": {
        "license": "CC-BY-SA-3.0",
        "check": "License: CC-BY-SA-3.0",
        "holder": "Allison Smith (voice), Digium, Inc. (2003-2010)",
        "note": "The same prompts as 8 kHz 16-bit WAV files (the ones read here).",
    },
    "fluid-soundfont-gm": {
        "license": "MIT",
        "check": "MIT license",
        "holder": "Frank Wen and contributors (2000-2002, 2008)",
        "note": "FluidR3 GM SoundFont: sampled real instruments. Rendered here with fluidsynth from MIDI phrases "
                "this script writes; the rendered audio derives from the soundfont's samples.",
    },
    "fluidsynth": {
        "license": "LGPL-2.1+",
        "check": "LGPL-2.1+",
        "holder": "Peter Hanappe and the FluidSynth developers",
        "note": "Used as a program only (renders the soundfont); none of its code or data is in the sources.",
    },
    "espeak-ng": {
        "license": "GPL-3+",
        "check": "GNU General Public License",
        "holder": "Jonathan Duddington, Reece H. Dunn and the eSpeak NG developers",
        "note": "Speech synthesised with the espeak-ng program and its voice data (package espeak-ng-data, same "
                "licence); transcripts are phrases written in this script.",
    },
    "flite": {
        "license": "CMU Flite licence (BSD-like; permissive)",
        "check": "Carnegie Mellon University",
        "holder": "Language Technologies Institute, Carnegie Mellon University (1999-2001)",
        "note": "Speech synthesised with the flite program and its built-in voices (kal16, awb, rms, slt); "
                "transcripts are phrases written in this script.",
    },
    "sox": {
        "license": "GPL-2+ / LGPL-2.1+ (program)",
        "check": "GPL-2+",
        "holder": "Chris Bagwell and SoX contributors",
        "note": "Used as a program only: beeps, sirens and noise beds are synthesised by `sox -n ... synth`; the "
                "synthesised signals are simple tones and noise.",
    },
}


def package_version(pkg: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout:
        sys.exit(f"package {pkg} is not installed; install the sources with:\n  {APT_LINE}")
    return out.stdout.strip()


def check_licenses() -> dict[str, dict[str, str]]:
    """Read each package's copyright file and return {package: {version, license, ...}}."""
    info = {}
    for pkg, lic in LICENSES.items():
        path = Path("/usr/share/doc") / pkg / "copyright"
        if pkg == "espeak-ng" and not path.exists():
            path = Path("/usr/share/doc/espeak-ng-data/copyright")
        text = path.read_text(errors="replace") if path.exists() else ""
        if lic["check"] not in text:
            sys.exit(f"{path}: expected to find {lic['check']!r}; the package changed, check its licence by hand")
        info[pkg] = {"version": package_version(pkg), "copyright_file": str(path),
                     **{k: v for k, v in lic.items() if k != "check"}}
    return info


CATEGORIES: dict[str, Category] = {c.id: c for c in [
    # animals (Tux Paint, plus Asterisk's monkeys)
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
    # music (FluidR3 renders, plus Tux Paint's real recordings where it has them)
    C("piano", "music", "piano", "piano", "plays", "play", "playing", "piano, keyboard"),
    C("guitar", "music", "guitar", "guitar", "plays", "play", "playing", "guitar"),
    C("violin", "music", "violin", "violin", "plays", "play", "playing", "violin, fiddle"),
    C("cello", "music", "cello", "cello", "plays", "play", "playing", "cello"),
    C("bassoon", "music", "bassoon", "bassoon", "plays", "play", "playing", "bassoon"),
    C("trumpet", "music", "trumpet", "trumpet", "plays", "play", "playing", "trumpet, trumpets"),
    C("flute", "music", "flute", "flute", "plays", "play", "playing", "flute"),
    C("organ", "music", "organ", "organ", "plays", "play", "playing", "organ"),
    C("clarinet", "music", "clarinet", "clarinet", "plays", "play", "playing", "clarinet"),
    C("saxophone", "music", "saxophone", "saxophone", "plays", "play", "playing", "saxophone, sax"),
    C("harp", "music", "harp", "harp", "plays", "play", "playing", "harp"),
    C("xylophone", "music", "xylophone", "xylophone", "plays", "play", "playing", "xylophone, marimba"),
    C("accordion", "music", "accordion", "accordion", "plays", "play", "playing", "accordion"),
    C("drums", "music", "drums", "drums", "play a beat", "play a beat", "playing a beat",
      "drum, drums, drumming, drum kit", article="", plural=True),
    C("cymbal", "music", "cymbal crash", "cymbal", "crashes", "crash", "crashing", "cymbal, cymbals", countable=True),
    C("bell", "music", "bell ringing", "bell", "rings", "ring", "ringing",
      "bell, bells, chime, chimes", countable=True),
    C("clap", "object", "hand clap", "person", "claps", "clap", "clapping", "clap, claps, clapping, hand clap",
      countable=True),
    C("applause", "object", "applause", "crowd", "applauds", "applaud", "applauding",
      "applause, applauds, applauding, applaud, audience, crowd"),
    C("phone", "signal", "telephone ringing", "telephone", "rings", "ring", "ringing", "telephone, phone"),
    C("helicopter", "object", "helicopter", "helicopter", "flies overhead", "fly overhead", "flying overhead",
      "helicopter, chopper"),
    # signals (sox, Asterisk)
    C("beep", "signal", "beep", "beep", "sounds", "sound", "sounding", "beep, beeps, beeping, tone, tones",
      countable=True),
    # speech (Asterisk, espeak-ng, flite)
    C("speech_female", "speech", "woman speaking", "woman", "speaks", "speak", "speaking",
      "woman, women, female, lady, girl"),
    C("speech_male", "speech", "man speaking", "man", "speaks", "speak", "speaking", "man, men, male, guy, boy"),
    # noise beds: background only, never an event
    C("noise", "noise", "noise", "noise", "hisses", "hiss", "hissing", "noise, static, hiss, hissing", article=""),
]}

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

# ---------------------------------------------------------------------------------------------------------
# Synthetic speech: short everyday phrases (no sound-source words, so a quoted phrase never names a sound).

PHRASES = [
    "please hold", "good morning", "thank you very much", "the train is late", "where are my keys",
    "dinner is ready", "see you tomorrow", "turn left at the corner", "it is going to rain", "call me back later",
    "the meeting starts at noon", "watch out", "hello, how are you", "I will be right there", "open the door",
    "the bus is coming", "let's go for a walk", "do you hear that", "that was loud", "what time is it",
    "the water is cold", "please close the window", "welcome home", "good night", "can you help me",
    "the store is closed", "we are almost there", "I love this song", "stop right here", "the baby is sleeping",
    "listen carefully", "bring an umbrella", "happy birthday", "excuse me", "it is very quiet here",
    "the coffee is hot", "follow me", "one, two, three", "are you ready", "turn off the lights",
]
PHRASES_PER_VOICE = 12

ESPEAK_VOICES: list[tuple[str, str, int]] = [  # (voice, gender, words per minute)
    ("en-us", "male", 165), ("en-gb", "male", 155), ("en-gb-scotland", "male", 150), ("en-029", "male", 160),
    ("en-us+m3", "male", 170), ("en-gb-x-rp+m7", "male", 150),
    ("en-us+f1", "female", 160), ("en-us+f2", "female", 170), ("en-gb+f3", "female", 150),
    ("en+f4", "female", 160), ("en-us+f5", "female", 155),
]
FLITE_VOICES: list[tuple[str, str]] = [("slt", "female"), ("awb", "male"), ("rms", "male"), ("kal16", "male")]

# ---------------------------------------------------------------------------------------------------------
# FluidR3 renders: melodic phrases per instrument (GM program), single strikes for countable sounds.

INSTRUMENTS: dict[str, tuple[int, int]] = {  # category: (GM program, lowest MIDI note of the phrase)
    "piano": (0, 55), "guitar": (24, 48), "violin": (40, 62), "cello": (42, 43), "bassoon": (70, 43),
    "trumpet": (56, 58), "flute": (73, 67), "organ": (19, 50), "clarinet": (71, 55), "saxophone": (65, 53),
    "harp": (46, 55), "xylophone": (13, 67), "accordion": (21, 57),
}
PHRASES_PER_INSTRUMENT = 5
DRUM_KITS = [0, 8, 16, 24, 25, 32, 40, 48]  # GM2 kit numbers in bank 128 (standard, room, power, ...)
MAJOR = [0, 2, 4, 5, 7, 9, 11, 12, 14, 16]
MINOR = [0, 2, 3, 5, 7, 8, 10, 12, 14, 15]


# ---------------------------------------------------------------------------------------------------------
# MIDI: a minimal type-0 file writer (no dependency), enough for fluidsynth.


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, notes: list[tuple[float, float, int, int]], program: int, channel: int = 0,
               bank: int | None = None, tempo_bpm: float = 120.0, tpq: int = 480) -> None:
    """notes: (start_beat, length_beats, pitch, velocity). Channel 9 is the GM percussion channel."""
    events: list[tuple[int, bytes]] = []
    for start, length, pitch, vel in notes:
        t0, t1 = int(round(start * tpq)), int(round((start + length) * tpq))
        events.append((t0, bytes([0x90 | channel, pitch, vel])))
        events.append((t1, bytes([0x80 | channel, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90))  # note-offs before note-ons at the same tick
    us_per_beat = int(60_000_000 / tempo_bpm)
    head = b"\x00\xff\x51\x03" + us_per_beat.to_bytes(3, "big")
    if bank is not None:
        head += b"\x00" + bytes([0xB0 | channel, 0x00, bank >> 7])  # bank select, MSB then LSB
        head += b"\x00" + bytes([0xB0 | channel, 0x20, bank & 0x7F])
    head += b"\x00" + bytes([0xC0 | channel, program])
    body, now = b"", 0
    for t, msg in events:
        body += _vlq(t - now) + msg
        now = t
    body += _vlq(tpq) + b"\xff\x2f\x00"
    track = head + body
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(track)) + track)


def render_midi(mid: Path, wav: Path) -> np.ndarray:
    # -R 0 -C 0: no built-in reverb/chorus (build_scenes.py adds its own room); -g 0.6 avoids clipping.
    run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(SR), "-F", str(wav), str(SOUNDFONT),
         str(mid)])
    return decode(wav, SR)


# ---------------------------------------------------------------------------------------------------------
# Collectors. Each returns a list of (recording dict, float audio at its storage rate).



def recording(id: str, category: str, sr: int, audio: np.ndarray, origin: dict[str, str], group: str,
              **over: Any) -> Rec:
    cat = CATEGORIES[category]
    extra = {k: over.pop(k) for k in ("transcript", "voice", "gender", "countable") if k in over}
    rec = {"id": id, "category": category, "sr": sr, **cat.phrases(**over), **extra, "origin": origin,
           "group": group}
    return rec, audio


def collect_tuxpaint(version: str) -> list[Rec]:
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
                  "license": LICENSES["tuxpaint-stamps-default"]["license"], "description": desc}
        stem = path.stem.lower().replace("-", "_")
        parts = bursts(x, sr) if split_calls else [(0, len(x))]
        if split_calls and len(parts) < 2:
            print(f"  note: {rel} was to be split into calls but holds one burst; kept whole", file=sys.stderr)
        for k, (a, b) in enumerate(parts):
            pad = int(0.04 * sr)
            piece = fade(x[max(0, a - pad): b + pad], sr) if len(parts) > 1 else x
            rid = f"tux.{stem}" + (f".{k + 1}" if len(parts) > 1 else "")
            rec, audio = recording(rid, category, sr, cap(piece, sr), origin, group=f"tux.{stem}", **over)
            if len(parts) > 1:
                rec["segment"] = k + 1
            out.append((rec, audio))
    return out


def asterisk_transcripts() -> dict[str, str]:
    table = {}
    with gzip.open(ASTERISK_TRANSCRIPTS, "rt", errors="replace") as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_/\-]+):\s*(.*)$", line.strip())
            if m:
                table[m.group(1)] = m.group(2).strip()
    return table


def clean_transcript(text: str) -> str:
    text = re.sub(r"\s*\[[^\]]*\]", "", text)  # "at [@]" -> "at"
    text = text.replace("exclaimation", "exclamation").replace('"', "")
    text = re.sub(r"\s*(\.\.\.|…)\s*", " ", text).strip()  # "...has left the conference." is a fragment
    text = re.sub(r"(?<![A-Za-z0-9])\*(?![A-Za-z0-9])", "star", text)  # "press * to" is spoken "press star to"
    text = re.sub(r"(?<![A-Za-z0-9])#(?![A-Za-z0-9])", "pound", text)
    return re.sub(r"\s+", " ", text).strip()


def collect_asterisk(version: str) -> list[Rec]:
    table = asterisk_transcripts()
    out: list[Rec] = []
    non_speech = {"beep": ("beep", {}), "beeperr": ("beep", {"noun": "error beep"}),
                  "ascending-2tone": ("beep", {"noun": "rising double beep"}),
                  "descending-2tone": ("beep", {"noun": "falling double beep"}),
                  "tt-monkeys": ("monkey", {"noun": "monkeys", "article": "", "verb": "screech", "base": "screech",
                                            "plural": True})}
    for path in sorted(ASTERISK_ROOT.rglob("*.wav")):
        key = str(path.relative_to(ASTERISK_ROOT).with_suffix(""))
        if key.startswith("silence/") or key not in table:
            continue
        x = trim(decode(path, 8000), 8000)
        if key in non_speech:
            x = cap(x, 8000)  # the monkeys run for 9 s; a cut keeps them usable
        elif len(x) == 0 or len(x) > MAX_PROMPT_SECONDS * 8000:
            continue
        origin = {"package": "asterisk-core-sounds-en-wav", "version": version, "file": str(path),
                  "license": LICENSES["asterisk-core-sounds-en-wav"]["license"],
                  "transcript_source": f"{ASTERISK_TRANSCRIPTS} ({key})"}
        rid = "ast." + key.replace("/", ".").replace("-", "_")
        if key in non_speech:
            category, over = non_speech[key]
            out.append(recording(rid, category, 8000, x, origin, group=rid, **over))
            continue
        text = clean_transcript(table[key])
        if not text or text.startswith("("):
            continue
        out.append(recording(rid, "speech_female", 8000, x, origin, group=rid, transcript=text,
                             voice="Allison Smith (studio recording)", gender="female"))
    return out


def voice_phrases(voice: str, seed: int) -> list[str]:
    # Each voice says its own seeded subset, so phrases and voices are not confounded.
    h = int(hashlib.sha256(f"{seed}:{voice}".encode()).hexdigest()[:8], 16)
    idx = np.random.default_rng(h).permutation(len(PHRASES))[:PHRASES_PER_VOICE]
    return [PHRASES[i] for i in sorted(idx)]


def collect_speech(tmp: Path, versions: dict[str, str], seed: int) -> list[Rec]:
    out: list[Rec] = []
    for voice, gender, wpm in ESPEAK_VOICES:
        for k, text in enumerate(voice_phrases("espeak:" + voice, seed)):
            wav = tmp / "espeak.wav"
            run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text])
            x = trim(decode(wav, SR), SR)
            vid = voice.replace("+", "_").replace("-", "_")
            origin = {"package": "espeak-ng", "version": versions["espeak-ng"],
                      "file": f"espeak-ng -v {voice} -s {wpm} '{text}'", "license": LICENSES["espeak-ng"]["license"]}
            out.append(recording(f"espeak.{vid}.{k + 1:02d}", f"speech_{gender}", SR, x, origin,
                                 group=f"espeak.{vid}", transcript=text, voice=f"espeak-ng {voice}", gender=gender))
    for voice, gender in FLITE_VOICES:
        for k, text in enumerate(voice_phrases("flite:" + voice, seed)):
            wav = tmp / "flite.wav"
            run(["flite", "-voice", voice, "-t", text, "-o", str(wav)])
            x = trim(decode(wav, SR), SR)
            origin = {"package": "flite", "version": versions["flite"], "file": f"flite -voice {voice} -t '{text}'",
                      "license": LICENSES["flite"]["license"]}
            out.append(recording(f"flite.{voice}.{k + 1:02d}", f"speech_{gender}", SR, x, origin,
                                 group=f"flite.{voice}", transcript=text, voice=f"flite {voice}", gender=gender))
    return out


def melody(rng: np.random.Generator, low: int, chords: bool) -> tuple[list[tuple[float, float, int, int]], float]:
    """A short random phrase (2-3.5 s) in a major or minor key: (notes, tempo)."""
    scale = MAJOR if rng.random() < 0.6 else MINOR
    tempo = float(rng.uniform(90, 150))
    beats_total = float(rng.uniform(2.0, 3.5)) * tempo / 60.0
    notes, t, degree = [], 0.0, int(rng.integers(0, 5))
    while t < beats_total - 0.25:
        length = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
        degree = int(np.clip(degree + rng.choice([-2, -1, -1, 1, 1, 2, 3]), 0, len(scale) - 1))
        pitch = low + scale[degree]
        vel = int(rng.integers(70, 115))
        notes.append((t, length * 0.95, pitch, vel))
        if chords and rng.random() < 0.4:
            notes.append((t, length * 0.95, pitch - 12 + (4 if scale is MAJOR else 3), vel - 15))
        t += length
    return notes, tempo


def drum_pattern(rng: np.random.Generator) -> tuple[list[tuple[float, float, int, int]], float]:
    tempo = float(rng.uniform(90, 140))
    notes = []
    for bar in range(2):
        for step in range(8):  # eighth notes
            t = bar * 4 + step * 0.5
            if step in (0, 4) or (step == 6 and rng.random() < 0.4):
                notes.append((t, 0.25, 36, 110))  # kick
            if step in (2, 6):
                notes.append((t, 0.25, 38, 105))  # snare
            notes.append((t, 0.2, 42 if rng.random() < 0.85 else 46, int(rng.integers(60, 90))))  # hi-hat
    return notes, tempo


def collect_fluidsynth(tmp: Path, versions: dict[str, str], seed: int) -> list[Rec]:
    out: list[Rec] = []
    rng = np.random.default_rng([seed, 7])
    origin_base = {"package": "fluid-soundfont-gm", "version": versions["fluid-soundfont-gm"],
                   "license": LICENSES["fluid-soundfont-gm"]["license"],
                   "renderer": f"fluidsynth {versions['fluidsynth']}"}
    mid, wav = tmp / "x.mid", tmp / "x.wav"

    def render(rid: str, category: str, notes, program: int, tempo: float, what: str, group: str,
               channel: int = 0, bank: int | None = None, max_s: float = MAX_SECONDS, **over: Any) -> None:
        write_midi(mid, notes, program, channel=channel, bank=bank, tempo_bpm=tempo)
        x = cap(trim(render_midi(mid, wav), SR, below_peak_db=40.0), SR, max_s)
        out.append(recording(rid, category, SR, x, {**origin_base, "file": f"{SOUNDFONT} ({what})"}, group=group,
                             **over))

    for category, (program, low) in INSTRUMENTS.items():
        for k in range(PHRASES_PER_INSTRUMENT):
            notes, tempo = melody(rng, low, chords=category in ("piano", "guitar", "harp", "organ", "accordion"))
            rid = f"fluid.{category}.{k + 1}"
            render(rid, category, notes, program, tempo, f"GM program {program}, phrase {k + 1}", group=rid)
    for k, kit in enumerate(DRUM_KITS[:PHRASES_PER_INSTRUMENT]):
        notes, tempo = drum_pattern(rng)
        rid = f"fluid.drums.{k + 1}"
        render(rid, "drums", notes, kit, tempo, f"drum kit {kit}, pattern {k + 1}", group=rid, channel=9, bank=128)
    # Single strikes: counted by repeating them in build_scenes.py.
    for k, (program, pitch) in enumerate([(14, 60), (14, 64), (14, 67), (14, 72), (112, 72), (112, 79)]):
        rid = f"fluid.bell.{k + 1}"
        name = "tubular bells" if program == 14 else "tinkle bell"
        render(rid, "bell", [(0, 1.0, pitch, 110)], program, 120, f"GM program {program} ({name}), note {pitch}",
               group=rid, max_s=2.0)
    # FluidR3's kits share most percussion samples; these (kit, velocity) pairs give distinct claps, and
    # near-duplicates left are removed by drop_duplicates().
    for k, (kit, vel) in enumerate([(0, 115), (25, 115), (40, 50), (40, 110)]):
        rid = f"fluid.clap.{k + 1}"
        render(rid, "clap", [(0, 0.25, 39, vel)], kit, 120, f"hand clap, drum kit {kit}, velocity {vel}", group=rid,
               channel=9, bank=128, max_s=1.0)
    for k, (kit, note) in enumerate([(0, 49), (0, 57), (0, 52), (0, 55), (25, 49), (40, 49), (48, 49)]):
        rid = f"fluid.cymbal.{k + 1}"
        render(rid, "cymbal", [(0, 1.0, note, 115)], kit, 120, f"crash cymbal {note}, drum kit {kit}", group=rid,
               channel=9, bank=128, max_s=2.0)
    for k, pitch in enumerate([60, 64, 67, 72]):
        rid = f"fluid.phone.{k + 1}"
        render(rid, "phone", [(0, 4.0, pitch, 100)], 124, 120, f"GM program 124 (telephone ring), note {pitch}",
               group=rid, max_s=2.5)
    for k, pitch in enumerate([48, 55, 60, 67]):
        rid = f"fluid.helicopter.{k + 1}"
        render(rid, "helicopter", [(0, 7.0, pitch, 100)], 125, 120, f"GM program 125 (helicopter), note {pitch}",
               group=rid, max_s=3.5)
    for k, pitch in enumerate([55, 60, 64, 69]):
        rid = f"fluid.applause.{k + 1}"
        render(rid, "applause", [(0, 7.0, pitch, 100)], 126, 120, f"GM program 126 (applause), note {pitch}",
               group=rid, max_s=3.5)
    return out


def collect_sox(tmp: Path, versions: dict[str, str]) -> list[Rec]:
    out: list[Rec] = []
    origin_base = {"package": "sox", "version": versions["sox"], "license": "synthesised tones/noise (no copyright)"}
    wav = tmp / "sox.wav"

    def synth(rid: str, category: str, args: list[str], group: str, **over: Any) -> None:
        run(["sox", "-R", "-D", "-n", "-r", str(SR), "-c", "1", "-b", "16", str(wav), *args])
        x = decode(wav, SR)
        if category != "noise":
            x = trim(x, SR)
        out.append(recording(rid, category, SR, x, {**origin_base, "file": "sox -n " + " ".join(args)}, group=group,
                             **over))

    beeps = [("sine", 1000, 0.25), ("sine", 880, 0.15), ("sine", 1500, 0.2), ("square", 700, 0.2),
             ("sine", 2000, 0.12), ("triangle", 1200, 0.3), ("sine", 600, 0.4), ("square", 1800, 0.1)]
    for k, (shape, freq, dur) in enumerate(beeps):
        vol = "0.3" if shape == "square" else "0.8"
        synth(f"sox.beep.{k + 1}", "beep", ["synth", str(dur), shape, str(freq), "vol", vol, "fade", "q", "0.01",
                                           str(dur), "0.01"], group=f"sox.beep.{k + 1}")
    # Sirens: a slow two-tone wail or a fast yelp, as repeated frequency sweeps.
    sirens = [(650, 1350, 1.2, 3), (800, 1600, 0.5, 6), (500, 1100, 1.5, 2), (900, 1500, 0.25, 10)]
    for k, (lo, hi, half, n) in enumerate(sirens):
        # One sox sweep per piece, alternating up and down, joined here.
        pieces = []
        for i in range(n):
            a, b = (lo, hi) if i % 2 == 0 else (hi, lo)
            piece_wav = tmp / f"siren{i}.wav"
            run(["sox", "-R", "-D", "-n", "-r", str(SR), "-c", "1", "-b", "16", str(piece_wav), "synth", str(half),
                 "sine", f"{a}:{b}", "vol", "0.7"])
            pieces.append(decode(piece_wav, SR))
        x = np.concatenate(pieces)
        desc = f"sox -n synth {half} sine {lo}:{hi} / {hi}:{lo}, alternating, {n} sweeps"
        out.append(recording(f"sox.siren.{k + 1}", "siren", SR, fade(x, SR, 0.05), {**origin_base, "file": desc},
                             group=f"sox.siren.{k + 1}"))
    # Noise beds (background only): 12 s each; build_scenes.py uses the first half for training scenes
    # and the second for evaluation scenes.
    for color in ("white", "pink", "brown"):
        synth(f"sox.noise.{color}", "noise", ["synth", "12", f"{color}noise", "vol", "0.5"],
              group=f"sox.noise.{color}", noun=f"{color} noise")
    return out


# ---------------------------------------------------------------------------------------------------------
# Splits and the manifest


def drop_duplicates(collected: list[Rec]) -> list[Rec]:
    """Drop a recording that is (nearly) the same audio as an earlier one of its category.

    A duplicate could land in training and evaluation at once (FluidR3's drum kits share samples).
    """
    kept: list[Rec] = []
    for rec, x in collected:
        dup = None
        for other, y in kept:
            if other["category"] != rec["category"] or other["sr"] != rec["sr"] or abs(len(x) - len(y)) > 0.02 * len(y):
                continue
            n = min(len(x), len(y))
            denom = float(np.sqrt(np.dot(x[:n], x[:n]) * np.dot(y[:n], y[:n]))) + 1e-12
            if float(np.dot(x[:n], y[:n])) / denom > 0.98:
                dup = other["id"]
                break
        if dup:
            print(f"  dropped {rec['id']}: same audio as {dup}", file=sys.stderr)
        else:
            kept.append((rec, x))
    return kept


def assign_splits(recs: list[dict[str, Any]], seed: int) -> None:
    """Hold out ~20% of each (category, origin package)'s groups, or of its recordings if it has one group."""
    by_pool: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in recs:
        r["split"], r["holdout"] = "train", None
        if r["category"] != "noise":
            by_pool.setdefault((r["category"], r["origin"]["package"]), []).append(r)
    for (category, package), pool in sorted(by_pool.items()):
        h = int(hashlib.sha256(f"{seed}:{category}:{package}".encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng(h)
        groups = sorted({r["group"] for r in pool})
        if len(groups) >= 2:
            k = max(1, int(round(HOLDOUT_SHARE * len(groups))))
            held = set(rng.choice(groups, size=k, replace=False).tolist())
            # A held-out synthetic voice is a voice never heard in training; elsewhere a group is one recording.
            level = "voice" if package in ("espeak-ng", "flite") else "recording"
            for r in pool:
                if r["group"] in held:
                    r["split"], r["holdout"] = "eval", level
        elif len(pool) >= 2:
            k = max(1, int(round(HOLDOUT_SHARE * len(pool))))
            ids = sorted(r["id"] for r in pool)
            held = set(rng.choice(ids, size=k, replace=False).tolist())
            for r in pool:
                if r["id"] in held:
                    r["split"], r["holdout"] = "eval", ("segment" if "segment" in r else "recording")
    # A category whose recordings come one each from different packages (Tux Paint's chimpanzee, Asterisk's
    # monkeys) has no pool of two; hold out one of its groups all the same.
    by_category: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        if r["category"] != "noise":
            by_category.setdefault(r["category"], []).append(r)
    for category, pool in sorted(by_category.items()):
        groups = sorted({r["group"] for r in pool})
        if len(groups) >= 2 and all(r["split"] == "train" for r in pool):
            h = int(hashlib.sha256(f"{seed}:{category}".encode()).hexdigest()[:8], 16)
            held = groups[int(np.random.default_rng(h).integers(len(groups)))]
            for r in pool:
                if r["group"] == held:
                    r["split"], r["holdout"] = "eval", "recording"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=f"Needs (as root): apt-get update && {APT_LINE}")
    ap.add_argument("--out", default="data/sources", help="output folder (default: data/sources)")
    ap.add_argument("--seed", type=int, default=0, help="seed for phrases, melodies and splits (default: 0)")
    args = ap.parse_args(argv)

    for tool in ("sox", "soxi", "fluidsynth", "espeak-ng", "flite", "dpkg-query"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found; install the sources with:\n  {APT_LINE}")
    packages = check_licenses()
    versions = {p: v["version"] for p, v in packages.items()}

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        collected: list[Rec] = []
        for name, fn in [("Tux Paint", lambda: collect_tuxpaint(versions["tuxpaint-stamps-default"])),
                         ("Asterisk", lambda: collect_asterisk(versions["asterisk-core-sounds-en-wav"])),
                         ("espeak-ng/flite", lambda: collect_speech(tmp, versions, args.seed)),
                         ("fluidsynth", lambda: collect_fluidsynth(tmp, versions, args.seed)),
                         ("sox", lambda: collect_sox(tmp, versions))]:
            got = fn()
            print(f"{name}: {len(got)} recordings", file=sys.stderr)
            collected += got

    arrays: dict[str, np.ndarray] = {}
    recs = []
    for rec, x in drop_duplicates(collected):
        if len(x) < int(0.05 * rec["sr"]):
            print(f"  skipped {rec['id']}: empty after trimming", file=sys.stderr)
            continue
        pcm = to_int16(x)
        rec["num_samples"] = int(len(pcm))
        rec["seconds"] = round(len(pcm) / rec["sr"], 3)
        rec["bursts"] = len(bursts(pcm.astype(np.float32) / 32768.0, rec["sr"]))
        cat = CATEGORIES[rec["category"]]
        # Countable: one short burst, so that "barks twice" means exactly two of them in the scene.
        rec["countable"] = bool(rec.pop("countable", cat.countable) and rec["bursts"] == 1 and rec["seconds"] <= 2.0)
        arrays[rec["id"]] = pcm
        recs.append(rec)
    assign_splits(recs, args.seed)

    np.savez_compressed(out_dir / "audio.npz", **arrays)
    used = sorted({c for r in recs for c in [r["category"]]})
    manifest = {
        "format": "sam-sources/1",
        "sample_rate": SR,
        "audio": "audio.npz",
        "seed": args.seed,
        "apt": APT_LINE,
        "packages": packages,
        "categories": {c: {"kind": CATEGORIES[c].kind, "label": CATEGORIES[c].label,
                           "synonyms": CATEGORIES[c].synonyms, **CATEGORIES[c].phrases()} for c in used},
        "recordings": recs,
    }
    (out_dir / "sources.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    (out_dir / "LICENSES.md").write_text(licenses_markdown(packages, recs))
    summary(out_dir, recs)


def licenses_markdown(packages: dict[str, dict[str, str]], recs: list[dict[str, Any]]) -> str:
    """The licence of every package, and where each kind of recording came from (for examples/SOURCES.md)."""
    count: dict[str, list[int]] = {}
    for r in recs:
        c = count.setdefault(r["origin"]["package"], [0, 0])
        c[r["split"] == "eval"] += 1
    lines = ["## Packages", "",
             "| package | version | licence | holder | recordings (train / eval) | note |", "|---|---|---|---|---|---|"]
    for pkg, p in packages.items():
        tr, ev = count.get(pkg, [0, 0])
        lines.append(f"| {pkg} | {p['version']} | {p['license']} | {p['holder']} | {tr} / {ev} | {p['note']} |")
    lines += ["", "## Tux Paint sound effects used (tuxpaint-stamps-default, GPL-2+)", "",
              "Paths under /usr/share/tuxpaint/stamps/; the description is the stamp's English .txt file.", "",
              "| file | description | category | caption phrase | split |", "|---|---|---|---|---|"]
    for r in recs:
        if r["origin"]["package"] == "tuxpaint-stamps-default":
            rel = Path(r["origin"]["file"]).relative_to(TUX_ROOT)
            seg = f" (call {r['segment']})" if "segment" in r else ""
            lines.append(f"| {rel}{seg} | {r['origin']['description']} | {r['category']} | "
                         f"{r['subject']} {r['verb']} | {r['split']} |")
    by_origin: dict[str, list[str]] = {}
    for r in recs:
        if r["origin"]["package"] != "tuxpaint-stamps-default":
            by_origin.setdefault(r["origin"]["package"], []).append(r["category"])
    lines += ["", "## Other recordings", ""]
    for pkg, cats in by_origin.items():
        tally = ", ".join(f"{c} {cats.count(c)}" for c in sorted(set(cats)))
        lines.append(f"- {pkg}: {tally}")
    lines += ["", f"Asterisk prompts longer than {MAX_PROMPT_SECONDS:g} s after trimming, and the silence/ files, are "
              "not used. Speech from espeak-ng uses the voices " + ", ".join(v for v, _, _ in ESPEAK_VOICES)
              + "; from flite the voices " + ", ".join(v for v, _ in FLITE_VOICES) + "."]
    return "\n".join(lines) + "\n"


def summary(out_dir: Path, recs: list[dict[str, Any]]) -> None:
    size = (out_dir / "audio.npz").stat().st_size + (out_dir / "sources.json").stat().st_size
    print(f"wrote {out_dir}: {len(recs)} recordings, {size / 2**20:.1f} MiB", file=sys.stderr)
    rows: dict[str, list[int]] = {}
    for r in recs:
        row = rows.setdefault(r["category"], [0, 0, 0])
        row[0 if r["split"] == "train" else 1] += 1
        row[2] += int(r["countable"])
    print(f"{'category':18s} train  eval  countable", file=sys.stderr)
    for c, (tr, ev, cnt) in sorted(rows.items()):
        print(f"{c:18s} {tr:5d} {ev:5d} {cnt:6d}", file=sys.stderr)


if __name__ == "__main__":
    main()
