"""Collector modules, one per Debian package (or group of related packages); see scripts/README.md section 1.

collect_sources.py imports every module named in COLLECTORS (the three that hold the original sources,
tuxpaint, asterisk and synth, always first) and calls its collect(ctx). Add a module with one line.
"""

COLLECTORS: list[str] = [
    "tuxpaint",
    "asterisk",
    "synth",
    "gcompris",
    "lincity",
    "wesnoth",
    "hedgewars_fx",
    "qabcs",
    "sonicpi",
    "tuxpaint_speech",
    "ktuberling",
    "zeroad",
    "hedgewars_voices",
    "asterisk_langs",
    "megaglest",
    "minetest",
    "opensfx",
    "supertuxkart",
    "widelands",
    "klettres",
    "ufoai",
]
