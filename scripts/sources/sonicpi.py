"""Sonic Pi's samples (`sonic-pi-samples`): the real recorded ones among its 165 FLAC files.

Every sample comes from freesound.org under CC0 (samples/README.md: "All samples in this directory are from
http://freesound.org and have been placed in the public domain via the Creative Commons 0 License"). The Debian
copyright file has one stanza per sample for 130 of them (author, year, freesound page, `License: CC0`); the 35
later ones (all by the freesound user hullum: perc_bell2, perc_door, bd_mehackit, sn_generic, ambi_sauna,
loop_3d_printer, ...) have no stanza of their own there and fall under its `Files: *` stanza (MIT); the
package's README gives their freesound pages. Each record carries its author and freesound page.

Taken (69 files, 71 recordings): an acoustic drum kit (kicks, snares, a snare roll, toms, hi-hats, cymbals, a
cowbell), 24 of the 26 tabla strokes and the tabla loop (cut in two), four guitar recordings, a burp, a crow, two
bells, two finger snaps, a cash register, a door, vinyl scratches and vinyl crackle (an ambience bed), a choir
chord, a rubbed wine glass, a sauna's steam, a 3D printer (cut in two).

Left out (96 files), listed at the end of the table: ELECTRONIC (synth basses, drum-machine kicks and a snare,
the `elec_*`, `glitch_*` and `mehackit_robot*` sounds, the produced loops, the synthetic ambiences); FROM_RECORDS
(the Amen break and another breakbeat, sampled from commercial records: not the uploader's own recording);
TOO_SHORT (two 40-ms tabla clicks); UNCLEAR (sounds a listener could not name: impacts, a swoosh, "swash", four
"phone" rattles, a record rewinding through music).
"""

from __future__ import annotations

import re
from pathlib import Path

from sources.common import C, Category, Rec
from sources.fxtable import Row, records

PKG = "sonic-pi-samples"
ROOT = Path("/usr/share/sonic-pi/samples")
README = ROOT / "README.md"

PACKAGES: dict[str, dict[str, str]] = {
    PKG: {"license": "CC0-1.0", "check": "Files: etc/samples/tabla_na.flac",
          "holder": "the freesound.org authors named per file (origin.author, origin.source); package by Samuel "
                    "Aaron",
          "note": "Debian copyright: one stanza per sample, 'License: CC0', with its freesound.org page, for 130 "
                  "samples; the other 35 (freesound user hullum) are under its 'Files: *' stanza (MIT) and "
                  "samples/README.md, which says every sample is from freesound.org under CC0 and links each one. "
                  "Files read: /usr/share/sonic-pi/samples/*.flac (many 'slightly modified and trimmed' by Sonic "
                  "Pi, says the README)."},
}

CATEGORIES: list[Category] = [
    C("bass_drum", "music", "bass drum", "bass drum", "booms", "boom", "booming",
      "bass drum, kick drum, kick, drum", countable=True),  # as qabcs.py defines it
    C("snare_drum", "music", "snare drum", "snare drum", "cracks", "crack", "cracking",
      "snare drum, snare, drum, drumroll, drum roll", countable=True),
    C("tom_drum", "music", "tom-tom drum", "tom-tom", "thumps", "thump", "thumping", "tom-tom, tom, toms, drum",
      countable=True),
    C("hi_hat", "music", "hi-hat", "hi-hat", "ticks", "tick", "ticking", "hi-hat, hihat, hi hat, cymbal",
      countable=True),
    C("cowbell", "music", "cowbell", "cowbell", "clanks", "clank", "clanking", "cowbell, cowbells",
      countable=True),
    C("tabla", "music", "tabla", "tabla", "plays", "play", "playing", "tabla, tablas, hand drum, drum",
      countable=True),
    C("burp", "human", "burp", "person", "burps", "burp", "burping", "burp, burps, burping, belch, belches, belching",
      countable=True),
    C("finger_snap", "human", "finger snap", "person", "snaps their fingers", "snap their fingers",
      "snapping their fingers", "snap, snaps, snapping, finger snap, fingers", countable=True),
    C("cash_register", "object", "cash register", "cash register", "rings", "ring", "ringing",
      "cash register, till, register, checkout"),
    C("door", "object", "door", "door", "opens", "open", "opening", "door, doors, gate",
      countable=True),  # as gcompris.py defines it
    C("vinyl_scratch", "music", "record scratch", "record", "scratches", "scratch", "scratching",
      "scratch, scratches, scratching, record scratch, turntable, turntables, vinyl, record, dj"),
    C("vinyl_crackle", "ambience", "vinyl crackle", "vinyl record", "crackles", "crackle", "crackling",
      "crackle, crackles, crackling, vinyl, record, surface noise"),
    C("choir", "music", "choir singing", "choir", "sings", "sing", "singing",
      "choir, choirs, chorus, singers, voices, choral"),
    C("glass_harmonica", "music", "glass harmonica", "glass harmonica", "plays", "play", "playing",
      "glass harmonica, glass armonica, glass harp, singing glass, wine glass"),  # as qabcs.py defines it
    C("steam", "object", "steam hissing", "steam", "hisses", "hiss", "hissing", "steam, hiss, hisses, hissing",
      article=""),  # as hedgewars_fx.py defines it
    C("printer_3d", "object", "3D printer", "3D printer", "whirs", "whir", "whirring",
      "3d printer, printer, printing"),
]

