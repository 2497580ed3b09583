#!/usr/bin/env python3
"""Collect the audio sources of the `sam-tiny-scenes` dataset from Debian packages into `data/sources/`.

Stage 1 of 2 (stage 2, `build_scenes.py`, mixes these sources anywhere numpy runs). The recordings come from
collector modules in scripts/sources/, one per Debian package or group of packages (listed in
scripts/sources/__init__.py's COLLECTORS); this script is the driver only:

1. imports each module and merges their CATEGORIES (an id defined twice keeps its first definition, with the
   synonyms of both; a warning says which other fields differ);
2. checks every module's PACKAGES: installed (dpkg), and its copyright file holds the expected licence line.
   A missing package stops the run with the apt line to install it, unless --skip / --only leave its module
   out (or --keep-going, which skips any module that is missing a package or fails);
3. runs each collector and checks its records (required keys, known categories, speech fields);
4. drops duplicates across and within packages by an audio fingerprint (sources/fingerprint.py), listed in
   duplicates.json;
5. caps what one package, one voice or one ambience may contribute (--package-minutes, --voice-minutes,
   --ambience-seconds), so that no package dominates and the folder stays small;
6. assigns splits (below), and writes audio.zip (Opus, sources/store.py), sources.json (the manifest),
   LICENSES.md, duplicates.json and summary.json.

Splits (deterministic from --seed): a record's `group` is its hold-out unit (a file and its cuts), and for
speech the voice is (a whole voice is held out or not). Non-speech: for a category found in 3 packages or
more, one whole package's recordings of it (never the package with the most) are held out (`holdout:
"package"`), so that held-out figures measure new recordings, not new cuts of known ones; then within each
(category, package), about 20% of the groups (at least one where there are two) are held out ("recording"),
and where a package has one group of several cuts, about 20% of the cuts ("segment"). Speech: within each
(speech category, package, language), about 20% of the voices (at least one where there are two; never a
voice larger than all the others of 3 or more; "voice"), and in every language with 3 voices or more, at
least one voice (not its largest). A voice's laughs and cries go with it. Records of one group or one voice
always share a split (except "segment" cuts).

    python3 scripts/collect_sources.py --out data/sources             # every module; --seed 0
    python3 scripts/collect_sources.py --out /tmp/s --only tuxpaint,asterisk
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib
import json
import multiprocessing as mp
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/sources/, also when loaded by path
from sources import COLLECTORS  # noqa: E402
from sources import fingerprint, store  # noqa: E402
from sources.common import SR, Category, Rec, bursts, cap, to_int16  # noqa: E402,F401
from sources.records import normalise_speech, problems  # noqa: E402

CORE = ["tuxpaint", "asterisk", "synth"]  # the first dataset's sources: always first, their categories win
HOLDOUT_SHARE = 0.2
PACKAGE_HOLDOUT_MIN = 3  # a category in this many packages or more has one whole package held out
VOICE_HOLDOUT_MIN = 3  # a language with this many voices or more has at least one voice held out
MIN_SECONDS = 0.05
DEFAULT_PACKAGE_MINUTES = 90.0
DEFAULT_VOICE_MINUTES = 10.0
DEFAULT_AMBIENCE_SECONDS = 20.0
TOOLS = ("sox", "soxi", "dpkg-query")
DEFAULT_UNPACKED = "/work/pkgs"


def _core_categories() -> dict[str, Category]:
    mods = [importlib.import_module(f"sources.{name}") for name in CORE]
    return merge_categories([(m.__name__.rsplit(".", 1)[-1], m.CATEGORIES) for m in mods], quiet=True)[0]


# ---------------------------------------------------------------------------------------------------------
# Modules, categories, packages


def merge_categories(lists: list[tuple[str, list[Category]]], quiet: bool = False
                     ) -> tuple[dict[str, Category], list[str]]:
    """[(module, categories)] -> ({id: Category}, warnings). The first definition of an id wins; later ones add
    their synonyms; a warning names any other field that differs."""
    merged: dict[str, Category] = {}
    owner: dict[str, str] = {}
    warnings: list[str] = []
    for module, cats in lists:
        for c in cats:
            if c.id not in merged:
                merged[c.id] = Category(**{f.name: getattr(c, f.name) for f in fields(Category)})
                merged[c.id].synonyms = list(c.synonyms)
                owner[c.id] = module
                continue
            first = merged[c.id]
            differ = [f.name for f in fields(Category) if f.name not in ("id", "synonyms")
                      and getattr(first, f.name) != getattr(c, f.name)]
            if differ:
                warnings.append(f"category {c.id!r} of {module} differs from {owner[c.id]}'s in "
                                + ", ".join(f"{k} ({getattr(c, k)!r} vs {getattr(first, k)!r})" for k in differ)
                                + f"; {owner[c.id]}'s is kept")
            first.synonyms += [s for s in c.synonyms if s not in first.synonyms]
    if not quiet:
        for w in warnings:
            print("warning: " + w, file=sys.stderr)
    return merged, warnings


CATEGORIES: dict[str, Category] = _core_categories()  # the first dataset's categories (tests use them)


def module_order(only: list[str] | None, skip: list[str]) -> list[str]:
    names = CORE + [m for m in COLLECTORS if m not in CORE]
    unknown = [m for m in (only or []) + skip if m not in names]
    if unknown:
        sys.exit(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(names)}")
    return [m for m in names if (only is None or m in only) and m not in skip]


def package_version(pkg: str) -> str | None:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}|${Version}", pkg], capture_output=True, text=True)
    if out.returncode != 0 or "|" not in out.stdout:
        return None
    status, version = out.stdout.split("|", 1)
    return version.strip() if status.endswith(" installed") or status.endswith(" unpacked") else None


def unpacked_version(root: Path, pkg: str) -> str | None:
    """The version of a package unpacked with `dpkg -x` into root (from its changelog.Debian.gz)."""
    log = root / "usr/share/doc" / pkg / "changelog.Debian.gz"
    if not log.exists():
        return None
    with gzip.open(log, "rt", errors="replace") as f:
        m = re.match(r"^\S+ \(([^)]+)\)", f.readline())
    return m.group(1) if m else None


def check_package(pkg: str, lic: dict[str, str], unpacked: Path | None = None
                  ) -> tuple[dict[str, str] | None, str | None]:
    """-> (info, None) or (None, why not). A package that is not installed may be unpacked (`dpkg -x`) into
    unpacked/<pkg>/ (for packages that conflict with installed ones)."""
    version = package_version(pkg)
    doc = Path("/usr/share/doc")
    extra: dict[str, str] = {}
    if version is None and unpacked is not None and (unpacked / pkg).is_dir():
        version = unpacked_version(unpacked / pkg, pkg)
        doc = unpacked / pkg / "usr/share/doc"
        extra = {"unpacked": str(unpacked / pkg)}
    if version is None:
        return None, "missing"
    path = doc / pkg / "copyright"
    if not path.exists() and lic.get("copyright"):
        path = Path(lic["copyright"])
    text = path.read_text(errors="replace") if path.exists() else ""
    if lic["check"] not in text:
        return None, f"{path}: expected to find {lic['check']!r}; the package changed, check its licence by hand"
    return {"version": version, "copyright_file": str(path), **extra,
            **{k: v for k, v in lic.items() if k not in ("check", "copyright")}}, None


def apt_line(pkgs: list[str]) -> str:
    return "apt-get install -y --no-install-recommends " + " ".join(pkgs)


@dataclass
class Context:
    versions: dict[str, str]
    tmp: Path
    seed: int
    categories: dict[str, Category]
    packages: dict[str, dict[str, str]]


def _run_module(name: str, ctx: Context) -> tuple[str, list[Rec] | None, str | None, float]:
    t0 = time.time()
    try:
        mod = importlib.import_module(f"sources.{name}")
        ctx.tmp.mkdir(parents=True, exist_ok=True)
        got = mod.collect(ctx)
        return name, list(got), None, time.time() - t0
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - a collector may sys.exit(); report it as its failure
        import traceback
        return name, None, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}", time.time() - t0


# ---------------------------------------------------------------------------------------------------------
# Records: checks, deduplication, caps


def check_records(name: str, got: list[Rec], categories: dict[str, Category], pkgs: set[str],
                  seen: set[str], strict: bool) -> tuple[list[Rec], list[str]]:
    kept, bad = [], []
    for item in got:
        rec, x = item
        why = problems(rec, x, categories, pkgs) if isinstance(rec, dict) else ["not a dict"]
        rid = rec.get("id") if isinstance(rec, dict) else None
        if not why and rid in seen:
            why = ["id already used"]
        if not why and len(x) < int(MIN_SECONDS * rec["sr"]):
            why = ["empty after trimming"]
        if why:
            bad.append(f"{name}: {rid}: {'; '.join(why)}")
            continue
        seen.add(rid)
        kept.append((rec, np.asarray(x, dtype=np.float32)))
    if bad and strict:
        sys.exit("records with problems (--strict):\n  " + "\n  ".join(bad[:50]))
    return kept, bad


def finish_record(rec: dict[str, Any], x: np.ndarray, categories: dict[str, Category]) -> np.ndarray:
    """int16 PCM (peak-normalised) and the derived fields: num_samples, seconds, bursts, countable."""
    pcm = to_int16(x)
    cat = categories[rec["category"]]
    if cat.kind == "speech":
        normalise_speech(rec)
    rec["num_samples"] = int(len(pcm))
    rec["seconds"] = round(len(pcm) / rec["sr"], 3)
    rec["bursts"] = len(bursts(pcm.astype(np.float32) / 32768.0, rec["sr"]))
    # Countable: one short burst, so that "barks twice" means exactly two of them in the scene.
    rec["countable"] = bool(rec.pop("countable", cat.countable) and rec["bursts"] == 1 and rec["seconds"] <= 2.0)
    return pcm


def deduplicate(recs: list[dict[str, Any]], pcm: dict[str, np.ndarray], categories: dict[str, Category]
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Drop recordings whose audio is (nearly) that of an earlier one (module order, then each module's order).

    Cuts of one file (or of one group) are only compared for bit-identity (they share a split anyway and may
    sound alike by nature), as is one package's speech in two voices (espeak-ng's variants of one voice say
    the same phrase alike); other pairs within one package, and one voice's clips, must be the same recording
    (fingerprint.STRICT_*); noise beds are not compared."""
    cand = [r for r in recs if categories[r["category"]].kind != "noise"]
    items = [(pcm[r["id"]].astype(np.float32) / 32768.0, r["sr"]) for r in cand]

    def level(i: int, j: int) -> str:
        a, b = cand[i], cand[j]
        if a["origin"]["file"] == b["origin"]["file"]:
            return "identical"
        same_pkg = a["origin"]["package"] == b["origin"]["package"]
        if categories[a["category"]].kind == "speech" and categories[b["category"]].kind == "speech":
            if a["voice"] == b["voice"]:
                return "strict"  # one prompt filed twice, not two takes of one word
            # One package's two voices saying one phrase (espeak-ng's variants) are alike by design.
            return "identical" if same_pkg else "normal"
        if a["group"] == b["group"]:
            return "identical"
        return "strict" if same_pkg else "normal"

    found = fingerprint.find_duplicates(items, level=level)
    dropped = {cand[d["drop"]]["id"] for d in found}
    report = []
    for d in found:
        keep, drop = cand[d["keep"]], cand[d["drop"]]
        report.append({"kept": keep["id"], "dropped": drop["id"],
                       "matched": [cand[k]["id"] for k in d["pair"]],
                       "packages": [keep["origin"]["package"], drop["origin"]["package"]],
                       "categories": [keep["category"], drop["category"]],
                       **{k: d[k] for k in ("how", "shape", "motion", "lag_s", "overlap")}})
    return [r for r in recs if r["id"] not in dropped], report


