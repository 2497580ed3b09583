#!/usr/bin/env python3
"""Evaluate a SAM model on the held-out scenes of `sam-tiny-scenes` (built by build_scenes.py).

    python3 scripts/evaluate.py --model runs/sam-tiny --data data/scenes --out results.json
    python3 scripts/evaluate.py --model runs/sam-tiny --data data/scenes --limit 20      # a quick look

For each scene it asks the model for a caption (the describe prompt) and answers the scene's questions, then
reports:
- sources named: the share of the scene's sound sources (events) that the caption names, by a synonym
  table per category (whole words; quoted speech is ignored, so "a man says 'hello dog'" names no dog);
  also the mentions of sources that are not in the scene (false mentions per caption, and precision);
- presence: yes/no accuracy on "Is there a dog barking?" (half the answers are "No");
- counting: accuracy of "How many times does the dog bark?" (number words or digits);
- order and loudness: the answer names the right source and no other source of the scene;
- speech: exact match of "What does the woman say?" after lowercasing and dropping punctuation.
Each is shown beside the majority-answer baseline of the same questions. "strict" repeats the naming score
without scenes holding a held-out cut of a file whose other cut was in training (`holdout: "segment"`).

On clips built with `build_scenes.py --mode clips` (one entry per 10.24-s window) it adds a table by clip type
(single events, scenes, real ambiences, speech, empty, windows of long clips): sources named, invented
sources per caption, speech detected, language named, counting, presence, silence or noise said, and the
most common confusions. Old scenes are scored as before (their table and JSON keys are unchanged).

`--predictions FILE` scores saved predictions (JSON lines from `--save-predictions`) without a model.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable

DESCRIBE_PROMPT = "Close-ended question: Write an audio caption describing the sound."
SCORED_TASKS = ("qa_presence", "qa_count", "qa_order", "qa_loudness", "qa_speech", "qa_language", "qa_speaker")
WINDOW_SECONDS = 10.24
GROUPS = ("single", "scene", "ambience", "speech", "empty", "long", "all")
GROUP_TITLES = {"single": "single events (0.3-10.24 s)", "scene": "scenes (<= 10.24 s)",
                "ambience": "real ambiences (<= 10.24 s)", "speech": "speech (<= 10.24 s)",
                "empty": "silence / noise alone", "long": "windows of longer clips", "all": "all"}
# Words that say someone speaks (outside quotes); a caption naming a speech category says so too.
SPEECH_WORDS = re.compile(r"\b(speak|speaks|speaking|spoke|talk|talks|talking|say|says|saying|said|speech|voice|"
                          r"voices|conversation|converse|chat|chats|chatting|whisper|whispers|whispering|shout|"
                          r"shouts|shouting|announce|announces|announcing|narrat\w*|reads|reading)\b")
# A caption that says there is no sound event: silence, or noise alone.
NOTHING_WORDS = re.compile(r"\b(silence|silent|nothing|no sound|no other sound|quiet|noise|static|hiss|hissing|hum)\b")
LANGUAGE_NAMES = {"en": "English", "fr": "French", "es": "Spanish", "it": "Italian", "de": "German",
                  "pt": "Portuguese", "ru": "Russian", "ro": "Romanian", "ca": "Catalan", "bg": "Bulgarian",
                  "be": "Belarusian", "el": "Greek", "da": "Danish", "lt": "Lithuanian", "nl": "Dutch"}
SPEAKER_WORDS = {"man": "man", "men": "man", "male": "man", "guy": "man", "boy": "child", "woman": "woman",
                 "women": "woman", "female": "woman", "lady": "woman", "girl": "child", "child": "child",
                 "children": "child", "kid": "child", "kids": "child", "person": "person", "people": "person"}

# ---------------------------------------------------------------------------------------------------------
# Text metrics (pure functions; tests/test_dataset.py checks them on hand-made strings)

# A quote opens after a space (or at the start) and closes before a space or punctuation, so the
# apostrophes of "let's" and "dog's" neither open nor close one.
_QUOTED = re.compile(r"""(?:^|(?<=[\s(:,]))['"‘“].*?['"’”](?=[\s.,;:!?)]|$)""")
NUMBER_WORDS = {"once": 1, "one": 1, "single": 1, "twice": 2, "two": 2, "double": 2, "thrice": 3, "three": 3,
                "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "none": 0,
                "zero": 0, "never": 0}


def strip_quotes(text: str) -> str:
    """Remove quoted spans ("a man says 'feed the dog'" -> "a man says "), keeping apostrophes in words."""
    return _QUOTED.sub(" ", text)


def find_mentions(text: str, synonyms: dict[str, list[str]]) -> set[str]:
    """Categories named in `text`: whole-word synonym matches outside quotes, longest match first, so
    "a rubber duck" names the rubber duck and not the duck, and "a sea lion" not the lion."""
    t = strip_quotes(text).lower()
    hits: list[tuple[int, int, str]] = []
    for cat, words in synonyms.items():
        for w in words:
            for m in re.finditer(r"(?<![\w-])" + re.escape(w.lower()) + r"(?![\w-])", t):
                hits.append((m.start(), m.end(), cat))
    hits.sort(key=lambda h: (-(h[1] - h[0]), h[0]))
    taken: list[tuple[int, int]] = []
    found: set[str] = set()
    for a, b, cat in hits:
        if all(b <= x or a >= y for x, y in taken):
            taken.append((a, b))
            found.add(cat)
    return found


def parse_yes_no(text: str) -> bool | None:
    """'Yes.' / 'No, there is not.' -> True / False; None when the answer is neither."""
    t = text.strip().lower()
    m = re.match(r"^\W*(yes|yeah|yep|no|nope)\b", t)
    if m:
        return m.group(1) in ("yes", "yeah", "yep")
    has_yes, has_no = bool(re.search(r"\byes\b", t)), bool(re.search(r"\bno\b|\bnot\b", t))
    if has_yes != has_no:
        return has_yes
    return None


def parse_count(text: str) -> int | None:
    """'Twice.' -> 2, 'Three times.' -> 3, '4' -> 4; the first number in the answer, None if there is none."""
    for tok in re.findall(r"[a-z]+|\d+", text.lower()):
        if tok.isdigit():
            return int(tok)
        if tok in NUMBER_WORDS:
            return NUMBER_WORDS[tok]
    return None


def normalize_words(text: str) -> str:
    """Lowercase words without punctuation, for exact match of speech content."""
    return " ".join(re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower()))