KICK = {"noun": "kick drum", "verb": "thumps", "base": "thump", "gerund": "thumping"}
BOOMS = {"verb": "booms", "base": "boom", "gerund": "booming"}
KNOCKS = {"verb": "knocks", "base": "knock", "gerund": "knocking"}
RINGS = {"verb": "rings", "base": "ring", "gerund": "ringing"}
TAPS = {"verb": "taps", "base": "tap", "gerund": "tapping"}
STRUMS = {"verb": "strums a chord", "base": "strum a chord", "gerund": "strumming a chord"}

# (file stem, category, caption overrides, how to cut: whole (capped at 6 s) | pieces (<= 6 s each), role)
TABLE: list[tuple[str, str, dict, str, str]] = [
    # an acoustic kit (menegass), other acoustic kicks and snares
    ("drum_heavy_kick", "bass_drum", KICK, "whole", "event"),
    ("drum_bass_hard", "bass_drum", KICK, "whole", "event"),
    ("drum_bass_soft", "bass_drum", KICK, "whole", "event"),
    ("bd_zome", "bass_drum", KICK, "whole", "event"),
    ("bd_mehackit", "bass_drum", KICK, "whole", "event"),
    ("drum_snare_hard", "snare_drum", {}, "whole", "event"),
    ("drum_snare_soft", "snare_drum", {}, "whole", "event"),
    ("sn_dolf", "snare_drum", {}, "whole", "event"),
    ("sn_zome", "snare_drum", {}, "whole", "event"),
    ("sn_generic", "snare_drum", {}, "whole", "event"),
    ("drum_roll", "snare_drum", {"verb": "rolls", "base": "roll", "gerund": "rolling"}, "whole", "event"),
    *[(f"drum_tom_{h}_{f}", "tom_drum", {}, "whole", "event") for h in ("hi", "mid", "lo") for f in ("hard", "soft")],
    ("drum_cymbal_closed", "hi_hat", {"noun": "closed hi-hat"}, "whole", "event"),
    ("drum_cymbal_pedal", "hi_hat", {"verb": "chicks", "base": "chick", "gerund": "chicking"}, "whole", "event"),
    ("drum_cymbal_open", "hi_hat", {"noun": "open hi-hat", "verb": "sizzles", "base": "sizzle",
                                    "gerund": "sizzling"}, "whole", "event"),
    ("drum_cymbal_hard", "cymbal", {}, "whole", "event"),
    ("drum_cymbal_soft", "cymbal", {"verb": "rings", "base": "ring", "gerund": "ringing"}, "whole", "event"),
    ("drum_splash_hard", "cymbal", {"noun": "splash cymbal"}, "whole", "event"),
    ("drum_splash_soft", "cymbal", {"noun": "splash cymbal"}, "whole", "event"),
    ("drum_cowbell", "cowbell", {}, "whole", "event"),
    # tabla (dio_333): bayan strokes boom (ghe) or knock (ke); dayan strokes ring (na, tin/tun, tas) or tap
    *[(f"tabla_ghe{k}", "tabla", BOOMS, "whole", "event") for k in range(1, 9)],
    ("tabla_ke3", "tabla", KNOCKS, "whole", "event"),  # ke1 and ke2 last 40 ms: TOO_SHORT
    *[(f"tabla_{s}", "tabla", RINGS, "whole", "event")
      for s in ("na", "na_o", "na_s", "tas1", "tas2", "tas3", "tun1", "tun2", "tun3")],
    *[(f"tabla_{s}", "tabla", TAPS, "whole", "event") for s in ("te1", "te2", "te_m", "te_ne", "re", "dhec")],
    ("loop_tabla", "tabla", {"verb": "plays a rhythm", "base": "play a rhythm", "gerund": "playing a rhythm"},
     "pieces", "event"),
    # guitar
    ("guit_e_fifths", "guitar", {"verb": "plays fifths", "base": "play fifths", "gerund": "playing fifths"},
     "whole", "event"),
    ("guit_em9", "guitar", STRUMS, "whole", "event"),
    ("guit_e_slide", "guitar", {"noun": "slide guitar"}, "whole", "event"),
    ("guit_harmonics", "guitar", {"verb": "plays harmonics", "base": "play harmonics",
                                  "gerund": "playing harmonics"}, "whole", "event"),
    # everyday sounds
    ("misc_burp", "burp", {}, "whole", "event"),
    ("misc_crow", "crow", {}, "whole", "event"),
    ("perc_bell", "bell", {}, "whole", "event"),
    ("perc_bell2", "bell", {}, "whole", "event"),
    ("perc_snap", "finger_snap", {}, "whole", "event"),
    ("perc_snap2", "finger_snap", {}, "whole", "event"),
    ("perc_till", "cash_register", {}, "whole", "event"),
    ("perc_door", "door", {"verb": "slams", "base": "slam", "gerund": "slamming"}, "whole", "event"),
    ("vinyl_scratch", "vinyl_scratch", {}, "whole", "event"),
    ("vinyl_backspin", "vinyl_scratch", {"verb": "is spun backwards", "base": "get spun backwards",
                                         "gerund": "being spun backwards"}, "whole", "event"),
    ("vinyl_hiss", "vinyl_crackle", {}, "whole", "ambience"),
    ("ambi_choir", "choir", {}, "whole", "event"),
    ("ambi_glass_rub", "glass_harmonica", {"noun": "wine glass", "verb": "sings", "base": "sing",
                                           "gerund": "singing"}, "whole", "event"),
    ("ambi_sauna", "steam", {}, "whole", "event"),
    ("loop_3d_printer", "printer_3d", {}, "pieces", "event"),
]

