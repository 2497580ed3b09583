"""UFO: Alien Invasion (`ufoai-sound`): its recorded footsteps, doors, firearms, explosions, breaking glass and
wood, fire, thunder, wind and the cries of its soldiers and civilians.

The sounds lie in one zip archive, /usr/share/games/ufoai/base/0snd.pk3 (347 Ogg Vorbis files under sound/);
members are written to a scratch folder and decoded with sox. Licence, per file, from Debian's machine-readable
copyright file (paths spelt `base/sound/...`, the last matching `Files:` stanza wins): "Files: *" GPL-2+ (The
UFO:AI Team), with stanzas for CC-BY-3.0, CC-BY-SA-3.0 (most effects), GPL-2 (OpenArena / Nexuiz cries,
footsteps and fires) and public-domain (three wood-breaking sounds). All allow redistribution; each record
carries its file's licence and its stanza's Copyright line (origin.credit, a list of authors per stanza, not
per file), and LICENSES.md lists them per file.

Taken: single footsteps on carpet, tiles, dirt, grass, gravel, sand, snow, stone, wood and metal, and
wading steps; doors opening and closing and a creak; the single shots of the pistol, rifle, shotgun, sniper
rifle and submachine gun, and the bursts (3 to 50 shots) of the rifle, submachine gun, heavy machine gun and
chaingun; reloading; explosions (grenade, rocket, incendiary, flashbang); breaking glass,
wood and metal; a blade stabbing; a splash; fire (crackling loops), thunder, arctic wind, a cricket, steam, a
fountain, TV static and a diesel engine; the death cries and cries of pain of soldiers and civilians (man or
woman as the file names say) and two women's screams.

Left out: the aliens' cries and everything named alien, plasma, laser, particle (ptl), needler, gauss,
flechette, bolter, psi, taser or hover (invented or synthesised weapons and machines); the geoscape, UI and
misc interface sounds (beeps, clicks, jingles, a message pop-up); the sequence's fly-bys and sword; ambiences
whose source the name leaves open (droning, hum, lights, machine1, minepump, water/water01-03, sand-city,
city and night atmospheres, jingle, sparks, disco, wind_turbine) and the TV news and radio messages (speech
without a transcript); grenade pin, bounce and launcher, flamer, medikit, IR goggles, melee swoosh and throw,
the UGV cannon, the shotgun's three quick shots (a count no caption could give), the landing thuds
(hitground), crouch / stand (kit rustle), water_in/out/under; bullet, nail and water-bullet impacts (what is
hit is not said). Copies, found by the fingerprint (collect_sources.py): footsteps/linoleum is tile1,
sand1 is sand, sand2 is dirt3, misc/breakwood03 is breakwood02 (bit for bit), breakwood07 is breakwood01,
and bullet-rifle-8x repeats rifle-1x's shot.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from sources import credits
from sources.common import C, Category, Rec
from sources.fxtable import Dep5, Row, records

PKG = "ufoai-sound"
PK3 = Path("/usr/share/games/ufoai/base/0snd.pk3")
S = "sound/"

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "GPL-2+", "check": "Copyright: 2002-2014, The UFO:AI Team",
          "holder": "The UFO:AI Team (2002-2014) and the authors named per file in "
                    "/usr/share/doc/ufoai-sound/copyright (origin.credit)",
          "note": "Debian copyright (DEP-5): 'Files: * / Copyright: 2002-2014, The UFO:AI Team / License: "
                  "GPL-2+', with per-file stanzas under CC-BY-3.0, CC-BY-SA-3.0, GPL-2 and public-domain. Each "
                  "record's origin.license is its file's, read from the copyright file. Files read: sound/ in "
                  "base/0snd.pk3."},
}

CATEGORIES: list[Category] = [
    C("footsteps_carpet", "human", "footsteps on carpet", "footsteps", "thud softly on carpet",
      "thud softly on carpet", "thudding softly on carpet",
      "footsteps, footstep, steps, walking, walks, walker, carpet, rug", article="", plural=True, countable=True),
    C("footsteps_tile", "human", "footsteps on a tiled floor", "footsteps", "click on a tiled floor",
      "click on a tiled floor", "clicking on a tiled floor",
      "footsteps, footstep, steps, walking, walks, walker, tiles, tiled floor", article="", plural=True,
      countable=True),
    C("machine_gun", "object", "machine gun firing", "machine gun", "fires a burst", "fire a burst",
      "firing a burst", "machine gun, machine guns, automatic fire, gunfire, burst, bursts, gun, guns, shots",
      countable=False),
    C("wood_break", "object", "wood breaking", "wooden plank", "splinters", "splinter", "splintering",
      "wood, wooden, plank, planks, splinter, splinters, splintering, snap, snaps, crack, cracks, breaking"),
    C("fountain", "nature", "fountain splashing", "fountain", "splashes", "splash", "splashing",
      "fountain, fountains, water, splashing, spray", countable=False),
]

STEP = {"noun": "footstep", "article": "a", "plural": False}
CLOSE = {"verb": "closes", "base": "close", "gerund": "closing"}
MAN = {"noun": "man"}
WOMAN = {"noun": "woman"}
HURT = {"verb": "groans in pain", "base": "groan in pain", "gerund": "groaning in pain"}


def steps(stem: str, ks, category: str, verb: str) -> list[Row]:
    return [Row(f"{S}footsteps/{stem}{k}.ogg", category, {**STEP, "verb": verb}) for k in ks]


def many(folder: str, stem: str, ks, category: str, over: dict | None = None, fmt: str = "{:02d}",
         note: str = "") -> list[Row]:
    return [Row(f"{S}{folder}/{stem}{fmt.format(k)}.ogg", category, dict(over or {}), note=note) for k in ks]


def shot(name: str, noun: str, category: str = "gunshot", note: str = "") -> Row:
    return Row(f"{S}weapons/bullet-{name}.ogg", category, {"noun": noun}, note=note)


def amb(file: str, category: str, over: dict | None = None, note: str = "") -> Row:
    return Row(S + file, category, dict(over or {}), role="ambience", labels=[category], cut="pieces",
               max_s=10.0, note=note)


TABLE: list[Row] = [
    # footsteps (one step a file)
    *steps("carpet", range(1, 5), "footsteps_carpet", "thuds softly on carpet"),
    *steps("tile", range(1, 5), "footsteps_tile", "clicks on a tiled floor"),
    *steps("dirt", range(1, 5), "footsteps_dirt", "treads on a dirt path"),
    *steps("grass", range(1, 5), "footsteps_grass", "swishes through grass"),
    *steps("gravel", range(1, 5), "footsteps_gravel", "crunches on gravel"),
    *steps("sand", ("",), "footsteps_sand", "shuffles through sand"),
    *steps("snow", range(1, 5), "footsteps_snow", "crunches in the snow"),
    *steps("stone", range(1, 5), "footsteps_stone", "taps on stone"),
    *steps("wood", range(1, 5), "footsteps_wood", "knocks on wooden boards"),
    *steps("metal", (1, 3), "footsteps_metal", "clangs on metal"),
    *[Row(f"{S}footsteps/splash{k}.ogg", "footsteps_water") for k in range(1, 5)],
    # doors
    *[Row(f"{S}doors/door{k}-open.ogg", "door") for k in (1, 2, 3)],
    *[Row(f"{S}doors/door{k}-close.ogg", "door", CLOSE) for k in (1, 2, 3)],
    Row(S + "doors/open_close.ogg", "door", {"verb": "opens and closes", "base": "open and close",
                                             "gerund": "opening and closing"}),
    Row(S + "doors/creak_low_short.ogg", "creak", {"noun": "door", "verb": "creaks", "base": "creak",
                                                   "gerund": "creaking"}),
    Row(S + "ambience/creak.ogg", "creak"),
    # firearms: single shots; bursts (their shots run together: never counted)
    shot("pistol", "pistol"), shot("pistol2", "pistol"),
    shot("rifle", "rifle"), shot("rifle-1x", "rifle"), shot("rifle-3x", "rifle", "machine_gun", "a burst of three"),
    shot("sniper", "sniper rifle"),
    shot("shotgun", "shotgun"), shot("shotgunmini", "shotgun"),
    shot("smg", "submachine gun"), shot("smg-1x", "submachine gun"),
    shot("smg-5x", "submachine gun", "machine_gun", "a burst of five"),
    shot("smg-15x", "submachine gun", "machine_gun", "a burst of fifteen"),
    shot("hmg-5x", "heavy machine gun", "machine_gun", "a burst of five"),
    shot("hmg-20x", "heavy machine gun", "machine_gun", "a burst of twenty"),
    *[shot(f"chaingun-{n}x", "machine gun", "machine_gun", f"a chaingun burst of {n}") for n in (5, 10, 40, 50)],
    *[Row(f"{S}weapons/reload-{w}.ogg", "gun_reload", {"noun": noun})
      for w, noun in (("pistol", "pistol"), ("rifle", "rifle"), ("shotgun", "shotgun"), ("smg", "submachine gun"),
                      ("sniper", "sniper rifle"))],
    # explosions
    Row(S + "weapons/explosion.ogg", "explosion"),
    Row(S + "weapons/explosion-grenade.ogg", "explosion", {"noun": "grenade", "verb": "explodes",
                                                           "base": "explode", "gerund": "exploding"}),
    Row(S + "weapons/explosion-rocket.ogg", "explosion", {"noun": "rocket", "verb": "explodes", "base": "explode",
                                                          "gerund": "exploding"}),
    Row(S + "weapons/explosion-fire.ogg", "explosion", note="an incendiary explosion"),
    Row(S + "weapons/explosion-flashbang.ogg", "explosion", {"noun": "stun grenade", "verb": "bangs",
                                                             "base": "bang", "gerund": "banging"}),
    # breaking things, impacts
    *many("misc", "breakglass", range(1, 8), "glass_break"),
    *many("misc", "breakwood", (1, 2, 4, 5, 6), "wood_break"),
    *many("misc", "breakmetal", range(1, 5), "crash", {"noun": "metal object", "verb": "crashes", "base": "crash",
                                                       "gerund": "crashing"}, note="metal breaking"),
    Row(S + "impact/knife-bodyimpact.ogg", "stab", {"noun": "knife"}),
    Row(S + "impact/water-impact.ogg", "splash"),
    # ambiences and loops
    amb("ambience/fire.ogg", "fire"), amb("ambience/smallfire.ogg", "fire", {"noun": "small fire"}),
    *[Row(f"{S}ambience/{f}.ogg", "fire") for f in ("fire03", "fire04", "fire05", "fire06", "fire1", "fire2")],
    Row(S + "ambience/firesoft.ogg", "fire", {"noun": "small fire"}),
    *[amb(f"ambience/thunder{k}.ogg", "thunder") for k in (1, 2, 3)],
    amb("ambience/arcticwind.ogg", "wind", {"verb": "howls", "base": "howl", "gerund": "howling"}, "arctic wind"),
    amb("ambience/waterfontain.ogg", "fountain"),
    Row(S + "ambience/cricket_loop.ogg", "grasshopper", {"noun": "cricket"}),
    Row(S + "ambience/steam.ogg", "steam"),
    Row(S + "ambience/tv_static.ogg", "radio_static", {"noun": "television"}),
    Row(S + "ugv/diesel-idle.ogg", "car_engine", {"noun": "diesel engine", "verb": "idles", "base": "idle",
                                                  "gerund": "idling"}),
    Row(S + "ugv/diesel-move.ogg", "car_engine", {"noun": "diesel engine"}, max_s=10.0),
    # human cries: the file names say man or woman
    *many("soldiers", "maledeath", range(1, 8), "pain_cry", MAN),
    *many("soldiers", "malehurt", range(1, 14), "pain_cry", {**MAN, **HURT}),
    *many("soldiers", "femaledeath", range(1, 7), "pain_cry", WOMAN),
    *many("soldiers", "femalehurt", range(1, 6), "pain_cry", {**WOMAN, **HURT}),
    *many("civilians", "maledeath", range(1, 4), "pain_cry", MAN),
    *many("civilians", "malehurt", range(2, 5), "pain_cry", {**MAN, **HURT}),
    *many("civilians", "civmaledeath", (1, 2), "pain_cry", MAN, fmt="{:02d}a"),
    Row(S + "civilians/civmalehurt01a.ogg", "pain_cry", {**MAN, **HURT}),
    *many("civilians", "civfemdeath", (1, 2), "pain_cry", WOMAN, fmt="{:02d}a"),
    *many("civilians", "civfemscream", (1, 2), "scream_female", fmt="{:02d}a"),
]


def name_of(member: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", member.removeprefix(S).rsplit(".", 1)[0].lower()).strip("_")


def collect(ctx) -> list[Rec]:
    text = Path(f"/usr/share/doc/{PKG}/copyright").read_text(errors="replace")
    dep5 = Dep5(text)
    folder = Path(ctx.tmp) / "ufoai"
    out: list[Rec] = []
    with zipfile.ZipFile(PK3) as z:
        for row in TABLE:
            path = "base/" + row.file
            lic = dep5.license_for(path)
            if not lic:
                raise ValueError(f"ufoai: the copyright file names no licence for {path}")
            (folder / row.file).parent.mkdir(parents=True, exist_ok=True)
            (folder / row.file).write_bytes(z.read(row.file))
            origin = {"package": PKG, "version": ctx.versions[PKG], "license": lic,
                      "credit": credits.copyright_of(text, path)}
            out += records(row, folder, "ufoai", origin, ctx.categories, origin_file=f"{PK3}:{row.file}",
                           name=name_of(row.file))
    return out


def licenses_markdown(recs: list[dict]) -> str:
    return credits.licenses_markdown(PKG, recs)
