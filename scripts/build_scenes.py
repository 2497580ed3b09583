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
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", default="data/sources", help="folder written by collect_sources.py")
    ap.add_argument("--out", default="data/scenes", help="output folder (default: data/scenes)")
    ap.add_argument("--num-train", type=int, default=8000)
    ap.add_argument("--num-eval", type=int, default=500, help="scenes of held-out recordings only")
    ap.add_argument("--num-eval-seen", type=int, default=300,
                    help="new scenes of training recordings (all categories); 0 to skip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=max(1, (mp.cpu_count() or 1)))
    ap.add_argument("--empty-share", type=float, default=0.0,
                    help="share of scenes without any event (silence or noise alone), in every split; default 0")
    ap.add_argument("--examples", metavar="DIR", help="write the bundled example clips to DIR instead")
    args = ap.parse_args(argv)
    if args.examples:
        for m in build_examples(args.sources, args.examples, args.seed):
            print(f"{m['audio_id']}: {m['caption']}  [{', '.join(e['recording'] for e in m['events'])}]")
        return
    if not 0.0 <= args.empty_share <= 1.0:
        ap.error("--empty-share must be between 0 and 1")
    build(args.sources, args.out, args.num_train, args.num_eval, args.num_eval_seen, args.seed, args.workers,
          args.empty_share)


if __name__ == "__main__":
    main()
