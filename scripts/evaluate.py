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
SCORED_TASKS = ("qa_presence", "qa_count", "qa_order", "qa_loudness", "qa_speech")

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


def score(meta: dict[str, Any], records: list[dict[str, str]], predictions: dict[str, str],
          scene_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """Metrics over the scenes in `scene_ids` (default: every scene of `records` with a caption prediction).

    `predictions` maps _key(audio_id, task, instruction) -> the model's text.
    """
    synonyms = {c: info["synonyms"] for c, info in meta["categories"].items()}
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
    for audio_id, recs in by_scene.items():
        scene = scenes[audio_id]
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
            else:  # order, loudness: the right source, and no other source of the scene
                scene_syn = {c: synonyms[c] for c in present}
                want = find_mentions(r["output"], scene_syn)
                ok = bool(want) and find_mentions(pred, scene_syn) == want
            task_hits[task][0] += int(ok)
            task_hits[task][1] += 1

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
        baseline = share(top[0][1], n) if top and task in ("qa_presence", "qa_count") else None
        result[task] = {"accuracy": share(ok, n), "n": n, "unparsed": unparsed[task], "majority_baseline": baseline}
    return result


def print_table(res: dict[str, Any], title: str, file=sys.stdout) -> None:
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
    print(title, file=file)
    print(f"{'metric':34s} {'value':>7s} {'n':>6s} {'majority':>9s}", file=file)
    for label, v, n, base in rows:
        print(f"{label:34s} {pct(v):>7s} {n:6d} {pct(base) if base is not None else '':>9s}", file=file)
    fm = res["false_mentions_per_caption"]
    fm_text = "-" if fm is None else f"{fm:.2f}"
    print(f"{'false mentions per caption':34s} {fm_text:>7s} {res['captions']:6d}", file=file)


# ---------------------------------------------------------------------------------------------------------
# Running a model


def predict(model_path: str, data: Path, meta: dict[str, Any], records: list[dict[str, str]],
            scene_list: list[dict[str, Any]], device: str | None, tasks: tuple[str, ...],
            save: Path | None = None, state_dtype: str | None = None) -> dict[str, str]:
    # Deferred: scoring saved predictions needs neither torch nor the package. The repository root goes on
    # the path so that the script also runs from a checkout where sam_cli is not installed.
    sys.path.append(str(Path(__file__).resolve().parent.parent))
    import sam_cli
    from sam_cli import audio as sam_audio
    from sam_cli.decoding.options import DecodeOptions

    model = sam_cli.load_model(model_path, device=device)
    kw = {} if state_dtype is None else {"opts": DecodeOptions(state_dtype=state_dtype)}
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
    ap.add_argument("--limit", type=int, help="only the first N scenes")
    ap.add_argument("--device", help="cpu, cuda, ... (default: cuda when there is one)")
    ap.add_argument("--state-dtype", choices=["fp32", "model"],
                    help="the recurrent state of GPU decoding (default: sam's default)")
    ap.add_argument("--out", help="write the metrics as JSON here")
    ap.add_argument("--save-predictions", help="write the model's answers as JSON lines here")
    ap.add_argument("--predictions", help="score these saved predictions instead of running a model")
    args = ap.parse_args(argv)
    if not args.model and not args.predictions:
        ap.error("give --model (or --predictions)")

    data = Path(args.data)
    meta = json.loads((data / "scenes_meta.json").read_text())
    records = json.loads((data / f"{args.split}.json").read_text())
    scene_list = [s for s in meta["scenes"] if s["split"] == args.split][: args.limit]
    if args.predictions:
        preds = load_predictions(Path(args.predictions))
    else:
        preds = predict(args.model, data, meta, records, scene_list, args.device, SCORED_TASKS,
                        Path(args.save_predictions) if args.save_predictions else None, args.state_dtype)
    res = score(meta, records, preds, [s["id"] for s in scene_list])
    res.update(split=args.split, model=args.model, data=str(data))
    what = "held-out recordings" if args.split == "eval" else "training recordings, new scenes"
    print_table(res, f"sam-tiny-scenes {args.split} ({res['scenes']} scenes, {what}); model: {args.model}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