# ---------------------------------------------------------------------------------------------------------
# Scoring


def _key(audio_id: str, task: str, instruction: str) -> str:
    return f"{audio_id}\t{task}\t{instruction}"


def group_of(scene: dict[str, Any]) -> str:
    """The row of the by-type table a scene (window) belongs to. Old scenes have no type: a scene, or empty."""
    t = scene.get("type")
    if t is None:
        return "scene" if scene["events"] else "empty"
    if scene.get("clip_seconds", 0.0) > WINDOW_SECONDS + 1e-6:
        return "long"
    return t


def allowed_categories(scene: dict[str, Any], speech_cats: set[str]) -> set[str]:
    """Categories a caption may name without inventing: the events, the background's labels, slivers cut by
    the window's edge, and, where anyone speaks, every speech category (a man heard as a woman is a wrong
    speaker, counted by the confusions, not a sound invented)."""
    ok = {e["category"] for e in scene["events"]} | set(scene.get("edge") or [])
    if scene.get("background"):
        ok |= set(scene["background"].get("categories") or [])
    if ok & speech_cats:
        ok |= speech_cats
    return ok


def _languages(text: str, names: dict[str, str]) -> set[str]:
    words = set(re.findall(r"[a-z]+", strip_quotes(text).lower()))
    return {code for code, nm in names.items() if nm.lower() in words}


def _speakers(text: str) -> set[str]:
    return {SPEAKER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in SPEAKER_WORDS}


