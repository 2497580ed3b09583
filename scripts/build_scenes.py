#!/usr/bin/env python3
"""Build the `sam-tiny-scenes` dataset: 10-s scenes mixed from `data/sources`, with captions and QA pairs in
the OpenAQA/LTU JSON format that `sam train` reads.

Stage 2 of 2 (stage 1, `collect_sources.py`, needs Debian packages; this one needs only Python and numpy, so
it runs on the GPU machine from the ~31 MiB of sources that travel with a run):

    python3 scripts/build_scenes.py --sources data/sources --out data/scenes --num-train 8000 --num-eval 500

Each scene holds 1-4 events one after another (distinct categories, known onsets, order and counts: a single
short call repeated 1-4 times), each at its own loudness, time-stretched and pitch-shifted together by
resampling (speed 0.9-1.12), over an optional noise bed and through an optional synthetic room (exponential
decay impulse response). With --empty-share, that share of the scenes holds no event at all: digital
silence, or a noise bed alone at -65 to -15 dBFS ("Silence." / "Only background noise can be heard."), so
that a model learns to say so instead of inventing a sound. Every scene gives these records (`task`):

  caption       the describe prompt -> "A dog barks twice, then a woman says 'please hold'."
  cla_label     "Identify the sound events ..." -> "Dog barking, woman speaking."
  qa_presence   "Is there a dog barking?" -> "Yes." / "No." (one of each per scene)
  qa_count      "How many times does the dog bark?" -> "Twice."
  qa_order      "What happens first?" -> "A dog barks twice."
  qa_speech     "What does the woman say?" -> "Please hold."
  qa_loudness   "Which is louder, the dog or the bell?" -> "The dog." (only when 6 dB or more apart)

Outputs in --out: audio/<split>/<split>_NNNNNN.wav (16 kHz mono 16-bit), train.json, eval.json,
eval_seen.json, scenes_meta.json (ground truth per scene, and the categories with their synonyms, for
evaluate.py). `eval` scenes use only held-out recordings (never in training); `eval_seen` scenes are new
scenes of training recordings (covering the categories that have a single recording). A scene depends only
on (--seed, split, index), never on --workers.

`--mode clips` builds what users have instead (scripts/README.md): single events, scenes, real ambiences,
speech and empty clips of 0.3 s to minutes through a recording chain (rates, gain, noise and ambience beds,
room, telephone band, mp3/ogg, speed, pitch), cut into 10.24-s windows exactly as `sam describe` cuts a
file, one example (one WAV of exactly that window's samples) per window. The default (`--mode scenes`) is
the dataset above, unchanged, so that sam-tiny's figures can be measured again on the same scenes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import re
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SR = 16000
SCENE_SECONDS = 10.0
SCENE_SAMPLES = int(SR * SCENE_SECONDS)
DATASET = "sam-tiny-scenes"
DESCRIBE_PROMPT = "Close-ended question: Write an audio caption describing the sound."
CLASSIFY_PROMPT = "Close-ended question: Identify the sound events in the audio clip."
SPLIT_CODES = {"train": 1, "eval": 2, "eval_seen": 3, "example": 4}

EVENTS_P = {1: 0.25, 2: 0.40, 3: 0.25, 4: 0.10}  # number of events in a scene
COUNT_P = {1: 0.40, 2: 0.30, 3: 0.20, 4: 0.10}  # repetitions of a countable call
SPEECH_WEIGHT = 6.0  # speech categories are drawn this much more often than others
LEVEL_DB = (-32.0, -14.0)  # active RMS of an event, dBFS
LOUDER_DB = 6.0  # "which is louder" is asked only for events this far apart
QUOTE_WORDS = 6  # a transcript this short is quoted in captions
MIN_GAP = 0.3  # seconds between events (keeps "then" honest)

COUNT_WORDS = {1: "once", 2: "twice", 3: "three times", 4: "four times"}
SILENT_SHARE = 0.25  # of the empty scenes: digital silence; the others a noise bed alone
EMPTY_NOISE_DB = (-65.0, -15.0)  # RMS of an empty scene's noise bed, dBFS
SILENCE_CAPTIONS = ["Silence.", "There is no sound.", "Nothing can be heard."]
NOISE_CAPTIONS = ["Only background noise can be heard.", "Steady background noise, no other sound.",
                  "Background noise and nothing else."]
COUNT_ANSWERS = {1: "Once.", 2: "Twice.", 3: "Three times.", 4: "Four times."}
NOISE_PHRASES = [" over steady background noise", " with a loud hiss in the background", " against background static"]
PRESENCE_TEMPLATES = ["{Is} there {name} in the audio?", "Can you hear {name}?", "{Is} there {name}?",
                      "Does the clip contain {name}?"]
KEEP_CAPITAL = {"I", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January",
                "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December"}
COUNT_TEMPLATES = ["How many times {does} {the} {base}?", "How many times can you hear {the} {base}?"]


# ---------------------------------------------------------------------------------------------------------
# Sources


@dataclass
class Recording:
    id: str
    category: str
    kind: str
    package: str
    sr: int
    audio: np.ndarray  # float32 in [-1, 1] at `sr`
    subject: str
    the: str
    verb: str
    base: str
    gerund: str
    plural: bool
    countable: bool
    split: str
    holdout: str | None
    transcript: str | None = None
    gender: str | None = None
    # Keys of the new manifests (brief-data.md); old manifests leave the defaults.
    role: str = "event"  # "event", or "ambience": a background bed (never drawn as an event)
    labels: list[str] = field(default_factory=list)  # every category audible, primary first
    language: str | None = None  # speech: ISO 639-1 ("fr"), None when unknown
    speaker: str | None = None  # speech: "man", "woman", "child", None when unknown
    voice: str | None = None  # speech: a stable id of the speaker


@dataclass
class Sources:
    categories: dict[str, dict[str, Any]]
    recordings: dict[str, Recording]
    noise: dict[str, np.ndarray]  # color -> float32 at SR
    ambiences: dict[str, Recording] = field(default_factory=dict)  # role "ambience": backgrounds only

    def pool(self, split: str) -> dict[str, dict[str, list[Recording]]]:
        """category -> package -> recordings usable in `split` (eval: held out; train, eval_seen: the rest)."""
        want = "eval" if split in ("eval", "example") else "train"
        out: dict[str, dict[str, list[Recording]]] = {}
        for r in self.recordings.values():
            if r.split == want and r.kind != "noise":
                out.setdefault(r.category, {}).setdefault(r.package, []).append(r)
        return out


def read_store(folder: Path) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, int]]]:
    """(manifest, {id: (float32 audio, sr)}) of a sources folder.

    The infrastructure's `scripts/sources/store.py` (`load_sources`) reads the new compressed storage; until
    it exists, or for a folder that still has an `audio.npz` (int16 arrays), this reads the npz itself.
    """
    manifest = json.loads((folder / "sources.json").read_text())
    npz = folder / str(manifest.get("audio", "audio.npz"))
    if npz.suffix == ".npz" and npz.is_file():
        arrays = np.load(npz)
        rates = {r["id"]: int(r["sr"]) for r in manifest["recordings"]}
        return manifest, {k: (arrays[k].astype(np.float32) / 32768.0, rates[k]) for k in rates}
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from sources.store import load_sources as store_load  # type: ignore[import-not-found]
    except ImportError:
        raise SystemExit(f"{folder}: no audio.npz, and scripts/sources/store.py is not there to read it") from None
    return store_load(folder)


SPEAKER_OF_GENDER = {"female": "woman", "male": "man", "child": "child"}


def load_sources(folder: str | Path) -> Sources:
    folder = Path(folder)
    if not (folder / "sources.json").is_file():
        raise SystemExit(f"{folder / 'sources.json'}: no such file")
    manifest, audio_of = read_store(folder)
    if not str(manifest.get("format", "")).startswith("sam-sources/"):
        raise SystemExit(f"{folder / 'sources.json'}: not a sam-sources manifest")
    cats = manifest["categories"]
    recs: dict[str, Recording] = {}
    ambiences: dict[str, Recording] = {}
    noise: dict[str, np.ndarray] = {}
    for r in manifest["recordings"]:
        audio, sr = audio_of[r["id"]]
        audio = np.asarray(audio, dtype=np.float32)
        kind = cats[r["category"]]["kind"]
        if kind == "noise":
            noise[r["id"].rsplit(".", 1)[-1]] = resample(audio, SR / sr)
            continue
        speaker = r.get("speaker") or SPEAKER_OF_GENDER.get(r.get("gender") or "")
        rec = Recording(
            id=r["id"], category=r["category"], kind=kind, package=r["origin"]["package"],
            sr=int(sr), audio=audio, subject=r["subject"], the=r["the"], verb=r["verb"], base=r["base"],
            gerund=r["gerund"], plural=bool(r["plural"]), countable=bool(r.get("countable", False)),
            split=r.get("split", "train"), holdout=r.get("holdout"), transcript=r.get("transcript"),
            gender=r.get("gender"), role=r.get("role") or ("ambience" if kind == "ambience" else "event"),
            labels=list(r.get("labels") or [r["category"]]), language=r.get("language"),
            speaker=speaker if kind == "speech" else None, voice=r.get("voice") or r.get("group"))
        (ambiences if rec.role == "ambience" else recs)[rec.id] = rec
    return Sources(cats, recs, noise, ambiences)


# ---------------------------------------------------------------------------------------------------------
# Signal processing (numpy only)


def resample(x: np.ndarray, ratio: float) -> np.ndarray:
    """Band-limited resampling by `ratio` (output length = input length * ratio) through the FFT.

    Zero padding on both sides keeps the FFT's circular wrap-around out of the signal.
    """
    n = len(x)
    m = int(round(n * ratio))
    if m == n or n == 0:
        return x.astype(np.float32, copy=True)
    pad = 512
    xp = np.pad(x.astype(np.float64), pad)
    big_n = len(xp)
    big_m = int(round(big_n * ratio))
    spec = np.fft.rfft(xp)
    out = np.zeros(big_m // 2 + 1, dtype=np.complex128)
    k = min(len(spec), len(out))
    out[:k] = spec[:k]
    y = np.fft.irfft(out, big_m) * (big_m / big_n)
    start = int(round(pad * ratio))
    return y[start:start + m].astype(np.float32)


def active_db(x: np.ndarray) -> float:
    """RMS level (dBFS) over the 10-ms frames within 30 dB of the loudest: the level of the sound itself,
    not diluted by the pauses of a call that is mostly silence."""
    hop = SR // 100
    n = len(x) // hop
    if n == 0:
        return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12))
    e = np.mean(x[: n * hop].astype(np.float64).reshape(n, hop) ** 2, axis=1) + 1e-12
    db = 10 * np.log10(e)
    return float(10 * np.log10(np.mean(e[db > db.max() - 30.0])))


def room_impulse(rng: np.random.Generator, rt60: float) -> np.ndarray:
    """Synthetic room: exponentially decaying noise reaching -60 dB at `rt60` s (unit energy, no direct path)."""
    t = np.arange(int(rt60 * SR)) / SR
    ir = rng.standard_normal(len(t)) * np.exp(-6.91 * t / rt60)
    ir[: int(0.003 * SR)] = 0.0  # a few ms before the first reflection
    return (ir / np.sqrt(np.sum(ir ** 2) + 1e-12)).astype(np.float32)


def convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)
    return y[: len(x)].astype(np.float32)


def write_wav(path: Path, x: np.ndarray) -> None:
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


# ---------------------------------------------------------------------------------------------------------
# Scene plans: everything random is drawn here, from one generator per scene.


@dataclass
class Event:
    rec: Recording
    count: int
    speed: float
    level_db: float
    onsets: list[float] = field(default_factory=list)
    offset: float = 0.0
    quoted: bool = False  # speech: the caption quotes the transcript
    say_once: bool = False  # countable, count 1: the caption says "once"
    audio: np.ndarray | None = None  # one call at SR, after the speed change

    @property
    def span(self) -> float:
        return self.offset - self.onsets[0]


@dataclass
class Scene:
    id: str
    split: str
    events: list[Event]
    noise: dict[str, Any] | None
    reverb: dict[str, Any] | None
    rng: np.random.Generator


def _choose(rng: np.random.Generator, table: dict[int, float]) -> int:
    keys = list(table)
    return int(keys[rng.choice(len(keys), p=np.array(list(table.values())) / sum(table.values()))])


def is_empty(seed: int, split: str, index: int, empty_share: float) -> bool:
    """Whether scene `index` holds no event. Drawn from a generator of its own, so the other scenes are the
    same whatever the share."""
    return empty_share > 0 and np.random.default_rng([seed, SPLIT_CODES[split], index, 1]).random() < empty_share


def plan_empty(sources: Sources, split: str, index: int, seed: int) -> Scene:
    """A scene without events: digital silence, or a noise bed alone ("level_db" instead of "snr_db")."""
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index, 2])
    noise = None
    if rng.random() >= SILENT_SHARE and sources.noise:
        colors = sorted(sources.noise)
        noise = {"color": colors[int(rng.integers(len(colors)))],
                 "level_db": round(float(rng.uniform(*EMPTY_NOISE_DB)), 1)}
    return Scene(f"{split}_{index:06d}", split, [], noise, None, rng)


def plan_scene(sources: Sources, split: str, index: int, seed: int,
               forced: list[tuple[str, int]] | None = None, settings: dict[str, Any] | None = None,
               empty_share: float = 0.0) -> Scene:
    """Draw a scene. To compose a given one (the bundled examples): `forced` = [(category or recording id,
    count)], and `settings` may set "noise" and "reverb" (None for none). `empty_share`: the probability
    of a scene without events (`plan_empty`)."""
    if not forced and is_empty(seed, split, index, empty_share):
        return plan_empty(sources, split, index, seed)
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
    pool = sources.pool(split)
    cats = sorted(pool)
    if forced:
        chosen = [sources.recordings[c].category if c in sources.recordings else c for c, _ in forced]
    else:
        n = min(_choose(rng, EVENTS_P), len(cats))
        w = np.array([SPEECH_WEIGHT if sources.categories[c]["kind"] == "speech" else 1.0 for c in cats])
        chosen = [cats[i] for i in rng.choice(len(cats), size=n, replace=False, p=w / w.sum())]
    events: list[Event] = []
    for j, cat in enumerate(chosen):
        packages = sorted(pool[cat])
        # Package first, then recording: Asterisk's 400 prompts must not drown the synthetic voices.
        recs = pool[cat][packages[int(rng.integers(len(packages)))]]
        if forced and sources.categories[cat]["kind"] == "speech":
            recs = [r for r in recs if r.transcript and len(r.transcript.split()) <= QUOTE_WORDS] or recs
        rec = recs[int(rng.integers(len(recs)))]
        if forced and forced[j][0] in sources.recordings:
            rec = sources.recordings[forced[j][0]]
            if rec.split != ("eval" if split in ("eval", "example") else "train"):
                raise SystemExit(f"{rec.id} is a {rec.split} recording; it cannot be used in a {split} scene")
        if any(e.rec.the == rec.the for e in events):
            continue  # two events both "the person" would make questions ambiguous
        speed = 1.0 if rng.random() < 0.4 else float(rng.uniform(0.9, 1.12))
        audio = resample(rec.audio, (SR / rec.sr) / speed)
        count = 1
        if rec.countable:
            count = forced[j][1] if forced else _choose(rng, COUNT_P)
        ev = Event(rec, count, speed, float(rng.uniform(*LEVEL_DB)), audio=audio)
        ev.quoted = bool(rec.transcript and len(rec.transcript.split()) <= QUOTE_WORDS and rng.random() < 0.9)
        if forced and rec.transcript and len(rec.transcript.split()) <= QUOTE_WORDS:
            ev.quoted = True
        ev.say_once = bool(rec.countable and count == 1 and rng.random() < 0.3)
        events.append(ev)

    def layout(ev: Event) -> list[float]:
        """Onsets of the repetitions relative to the first, spaced by the call (up to 1 s) plus a pause."""
        dur = len(ev.audio) / SR
        t, out = 0.0, [0.0]
        for _ in range(ev.count - 1):
            t += min(dur, 1.0) + float(rng.uniform(0.15, 0.45))
            out.append(t)
        return out

    rel = [layout(e) for e in events]
    spans = [r[-1] + len(e.audio) / SR for e, r in zip(events, rel)]
    # Fit 10 s: fewer repetitions first, then fewer events.
    while sum(spans) + MIN_GAP * (len(events) - 1) + 0.2 > SCENE_SECONDS:
        counts = [e.count for e in events]
        if max(counts) > 1:
            k = int(np.argmax(counts))
            events[k].count -= 1
            rel[k] = rel[k][: events[k].count]
            spans[k] = rel[k][-1] + len(events[k].audio) / SR
        elif len(events) > 1:
            events.pop(), rel.pop(), spans.pop()
        else:
            break
    slack = max(0.0, SCENE_SECONDS - 0.2 - sum(spans) - MIN_GAP * (len(events) - 1))
    parts = rng.dirichlet(np.ones(len(events) + 1)) * slack
    t = 0.1 + parts[0]
    for k, ev in enumerate(events):
        ev.onsets = [round(t + o, 3) for o in rel[k]]
        ev.offset = round(t + spans[k], 3)
        t += spans[k] + MIN_GAP + parts[k + 1]

    noise = None
    if rng.random() < 0.7 and sources.noise:
        colors = sorted(sources.noise)
        noise = {"color": colors[int(rng.integers(len(colors)))], "snr_db": round(float(rng.uniform(8, 35)), 1)}
    reverb = None
    if rng.random() < 0.3:
        reverb = {"rt60": round(float(rng.uniform(0.2, 0.9)), 2), "wet": round(float(rng.uniform(0.1, 0.4)), 2)}
    if settings:
        noise = settings.get("noise", noise)
        reverb = settings.get("reverb", reverb)
    return Scene(f"{split}_{index:06d}", split, events, noise, reverb, rng)


def render(scene: Scene, sources: Sources) -> np.ndarray:
    rng = scene.rng
    mix = np.zeros(SCENE_SAMPLES, dtype=np.float32)
    for ev in scene.events:
        gain = 10 ** ((ev.level_db - active_db(ev.audio)) / 20)
        for onset in ev.onsets:
            a = int(round(onset * SR))
            piece = ev.audio[: SCENE_SAMPLES - a] * gain * 10 ** (float(rng.uniform(-1.5, 1.5)) / 20)
            mix[a: a + len(piece)] += piece
    if scene.reverb:
        wet = convolve(mix, room_impulse(rng, scene.reverb["rt60"]))
        mix = mix + scene.reverb["wet"] * wet
    if scene.noise:
        bed = sources.noise[scene.noise["color"]]
        # Training scenes draw from the bed's first half, evaluation scenes from its second.
        half = len(bed) // 2
        seg = bed[:half] if scene.split in ("train", "eval_seen") else bed[half:]
        start = int(rng.integers(len(seg)))
        seg = np.concatenate([seg[start:], seg[::-1], seg])  # mirrored, so no click where it wraps
        seg = np.resize(seg, SCENE_SAMPLES)
        if scene.events:
            target = max(e.level_db for e in scene.events) - scene.noise["snr_db"]
        else:
            target = scene.noise["level_db"]
        rms_db = 10 * np.log10(np.mean(seg.astype(np.float64) ** 2) + 1e-12)
        mix = mix + seg * 10 ** ((target - rms_db) / 20)
    peak = float(np.abs(mix).max())
    if peak > 0.98:
        mix *= 0.98 / peak
    return mix


# ---------------------------------------------------------------------------------------------------------
# Text: captions and questions


def short_quote(text: str) -> str:
    """'Please hold.' -> 'please hold' (names of days and months, and "I", keep their capital)."""
    t = text.strip().rstrip(".!?")
    first = t.split(" ")[0].split("'")[0].rstrip(",") if t else ""
    if t and first not in KEEP_CAPITAL:
        t = t[0].lower() + t[1:]
    return t


def sentence(text: str) -> str:
    text = text.strip()
    text = text[0].upper() + text[1:] if text else text
    return text if text.endswith((".", "!", "?")) else text + "."


def cap(text: str) -> str:
    return text[0].upper() + text[1:] if text else text


def clause(ev: Event) -> str:
    """'a dog barks twice', 'a woman says 'please hold'', 'a piano plays'."""
    r = ev.rec
    if r.kind == "speech":
        return f"{r.subject} says '{short_quote(r.transcript or '')}'" if ev.quoted else f"{r.subject} speaks"
    text = f"{r.subject} {r.verb}"
    if r.countable and (ev.count > 1 or ev.say_once):
        text += " " + COUNT_WORDS[ev.count]
    return text


def gerund(ev: Event) -> str:
    """'a dog barking twice', 'a woman saying 'please hold''."""
    r = ev.rec
    if r.kind == "speech":
        return f"{r.subject} saying '{short_quote(r.transcript or '')}'" if ev.quoted else f"{r.subject} speaking"
    text = f"{r.subject} {r.gerund}"
    if r.countable and (ev.count > 1 or ev.say_once):
        text += " " + COUNT_WORDS[ev.count]
    return text


def name(phr: Recording | dict[str, Any]) -> str:
    """'a dog barking', without a count: the phrase of presence questions."""
    if isinstance(phr, Recording):
        return f"{phr.subject} {phr.gerund}"
    return f"{phr['subject']} {phr['gerund']}"


def caption(scene: Scene) -> str:
    rng, evs = scene.rng, scene.events
    if not evs:
        texts = NOISE_CAPTIONS if scene.noise else SILENCE_CAPTIONS
        return texts[int(rng.integers(len(texts)))]
    c = [clause(e) for e in evs]
    g = [gerund(e) for e in evs]
    if len(evs) == 1:
        text = [f"{c[0]}.", f"The sound of {g[0]}.", f"{cap(g[0])} can be heard."][int(rng.integers(3))]
    elif len(evs) == 2:
        text = [f"{c[0]}, then {c[1]}.", f"{c[0]}, followed by {g[1]}.", f"First {c[0]}, then {c[1]}.",
                f"{c[0]} and then {c[1]}."][int(rng.integers(4))]
    else:
        text = [", then ".join(c[:-1]) + f", and finally {c[-1]}.",
                ", then ".join(c) + ".",
                f"{c[0]}, followed by " + ", ".join(g[1:-1]) + f" and then {g[-1]}.",
                f"First {c[0]}, then " + ", then ".join(c[1:]) + "."][int(rng.integers(4))]
    if scene.noise and scene.noise["snr_db"] < 12:
        text = text[:-1] + NOISE_PHRASES[int(rng.integers(len(NOISE_PHRASES)))] + "."
    return cap(text)


def questions(scene: Scene, sources: Sources, vocabulary: list[str]) -> list[tuple[str, str, str]]:
    """(task, instruction, output) for one scene, besides the caption."""
    rng, evs = scene.rng, scene.events
    out: list[tuple[str, str, str]] = []
    if not evs:  # the tag list says what there is; two presence questions, both "No."
        out.append(("cla_label", CLASSIFY_PROMPT, "Background noise." if scene.noise else "Silence."))
        for k in rng.choice(len(vocabulary), size=min(2, len(vocabulary)), replace=False):
            other = sources.categories[vocabulary[int(k)]]
            tmpl = PRESENCE_TEMPLATES[int(rng.integers(len(PRESENCE_TEMPLATES)))]
            out.append(("qa_presence", tmpl.format(name=name(other), Is="Are" if other["plural"] else "Is"), "No."))
        return out
    labels = [sources.categories[e.rec.category]["label"] for e in evs]
    out.append(("cla_label", CLASSIFY_PROMPT, sentence(", ".join(labels))))

    # Presence: one present and one absent category, so yes and no are balanced.
    ev = evs[int(rng.integers(len(evs)))]
    present = {e.rec.category for e in evs}
    absent = [c for c in vocabulary if c not in present]
    qa = [(name(ev.rec), ev.rec.plural, "Yes.")]
    if absent:
        other = sources.categories[absent[int(rng.integers(len(absent)))]]
        qa.append((name(other), bool(other["plural"]), "No."))
    for k in rng.permutation(len(qa)):
        tmpl = PRESENCE_TEMPLATES[int(rng.integers(len(PRESENCE_TEMPLATES)))]
        phrase, plural, answer = qa[k]
        out.append(("qa_presence", tmpl.format(name=phrase, Is="Are" if plural else "Is"), answer))

    countable = [e for e in evs if e.rec.countable]
    if countable:
        e = countable[int(rng.integers(len(countable)))]
        tmpl = COUNT_TEMPLATES[int(rng.integers(len(COUNT_TEMPLATES)))]
        q = tmpl.format(does="do" if e.rec.plural else "does", the=e.rec.the, base=e.rec.base)
        out.append(("qa_count", q, COUNT_ANSWERS[e.count]))

    if len(evs) >= 2:
        kind = int(rng.integers(4))
        if kind == 0:
            out.append(("qa_order", "What happens first?", sentence(clause(evs[0]))))
        elif kind == 1:
            out.append(("qa_order", "What is the last sound?", sentence(gerund(evs[-1]))))
        elif kind == 2:
            i = int(rng.integers(len(evs) - 1))
            out.append(("qa_order", f"What happens after {evs[i].rec.the} {evs[i].rec.verb}?",
                        sentence(clause(evs[i + 1]))))
        else:
            i = 1 + int(rng.integers(len(evs) - 1))
            out.append(("qa_order", f"What do you hear before {evs[i].rec.the} {evs[i].rec.verb}?",
                        sentence(clause(evs[i - 1]))))

    speech = [e for e in evs if e.rec.kind == "speech" and e.rec.transcript]
    if speech:
        e = speech[int(rng.integers(len(speech)))]
        q = f"What does {e.rec.the} say?"
        if len(speech) == 1 and rng.random() < 0.3:
            q = "What is said in the audio?"
        out.append(("qa_speech", q, sentence(e.rec.transcript or "")))

    pairs = [(a, b) for i, a in enumerate(evs) for b in evs[i + 1:] if abs(a.level_db - b.level_db) >= LOUDER_DB]
    if pairs:
        a, b = pairs[int(rng.integers(len(pairs)))]
        if rng.random() < 0.5:
            a, b = b, a
        louder = a if a.level_db > b.level_db else b
        # "the person" (clapping, crunching) says too little to answer with; those get the longer form.
        if rng.random() < 0.5 and "the person" not in (a.rec.the, b.rec.the):
            out.append(("qa_loudness", f"Which is louder, {a.rec.the} or {b.rec.the}?", sentence(louder.rec.the)))
        else:
            out.append(("qa_loudness", f"Which sound is louder: {name(a.rec)} or {name(b.rec)}?",
                        sentence(name(louder.rec))))
    return out


# ---------------------------------------------------------------------------------------------------------
# Building


def scene_meta(scene: Scene, audio_id: str, text: str) -> dict[str, Any]:
    return {
        "id": scene.id, "split": scene.split, "audio_id": audio_id, "seconds": SCENE_SECONDS, "caption": text,
        "events": [{
            "category": e.rec.category, "recording": e.rec.id, "package": e.rec.package, "holdout": e.rec.holdout,
            "onset": e.onsets[0], "offset": e.offset, "onsets": e.onsets, "count": e.count,
            "countable": e.rec.countable, "level_db": round(e.level_db, 1), "speed": round(e.speed, 3),
            "subject": e.rec.subject, "the": e.rec.the, **({"transcript": e.rec.transcript, "gender": e.rec.gender}
                                                          if e.rec.kind == "speech" else {}),
        } for e in scene.events],
        "noise": scene.noise, "reverb": scene.reverb,
    }


def make_scene(sources: Sources, out: Path, split: str, index: int, seed: int, vocabulary: list[str],
               forced: list[tuple[str, int]] | None = None, settings: dict[str, Any] | None = None,
               wav_path: Path | None = None, empty_share: float = 0.0) -> tuple[dict[str, Any], list[dict[str, str]]]:
    scene = plan_scene(sources, split, index, seed, forced, settings, empty_share)
    audio = render(scene, sources)
    text = caption(scene)
    qa = questions(scene, sources, vocabulary)
    if wav_path is None:
        wav_path = out / "audio" / split / f"{scene.id}.wav"
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(wav_path, audio)
    audio_id = wav_path.relative_to(out).as_posix() if wav_path.is_relative_to(out) else str(wav_path)
    records = [{"instruction": DESCRIBE_PROMPT, "input": "", "output": text, "audio_id": audio_id,
                "dataset": DATASET, "task": "caption"}]
    records += [{"instruction": q, "input": "", "output": a, "audio_id": audio_id, "dataset": DATASET, "task": t}
                for t, q, a in qa]
    return scene_meta(scene, audio_id, text), records


def json_lines(items: list[Any]) -> str:
    """A JSON list with one item a line: compact, yet readable and diffable."""
    return "[\n" + ",\n".join(json.dumps(x, ensure_ascii=False) for x in items) + "\n]\n"


_WORKER: dict[str, Any] = {}


def _init_worker(sources_dir: str, out: str, seed: int, vocabulary: list[str], empty_share: float) -> None:
    _WORKER.update(sources=load_sources(sources_dir), out=Path(out), seed=seed, vocabulary=vocabulary,
                   empty_share=empty_share)


def _work(job: tuple[str, int]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    split, index = job
    return make_scene(_WORKER["sources"], _WORKER["out"], split, index, _WORKER["seed"], _WORKER["vocabulary"],
                      empty_share=_WORKER["empty_share"])


def event_vocabulary(sources: Sources) -> list[str]:
    """Categories a training scene can hold: the names a model can learn, so the absent ones asked about."""
    return sorted(sources.pool("train"))


def build(sources_dir: str | Path, out: str | Path, num_train: int, num_eval: int, num_eval_seen: int = 0,
          seed: int = 0, workers: int = 1, empty_share: float = 0.0) -> dict[str, int]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources = load_sources(sources_dir)
    vocabulary = event_vocabulary(sources)
    jobs = ([("train", i) for i in range(num_train)] + [("eval", i) for i in range(num_eval)]
            + [("eval_seen", i) for i in range(num_eval_seen)])
    t0 = time.time()
    if workers > 1:
        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ctx.Pool(workers, initializer=_init_worker,
                      initargs=(str(sources_dir), str(out), seed, vocabulary, empty_share)) as pool:
            results = pool.map(_work, jobs, chunksize=16)
    else:
        results = [make_scene(sources, out, s, i, seed, vocabulary, empty_share=empty_share) for s, i in jobs]
    by_split: dict[str, list[dict[str, str]]] = {"train": [], "eval": [], "eval_seen": []}
    metas = []
    for meta, records in results:
        by_split[meta["split"]] += records
        metas.append(meta)
    for split, records in by_split.items():
        if split == "eval_seen" and not num_eval_seen:
            continue
        (out / f"{split}.json").write_text(json_lines(records))
    cats = {c: {k: v for k, v in info.items()} for c, info in sources.categories.items() if info["kind"] != "noise"}
    meta_doc = {"dataset": DATASET, "seed": seed, "empty_share": empty_share, "sample_rate": SR, "seconds": SCENE_SECONDS,
                "sources": str(sources_dir), "vocabulary": vocabulary, "categories": cats, "scenes": metas}
    scenes = meta_doc.pop("scenes")
    head = json.dumps(meta_doc, ensure_ascii=False)[:-1]
    (out / "scenes_meta.json").write_text(head + ', "scenes": ' + json_lines(scenes)[:-1] + "}\n")
    counts = {s: len(r) for s, r in by_split.items()}
    print(f"built {len(jobs)} scenes in {time.time() - t0:.0f} s -> {out} (records: {counts})", file=sys.stderr)
    return counts


# =========================================================================================================
# Clips (--mode clips): clips shaped like what users have, windowed exactly as `sam describe` windows them.
#
# A clip is one of five types (single event, scene, ambience, speech, empty), 0.3 s to minutes long. It is
# rendered whole at 16 kHz (events, room, noise or a real ambience bed, then what a recording chain does to
# it: gain, an 8-/11-kHz original, a telephone band, a low-bitrate codec), then cut into 10.24-s windows as
# sam_cli.audio.split_windows cuts a file: consecutive, non-overlapping, the last one shorter. Each window
# is one training example, written as exactly the samples of that window: `sam train` (sam_cli/train/
# data.py) computes `fbank(load_audio(path))`, which pads a short clip's features with zero rows and crops
# a long one to its first 1024 frames, exactly what `sam describe` does to the last window of a file. So a
# 1-s event is a 1-s file (the model sees 1 s of sound and 9.24 s of padding, captioned as one event), and
# a 25-s clip gives three files (10.24 s, 10.24 s, 4.52 s), each captioned with what is in that window.

WINDOW_SECONDS = 10.24  # sam_cli.audio.WINDOW_SECONDS (tests/test_scenes.py checks it against sam_cli)
WINDOW_SAMPLES = round(WINDOW_SECONDS * SR)  # sam_cli.audio._window_samples
CLIP_TYPES = ("single", "scene", "ambience", "speech", "empty")
DEFAULT_MIX = {"single": 0.30, "scene": 0.22, "ambience": 0.12, "speech": 0.28, "empty": 0.08}
# Lengths: short 0.3-5 s (most real clips of one sound), medium 5-10 s, ten (10 or 10.24 s, as AudioCaps and
# the old scenes), long (one window more, up to --max-seconds; log-uniform, so most are under a minute).
DEFAULT_LENGTHS = {"short": 0.45, "medium": 0.12, "ten": 0.33, "long": 0.10}
DEFAULT_RATES = {8000: 0.15, 11025: 0.10, 16000: 0.45, 22050: 0.12, 44100: 0.18}
EMPTY_SILENT_SHARE = SILENT_SHARE
IN_SHARE, IN_SECONDS = 0.5, 1.0  # an occurrence cut by a window edge counts there if this much of it is in
CLIP_LEVEL_DB = (-34.0, -14.0)  # active level of an event before the clip's gain
GAIN_DB = (-14.0, 8.0)  # the clip's overall gain (then limited to a peak of 0.98)
EVENTS_IN_AMBIENCE_P = {0: 0.35, 1: 0.40, 2: 0.20, 3: 0.05}
SPEECH_IN_SCENE_WEIGHT = 2.0  # a speech category is this much more likely than another in a scene
TELEPHONE_BAND = (300.0, 3400.0)

LANGUAGES = {
    "en": "English", "fr": "French", "es": "Spanish", "it": "Italian", "de": "German", "pt": "Portuguese",
    "ru": "Russian", "ro": "Romanian", "ca": "Catalan", "bg": "Bulgarian", "be": "Belarusian", "el": "Greek",
    "da": "Danish", "lt": "Lithuanian", "nl": "Dutch", "sv": "Swedish", "nb": "Norwegian", "no": "Norwegian",
    "nn": "Norwegian", "fi": "Finnish", "pl": "Polish", "cs": "Czech", "sk": "Slovak", "sl": "Slovenian",
    "hr": "Croatian", "sr": "Serbian", "bs": "Bosnian", "uk": "Ukrainian", "hu": "Hungarian", "et": "Estonian",
    "lv": "Latvian", "tr": "Turkish", "eu": "Basque", "gl": "Galician", "ga": "Irish", "cy": "Welsh",
    "is": "Icelandic", "eo": "Esperanto", "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "ar": "Arabic",
    "he": "Hebrew", "fa": "Persian", "hi": "Hindi", "vi": "Vietnamese", "th": "Thai", "id": "Indonesian",
    "ms": "Malay", "af": "Afrikaans", "sq": "Albanian", "mk": "Macedonian", "ka": "Georgian", "hy": "Armenian",
    "ta": "Tamil", "bn": "Bengali", "ur": "Urdu", "sw": "Swahili", "oc": "Occitan", "br": "Breton",
    "wa": "Walloon", "gd": "Scottish Gaelic", "fy": "Frisian", "lb": "Luxembourgish", "mt": "Maltese",
}
# Transcripts are quoted only in languages written in the Latin alphabet (the tokenizer's world, and words
# a reader of the caption can check); elsewhere the caption names the language and not the words.
QUOTE_LANGUAGES = frozenset({
    "en", "fr", "es", "it", "de", "pt", "ro", "ca", "da", "lt", "nl", "sv", "nb", "no", "nn", "fi", "pl", "cs",
    "sk", "sl", "hr", "bs", "hu", "et", "lv", "tr", "eu", "gl", "ga", "cy", "is", "eo", "id", "ms", "af", "sq",
    "oc", "br", "wa", "gd", "fy", "lb", "mt"})
SPEECH_WORDS = ("speak", "speaks", "speaking", "talk", "talks", "talking", "say", "says", "saying", "said",
                "speech", "voice", "voices", "conversation", "converse", "chat", "chatting", "whisper", "whispers",
                "shout", "shouts", "announce", "announces", "narrates", "reads", "sing", "sings")


def language_code(code: str | None) -> str | None:
    """'pt_BR' / 'pt-BR' -> 'pt'."""
    return re.split(r"[-_]", code)[0].lower() if code else None


def language_name(code: str | None) -> str | None:
    return LANGUAGES.get(language_code(code) or "")


@dataclass
class ClipOptions:
    """What --mode clips draws; the defaults are the flags' defaults."""

    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    lengths: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LENGTHS))
    max_seconds: float = 120.0
    rates: dict[int, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    noise_share: float = 0.5  # a noise bed (sox recordings, or numpy coloured noise) at 0-35 dB SNR
    bed_share: float = 0.15  # a real ambience under a single event, scene or speech clip
    reverb_share: float = 0.3
    telephone_share: float = 0.05  # doubled for speech clips
    codec_share: float = 0.12
    codecs: tuple[str, ...] = ("mp3", "ogg")
    speed_share: float = 0.5
    pitch_share: float = 0.12
    two_speakers: float = 0.35  # of speech clips
    quote_languages: frozenset[str] = QUOTE_LANGUAGES

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["rates"] = {str(k): v for k, v in self.rates.items()}
        d["codecs"] = list(self.codecs)
        d["quote_languages"] = sorted(self.quote_languages)
        return d


def _draw(rng: np.random.Generator, table: dict[Any, float]) -> Any:
    keys = [k for k, v in table.items() if v > 0]
    p = np.array([table[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


# ---------------------------------------------------------------------------------------------------------
# Signal processing for clips


def fast_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: FFT sizes that pocketfft does fast (a prime size is many times slower)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def band_limit(x: np.ndarray, high: float, low: float = 0.0) -> np.ndarray:
    """Keep low..high Hz (cosine transitions 10% of the edge wide): what an original at a rate of 2*high Hz,
    or a telephone line, leaves of a 16-kHz signal. Zero padding keeps the FFT's wrap-around out."""
    if len(x) == 0:
        return x
    pad = 2048
    n = fast_length(len(x) + 2 * pad)
    spec = np.fft.rfft(np.pad(x.astype(np.float64), (pad, n - len(x) - pad)))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    gain = np.ones_like(f)
    w = 0.1 * high
    gain[f >= high] = 0.0
    band = (f > high - w) & (f < high)
    gain[band] = 0.5 + 0.5 * np.cos(np.pi * (f[band] - (high - w)) / w)
    if low > 0:
        wl = 0.5 * low
        gain[f <= low - wl] = 0.0
        band = (f > low - wl) & (f < low)
        gain[band] = 0.5 - 0.5 * np.cos(np.pi * (f[band] - (low - wl)) / wl)
    return np.fft.irfft(spec * gain, n)[pad: pad + len(x)].astype(np.float32)


def time_stretch(x: np.ndarray, rate: float, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Phase vocoder: the same pitch, duration / rate."""
    if len(x) < 2 * n_fft or rate == 1.0:
        return x.astype(np.float32, copy=True)
    win = np.hanning(n_fft)
    xp = np.pad(x.astype(np.float64), (n_fft // 2, n_fft))
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop] * win
    spec = np.fft.rfft(frames, axis=1)
    steps = np.arange(0.0, spec.shape[0] - 1, rate)
    idx = steps.astype(int)
    frac = (steps - idx)[:, None]
    mag = (1 - frac) * np.abs(spec[idx]) + frac * np.abs(spec[idx + 1])
    omega = 2 * np.pi * hop * np.arange(spec.shape[1]) / n_fft
    dphi = np.angle(spec[1:]) - np.angle(spec[:-1]) - omega
    dphi -= 2 * np.pi * np.round(dphi / (2 * np.pi))
    advance = omega + dphi[idx]
    phase = np.angle(spec[0]) + np.concatenate([np.zeros((1, spec.shape[1])), np.cumsum(advance[:-1], axis=0)])
    out_frames = np.fft.irfft(mag * np.exp(1j * phase), n_fft, axis=1) * win
    n_out = hop * (len(steps) - 1) + n_fft
    y = np.zeros(n_out)
    norm = np.zeros(n_out)
    for k in range(len(steps)):
        y[k * hop: k * hop + n_fft] += out_frames[k]
        norm[k * hop: k * hop + n_fft] += win ** 2
    y = y / np.maximum(norm, 1e-3)
    start = n_fft // 2
    return y[start: start + int(round(len(x) / rate))].astype(np.float32)


def pitch_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """Pitch up by `semitones` (down if negative), duration kept (within a few samples)."""
    f = 2.0 ** (semitones / 12.0)
    return resample(time_stretch(x, 1.0 / f), 1.0 / f)


def colored_noise(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise of unit RMS, for sources folders without sox noise beds."""
    x = rng.standard_normal(n + 64)
    if color != "white":
        spec = np.fft.rfft(x)
        f = np.fft.rfftfreq(len(x), 1.0 / SR)
        f[0] = f[1]
        spec /= f ** (0.5 if color == "pink" else 1.0)
        x = np.fft.irfft(spec, len(x))
    x = x[32: 32 + n]
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def loop_to(x: np.ndarray, n: int, start: int, fade_n: int = SR // 2) -> np.ndarray:
    """n samples of `x` from `start`, looped with cross-fades where it wraps (ambience and noise beds)."""
    if len(x) == 0:
        return np.zeros(n, dtype=np.float32)
    y = x[start % len(x):]
    fade_n = min(fade_n, len(x) // 4)
    while len(y) < n:
        f = min(fade_n, len(y))
        if f:
            ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
            y = np.concatenate([y[:-f], y[-f:] * ramp[::-1] + x[:f] * ramp, x[f:]])
        else:
            y = np.concatenate([y, x])
    return y[:n].astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12)) if len(x) else -120.0


_CODEC_SUPPORT: dict[str, bool] = {}


def codec_available(name: str) -> bool:
    """Whether this machine can encode `name` (mp3: libsndfile >= 1.1 through soundfile, else ffmpeg; ogg:
    libsndfile's Vorbis)."""
    if name not in _CODEC_SUPPORT:
        ok = False
        try:
            import soundfile as sf
            fmt = {"mp3": ("MP3", "MPEG_LAYER_III"), "ogg": ("OGG", "VORBIS"), "opus": ("OGG", "OPUS")}[name]
            ok = fmt[0] in sf.available_formats() and fmt[1] in sf.available_subtypes(fmt[0])
            if ok:
                encode_decode(np.zeros(SR // 10, np.float32), name, 0.5)
        except Exception:
            ok = False
        if not ok and name == "mp3":
            import shutil
            ok = shutil.which("ffmpeg") is not None
        _CODEC_SUPPORT[name] = ok
    return _CODEC_SUPPORT[name]


def encode_decode(x: np.ndarray, codec: str, level: float) -> np.ndarray:
    """`x` through a lossy codec at 16 kHz and back, same length. level 0..1: 1 is the lowest bitrate
    (libsndfile's compression level; at 16 kHz mono, mp3 ~20-40 kbit/s, Vorbis ~30-50)."""
    import io

    import soundfile as sf
    fmt = {"mp3": ("MP3", "MPEG_LAYER_III"), "ogg": ("OGG", "VORBIS"), "opus": ("OGG", "OPUS")}[codec]
    try:
        buf = io.BytesIO()
        # libsndfile 1.2's MP3 encoder refuses a level of exactly 1.0 (0.999 is its lowest bitrate already);
        # without the clamp such clips fell back to ffmpeg, which the GPU machine does not have.
        sf.write(buf, x.astype(np.float32), SR, format=fmt[0], subtype=fmt[1], compression_level=min(level, 0.999))
        buf.seek(0)
        y, _ = sf.read(buf, dtype="float32")
    except (RuntimeError, TypeError, ValueError):
        if codec != "mp3":
            raise
        y = _ffmpeg_mp3(x, int(round(64 - 40 * level)))
    if y.ndim > 1:
        y = y.mean(axis=1)
    out = np.zeros(len(x), dtype=np.float32)
    out[: min(len(x), len(y))] = y[: len(x)]
    return out


def _ffmpeg_mp3(x: np.ndarray, kbps: int) -> np.ndarray:
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        wav, mp3 = Path(tmp) / "a.wav", Path(tmp) / "a.mp3"
        write_wav(wav, x)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-b:a", f"{kbps}k", str(mp3)], check=True)
        res = subprocess.run(["ffmpeg", "-v", "error", "-i", str(mp3), "-f", "s16le", "-ac", "1", "-ar", str(SR),
                              "-"], check=True, capture_output=True)
    return np.frombuffer(res.stdout, dtype="<i2").astype(np.float32) / 32768.0


# ---------------------------------------------------------------------------------------------------------
# Clip plans: everything random is drawn here, from one generator per clip


@dataclass
class Placed:
    """A recording placed in a clip: occurrences at `onsets` (clip seconds), each `audio` long."""

    rec: Recording
    audio: np.ndarray  # one occurrence at SR, after speed and pitch
    onsets: list[float]
    level_db: float  # active level before the clip's gain
    speed: float = 1.0
    pitch: float = 0.0
    quoted: bool = False  # speech: the caption quotes the transcript
    say_once: bool = False

    @property
    def dur(self) -> float:
        return len(self.audio) / SR


@dataclass
class Clip:
    id: str
    split: str
    type: str
    seconds: float
    events: list[Placed]
    bed: dict[str, Any] | None  # {"rec": Recording (ambience), "start": sample, "snr_db" or "level_db"}
    noise: dict[str, Any] | None  # {"color", "snr_db" or "level_db"}
    reverb: dict[str, Any] | None
    degrade: dict[str, Any]
    rng: np.random.Generator
    length_class: str = ""


class Pools:
    """The recordings one split may use, indexed for drawing."""

    def __init__(self, sources: Sources, split: str):
        want = "eval" if split in ("eval", "example") else "train"
        self.events: dict[str, dict[str, list[Recording]]] = {}
        self.speech: dict[str, dict[str, list[Recording]]] = {}  # language -> voice -> utterances
        for r in sorted(sources.recordings.values(), key=lambda r: r.id):
            if r.split != want or r.kind == "noise":
                continue
            self.events.setdefault(r.category, {}).setdefault(r.package, []).append(r)
            if r.kind == "speech":
                lang = language_code(r.language) or "?"
                self.speech.setdefault(lang, {}).setdefault(r.voice or r.id, []).append(r)
        self.ambiences = sorted((r for r in sources.ambiences.values() if r.split == want), key=lambda r: r.id)
        self.categories = sorted(self.events)
        self.nonspeech = [c for c in self.categories if sources.categories[c]["kind"] != "speech"]
        self.languages = sorted(self.speech)


_POOLS: dict[tuple[int, str], Pools] = {}


def pools_for(sources: Sources, split: str) -> Pools:
    key = (id(sources), "eval" if split in ("eval", "example") else "train")
    if key not in _POOLS:
        _POOLS[key] = Pools(sources, split)
    return _POOLS[key]


def draw_length(rng: np.random.Generator, opts: ClipOptions) -> tuple[str, float]:
    cls = _draw(rng, opts.lengths)
    if cls == "short":
        return cls, float(np.exp(rng.uniform(np.log(0.3), np.log(5.0))))
    if cls == "medium":
        return cls, float(rng.uniform(5.0, 10.0))
    if cls == "ten":
        return cls, 10.0 if rng.random() < 0.6 else WINDOW_SECONDS
    top = max(opts.max_seconds, WINDOW_SECONDS + 0.5)
    return cls, float(np.exp(rng.uniform(np.log(WINDOW_SECONDS + 0.3), np.log(top))))


def draw_recording(rng: np.random.Generator, pools: Pools, cat: str) -> Recording:
    """Package first, then recording (one package's hundreds must not drown another's few)."""
    packages = sorted(pools.events[cat])
    recs = pools.events[cat][packages[int(rng.integers(len(packages)))]]
    return recs[int(rng.integers(len(recs)))]


def prepare(rec: Recording, rng: np.random.Generator, opts: ClipOptions, level: float | None = None) -> Placed:
    """One occurrence of `rec` at SR, with its speed (resampling: tempo and pitch together) and pitch."""
    speech = rec.kind == "speech"
    speed = 1.0
    if rng.random() < opts.speed_share:
        speed = float(rng.uniform(0.93, 1.08) if speech else rng.uniform(0.88, 1.14))
    audio = resample(rec.audio, (SR / rec.sr) / speed)
    pitch = 0.0
    if rng.random() < opts.pitch_share and len(audio) < 12 * SR:
        pitch = float(rng.uniform(-1.5, 1.5) if speech else rng.uniform(-3.0, 3.0))
        audio = pitch_shift(audio, pitch)
    lvl = float(rng.uniform(*CLIP_LEVEL_DB)) if level is None else level
    ev = Placed(rec, audio, [], lvl, round(speed, 3), round(pitch, 2))
    ev.quoted = bool(speech and rec.transcript and len(rec.transcript.split()) <= QUOTE_WORDS
                     and (language_code(rec.language) or "en") in opts.quote_languages and rng.random() < 0.85)
    return ev


def crop(ev: Placed, seconds: float) -> None:
    """Cut a long occurrence to `seconds` with a 0.2-s fade-out (never speech: its words would change)."""
    n = int(seconds * SR)
    if len(ev.audio) > n and ev.rec.kind != "speech":
        y = ev.audio[:n].copy()
        f = min(len(y) // 2, int(0.2 * SR))
        if f:
            y[-f:] *= np.linspace(1.0, 0.0, f, dtype=np.float32)
        ev.audio = y


def repetitions(ev: Placed, count: int, rng: np.random.Generator) -> list[float]:
    """Onsets of `count` repetitions relative to the first, spaced by the call (up to 1 s) plus a pause."""
    t, out = 0.0, [0.0]
    for _ in range(count - 1):
        t += min(ev.dur, 1.0) + float(rng.uniform(0.15, 0.45))
        out.append(t)
    return out


def lay_out(evs: list[Placed], counts: list[int], start: float, length: float, rng: np.random.Generator,
            gap: float = MIN_GAP, margin: float = 0.1) -> list[Placed]:
    """Place events one after another in [start, start + length): fewer repetitions first, then fewer events
    until they fit; the slack is shared at random between the gaps. Returns the events kept."""
    evs, counts = list(evs), list(counts)
    rel = [repetitions(e, c, rng) for e, c in zip(evs, counts)]
    spans = [r[-1] + e.dur for e, r in zip(evs, rel)]
    while evs and sum(spans) + gap * (len(evs) - 1) + 2 * margin > length:
        if max(counts) > 1:
            k = int(np.argmax(counts))
            counts[k] -= 1
            rel[k] = rel[k][: counts[k]]
            spans[k] = rel[k][-1] + evs[k].dur
        elif len(evs) > 1:
            evs.pop(), counts.pop(), rel.pop(), spans.pop()
        else:
            return []
    if not evs:
        return []
    slack = max(0.0, length - 2 * margin - sum(spans) - gap * (len(evs) - 1))
    parts = rng.dirichlet(np.ones(len(evs) + 1)) * slack
    t = start + margin + parts[0]
    for k, ev in enumerate(evs):
        ev.onsets = [float(round(t + o, 4)) for o in rel[k]]
        t += spans[k] + gap + parts[k + 1]
    return evs


def draw_events(rng: np.random.Generator, sources: Sources, pools: Pools, opts: ClipOptions, n: int,
                avoid: set[str] = frozenset()) -> list[Placed]:
    """n events of distinct categories (and distinct "the ..." phrases, so questions stay unambiguous)."""
    cats = [c for c in pools.categories if c not in avoid]
    if not cats:
        return []
    w = np.array([SPEECH_IN_SCENE_WEIGHT if sources.categories[c]["kind"] == "speech" else 1.0 for c in cats])
    chosen = [cats[i] for i in rng.choice(len(cats), size=min(n, len(cats)), replace=False, p=w / w.sum())]
    out: list[Placed] = []
    for cat in chosen:
        rec = draw_recording(rng, pools, cat)
        if any(e.rec.the == rec.the for e in out):
            continue
        out.append(prepare(rec, rng, opts))
    return out


def counts_for(evs: list[Placed], rng: np.random.Generator) -> list[int]:
    counts = [_choose(rng, COUNT_P) if e.rec.countable else 1 for e in evs]
    for e, c in zip(evs, counts):
        e.say_once = bool(e.rec.countable and c == 1 and rng.random() < 0.3)
    return counts


def window_ranges(seconds: float) -> list[tuple[float, float]]:
    """[(start, end)] in seconds of the windows split_windows makes of a clip this long."""
    n = int(round(seconds * SR))
    return [(s / SR, min(s + WINDOW_SAMPLES, n) / SR) for s in range(0, max(n, 1), WINDOW_SAMPLES)]


def plan_clip(sources: Sources, split: str, index: int, seed: int, opts: ClipOptions,
              force_type: str | None = None) -> Clip:
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index, 7])
    pools = pools_for(sources, split)
    ctype = force_type or _draw(rng, opts.mix)
    if ctype == "ambience" and not pools.ambiences:
        ctype = "scene"
    if ctype == "speech" and not pools.speech:
        ctype = "single"
    if ctype in ("single", "scene") and not pools.categories:
        ctype = "empty"
    if ctype == "single" and not pools.nonspeech:
        ctype = "scene"
    cls, length = draw_length(rng, opts)
    clip = Clip(f"{split}_{index:06d}", split, ctype, length, [], None, None, None, {}, rng, cls)
    {"single": _plan_single, "scene": _plan_scene, "ambience": _plan_ambience, "speech": _plan_speech,
     "empty": _plan_empty}[ctype](clip, sources, pools, opts)
    _plan_background(clip, sources, pools, opts)
    _plan_degrade(clip, opts)
    clip.seconds = float(round(clip.seconds, 4))
    return clip


def _short_length(rng: np.random.Generator, content: float) -> tuple[float, float]:
    """(clip length, lead): a clip cut tightly around its content, up to 0.4 s before and after, 0.3 s at least."""
    lead = float(rng.uniform(0.0, 0.4)) if rng.random() < 0.7 else 0.0
    tail = float(rng.uniform(0.0, 0.4)) if rng.random() < 0.7 else 0.0
    return max(0.3, lead + content + tail), lead


def _plan_single(clip: Clip, sources: Sources, pools: Pools, opts: ClipOptions) -> None:
    rng = clip.rng
    cat = pools.nonspeech[int(rng.integers(len(pools.nonspeech)))]
    rec = draw_recording(rng, pools, cat)
    ev = prepare(rec, rng, opts)
    count = counts_for([ev], rng)[0]
    if clip.length_class == "short":
        crop(ev, max(0.3, clip.seconds))
        while count > 1 and repetitions(ev, count, rng)[-1] + ev.dur > max(clip.seconds, ev.dur):
            count -= 1
        rel = repetitions(ev, count, rng)
        clip.seconds, lead = _short_length(rng, rel[-1] + ev.dur)
        ev.onsets = [float(round(lead + o, 4)) for o in rel]
        clip.events = [ev]
    elif clip.length_class in ("medium", "ten") or ev.dur > WINDOW_SECONDS:
        # One window (or a long recording played once across windows, cut where the clip ends).
        crop(ev, clip.seconds - 0.2)
        if ev.dur > WINDOW_SECONDS:
            ev.onsets = [float(round(float(rng.uniform(0.0, max(0.0, clip.seconds - ev.dur - 0.1))), 4))]
            clip.events = [ev]
        else:
            clip.events = lay_out([ev], [count], 0.0, clip.seconds, rng)
    else:  # long: the same recording again in some windows, a call or a few each time
        wins = window_ranges(clip.seconds)
        use = [rng.random() < 0.6 for _ in wins]
        use[int(rng.integers(len(wins)))] = True
        for (a, b), on in zip(wins, use):
            if on and b - a > ev.dur + 0.3:
                e = Placed(ev.rec, ev.audio, [], float(ev.level_db + rng.uniform(-4, 4)), ev.speed, ev.pitch)
                e.say_once = bool(rec.countable and rng.random() < 0.3)
                clip.events += lay_out([e], [_choose(rng, COUNT_P) if rec.countable else 1], a, b - a, rng)


def _plan_scene(clip: Clip, sources: Sources, pools: Pools, opts: ClipOptions) -> None:
    rng = clip.rng
    if clip.length_class == "short":
        clip.seconds = float(rng.uniform(2.0, 5.0))
    for a, b in window_ranges(clip.seconds):
        if clip.seconds > WINDOW_SECONDS and rng.random() < 0.15:
            continue  # a long recording has quiet stretches
        evs = draw_events(rng, sources, pools, opts, _choose(rng, EVENTS_P))
        for e in evs:
            crop(e, 6.0)
        clip.events += lay_out(evs, counts_for(evs, rng), a, b - a, rng)


def _speakers(rng: np.random.Generator, pools: Pools, opts: ClipOptions) -> list[list[Recording]]:
    """One or two voices (each a list of its utterances): a language weighted by the square root of its
    utterances, a voice, and for a second speaker mostly the same language and another voice."""
    langs = pools.languages
    w = np.sqrt([sum(len(v) for v in pools.speech[lang].values()) for lang in langs])
    lang = langs[int(rng.choice(len(langs), p=w / w.sum()))]
    voices = sorted(pools.speech[lang])
    first = voices[int(rng.integers(len(voices)))]
    out = [pools.speech[lang][first]]
    if rng.random() < opts.two_speakers:
        others = [(lang, v) for v in voices if v != first]
        if not others or rng.random() < 0.2:
            others = [(lg, v) for lg in langs if lg != lang for v in sorted(pools.speech[lg])] or others
        if others:
            lg, v = others[int(rng.integers(len(others)))]
            out.append(pools.speech[lg][v])
    return out


def _utterances(rng: np.random.Generator, voices: list[list[Recording]], opts: ClipOptions) -> list[Placed]:
    level = float(rng.uniform(-30.0, -16.0))
    evs = []
    for k, utts in enumerate(voices):
        rec = utts[int(rng.integers(len(utts)))]
        evs.append(prepare(rec, rng, opts, level + (float(rng.uniform(-6, 6)) if k else 0.0)))
    if len(evs) == 2 and rng.random() < 0.25:  # and back to the first speaker
        evs.append(prepare(voices[0][int(rng.integers(len(voices[0])))], rng, opts, evs[0].level_db))
    return evs


def _plan_speech(clip: Clip, sources: Sources, pools: Pools, opts: ClipOptions) -> None:
    rng = clip.rng
    voices = _speakers(rng, pools, opts)
    if clip.seconds <= WINDOW_SECONDS:
        evs = _utterances(rng, voices, opts)
        gaps = [float(rng.uniform(0.15, 0.8)) for _ in evs[1:]]
        content = sum(e.dur for e in evs) + sum(gaps)
        while len(evs) > 1 and content > WINDOW_SECONDS - 0.3:
            evs.pop()
            content = sum(e.dur for e in evs) + sum(gaps[: len(evs) - 1])
        if clip.length_class == "short" or content + 0.2 > clip.seconds:
            clip.seconds, t = _short_length(rng, content)
        else:
            t = float(rng.uniform(0.05, clip.seconds - content - 0.05))
        for e, g in zip(evs, [0.0] + gaps):
            t += g
            e.onsets = [float(round(t, 4))]
            t += e.dur
        clip.events = evs
        return
    for a, b in window_ranges(clip.seconds):  # a long talk: the same voices, new utterances, window by window
        if rng.random() < 0.2:
            continue
        evs = _utterances(rng, voices, opts)
        clip.events += lay_out(evs, [1] * len(evs), a, b - a, rng, gap=float(rng.uniform(0.15, 0.6)))


def _plan_ambience(clip: Clip, sources: Sources, pools: Pools, opts: ClipOptions) -> None:
    rng = clip.rng
    rec = pools.ambiences[int(rng.integers(len(pools.ambiences)))]
    if clip.length_class == "short":
        clip.seconds = max(clip.seconds, 1.0)
    for a, b in window_ranges(clip.seconds):
        evs = draw_events(rng, sources, pools, opts, _choose(rng, EVENTS_IN_AMBIENCE_P),
                          avoid=set(rec.labels))
        for e in evs:
            crop(e, 6.0)
        clip.events += lay_out(evs, counts_for(evs, rng), a, b - a, rng)
    n = int(round(clip.seconds * rec.sr))
    start = int(rng.integers(max(1, len(rec.audio) - n))) if len(rec.audio) > n else int(rng.integers(len(rec.audio)))
    bed: dict[str, Any] = {"rec": rec, "start": start}
    if clip.events:
        bed["snr_db"] = round(float(rng.uniform(0.0, 18.0)), 1)
    else:
        bed["level_db"] = round(float(rng.uniform(-36.0, -16.0)), 1)
    clip.bed = bed


def _plan_empty(clip: Clip, sources: Sources, pools: Pools, opts: ClipOptions) -> None:
    rng = clip.rng
    if rng.random() >= EMPTY_SILENT_SHARE:
        colors = sorted(sources.noise) or ["white", "pink", "brown"]
        clip.noise = {"color": colors[int(rng.integers(len(colors)))],
                      "level_db": round(float(rng.uniform(*EMPTY_NOISE_DB)), 1)}


def _plan_background(clip: Clip, sources: Sources, pools: Pools, opts: ClipOptions) -> None:
    rng = clip.rng
    if clip.type == "empty":
        return
    reverb_share = opts.reverb_share / 2 if clip.type == "ambience" else opts.reverb_share
    if rng.random() < reverb_share:
        clip.reverb = {"rt60": round(float(rng.uniform(0.2, 0.9)), 2), "wet": round(float(rng.uniform(0.1, 0.4)), 2)}
    if clip.type != "ambience" and clip.events and pools.ambiences and rng.random() < opts.bed_share:
        avoid = {e.rec.category for e in clip.events}
        beds = [r for r in pools.ambiences if not avoid & set(r.labels)]
        if beds:
            rec = beds[int(rng.integers(len(beds)))]
            n = int(round(clip.seconds * rec.sr))
            start = int(rng.integers(max(1, len(rec.audio) - n)))
            clip.bed = {"rec": rec, "start": start, "snr_db": round(float(rng.uniform(6.0, 25.0)), 1)}
    share = opts.noise_share / 2 if clip.bed else opts.noise_share
    if rng.random() < share:
        colors = sorted(sources.noise) or ["white", "pink", "brown"]
        clip.noise = {"color": colors[int(rng.integers(len(colors)))], "snr_db": round(float(rng.uniform(3, 35)), 1)}


def _plan_degrade(clip: Clip, opts: ClipOptions) -> None:
    rng = clip.rng
    d: dict[str, Any] = {"rate": int(_draw(rng, opts.rates))}
    tel = opts.telephone_share * (2 if clip.type == "speech" else 1)
    d["telephone"] = bool(rng.random() < tel)
    # Drawn whatever this machine can encode, so that the other draws do not depend on it.
    use, pick, level = rng.random() < opts.codec_share, float(rng.random()), round(float(rng.uniform(0.5, 1.0)), 2)
    codecs = [c for c in opts.codecs if codec_available(c)]
    d["codec"] = {"name": codecs[int(pick * len(codecs))], "level": level} if use and codecs else None
    d["gain_db"] = round(float(rng.uniform(*GAIN_DB)), 1) if clip.type != "empty" else 0.0
    clip.degrade = d


def render_clip(clip: Clip, sources: Sources) -> np.ndarray:
    rng = clip.rng
    n = int(round(clip.seconds * SR))
    mix = np.zeros(n, dtype=np.float32)
    for ev in clip.events:
        gain = 10 ** ((ev.level_db - active_db(ev.audio)) / 20)
        for onset in ev.onsets:
            a = int(round(onset * SR))
            piece = ev.audio[: max(0, n - a)] * gain * 10 ** (float(rng.uniform(-1.5, 1.5)) / 20)
            mix[a: a + len(piece)] += piece
    if clip.reverb and clip.events:
        mix = mix + clip.reverb["wet"] * convolve(mix, room_impulse(rng, clip.reverb["rt60"]))
    top = max((e.level_db for e in clip.events), default=None)
    if clip.bed:
        rec = clip.bed["rec"]
        m = int(np.ceil(clip.seconds * rec.sr)) + 64
        seg = loop_to(rec.audio, m, clip.bed["start"], fade_n=rec.sr // 2)
        seg = resample(seg, SR / rec.sr)[:n]
        seg = np.pad(seg, (0, n - len(seg)))
        target = top - clip.bed["snr_db"] if top is not None and "snr_db" in clip.bed else clip.bed["level_db"]
        mix = mix + seg * 10 ** ((target - rms_db(seg)) / 20)
    if clip.noise:
        color = clip.noise["color"]
        if color in sources.noise:
            bed = sources.noise[color]
            half = len(bed) // 2
            seg = bed[:half] if clip.split in ("train", "eval_seen") else bed[half:]
            seg = loop_to(seg, n, int(rng.integers(len(seg))))
        else:
            seg = colored_noise(rng, n, color)
        ref = top if top is not None else (clip.bed.get("level_db") if clip.bed else None)
        target = ref - clip.noise["snr_db"] if ref is not None and "snr_db" in clip.noise else clip.noise.get("level_db", -40.0)
        mix = mix + seg * 10 ** ((target - rms_db(seg)) / 20)
    d = clip.degrade
    mix *= 10 ** (d["gain_db"] / 20)
    peak = float(np.abs(mix).max()) if n else 0.0
    d["limited_db"] = 0.0
    if peak > 0.98:
        d["limited_db"] = round(20 * np.log10(0.98 / peak), 1)
        mix *= 0.98 / peak
    if d["rate"] < SR:
        mix = band_limit(mix, 0.5 * d["rate"] * 0.96)
    if d["telephone"]:
        mix = band_limit(mix, TELEPHONE_BAND[1], TELEPHONE_BAND[0])
    if d["codec"] and n >= SR // 20:
        mix = encode_decode(mix, d["codec"]["name"], d["codec"]["level"])
    return np.clip(mix, -1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Windows: the ground truth of each window, its caption and questions


@dataclass
class WEvent:
    ev: Placed
    onsets: list[float]  # window seconds, of the occurrences that count in this window
    offset: float
    count: int
    partial: bool  # an occurrence is cut by the window's edge: its count is neither said nor asked


@dataclass
class Window:
    clip: Clip
    index: int
    start: float
    end: float
    events: list[WEvent]
    edge: list[str]  # categories of which only a sliver is in this window: neither named nor denied

    @property
    def seconds(self) -> float:
        return self.end - self.start


def window_truth(clip: Clip, index: int, a: float, b: float) -> Window:
    """What is in window [a, b) of `clip`. An occurrence cut by the window's edge counts in the window that
    holds at least half of it (or a second of it); elsewhere it is an "edge" sliver."""
    evs: list[WEvent] = []
    edge: set[str] = set()
    for ev in clip.events:
        ins: list[tuple[float, float]] = []
        partial = False
        for on in ev.onsets:
            off = min(on + ev.dur, clip.seconds)
            occ = off - on
            ov = min(off, b) - max(on, a)
            if ov <= 1e-6:
                continue
            if ov >= IN_SHARE * occ or ov >= IN_SECONDS:
                ins.append((max(on, a) - a, min(off, b) - a))
                partial = partial or bool(ov < occ - 1e-4)
            else:
                partial = True
        if ins:
            evs.append(WEvent(ev, [float(round(s, 3)) for s, _ in ins], float(round(max(e for _, e in ins), 3)), len(ins),
                              bool(partial)))
        elif partial:
            edge.add(ev.rec.category)
    evs.sort(key=lambda w: w.onsets[0])
    return Window(clip, index, a, b, evs, sorted(edge - {w.ev.rec.category for w in evs}))


def _noun(subject: str) -> str:
    for art in ("a ", "an ", "the "):
        if subject.startswith(art):
            return subject[len(art):]
    return subject


def _speech_phrase(we: WEvent, earlier: list[WEvent], rng: np.random.Generator, gerund_form: bool) -> str:
    """'a woman says 'bonjour' in French', 'a man speaking Russian', 'another woman talks in Greek'."""
    r = we.ev.rec
    subj = r.subject
    again = ""
    if any(o.ev.rec.kind == "speech" and o.ev.rec.voice == r.voice for o in earlier):
        subj, again = r.the, " again"
    elif any(o.ev.rec.kind == "speech" and o.ev.rec.subject == r.subject for o in earlier):
        subj = "another " + _noun(r.subject)
    lang = language_name(r.language)
    if we.ev.quoted and not we.partial:
        text = f"{subj} {'saying' if gerund_form else 'says'} '{short_quote(r.transcript or '')}'"
        if lang and (language_code(r.language) != "en" or rng.random() < 0.2):
            text += f" in {lang}"
        return text + again
    if lang:
        forms = ([f"{subj} speaking {lang}", f"{subj} speaking in {lang}", f"{subj} talking in {lang}"] if gerund_form
                 else [f"{subj} speaks {lang}", f"{subj} speaks in {lang}", f"{subj} talks in {lang}",
                       f"{subj} says something in {lang}"])
    else:
        forms = ([f"{subj} speaking", f"{subj} talking"] if gerund_form
                 else [f"{subj} speaks", f"{subj} talks", f"{subj} says something"])
    return forms[int(rng.integers(len(forms)))] + again


def clip_clause(we: WEvent, earlier: list[WEvent], rng: np.random.Generator, gerund: bool = False) -> str:
    """'a dog barks twice', 'a woman says 'please hold''; gerund=True: 'a dog barking twice'."""
    r = we.ev.rec
    if r.kind == "speech":
        return _speech_phrase(we, earlier, rng, gerund)
    text = f"{r.subject} {r.gerund if gerund else r.verb}"
    if r.countable and not we.partial and (we.count > 1 or we.ev.say_once):
        text += " " + COUNT_WORDS[min(we.count, 4)]
    return text


def clip_gerund(we: WEvent, earlier: list[WEvent], rng: np.random.Generator) -> str:
    return clip_clause(we, earlier, rng, gerund=True)


def bed_phrase(rec: Recording, cats: dict[str, dict[str, Any]]) -> str:
    """'a busy market', 'birdsong and wind': the ambience's first two labels."""
    names = []
    for lab in rec.labels[:2]:
        info = cats.get(lab)
        if info and info.get("subject") and info["subject"] not in names:
            names.append(info["subject"])
    return " and ".join(names) or rec.subject


def _bed_audible(win: Window) -> bool:
    bed = win.clip.bed
    return bool(bed) and (win.clip.type == "ambience" or not win.events or bed.get("snr_db", 0.0) < 15.0)


def clip_caption(win: Window, sources: Sources) -> str:
    rng, evs, clip = win.clip.rng, win.events, win.clip
    cats = sources.categories
    if not evs:
        if clip.bed:
            rec = clip.bed["rec"]
            amb = bed_phrase(rec, cats)
            prim = cats.get(rec.labels[0], {})
            forms = [f"The ambient sound of {amb}.", f"Ambient sounds of {amb}.",
                     f"{cap(amb)} can be heard in the background.", f"Background ambience of {amb}."]
            if prim.get("subject") and prim.get("verb"):
                forms.append(f"{cap(prim['subject'])} {prim['verb']}.")
            return forms[int(rng.integers(len(forms)))]
        texts = NOISE_CAPTIONS if clip.noise else SILENCE_CAPTIONS
        return texts[int(rng.integers(len(texts)))]
    c = [clip_clause(e, evs[:i], rng) for i, e in enumerate(evs)]
    g = [clip_gerund(e, evs[:i], rng) for i, e in enumerate(evs)]
    two_voices = (len(evs) == 2 and all(e.ev.rec.kind == "speech" and not e.ev.quoted for e in evs)
                  and evs[0].ev.rec.voice != evs[1].ev.rec.voice)
    la, lb = (language_name(evs[0].ev.rec.language), language_name(evs[1].ev.rec.language)) if two_voices else (0, 1)
    if two_voices and la == lb and rng.random() < 0.5:
        a, b = evs[0].ev.rec, evs[1].ev.rec
        who = f"two {PLURALS.get(_noun(a.subject), _noun(a.subject) + 's')}" if a.subject == b.subject else \
            f"{a.subject} and {b.subject}"
        if la:
            forms = [f"{cap(who)} talk in {la}.", f"A conversation in {la} between {who}.",
                     f"{cap(a.subject)} speaks {la}, then {'another ' + _noun(b.subject) if a.subject == b.subject else b.subject} answers."]
        else:
            forms = [f"{cap(who)} talk.", f"{cap(who)} have a conversation."]
        text = forms[int(rng.integers(len(forms)))]
    elif len(evs) == 1:
        forms = [f"{c[0]}.", f"The sound of {g[0]}.", f"{cap(g[0])} can be heard.", f"{cap(g[0])}."]
        r = evs[0].ev.rec
        if r.kind != "speech":
            extra = " " + COUNT_WORDS[min(evs[0].count, 4)] if (r.countable and not evs[0].partial and (
                evs[0].count > 1 or evs[0].ev.say_once)) else ""
            forms.append(f"{r.subject} can be heard {r.gerund}{extra}.")
        text = forms[int(rng.integers(len(forms)))]
    elif len(evs) == 2:
        text = [f"{c[0]}, then {c[1]}.", f"{c[0]}, followed by {g[1]}.", f"First {c[0]}, then {c[1]}.",
                f"{c[0]} and then {c[1]}.", f"{cap(g[0])}, then {g[1]}."][int(rng.integers(5))]
    else:
        text = [", then ".join(c[:-1]) + f", and finally {c[-1]}.",
                ", then ".join(c) + ".",
                f"{c[0]}, followed by " + ", ".join(g[1:-1]) + f" and then {g[-1]}.",
                f"First {c[0]}, then " + ", then ".join(c[1:]) + "."][int(rng.integers(4))]
    if clip.bed and _bed_audible(win):
        amb = bed_phrase(clip.bed["rec"], cats)
        k = int(rng.integers(3))
        text = (text[:-1] + f" over {amb}." if k == 0 else text[:-1] + f" with {amb} in the background." if k == 1
                else text + f" In the background, {amb}.")
    elif clip.noise and clip.noise.get("snr_db", 99) < 12:
        text = text[:-1] + NOISE_PHRASES[int(rng.integers(len(NOISE_PHRASES)))] + "."
    return cap(text)


SPEECH_PRESENCE = ["Is someone speaking?", "Is there speech in the audio?", "Can you hear a voice?",
                   "Does anyone talk in this clip?"]
LANGUAGE_QUESTIONS = ["What language is spoken?", "What language is being spoken?", "In what language is the speech?",
                      "Which language can you hear?"]
SPEAKER_QUESTIONS = ["Who is speaking?", "Who speaks in this recording?", "Who is talking?"]
SPEAKER_COUNT_QUESTIONS = ["How many people are speaking?", "How many different voices can you hear?"]
BACKGROUND_QUESTIONS = ["What can be heard in the background?", "What is in the background?"]
PLURALS = {"man": "men", "woman": "women", "child": "children", "person": "people"}


def clip_questions(win: Window, sources: Sources, vocabulary: list[str], opts: ClipOptions) -> list[tuple[str, str, str]]:
    """(task, instruction, output) for one window, besides the caption."""
    rng, evs, clip = win.clip.rng, win.events, win.clip
    cats = sources.categories
    out: list[tuple[str, str, str]] = []
    bed_labels = list(clip.bed["rec"].labels) if clip.bed else []
    present = {e.ev.rec.category for e in evs} | set(bed_labels)
    speech = [e for e in evs if e.ev.rec.kind == "speech"]
    speech_cats = {c for c, info in cats.items() if info["kind"] == "speech"}
    edge_speech = bool(set(win.edge) & speech_cats)
    excluded = present | set(win.edge) | (speech_cats if speech or edge_speech else set())
    absent = [c for c in vocabulary if c not in excluded]

    labels = list(dict.fromkeys([cats[e.ev.rec.category]["label"] for e in evs]
                                + [cats[lab]["label"] for lab in bed_labels if lab in cats]))
    if labels:
        out.append(("cla_label", CLASSIFY_PROMPT, sentence(", ".join(labels))))
    else:
        out.append(("cla_label", CLASSIFY_PROMPT, "Background noise." if clip.noise else "Silence."))

    def presence(info: dict[str, Any] | Recording, answer: str) -> None:
        phrase = name(info)
        plural = info.plural if isinstance(info, Recording) else bool(info["plural"])
        tmpl = PRESENCE_TEMPLATES[int(rng.integers(len(PRESENCE_TEMPLATES)))]
        out.append(("qa_presence", tmpl.format(name=phrase, Is="Are" if plural else "Is"), answer))

    qa: list[tuple[Any, str]] = []
    if evs:
        qa.append((evs[int(rng.integers(len(evs)))].ev.rec, "Yes."))
    elif bed_labels and bed_labels[0] in cats:
        qa.append((cats[bed_labels[0]], "Yes."))
    for k in rng.choice(len(absent), size=min(len(absent), 1 if qa else 2), replace=False):
        qa.append((cats[absent[int(k)]], "No."))
    for k in rng.permutation(len(qa)):
        presence(*qa[int(k)])
    if not edge_speech and rng.random() < (0.5 if speech else 0.15):
        out.append(("qa_presence", SPEECH_PRESENCE[int(rng.integers(len(SPEECH_PRESENCE)))],
                    "Yes." if speech else "No."))

    whole = [e for e in evs if not e.partial]
    countable = [e for e in whole if e.ev.rec.countable]
    if countable:
        e = countable[int(rng.integers(len(countable)))]
        tmpl = COUNT_TEMPLATES[int(rng.integers(len(COUNT_TEMPLATES)))]
        q = tmpl.format(does="do" if e.ev.rec.plural else "does", the=e.ev.rec.the, base=e.ev.rec.base)
        out.append(("qa_count", q, COUNT_ANSWERS[min(e.count, 4)]))

    ordered = [e for e in evs]
    if len(ordered) >= 2 and not any(e.partial for e in ordered) and len({e.ev.rec.the for e in ordered}) == len(ordered):
        kind = int(rng.integers(4))
        if kind == 0:
            out.append(("qa_order", "What happens first?", sentence(clip_clause(ordered[0], [], rng))))
        elif kind == 1:
            out.append(("qa_order", "What is the last sound?", sentence(clip_gerund(ordered[-1], [], rng))))
        elif kind == 2:
            i = int(rng.integers(len(ordered) - 1))
            out.append(("qa_order", f"What happens after {ordered[i].ev.rec.the} {ordered[i].ev.rec.verb}?",
                        sentence(clip_clause(ordered[i + 1], [], rng))))
        else:
            i = 1 + int(rng.integers(len(ordered) - 1))
            out.append(("qa_order", f"What do you hear before {ordered[i].ev.rec.the} {ordered[i].ev.rec.verb}?",
                        sentence(clip_clause(ordered[i - 1], [], rng))))

    if speech and not edge_speech:
        quotable = [e for e in speech if e.ev.rec.transcript and not e.partial
                    and (language_code(e.ev.rec.language) or "en") in opts.quote_languages]
        subjects = [e.ev.rec.subject for e in speech]
        if quotable:
            e = quotable[int(rng.integers(len(quotable)))]
            q = "What is said in the audio?" if len(speech) == 1 else f"What does {e.ev.rec.the} say?"
            if len(speech) == 1 or subjects.count(e.ev.rec.subject) == 1:
                out.append(("qa_speech", q, sentence(e.ev.rec.transcript or "")))
        langs = [language_name(e.ev.rec.language) for e in speech]
        if all(langs):
            distinct = list(dict.fromkeys(langs))
            out.append(("qa_language", LANGUAGE_QUESTIONS[int(rng.integers(len(LANGUAGE_QUESTIONS)))],
                        sentence(" and ".join(distinct)) if len(distinct) <= 2 else sentence(", ".join(distinct))))
        if all(e.ev.rec.speaker for e in speech) and rng.random() < 0.6:
            voices = list(dict.fromkeys((e.ev.rec.voice, e.ev.rec.subject) for e in speech))
            if len(voices) == 1:
                answer = sentence(voices[0][1])
            elif voices[0][1] == voices[1][1] and len(voices) == 2:
                answer = sentence(f"{voices[0][1]}, then another {_noun(voices[1][1])}")
            else:
                answer = sentence(", then ".join(v[1] for v in voices))
            out.append(("qa_speaker", SPEAKER_QUESTIONS[int(rng.integers(len(SPEAKER_QUESTIONS)))], answer))
        if rng.random() < 0.25:
            n = len({e.ev.rec.voice for e in speech})
            out.append(("qa_count", SPEAKER_COUNT_QUESTIONS[int(rng.integers(len(SPEAKER_COUNT_QUESTIONS)))],
                        {1: "One.", 2: "Two.", 3: "Three."}.get(n, f"{n}.")))

    pairs = [(x, y) for i, x in enumerate(whole) for y in whole[i + 1:]
             if abs(x.ev.level_db - y.ev.level_db) >= LOUDER_DB and x.ev.rec.the != y.ev.rec.the]
    if pairs:
        x, y = pairs[int(rng.integers(len(pairs)))]
        if rng.random() < 0.5:
            x, y = y, x
        louder = x if x.ev.level_db > y.ev.level_db else y
        if rng.random() < 0.5 and "the person" not in (x.ev.rec.the, y.ev.rec.the):
            out.append(("qa_loudness", f"Which is louder, {x.ev.rec.the} or {y.ev.rec.the}?", sentence(louder.ev.rec.the)))
        else:
            out.append(("qa_loudness", f"Which sound is louder: {name(x.ev.rec)} or {name(y.ev.rec)}?",
                        sentence(name(louder.ev.rec))))

    if clip.bed and rng.random() < (0.5 if clip.type == "ambience" else 0.2):
        out.append(("qa_background", BACKGROUND_QUESTIONS[int(rng.integers(len(BACKGROUND_QUESTIONS)))],
                    sentence(bed_phrase(clip.bed["rec"], cats))))
    return out


def window_meta(win: Window, n_windows: int, audio_id: str, text: str) -> dict[str, Any]:
    clip = win.clip
    gain = clip.degrade.get("gain_db", 0.0) + clip.degrade.get("limited_db", 0.0)
    events = []
    for we in win.events:
        r = we.ev.rec
        e = {"category": r.category, "recording": r.id, "package": r.package, "holdout": r.holdout, "kind": r.kind,
             "onset": we.onsets[0], "offset": we.offset, "onsets": we.onsets, "count": we.count,
             "countable": r.countable, "partial": we.partial, "level_db": round(we.ev.level_db + gain, 1),
             "speed": we.ev.speed, "pitch": we.ev.pitch, "subject": r.subject, "the": r.the}
        if r.kind == "speech":
            e.update(transcript=r.transcript, language=language_code(r.language), speaker=r.speaker, voice=r.voice,
                     gender=r.gender, quoted=bool(we.ev.quoted and not we.partial))
        events.append(e)
    bed = None
    if clip.bed:
        rec = clip.bed["rec"]
        bed = {"recording": rec.id, "package": rec.package, "holdout": rec.holdout, "categories": list(rec.labels),
               **{k: clip.bed[k] for k in ("snr_db", "level_db") if k in clip.bed}}
    speech = [e for e in events if e["kind"] == "speech"]
    return {
        "id": clip.id if n_windows == 1 else f"{clip.id}_w{win.index:02d}", "clip": clip.id, "window": win.index,
        "windows": n_windows, "split": clip.split, "audio_id": audio_id, "type": clip.type,
        "length_class": clip.length_class, "clip_seconds": clip.seconds, "start": round(win.start, 4),
        "end": round(win.end, 4), "seconds": round(win.seconds, 4),
        "padded_seconds": round(max(0.0, WINDOW_SECONDS - win.seconds), 4), "caption": text, "events": events,
        "edge": win.edge, "background": bed, "noise": clip.noise, "reverb": clip.reverb, "degrade": clip.degrade,
        "speech": {"languages": list(dict.fromkeys(e["language"] for e in speech)),
                   "speakers": list(dict.fromkeys(e["speaker"] for e in speech)),
                   "voices": list(dict.fromkeys(e["voice"] for e in speech))} if speech else None,
        "present": sorted({e["category"] for e in events} | set(bed["categories"] if bed else [])),
    }


def make_clip(sources: Sources, out: Path, split: str, index: int, seed: int, vocabulary: list[str],
              opts: ClipOptions, keep_clip: bool = False,
              force_type: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Plan, render and window one clip: one WAV, one meta entry and its records per window."""
    clip = plan_clip(sources, split, index, seed, opts, force_type)
    audio = render_clip(clip, sources)
    folder = out / "audio" / split
    folder.mkdir(parents=True, exist_ok=True)
    if keep_clip:
        (out / "clips" / split).mkdir(parents=True, exist_ok=True)
        write_wav(out / "clips" / split / f"{clip.id}.wav", audio)
    n = len(audio)
    starts = list(range(0, max(n, 1), WINDOW_SAMPLES))  # sam_cli.audio.split_windows
    metas, records = [], []
    for k, s in enumerate(starts):
        e = min(s + WINDOW_SAMPLES, n)
        win = window_truth(clip, k, s / SR, e / SR)
        if not win.events and win.edge:
            continue  # only a sliver of a sound: no honest caption either way
        stem = clip.id if len(starts) == 1 else f"{clip.id}_w{k:02d}"
        write_wav(folder / f"{stem}.wav", audio[s:e])
        audio_id = f"audio/{split}/{stem}.wav"
        text = clip_caption(win, sources)
        qa = clip_questions(win, sources, vocabulary, opts)
        meta = window_meta(win, len(starts), audio_id, text)
        metas.append(meta)
        # The sound classes in the window, by label, for `sam train --tag-weight` (the encoder's head); a window
        # of nothing is tagged as the classification answer says it ("Silence." / "Background noise."), so that
        # the head has a class for it.
        tags = [sources.categories[c]["label"] if c in sources.categories else c for c in meta["present"]]
        if not tags and not win.edge:
            tags = ["background noise" if clip.noise else "silence"]
        records.append({"instruction": DESCRIBE_PROMPT, "input": "", "output": text, "audio_id": audio_id,
                        "dataset": DATASET, "task": "caption", "tags": tags})
        records += [{"instruction": q, "input": "", "output": a, "audio_id": audio_id, "dataset": DATASET, "task": t,
                     "tags": tags} for t, q, a in qa]
    return metas, records


def _init_clip_worker(sources_dir: str, out: str, seed: int, vocabulary: list[str], opts: ClipOptions,
                      keep_clips: bool) -> None:
    if _WORKER.get("sources_dir") != sources_dir:  # forked workers inherit the parent's sources
        _WORKER.update(sources=load_sources(sources_dir), sources_dir=sources_dir)
    _WORKER.update(out=Path(out), seed=seed, vocabulary=vocabulary, opts=opts, keep_clips=keep_clips)


def _work_clip(job: tuple[str, int]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    split, index = job
    return make_clip(_WORKER["sources"], _WORKER["out"], split, index, _WORKER["seed"], _WORKER["vocabulary"],
                     _WORKER["opts"], _WORKER["keep_clips"])


def build_clips(sources_dir: str | Path, out: str | Path, num_train: int, num_eval: int, num_eval_seen: int = 0,
                seed: int = 0, workers: int = 1, opts: ClipOptions | None = None,
                keep_clips: bool = False) -> dict[str, int]:
    """--mode clips: num_* clips per split (a clip longer than 10.24 s gives several windows, so examples)."""
    opts = opts or ClipOptions()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources = load_sources(sources_dir)
    vocabulary = event_vocabulary(sources)
    jobs = ([("train", i) for i in range(num_train)] + [("eval", i) for i in range(num_eval)]
            + [("eval_seen", i) for i in range(num_eval_seen)])
    t0 = time.time()
    if workers > 1:
        fork = sys.platform.startswith("linux")
        if fork:  # loaded once here; forked workers share the arrays copy-on-write
            _WORKER.update(sources=sources, sources_dir=str(sources_dir))
        ctx = mp.get_context("fork" if fork else "spawn")
        with ctx.Pool(workers, initializer=_init_clip_worker,
                      initargs=(str(sources_dir), str(out), seed, vocabulary, opts, keep_clips)) as pool:
            results = pool.map(_work_clip, jobs, chunksize=8)
    else:
        results = [make_clip(sources, out, s, i, seed, vocabulary, opts, keep_clips) for s, i in jobs]
    by_split: dict[str, list[dict[str, str]]] = {"train": [], "eval": [], "eval_seen": []}
    metas: list[dict[str, Any]] = []
    for (split, _), (ms, records) in zip(jobs, results):
        by_split[split] += records
        metas += ms
    for split, records in by_split.items():
        if split == "eval_seen" and not num_eval_seen:
            continue
        (out / f"{split}.json").write_text(json_lines(records))
    cats = {c: dict(info) for c, info in sources.categories.items() if info["kind"] != "noise"}
    meta_doc = {"dataset": DATASET, "mode": "clips", "seed": seed, "sample_rate": SR,
                "window_seconds": WINDOW_SECONDS, "options": opts.to_json(), "sources": str(sources_dir),
                "vocabulary": vocabulary, "categories": cats,
                "languages": {c: LANGUAGES[c] for c in sorted({lg for m in metas for lg in (m["speech"] or {}).get(
                    "languages", []) if lg in LANGUAGES})}}
    head = json.dumps(meta_doc, ensure_ascii=False)[:-1]
    (out / "scenes_meta.json").write_text(head + ', "scenes": ' + json_lines(metas)[:-1] + "}\n")
    counts = {s: len(r) for s, r in by_split.items()}
    types: dict[str, int] = {}
    for m in metas:
        types[m["type"]] = types.get(m["type"], 0) + 1
    print(f"built {len(jobs)} clips, {len(metas)} windows in {time.time() - t0:.0f} s -> {out} "
          f"(records: {counts}; windows by type: {types})", file=sys.stderr)
    return counts


# The bundled examples: held-out recordings only (with the default --seed 0 splits), composed rather
# than drawn, with little noise so that a first listen is clear.
QUIET = {"noise": {"color": "pink", "snr_db": 30.0}, "reverb": None}
EXAMPLES: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
    ("dog_bark", [("tux.dog.2", 2)], QUIET),
    ("bell_then_woman", [("fluid.bell.3", 3), ("ast.all_circuits_busy_now", 1)], QUIET),
    ("cow_then_piano", [("tux.cow", 2), ("fluid.piano.5", 1)], {"noise": None, "reverb": {"rt60": 0.4, "wet": 0.2}}),
    ("man_speaks_then_beeps", [("flite.kal16.06", 1), ("sox.beep.5", 3)], QUIET),
]


def build_examples(sources_dir: str | Path, folder: str | Path, seed: int = 0) -> list[dict[str, Any]]:
    folder = Path(folder)
    sources = load_sources(sources_dir)
    vocabulary = event_vocabulary(sources)
    metas = []
    for index, (stem, forced, settings) in enumerate(EXAMPLES):
        meta, records = make_scene(sources, folder, "example", index, seed, vocabulary, forced=forced,
                                   settings=settings, wav_path=folder / f"{stem}.wav")
        meta["questions"] = [{"task": r["task"], "question": r["instruction"], "answer": r["output"]}
                             for r in records]
        metas.append(meta)
    (folder / "examples.json").write_text(json.dumps(metas, indent=1, ensure_ascii=False) + "\n")
    return metas


def parse_shares(text: str, keys: tuple[Any, ...] | None = None, cast=str) -> dict[Any, float]:
    """'single=0.3,scene=0.2' -> {"single": 0.3, "scene": 0.2} (keys not named get 0)."""
    out: dict[Any, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        k, _, v = part.partition("=")
        key = cast(k.strip())
        if keys is not None and key not in keys:
            raise ValueError(f"unknown key {k.strip()!r} (known: {', '.join(map(str, keys))})")
        out[key] = float(v)
        if out[key] < 0:
            raise ValueError(f"{k.strip()}: a share cannot be negative")
    if not out or sum(out.values()) <= 0:
        raise ValueError(f"no positive share in {text!r}")
    return out


def _shares_text(d: dict[Any, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in d.items())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", default="data/sources", help="folder written by collect_sources.py")
    ap.add_argument("--out", default="data/scenes", help="output folder (default: data/scenes)")
    ap.add_argument("--mode", choices=["scenes", "clips"], default="scenes",
                    help="scenes: the 10-s scenes of 1-4 events sam-tiny was trained and measured on (default, "
                         "unchanged); clips: single events, scenes, ambiences, speech and empty clips of 0.3 s to "
                         "minutes, one example per 10.24-s window as `sam describe` cuts them")
    ap.add_argument("--num-train", type=int, default=8000, help="scenes, or clips with --mode clips")
    ap.add_argument("--num-eval", type=int, default=500, help="scenes (clips) of held-out recordings only")
    ap.add_argument("--num-eval-seen", type=int, default=300,
                    help="new scenes (clips) of training recordings (all categories); 0 to skip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=max(1, (mp.cpu_count() or 1)))
    ap.add_argument("--empty-share", type=float, default=None,
                    help="share of scenes without any event (silence or noise alone), in every split; default 0. "
                         "With --mode clips it replaces the 'empty' share of --mix (the others scaled to the rest)")
    ap.add_argument("--examples", metavar="DIR", help="write the bundled example clips to DIR instead")
    g = ap.add_argument_group("--mode clips")
    g.add_argument("--mix", default=_shares_text(DEFAULT_MIX),
                   help=f"clip types and their shares (default {_shares_text(DEFAULT_MIX)})")
    g.add_argument("--lengths", default=_shares_text(DEFAULT_LENGTHS),
                   help="length classes: short 0.3-5 s, medium 5-10 s, ten 10 or 10.24 s, long 10.5 s to "
                        f"--max-seconds (default {_shares_text(DEFAULT_LENGTHS)})")
    g.add_argument("--max-seconds", type=float, default=120.0, help="longest clip (default 120)")
    g.add_argument("--rates", default=_shares_text(DEFAULT_RATES),
                   help="simulated original sample rates: below 16 kHz the clip is band-limited to what such a "
                        f"file holds (default {_shares_text(DEFAULT_RATES)})")
    g.add_argument("--noise-share", type=float, default=0.5, help="clips over a noise bed, 3-35 dB SNR (0.5)")
    g.add_argument("--bed-share", type=float, default=0.15,
                   help="single/scene/speech clips over a real ambience recording (0.15)")
    g.add_argument("--reverb-share", type=float, default=0.3, help="clips through a synthetic room (0.3)")
    g.add_argument("--telephone-share", type=float, default=0.05,
                   help="clips band-limited to 300-3400 Hz (0.05; twice that for speech)")
    g.add_argument("--codec-share", type=float, default=0.12, help="clips through a low-bitrate codec (0.12)")
    g.add_argument("--codecs", default="mp3,ogg",
                   help="codecs to draw from, those this machine encodes (soundfile; mp3 falls back to ffmpeg)")
    g.add_argument("--speed-share", type=float, default=0.5, help="events resampled to 0.88-1.14x speed (0.5)")
    g.add_argument("--pitch-share", type=float, default=0.12, help="events pitch-shifted up to 3 semitones (0.12)")
    g.add_argument("--two-speakers", type=float, default=0.35, help="speech clips with a second voice (0.35)")
    g.add_argument("--quote-languages", default=",".join(sorted(QUOTE_LANGUAGES)),
                   help="languages whose short transcripts are quoted; elsewhere captions name the language")
    g.add_argument("--keep-clips", action="store_true",
                   help="also write each whole clip to clips/<split>/ (to run `sam describe` on long files)")
    args = ap.parse_args(argv)
    if args.examples:
        for m in build_examples(args.sources, args.examples, args.seed):
            print(f"{m['audio_id']}: {m['caption']}  [{', '.join(e['recording'] for e in m['events'])}]")
        return
    if args.empty_share is not None and not 0.0 <= args.empty_share <= 1.0:
        ap.error("--empty-share must be between 0 and 1")
    if args.mode == "scenes":
        build(args.sources, args.out, args.num_train, args.num_eval, args.num_eval_seen, args.seed, args.workers,
              args.empty_share or 0.0)
        return
    try:
        mix = parse_shares(args.mix, CLIP_TYPES)
        lengths = parse_shares(args.lengths, tuple(DEFAULT_LENGTHS))
        rates = parse_shares(args.rates, None, int)
    except ValueError as e:
        ap.error(str(e))
    if args.empty_share is not None:
        rest = sum(v for k, v in mix.items() if k != "empty")
        mix = {k: (v / rest * (1 - args.empty_share) if rest else 0.0) for k, v in mix.items() if k != "empty"}
        mix["empty"] = args.empty_share
    for name_, v in (("--noise-share", args.noise_share), ("--bed-share", args.bed_share),
                     ("--reverb-share", args.reverb_share), ("--telephone-share", args.telephone_share),
                     ("--codec-share", args.codec_share), ("--speed-share", args.speed_share),
                     ("--pitch-share", args.pitch_share), ("--two-speakers", args.two_speakers)):
        if not 0.0 <= v <= 1.0:
            ap.error(f"{name_} must be between 0 and 1")
    codecs = tuple(c.strip() for c in args.codecs.split(",") if c.strip())
    if set(codecs) - {"mp3", "ogg", "opus"}:
        ap.error("--codecs: mp3, ogg, opus")
    missing = [c for c in codecs if not codec_available(c)]
    if missing:
        print(f"build_scenes: this machine cannot encode {', '.join(missing)}; using {', '.join(c for c in codecs if c not in missing) or 'none'}",
              file=sys.stderr)
    opts = ClipOptions(mix=mix, lengths=lengths, max_seconds=args.max_seconds, rates=rates,
                       noise_share=args.noise_share, bed_share=args.bed_share, reverb_share=args.reverb_share,
                       telephone_share=args.telephone_share, codec_share=args.codec_share, codecs=codecs,
                       speed_share=args.speed_share, pitch_share=args.pitch_share, two_speakers=args.two_speakers,
                       quote_languages=frozenset(c.strip() for c in args.quote_languages.split(",") if c.strip()))
    build_clips(args.sources, args.out, args.num_train, args.num_eval, args.num_eval_seen, args.seed, args.workers,
                opts, args.keep_clips)


if __name__ == "__main__":
    main()
