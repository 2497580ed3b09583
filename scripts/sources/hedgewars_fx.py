"""Hedgewars (`hedgewars-data`): the sound effects that are real, nameable sounds (not the voice packs).

Only /usr/share/games/hedgewars/Data/Sounds/*.ogg is read; the 15 voice packs in Sounds/voices/ belong to
the Hedgewars speech collector. (For that collector: every pack has Laugh.ogg, Ow1-4.ogg, Ooff1-3.ogg, and
six packs have PoisonCough.ogg and PoisonMoan.ogg; Sounds/hell_ooff.ogg, hell_ow.ogg, hell_ugh.ogg and
hell_growl.ogg are processed "hellish" voice effects outside the packs, left out here.)

Licences from the DEP-5 copyright file: Data/Sounds/* GFDL-1.3 (Andrey Korotaev), Droplet*.ogg CC-BY-SA-3.0
(saugox, freesound.org).

Left out: music and jingles (ride_of_the_valkyries, hogchant3, Hellish, suddendeath, homerun, the 1C-9D
notes, TARDIS), user-interface and game-logic sounds (countdown, beep, denied, CollectCrate, extratime,
skip, switchhog, placed, minetick, lowgravity, invulnerable, throwpowerup/throwrelease, rope*, egg,
BirdyLay, Yoohoo), science-fiction or invented weapons (portal*, sinegun, lasersight, ice_beam, hog_freeze,
landgun, ufo, warp, cake2, airmine_impact, firepunch_hit, frozen_hog_impact), impacts and whooshes whose
source is unclear (bump, *impact, knife_impact, baseballbat, parachute, mortar, molotov, flamethrower,
jetpackboost, steps), the mixtures beewater and planewater, the rubber duck's three effects (which one
squeaks is unclear), and the silent custom1-8.
"""

from __future__ import annotations

from pathlib import Path

from sources.common import C, Category, Rec
from sources.fxtable import Dep5, Row, records

ROOT = Path("/usr/share/games/hedgewars/Data/Sounds")
PKG = "hedgewars-data"

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "GFDL-1.3 (Droplet*.ogg: CC-BY-SA-3.0)", "check": "Files: share/hedgewars/Data/Sounds/*",
          "holder": "Andrey Korotaev and the Hedgewars project (2004-2006); Droplet*.ogg: saugox (freesound.org)",
          "note": "Debian copyright: 'Files: share/hedgewars/Data/Sounds/* ... License: GFDL-1.3' and "
                  "'Files: share/hedgewars/Data/Sounds/Droplet*.ogg ... License: CC-BY-SA-3.0'. Only the effects in "
                  "Data/Sounds/ are read here, not the voice packs in Data/Sounds/voices/."},
}

CATEGORIES: list[Category] = [
    C("explosion", "object", "explosion", "explosion", "booms", "boom", "booming",
      "explosion, explosions, explode, explodes, blast, bomb, boom, detonation", countable=True),
    C("gun_reload", "object", "gun being reloaded", "gun", "is reloaded", "be reloaded", "being reloaded",
      "gun, reload, reloads, reloading, cocking, shotgun, rifle", countable=True),
    C("drill", "object", "power drill", "drill", "whirs", "whir", "whirring",
      "drill, drilling, power drill, jackhammer, pneumatic drill"),
    C("blowtorch", "object", "blowtorch", "blowtorch", "roars", "roar", "roaring",
      "blowtorch, torch, welding, burner, flame"),
    C("whip", "object", "whip crack", "whip", "cracks", "crack", "cracking", "whip, whips, whipcrack, lash",
      countable=True),
    C("kiss", "human", "kiss", "person", "kisses", "kiss", "kissing", "kiss, kisses, kissing, smooch",
      countable=True),
    C("whistle", "signal", "whistle", "whistle", "blows", "blow", "blowing", "whistle, whistles, whistling",
      countable=True),
    C("splash", "nature", "splash", "something", "splashes into water", "splash into water",
      "splashing into water", "splash, splashes, splashing, splashed, plop", article="", countable=True),
    C("water_drip", "nature", "water dripping", "water", "drips", "drip", "dripping",
      "drip, drips, dripping, droplet, droplets, drop, drops, water", article="", countable=True),
    C("steam", "object", "steam hissing", "steam", "hisses", "hiss", "hissing", "steam, hiss, hisses, hissing",
      article=""),
    C("airplane", "vehicle", "airplane", "plane", "flies overhead", "fly overhead", "flying overhead",
      "plane, planes, airplane, aeroplane, aircraft, propeller, jet"),
]

TABLE: list[Row] = [
    Row("explosion.ogg", "explosion"),
    Row("shotgunfire.ogg", "gunshot", {"noun": "shotgun"}),
    Row("gun.ogg", "gunshot", {"noun": "pistol"}),
    Row("minigun.ogg", "gunshot", {"noun": "machine gun", "verb": "fires a burst", "base": "fire a burst",
                                   "gerund": "firing a burst"}),
    Row("shotgunreload.ogg", "gun_reload", {"noun": "shotgun"}),
    Row("sniperreload.ogg", "gun_reload", {"noun": "rifle"}),
    Row("drillgun.ogg", "drill"),
    Row("pickhammer.ogg", "drill", {"noun": "jackhammer", "verb": "hammers", "base": "hammer",
                                    "gerund": "hammering"}),
    Row("blowtorch.ogg", "blowtorch"),
    Row("whipcrack.ogg", "whip"),
    Row("Kiss.ogg", "kiss"),
    Row("Whistle.ogg", "whistle"),
    Row("splash.ogg", "splash"),
    *[Row(f"Droplet{k}.ogg", "water_drip") for k in (1, 2, 3)],
    Row("steam.ogg", "steam"),
    Row("bee.ogg", "insect"),
    Row("plane.ogg", "airplane"),
    Row("rcplane.ogg", "airplane", {"noun": "model plane", "verb": "buzzes past", "base": "buzz past",
                                    "gerund": "buzzing past"}),
    Row("shutterclick.ogg", "camera"),
    Row("hammer.ogg", "hammer"),
]


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PKG]
    dep5 = Dep5.read(PKG)
    out: list[Rec] = []
    for row in TABLE:
        lic = dep5.license_for(f"share/hedgewars/Data/Sounds/{row.file}")
        if lic is None:
            raise ValueError(f"{PKG}: no licence stanza covers {row.file}")
        origin = {"package": PKG, "version": version, "license": lic}
        out += records(row, ROOT, "hedgewars", origin, ctx.categories, name=Path(row.file).stem.lower())
    return out
