"""Start-up of one-off commands: fresh `sam describe` processes, their wall time and phases (`--stats`).

    python benchmarks/bench_startup.py [--models bundled,130m] [--runs 3] [--device cuda] [--json out.json]

Every row is a new process running `python -m sam_cli describe examples/dog_bark.wav --stats`, as a user
runs it; nothing is shared between them but the disk (Triton's cache of compiled kernels and, with the
defaults, its tuning results). Configurations, alternated run by run:
- "defaults": what `sam` does now;
- "before": SAM_CONV_EXTENSION=0, the eighth session's code: causal_conv1d through its public functions,
  torch custom ops, whose first call in a process imports torch._dynamo. (The seventh session's tuning and
  variant choice, SAM_GRAPH_VARIANT=timed TRITON_CACHE_AUTOTUNING=0, were this configuration in the eighth
  session's figures.)
Models: "bundled" (the tiny bundled model, whose GEMV shapes are not in the measured tile table, so the
decode kernels are autotuned) and "130m" (a random EAT-base + Mamba-2 130M checkpoint written to a temporary
folder: a published shape, measured tiles). The first process of each (model, configuration) runs on a
fresh Triton cache directory shared by the whole benchmark and is reported apart ("first"): it compiles
kernels; the "defaults" one runs first, so it is what a user's first command on a new machine pays.
Also the floor of any CUDA process (import torch, one op on the GPU) and, for reference, the CPU describe.
MAMBA_DETERMINISTIC is removed from the children's environment (users do not set it).
--profile N instead runs the bundled model twice (compile, then warm) and prints where a third, warm
process spends its time: the N slowest imports (-X importtime) and cProfile's top functions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "examples" / "dog_bark.wav"
CONFIGS = {"defaults": {}, "before": {"SAM_CONV_EXTENSION": "0"}}
STATS = re.compile(r"load ([\d.]+) s \| encode (\d+) ms \| prefill (\d+) ms \| decode (\d+) tokens, ([\d.]+) tok/s"
                   r"(?: \| GPU warm-up ([\d.]+) s)?")


def child_env(extra: dict[str, str], cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAMBA_DETERMINISTIC", "SAM_GRAPH_VARIANT")}
    env.update({"TRITON_CACHE_DIR": cache, "PYTHONPATH": f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}", **extra})
    return env


def describe_args(model: str, device: str, max_tokens: int) -> list[str]:
    return ["-m", "sam_cli", "describe", str(CLIP), "--model", model, "--device", device, "--max-tokens",
            str(max_tokens)]


def run_describe(model: str, device: str, env: dict[str, str], max_tokens: int) -> dict:
    cmd = [sys.executable, *describe_args(model, device, max_tokens), "--stats"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    row: dict = {"wall_s": round(wall, 2), "rc": p.returncode, "caption": p.stdout.strip()[:60]}
    m = STATS.search(p.stderr)
    if m:
        row.update(load_s=float(m[1]), encode_ms=int(m[2]), prefill_ms=int(m[3]), tokens=int(m[4]),
                   warmup_s=float(m[6] or 0.0))
    if p.returncode != 0 or not m:
        row["stderr"] = p.stderr.strip()[-400:]
    return row


def profile(model: str, device: str, env: dict[str, str], max_tokens: int, top: int) -> None:
    """Where a warm process's time goes: the slowest imports (python -X importtime, cumulative, top-level
    packages and sam_cli's modules) and cProfile's functions by cumulative time."""
    cmd = describe_args(model, device, max_tokens)
    p = subprocess.run([sys.executable, "-X", "importtime", *cmd], env=env, capture_output=True, text=True)
    rows = []
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cum, name = (x.strip() for x in line[len("import time:"):].split("|"))
            depth = (len(line.split("|")[2]) - len(line.split("|")[2].lstrip())) // 2
            if depth <= 1 or name.startswith("sam_cli"):
                rows.append((int(cum), name))
    print(f"-- slowest imports (cumulative, s) of `sam describe --device {device}`")
    for cum, name in sorted(rows, reverse=True)[:top]:
        print(f"{cum / 1e6:7.2f}  {name}")
    p = subprocess.run([sys.executable, "-m", "cProfile", "-s", "cumulative", *cmd], env=env, capture_output=True,
                       text=True)
    lines = p.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    lines = [line for line in lines[start:] if "<frozen" not in line and "(<module>)" not in line]
    print("-- cProfile, by cumulative time (import machinery left out)")
    print("\n".join(lines[: top * 3]))


def floor_s(device: str, cache: str) -> float:
    code = "import torch; torch.ones(1, device=%r).sum().item()" % device
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=child_env({}, cache), check=True)
    return time.perf_counter() - t0


def random_130m(folder: Path, device: str) -> str:
    """A random-weight 130M-shape SAM checkpoint (bench_e2e's model), written as `sam` reads it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_e2e

    from sam_cli.store.checkpoint import save_checkpoint

    bench_e2e.DEVICE = device
    model = bench_e2e.build("130m")
    save_checkpoint(model, model.tokenizer, folder)
    del model
    return str(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="bundled,130m")
    ap.add_argument("--runs", type=int, default=3, help="warm runs per (model, configuration), after the first")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--json")
    ap.add_argument("--profile", type=int, default=0, help="only profile a warm process (this many rows)")
    args = ap.parse_args()

    results: dict = {"device": args.device, "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "triton-cache")
        results["floor_s"] = round(statistics.median(floor_s(args.device, cache) for _ in range(3)), 2)
        print(json.dumps({"floor_s": results["floor_s"]}), flush=True)
        if args.profile:
            env = child_env({}, cache)
            run_describe("sam-tiny", args.device, env, args.max_tokens)  # compiles and tunes
            print(json.dumps({"warm_run": run_describe("sam-tiny", args.device, env, args.max_tokens)}), flush=True)
            profile("sam-tiny", args.device, env, args.max_tokens, args.profile)
            return
        for name in args.models.split(","):
            model = "sam-tiny" if name == "bundled" else random_130m(Path(tmp) / name, args.device)
            runs: dict[str, list[dict]] = {c: [] for c in CONFIGS}
            first = {}
            for c in CONFIGS:  # "defaults" first: a new machine's first command
                first[c] = run_describe(model, args.device, child_env(CONFIGS[c], cache), args.max_tokens)
                print(json.dumps({"model": name, "config": c, "first": True, **first[c]}), flush=True)
            for _ in range(args.runs):
                for c in CONFIGS:
                    r = run_describe(model, args.device, child_env(CONFIGS[c], cache), args.max_tokens)
                    runs[c].append(r)
                    print(json.dumps({"model": name, "config": c, **r}), flush=True)
            row = {"model": name, "first": first}
            for c, rs in runs.items():
                row[c] = {k: round(statistics.median(r.get(k, float("nan")) for r in rs), 3)
                          for k in ("wall_s", "load_s", "encode_ms", "prefill_ms", "warmup_s")}
            row["before_over_defaults"] = round(row["before"]["wall_s"] / row["defaults"]["wall_s"], 2)
            if args.device != "cpu":
                cpu = [run_describe(model, "cpu", child_env({}, cache), args.max_tokens) for _ in range(2)]
                row["cpu_wall_s"] = round(min(r["wall_s"] for r in cpu), 2)
            results["rows"].append(row)
    print("\n| model | floor s | defaults: first / warm wall s | load / prefill / warm-up s | before: first / warm "
          "wall s | load / prefill / warm-up s | before ÷ defaults | CPU wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results["rows"]:
        d, b = r["defaults"], r["before"]
        cells = [r["model"], results["floor_s"], f"{r['first']['defaults']['wall_s']} / **{d['wall_s']}**",
                 f"{d['load_s']} / {d['prefill_ms'] / 1e3:.2f} / {d['warmup_s']}",
                 f"{r['first']['before']['wall_s']} / {b['wall_s']}",
                 f"{b['load_s']} / {b['prefill_ms'] / 1e3:.2f} / {b['warmup_s']}", f"{r['before_over_defaults']}×",
                 r.get("cpu_wall_s", "-")]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
