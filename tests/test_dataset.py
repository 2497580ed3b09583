"""The sam-tiny-scenes builder and evaluation metrics (scripts/), on a tiny synthetic sources folder.

The real sources come from Debian packages (scripts/collect_sources.py); these tests write a folder of the
same format from synthetic signals, so they need neither the packages nor a GPU, and run in seconds.
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


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and multiprocessing look modules up by name
    spec.loader.exec_module(module)
    return module


collect = _load("collect_sources")
build = _load("build_scenes")
evaluate = _load("evaluate")
scoring = _load("evaluate_scoring")

SR = 16000


# ---------------------------------------------------------------------------------------------------------
# A tiny sources folder: 4 categories, some recordings held out, one 8-kHz category (exercises resampling)


def _burst(rng, seconds, sr=SR):
    n = int(seconds * sr)
    return rng.standard_normal(n) * np.hanning(n)


def _tone(freq, seconds, sr=SR, decay=3.0):
    t = np.arange(int(seconds * sr)) / sr
    return np.sin(2 * np.pi * freq * t) * np.exp(-decay * t)


def write_sources(folder: Path) -> dict[str, str]:
    """-> {recording id: split}."""
    rng = np.random.default_rng(0)
    specs = [  # id, category, sr, audio, split, extra
        ("dog.1", "dog", SR, _burst(rng, 0.3), "train", {}),
        ("dog.2", "dog", SR, _burst(rng, 0.35), "train", {}),
        ("dog.3", "dog", SR, _burst(rng, 0.25), "eval", {}),
        ("bell.1", "bell", SR, _tone(880, 0.8), "train", {}),
        ("bell.2", "bell", SR, _tone(660, 0.8), "eval", {}),
        ("piano.1", "piano", SR, _tone(440, 2.0, decay=0.5), "train", {}),
        ("piano.2", "piano", SR, _tone(523, 1.5, decay=0.5), "eval", {}),
        ("woman.1", "speech_female", 8000, _tone(220, 1.0, 8000, 0.2), "train",
         {"transcript": "Please hold.", "gender": "female"}),
        ("woman.2", "speech_female", 8000, _tone(250, 1.2, 8000, 0.2), "train",
         {"transcript": "Good morning.", "gender": "female"}),
        ("woman.3", "speech_female", 8000, _tone(240, 0.9, 8000, 0.2), "eval",
         {"transcript": "See you tomorrow.", "gender": "female"}),
        ("noise.white", "noise", SR, rng.standard_normal(12 * SR) * 0.3, "train", {}),
    ]
    arrays, recs = {}, []
    for rid, cat, sr, x, split, extra in specs:
        arrays[rid] = collect.to_int16(x.astype(np.float32))
        c = collect.CATEGORIES[cat]
        recs.append({"id": rid, "category": cat, "sr": sr, **c.phrases(), **extra,
                     "countable": c.countable, "split": split, "holdout": "recording" if split == "eval" else None,
                     "origin": {"package": "synthetic", "file": rid, "license": "none"}, "group": rid})
    np.savez_compressed(folder / "audio.npz", **arrays)
    cats = sorted({r["category"] for r in recs})
    manifest = {"format": "sam-sources/1", "sample_rate": SR, "audio": "audio.npz", "recordings": recs,
                "categories": {c: {"kind": collect.CATEGORIES[c].kind, "label": collect.CATEGORIES[c].label,
                                   "synonyms": collect.CATEGORIES[c].synonyms, **collect.CATEGORIES[c].phrases()}
                               for c in cats}}
    (folder / "sources.json").write_text(json.dumps(manifest))
    return {r["id"]: r["split"] for r in recs}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    src = root / "sources"
    src.mkdir()
    splits = write_sources(src)
    out = root / "out"
    build.build(src, out, num_train=10, num_eval=6, num_eval_seen=2, seed=3, workers=1)
    return src, out, splits


def _read(out: Path, name: str):
    return json.loads((out / name).read_text())


# ---------------------------------------------------------------------------------------------------------
# Format


def test_openaqa_records(built):
    _, out, _ = built
    for name in ("train.json", "eval.json", "eval_seen.json"):
        records = _read(out, name)
        assert records
        for r in records:
            assert set(r) == {"instruction", "input", "output", "audio_id", "dataset", "task"}
            assert all(isinstance(v, str) for v in r.values())
            assert r["input"] == "" and r["dataset"] == "sam-tiny-scenes" and r["output"].strip()
            assert not Path(r["audio_id"]).is_absolute() and (out / r["audio_id"]).is_file()
        captions = [r for r in records if r["task"] == "caption"]
        assert captions and all(r["instruction"] == build.DESCRIBE_PROMPT for r in captions)
        assert build.DESCRIBE_PROMPT == "Close-ended question: Write an audio caption describing the sound."


def test_audio_is_10s_16k_mono_16bit(built):
    _, out, _ = built
    for wav_path in sorted((out / "audio").rglob("*.wav")):
        with wave.open(str(wav_path)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
            assert w.getnframes() == 160000
        x = build.read_wav(wav_path)
        assert np.abs(x).max() > 0.001  # not silent


def test_presence_questions_are_balanced(built):
    _, out, _ = built
    answers = [r["output"] for r in _read(out, "train.json") if r["task"] == "qa_presence"]
    assert answers.count("Yes.") == answers.count("No.") > 0


# ---------------------------------------------------------------------------------------------------------
# Determinism and splits


def test_same_seed_same_dataset_whatever_the_workers(built, tmp_path):
    src, out, _ = built
    again = tmp_path / "again"
    build.build(src, again, num_train=10, num_eval=6, num_eval_seen=2, seed=3, workers=2)
    for name in ("train.json", "eval.json", "eval_seen.json", "scenes_meta.json"):
        a = (out / name).read_text().replace(str(src), "")
        b = (again / name).read_text().replace(str(src), "")
        assert a == b, name
    for wav_path in sorted((out / "audio").rglob("*.wav")):
        assert wav_path.read_bytes() == (again / wav_path.relative_to(out)).read_bytes()


def test_empty_scenes(built, tmp_path):
    """--empty-share: that share of scenes without events (silence or a noise bed alone, said so in the
    caption, the tag list and "No." to every presence question); every other scene as without the option."""
    src, out, _ = built
    mixed = tmp_path / "mixed"
    build.build(src, mixed, num_train=10, num_eval=0, num_eval_seen=0, seed=3, workers=1, empty_share=0.5)
    meta = _read(mixed, "scenes_meta.json")
    empty = [m for m in meta["scenes"] if not m["events"]]
    full = [m for m in meta["scenes"] if m["events"]]
    assert empty and full and meta["empty_share"] == 0.5
    by_audio: dict[str, list] = {}
    for r in _read(mixed, "train.json"):
        by_audio.setdefault(r["audio_id"], []).append(r)
    silent = noisy = 0
    for m in empty:
        x = build.read_wav(mixed / m["audio_id"])
        assert len(x) == 160000
        records = {r["task"]: r for r in by_audio[m["audio_id"]]}
        assert set(records) == {"caption", "cla_label", "qa_presence"}
        presence = [r["output"] for r in by_audio[m["audio_id"]] if r["task"] == "qa_presence"]
        assert presence == ["No.", "No."]
        if m["noise"] is None:
            silent += 1
            assert not np.any(x)
            assert m["caption"] in build.SILENCE_CAPTIONS and records["cla_label"]["output"] == "Silence."
        else:
            noisy += 1
            rms_db = 10 * np.log10(np.mean(x.astype(np.float64) ** 2))
            assert abs(rms_db - m["noise"]["level_db"]) < 1.0, (rms_db, m["noise"])
            assert build.EMPTY_NOISE_DB[0] - 1 <= rms_db <= build.EMPTY_NOISE_DB[1] + 1
            assert m["caption"] in build.NOISE_CAPTIONS and records["cla_label"]["output"] == "Background noise."
    assert silent + noisy == len(empty)
    for m in full:  # the scenes with events are those of a build without the option
        assert (mixed / m["audio_id"]).read_bytes() == (out / m["audio_id"]).read_bytes()
    # evaluate.py scores such scenes: a caption naming a sound there is a false mention
    records = _read(mixed, "train.json")
    preds = {evaluate._key(r["audio_id"], r["task"], r["instruction"]): r["output"] for r in records}
    assert evaluate.score(meta, records, preds)["false_mentions_per_caption"] == 0.0
    for m in empty:
        preds[evaluate._key(m["audio_id"], "caption", build.DESCRIBE_PROMPT)] = "A dog barks twice."
    res = evaluate.score(meta, records, preds)
    assert res["false_mentions_per_caption"] == pytest.approx(len(empty) / len(meta["scenes"]))


def test_another_seed_another_dataset(built, tmp_path):
    src, out, _ = built
    other = tmp_path / "other"
    build.build(src, other, num_train=10, num_eval=0, num_eval_seen=0, seed=4, workers=1)
    assert (out / "train.json").read_text() != (other / "train.json").read_text()


def test_eval_scenes_use_only_held_out_recordings(built):
    _, out, splits = built
    meta = _read(out, "scenes_meta.json")
    seen = {"train": set(), "eval": set(), "eval_seen": set()}
    for s in meta["scenes"]:
        for e in s["events"]:
            seen[s["split"]].add(e["recording"])
    assert seen["eval"] and all(splits[r] == "eval" for r in seen["eval"])
    assert all(splits[r] == "train" for r in seen["train"] | seen["eval_seen"])
    assert not seen["eval"] & seen["train"]


# ---------------------------------------------------------------------------------------------------------
# Metadata agrees with the text


def test_timeline_is_ordered_and_inside_the_scene(built):
    _, out, _ = built
    for s in _read(out, "scenes_meta.json")["scenes"]:
        evs = s["events"]
        assert 1 <= len(evs) <= 4
        assert len({e["category"] for e in evs}) == len(evs)
        for e in evs:
            assert 0 <= e["onset"] < e["offset"] <= 10.0
            assert len(e["onsets"]) == e["count"] and e["onsets"] == sorted(e["onsets"])
            assert e["count"] == 1 or e["countable"]
        for a, b in zip(evs, evs[1:]):
            assert a["offset"] + build.MIN_GAP - 0.01 <= b["onset"]


def test_captions_follow_order_and_counts(built):
    _, out, _ = built
    meta = _read(out, "scenes_meta.json")
    for s in meta["scenes"]:
        text = s["caption"].lower()
        positions = []
        for e in s["events"]:
            where = text.find(e["subject"].lower())
            assert where >= 0, (e["subject"], s["caption"])
            positions.append(where)
            following = text[where:]
            nxt = [text.find(o["subject"].lower(), where + 1) for o in s["events"] if o is not e]
            nxt = [p - where for p in nxt if p > where]
            own = following[: min(nxt)] if nxt else following
            if e["count"] > 1:
                assert build.COUNT_WORDS[e["count"]] in own, (e, s["caption"])
            else:
                assert not any(w in own for w in ("twice", "three times", "four times"))
            if "transcript" in e and "says '" in own:
                assert build.short_quote(e["transcript"]) in own
        assert positions == sorted(positions), s["caption"]


def test_questions_match_metadata(built):
    _, out, _ = built
    meta = {s["audio_id"]: s for s in _read(out, "scenes_meta.json")["scenes"]}
    n_count = 0
    for r in _read(out, "train.json") + _read(out, "eval.json"):
        scene = meta[r["audio_id"]]
        if r["task"] == "qa_count":
            ev = [e for e in scene["events"] if f" {e['the']} " in f" {r['instruction']} "]
            assert len(ev) == 1
            assert r["output"] == build.COUNT_ANSWERS[ev[0]["count"]]
            n_count += 1
        elif r["task"] == "qa_order" and r["instruction"] == "What happens first?":
            assert r["output"].lower().startswith(scene["events"][0]["subject"].lower())
        elif r["task"] == "qa_speech":
            assert r["output"] in {e.get("transcript") for e in scene["events"]}
        elif r["task"] == "qa_loudness":
            levels = {e["the"]: e["level_db"] for e in scene["events"]}
            named = [t for t in levels if t in r["instruction"]]
            if len(named) == 2 and r["instruction"].startswith("Which is louder,"):
                assert r["output"].lower().rstrip(".") == max(named, key=levels.get)
    assert n_count > 0


def test_resample_keeps_a_tone():
    t = np.arange(8000) / 8000
    y = build.resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), 2.0)
    ref = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert len(y) == 16000 and np.abs(y[500:-500] - ref[500:-500]).max() < 1e-3


# ---------------------------------------------------------------------------------------------------------
# evaluate.py's metric functions

SYN = {c: collect.CATEGORIES[c].synonyms for c in
       ("dog", "duck", "rubber_duck", "sea_lion", "big_cat", "speech_male", "speech_female", "bell", "sleigh_bells",
        "crow", "rooster")}


@pytest.mark.parametrize("text, expected", [
    ("A dog barks twice, then a woman says 'please hold'.", {"dog", "speech_female"}),
    ("A rubber duck squeaks, then a duck quacks.", {"rubber_duck", "duck"}),
    ("A rubber duck squeaks.", {"rubber_duck"}),
    ("A sea lion barks three times.", {"sea_lion"}),
    ("A lion roars.", {"big_cat"}),
    ("A man says 'let's feed the dog'.", {"speech_male"}),
    ("A man says \"the dog is asleep\" and a bell rings.", {"speech_male", "bell"}),
    ("Sleigh bells jingle.", {"sleigh_bells"}),
    ("A rooster crows, then a crow caws.", {"rooster", "crow"}),
    ("A rooster crows.", {"rooster"}),
    ("The dog's bark echoes; a woman speaks.", {"dog", "speech_female"}),
    ("Hotdogs sizzle.", set()),
    ("", set()),
])
def test_find_mentions(text, expected):
    assert evaluate.find_mentions(text, SYN) == expected


@pytest.mark.parametrize("text, expected", [
    ("Yes.", True), ("yes", True), ("No.", False), ("No, there is no dog.", False), ("Nope", False),
    ("  Yes, a dog barks.", True), ("There is no dog.", False), ("I think so", None), ("", None),
])
def test_parse_yes_no(text, expected):
    assert evaluate.parse_yes_no(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("Twice.", 2), ("Three times.", 3), ("Once.", 1), ("4 times", 4), ("It barks two times.", 2),
    ("Four.", 4), ("The dog barks.", None), ("", None),
])
def test_parse_count(text, expected):
    assert evaluate.parse_count(text) == expected


def test_normalize_words():
    assert evaluate.normalize_words("Please hold, I'll be right back!") == "please hold i'll be right back"
    assert evaluate.normalize_words("Please hold.") == evaluate.normalize_words("please hold")


def test_score_perfect_and_wrong_predictions(built):
    _, out, _ = built
    meta = _read(out, "scenes_meta.json")
    records = _read(out, "eval.json")
    perfect = {evaluate._key(r["audio_id"], r["task"], r["instruction"]): r["output"] for r in records}
    res = evaluate.score(meta, records, perfect)
    assert res["sources_named"] == 1.0 and res["false_mentions_per_caption"] == 0.0
    for task in ("qa_presence", "qa_count", "qa_order", "qa_speech"):
        assert res[task]["n"] == 0 or res[task]["accuracy"] == 1.0, task
    assert res["qa_presence"]["majority_baseline"] == 0.5

    def wrong(r):
        if r["task"] == "caption":
            return "Silence."
        if r["task"] == "qa_presence":
            return "No." if r["output"] == "Yes." else "Yes."
        if r["task"] == "qa_count":
            return "Five times."
        return "Nothing."
    bad = evaluate.score(meta, records, {evaluate._key(r["audio_id"], r["task"], r["instruction"]): wrong(r)
                                         for r in records})
    assert bad["sources_named"] == 0.0 and bad["qa_presence"]["accuracy"] == 0.0
    assert bad["qa_count"]["accuracy"] in (0.0, None)
    table = []

    class Sink:
        def write(self, s):
            table.append(s)
    evaluate.print_table(res, "title", file=Sink())
    assert re.search(r"sources named in captions\s+100\.0%", "".join(table))


# ---------------------------------------------------------------------------------------------------------
# evaluate_scoring.py


def test_scoring_choices_cover_the_scene_questions(built):
    _, out, _ = built
    covered = 0
    for r in _read(out, "eval.json") + _read(out, "train.json"):
        got = scoring.user_choices(r["task"], r["instruction"], r["output"])
        if r["task"] in ("qa_presence", "qa_count", "qa_loudness"):
            assert got is not None and got[1] in got[0], r  # a question the script would silently drop
            covered += 1
        else:
            assert got is None
    assert covered > 0
    assert scoring.average_precision(["a", "x", "b"], {"a", "b"}) == pytest.approx((1 + 2 / 3) / 2)
    assert scoring.average_precision(["x", "y", "a"], {"a"}) == pytest.approx(1 / 3)


def test_scoring_script_runs_on_scenes(built, tiny_model_dir, tmp_path):
    _, out, _ = built
    res_file = tmp_path / "r.json"
    scoring.main(["--model", str(tiny_model_dir), "--data", str(out), "--limit", "3", "--out", str(res_file)])
    res = json.loads(res_file.read_text())
    assert res["scenes"] == 3 and set(res) >= {"typed", "now"}
    for k in ("typed", "now"):
        assert 0 <= res[k]["labels_top1"] <= 1 and 0 < res[k]["labels_map"] <= 1
        assert set(res[k]) - {"labels_top1", "labels_map"} == set(res["questions"])
