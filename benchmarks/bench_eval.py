#!/usr/bin/env python3
"""`sam eval` on small sets in each layout, built from the project's own held-out clips: quality numbers of a
model and the eval's throughput (clips a second, the whole command, model loading included).

    python3 benchmarks/bench_eval.py --scenes data/clips_eval --limit 60 [--model sam-tiny] [--device cpu]
                                     [--only esc50,classify,clotho,mmau] [--json rows.json]

The clips come from `scripts/build_scenes.py --mode clips` (held-out recordings, `eval.json`): the
classification prompt's answers become an ESC-50 folder (clips with one label) and a multi-label file,label
CSV; the captions a Clotho CSV (one reference a clip); presence and counting questions an MMAU-style JSON
(presence "easy", counting "hard"). Each set is evaluated by a real `sam eval` process; a table of metrics
and clips/s is printed (Markdown, for BENCHMARKS.md), with `sam batch` captioning the Clotho set's clips
in the same run as the reference for the speed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

COUNTS = ["Once", "Twice", "Three times", "Four times"]
SAME_COUNT = {"One": "Once", "Two": "Twice"}


def label_list(text: str) -> list[str]:
    out = []
    for part in text.split(","):
        part = part.strip().rstrip(".").strip()
        if part:
            out.append(part[0].upper() + part[1:].lower())
    return list(dict.fromkeys(out))


def build(scenes: Path, out: Path, limit: int) -> dict[str, list[str]]:
    records = json.loads((scenes / "eval.json").read_text())
    audio = lambda r: (scenes / r["audio_id"]).resolve()  # noqa: E731
    cla = [r for r in records if r["task"] == "cla_label" and audio(r).is_file()]
    single = [r for r in cla if len(label_list(r["output"])) == 1][:limit]
    esc = out / "ESC-50"
    (esc / "meta").mkdir(parents=True, exist_ok=True)
    (esc / "audio").mkdir(exist_ok=True)
    cats = sorted({label_list(r["output"])[0] for r in single})
    with open(esc / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        for n, r in enumerate(single):
            name = f"{n % 5 + 1}-{Path(r['audio_id']).name}"
            link = esc / "audio" / name
            if not link.exists():
                link.symlink_to(audio(r))
            cat = label_list(r["output"])[0]
            w.writerow([name, n % 5 + 1, cats.index(cat), cat, False, "x", "A"])
    with open(out / "multi.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label"])
        for r in cla[:limit]:
            w.writerow([str(audio(r)), ";".join(label_list(r["output"]))])
    caps = [r for r in records if r["task"] == "caption" and audio(r).is_file()][:limit]
    with open(out / "clotho.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_name", "caption_1"])
        for r in caps:
            w.writerow([str(audio(r)), r["output"]])
    mcq = []
    for r in records:
        if not audio(r).is_file():
            continue
        answer = r["output"].rstrip(".")
        if r["task"] == "qa_presence":
            mcq.append(dict(question=r["instruction"], choices=["Yes", "No"], answer=answer, difficulty="easy"))
        elif r["task"] == "qa_count":
            mcq.append(dict(question=r["instruction"], choices=COUNTS, answer=SAME_COUNT.get(answer, answer),
                            difficulty="hard"))
        else:
            continue
        mcq[-1].update(id=f"q{len(mcq)}", audio_id=str(audio(r)), task="sound")
    presence = [q for q in mcq if q["difficulty"] == "easy"][: limit // 2]
    count = [q for q in mcq if q["difficulty"] == "hard"][: limit // 2]
    (out / "mmau-questions.json").write_text(json.dumps(presence + count, indent=1))
    return {"esc50": [str(esc)], "classify": [str(out / "multi.csv")], "clotho": [str(out / "clotho.csv")],
            "mmau": [str(out / "mmau-questions.json"), "--method", "both"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=Path, default=Path("data/clips_eval"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/sam-bench-eval"))
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", default=None, help="comma-separated tasks")
    ap.add_argument("--json", type=Path, default=None, help="also the rows as JSON, rewritten after each set")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sets = build(args.scenes, args.out, args.limit)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    rows, found = [], []

    def keep(row: dict, line: str) -> None:  # shown and saved as it comes, so a run cut short keeps it
        rows.append(line)
        found.append(row)
        print(line, file=sys.stderr, flush=True)
        if args.json:
            args.json.write_text(json.dumps({"device": args.device, "limit": args.limit, "rows": found}, indent=1))

    for task, data in sets.items():
        if args.only and task not in args.only.split(","):
            continue
        result = args.out / f"{task}.json"
        result.unlink(missing_ok=True)
        (args.out / f"{task}.predictions.jsonl").unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "sam_cli", "eval", task, *data, "-o", str(result), "--device", args.device]
        if args.model:
            cmd += ["--model", args.model]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if p.returncode not in (0, 1):
            print(p.stderr, file=sys.stderr)
            keep({"set": task, "wall_s": wall, "exit": p.returncode}, f"{task}: exit {p.returncode}, {wall:.1f} s")
            continue
        r = json.loads(p.stdout)
        for method, m in r["methods"].items():
            keys = [k for k in ("accuracy", "mAP", "mAUC", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr-D", "SPICE")
                    if isinstance(m.get(k), float)]
            shown = ", ".join(f"{k} {m[k]:.3f}" for k in keys)
            if "by_difficulty" in m:
                shown += "; " + ", ".join(f"{d} {v['accuracy']:.3f}" for d, v in m["by_difficulty"].items())
            keep({"set": task, "method": method, "scored": r["scored"], "clips": r["clips"], "wall_s": wall,
                  "clips_per_s": r["clips"] / wall, **{k: m[k] for k in keys}},
                 f"| {task} | {method} | {r['scored']} | {shown} | {r['clips'] / wall:.2f} |")
        print(f"{task}: {wall:.1f} s", file=sys.stderr)
    if not args.only or "clotho" in args.only.split(","):
        # The reference: `sam batch` captioning the same clips with the same prompt, in the same run.
        files = [r[0] for r in list(csv.reader(open(args.out / "clotho.csv")))[1:]]
        (args.out / "batch.jsonl").unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "sam_cli", "batch", *files, "-o", str(args.out / "batch.jsonl"),
               "--device", args.device] + (["--model", args.model] if args.model else [])
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=True)
        wall = time.perf_counter() - t0
        keep({"set": "clotho's clips", "method": "sam batch (reference)", "clips": len(files), "wall_s": wall,
              "clips_per_s": len(files) / wall},
             f"| clotho's clips | `sam batch` (reference) | {len(files)} | | {len(files) / wall:.2f} |")
    print("| set | method | clips | metrics | clips/s (whole command) |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
