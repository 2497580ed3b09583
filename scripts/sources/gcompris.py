"""GCompris (`gcompris-qt-data`): real recordings of instruments, farm animals and everyday sounds.

The package keeps its files inside Qt binary resource archives (/usr/share/gcompris-qt/rcc/*.rcc); `rcc.py`
reads them. The licence of each file is looked up in the package's DEP-5 copyright file (`Files: *` is
GPL-3+; several sounds have their own stanza: CC0-1.0, CC-BY-3.0, Free Art, CC Sampling Plus 1.0), and
recorded per recording.

Left out: the world music and the intro jingle (music); the user-interface sounds (core/resource/sounds,
clicks, bleeps, morse beeps, slides, card flips, "win"/"bonus" jingles); Tux's voice (ballcatch); the
memory-sound files whose source is unclear (LRWeird_1-6, LRFireballs, LRHits, LRRing, LRObject_falling_1-2,
LRLaPause_short (a piece of music)); canal_lock/lock.wav (an unnamed mechanism), core water.wav, bubble,
drip, brush, eat, chronos 1-3, mining/pickaxe.wav (an 8-kHz clip that the copyright file covers only through a
wildcard of a stanza for Timothée Giet's images, so its origin is unclear), the traffic "car" (0.5 s, unclear
what part of a car), target/arrow.wav (a mix of two recordings); watercycle/harbor1-2.wav, which are the same
recordings as lincity-ng's Harbor1 and Harbor3 (that collector takes them).
"""

from __future__ import annotations

import re
from pathlib import Path

from sources.common import C, Category, Rec
from sources.fxtable import Dep5, Row, records
from sources.rcc import RccArchive

RCC_ROOT = Path("/usr/share/gcompris-qt/rcc")
PKG = "gcompris-qt-data"

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "GPL-3+ (per file: see origin.license)", "check": "License: GPL-3+",
          "holder": "Bruno Coudoin, Timothée Giet and the GCompris contributors; instrument recordings by Sylvain "
                    "Dechy, Jérome Blanchard, Julie Jules, Chloé Tuvuku; memory-sound recordings by Lionel "
                    "Allorge and Yves Combe; freesound.org authors named per file in the copyright file",
          "note": "Sounds extracted from the package's Qt .rcc archives. Licence per file from the DEP-5 copyright "
                  "file: instruments 'GPL' (drum_kit.ogg CC-sampling-plus-1.0), farm animals GPL-3+ (Files: *; "
                  "the activity's readme says GPLv3, Bruno Coudoin and others), memory-sound *_LA.ogg and "
                  "*_LA_cut.ogg Free Art License (the other LR* files fall under Files: *), canal_lock/money/"
                  "redraw sounds CC0-1.0 or CC-BY-3.0 (freesound.org authors in the copyright file)."},
}

CATEGORIES: list[Category] = [
    C("banjo", "music", "banjo", "banjo", "plays", "play", "playing", "banjo"),
    C("bongo", "music", "bongo drums", "bongos", "play", "play", "playing", "bongo, bongos, bongo drums, drum, drums",
      article="", plural=True),
    C("castanets", "music", "castanets", "castanets", "click", "click", "clicking", "castanets, castanet",
      article="", plural=True),
    C("french_horn", "music", "French horn", "French horn", "plays", "play", "playing", "french horn, horn, horns"),
    C("harmonica", "music", "harmonica", "harmonica", "plays", "play", "playing", "harmonica, mouth organ"),
    C("maracas", "music", "maracas", "maracas", "rattle", "rattle", "rattling", "maracas, maraca, shaker, rattle",
      article="", plural=True),
    C("tambourine", "music", "tambourine", "tambourine", "jingles", "jingle", "jingling", "tambourine"),
    C("timpani", "music", "timpani", "kettledrum", "booms", "boom", "booming",
      "timpani, kettledrum, kettledrums, drum, drums"),
    C("triangle", "music", "triangle", "triangle", "rings", "ring", "ringing", "triangle"),
    C("trombone", "music", "trombone", "trombone", "plays", "play", "playing", "trombone"),
    C("tuba", "music", "tuba", "tuba", "plays", "play", "playing", "tuba"),
    C("gong", "music", "gong", "gong", "rings", "ring", "ringing", "gong, gongs", countable=True),
    C("door", "object", "door", "door", "opens", "open", "opening", "door, doors, gate", countable=True),
    C("machine", "object", "machine noise", "machine", "clanks", "clank", "clanking",
      "machine, machines, machinery, factory, industrial", countable=True),
    C("heartbeat", "human", "heartbeat", "heart", "beats", "beat", "beating", "heart, heartbeat, heartbeats, pulse"),
    C("rain", "nature", "rain", "rain", "falls", "fall", "falling", "rain, raining, rainfall, shower, downpour",
      article=""),
    C("car_engine", "vehicle", "car engine", "car engine", "runs", "run", "running",
      "car, cars, engine, motor, vehicle, ignition"),
    C("train", "vehicle", "train", "train", "rumbles", "rumble", "rumbling",
      "train, trains, locomotive, railway, railroad, tram"),
    C("water_running", "nature", "running water", "water", "runs", "run", "running",
      "water, running water, flowing water, gushing, pouring, stream", article=""),
    C("eraser", "object", "eraser rubbing", "eraser", "rubs", "rub", "rubbing", "eraser, rubber, erasing, rubbing"),
    C("coins", "object", "coins jingling", "coins", "jingle", "jingle", "jingling", "coin, coins, money, change",
      article="", plural=True),
    C("footsteps_snow", "human", "footsteps on snow", "footsteps", "crunch", "crunch", "crunching",
      "footsteps, footstep, steps, walking, snow, ice", article="", plural=True),
    C("metal_clang", "object", "metal clang", "piece of metal", "clangs", "clang", "clanging",
      "metal, clang, clangs, clanging", countable=True),
    C("knock", "object", "knocking", "person", "knocks", "knock", "knocking", "knock, knocks, knocking",
      countable=True),
]

