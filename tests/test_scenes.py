"""build_scenes.py --mode clips and evaluate.py on it, with a tiny synthetic sources folder in the new manifest
format (roles, ambiences with labels, speech with language, speaker, voice and transcript).

No Debian packages, no GPU; the windowing is checked against sam_cli's own split_windows (imported, read-only).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
SR = 16000


def _load(name: str):
    if name in sys.modules and getattr(sys.modules[name], "__file__", "") == str(SCRIPTS / f"{name}.py"):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build = _load("build_scenes")
evaluate = _load("evaluate")


def _cat(kind, label, noun, verb, base, gerund, synonyms, article="a", plural=False, countable=False):
    subject = f"{article} {noun}".strip() if article else noun
    return {"kind": kind, "label": label, "synonyms": [s.strip() for s in synonyms.split(",")], "subject": subject,
            "the": f"the {noun}", "verb": verb, "base": base, "gerund": gerund, "plural": plural,
            "countable": countable}


CATEGORIES = {
    "dog": _cat("animal", "dog barking", "dog", "barks", "bark", "barking", "dog, dogs, puppy", countable=True),
    "bell": _cat("music", "bell ringing", "bell", "rings", "ring", "ringing", "bell, bells, chime", countable=True),
    "piano": _cat("music", "piano", "piano", "plays", "play", "playing", "piano, keyboard"),
    "cow": _cat("animal", "cow mooing", "cow", "moos", "moo", "mooing", "cow, cows, cattle, moo"),
    "speech_female": _cat("speech", "woman speaking", "woman", "speaks", "speak", "speaking",
                          "woman, women, female, lady, girl"),
    "speech_male": _cat("speech", "man speaking", "man", "speaks", "speak", "speaking", "man, men, male, guy"),
    "speech_child": _cat("speech", "child speaking", "child", "speaks", "speak", "speaking", "child, children, kid"),
    "market": _cat("ambience", "busy market", "busy market", "bustles", "bustle", "bustling",
                   "market, marketplace, bazaar"),
    "traffic": _cat("ambience", "traffic", "traffic", "rumbles", "rumble", "rumbling", "traffic, cars", article=""),
    "wind": _cat("nature", "wind blowing", "wind", "blows", "blow", "blowing", "wind, gust", article="the"),
    "noise": _cat("noise", "noise", "noise", "hisses", "hiss", "hissing", "noise, static, hiss", article=""),
}

TRANSCRIPTS = {"en": ["Good morning.", "Please hold.", "See you tomorrow."],
               "fr": ["Bonjour.", "Le chat dort.", "Merci beaucoup."],
               "ru": ["Привет.", "Спасибо.", "Кошка спит."]}


def _burst(rng, seconds, sr=SR):
    n = int(seconds * sr)
    return rng.standard_normal(n) * np.hanning(n)


def _tone(freq, seconds, sr=SR, decay=3.0):
    t = np.arange(int(seconds * sr)) / sr
    return np.sin(2 * np.pi * freq * t) * np.exp(-decay * t)


def _voice(rng, f0, seconds, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (np.sin(2 * np.pi * f0 * t) + 0.3 * np.sin(4 * np.pi * f0 * t)) * env * np.hanning(len(t))


def write_new_sources(folder: Path) -> dict[str, dict]:
    """A sources folder in the new manifest format; -> {id: record}."""
    rng = np.random.default_rng(0)
    specs = []  # id, category, sr, audio, split, extra
    for i, split in enumerate(["train", "train", "eval"]):
        specs.append((f"t.dog.{i}", "dog", SR, _burst(rng, 0.3 + 0.05 * i), split, {}))
        specs.append((f"t.bell.{i}", "bell", SR, _tone(660 + 110 * i, 0.8), split, {}))
        specs.append((f"t.piano.{i}", "piano", SR, _tone(440 + 40 * i, 2.0, decay=0.5), split, {}))
        specs.append((f"t.cow.{i}", "cow", 8000, _tone(150 + 10 * i, 1.4, 8000, 0.3), split, {}))
    # a long recording of an event (12 s): crosses windows when played whole
    specs.append(("t.piano.long", "piano", SR, _tone(330, 12.0, decay=0.05), "train", {}))
    # ambiences: long multi-label beds
    for i, split in enumerate(["train", "eval"]):
        specs.append((f"t.market.{i}", "market", SR, rng.standard_normal(20 * SR) * 0.2, split,
                      {"role": "ambience", "labels": ["market", "wind"]}))
        specs.append((f"t.traffic.{i}", "traffic", 11025, rng.standard_normal(14 * 11025) * 0.2, split,
                      {"role": "ambience"}))
    # speech: voices in three languages, each voice in one split
    voices = [("en.w1", "en", "woman", "speech_female", 220, "train"), ("en.m1", "en", "man", "speech_male", 120, "train"),
              ("fr.w1", "fr", "woman", "speech_female", 230, "train"), ("fr.c1", "fr", "child", "speech_child", 300, "train"),
              ("ru.m1", "ru", "man", "speech_male", 110, "train"), ("en.w2", "en", "woman", "speech_female", 210, "eval"),
              ("fr.m2", "fr", "man", "speech_male", 130, "eval"), ("ru.w2", "ru", "woman", "speech_female", 240, "eval")]
    for voice, lang, speaker, cat, f0, split in voices:
        for k, text in enumerate(TRANSCRIPTS[lang]):
            specs.append((f"t.{voice}.{k}", cat, SR, _voice(rng, f0, 0.8 + 0.3 * k), split,
                          {"language": lang, "speaker": speaker, "voice": voice, "transcript": text}))
    specs.append(("t.noise.white", "noise", SR, rng.standard_normal(12 * SR) * 0.3, "train", {}))
    arrays, recs = {}, []
    for rid, cat, sr, x, split, extra in specs:
        x = x.astype(np.float32)
        arrays[rid] = np.round(x / np.abs(x).max() * 0.89 * 32767).astype(np.int16)
        c = CATEGORIES[cat]
        rec = {"id": rid, "category": cat, "sr": sr, **{k: c[k] for k in ("subject", "the", "verb", "base", "gerund",
                                                                         "plural")},
               "role": "event", "countable": c["countable"], "split": split,
               "holdout": "recording" if split == "eval" else None, "transcript": None, "language": None,
               "speaker": None, "voice": None, "origin": {"package": "synthetic", "file": rid, "license": "none"},
               "group": extra.get("voice", rid)}
        rec.update(extra)
        recs.append(rec)
    np.savez_compressed(folder / "audio.npz", **arrays)
    manifest = {"format": "sam-sources/1", "sample_rate": SR, "audio": "audio.npz", "recordings": recs,
                "categories": {k: {kk: vv for kk, vv in v.items() if kk != "countable"} for k, v in CATEGORIES.items()}}
    (folder / "sources.json").write_text(json.dumps(manifest, ensure_ascii=False))
    return {r["id"]: r for r in recs}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    src = tmp_path_factory.mktemp("newsources")
    recs = write_new_sources(src)
    return src, recs


@pytest.fixture(scope="module")
def clips(sources, tmp_path_factory):
    src, recs = sources
    out = tmp_path_factory.mktemp("clips") / "out"
    opts = build.ClipOptions(max_seconds=40.0, codec_share=0.3)
    build.build_clips(src, out, num_train=60, num_eval=30, num_eval_seen=0, seed=5, workers=1, opts=opts)
    return src, out, recs, opts


def _read(out: Path, name: str):
    return json.loads((out / name).read_text())


def _frames(path: Path) -> int:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SR, 1, 2)
        return w.getnframes()


# ---------------------------------------------------------------------------------------------------------
# Windows: exactly sam describe's


def test_window_constants_are_sam_clis():
    from sam_cli import audio as sam_audio

    assert build.WINDOW_SECONDS == sam_audio.WINDOW_SECONDS
    from sam_cli.audio.load import _window_samples

    assert build.WINDOW_SAMPLES == _window_samples(sam_audio.WINDOW_SECONDS, sam_audio.SAMPLE_RATE)
    assert build.SR == sam_audio.SAMPLE_RATE
    for seconds in (0.3, 1.0, 10.0, 10.24, 10.25, 25.0, 61.44):
        n = int(round(seconds * SR))
        wins = sam_audio.split_windows(__import__("torch").zeros(n))
        assert [x for w in wins for x in (w.start, w.end)] == pytest.approx(
            [x for r in build.window_ranges(seconds) for x in r])


def test_window_files_are_what_sam_describe_sees(sources, tmp_path):
    """Each window file holds exactly the samples sam_cli's split_windows gives for that window of the whole
    clip, so `sam train` (fbank(load_audio(file))) sees what `sam describe` sees: same features, padding and all."""
    import torch
    from sam_cli import audio as sam_audio

    src, _ = sources
    s = build.load_sources(src)
    vocab = build.event_vocabulary(s)
    opts = build.ClipOptions(lengths={"long": 1.0}, max_seconds=30.0, codec_share=0.0)
    checked_long = checked_short = 0
    for index in range(6):
        metas, _ = build.make_clip(s, tmp_path, "train", index, 1, vocab, opts, keep_clip=True)
        clip_path = tmp_path / "clips" / "train" / f"{metas[0]['clip']}.wav"
        whole = sam_audio.load_audio(clip_path)
        wins = sam_audio.split_windows(whole)
        assert len(wins) == metas[0]["windows"] >= 2
        by_index = {m["window"]: m for m in metas}
        for w in wins:
            if w.index not in by_index:
                continue  # a window holding only a sliver of a sound is not an example
            m = by_index[w.index]
            mine = sam_audio.load_audio(tmp_path / m["audio_id"])
            assert torch.equal(mine, w.samples)
            assert (m["start"], m["end"]) == pytest.approx((w.start, w.end), abs=1e-4)
            assert torch.equal(sam_audio.fbank(mine), sam_audio.fbank(w.samples))
            checked_long += 1
    # short clips: one window, the clip itself, shorter than 10.24 s: the loader pads its features as describe does
    opts = build.ClipOptions(lengths={"short": 1.0}, codec_share=0.0)
    for index in range(6):
        metas, _ = build.make_clip(s, tmp_path, "train", 100 + index, 1, vocab, opts, keep_clip=True)
        (m,) = metas
        x = sam_audio.load_audio(tmp_path / m["audio_id"])
        assert m["windows"] == 1 and len(sam_audio.split_windows(x)) == 1
        assert x.numel() == round(m["seconds"] * SR) and m["seconds"] < build.WINDOW_SECONDS
        assert m["padded_seconds"] == pytest.approx(build.WINDOW_SECONDS - m["seconds"], abs=1e-3)
        checked_short += 1
    assert checked_long >= 6 and checked_short == 6


# ---------------------------------------------------------------------------------------------------------
# Clip types


def _clip(sources, ctype, index, opts=None, split="train"):
    src, _ = sources
    s = build.load_sources(src)
    out = Path(str(src) + "_out")
    opts = opts or build.ClipOptions(codec_share=0.0)
    return build.make_clip(s, out, split, index, 2, build.event_vocabulary(s), opts, force_type=ctype), out


def test_single_event_clips(sources):
    _, recs = sources
    opts = build.ClipOptions(lengths={"short": 1.0}, codec_share=0.0)
    for index in range(12):
        (metas, records), out = _clip(sources, "single", index, opts)
        (m,) = metas
        assert m["type"] == "single" and m["windows"] == 1 and 0.3 <= m["seconds"] < 5.5
        (e,) = m["events"]
        assert e["kind"] != "speech" and recs[e["recording"]]["category"] == e["category"]
        assert 0 <= e["onset"] < e["offset"] <= m["seconds"] + 1e-3 and not e["partial"]
        assert len(e["onsets"]) == e["count"] and (e["count"] == 1 or e["countable"])
        assert _frames(out / m["audio_id"]) == round(m["seconds"] * SR)
        text = m["caption"].lower()
        assert e["subject"].lower() in text
        found = evaluate.find_mentions(m["caption"], {c: v["synonyms"] for c, v in CATEGORIES.items()
                                                      if v["kind"] != "noise"})
        assert found == {e["category"]} | (set(m["background"]["categories"]) if m["background"] else set()) & found
        for r in records:
            if r["task"] == "qa_count":
                assert r["output"] == build.COUNT_ANSWERS[e["count"]]


def test_scene_clips(sources):
    for index in range(8):
        (metas, _), _ = _clip(sources, "scene", index)
        for m in metas:
            assert m["type"] == "scene"
            if m["clip_seconds"] <= build.WINDOW_SECONDS:
                assert 1 <= len(m["events"]) <= 4
            cats = [e["category"] for e in m["events"]]
            assert len(set(cats)) == len(cats)
            for a, b in zip(m["events"], m["events"][1:]):
                assert a["onset"] <= b["onset"]


def test_ambience_clips(sources):
    _, recs = sources
    n_events = 0
    for index in range(10):
        (metas, records), _ = _clip(sources, "ambience", index)
        for m in metas:
            bed = m["background"]
            assert m["type"] == "ambience" and bed and recs[bed["recording"]]["role"] == "ambience"
            assert bed["categories"] == recs[bed["recording"]].get("labels", [recs[bed["recording"]]["category"]])
            assert set(bed["categories"]) <= set(m["present"])
            assert not set(bed["categories"]) & {e["category"] for e in m["events"]}
            n_events += len(m["events"])
            if not m["events"]:  # the bed alone: the caption names it
                found = evaluate.find_mentions(m["caption"], {c: v["synonyms"] for c, v in CATEGORIES.items()})
                assert found and found <= set(bed["categories"]), m["caption"]
        labels = [r["output"] for r in records if r["task"] == "cla_label"]
        assert all(r for r in labels)
    assert n_events > 0


def test_eval_clips_use_held_out_recordings_only(clips):
    _, out, recs, _ = clips
    meta = _read(out, "scenes_meta.json")
    used = {"train": set(), "eval": set()}
    for m in meta["scenes"]:
        used[m["split"]] |= {e["recording"] for e in m["events"]}
        if m["background"]:
            used[m["split"]].add(m["background"]["recording"])
    assert used["eval"] and all(recs[r]["split"] == "eval" for r in used["eval"])
    assert all(recs[r]["split"] == "train" for r in used["train"])


def test_empty_clips(sources):
    silent = noisy = 0
    for index in range(10):
        (metas, records), out = _clip(sources, "empty", index)
        for m in metas:
            assert not m["events"] and not m["background"]
            x = build.read_wav(out / m["audio_id"])
            if m["noise"] is None:
                silent += 1
                assert not np.any(x) and m["caption"] in build.SILENCE_CAPTIONS
            else:
                noisy += 1
                assert m["caption"] in build.NOISE_CAPTIONS
                d = m["degrade"]
                if d["rate"] >= SR and not d["telephone"] and not d["codec"]:  # else the chain takes some away
                    assert abs(10 * np.log10(np.mean(x.astype(np.float64) ** 2)) - m["noise"]["level_db"]) < 1.0
        assert all(r["output"] == "No." for r in records if r["task"] == "qa_presence")
    assert silent and noisy


# ---------------------------------------------------------------------------------------------------------
# Speech


def test_speech_captions_name_speaker_and_language(sources):
    _, recs = sources
    n_quoted = n_named = n_two = 0
    for index in range(30):
        (metas, records), _ = _clip(sources, "speech", index)
        for m in metas:
            speech = [e for e in m["events"] if e["kind"] == "speech"]
            if not speech:
                continue
            text = m["caption"]
            assert m["speech"]["languages"] == list(dict.fromkeys(e["language"] for e in speech))
            n_two += len({e["voice"] for e in speech}) > 1
            for e in speech:
                r = recs[e["recording"]]
                assert (e["language"], e["speaker"], e["voice"], e["transcript"]) == (
                    r["language"], r["speaker"], r["voice"], r["transcript"])
                noun = {"man": "man", "woman": "woman", "child": "child"}[e["speaker"]]
                assert re.search(rf"\b({noun}|{ {'man': 'men', 'woman': 'women', 'child': 'children'}[noun]})\b",
                                 text.lower()), text
                if e["quoted"]:
                    assert e["language"] != "ru"  # Cyrillic is never quoted: the language is named instead
                    assert build.short_quote(e["transcript"]) in text
                    n_quoted += 1
                if e["language"] != "en" and not any("'" in text for _ in [0]):
                    assert build.language_name(e["language"]) in text, text
            if any(e["language"] == "ru" for e in speech):
                assert "Russian" in text and not re.search(r"[а-яА-Я]", text)
                n_named += 1
            tasks = {r["task"]: r for r in records if r["audio_id"] == m["audio_id"]}
            if "qa_language" in tasks:
                names = {build.language_name(e["language"]) for e in speech}
                assert set(re.findall(r"[A-Z][a-z]+", tasks["qa_language"]["output"])) == names
            if "qa_speaker" in tasks:
                assert evaluate._speakers(tasks["qa_speaker"]["output"]) == {e["speaker"] for e in speech}
            if "qa_speech" in tasks:
                assert tasks["qa_speech"]["output"] in {e["transcript"] for e in speech}
                assert not re.search(r"[а-яА-Я]", tasks["qa_speech"]["output"])
    assert n_quoted and n_named and n_two


def test_speech_language_rules():
    assert build.language_name("pt_BR") == "Portuguese" and build.language_name("fr") == "French"
    assert build.language_name(None) is None and build.language_code("pt-BR") == "pt"
    assert "en" in build.QUOTE_LANGUAGES and "ru" not in build.QUOTE_LANGUAGES and "el" not in build.QUOTE_LANGUAGES


# ---------------------------------------------------------------------------------------------------------
# Windows of long clips: the ground truth follows the window


def _fake_rec(cat="piano", countable=False, kind="music"):
    c = CATEGORIES[cat]
    return build.Recording(id=f"x.{cat}", category=cat, kind=kind, package="p", sr=SR, audio=np.zeros(10, np.float32),
                           subject=c["subject"], the=c["the"], verb=c["verb"], base=c["base"], gerund=c["gerund"],
                           plural=False, countable=countable, split="train", holdout=None)


def test_window_truth_of_events_cut_by_a_window_edge():
    rng = np.random.default_rng(0)
    long = build.Placed(_fake_rec(), np.zeros(int(12 * SR), np.float32), [4.0], -20.0)  # 4 .. 16 s
    sliver = build.Placed(_fake_rec("bell", True), np.zeros(int(0.8 * SR), np.float32), [10.0], -20.0)  # 0.24 s in w0
    dog = build.Placed(_fake_rec("dog", True, "animal"), np.zeros(int(0.3 * SR), np.float32), [12.0, 13.0, 14.0], -20)
    clip = build.Clip("c", "train", "scene", 20.0, [long, sliver, dog], None, None, None, {}, rng)
    ranges = build.window_ranges(20.0)
    assert ranges == [(0.0, 10.24), (10.24, 20.0)]
    w0 = build.window_truth(clip, 0, *ranges[0])
    w1 = build.window_truth(clip, 1, *ranges[1])
    assert [e.ev.rec.category for e in w0.events] == ["piano"] and w0.events[0].partial
    assert w0.events[0].onsets == [4.0] and w0.events[0].offset == pytest.approx(10.24)
    assert w0.edge == ["bell"]  # a sliver here (neither named nor denied); mostly in window 1: counted there
    assert [e.ev.rec.category for e in w1.events] == ["piano", "bell", "dog"]  # by onset; ties in clip order
    piano, bell, dog_w = w1.events
    assert bell.partial and bell.onsets == [0.0] and piano.partial and piano.onsets == [0.0]
    assert dog_w.count == 3 and not dog_w.partial and dog_w.onsets == pytest.approx([1.76, 2.76, 3.76])
    # a partial countable event: its count is neither said nor asked
    assert "once" not in build.clip_clause(bell, [], rng) and build.clip_clause(dog_w, [], rng).endswith("three times")
    tiny = build.Placed(_fake_rec("bell", True), np.zeros(int(0.8 * SR), np.float32), [10.0], -20.0)
    clip2 = build.Clip("c", "train", "single", 10.5, [tiny], None, None, None, {}, rng)
    w = build.window_truth(clip2, 0, 0.0, 10.24)
    assert not w.events and w.edge == ["bell"]  # a 0.24-s sliver: neither named nor denied (and not an example)


# ---------------------------------------------------------------------------------------------------------
# Degradations


def test_band_limit_and_rates():
    x = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32)
    for rate in (8000, 11025):
        y = build.band_limit(x, 0.5 * rate * 0.96)
        spec = np.abs(np.fft.rfft(y)) ** 2
        f = np.fft.rfftfreq(len(y), 1 / SR)
        assert spec[f > rate / 2].sum() < 1e-4 * spec.sum()
    y = build.band_limit(x, *reversed(build.TELEPHONE_BAND))
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / SR)
    assert spec[(f < 150) | (f > 3500)].sum() < 1e-3 * spec.sum()


def test_codecs_keep_length_and_alignment():
    x = np.zeros(2 * SR, np.float32)
    x[SR: SR + 400] = np.hanning(400) * 0.5
    assert build.codec_available("ogg")
    for codec in ("mp3", "ogg"):
        if not build.codec_available(codec):
            continue
        y = build.encode_decode(x, codec, 0.9)
        assert len(y) == len(x) and np.argmax(np.abs(y)) == pytest.approx(SR + 200, abs=160)


def test_mp3_at_the_lowest_bitrate_needs_no_ffmpeg(monkeypatch):
    """A plan's codec level can be exactly 1.0, which libsndfile's MP3 encoder refuses: the clip fell back to
    ffmpeg, and the build stopped on a machine without it (the GPU machine)."""
    if not build.codec_available("mp3"):
        pytest.skip("no MP3 encoder here")
    monkeypatch.setenv("PATH", "")
    x = (np.random.default_rng(0).standard_normal(SR) * 0.1).astype(np.float32)
    y = build.encode_decode(x, "mp3", 1.0)
    assert len(y) == len(x) and np.abs(y).max() > 0.05


def test_pitch_and_time_stretch_keep_duration():
    t = np.arange(SR) / SR
    x = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    y = build.pitch_shift(x, 12.0)
    assert abs(len(y) - len(x)) < 0.01 * len(x)
    f = np.fft.rfftfreq(len(y), 1 / SR)
    assert abs(f[np.argmax(np.abs(np.fft.rfft(y)))] - 880) < 15
    assert abs(len(build.time_stretch(x, 2.0)) - SR // 2) < 10


# ---------------------------------------------------------------------------------------------------------
# The whole build: format, determinism, lengths


def test_clip_records_and_meta(clips):
    _, out, _, _ = clips
    meta = _read(out, "scenes_meta.json")
    assert meta["mode"] == "clips" and meta["window_seconds"] == 10.24
    window = {m["audio_id"]: m for m in meta["scenes"]}
    for name in ("train.json", "eval.json"):
        for r in _read(out, name):
            assert set(r) == {"instruction", "input", "output", "audio_id", "dataset", "task", "tags"}
            # tags: the window's sound classes by label (the tagging head's targets); nothing heard -> as said
            m = window[r["audio_id"]]
            labels = {meta["categories"].get(c, {}).get("label", c) for c in m["present"]}
            assert set(r["tags"]) == (labels or {"background noise" if m["noise"] else "silence"}), (r, m["present"])
            assert r["output"].strip() and (out / r["audio_id"]).is_file()
            assert "cla" not in r["task"] or r["task"] == "cla_label"
            assert "open" not in r["task"]
    types = {m["type"] for m in meta["scenes"]}
    assert types == set(build.CLIP_TYPES)
    seconds = [m["seconds"] for m in meta["scenes"]]
    assert min(seconds) < 5 and max(m["clip_seconds"] for m in meta["scenes"]) > build.WINDOW_SECONDS
    for m in meta["scenes"]:
        assert _frames(out / m["audio_id"]) == round(m["seconds"] * SR) <= build.WINDOW_SAMPLES
        assert {"type", "clip", "window", "windows", "clip_seconds", "start", "end", "seconds", "padded_seconds",
                "events", "edge", "background", "noise", "reverb", "degrade", "speech", "present"} <= set(m)
        for e in m["events"]:
            assert 0 <= e["onset"] <= e["offset"] <= m["seconds"] + 1e-3


def test_clips_same_whatever_the_workers(clips, tmp_path, monkeypatch):
    src, out, _, opts = clips
    # multiprocessing pickles the worker function by module name: test_dataset.py may have loaded another copy
    monkeypatch.setitem(sys.modules, "build_scenes", build)
    again = tmp_path / "again"
    build.build_clips(src, again, num_train=60, num_eval=30, num_eval_seen=0, seed=5, workers=2, opts=opts)
    for name in ("train.json", "eval.json", "scenes_meta.json"):
        assert (out / name).read_text().replace(str(src), "") == (again / name).read_text().replace(str(src), "")
    for wav_path in sorted((out / "audio").rglob("*.wav")):
        assert wav_path.read_bytes() == (again / wav_path.relative_to(out)).read_bytes()


def test_cli_mix_flags(sources, tmp_path):
    src, _ = sources
    out = tmp_path / "cli"
    build.main(["--mode", "clips", "--sources", str(src), "--out", str(out), "--num-train", "12", "--num-eval", "0",
                "--num-eval-seen", "0", "--workers", "1", "--mix", "speech=1", "--lengths", "short=1",
                "--codecs", "ogg", "--empty-share", "0.25"])
    meta = _read(out, "scenes_meta.json")
    assert {m["type"] for m in meta["scenes"]} <= {"speech", "empty"}
    assert meta["options"]["mix"] == {"speech": 0.75, "empty": 0.25}
    assert all(m["seconds"] < 10.24 for m in meta["scenes"])
    with pytest.raises(SystemExit):
        build.main(["--mode", "clips", "--sources", str(src), "--out", str(out), "--mix", "nonsense=1"])


# ---------------------------------------------------------------------------------------------------------
# evaluate.py on clips


def _preds(records, override=None):
    preds = {evaluate._key(r["audio_id"], r["task"], r["instruction"]): r["output"] for r in records}
    for audio_id, text in (override or {}).items():
        preds[evaluate._key(audio_id, "caption", evaluate.DESCRIBE_PROMPT)] = text
    return preds


def test_evaluate_invented_sources_and_speech(clips):
    _, out, _, _ = clips
    meta = _read(out, "scenes_meta.json")
    records = _read(out, "train.json")
    res = evaluate.score(meta, records, _preds(records))
    for g, row in res["by_type"].items():
        assert row["invented_per_caption"] == 0.0, g
        assert row["named"] in (1.0, None) and row["speech_detected"] in (1.0, None), g
        assert row["silence_said"] in (1.0, None), g
    assert res["qa_language"]["accuracy"] == 1.0 and res["qa_speaker"]["accuracy"] == 1.0
    scenes = [m for m in meta["scenes"] if m["split"] == "train"]
    empty = [m for m in scenes if not m["events"] and not m["background"]]
    dogless = [m for m in scenes if m["events"] and "dog" not in m["present"] and m["type"] != "speech"]
    amb = [m for m in scenes if m["background"] and not m["events"]]
    man = [m for m in scenes if m["type"] == "speech" and {e["speaker"] for e in m["events"]} == {"man"}]
    assert empty and dogless and amb and man
    override = {m["audio_id"]: "A dog barks." for m in empty}  # one invented source each
    override.update({m["audio_id"]: m["caption"][:-1] + ", then a dog barks twice." for m in dogless})
    override.update({m["audio_id"]: "A busy market, traffic and the wind." for m in amb})  # labels: not invented
    override.update({m["audio_id"]: "A woman speaks." for m in man})  # a wrong speaker: a confusion
    res = evaluate.score(meta, records, _preds(records, override))
    allrow = res["by_type"]["all"]
    inv_amb = sum(1 for m in amb if not {"market", "traffic", "wind"} <= set(m["background"]["categories"]))
    assert allrow["invented_per_caption"] == pytest.approx(
        (len(empty) + len(dogless) + inv_amb) / allrow["captions"], abs=1e-3)
    assert res["by_type"]["empty"]["silence_said"] == 0.0
    conf = {(a, b): n for a, b, n in res["confusions"]}
    assert conf.get(("speech_male", "speech_female"), 0) >= len([m for m in man if m["clip_seconds"] <= 10.24]) > 0
    assert ("dog", len(empty) + len(dogless)) in [tuple(x) for x in res["invented_categories"]]
    # speech not detected, language not named
    override = {m["audio_id"]: "A dog barks." for m in man}
    res = evaluate.score(meta, records, _preds(records, override))
    assert res["by_type"]["speech"]["speech_detected"] < 1.0


def test_evaluate_main_on_clips_and_saved_predictions(clips, tmp_path, capsys):
    _, out, _, _ = clips
    records = _read(out, "eval.json")
    pred_file = tmp_path / "p.jsonl"
    pred_file.write_text("".join(json.dumps({"audio_id": r["audio_id"], "task": r["task"], "instruction": r["instruction"],
                                             "prediction": r["output"]}) + "\n" for r in records))
    res_file = tmp_path / "r.json"
    evaluate.main(["--data", str(out), "--predictions", str(pred_file), "--out", str(res_file)])
    res = json.loads(res_file.read_text())
    assert res["by_type"]["all"]["windows"] == res["scenes"] > 0
    text = capsys.readouterr().out
    assert "by clip type" in text and "single events (0.3-10.24 s)" in text
    evaluate.main(["--data", str(out), "--predictions", str(pred_file), "--types", "speech", "--out", str(res_file)])
    res = json.loads(res_file.read_text())
    assert set(res["by_type"]) == {"speech", "all"}


def test_evaluate_still_scores_old_scenes(tmp_path):
    """The old scenes (--mode scenes) score as before, with the by-type rows on top."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import test_dataset as td

    src = tmp_path / "src"
    src.mkdir()
    td.write_sources(src)
    out = tmp_path / "old"
    build.build(src, out, num_train=0, num_eval=8, num_eval_seen=0, seed=3, workers=1, empty_share=0.25)
    meta = _read(out, "scenes_meta.json")
    records = _read(out, "eval.json")
    res = evaluate.score(meta, records, _preds(records))
    assert res["sources_named"] == 1.0 and res["false_mentions_per_caption"] == 0.0
    assert set(res["by_type"]) <= {"scene", "empty", "all"} and res["by_type"]["all"]["windows"] == 8


