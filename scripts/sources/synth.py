"""What the original dataset synthesised or rendered: speech from espeak-ng and flite (English, 15 voices),
FluidR3 GM instrument phrases and single strikes rendered with fluidsynth, and sox's beeps, sirens and noise
beds.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

import numpy as np

from sources.common import C, Category, MAX_SECONDS, Rec, SR, cap, decode, fade, run, trim
from sources.records import make_record

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

PACKAGES: dict[str, dict[str, str]] = {
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
        "copyright": "/usr/share/doc/espeak-ng-data/copyright",  # read where espeak-ng's own is absent
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

# Categories first defined here: instruments, claps, applause, telephone, helicopter, and the noise beds.
CATEGORIES: list[Category] = [
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
    C("noise", "noise", "noise", "noise", "hisses", "hiss", "hissing", "noise, static, hiss, hissing", article=""),
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



def voice_phrases(voice: str, seed: int) -> list[str]:
    # Each voice says its own seeded subset, so phrases and voices are not confounded.
    h = int(hashlib.sha256(f"{seed}:{voice}".encode()).hexdigest()[:8], 16)
    idx = np.random.default_rng(h).permutation(len(PHRASES))[:PHRASES_PER_VOICE]
    return [PHRASES[i] for i in sorted(idx)]


def collect_speech(ctx: Any, tmp: Path, versions: dict[str, str], seed: int) -> list[Rec]:
    out: list[Rec] = []
    for voice, gender, wpm in ESPEAK_VOICES:
        for k, text in enumerate(voice_phrases("espeak:" + voice, seed)):
            wav = tmp / "espeak.wav"
            run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text])
            x = trim(decode(wav, SR), SR)
            vid = voice.replace("+", "_").replace("-", "_")
            origin = {"package": "espeak-ng", "version": versions["espeak-ng"],
                      "file": f"espeak-ng -v {voice} -s {wpm} '{text}'", "license": PACKAGES["espeak-ng"]["license"]}
            out.append(make_record(ctx.categories, f"espeak.{vid}.{k + 1:02d}", f"speech_{gender}", SR, x, origin,
                                 group=f"espeak.{vid}", transcript=text, language="en", speaker=SPEAKER[gender],
                                 voice=f"espeak-ng {voice}", gender=gender))
    for voice, gender in FLITE_VOICES:
        for k, text in enumerate(voice_phrases("flite:" + voice, seed)):
            wav = tmp / "flite.wav"
            run(["flite", "-voice", voice, "-t", text, "-o", str(wav)])
            x = trim(decode(wav, SR), SR)
            origin = {"package": "flite", "version": versions["flite"], "file": f"flite -voice {voice} -t '{text}'",
                      "license": PACKAGES["flite"]["license"]}
            out.append(make_record(ctx.categories, f"flite.{voice}.{k + 1:02d}", f"speech_{gender}", SR, x, origin,
                                 group=f"flite.{voice}", transcript=text, language="en", speaker=SPEAKER[gender],
                                 voice=f"flite {voice}", gender=gender))
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


def collect_fluidsynth(ctx: Any, tmp: Path, versions: dict[str, str], seed: int) -> list[Rec]:
    out: list[Rec] = []
    rng = np.random.default_rng([seed, 7])
    origin_base = {"package": "fluid-soundfont-gm", "version": versions["fluid-soundfont-gm"],
                   "license": PACKAGES["fluid-soundfont-gm"]["license"],
                   "renderer": f"fluidsynth {versions['fluidsynth']}"}
    mid, wav = tmp / "x.mid", tmp / "x.wav"

    def render(rid: str, category: str, notes, program: int, tempo: float, what: str, group: str,
               channel: int = 0, bank: int | None = None, max_s: float = MAX_SECONDS, **over: Any) -> None:
        write_midi(mid, notes, program, channel=channel, bank=bank, tempo_bpm=tempo)
        x = cap(trim(render_midi(mid, wav), SR, below_peak_db=40.0), SR, max_s)
        out.append(make_record(ctx.categories, rid, category, SR, x, {**origin_base, "file": f"{SOUNDFONT} ({what})"}, group=group,
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


def collect_sox(ctx: Any, tmp: Path, versions: dict[str, str]) -> list[Rec]:
    out: list[Rec] = []
    origin_base = {"package": "sox", "version": versions["sox"], "license": "synthesised tones/noise (no copyright)"}
    wav = tmp / "sox.wav"

    def synth(rid: str, category: str, args: list[str], group: str, **over: Any) -> None:
        run(["sox", "-R", "-D", "-n", "-r", str(SR), "-c", "1", "-b", "16", str(wav), *args])
        x = decode(wav, SR)
        if category != "noise":
            x = trim(x, SR)
        out.append(make_record(ctx.categories, rid, category, SR, x, {**origin_base, "file": "sox -n " + " ".join(args)}, group=group,
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
        out.append(make_record(ctx.categories, f"sox.siren.{k + 1}", "siren", SR, fade(x, SR, 0.05), {**origin_base, "file": desc},
                             group=f"sox.siren.{k + 1}"))
    # Noise beds (background only): 12 s each; build_scenes.py uses the first half for training scenes
    # and the second for evaluation scenes.
    for color in ("white", "pink", "brown"):
        synth(f"sox.noise.{color}", "noise", ["synth", "12", f"{color}noise", "vol", "0.5"],
              group=f"sox.noise.{color}", noun=f"{color} noise", role="ambience")
    return out


SPEAKER = {"male": "man", "female": "woman"}


def collect(ctx: Any) -> list[Rec]:
    return (collect_speech(ctx, ctx.tmp, ctx.versions, ctx.seed) + collect_fluidsynth(ctx, ctx.tmp, ctx.versions, ctx.seed)
            + collect_sox(ctx, ctx.tmp, ctx.versions))