class _Tally:
    """Counters of one row of the by-type table."""

    def __init__(self) -> None:
        self.c: Counter = Counter()

    def add(self, name: str, ok: bool | int, n: int = 1) -> None:
        self.c[name + "_ok"] += int(ok)
        self.c[name + "_n"] += n

    def share(self, name: str) -> float | None:
        n = self.c[name + "_n"]
        return round(self.c[name + "_ok"] / n, 4) if n else None

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"windows": self.c["windows"], "captions": self.c["captions_n"]}
        for name in ("named", "invented", "speech_detected", "language_named", "silence_said", "clean_single",
                     "qa_presence", "qa_count", "qa_language", "qa_speaker"):
            out[name] = self.share(name)
            out[name + "_n"] = self.c[name + "_n"]
        out["invented_per_caption"] = out.pop("invented")
        out["captions_inventing"] = self.share("inventing")
        return out


def score(meta: dict[str, Any], records: list[dict[str, str]], predictions: dict[str, str],
          scene_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """Metrics over the scenes in `scene_ids` (default: every scene of `records` with a caption prediction).

    `predictions` maps _key(audio_id, task, instruction) -> the model's text. The first keys are those of the
    old scenes' table (unchanged); "by_type" has one row per clip type (GROUPS) and "confusions" the most
    common (true category -> category named instead) pairs.
    """
    synonyms = {c: info["synonyms"] for c, info in meta["categories"].items()}
    speech_cats = {c for c, info in meta["categories"].items() if info.get("kind") == "speech"}
    lang_names = {**LANGUAGE_NAMES, **(meta.get("languages") or {})}
    scenes = {s["audio_id"]: s for s in meta["scenes"]}
    wanted = set(scene_ids) if scene_ids is not None else None
    by_scene: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in records:
        if r["audio_id"] in scenes and (wanted is None or scenes[r["audio_id"]]["id"] in wanted):
            by_scene[r["audio_id"]].append(r)

    named = total = named_strict = total_strict = 0
    false_mentions = mentions = captions = 0
    per_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    task_hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # task -> [correct, total]
    answers: dict[str, Counter] = defaultdict(Counter)  # task -> reference answers, for the baseline
    unparsed: Counter = Counter()
    tallies = {g: _Tally() for g in GROUPS}
    confusions: Counter = Counter()
    invented_cats: Counter = Counter()
    for audio_id, recs in by_scene.items():
        scene = scenes[audio_id]
        rows = [tallies[group_of(scene)], tallies["all"]]
        for t in rows:
            t.c["windows"] += 1
        present = [e["category"] for e in scene["events"]]
        strict = all(e.get("holdout") != "segment" for e in scene["events"])
        cap = predictions.get(_key(audio_id, "caption", DESCRIBE_PROMPT))
        if cap is not None:
            captions += 1
            found = find_mentions(cap, synonyms)
            for c in present:
                ok = int(c in found)
                named += ok
                total += 1
                per_cat[c][0] += ok
                per_cat[c][1] += 1
                if strict:
                    named_strict += ok
                    total_strict += 1
            mentions += len(found)
            false_mentions += len(found - set(present))
            # By type
            invented = found - allowed_categories(scene, speech_cats)
            missed = [c for c in dict.fromkeys(present) if c not in found]
            invented_cats.update(invented)
            for c in missed:
                wrong_speaker = (found - set(present)) & speech_cats if c in speech_cats else set()
                for i in sorted(invented | wrong_speaker):
                    confusions[(c, i)] += 1
            speech = [e for e in scene["events"] if e.get("kind") == "speech" or e["category"] in speech_cats]
            langs = {e["language"] for e in speech if e.get("language")}
            nothing = not scene["events"] and not scene.get("background")
            for t in rows:
                t.c["captions_n"] += 1
                t.add("named", sum(c in found for c in present), len(present))
                t.add("invented", len(invented), 1)
                t.add("inventing", bool(invented))
                if speech:
                    t.add("speech_detected", bool(SPEECH_WORDS.search(strip_quotes(cap).lower()) or found & speech_cats))
                if langs:
                    # English quoted word for word needs no name; every other language must be named.
                    said = _languages(cap, lang_names) | ({"en"} if strip_quotes(cap) != cap else set())
                    t.add("language_named", langs <= said)
                if nothing:
                    t.add("silence_said", not found and bool(NOTHING_WORDS.search(cap.lower())))
                if scene.get("type", "scene") == "single" and present:
                    t.add("clean_single", set(present) <= found and not invented)
        for r in recs:
            task = r["task"]
            if task not in SCORED_TASKS:
                continue
            pred = predictions.get(_key(audio_id, task, r["instruction"]))
            if pred is None:
                continue
            answers[task][r["output"]] += 1
            if task == "qa_presence":
                got = parse_yes_no(pred)
                unparsed[task] += got is None
                ok = got is not None and got == (parse_yes_no(r["output"]) is True)
            elif task == "qa_count":
                got = parse_count(pred)
                unparsed[task] += got is None
                ok = got is not None and got == parse_count(r["output"])
            elif task == "qa_speech":
                ok = normalize_words(pred) == normalize_words(r["output"])
            elif task == "qa_language":
                want = _languages(r["output"], lang_names)
                ok = bool(want) and _languages(pred, lang_names) == want
            elif task == "qa_speaker":
                want = _speakers(r["output"])
                ok = bool(want) and _speakers(pred) == want
            else:  # order, loudness: the right source, and no other source of the scene
                scene_syn = {c: synonyms[c] for c in present}
                want = find_mentions(r["output"], scene_syn)
                ok = bool(want) and find_mentions(pred, scene_syn) == want
            task_hits[task][0] += int(ok)
            task_hits[task][1] += 1
            if task in ("qa_presence", "qa_count", "qa_language", "qa_speaker"):
                for t in rows:
                    t.add(task, ok)

    def share(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    result: dict[str, Any] = {
        "scenes": len(by_scene),
        "captions": captions,
        "sources_named": share(named, total), "sources": total,
        "sources_named_strict": share(named_strict, total_strict), "sources_strict": total_strict,
        "false_mentions_per_caption": share(false_mentions, captions),
        "mention_precision": share(mentions - false_mentions, mentions),
        "per_category_named": {c: {"named": a, "total": b, "share": share(a, b)}
                               for c, (a, b) in sorted(per_cat.items())},
    }
    for task in SCORED_TASKS:
        ok, n = task_hits[task]
        top = answers[task].most_common(1)
        baseline = share(top[0][1], n) if top and task in ("qa_presence", "qa_count", "qa_language") else None
        result[task] = {"accuracy": share(ok, n), "n": n, "unparsed": unparsed[task], "majority_baseline": baseline}
    result["by_type"] = {g: t.row() for g, t in tallies.items() if t.c["windows"]}
    result["confusions"] = [[a, b, n] for (a, b), n in confusions.most_common(20)]
    result["invented_categories"] = [[c, n] for c, n in invented_cats.most_common(20)]
    return result


def print_table(res: dict[str, Any], title: str, file=None) -> None:
    file = file or sys.stdout
    def pct(v: float | None) -> str:
        return "   -  " if v is None else f"{100 * v:5.1f}%"

    rows = [
        ("sources named in captions", res["sources_named"], res["sources"], None),
        ("  strict (no segment hold-outs)", res["sources_named_strict"], res["sources_strict"], None),
        ("presence yes/no accuracy", res["qa_presence"]["accuracy"], res["qa_presence"]["n"],
         res["qa_presence"]["majority_baseline"]),
        ("counting accuracy", res["qa_count"]["accuracy"], res["qa_count"]["n"], res["qa_count"]["majority_baseline"]),
        ("order (right source)", res["qa_order"]["accuracy"], res["qa_order"]["n"], None),
        ("loudness (right source)", res["qa_loudness"]["accuracy"], res["qa_loudness"]["n"], None),
        ("speech exact match", res["qa_speech"]["accuracy"], res["qa_speech"]["n"], None),
    ]
    if res.get("qa_language", {}).get("n"):
        rows.append(("language question", res["qa_language"]["accuracy"], res["qa_language"]["n"],
                     res["qa_language"]["majority_baseline"]))
    if res.get("qa_speaker", {}).get("n"):
        rows.append(("speaker question", res["qa_speaker"]["accuracy"], res["qa_speaker"]["n"], None))
    print(title, file=file)
    print(f"{'metric':34s} {'value':>7s} {'n':>6s} {'majority':>9s}", file=file)
    for label, v, n, base in rows:
        print(f"{label:34s} {pct(v):>7s} {n:6d} {pct(base) if base is not None else '':>9s}", file=file)
    fm = res["false_mentions_per_caption"]
    fm_text = "-" if fm is None else f"{fm:.2f}"
    print(f"{'false mentions per caption':34s} {fm_text:>7s} {res['captions']:6d}", file=file)
    by_type = res.get("by_type") or {}
    if not by_type:
        return
    cols = [("named", "named"), ("invented_per_caption", "invent/cap"), ("speech_detected", "speech"),
            ("language_named", "language"), ("qa_count", "count"), ("qa_presence", "presence"),
            ("silence_said", "silence"), ("clean_single", "clean")]
    print("", file=file)
    print(f"{'by clip type':30s} {'windows':>7s} " + " ".join(f"{h:>10s}" for _, h in cols), file=file)
    for g in GROUPS:
        row = by_type.get(g)
        if not row:
            continue
        cells = []
        for key, _ in cols:
            v = row.get(key)
            cells.append(f"{'-':>10s}" if v is None else (f"{v:10.2f}" if key == "invented_per_caption"
                                                            else f"{100 * v:9.1f}%"))
        print(f"{GROUP_TITLES[g]:30s} {row['windows']:7d} " + " ".join(cells), file=file)
    print("(named: share of events named; invent/cap: categories named that are not in the clip, per caption; "
          "speech: speech windows whose caption says someone speaks; language: ... names the language; silence: "
          "empty windows said to be silence or noise; clean: single events named with nothing invented)", file=file)
    if res.get("confusions"):
        print("most common confusions (true -> named instead): " + "; ".join(
            f"{a} -> {b} ({n})" for a, b, n in res["confusions"][:12]), file=file)
    if res.get("invented_categories"):
        print("most often invented: " + ", ".join(f"{c} ({n})" for c, n in res["invented_categories"][:12]), file=file)


# ---------------------------------------------------------------------------------------------------------
# Running a model


def predict(model_path: str, data: Path, meta: dict[str, Any], records: list[dict[str, str]],
            scene_list: list[dict[str, Any]], device: str | None, tasks: tuple[str, ...],
            save: Path | None = None, state_dtype: str | None = None, prune: dict | None = None,
            silence_gate: bool = True) -> dict[str, str]:
    # Deferred: scoring saved predictions needs neither torch nor the package. The repository root goes on
    # the path so that the script also runs from a checkout where sam_cli is not installed.
    sys.path.append(str(Path(__file__).resolve().parent.parent))
    import sam_cli
    from sam_cli import audio as sam_audio
    from sam_cli.decoding.options import DecodeOptions

    model = sam_cli.load_model(model_path, device=device)
    if prune:  # --prune-tokens / --prune-by: TopK token pruning in the encoder (docs/design.md §4a)
        import dataclasses

        model.cfg.prune = dataclasses.replace(model.cfg.prune, **prune)
    opts = {} if state_dtype is None else {"state_dtype": state_dtype}
    if not silence_gate:  # the model alone, also on digital silence (tasks.silent)
        opts["silence_db"] = None
    kw = {"opts": DecodeOptions(**opts)} if opts else {}
    by_scene: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in records:
        by_scene[r["audio_id"]].append(r)
    preds: dict[str, str] = {}
    out = save.open("w") if save else None
    t0 = time.time()
    for i, scene in enumerate(scene_list):
        audio_id = scene["audio_id"]
        wav = sam_audio.load_audio(str(data / audio_id))
        items = [("caption", DESCRIBE_PROMPT)] + [(r["task"], r["instruction"]) for r in by_scene[audio_id]
                                                  if r["task"] in tasks]
        for task, question in items:
            segs = sam_cli.describe(model, wav, **kw) if task == "caption" else sam_cli.ask(model, wav, question, **kw)
            text = " ".join(s.text for s in segs).strip()
            preds[_key(audio_id, task, question)] = text
            if out:
                out.write(json.dumps({"audio_id": audio_id, "task": task, "instruction": question,
                                      "prediction": text}) + "\n")
        if (i + 1) % 25 == 0:
            print(f"  {i + 1}/{len(scene_list)} scenes, {time.time() - t0:.0f} s", file=sys.stderr)
    if out:
        out.close()
    return preds


def load_predictions(path: Path) -> dict[str, str]:
    preds = {}
    for line in path.read_text().splitlines():
        if line.strip():
            p = json.loads(line)
            preds[_key(p["audio_id"], p["task"], p["instruction"])] = p["prediction"]
    return preds


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder or name (anything sam_cli.load_model takes)")
    ap.add_argument("--data", default="data/scenes", help="folder of build_scenes.py's output")
    ap.add_argument("--split", default="eval", choices=["eval", "eval_seen", "train"],
                    help="eval: held-out recordings (default); eval_seen: new scenes of training recordings")
    ap.add_argument("--limit", type=int, help="only the first N scenes (windows)")
    ap.add_argument("--types", help="only these rows of the by-type table, e.g. single,speech (" + ", ".join(GROUPS[:-1])
                    + ")")
    ap.add_argument("--device", help="cpu, cuda, ... (default: cuda when there is one)")
    ap.add_argument("--state-dtype", choices=["fp32", "model"],
                    help="the recurrent state of GPU decoding (default: sam's default)")
    ap.add_argument("--prune-tokens", type=float, metavar="RATE",
                    help="TopK token pruning: share of the encoder's tokens dropped at each pruning block, [0, 1)")
    ap.add_argument("--prune-by", choices=["attention", "mean-attention", "intensity", "variation"],
                    help="what ranks the tokens for --prune-tokens (default: the model's, attention)")
    ap.add_argument("--prune-fill", choices=["last", "zero"],
                    help="what the concat connector reads at pruned positions (default: the model's, last)")
    ap.add_argument("--no-silence-gate", action="store_true",
                    help="ask the model about digitally silent windows too (by default they are answered "
                         "\"Silence.\" without it, as `sam describe` answers them)")
    ap.add_argument("--out", help="write the metrics as JSON here")
    ap.add_argument("--save-predictions", help="write the model's answers as JSON lines here")
    ap.add_argument("--predictions", help="score these saved predictions instead of running a model")
    args = ap.parse_args(argv)
    if not args.model and not args.predictions:
        ap.error("give --model (or --predictions)")
    if args.prune_tokens is not None and not 0.0 <= args.prune_tokens < 1.0:
        ap.error("--prune-tokens: give a share from 0 to below 1")
    prune = {k: v for k, v in (("rate", args.prune_tokens), ("criterion", args.prune_by), ("fill", args.prune_fill))
             if v is not None}

    data = Path(args.data)
    meta = json.loads((data / "scenes_meta.json").read_text())
    records = json.loads((data / f"{args.split}.json").read_text())
    scene_list = [s for s in meta["scenes"] if s["split"] == args.split]
    if args.types:
        keep = {t.strip() for t in args.types.split(",")}
        scene_list = [s for s in scene_list if group_of(s) in keep]
    scene_list = scene_list[: args.limit]
    if args.predictions:
        preds = load_predictions(Path(args.predictions))
    else:
        t0 = time.perf_counter()
        preds = predict(args.model, data, meta, records, scene_list, args.device, SCORED_TASKS,
                        Path(args.save_predictions) if args.save_predictions else None, args.state_dtype, prune,
                        not args.no_silence_gate)
        seconds = time.perf_counter() - t0
        print(f"{len(scene_list)} clips in {seconds:.1f} s ({seconds / max(1, len(scene_list)):.2f} s a clip, "
              f"caption and questions, model load included)", file=sys.stderr)
    res = score(meta, records, preds, [s["id"] for s in scene_list])
    if prune:
        res.update(prune=prune)
    res.update(split=args.split, model=args.model, data=str(data))
    what = "held-out recordings" if args.split == "eval" else "training recordings, new scenes"
    unit = "windows of clips" if meta.get("mode") == "clips" else "scenes"
    print_table(res, f"sam-tiny-scenes {args.split} ({res['scenes']} {unit}, {what}); model: {args.model}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
