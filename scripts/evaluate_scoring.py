#!/usr/bin/env python3
"""How well `sam classify --labels` and `sam ask --choices` rank, on the scenes of build_scenes.py.

    python3 scripts/evaluate_scoring.py --data runs/evalscenes --limit 200 [--model sam-tiny] [--out r.json]

Both commands score candidates the user typed instead of generating. Two scorings, same model, same run:
- "typed": each candidate exactly as typed, as the whole answer (mean log-probability per token with EOS);
  labels under the describe prompt. What sam did before its answer spellings (2026-12-02).
- "now": what `sam_cli.tasks` does: each candidate also in its answer spelling ("twice" -> "Twice.",
  "dog barking" -> "Dog barking"), the best spelling; labels under the classification prompt, scored as
  the next item of the tag list at its start and after each comma of the list the model writes.

Tasks, with the candidates a user would type (lower case, no full stop):
- labels: the scene's sound categories (their labels, e.g. "dog barking", or with --short-labels their
  first synonym, e.g. "dog") among 10, the rest drawn from other categories; top-1 (the best label is in
  the scene) and mean average precision.
- choices: the scenes' presence questions with "yes,no", counting questions with "once,twice,three
  times,four times", loudness questions with the two sources the question names; accuracy.
Chance: labels top-1 ~0.15 (1.4 true labels of 10), presence 0.5, counting ~0.3, loudness 0.5.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch

COUNTS = ["once", "twice", "three times", "four times"]


def user_choices(task: str, question: str, answer: str) -> tuple[list[str], str] | None:
    """(choices as a user would type them, the right one) for a scene question, or None."""
    a = answer.strip().rstrip(".").lower()
    if task == "qa_presence":
        return ["yes", "no"], a
    if task == "qa_count":
        return COUNTS, a
    if task == "qa_loudness":
        m = re.search(r"(?:, |: )(.+) or (.+)\?$", question)
        return ([m.group(1), m.group(2)], a) if m else None
    return None


def average_precision(ranked: list[str], truth: set[str]) -> float:
    hits, total = 0, 0.0
    for i, name in enumerate(ranked):
        if name in truth:
            hits += 1
            total += hits / (i + 1)
    return total / len(truth)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="anything sam_cli.load_model takes (default: the bundled one)")
    ap.add_argument("--data", default="data/scenes", help="folder of build_scenes.py's output")
    ap.add_argument("--split", default="eval", choices=["eval", "eval_seen"])
    ap.add_argument("--limit", type=int, default=200, help="scenes (labels) and questions of each task (choices)")
    ap.add_argument("--short-labels", action="store_true", help="labels as one word (\"dog\", not \"dog barking\")")
    ap.add_argument("--out", help="write the results as JSON here")
    a = ap.parse_args(argv)

    import sam_cli
    from sam_cli import tasks as I
    from sam_cli.decoding import scoring as S
    from sam_cli.decoding.scoring import score_candidates

    model = sam_cli.load_model(a.model)
    data = Path(a.data)
    meta = json.loads((data / "scenes_meta.json").read_text())
    cats = meta["categories"]

    @functools.lru_cache(maxsize=1)  # a scene's questions come one after another: encode its clip once
    def embed(audio_id: str) -> torch.Tensor:
        return I.encode_windows(model, [next(I.windows(model, str(data / audio_id)))])[0]

    def typed(emb: torch.Tensor, prompt: str, texts: list[str]) -> torch.Tensor:
        return score_candidates(model, emb, I.prompt_ids(model, prompt), [model.tokenizer.encode(t) for t in texts])

    def name(cat: str) -> str:
        return cats[cat]["synonyms"][0] if a.short_labels else cats[cat]["label"]

    t0 = time.time()
    rng = random.Random(0)
    labels = defaultdict(lambda: [0.0, 0.0])
    scenes = [s for s in meta["scenes"] if s["split"] == a.split][: a.limit]
    for sc in scenes:
        truth = {name(e["category"]) for e in sc["events"]}
        others = sorted({name(c) for c in cats} - truth)
        cands = sorted(truth) + rng.sample(others, min(len(others), 10 - len(truth)))
        emb = embed(sc["audio_id"])
        scored = {"typed": typed(emb, model.cfg.describe_prompt, cands),
                  "now": S.label_scores(model, emb, I.prompt_ids(model, I.CLASSIFY_PROMPT), cands)}
        for k, s in scored.items():
            ranked = [cands[i] for i in s.argsort(descending=True).tolist()]
            labels[k][0] += ranked[0] in truth
            labels[k][1] += average_precision(ranked, truth)
    n_scenes = max(len(scenes), 1)

    asked, right = Counter(), Counter()
    for r in json.loads((data / f"{a.split}.json").read_text()):
        got = user_choices(r["task"], r["instruction"], r["output"])
        if got is None or got[1] not in got[0] or asked[r["task"]] >= a.limit:
            continue
        choices, answer = got
        asked[r["task"]] += 1
        emb = embed(r["audio_id"])
        ids = I.prompt_ids(model, r["instruction"])
        for k, s in {"typed": typed(emb, r["instruction"], choices),
                     "now": S.spelling_scores(model, emb, ids, choices, complete=True)}.items():
            right[(k, r["task"])] += choices[int(s.argmax())] == answer

    res = {"split": a.split, "scenes": len(scenes), "short_labels": a.short_labels, "questions": dict(asked),
           "seconds": round(time.time() - t0, 1)}
    for k in ("typed", "now"):
        res[k] = {"labels_top1": round(labels[k][0] / n_scenes, 3), "labels_map": round(labels[k][1] / n_scenes, 3)}
        res[k].update({t: round(right[(k, t)] / asked[t], 3) for t in sorted(asked)})
    print(json.dumps(res), file=sys.stderr)
    print(f"{a.split}, {len(scenes)} scenes, questions {dict(asked)}")
    print("| scoring | labels top-1 | labels mAP | " + " | ".join(t[3:] for t in sorted(asked)) + " |")
    print("|---|---|---|" + "---|" * len(asked))
    for k in ("typed", "now"):
        print(f"| {k} | " + " | ".join(str(v) for v in res[k].values()) + " |")
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
