"""`sam batch` on the CPU against the same clips captioned in a loop on the main thread, and against another copy
of the package (e.g. the tree before a change to torch's CPU threads), interleaved.

    python benchmarks/bench_batch_threads.py [--copies 8] [--rounds 5] [--rate 44100] [--reference-tree DIR]
                                             [--json out.json]

The clips are the example clips (examples/*.wav, 10 s each, 16 kHz mono) copied --copies times; with --rate, written
at that rate in stereo instead (as many recordings are), so that decoding resamples them with torch. Each round runs
every kind once, in a fresh process, in an order that turns from round to round: "main" loads the bundled model and
captions the clips one by one with `tasks.describe` on the main thread (no other thread runs torch); "main8" decodes
them on the main thread and runs their windows 8 at a time, as `sam batch` batches them, no other thread; "batch"
runs `sam batch DIR -o OUT --device cpu` in the process (its defaults: batch 8, 2 decoding threads, 96 tokens),
timing its `run_batch` alone; "batch-ref" is "batch" with the package from --reference-tree (PYTHONPATH), e.g. a
folder holding `git archive COMMIT sam_cli`. With --eval, "eval" (and "eval-ref") runs `sam eval`'s predictor over
the clips as a Clotho set (the model on the main thread, 2 decoding threads, batch 8, captions only). Timed: the
clips alone, after the model is loaded. Prints clips/s per round and the median with its range per kind, and checks
that every kind wrote the same captions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from pathlib import Path
import sam_cli
from sam_cli.decoding.options import DecodeOptions

kind, folder, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
files = sorted(folder.glob("*.wav"))
opts = DecodeOptions(max_new_tokens=96)
if kind != "batch":
    model = sam_cli.load_model(None, device="cpu")
t0 = time.perf_counter()
if kind == "main":
    from sam_cli.tasks import describe
    captions = {str(f): " ".join(s.text for s in describe(model, f, opts=opts)) for f in files}
    seconds = time.perf_counter() - t0
elif kind == "main8":
    from sam_cli import audio as A
    from sam_cli.batch.runner import run_windows
    from sam_cli.tasks import prompt_ids
    wins = [(f, w) for f in files for w in A.iter_windows(f, window_seconds=model.cfg.window_seconds)]
    ids, texts = prompt_ids(model, model.cfg.describe_prompt), []
    for i in range(0, len(wins), 8):
        texts += run_windows(model, [w for _, w in wins[i:i + 8]], ids, opts, None)
    seconds = time.perf_counter() - t0
    captions = {}
    for (f, _), t in zip(wins, texts):
        captions[str(f)] = (captions[str(f)] + " " + t) if str(f) in captions else t
elif kind == "eval":
    from sam_cli.evaluation.datasets import read_dataset
    from sam_cli.evaluation.ledger import PredictionLedger
    from sam_cli.evaluation.predict import Predictor
    ds = read_dataset("clotho", folder.parent / "clotho.csv", audio_dir=folder)
    with PredictionLedger(out, {"task": "clotho"}) as ledger:
        Predictor(model, ds, ledger, ("generate",), opts=opts, batch_size=8, workers=2).run(ds.items)
        seconds = time.perf_counter() - t0
        captions = {r["file"]: r["text"] for r in ledger.rows.values()}
else:  # the tree's own `sam batch` command, in this process, its run_batch timed (the model loaded)
    import sam_cli.batch.runner as R
    from sam_cli.cli import main
    run_batch, spent = R.run_batch, []
    def timed(*args, **kw):
        t0 = time.perf_counter()
        try:
            return run_batch(*args, **kw)
        finally:
            spent.append(time.perf_counter() - t0)
    R.run_batch = timed
    sys.argv = ["sam", "--quiet", "batch", str(folder), "-o", str(out), "--device", "cpu"]
    try:
        main()
    except SystemExit as e:
        if e.code:
            raise
    seconds = spent[0]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    captions = {r["file"]: " ".join(s["text"] for s in r["segments"]) for r in rows}
captions = {Path(k).name: v for k, v in captions.items()}
print(json.dumps({"seconds": seconds, "clips": len(files), "captions": captions, "sam_cli": sam_cli.__file__}))
"""


def run_kind(kind: str, tree: Path | None, folder: Path, tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAM_")}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    out = tmp / f"{kind}.jsonl"
    out.unlink(missing_ok=True)
    p = subprocess.run([sys.executable, "-c", CHILD, kind.removesuffix("-ref"), str(folder), str(out)],
                       capture_output=True, text=True, env=env, cwd=tmp, timeout=1800)
    if p.returncode != 0:
        sys.exit(f"{kind} failed:\n{p.stderr}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    if tree is not None and not r["sam_cli"].startswith(str(tree)):
        sys.exit(f"{kind} imported {r['sam_cli']}, not the tree {tree}")
    return r


def write_stereo(src: Path, dst: Path, rate: int) -> None:
    import soundfile as sf
    import torch
    import torchaudio.functional as AF

    x, sr = sf.read(src, dtype="float32")
    y = AF.resample(torch.from_numpy(x), sr, rate).numpy()
    sf.write(dst, np.stack([y, 0.9 * y], axis=1), rate, subtype="PCM_16")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rate", type=int, default=None, help="write the copies at this rate, in stereo")
    ap.add_argument("--reference-tree", type=Path, default=None)
    ap.add_argument("--eval", action="store_true", help="also sam eval's predictor (and its reference)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    kinds = {"main": ROOT, "main8": ROOT, "batch": ROOT}
    if a.reference_tree is not None:
        kinds["batch-ref"] = a.reference_tree.resolve()
    if a.eval:
        kinds["eval"] = ROOT
        if a.reference_tree is not None:
            kinds["eval-ref"] = a.reference_tree.resolve()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        folder = tmp / "clips"
        folder.mkdir()
        for k in range(a.copies):
            for f in sorted((ROOT / "examples").glob("*.wav")):
                if a.rate is None:
                    shutil.copy(f, folder / f"{k:03d}-{f.name}")
                else:
                    write_stereo(f, folder / f"{k:03d}-{f.name}", a.rate)
        clips = sorted(f.name for f in folder.iterdir())
        (tmp / "clotho.csv").write_text("file_name,caption_1\n" + "".join(f"{n},a sound\n" for n in clips))
        rates: dict[str, list[float]] = {k: [] for k in kinds}
        captions: dict[str, dict] = {}
        names = list(kinds)
        print(f"{platform.machine()}, {os.cpu_count()} cores; {a.copies * 4} clips of 10 s "
              f"({f'{a.rate} Hz stereo' if a.rate else 'as shipped'}); rounds of "
              f"{', '.join(names)}", flush=True)
        for r in range(a.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            line = []
            for kind in order:
                res = run_kind(kind, kinds[kind], folder, tmp)
                rates[kind].append(res["clips"] / res["seconds"])
                captions.setdefault(kind, res["captions"])
                if res["captions"] != captions[kind]:
                    sys.exit(f"{kind}: captions changed between rounds")
                line.append(f"{kind} {rates[kind][-1]:.2f}")
            print(f"round {r + 1}: " + ", ".join(line) + " clips/s", flush=True)
    same = all(c == captions["main"] for c in captions.values())
    print("captions: " + ("the same for every kind" if same else "DIFFER between kinds"))
    summary = {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "rounds": v} for k, v in rates.items()}
    for k, s in summary.items():
        print(f"{k:10s} median {s['median']:.2f} clips/s (range {s['min']:.2f}-{s['max']:.2f})")
    if a.json:
        a.json.write_text(json.dumps({"rates": summary, "same_captions": same}, indent=1))
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