ELECTRONIC = [
    *[f"bass_{s}" for s in ("dnb_f", "drop_c", "hard_c", "hit_c", "thick_c", "trance_c", "voxy_c", "voxy_hit_c",
                            "woodsy_c")],
    # drum-machine kicks and a snare: a pure decaying low sine (with a click), not a drum heard in a room
    *[f"bd_{s}" for s in ("808", "ada", "boom", "fat", "gas", "haus", "klub", "pure", "sone", "tek", "zum")],
    "sn_dub",
    *[f"elec_{s}" for s in ("beep", "bell", "blip", "blip2", "blup", "bong", "chime", "cymbal", "filt_snare", "flip",
                            "fuzz_tom", "hi_snare", "hollow_kick", "lo_snare", "mid_snare", "ping", "plip", "pop",
                            "snare", "soft_kick", "tick", "triangle", "twang", "twip", "wood")],
    *[f"glitch_{s}" for s in ("bass_g", "perc1", "perc2", "perc3", "perc4", "perc5", "robot1", "robot2")],
    *[f"mehackit_robot{k}" for k in range(1, 8)],
    *[f"loop_{s}" for s in ("compus", "drone_g_97", "electric", "garzul", "industrial", "mehackit1", "mehackit2",
                            "mika", "perc1", "perc2", "safari", "weirdo")],
    *[f"ambi_{s}" for s in ("dark_woosh", "drone", "glass_hum", "haunted_hum", "lunar_land", "piano", "soft_buzz",
                            "swoosh")],
    "misc_cineboom",
]
FROM_RECORDS = ["loop_amen", "loop_amen_full", "loop_breakbeat"]
TOO_SHORT = ["tabla_ke1", "tabla_ke2"]  # 40-ms clicks
UNCLEAR = ["perc_impact1", "perc_impact2", "perc_swash", "perc_swoosh", "vinyl_rewind",
           *[f"mehackit_phone{k}" for k in range(1, 5)]]