def _seeded_order(ids: list[str], key: str) -> list[str]:
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return [ids[i] for i in np.random.default_rng(h).permutation(len(ids))]


def apply_caps(recs: list[dict[str, Any]], pcm: dict[str, np.ndarray], categories: dict[str, Category],
               seed: int, package_minutes: float, voice_minutes: float, ambience_seconds: float,
               exempt: set[str] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Cut long ambiences; keep at most voice_minutes of one voice and package_minutes of one package
    (chosen in a seeded order, one recording per category or voice in turn, so that a capped package keeps
    its variety). `exempt` ids (the first dataset's) are never dropped, but count towards the budgets.
    -> (kept records, what the caps did)."""
    exempt = exempt or set()
    did: dict[str, Any] = {"ambience_cut": 0, "voice_dropped": {}, "package_dropped": {}}
    for r in recs:
        if r["role"] == "ambience" and categories[r["category"]].kind != "noise" and \
                r["num_samples"] > ambience_seconds * r["sr"]:
            x = cap(pcm[r["id"]].astype(np.float32) / 32768.0, r["sr"], ambience_seconds)
            pcm[r["id"]] = to_int16(x)
            r["num_samples"] = int(len(pcm[r["id"]]))
            r["seconds"] = round(r["num_samples"] / r["sr"], 3)
            did["ambience_cut"] += 1

    def take(pool: list[dict[str, Any]], budget_s: float, key: str, by: str) -> set[str]:
        """ids to drop from `pool` to fit budget_s, round-robin over the values of field `by`."""
        if sum(r["seconds"] for r in pool) <= budget_s:
            return set()
        lanes: dict[str, list[str]] = {}
        for r in pool:
            lanes.setdefault(str(r.get(by)), []).append(r["id"])
        secs = {r["id"]: r["seconds"] for r in pool}
        queues = {k: _seeded_order(sorted(set(v) - exempt), f"{seed}:{key}:{k}") for k, v in sorted(lanes.items())}
        keep = {r["id"] for r in pool if r["id"] in exempt}
        kept_s = sum(secs[i] for i in keep)
        while any(queues.values()):
            for k in list(queues):
                if queues[k]:
                    rid = queues[k].pop(0)
                    if kept_s + secs[rid] <= budget_s:
                        keep.add(rid)
                        kept_s += secs[rid]
        return {r["id"] for r in pool} - keep

    drop: set[str] = set()
    by_voice: dict[str, list[dict[str, Any]]] = {}
    for r in recs:  # a voice in another language is new material: capped apart
        if categories[r["category"]].kind == "speech":
            by_voice.setdefault(f"{r['voice']} ({r.get('language')})", []).append(r)
    for v, pool in sorted(by_voice.items()):
        d = take(pool, voice_minutes * 60, f"voice:{v}", "category")
        if d:
            did["voice_dropped"][v] = len(d)
            drop |= d
    by_pkg: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        if r["id"] not in drop:
            by_pkg.setdefault(r["origin"]["package"], []).append(r)
    for p, pool in sorted(by_pkg.items()):
        speech = all(categories[r["category"]].kind == "speech" for r in pool)
        d = take(pool, package_minutes * 60, f"package:{p}", "voice" if speech else "category")
        if d:
            did["package_dropped"][p] = len(d)
            drop |= d
    return [r for r in recs if r["id"] not in drop], did


# ---------------------------------------------------------------------------------------------------------
# Splits


def _rng(key: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16))


def _hold(recs: list[dict[str, Any]], reason: str) -> None:
    for r in recs:
        if r["split"] != "eval":
            r["split"], r["holdout"] = "eval", reason


def assign_splits(recs: list[dict[str, Any]], seed: int, categories: dict[str, Category] | None = None) -> None:
    """Set "split" ("train"/"eval") and "holdout" (None, "package", "recording", "segment", "voice")."""
    categories = categories or CATEGORIES

    def kind(r: dict[str, Any]) -> str:
        c = categories.get(r["category"])
        return c.kind if c else "object"

    for r in recs:
        r["split"], r["holdout"] = "train", None
    # A voice's laughs and cries go with its speech: whole voices, decided once.
    speech = [r for r in recs if kind(r) == "speech" or (kind(r) != "noise" and r.get("voice"))]
    events = [r for r in recs if kind(r) not in ("noise", "speech") and not r.get("voice")]

    # Whole packages, for categories found in several.
    by_cat: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in events:
        by_cat.setdefault(r["category"], {}).setdefault(r["origin"]["package"], []).append(r)
    for category, pkgs in sorted(by_cat.items()):
        if len(pkgs) >= PACKAGE_HOLDOUT_MIN:
            largest = max(sorted(pkgs), key=lambda p: len(pkgs[p]))
            choices = sorted(p for p in pkgs if p != largest)
            held = choices[int(_rng(f"{seed}:{category}:package").integers(len(choices)))]
            _hold(pkgs[held], "package")

    # Groups within each (category, package); the key is the first dataset's, whose splits stay put.
    for category, pkgs in sorted(by_cat.items()):
        for package, pool in sorted(pkgs.items()):
            if any(r["holdout"] == "package" for r in pool):
                continue
            rng = _rng(f"{seed}:{category}:{package}")
            groups = sorted({r["group"] for r in pool})
            if len(groups) >= 2:
                k = max(1, int(round(HOLDOUT_SHARE * len(groups))))
                held = set(rng.choice(groups, size=k, replace=False).tolist())
                _hold([r for r in pool if r["group"] in held], "recording")
            elif len(pool) >= 2:
                k = max(1, int(round(HOLDOUT_SHARE * len(pool))))
                held = set(rng.choice(sorted(r["id"] for r in pool), size=k, replace=False).tolist())
                for r in pool:
                    if r["id"] in held:
                        _hold([r], "segment" if "segment" in r else "recording")
    # A category whose groups come one each from different packages has no pool of two: hold one out.
    for category, pkgs in sorted(by_cat.items()):
        pool = [r for p in pkgs.values() for r in p]
        groups = sorted({r["group"] for r in pool})
        if len(groups) >= 2 and all(r["split"] == "train" for r in pool):
            held = groups[int(_rng(f"{seed}:{category}").integers(len(groups)))]
            _hold([r for r in pool if r["group"] == held], "recording")

    # Speech: whole voices, pooled by (the voice's speech category, package, language).
    voice_cat: dict[str, str] = {}
    for r in speech:
        if kind(r) == "speech":
            voice_cat.setdefault(r["voice"], r["category"])
    pools: dict[tuple[str, str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in speech:
        lang = r.get("language") or "?"
        key = (voice_cat.get(r["voice"], "speech"), r["origin"]["package"], lang)
        pools.setdefault(key, {}).setdefault(r["voice"], []).append(r)
    for (category, package, lang), voices in sorted(pools.items()):
        if len(voices) >= 2:
            key = f"{seed}:{category}:{package}" + ("" if lang == "en" else f":{lang}")
            names = sorted(voices)
            sizes = sorted((len(v) for v in voices.values()), reverse=True)
            if len(names) >= 3 and sizes[0] > sizes[1]:  # a voice larger than all others stays in training
                names.remove(max(names, key=lambda v: len(voices[v])))
            k = max(1, int(round(HOLDOUT_SHARE * len(names))))
            for v in _rng(key).choice(names, size=k, replace=False).tolist():
                _hold(voices[v], "voice")
    by_lang: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in speech:
        by_lang.setdefault(r.get("language") or "?", {}).setdefault(r["voice"], []).append(r)
    for lang, voices in sorted(by_lang.items()):
        if len(voices) >= VOICE_HOLDOUT_MIN and all(r["split"] == "train" for v in voices.values() for r in v):
            largest = max(sorted(voices), key=lambda v: len(voices[v]))
            names = sorted(v for v in voices if v != largest)
            _hold(voices[names[int(_rng(f"{seed}:{lang}:voice").integers(len(names)))]], "voice")

    # One group (or one voice) never straddles the splits, except cuts held out as "segment". A voice's
    # records go by the voice alone (a module may give one group to several voices).
    voiced = {id(r) for r in speech}
    for key in ("group", "voice"):
        members: dict[str, list[dict[str, Any]]] = {}
        for r in recs:
            if r.get(key) is not None and kind(r) != "noise" and (key == "voice" or id(r) not in voiced):
                members.setdefault(str(r[key]), []).append(r)
        for pool in members.values():
            held = [r for r in pool if r["split"] == "eval" and r["holdout"] != "segment"]
            if held:
                _hold(pool, held[0]["holdout"])


# ---------------------------------------------------------------------------------------------------------
# Main


def collect_all(modules: dict[str, Any], versions: dict[str, str], categories: dict[str, Category],
                packages: dict[str, dict[str, str]], failed: dict[str, str], args: argparse.Namespace) -> tuple:
    """Run the collectors and check their records -> (records, {id: int16}, {id: module}, results, problems)."""
    results: dict[str, tuple[list[Rec] | None, str | None, float]] = {}
    recs: list[dict[str, Any]] = []
    pcm: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    bad_records: list[str] = []
    module_of: dict[str, str] = {}

    def take(name: str, got: list[Rec] | None, err: str | None, dt: float) -> None:
        print(f"{name}: {'FAILED' if err else f'{len(got)} recordings'} ({dt:.0f} s)", file=sys.stderr)
        results[name] = (None, err, dt)
        if err:
            failed[name] = err
            print(f"module {name} failed: {err}", file=sys.stderr)
            return
        kept, bad = check_records(name, got, categories, set(getattr(modules[name], "PACKAGES", {})), seen,
                                  args.strict)
        bad_records.extend(bad)
        for rec, x in kept:
            pcm[rec["id"]] = finish_record(rec, x, categories)
            module_of[rec["id"]] = name
            recs.append(rec)

    with tempfile.TemporaryDirectory() as tmpname:
        def ctx_for(name: str) -> Context:
            return Context(versions, Path(tmpname) / name, args.seed, categories, packages)

        if args.jobs > 1 and len(modules) > 1:
            with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("fork")) as pool:
                futs = [pool.submit(_run_module, n, ctx_for(n)) for n in modules]
                for f in futs:  # in module order, whatever finishes first
                    take(*f.result())
        else:
            for n in modules:
                take(*_run_module(n, ctx_for(n)))
    for line in bad_records[:40]:
        print("  dropped " + line, file=sys.stderr)
    if len(bad_records) > 40:
        print(f"  ... and {len(bad_records) - 40} more records with problems", file=sys.stderr)
    return recs, pcm, module_of, results, bad_records


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/sources", help="output folder (default: data/sources)")
    ap.add_argument("--seed", type=int, default=0, help="seed for phrases, melodies, caps and splits (default: 0)")
    ap.add_argument("--only", default=None, help="comma-separated modules to run (default: all)")
    ap.add_argument("--skip", default="", help="comma-separated modules to leave out")
    ap.add_argument("--keep-going", action="store_true",
                    help="skip a module that misses a package or fails, instead of stopping")
    ap.add_argument("--strict", action="store_true", help="stop at a record with problems instead of dropping it")
    ap.add_argument("--jobs", type=int, default=1, help="collector modules run at once (default: 1)")
    ap.add_argument("--package-minutes", type=float, default=DEFAULT_PACKAGE_MINUTES,
                    help=f"at most this much audio from one package (default: {DEFAULT_PACKAGE_MINUTES:g})")
    ap.add_argument("--voice-minutes", type=float, default=DEFAULT_VOICE_MINUTES,
                    help=f"at most this much speech from one voice (default: {DEFAULT_VOICE_MINUTES:g})")
    ap.add_argument("--ambience-seconds", type=float, default=DEFAULT_AMBIENCE_SECONDS,
                    help=f"ambiences are cut to this length (default: {DEFAULT_AMBIENCE_SECONDS:g})")
    ap.add_argument("--kbps", type=float, default=store.OPUS_KBPS,
                    help=f"Opus bit rate (default: {store.OPUS_KBPS})")
    ap.add_argument("--unpacked", default=DEFAULT_UNPACKED if Path(DEFAULT_UNPACKED).is_dir() else None,
                    help="a folder of packages unpacked with `dpkg -x` into <folder>/<package> because they conflict "
                         f"with installed ones (default: {DEFAULT_UNPACKED} where it exists)")
    ap.add_argument("--cache", default=None,
                    help="a file to keep the collected recordings in: when it exists, the collectors are not run "
                         "again (to try other caps, splits or bit rates); delete it to collect afresh")
    ap.add_argument("--speech-kbps", type=float, default=store.SPEECH_KBPS,
                    help=f"Opus bit rate of speech (default: {store.SPEECH_KBPS})")
    ap.add_argument("--format", choices=["opus", "npz"], default="opus",
                    help="opus: sam-sources/2 (audio.zip); npz: the older sam-sources/1 (int16 audio.npz, large)")
    args = ap.parse_args(argv)
    t_start = time.time()

    for tool in TOOLS:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found; install it with:\n  {apt_line(['sox', 'libsox-fmt-all', 'dpkg'])}")
    only = [m.strip() for m in args.only.split(",") if m.strip()] if args.only else None
    skip = [m.strip() for m in args.skip.split(",") if m.strip()]
    names = module_order(only, skip)

    modules: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name in names:
        try:
            modules[name] = importlib.import_module(f"sources.{name}")
        except Exception as e:  # noqa: BLE001
            failed[name] = f"import failed: {type(e).__name__}: {e}"
    if failed and not args.keep_going:
        sys.exit("\n".join(f"{m}: {why}" for m, why in failed.items()) + "\n(--skip them, or --keep-going)")
    # Every module's categories, also those left out by --only/--skip (a module may use another's).
    every: dict[str, Any] = dict(modules)
    for name in module_order(None, []):
        if name not in every and name not in failed:
            try:
                every[name] = importlib.import_module(f"sources.{name}")
            except Exception:  # noqa: BLE001 - only its categories are wanted here
                pass
    order = [n for n in module_order(None, []) if n in every]
    categories, cat_warnings = merge_categories([(n, list(getattr(every[n], "CATEGORIES", []))) for n in order])

    packages: dict[str, dict[str, str]] = {}
    missing: dict[str, list[str]] = {}
    for name, mod in list(modules.items()):
        for pkg, lic in getattr(mod, "PACKAGES", {}).items():
            info, why = check_package(pkg, lic, Path(args.unpacked) if args.unpacked else None)
            if info is None:
                missing.setdefault(name, []).append(f"{pkg} ({why})" if why != "missing" else pkg)
            else:
                packages.setdefault(pkg, info)
    if missing:
        msg = "\n".join(f"module {m} needs: {', '.join(p)}" for m, p in missing.items())
        plain = sorted({p for ps in missing.values() for p in ps if " " not in p})
        if not args.keep_going:
            sys.exit(msg + (f"\ninstall with:\n  {apt_line(plain)}" if plain else "")
                     + "\nor leave those modules out with --skip " + ",".join(missing) + " (or --keep-going)")
        print("warning: skipping modules:\n" + msg, file=sys.stderr)
        for m in missing:
            failed[m] = "missing: " + ", ".join(missing[m])
            modules.pop(m)
    versions = {p: v["version"] for p, v in packages.items()}

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():
        with open(cache, "rb") as f:
            recs, pcm, module_of, times, failed, bad_records = pickle.load(f)
        print(f"{cache}: {len(recs)} recordings collected earlier", file=sys.stderr)
        modules = {n: m for n, m in modules.items() if n in times}
        results = {n: (None, None, times[n]) for n in modules}
    else:
        recs, pcm, module_of, results, bad_records = collect_all(modules, versions, categories, packages, failed,
                                                                args)
        if cache is not None:
            with open(cache, "wb") as f:
                pickle.dump((recs, pcm, module_of, {n: r[2] for n, r in results.items()}, failed, bad_records), f)
    if failed and not args.keep_going:
        sys.exit("modules failed: " + ", ".join(failed) + " (see above; --skip them or --keep-going)")

    t_dedup = time.time()
    recs, duplicates = deduplicate(recs, pcm, categories)
    t_dedup = time.time() - t_dedup
    print(f"duplicates: {len(duplicates)} dropped ({t_dedup:.0f} s)", file=sys.stderr)
    core = {r["id"] for r in recs if module_of[r["id"]] in CORE}
    recs, caps = apply_caps(recs, pcm, categories, args.seed, args.package_minutes, args.voice_minutes,
                            args.ambience_seconds, exempt=core)
    assign_splits(recs, args.seed, categories)

    ids = [r["id"] for r in recs]
    if args.format == "npz":
        np.savez_compressed(out_dir / "audio.npz", **{i: pcm[i] for i in ids})
        audio_name, fmt, codec = "audio.npz", "sam-sources/1", {"name": "pcm_s16le"}
    else:
        keys = {r["id"]: r["origin"]["package"] + (store.SPEECH_KEY if categories[r["category"]].kind == "speech"
                                                    else "") for r in recs}
        where = store.write_store(out_dir, pcm, {r["id"]: r["sr"] for r in recs}, keys, ids, kbps=args.kbps,
                                  speech_kbps=args.speech_kbps)
        for r in recs:
            r["audio"] = where[r["id"]]
        audio_name, fmt = store.AUDIO_FILE, store.FORMAT
        codec = {"name": "opus", "container": "ogg, many recordings a stream", "kbps": args.kbps,
                 "speech_kbps": args.speech_kbps, "kbps_8khz": "3/4 of the above",
                 "gap_seconds": store.GAP_SECONDS, "chunk_seconds": store.CHUNK_SECONDS}
    used = sorted({c for r in recs for c in [r["category"], *(r.get("labels") or [])]})
    all_pkgs = sorted(packages)
    manifest = {
        "format": fmt,
        "sample_rate": SR,
        "audio": audio_name,
        "codec": codec,
        "seed": args.seed,
        "apt": apt_line(all_pkgs),
        "modules": {n: {"packages": sorted(getattr(modules[n], "PACKAGES", {})),
                        "recordings": sum(module_of[r["id"]] == n for r in recs),
                        "seconds": round(results[n][2], 1)} for n in modules if n not in failed},
        "failed_modules": failed,
        "caps": {"package_minutes": args.package_minutes, "voice_minutes": args.voice_minutes,
                 "ambience_seconds": args.ambience_seconds, **caps},
        "packages": packages,
        "categories": {c: {"kind": categories[c].kind, "label": categories[c].label,
                           "synonyms": categories[c].synonyms, **categories[c].phrases()} for c in used},
        "recordings": recs,
    }
    # One recording a line: readable, diffable, and a third smaller than indented JSON.
    (out_dir / "sources.json").write_text(manifest_json(manifest))
    (out_dir / "duplicates.json").write_text(json.dumps(duplicates, indent=1, ensure_ascii=False) + "\n")
    (out_dir / "LICENSES.md").write_text(licenses_markdown(packages, recs, modules, duplicates))
    info = summary(out_dir, recs, categories, duplicates, caps, cat_warnings, bad_records, failed,
                   time.time() - t_start, t_dedup)
    (out_dir / "summary.json").write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n")


def manifest_json(manifest: dict[str, Any]) -> str:
    head = {k: v for k, v in manifest.items() if k != "recordings"}
    text = json.dumps(head, indent=1, ensure_ascii=False)[:-2]
    rows = ",\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in manifest["recordings"])
    return text + ',\n "recordings": [\n' + rows + "\n ]\n}\n"


def licenses_markdown(packages: dict[str, dict[str, str]], recs: list[dict[str, Any]], modules: dict[str, Any],
                      duplicates: list[dict[str, Any]]) -> str:
    """The licence of every package, and where each kind of recording came from (for examples/SOURCES.md)."""
    count: dict[str, list[int]] = {}
    for r in recs:
        c = count.setdefault(r["origin"]["package"], [0, 0])
        c[r["split"] == "eval"] += 1
    lines = ["## Packages", "",
             "| package | version | licence | holder | recordings (train / eval) | note |", "|---|---|---|---|---|---|"]
    for pkg, p in sorted(packages.items()):
        tr, ev = count.get(pkg, [0, 0])
        lines.append(f"| {pkg} | {p['version']} | {p['license']} | {p.get('holder', '')} | {tr} / {ev} | "
                     f"{p.get('note', '')} |")
    for name, mod in modules.items():
        fn = getattr(mod, "licenses_markdown", None)
        if fn is not None:
            lines += ["", fn([r for r in recs if r["origin"]["package"] in getattr(mod, "PACKAGES", {})]).rstrip()]
    by_origin: dict[str, list[str]] = {}
    for r in recs:
        by_origin.setdefault(r["origin"]["package"], []).append(r["category"])
    lines += ["", "## Recordings by package and category", ""]
    for pkg, cats in sorted(by_origin.items()):
        tally = ", ".join(f"{c} {cats.count(c)}" for c in sorted(set(cats)))
        lines.append(f"- {pkg}: {tally}")
    lines += ["", f"Each recording's own origin (package, version, file, licence) is in sources.json. "
              f"{len(duplicates)} recordings were left out as duplicates of others (duplicates.json)."]
    return "\n".join(lines) + "\n"


def summary(out_dir: Path, recs: list[dict[str, Any]], categories: dict[str, Category],
            duplicates: list[dict[str, Any]], caps: dict[str, Any], cat_warnings: list[str], bad: list[str],
            failed: dict[str, str], seconds: float, dedup_seconds: float) -> dict[str, Any]:
    files = [p for p in out_dir.iterdir() if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    speech = [r for r in recs if categories[r["category"]].kind == "speech"]
    per_pkg: dict[str, dict[str, float]] = {}
    for r in recs:
        row = per_pkg.setdefault(r["origin"]["package"], {"train": 0, "eval": 0, "minutes": 0.0})
        row[r["split"]] += 1
        row["minutes"] += r["seconds"] / 60
    holdouts: dict[str, int] = {}
    for r in recs:
        if r["holdout"]:
            holdouts[r["holdout"]] = holdouts.get(r["holdout"], 0) + 1
    cats_used = sorted({r["category"] for r in recs})
    cats_eval = sorted({r["category"] for r in recs if r["split"] == "eval"})
    info = {
        "recordings": len(recs), "train": sum(r["split"] == "train" for r in recs),
        "eval": sum(r["split"] == "eval" for r in recs), "holdout_reasons": holdouts,
        "minutes": round(sum(r["seconds"] for r in recs) / 60, 1),
        "categories": len(cats_used), "categories_with_eval": len(cats_eval),
        "non_speech_recordings": len(recs) - len(speech),
        "speech_clips": len(speech), "speech_minutes": round(sum(r["seconds"] for r in speech) / 60, 1),
        "voices": len({r["voice"] for r in speech}),
        "voices_held_out": len({r["voice"] for r in speech if r["split"] == "eval"}),
        "languages": dict(sorted({lang: sum(r.get("language") == lang for r in speech)
                                  for lang in {r.get("language") for r in speech}}.items())),
        "size_mib": round(size / 2**20, 2), "files": {p.name: p.stat().st_size for p in sorted(files)},
        "duplicates": len(duplicates),
        "duplicates_by_packages": _tally(" / ".join(sorted(set(d["packages"]))) for d in duplicates),
        "caps": caps, "category_warnings": cat_warnings, "records_dropped_for_problems": len(bad),
        "failed_modules": {k: v.splitlines()[0] for k, v in failed.items()},
        "packages": {p: {k: (round(v, 1) if k == "minutes" else v) for k, v in row.items()}
                     for p, row in sorted(per_pkg.items())},
        "run_seconds": round(seconds, 1), "dedup_seconds": round(dedup_seconds, 1),
    }
    print(f"wrote {out_dir}: {info['recordings']} recordings ({info['train']} train, {info['eval']} eval), "
          f"{info['minutes']} min, {info['size_mib']} MiB, {info['categories']} categories "
          f"({info['categories_with_eval']} with held-out recordings)", file=sys.stderr)
    print(f"speech: {info['speech_clips']} clips, {info['speech_minutes']} min, {info['voices']} voices "
          f"({info['voices_held_out']} held out), {len(info['languages'])} languages; "
          f"{info['duplicates']} duplicates dropped; {seconds:.0f} s", file=sys.stderr)
    print(f"{'package':34s} train  eval  minutes", file=sys.stderr)
    for p, row in info["packages"].items():
        print(f"{p:34s} {row['train']:5d} {row['eval']:5d} {row['minutes']:8.1f}", file=sys.stderr)
    return info


def _tally(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in items:
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items()))


if __name__ == "__main__":
    main()