def test_probe_encoder_separates_what_is_separable_and_runs_on_clips(clips, tiny_model_dir, tmp_path, capsys):
    import numpy as np

    probe = _load("probe_encoder")
    # The probe itself: two classes a feature tells apart are told apart; labels unrelated to it are not.
    rng = np.random.default_rng(0)
    y = np.eye(2, dtype=np.int8)[rng.integers(0, 2, 400)]
    x = rng.standard_normal((400, 8)) + 3.0 * y[:, :1]
    good = probe.score(probe.probe(x[:300], y[:300], x[300:], epochs=200), y[300:])
    noise = probe.score(probe.probe(rng.standard_normal((400, 8))[:300], y[:300],
                                    rng.standard_normal((100, 8)), epochs=200), y[300:])
    assert good["top1_single"] > 0.95 and good["mAP"] > 0.95
    assert noise["top1_single"] < 0.75

    # End to end on a clips build: every feature set gets a row, figures in range, JSON written.
    _, out, _, _ = clips
    probe.main(["--data", str(out), "--model", str(tiny_model_dir), "--random", "--train-limit", "40",
                "--eval-limit", "20", "--epochs", "20", "--out", str(tmp_path / "p.json")])
    table = capsys.readouterr().out
    name = str(tiny_model_dir)
    for row in ("mel", f"{name} [cls]", f"{name} [mean]", f"random {name} [mean]"):
        assert f"| {row} |" in table, table
    res = json.loads((tmp_path / "p.json").read_text())
    assert res["train"] == 40 and 0 < res["eval"] <= 20
    assert all(0.0 <= r["mAP"] <= 1.0 for r in res["results"].values())
