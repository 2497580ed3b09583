"""LinCity-NG (`lincity-ng-data`): four-second city ambiences, mostly 11 kHz mono.

Each file is the ambience of one kind of city tile, as the game plays it when the view is near that tile
(sounds.xml groups them by tile). Role "ambience"; the category is the kind of place or source, and labels
list only what the name (and a look at the spectrogram) makes clear. 11-kHz and 22-kHz originals are stored
at 16 kHz (storage_rate), 8-kHz ones at 8 kHz.

Left out: the music; the user-interface sounds (Click, WindowOpen/Close, Build1-2, Raze1-3, SubstationOn/Off);
kinds whose sound the name does not tell (Commune, DirtTrack, FireWasteland, Health, Monument, Pottery,
Recycle, Shanty, University, PowerLine, PowerSolar, Substation3-4, Water1-5: the spectrograms of the Water
files show harmonic, voice- or horn-like sounds, not water) and WindMillHTech1 (the same recording as
PowerSolar1) and Tip2 (the same recording as CoalMine2).
"""

from __future__ import annotations

from pathlib import Path

from sources.common import C, Category, Rec
from sources.fxtable import Row, records

ROOT = Path("/usr/share/games/lincity-ng/sounds")
PKG = "lincity-ng-data"

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "GPL-2+", "check": "License: GPL-2+",
          "holder": "the LinCity-NG developers (I J Peters, Greg Sharp, Corey Keasling, Ingo Ruhnke, David "
                    "Kamphausen, Jimmy Salmon, Wolfgang Becker, Matthias Braun, Xabier Cancela, ...)",
          "note": "Debian copyright 'Files: * ... License: GPL-2+', with the comment: the models, SVG images and "
                  "sound effects are dual-licensed under the GPL and Creative Commons Attribution-ShareAlike 2.0; "
                  "the Debian package uses the GPL. Files read: data/sounds/*.wav."},
}

CATEGORIES: list[Category] = [
    C("traffic", "ambience", "road traffic", "traffic", "passes by", "pass by", "passing by",
      "traffic, cars, car, road, street, vehicles, highway", article=""),
    C("crowd", "ambience", "crowd cheering", "crowd", "cheers", "cheer", "cheering",
      "crowd, audience, spectators, fans, cheering, cheers, stadium"),
    C("market", "ambience", "busy market", "market", "bustles", "bustle", "bustling",
      "market, marketplace, bazaar, crowd, chatter"),
    C("harbour", "ambience", "harbour", "harbour", "bustles", "bustle", "bustling",
      "harbour, harbor, port, docks, dock, ship, ships, boat, boats"),
    C("school", "ambience", "schoolyard", "schoolyard", "bustles", "bustle", "bustling",
      "school, schoolyard, playground, children, kids, pupils"),
    C("residential", "ambience", "residential street", "neighbourhood", "bustles", "bustle", "bustling",
      "neighbourhood, neighborhood, residential, street, town, city"),
    C("blacksmith", "ambience", "blacksmith", "blacksmith", "hammers", "hammer", "hammering",
      "blacksmith, smith, anvil, forge, smithy, hammering"),
    C("mill", "ambience", "mill", "mill", "grinds", "grind", "grinding", "mill, watermill, millstone, grinding"),
    C("windmill", "ambience", "windmill", "windmill", "turns", "turn", "turning",
      "windmill, wind turbine, turbine, windmills"),
    C("mine", "ambience", "mine", "mine", "rumbles", "rumble", "rumbling", "mine, mining, quarry, excavation"),
    C("industry", "ambience", "factory", "factory", "rumbles", "rumble", "rumbling",
      "factory, factories, industry, industrial, machinery, machines, plant"),
    C("fire_station", "ambience", "fire station", "fire station", "bustles", "bustle", "bustling",
      "fire station, firehouse, fire brigade, firefighters"),
    C("farm", "ambience", "farmyard", "farmyard", "bustles", "bustle", "bustling",
      "farm, farmyard, barnyard, livestock"),
    C("lake", "ambience", "lake shore", "water", "laps", "lap", "lapping",
      "lake, water, waves, lapping, pond, shore", article=""),
    C("landfill", "ambience", "landfill", "landfill", "rumbles", "rumble", "rumbling",
      "landfill, dump, rubbish dump, garbage, trash, bulldozer"),
    C("power_plant", "ambience", "power plant hum", "power plant", "hums", "hum", "humming",
      "power plant, power station, generator, turbine, hum, humming"),
    C("rocket", "vehicle", "rocket launch", "rocket", "roars", "roar", "roaring",
      "rocket, rockets, launch, liftoff, blast off, rocket engine"),
    C("fire", "nature", "fire crackling", "fire", "crackles", "crackle", "crackling",
      "fire, flames, blaze, burning, crackling, campfire, bonfire, fireplace"),
]