def _key(stem: str) -> str:
    """README names and file names differ in underscores ('perc_bell_2' / perc_bell2.flac)."""
    return stem.replace("_", "").lower()


def parse_copyright(text: str) -> dict[str, dict[str, str]]:
    """The Debian copyright's per-sample stanzas -> {sample stem: {author, year, source, license}}."""
    out: dict[str, dict[str, str]] = {}
    for para in re.split(r"\n\s*\n", text):
        m = re.search(r"^Files:\s*etc/samples/(\S+)\.flac\s*$", para, re.M)
        if not m:
            continue
        info: dict[str, str] = {}
        c = re.search(r"^Copyright:\s*(\d{4})?\s*(.*)$", para, re.M)
        if c:
            info["year"] = c.group(1) or ""
            info["author"] = c.group(2).strip()
        url = re.search(r"https?://\S+", para)
        if url:
            info["source"] = url.group(0)
        lic = re.search(r"^License:\s*(\S+)", para, re.M)
        if lic:
            info["license"] = lic.group(1)
        out[m.group(1)] = info
    return out


def parse_readme(text: str) -> dict[str, str]:
    """samples/README.md's list -> {normalised sample name: freesound page}."""
    return {_key(name): url for name, url in re.findall(r"`:([A-Za-z0-9_]+)`\s*-\s*(https?://\S+)", text)}


def freesound_author(url: str) -> str:
    m = re.search(r"/people/([^/]+)/", url)
    return m.group(1).replace("%20", " ") if m else ""


def credit(stem: str, stanzas: dict[str, dict[str, str]], readme: dict[str, str]) -> dict[str, str]:
    """origin fields for one sample: licence, author, freesound page, and where they were read."""
    if stem in stanzas:
        s = stanzas[stem]
        lic = "CC0-1.0" if s.get("license", "").upper() == "CC0" else s.get("license", "")
        return {"license": lic, "author": s.get("author", ""), "year": s.get("year", ""),
                "source": s.get("source", ""), "credit_from": "debian/copyright"}
    url = readme.get(_key(stem))
    if url is None:
        raise KeyError(f"{PKG}: no credit for {stem} in debian/copyright nor in {README}")
    return {"license": "CC0-1.0", "author": freesound_author(url), "source": url,
            "credit_from": f"{README} (debian/copyright: Files: * stanza, MIT)"}


def collect(ctx) -> list[Rec]:
    version = ctx.versions[PKG]
    stanzas = parse_copyright(Path(f"/usr/share/doc/{PKG}/copyright").read_text(errors="replace"))
    readme = parse_readme(README.read_text(errors="replace"))
    present = {p.stem for p in ROOT.glob("*.flac")}
    listed = {row[0] for row in TABLE} | set(ELECTRONIC) | set(FROM_RECORDS) | set(TOO_SHORT) | set(UNCLEAR)
    if present - listed:
        print(f"  note: {PKG}: files not in the table (left out): {sorted(present - listed)}")
    out: list[Rec] = []
    for stem, category, over, how, role in TABLE:
        info = credit(stem, stanzas, readme)
        origin = {"package": PKG, "version": version, **info}
        row = Row(f"{stem}.flac", category, dict(over), role=role, cut=how,
                  labels=[category] if role == "ambience" else None, max_s=10.0 if role == "ambience" else 6.0,
                  note=f"freesound.org, by {info['author']}: {info['source']}")
        out += records(row, ROOT, "sonicpi", origin, ctx.categories, name=stem)
    return out
