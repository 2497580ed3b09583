"""qABCs (`qabcs-data`): the `noises/` folder, one real recording per object of the alphabet game.

Each file in /usr/share/qabcs/abcs/all/noises is named in English after the item it belongs to; the
per-language alphabets (abcs/<lang>/abc*.properties, lines `section:letter=name==sound_pic=noise`) say which
item uses it (e.g. `animals:a=angelfish==angelfish=fish`: the angelfish's noise is fish.ogg, bubbling water).
Every file was checked by hand against its names in the alphabets (all languages, for the obscure ones: aeoline
= harmonium, oedephon = glass harmonica, yobel = shofar, changu = janggu, whirligig = a humming top) and against
its spectrogram; the table below gives each file its category and caption phrase. Each file is its own group.

Left out (the lists at the end of the table are exact; 167 of the 241 files are taken):
- its spoken letters and words (abcs/<lang>/sounds): synthetic speech;
- cartoon, film, game and character clips, or clips of a named character's voice or theme, of unclear origin:
  CARTOON (Cheburashka, X-Men, Xbox, Umka, Joker, Baba Yaga, Dunno, ...);
- music, anthems and jingles: MUSIC (the Austrian and Estonian flags are anthems; earth, star, circus, ...);
- sounds a listener could not name from the signal, or whose link to the item is unclear (most are silent
  animals or objects that make no sound of their own): UNCLEAR.

The package reuses some clips of other packages (the fingerprint stage removes duplicates): its duck and
grasshopper follow Tux Paint's closely in loudness envelope (and its elephant, by the survey); its horn, cat
and horse resemble GCompris's.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from sources.common import C, Category, Rec
from sources.fxtable import Row, records

PKG = "qabcs-data"
ROOT = Path("/usr/share/qabcs/abcs")
NOISES = ROOT / "all" / "noises"

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "GPL-3+", "check": "License: GPL-3+",
          "holder": "DanSoft (Alexander Danilov) <dik@inbox.ru>, 2019-2020",
          "note": "Debian copyright: 'Files: * ... License: GPL-3+' (version 3 or any later); the only other stanzas "
                  "are a few pictures (CC0-1.0, public domain) and debian/*. Files read: "
                  "/usr/share/qabcs/abcs/all/noises/*.ogg (and the alphabets' .properties files for the items' "
                  "names). The spoken letters and words are not used (synthetic speech)."},
}

CATEGORIES: list[Category] = [
    # animals
    C("snake", "animal", "snake hissing", "snake", "hisses", "hiss", "hissing",
      "snake, snakes, serpent, python, viper, hiss, hisses, hissing"),
    C("albatross", "animal", "albatross calling", "albatross", "calls", "call", "calling",
      "albatross, albatrosses, seabird"),
    C("booby", "animal", "booby calling", "booby", "calls", "call", "calling", "booby, boobies, gannet, seabird"),
    C("chinchilla", "animal", "chinchilla squeaking", "chinchilla", "squeaks", "squeak", "squeaking",
      "chinchilla, chinchillas, rodent"),
    C("emu", "animal", "emu drumming", "emu", "drums", "drum", "drumming", "emu, emus"),
    C("ferret", "animal", "ferret dooking", "ferret", "clucks", "cluck", "clucking", "ferret, ferrets"),
    C("bubbles", "nature", "water bubbling", "water", "bubbles", "bubble", "bubbling",
      "bubbles, bubble, bubbling, gurgle, gurgles, gurgling, aquarium, fish tank", article=""),
    C("flamingo", "animal", "flamingo honking", "flamingo", "honks", "honk", "honking",
      "flamingo, flamingos, flamingoes"),
    C("panda", "animal", "giant panda bleating", "giant panda", "bleats", "bleat", "bleating",
      "panda, pandas, giant panda"),
    C("guinea_fowl", "animal", "guinea fowl calling", "guinea fowl", "cackles", "cackle", "cackling",
      "guinea fowl, guineafowl, guinea hen"),
    C("hamster", "animal", "hamster squeaking", "hamster", "squeaks", "squeak", "squeaking",
      "hamster, hamsters, rodent", countable=True),
    C("hedgehog", "animal", "hedgehog snuffling", "hedgehog", "snuffles", "snuffle", "snuffling",
      "hedgehog, hedgehogs"),
    C("hyena", "animal", "hyena whooping", "hyena", "whoops", "whoop", "whooping", "hyena, hyenas"),
    C("koala", "animal", "koala bellowing", "koala", "bellows", "bellow", "bellowing", "koala, koalas"),
    C("lynx", "animal", "lynx growling", "lynx", "growls", "growl", "growling", "lynx, bobcat, wildcat, wild cat"),
    C("moose", "animal", "moose bellowing", "moose", "bellows", "bellow", "bellowing", "moose, elk"),
    C("otter", "animal", "otter squeaking", "otter", "squeaks", "squeak", "squeaking", "otter, otters"),
    C("pheasant", "animal", "pheasant calling", "pheasant", "calls", "call", "calling", "pheasant, pheasants"),
    C("porcupine", "animal", "porcupine rattling its quills", "porcupine", "rattles its quills",
      "rattle its quills", "rattling its quills", "porcupine, porcupines, quills"),
    C("quail", "animal", "quail calling", "quail", "calls", "call", "calling", "quail, quails"),
    C("raccoon", "animal", "raccoon chittering", "raccoon", "chitters", "chitter", "chittering",
      "raccoon, raccoons"),
    C("rhinoceros", "animal", "rhinoceros snorting", "rhinoceros", "snorts", "snort", "snorting",
      "rhinoceros, rhino, rhinos"),
    C("squirrel", "animal", "squirrel chattering", "squirrel", "chatters", "chatter", "chattering",
      "squirrel, squirrels"),
    C("stork", "animal", "stork clattering", "stork", "clatters its bill", "clatter its bill",
      "clattering its bill", "stork, storks"),
    C("turtle", "animal", "turtle hissing", "turtle", "hisses", "hiss", "hissing", "turtle, turtles, tortoise"),
    C("vulture", "animal", "vulture hissing", "vulture", "hisses", "hiss", "hissing", "vulture, vultures"),
    C("wolf", "animal", "wolf growling", "wolf", "growls", "growl", "growling",
      "wolf, wolves, growl, growls, growling"),  # as wesnoth.py defines it
    C("capercaillie", "animal", "wood grouse displaying", "wood grouse", "calls", "call", "calling",
      "capercaillie, wood grouse, grouse"),
    C("yak", "animal", "yak grunting", "yak", "grunts", "grunt", "grunting", "yak, yaks"),
    C("zebra", "animal", "zebra braying", "zebra", "brays", "bray", "braying", "zebra, zebras"),
    # instruments
    C("harmonium", "music", "harmonium", "harmonium", "plays", "play", "playing",
      "harmonium, reed organ, aeoline, organ"),
    C("bagpipes", "music", "bagpipes", "bagpipes", "play", "play", "playing", "bagpipes, bagpipe, pipes, piper",
      article="", plural=True),
    C("bass_drum", "music", "bass drum", "bass drum", "booms", "boom", "booming",
      "bass drum, kick drum, kick, drum", countable=True),
    C("hand_drum", "music", "hand drum", "hand drum", "thumps", "thump", "thumping",
      "drum, drums, drumming, hand drum, janggu, slit drum, gourd drum"),
    C("cuica", "music", "cuica", "cuica", "squeaks", "squeak", "squeaking", "cuica, cuíca, friction drum"),
    C("shawm", "music", "shawm", "shawm", "plays", "play", "playing", "shawm, zurna, dulzaina, surna"),
    C("erhu", "music", "erhu", "erhu", "plays", "play", "playing", "erhu, chinese fiddle, fiddle"),
    C("viola_da_gamba", "music", "viola da gamba", "viola da gamba", "plays", "play", "playing",
      "viola da gamba, gamba, viol"),
    C("barrel_organ", "music", "barrel organ", "barrel organ", "plays", "play", "playing",
      "barrel organ, hand organ, street organ, organ grinder, organ"),
    C("handpan", "music", "hang drum", "hang drum", "plays", "play", "playing", "hang, hang drum, handpan"),
    C("harmonica", "music", "harmonica", "harmonica", "plays", "play", "playing",
      "harmonica, mouth organ"),  # as gcompris.py defines it
    C("hammered_dulcimer", "music", "hammered dulcimer", "hammered dulcimer", "plays", "play", "playing",
      "hammered dulcimer, dulcimer, yangqin, yoochin, santur, cimbalom"),
    C("jug", "music", "jug", "jug", "booms", "boom", "booming", "jug, jug band"),
    C("kazoo", "music", "kazoo", "kazoo", "buzzes", "buzz", "buzzing", "kazoo, kazoos"),
    C("lute", "music", "lute", "lute", "plays", "play", "playing", "lute, lutes, topshur, yueqin, moon guitar"),
    C("maracas", "music", "maracas", "maracas", "rattle", "rattle", "rattling", "maracas, maraca, shaker, rattle",
      article="", plural=True),  # as gcompris.py defines it
    C("french_horn", "music", "French horn", "French horn", "plays", "play", "playing",
      "french horn, horn, horns"),  # as gcompris.py defines it
    C("horn_call", "music", "horn call", "horn", "sounds", "sound", "sounding",
      "horn, horns, hunting horn, bugle, horn call, war horn"),  # as wesnoth.py defines it
    C("oboe", "music", "oboe", "oboe", "plays", "play", "playing", "oboe, oboes"),
    C("whistle", "signal", "whistle", "whistle", "blows", "blow", "blowing", "whistle, whistles, whistling",
      countable=True),  # as hedgewars_fx.py defines it
    C("reed_pipe", "music", "reed pipe", "reed pipe", "plays", "play", "playing",
      "reed pipe, pipe, hornpipe, zhaleyka, pishik, sopilka, shepherd's pipe"),
    C("fiddle", "music", "folk fiddle", "fiddle", "plays", "play", "playing",
      "fiddle, rebec, rabel, bowed lyre, jouhikko, lyre"),
    C("ratchet", "music", "ratchet rattle", "ratchet", "rattles", "rattle", "rattling",
      "ratchet, rattle, noisemaker, football rattle"),
    C("recorder", "music", "recorder", "recorder", "plays", "play", "playing", "recorder, recorders"),
    C("spoons", "music", "spoons", "spoons", "clack", "clack", "clacking", "spoons, spoon", article="",
      plural=True),
    C("timpani", "music", "timpani", "kettledrum", "booms", "boom", "booming",
      "timpani, kettledrum, kettledrums, drum, drums"),  # as gcompris.py defines it
    C("ukulele", "music", "ukulele", "ukulele", "plays", "play", "playing", "ukulele, uke"),
    C("ocarina", "music", "ocarina", "ocarina", "plays", "play", "playing", "ocarina, xun, vessel flute"),
    C("shofar", "music", "shofar", "shofar", "sounds", "sound", "sounding", "shofar, ram's horn, horn"),
    C("zither", "music", "zither", "zither", "plays", "play", "playing", "zither, zithers"),
    C("glass_harmonica", "music", "glass harmonica", "glass harmonica", "plays", "play", "playing",
      "glass harmonica, glass armonica, glass harp, singing glass, wine glass"),
    # vehicles, objects
    C("airplane", "vehicle", "airplane", "plane", "flies overhead", "fly overhead", "flying overhead",
      "plane, planes, airplane, aeroplane, aircraft, propeller, jet"),  # as lincity/hedgewars define it
    C("bicycle", "vehicle", "bicycle", "bicycle wheel", "ticks", "tick", "ticking",
      "bicycle, bike, cycle, bicycle wheel, freewheel"),
    C("chalk", "object", "chalk on a blackboard", "chalk", "taps on a blackboard", "tap on a blackboard",
      "tapping on a blackboard", "chalk, chalkboard, blackboard", article=""),
    C("clock", "object", "clock ticking", "clock", "ticks", "tick", "ticking",
      "clock, clocks, watch, ticking, tick, tock, tick-tock"),
    C("dice", "object", "dice rattling", "dice", "rattle", "rattle", "rattling", "dice, die", article="",
      plural=True),
    C("excavator", "vehicle", "excavator", "excavator", "rumbles", "rumble", "rumbling",
      "excavator, digger, bulldozer, construction vehicle"),
    C("fire", "nature", "fire crackling", "fire", "crackles", "crackle", "crackling",
      "fire, flames, blaze, burning, crackling, campfire, bonfire, fireplace"),  # as wesnoth/hedgewars define it
    C("ball", "object", "ball bouncing", "ball", "bounces", "bounce", "bouncing",
      "ball, balls, bounce, bounces, bouncing", countable=True),
    C("gunshot", "object", "gunshot", "gun", "fires", "fire", "firing",
      "gun, guns, gunshot, gunshots, gunfire, shot, shots, rifle, musket, pistol",
      countable=True),  # as wesnoth.py defines it
    C("hockey", "object", "hockey stick hitting a puck", "hockey stick", "hits a puck", "hit a puck",
      "hitting a puck", "hockey, puck, hockey stick", countable=True),
    C("ice_skates", "object", "ice skating", "ice skates", "scrape the ice", "scrape the ice", "scraping the ice",
      "ice skates, skates, skating, skater, ice skating", article="", plural=True),
    C("glass_clink", "object", "glass clinking", "glass", "clinks", "clink", "clinking",
      "glass, glasses, jar, vase, clink, clinks, clinking", countable=True),
    C("jump_rope", "object", "jump rope", "jump rope", "swishes", "swish", "swishing",
      "jump rope, skipping rope, skipping, rope"),
    C("typing", "object", "typing on a keyboard", "keyboard", "clacks", "clack", "clacking",
      "keyboard, typing, types, typist, typewriter, keys"),
    C("beads", "object", "beads rattling", "bead necklace", "rattles", "rattle", "rattling",
      "beads, bead, necklace"),
    C("spray_can", "object", "spray can", "spray can", "hisses", "hiss", "hissing",
      "spray can, spray, spraying, aerosol, spray paint"),
    C("pen_click", "object", "pen clicking", "ballpoint pen", "clicks", "click", "clicking",
      "pen, ballpoint, click, clicks, clicking"),
    C("drone", "vehicle", "drone flying", "drone", "buzzes", "buzz", "buzzing",
      "drone, drones, quadcopter, quadrocopter"),
    C("coins", "object", "coins jingling", "coins", "jingle", "jingle", "jingling", "coin, coins, money, change",
      article="", plural=True),  # as gcompris.py defines it
    C("creak", "object", "creaking", "wood", "creaks", "creak", "creaking",
      "creak, creaks, creaking, squeak, squeaks, squeaking, squeaky"),
    C("metal_clang", "object", "metal clang", "piece of metal", "clangs", "clang", "clanging",
      "metal, clang, clangs, clanging", countable=True),  # as gcompris.py defines it
    C("skateboard", "vehicle", "skateboard rolling", "skateboard", "rolls", "roll", "rolling",
      "skateboard, skateboards, skateboarding, skater"),
    C("spinning_top", "object", "spinning top", "spinning top", "whirs", "whir", "whirring",
      "spinning top, top, humming top, whirring, whirs"),
    C("tractor", "vehicle", "tractor", "tractor", "rumbles", "rumble", "rumbling", "tractor, tractors"),
    C("train", "vehicle", "train", "train", "rumbles", "rumble", "rumbling",
      "train, trains, locomotive, railway, railroad, tram"),  # as gcompris.py defines it
    C("rain", "nature", "rain", "rain", "falls", "fall", "falling", "rain, raining, rainfall, shower, downpour",
      article=""),  # as gcompris.py defines it
    C("balloon", "object", "balloon popping", "balloon", "pops", "pop", "popping",
      "balloon, balloons, pop, pops, popping"),
    C("footsteps", "human", "footsteps", "footsteps", "thud", "thud", "thudding",
      "footsteps, footstep, steps, walking, walks, stomping, stomps", article="", plural=True),
    C("yoyo", "object", "yo-yo whirring", "yo-yo", "whirs", "whir", "whirring", "yo-yo, yoyo"),
    C("zipline", "object", "zip line", "zip line trolley", "whizzes along its cable", "whizz along its cable",
      "whizzing along its cable", "zip line, zipline, zip wire"),
    C("zipper", "object", "zipper", "zipper", "zips", "zip", "zipping", "zipper, zip, zips, zipping, unzipping",
      countable=True),
]

# (file stem, category, caption overrides). Every row was checked by hand: item names and spectrogram.
GROWLS = {"verb": "growls", "base": "growl", "gerund": "growling"}
CALLS = {"verb": "calls", "base": "call", "gerund": "calling"}
CHIRPS = {"verb": "chirps", "base": "chirp", "gerund": "chirping"}
TABLE: list[tuple[str, str, dict]] = [
    # animals
    ("aesculapian_snake", "snake", {}),
    ("albatross", "albatross", {}),
    ("bear", "bear", {}),
    ("bird", "songbird", CHIRPS),
    ("blister_beetle", "insect", {"noun": "beetle"}),
    ("booby", "booby", {}),
    ("calf", "cow", {"noun": "calf"}),
    ("cat", "cat", {}),
    ("chimpanzee", "monkey", {}),
    ("chinchilla", "chinchilla", {}),
    ("cow", "cow", {}),
    ("crow", "crow", {}),
    ("deer", "deer", {"verb": "bellows", "base": "bellow", "gerund": "bellowing"}),
    ("dog", "dog", {}),
    ("dolphin", "dolphin", {}),
    ("duck", "duck", {}),
    ("eagle-owl", "owl", {"noun": "eagle owl"}),
    ("elephant", "elephant", {}),
    ("emu", "emu", {}),
    ("ferret", "ferret", {}),
    ("fish", "bubbles", {}),  # the fish's noise (angelfish, pike, shark ...): water bubbling in a tank
    ("flamingo", "flamingo", {}),
    ("frog", "frog", {}),
    ("giant_panda", "panda", {}),
    ("goose", "goose", {}),
    ("grasshopper", "grasshopper", {}),
    ("guinea_fowl", "guinea_fowl", {}),
    ("hamster", "hamster", {}),
    ("hedgehog", "hedgehog", {}),
    ("horse", "horse", {}),
    ("hyena", "hyena", {}),
    ("iora", "songbird", {"noun": "iora"}),
    ("jaguar", "big_cat", {"noun": "jaguar", **GROWLS}),
    ("koala", "koala", {}),
    ("lion", "big_cat", {}),
    ("lynx", "lynx", {}),
    ("moose", "moose", {}),
    ("mouse", "mouse", {}),
    ("otter", "otter", {}),
    ("owl", "owl", {}),
    ("pheasant", "pheasant", {}),
    ("pig", "pig", {}),
    ("porcupine", "porcupine", {}),
    ("python", "snake", {"noun": "python"}),
    ("quail", "quail", {}),
    ("quetzal", "songbird", {"noun": "quetzal", **CALLS}),
    ("raccoon", "raccoon", {}),
    ("rhinoceros", "rhinoceros", {}),
    ("rooster", "rooster", {}),
    ("sheep", "sheep", {}),
    ("sparrow", "songbird", {"noun": "sparrow", **CHIRPS}),
    ("squirrel", "squirrel", {}),
    ("stork", "stork", {}),
    ("tiger", "big_cat", {"noun": "tiger", **GROWLS}),
    ("turtle", "turtle", {}),
    ("vulture", "vulture", {}),
    ("whale", "whale", {}),
    ("wolf", "wolf", {"verb": "howls", "base": "howl", "gerund": "howling"}),
    ("wood_grouse", "capercaillie", {}),
    ("yak", "yak", {}),
    ("zebra", "zebra", {}),
    # instruments
    ("accordion", "accordion", {}),
    ("aeoline", "harmonium", {}),
    ("bagpipes", "bagpipes", {}),
    ("bass_drum", "bass_drum", {}),
    ("cello", "cello", {}),
    ("changu", "hand_drum", {"noun": "janggu drum"}),
    ("clarinet", "clarinet", {}),
    ("cuica", "cuica", {}),
    ("cymbals", "cymbal", {"noun": "cymbals", "article": "", "verb": "crash", "plural": True}),
    ("drums", "drums", {}),
    ("dulzaina", "shawm", {"noun": "dulzaina"}),
    ("electric_guitar", "guitar", {"noun": "electric guitar"}),
    ("erhu", "erhu", {}),
    ("flute", "flute", {}),
    ("gamba", "viola_da_gamba", {}),
    ("grand_piano", "piano", {"noun": "grand piano"}),
    ("guitar", "guitar", {}),
    ("hand_organ", "barrel_organ", {}),
    ("hang", "handpan", {}),
    ("harmonica", "harmonica", {}),
    ("harp", "harp", {}),
    ("iotshin", "hammered_dulcimer", {}),  # yoochin, the Mongolian hammered dulcimer
    ("ipu", "hand_drum", {"noun": "gourd drum"}),
    ("jug", "jug", {}),
    ("kazoo", "kazoo", {}),
    ("lute", "lute", {}),
    ("maracas", "maracas", {}),
    ("natural_horn", "french_horn", {"noun": "natural horn"}),
    ("ney", "flute", {"noun": "ney flute"}),
    ("oboe", "oboe", {}),
    ("oedephon", "glass_harmonica", {}),  # the alphabets name it glass harmonica / glass armonica
    ("organ", "organ", {}),
    ("piano", "piano", {}),
    ("pipe", "whistle", {"noun": "boatswain's pipe", "verb": "whistles", "base": "whistle",
                         "gerund": "whistling"}),
    ("pishik", "reed_pipe", {"noun": "shepherd's pipe"}),
    ("quena", "flute", {"noun": "quena flute"}),
    ("rabel", "fiddle", {"noun": "rabel fiddle"}),
    ("ratchet", "ratchet", {}),
    ("recorder", "recorder", {}),
    ("rozhok", "horn_call", {"noun": "wooden horn", "verb": "plays", "base": "play", "gerund": "playing"}),
    ("saxophone", "saxophone", {}),
    ("slit_drum", "hand_drum", {"noun": "slit drum"}),
    ("spoons", "spoons", {}),
    ("squeezebox", "accordion", {}),
    ("timpani", "timpani", {}),
    ("topshuur", "lute", {"noun": "topshur lute"}),
    ("trumpet", "trumpet", {}),
    ("ukulele", "ukulele", {"article": "a"}),
    ("violin", "violin", {}),
    ("washint", "flute", {"noun": "bamboo flute"}),
    ("western_concert_flute", "flute", {"noun": "concert flute"}),
    ("whistle", "whistle", {}),
    ("xun", "ocarina", {"noun": "xun ocarina"}),
    ("xylophone", "xylophone", {}),
    ("yangqin", "hammered_dulcimer", {"noun": "yangqin"}),
    ("yobel", "shofar", {}),
    ("youhikko", "fiddle", {"noun": "bowed lyre"}),
    ("yueqin", "lute", {"noun": "yueqin lute"}),
    ("zhaleyka", "reed_pipe", {"noun": "zhaleyka"}),
    ("zither", "zither", {}),
    ("zozulka", "whistle", {"noun": "clay bird whistle", "verb": "warbles", "base": "warble", "gerund": "warbling"}),
    ("zurna", "shawm", {"noun": "zurna"}),
    # vehicles and objects
    ("airplane", "airplane", {}),
    ("anklet", "sleigh_bells", {"noun": "ankle bells"}),
    ("balloons", "balloon", {"verb": "hisses and pops", "base": "hiss and pop", "gerund": "hissing and popping"}),
    ("bicycle", "bicycle", {}),
    ("boot", "footsteps", {"noun": "boots", "verb": "stomp", "base": "stomp", "gerund": "stomping"}),
    ("camera_lens", "camera", {"noun": "camera lens", "verb": "whirs", "base": "whir", "gerund": "whirring"}),
    ("chalkboard", "chalk", {}),
    ("clock", "clock", {}),
    ("dice", "dice", {}),
    ("excavator", "excavator", {}),
    ("fire", "fire", {}),
    ("football", "ball", {"noun": "football", "verb": "is kicked", "base": "get kicked", "gerund": "being kicked"}),
    ("gamekeeper", "gunshot", {}),  # a shot, then (cut off) faint calls: only the first 1.1 s are kept
    ("helicopter", "helicopter", {}),
    ("hockey", "hockey", {}),
    ("horn", "horn_call", {"verb": "toots", "base": "toot", "gerund": "tooting"}),  # a signal horn / bugle
    ("ice_skate", "ice_skates", {}),
    ("jar", "glass_clink", {"noun": "glass jar"}),
    ("jump_rope", "jump_rope", {}),
    ("keyboard", "typing", {}),
    ("necklace", "beads", {}),
    ("newspaper", "paper", {"noun": "newspaper", "article": "a"}),
    ("origami", "paper", {"verb": "crinkles", "base": "crinkle", "gerund": "crinkling"}),
    ("paint", "spray_can", {}),
    ("pen", "pen_click", {}),
    ("quadrocopter", "drone", {}),
    ("quarter", "coins", {"noun": "coin", "article": "a", "plural": False, "verb": "spins and settles",
                          "base": "spin and settle", "gerund": "spinning"}),
    ("rocking_horse", "creak", {"noun": "rocking horse"}),
    ("rubber_ball", "ball", {"noun": "rubber ball"}),
    ("seesaw", "creak", {"noun": "seesaw"}),
    ("shield", "metal_clang", {"noun": "metal shield"}),
    ("skateboard", "skateboard", {}),
    ("top", "spinning_top", {}),
    ("tractor", "tractor", {}),
    ("train", "train", {"noun": "steam train", "verb": "whistles", "base": "whistle", "gerund": "whistling"}),
    ("umbrella", "rain", {"verb": "patters on an umbrella", "base": "patter on an umbrella",
                          "gerund": "pattering on an umbrella"}),
    ("vase", "glass_clink", {"noun": "vase"}),
    ("volleyball", "ball", {"noun": "volleyball", "verb": "thuds", "base": "thud", "gerund": "thudding"}),
    ("wagon", "creak", {"noun": "wagon wheel", "verb": "squeaks", "base": "squeak", "gerund": "squeaking"}),
    ("watch", "clock", {"noun": "watch"}),
    ("whirligig", "spinning_top", {"noun": "humming top", "verb": "hums", "base": "hum", "gerund": "humming"}),
    ("yoyo", "yoyo", {}),
    ("zipline", "zipline", {}),
    ("zipper", "zipper", {}),
]
MAX_S = {"gamekeeper": 1.1}  # keep only the shot

# Left out, with the reason. Cartoon/film/game/brand clips or a character's voice or theme (unclear origin):
CARTOON = ["cheburashka", "dogmatix", "dunno", "emelya", "firebird", "ivasyk", "joker", "kinder_surprise_egg",
           "little_monkey", "ole_lukoje", "prince", "sailorboy", "umka", "ursula", "x-men", "xbox", "yaga", "yeti",
           "robot", "doll", "chef", "schooler", "pupil", "quiz_game", "clown"]
# Music: anthems, tunes, jingles, chords (not one named source):
MUSIC = ["austrian_flag", "estonian_flag", "earth", "star", "circus", "christmas_tree", "ode", "quarter_note",
         "cabin"]
# Unclear: the signal does not show what the item's name says, or a listener could not name it:
UNCLEAR = ["adjutant", "button", "crane", "display", "ear", "easel", "foal", "giraffe", "glove", "grommet", "hat",
           "heron", "igloo", "iguana", "jack", "jerboa", "kite", "ladybug", "lunchbox", "magnet", "magnifying_glass",
           "moth", "newt", "paper_airplane", "pelican", "quilt", "rocket", "security_camera", "snail", "sound",
           "spider", "unicycle", "urchin", "walkie-talkie", "wallaby", "watercolor", "weevil", "x-ray",
           "yinyang", "zoetrope"]


def parse_properties(text: str) -> list[tuple[str, str, str]]:
    """An alphabet's .properties text -> [(noise file stem, section, item name)] for the items with a noise.

    Lines look like `animals:a=angelfish==angelfish=fish`: section:letter=name=[letter sound]=picture sound=noise.
    """
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line.split("=", 1)[0]:
            continue
        fields = line.split("=")
        if len(fields) >= 5 and fields[4].strip():
            section = fields[0].split(":", 1)[0].strip()
            out.append((fields[4].strip(), section, fields[1].strip()))
    return out


def english_names() -> dict[str, list[str]]:
    """{noise stem: ['animals: angelfish', ...]} from the English alphabets."""
    names: dict[str, list[str]] = {}
    for path in sorted((ROOT / "en").glob("abc*.properties")):
        for stem, section, name in parse_properties(path.read_text(errors="replace")):
            entry = f"{section}: {name}"
            if entry not in names.setdefault(stem, []):
                names[stem].append(entry)
    return names


def rows() -> list[Row]:
    out = []
    for stem, category, over in TABLE:
        out.append(Row(f"{stem}.ogg", category, dict(over), max_s=MAX_S.get(stem, 6.0)))
    return out


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PKG]
    present = {p.stem for p in NOISES.glob("*.ogg")}
    listed = {s for s, _, _ in TABLE} | set(CARTOON) | set(MUSIC) | set(UNCLEAR)
    if present - listed:
        print(f"  note: {PKG}: files not in the table (left out): {sorted(present - listed)}")
    names = english_names()
    origin = {"package": PKG, "version": version, "license": PACKAGES[PKG]["license"]}
    out: list[Rec] = []
    for row in rows():
        stem = Path(row.file).stem
        who = names.get(stem)
        note = "qABCs item: " + "; ".join(who) if who else "qABCs item (named in other languages' alphabets)"
        row = dataclasses.replace(row, note=note)
        out += records(row, NOISES, "qabcs", origin, ctx.categories,
                       name=re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_"))
    return out