I = "gcompris/src/activities/instruments/resource/"
A = "gcompris/src/activities/explore_farm_animals/resource/animals/"
M = "gcompris/src/activities/memory-sound/resource/"
ACT = "gcompris/src/activities/"

TABLE: list[Row] = [
    # 26 instruments, 4-12 s each: cut into pieces of at most 6 s, one group per file
    *[Row(I + f"{name}.ogg", cat, over, cut="pieces") for name, cat, over in [
        ("accordion", "accordion", {}), ("banjo", "banjo", {}), ("bongo", "bongo", {}),
        ("castanets", "castanets", {}), ("cello", "cello", {}), ("clarinet", "clarinet", {}),
        ("cymbal", "cymbal", {}), ("drum_kit", "drums", {}),
        ("electric_guitar", "guitar", {"noun": "electric guitar"}),
        ("flute_traversiere", "flute", {}), ("guitar", "guitar", {}), ("harmonica", "harmonica", {}),
        ("harp", "harp", {}), ("horn", "french_horn", {}), ("maracas", "maracas", {}), ("organ", "organ", {}),
        ("piano", "piano", {}), ("saxophone", "saxophone", {}),
        ("snare_drum", "drums", {"noun": "snare drum", "article": "a", "verb": "rattles", "base": "rattle",
                                 "gerund": "rattling", "plural": False}),
        ("tambourine", "tambourine", {}), ("timpani", "timpani", {}), ("triangle", "triangle", {}),
        ("trombone", "trombone", {}), ("trumpet", "trumpet", {}), ("tuba", "tuba", {}), ("violin", "violin", {}),
    ]],
    # 9 farm animals
    Row(A + "cat.ogg", "cat"),
    Row(A + "chickens.ogg", "hen", {"noun": "chickens", "article": "", "verb": "cluck", "plural": True},
        cut="pieces"),
    Row(A + "cow.ogg", "cow"),
    Row(A + "dog.ogg", "dog"),
    Row(A + "duck.ogg", "duck"),
    Row(A + "horse.ogg", "horse"),
    Row(A + "owl.ogg", "owl"),
    Row(A + "pig.ogg", "pig"),
    Row(A + "sheep.ogg", "sheep"),
    # memory-sound (Lionel Allorge's recordings)
    Row(M + "LRApplauses_1_LA_cut.ogg", "applause"),
    Row(M + "LRBark_1_LA_cut.ogg", "dog"),
    Row(M + "LRBark_3_LA_cut.ogg", "dog"),
    Row(M + "LRBuddhist_gong_05_LA.ogg", "gong", {"noun": "Buddhist gong"}),
    Row(M + "LRDoor_Open_2_LA.ogg", "door"),
    *[Row(M + f"LRFactory_noise_0{k}_LA.ogg", "machine", {"noun": "factory machine"}) for k in range(1, 7)],
    Row(M + "LRHeart_beat_01_LA.ogg", "heartbeat"),
    Row(M + "LRRain_in_garden_01_LA_cut.ogg", "rain", role="ambience", labels=["rain"],
        note="rain in a garden"),
    Row(M + "LRFrogsInPondDuringStormLACut.ogg", "frog", {"noun": "frogs", "article": "", "verb": "croak",
                                                          "plural": True},
        role="ambience", labels=["frog", "rain"], note="frogs in a pond during a storm"),
    Row(M + "LRStartAndStopCarEngine1LACut.ogg", "car_engine",
        {"verb": "starts and stops", "base": "start and stop", "gerund": "starting and stopping"}),
    Row(M + "LRTrain_slowing_down_01_LA_cut.ogg", "train",
        {"verb": "slows down", "base": "slow down", "gerund": "slowing down"}),
    Row(M + "guitar_melody.ogg", "guitar"),
    *[Row(M + f"guitar_son{k}.ogg", "guitar", {"verb": "plays a note", "base": "play a note",
                                               "gerund": "playing a note"}) for k in range(1, 5)],
    # other activities
    Row(ACT + "canal_lock/resource/door_open.wav", "door"),
    Row(ACT + "canal_lock/resource/door_close.wav", "door", {"verb": "closes", "base": "close", "gerund": "closing"}),
    Row(ACT + "canal_lock/resource/water_fill.wav", "water_running", {"verb": "pours in", "base": "pour in",
                                                                      "gerund": "pouring in"},
        note="a canal lock filling with water"),
    Row(ACT + "erase/resource/eraser1.wav", "eraser"),
    Row(ACT + "erase/resource/eraser2.wav", "eraser"),
    Row(ACT + "redraw/resource/eraser.wav", "eraser"),
    Row(ACT + "money/resource/money1.wav", "coins"),
    Row(ACT + "money/resource/money2.wav", "coins"),
    Row(ACT + "guessnumber/resource/helicopter.wav", "helicopter"),
    Row(ACT + "railroad/resource/sounds/train.wav", "train"),
    Row(ACT + "reversecount/resource/icy_walk.wav", "footsteps_snow", note="walking on ice"),
    Row(ACT + "scalesboard/resource/metal_hit.wav", "metal_clang"),
    Row(ACT + "melody/resource/knock.wav", "knock"),
    *[Row(ACT + f"melody/resource/xylofon_son{k}.wav", "xylophone",
          {"verb": "plays a note", "base": "play a note", "gerund": "playing a note"}) for k in range(1, 5)],
]