def _rows() -> list[Row]:
    amb = [  # (file stems, category, labels, caption overrides)
        (["TraficHigh1", "TraficHigh2", "TraficHigh3"], "traffic", ["traffic"], {"noun": "heavy traffic"}),
        (["TraficLow1", "TraficLow2", "TraficLow3"], "traffic", ["traffic"], {"noun": "light traffic"}),
        (["RailTrain1", "RailTrain2", "RailTrain3"], "train", ["train"], {}),
        (["Harbor1", "Harbor2", "Harbor3"], "harbour", ["harbour"], {}),
        (["MarketFull1", "MarketMed1"], "market", ["market"], {"noun": "busy market"}),
        (["MarketLow1", "MarketEmpty1"], "market", ["market"], {"noun": "quiet market"}),
        (["School1", "School2", "School3"], "school", ["school"], {}),
        (["ResidentialHigh1", "ResidentialHigh2", "ResidentialHigh3", "ResidentialMed1", "ResidentialMed2",
          "ResidentialMed3", "ResidentialLow1", "ResidentialLow2", "ResidentialLow3", "ResidentialLowLow1"],
         "residential", ["residential"], {}),
        (["SportsCroud1", "SportsCroud2", "SportsCroud3"], "crowd", ["crowd"], {"noun": "stadium crowd"}),
        (["Blacksmith1", "Blacksmith2", "Blacksmith3"], "blacksmith", ["blacksmith"], {}),
        (["Mill1", "Mill2", "Mill3"], "mill", ["mill"], {}),
        (["WindMill1", "WindMill2", "WindMill3", "WindMillHTech2"], "windmill", ["windmill"], {}),
        (["CoalMine1", "CoalMine2", "CoalMine3"], "mine", ["mine"], {"noun": "coal mine"}),
        (["OreMine1", "OreMine2", "OreMine3"], "mine", ["mine"], {"noun": "ore mine"}),
        (["IndustryHigh1", "IndustryHigh2", "IndustryHigh3"], "industry", ["industry"], {"noun": "heavy industry"}),
        (["IndustryLight1", "IndustryLight2", "IndustryLight3"], "industry", ["industry"], {}),
        (["FireStation1", "FireStation2", "FireStation3"], "fire_station", ["fire_station"], {}),
        (["Farm1", "Farm2", "Farm3", "OrganicFarm1", "OrganicFarm2", "OrganicFarm3"], "farm", ["farm"], {}),
        (["ParklandLake1", "ParklandLake2"], "lake", ["lake"], {}),
        # park tiles: birdsong (the spectrograms show clear bird calls)
        (["Green1", "Green2", "Green3", "Green4", "ParklandPlane1", "ParklandPlane2", "ParklandPlane3"],
         "songbird", ["songbird"], {"noun": "birds", "article": "", "verb": "sing", "plural": True}),
        (["Tip1", "Tip3"], "landfill", ["landfill"], {}),  # Tip2.wav is the same recording as CoalMine2.wav
        (["PowerCoalFull", "PowerCoalMed", "PowerCoalLow", "PowerCoalEmpty"], "power_plant", ["power_plant"],
         {"noun": "coal power plant"}),
        (["Rocket1", "Rocket2", "Rocket3", "Rocket4"], "rocket", ["rocket"], {}),
        (["Fire1", "Fire2", "Fire3"], "fire", ["fire"], {"noun": "burning building", "article": "a"}),
    ]
    rows = [Row(f"{stem}.wav", cat, dict(over), role="ambience", labels=labels, note=f"LinCity-NG tile sound {stem}")
            for stems, cat, labels, over in amb for stem in stems]
    rows += [
        Row("RocketTakeoff1.wav", "rocket", {"verb": "lifts off", "base": "lift off", "gerund": "lifting off"},
            note="rocket take-off"),
        Row("RocketExplosion1.wav", "explosion", {"noun": "rocket"}, note="a rocket exploding"),
    ]
    return rows


TABLE: list[Row] = _rows()


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PKG]
    origin = {"package": PKG, "version": version, "license": PACKAGES[PKG]["license"]}
    out: list[Rec] = []
    for row in TABLE:
        out += records(row, ROOT, "lincity", origin, ctx.categories, name=Path(row.file).stem.lower())
    return out
