"""collect_sources.py's machinery on synthetic audio: fingerprint deduplication, splits (package and voice
hold-outs), the merge of categories, record checks, caps and the Opus store. No Debian package needed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

from sources import fingerprint, store  # noqa: E402
from sources.common import C  # noqa: E402
from sources.records import make_record, problems  # noqa: E402


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


collect = sys.modules.get("collect_sources") or _load("collect_sources")
SR = 16000


def _chirps(seed: int, seconds: float = 1.5, sr: int = SR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sr), np.float32)
    for _ in range(4):
        t0, d = rng.uniform(0, seconds - 0.4), rng.uniform(0.08, 0.3)
        f0 = rng.uniform(400, 3000)
        f1 = f0 * rng.uniform(0.5, 2.0)
        t = np.arange(int(d * sr)) / sr
        s = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * d))) * np.hanning(len(t))
        a = int(t0 * sr)
        out[a:a + len(s)] += s.astype(np.float32)
    return out + 0.002 * rng.standard_normal(len(out)).astype(np.float32)


def _resample(x: np.ndarray, ratio: float) -> np.ndarray:
    n, m = len(x), int(round(len(x) * ratio))
    spec = np.fft.rfft(x)
    out = np.zeros(m // 2 + 1, complex)
    k = min(len(spec), len(out))
    out[:k] = spec[:k]
    return (np.fft.irfft(out, m) * m / n).astype(np.float32)


def _opus(x: np.ndarray, sr: int, kbps: float = 12) -> np.ndarray:
    pcm = collect.to_int16(x)
    y, got_sr = store.decode_bytes(store.encode_opus(pcm, sr, kbps))
    assert got_sr == sr
    return y


# ---------------------------------------------------------------------------------------------------------
# Fingerprints


def test_fingerprint_finds_copies_and_only_copies():
    base = [_chirps(s) for s in range(4)]
    a = base[0]
    copies = [
        (_resample(a, 0.5), 8000),                                   # resampled to 8 kHz
        (_opus(a, SR), SR),                                          # re-encoded at 12 kbit/s
        (0.1 * a[int(0.2 * SR):int(1.3 * SR)], SR),                  # trimmed and quieter
        (np.concatenate([np.zeros(777, np.float32), a * 3]), SR),    # padded by an odd amount, louder
    ]
    items = [(x, SR) for x in base] + copies
    found = fingerprint.find_duplicates(items)
    dropped = {d["drop"] for d in found}
    assert dropped == {4, 5, 6, 7}, found
    assert all(d["keep"] == 0 for d in found)
    for i in range(4):  # the different sounds, pairwise
        for j in range(i + 1, 4):
            assert not fingerprint.compare(fingerprint.logmel(base[i], SR), fingerprint.logmel(base[j], SR)).duplicate


def test_fingerprint_levels():
    a = _chirps(7)
    items = [(a, SR), (0.5 * a, SR), (a.copy(), SR)]
    # "identical": only bit-identical audio counts (cuts of one file); "strict" still finds a gain change
    found = fingerprint.find_duplicates(items, level=lambda i, j: "identical")
    assert {d["drop"] for d in found} == {2} and found[0]["how"] == "identical"
    found = fingerprint.find_duplicates(items, level=lambda i, j: "strict")
    assert {d["drop"] for d in found} == {1, 2}


def test_noise_beds_of_one_kind_are_not_duplicates():
    rng = np.random.default_rng(0)
    env = np.exp(-np.arange(SR) / SR * 4).astype(np.float32)
    bursts = [(rng.standard_normal(SR).astype(np.float32) * env, SR) for _ in range(4)]
    assert fingerprint.find_duplicates(bursts) == []


# ---------------------------------------------------------------------------------------------------------
# Splits


def _rec(rid, category, package, group, **extra):
    return {"id": rid, "category": category, "origin": {"package": package}, "group": group, **extra}


def _split_fixture():
    recs = []
    sizes = {"pa": 6, "pb": 3, "pc": 2, "pd": 1}  # dog recordings per package; pa is the largest
    for p, n in sizes.items():
        for k in range(n):
            recs.append(_rec(f"{p}.dog.{k}", "dog", p, f"{p}.dog.{k}"))
    for k in range(5):  # one package, five files
        recs.append(_rec(f"pa.bell.{k}", "bell", "pa", f"pa.bell.{k}"))
    recs += [_rec("pa.cat.1", "cat", "pa", "pa.cat", segment=1), _rec("pa.cat.2", "cat", "pa", "pa.cat", segment=2)]
    for v in range(6):  # French: six voices of three clips in one package; English: two voices
        for k in range(3):
            recs.append(_rec(f"fr.{v}.{k}", "speech_female", "px", f"fr.{v}", voice=f"fr{v}", language="fr"))
    for v in range(2):
        for k in range(3):
            recs.append(_rec(f"en.{v}.{k}", "speech_male", f"p{v}", f"en.{v}", voice=f"en{v}", language="en"))
    return recs


def test_package_and_voice_holdout():
    recs = _split_fixture()
    collect.assign_splits(recs, seed=0)
    by = {r["id"]: r for r in recs}
    dog_held = {r["origin"]["package"] for r in recs if r["category"] == "dog" and r["holdout"] == "package"}
    assert len(dog_held) == 1 and "pa" not in dog_held  # one whole package, never the largest
    held_pkg = dog_held.pop()
    assert all(r["split"] == "eval" for r in recs if r["category"] == "dog" and r["origin"]["package"] == held_pkg)
    # the packages left keep ~20% of their groups out as well
    assert sum(by[f"pa.dog.{k}"]["split"] == "eval" for k in range(6)) == 1
    assert sum(by[f"pa.bell.{k}"]["split"] == "eval" for k in range(5)) == 1
    # one file cut in two: one cut held out, marked "segment"
    assert sorted(by[f"pa.cat.{k}"]["holdout"] or "" for k in (1, 2)) == ["", "segment"]
    # voices: whole voices; French (6 voices) holds one out, English (two voices of two packages) none
    for lang, n in (("fr", 6), ("en", 2)):
        splits = {}
        for r in recs:
            if r.get("language") == lang:
                splits.setdefault(r["voice"], set()).add(r["split"])
        assert all(len(s) == 1 for s in splits.values())
        held = [v for v, s in splits.items() if s == {"eval"}]
        assert len(held) == (1 if lang == "fr" else 0)
        assert all(r["holdout"] == "voice" for r in recs if r.get("voice") in held)
    again = _split_fixture()
    collect.assign_splits(again, seed=0)
    assert [r["split"] for r in again] == [r["split"] for r in recs]  # deterministic
    other = _split_fixture()
    collect.assign_splits(other, seed=5)
    assert [(r["split"], r["holdout"]) for r in other] != [(r["split"], r["holdout"]) for r in recs]


def test_three_voices_of_a_language_hold_one_out():
    recs = [_rec(f"de.{v}.{k}", "speech_female", f"p{v}", f"de.{v}", voice=f"de{v}", language="de")
            for v in range(3) for k in range(2 + v)]
    collect.assign_splits(recs, seed=1)
    held = {r["voice"] for r in recs if r["split"] == "eval"}
    assert len(held) == 1 and "de2" not in held  # not the largest voice


# ---------------------------------------------------------------------------------------------------------
# Categories, records, caps


def test_merge_categories():
    a = [C("gong", "object", "gong", "gong", "sounds", "sound", "sounding", "gong, tam-tam")]
    b = [C("gong", "object", "gong struck", "gong", "booms", "boom", "booming", "gong, gongs", countable=True),
         C("kazoo", "music", "kazoo", "kazoo", "buzzes", "buzz", "buzzing", "kazoo")]
    merged, warnings = collect.merge_categories([("one", a), ("two", b)], quiet=True)
    assert set(merged) == {"gong", "kazoo"}
    assert merged["gong"].label == "gong" and merged["gong"].verb == "sounds" and not merged["gong"].countable
    assert merged["gong"].synonyms == ["gong", "tam-tam", "gongs"]
    assert len(warnings) == 1 and "label" in warnings[0] and "countable" in warnings[0] and "one's is kept" in warnings[0]
    assert a[0].synonyms == ["gong", "tam-tam"]  # the modules' own lists are not changed
    assert {"dog", "speech_female", "noise", "piano"} <= set(collect.CATEGORIES)  # the first dataset's


def test_record_problems():
    cats = collect.CATEGORIES
    origin = {"package": "pkg", "version": "1", "file": "f.ogg", "license": "GPL-2+"}
    rec, x = make_record(cats, "m.dog.1", "dog", SR, np.zeros(800, np.float32), origin, "m.dog.1", noun="puppy")
    assert rec["subject"] == "a puppy" and rec["role"] == "event"
    assert problems(rec, x, cats, {"pkg"}) == []
    assert any("not in the module's PACKAGES" in p for p in problems(rec, x, cats, {"other"}))
    assert problems({**rec, "category": "unicorn"}, x, cats, {"pkg"}) == ["unknown category 'unicorn'"]
    speech, y = make_record(cats, "m.sp.1", "speech_female", 8000, np.zeros(800, np.float32), origin, "m.v1",
                            transcript="hello", language="en", speaker="woman", voice="m.v1")
    assert problems(speech, y, cats, {"pkg"}) == [] and speech["gender"] == "female"
    bad = {k: v for k, v in speech.items() if k != "language"}
    assert problems(bad, y, cats, {"pkg"}) == ["speech without 'language'", "language None is not an ISO 639-1 code"]
    assert "speaker 'girl' is not one of" in " ".join(problems({**speech, "speaker": "girl"}, y, cats, {"pkg"}))
    assert problems({**rec, "labels": ["dog", "rain_x"]}, x, cats, {"pkg"}) == ["unknown label 'rain_x'"]


def test_caps_keep_variety_within_the_budget():
    cats = collect.CATEGORIES
    recs, pcm = [], {}
    for k in range(30):
        cat = ["dog", "cat", "cow"][k % 3] if k < 27 else "bell"
        rid = f"p.{cat}.{k}"
        recs.append({"id": rid, "category": cat, "role": "event", "sr": 8000, "seconds": 10.0, "num_samples": 80000,
                     "origin": {"package": "p"}, "group": rid})
        pcm[rid] = np.zeros(80000, np.int16)
    recs.append({"id": "q.amb", "category": "noise", "role": "ambience", "sr": 8000, "seconds": 30.0,
                 "num_samples": 240000, "origin": {"package": "q"}, "group": "q.amb"})
    pcm["q.amb"] = np.zeros(240000, np.int16)
    kept, did = collect.apply_caps(recs, pcm, cats, seed=0, package_minutes=1.0, voice_minutes=5.0,
                                   ambience_seconds=10.0)
    from_p = [r for r in kept if r["origin"]["package"] == "p"]
    assert sum(r["seconds"] for r in from_p) <= 60 and len(from_p) == 6
    assert {r["category"] for r in from_p} == {"dog", "cat", "cow", "bell"}  # round robin over categories
    assert did["package_dropped"] == {"p": 24}


# ---------------------------------------------------------------------------------------------------------
# Storage


def test_store_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    pcm = {"a.1": collect.to_int16(_chirps(1)), "a.2": collect.to_int16(_chirps(2, 0.4)),
           "b.1": collect.to_int16(_resample(_chirps(3), 0.5)), "b.2": collect.to_int16(rng.standard_normal(100))}
    rates = {"a.1": SR, "a.2": SR, "b.1": 8000, "b.2": 8000}
    keys = {"a.1": "pa", "a.2": "pa", "b.1": "pb", "b.2": "pb"}
    where = store.write_store(tmp_path, pcm, rates, keys, list(pcm), kbps=24, chunk_seconds=1.0)
    assert (tmp_path / store.AUDIO_FILE).is_file() and len({w["chunk"] for w in where.values()}) == 4
    recs = [{"id": i, "sr": rates[i], "audio": where[i]} for i in pcm]
    (tmp_path / "sources.json").write_text(json.dumps({"format": store.FORMAT, "audio": store.AUDIO_FILE,
                                                       "recordings": recs}))
    manifest, audio = store.load_sources(tmp_path)
    assert manifest["format"] == store.FORMAT and set(audio) == set(pcm)
    for i, x in pcm.items():
        y, sr = audio[i]
        assert sr == rates[i] and y.dtype == np.float32 and len(y) == len(x)
        if len(x) > 1000:
            ref = x.astype(np.float32) / 32768
            a, b = fingerprint.logmel(ref, sr), fingerprint.logmel(y, sr)
            assert np.mean(np.abs(a - b)) < 4.0  # dB
            assert np.corrcoef(ref, y)[0, 1] > 0.8  # in place: no shift between recordings of one chunk
    _, some = store.load_sources(tmp_path, ids=["b.1"])
    assert list(some) == ["b.1"]
    # the older format: int16 arrays in audio.npz
    old = tmp_path / "old"
    old.mkdir()
    np.savez(old / "audio.npz", **pcm)
    (old / "sources.json").write_text(json.dumps({"format": "sam-sources/1", "audio": "audio.npz",
                                                  "recordings": [{"id": i, "sr": rates[i]} for i in pcm]}))
    _, audio = store.load_sources(old)
    assert all(np.array_equal(audio[i][0], pcm[i] / np.float32(32768)) for i in pcm)


def test_chunks_keep_packages_apart():
    items = [(f"x{k}", SR, SR * 50, "p1" if k < 5 else "p2") for k in range(8)]
    chunks = store.plan_chunks(items, chunk_seconds=120)
    for _, _, ids in chunks:
        assert len({"p1" if int(i[1:]) < 5 else "p2" for i in ids}) == 1
        assert len(ids) <= 2
    assert sorted(i for _, _, ids in chunks for i in ids) == sorted(i for i, *_ in items)


def test_module_order_and_unknown_modules():
    names = collect.module_order(None, [])
    assert names[:3] == ["tuxpaint", "asterisk", "synth"]
    assert collect.module_order(["synth", "tuxpaint"], []) == ["tuxpaint", "synth"]
    with pytest.raises(SystemExit):
        collect.module_order(["no_such_module"], [])


def test_a_voice_is_one_unit_whatever_its_groups():
    """A module may give several voices one group (a language folder) and a voice laughs as well as speaks:
    the voice alone decides, and its laugh goes with it."""
    recs = []
    for v in range(5):
        for k in range(3):
            recs.append(_rec(f"k.{v}.{k}", "speech_child", "pk", "pk.ca", voice=f"ca{v}", language="ca"))
        recs.append(_rec(f"k.{v}.laugh", "laughter", "pk", f"pk.ca.{v}.laugh", voice=f"ca{v}", language="ca"))
    cats = dict(collect.CATEGORIES)
    cats["laughter"] = C("laughter", "human", "laughter", "person", "laughs", "laugh", "laughing", "laugh, laughter")
    collect.assign_splits(recs, seed=0, categories=cats)
    held = {r["voice"] for r in recs if r["split"] == "eval"}
    assert len(held) == 1
    for r in recs:
        assert (r["split"] == "eval") == (r["voice"] in held)