def extract_table(dest: Path) -> dict[str, Path]:
    """Write every file TABLE names from the package's .rcc archives under `dest` (same relative paths);
    return {path in the archive: the archive it came from}."""
    wanted = {r.file for r in TABLE}
    found: dict[str, Path] = {}
    for rcc in sorted(RCC_ROOT.glob("*.rcc")):
        arc = RccArchive.open(rcc)
        for e in arc.entries():
            if e.path in wanted and e.path not in found:
                target = dest / e.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(arc.read(e))
                found[e.path] = rcc
    missing = wanted - set(found)
    if missing:
        raise FileNotFoundError(f"{PKG}: not in any archive under {RCC_ROOT}: {sorted(missing)[:5]}")
    return found


def copyright_path(rcc_path: str) -> str:
    """'gcompris/src/activities/x/...' (inside the archive) -> 'src/activities/x/...' (the copyright file's)."""
    return rcc_path.split("/", 1)[1] if rcc_path.startswith("gcompris/") else rcc_path


def short_name(rcc_path: str) -> str:
    """'gcompris/src/activities/memory-sound/resource/LRBark_1_LA_cut.ogg' -> 'memory_sound.lrbark_1_la_cut'."""
    parts = rcc_path.split("/")
    where = parts[3] if len(parts) > 4 and parts[2] == "activities" else "core"
    clean = [re.sub(r"[^a-z0-9]+", "_", p.lower()).strip("_") for p in (where, Path(parts[-1]).stem)]
    return ".".join(clean)


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PKG]
    root = Path(ctx.tmp) / "gcompris"
    archives = extract_table(root)
    dep5 = Dep5.read(PKG)
    out: list[Rec] = []
    for row in TABLE:
        lic = dep5.license_for(copyright_path(row.file))
        if lic is None:
            raise ValueError(f"{PKG}: no licence stanza covers {row.file}")
        origin = {"package": PKG, "version": version, "license": lic}
        out += records(row, root, "gcompris", origin, ctx.categories, origin_file=f"{archives[row.file]}:{row.file}",
                       name=short_name(row.file))
    return out
