"""Where a decode step's time goes on the GPU: a kernel-level profile of ours and upstream, same weights.

    python benchmarks/profile_decode.py [--sizes 130m,2.7b] [--batches 1,64] [--trace-dir DIR] [--json F]

For each shape and batch it profiles (torch.profiler, CUPTI kernel records, which also see the kernels
inside CUDA-graph replays):
- ours, each decode variant (library / hybrid / fused, see sam_cli/accel/cuda_graphs.py) on its own graph:
  replays of STEPS_PER_GRAPH steps;
- upstream, mamba_ssm's generate(cg=True): the kernels of a 33-token run minus those of a 1-token run,
  over 32, which leaves the decode steps (both runs do the same prefill).
Per step it reports: kernels launched, the sum of kernel times ("busy"), the wall time between graph
replays (events around the replays, no profiler), the gap between the two (launch latency and idle), the
time in the matrix kernels (GEMV/GEMM) with the bandwidth they reach on the weights they read, and the
largest kernels. The question it answers: is a step bound by bytes (busy ≈ wall, matrix kernels near the
copy bandwidth) or by the number of kernels (wall ≫ busy, or many kernels of a few µs each).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import re
import shutil
import statistics
from collections import defaultdict
from typing import Any

import sys

import torch
from torch.profiler import ProfilerActivity, profile

from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_decode import measure_bandwidth, release, upstream_model  # noqa: E402

SIZES = {"tiny": (256, 2), "130m": (768, 24), "780m": (1536, 48), "2.7b": (2560, 64)}
MATRIX = re.compile(r"gemv|gemm|sm90_xmma|cutlass|_gemv|matmul|dot_kernel|nvjet", re.I)


def kernel_times(prof: Any) -> dict[str, list[float]]:
    """Kernel name -> list of durations (µs) of every launch in the profile."""
    out: dict[str, list[float]] = defaultdict(list)
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            out[ev.name].append(ev.time_range.elapsed_us())
    return out


def summarise(per_step: dict[str, tuple[float, float]], wall_us: float, matrix_bytes: int, bw: float) -> dict[str, Any]:
    """per_step: name -> (launches a step, µs a step)."""
    busy = sum(t for _, t in per_step.values())
    launches = sum(n for n, _ in per_step.values())
    mat = sum(t for name, (_, t) in per_step.items() if MATRIX.search(name))
    top = sorted(per_step.items(), key=lambda kv: -kv[1][1])[:8]
    return {
        "wall_us": wall_us, "busy_us": busy, "gap_us": wall_us - busy if wall_us else None,
        "launches": launches, "matrix_us": mat, "other_us": busy - mat,
        "matrix_GBps": matrix_bytes / (mat * 1e-6) / 1e9 if mat else None,
        "matrix_floor_us": matrix_bytes / (bw * 1e9) * 1e6,
        "top": [{"kernel": name[:90], "per_step": round(n, 2), "us": round(t, 2), "mean_us": round(t / n, 2)}
                for name, (n, t) in top],
    }


def profile_ours(lm: Mamba2LMHeadModel, batch: int, variant: str, bw: float, trace: str | None) -> dict[str, Any]:
    from sam_cli.accel.cuda_graphs import GraphDecoder
    from sam_cli.accel.select import fused_view

    fast = fused_view(lm)
    dec = GraphDecoder(fast, batch, variants=(variant,))
    if dec.variant != variant:
        return {"error": f"variant {variant} did not build: {dec.variant_ms}"}
    for _ in range(3):
        dec.replay()
    torch.cuda.synchronize()
    replays = 20
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    walls = []
    for _ in range(5):
        start.record()
        for _ in range(replays):
            dec.replay()
        end.record()
        end.synchronize()
        walls.append(start.elapsed_time(end) * 1e3 / (replays * dec.steps))
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(replays):
            dec.replay()
        torch.cuda.synchronize()
    times, source = kernel_times(prof), "graph"
    if not times:  # a CUPTI that does not see inside graph replays: the same kernels, launched eagerly
        with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
            for _ in range(replays):
                dec.run_steps(variant)
            torch.cuda.synchronize()
        times, source = kernel_times(prof), "eager"
    if trace:
        _save_trace(prof, trace)
    steps = replays * dec.steps
    per = {k: (len(v) / steps, sum(v) / steps) for k, v in times.items()}
    out = summarise(per, statistics.median(walls), matrix_bytes(lm), bw)
    del dec
    gc.collect()
    torch.cuda.empty_cache()
    return {**out, "kernels_from": source}


def profile_upstream(lm: Mamba2LMHeadModel, batch: int, bw: float, trace: str | None) -> dict[str, Any]:
    c = lm.cfg
    up = upstream_model(lm)
    ids = torch.randint(0, c.vocab_size, (batch, 84), device="cuda")
    new = 33
    try:
        for n in (new, 1, new, 1):  # warm-up, graph capture
            up.generate(ids, max_length=84 + n, cg=True)
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def timed(n: int) -> float:
            start.record()
            up.generate(ids, max_length=84 + n, cg=True)
            end.record()
            end.synchronize()
            return start.elapsed_time(end) * 1e3

        long, short = [], []
        for _ in range(5):
            long.append(timed(new))
            short.append(timed(1))
        wall = (statistics.median(long) - statistics.median(short)) / (new - 1)
        runs = {}
        for n in (new, 1):
            with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
                up.generate(ids, max_length=84 + n, cg=True)
                torch.cuda.synchronize()
            runs[n] = kernel_times(prof)
            if trace and n == new:
                _save_trace(prof, trace)
        per = {}
        for name in set(runs[new]) | set(runs[1]):
            a, b = runs[new].get(name, []), runs[1].get(name, [])
            per[name] = ((len(a) - len(b)) / (new - 1), (sum(a) - sum(b)) / (new - 1))
        per = {k: v for k, v in per.items() if v[0] > 0}
        return summarise(per, wall, matrix_bytes(lm), bw)
    finally:
        del up
        gc.collect()
        torch.cuda.empty_cache()


def matrix_bytes(lm: Mamba2LMHeadModel) -> int:
    """Bytes of the weights the matrix kernels read in a step: in_proj, out_proj, lm_head."""
    total = 0
    for name, p in lm.named_parameters():
        if p.dim() == 2 and ("in_proj" in name or "out_proj" in name or "lm_head" in name or "embedding" in name):
            total += p.numel() * p.element_size()
    return total  # the embedding is tied to lm_head: counted once, as a parameter


def _save_trace(prof: Any, path: str) -> None:
    raw = path + ".json"
    prof.export_chrome_trace(raw)
    with open(raw, "rb") as f, gzip.open(path + ".json.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    os.remove(raw)


def line(name: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return f"| {name} | {r['error'][:120]} |"
    g = f"{r['matrix_GBps']:.0f}" if r.get("matrix_GBps") else "-"
    return (f"| {name} | {r['wall_us']:.1f} | {r['busy_us']:.1f} | {r['gap_us']:.1f} | {r['launches']:.0f} | "
            f"{r['matrix_us']:.1f} ({g} GB/s; floor {r['matrix_floor_us']:.1f}) | {r['other_us']:.1f} | "
            f"{r['top'][0]['kernel'][:40]} {r['top'][0]['us']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="130m,2.7b")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--variants", default="library,hybrid,fused")
    ap.add_argument("--skip-upstream", action="store_true")
    ap.add_argument("--trace-dir", default=None, help="chrome traces (gzip) of ours-fused and upstream, batch 1")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    bw = measure_bandwidth()
    results: dict[str, Any] = {"device": torch.cuda.get_device_name(), "bandwidth_GBps": bw, "rows": []}
    print(json.dumps({"device": results["device"], "bandwidth_GBps": bw}), flush=True)
    with torch.no_grad():
        for size in args.sizes.split(","):
            d_model, n_layer = SIZES[size]
            cfg = Mamba2Config(d_model=d_model, n_layer=n_layer, vocab_size=1000 if size == "tiny" else 50277)
            with torch.device("cuda"):
                lm = Mamba2LMHeadModel(cfg, dtype=torch.bfloat16).eval()
            for batch in map(int, args.batches.split(",")):
                from sam_cli.accel.triton_decode import MAX_GEMV_ROWS

                variants = [v for v in args.variants.split(",") if v != "fused" or batch <= MAX_GEMV_ROWS]
                for who in variants + ([] if args.skip_upstream else ["upstream"]):
                    trace = None
                    if args.trace_dir and batch == 1 and who in ("fused", "upstream"):
                        os.makedirs(args.trace_dir, exist_ok=True)
                        trace = os.path.join(args.trace_dir, f"{size}_b{batch}_{who}")
                    try:
                        r = (profile_upstream(lm, batch, bw, trace) if who == "upstream"
                             else profile_ours(lm, batch, who, bw, trace))
                    except Exception as e:  # noqa: BLE001 - one failing row must not lose the others
                        r = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
                    row = {"size": size, "batch": batch, "who": who, **r}
                    results["rows"].append(row)
                    print(json.dumps(row), flush=True)
            release(lm)
            del lm
    results["autotuned"] = autotuned()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results))
    for kernel, choices in results["autotuned"].items():
        print(kernel, json.dumps(choices))


def autotuned() -> dict[str, dict[str, str]]:
    """The configs the autotuner picked for each key of our Triton decode kernels (what ran above)."""
    try:
        from sam_cli.accel import triton_decode as T
    except Exception:  # noqa: BLE001 - no Triton: nothing was tuned
        return {}
    out = {}
    for name in ("_rmsnorm_gemv_kernel", "_gated_norm_gemv_add_kernel", "_conv_ssm_step_kernel"):
        cache = getattr(getattr(T, name), "cache", {})
        out[name] = {str(k): str(v) for k, v in cache.items()}
    return out


def table(results: dict[str, Any]) -> str:
    out = [f"device: {results['device']}; copy bandwidth {results['bandwidth_GBps']:.0f} GB/s; bf16; µs per step",
           "| size/batch/who | wall | kernel busy | gap | kernels | matrix kernels | other kernels | largest |",
           "|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        out.append(line(f"{r['size']} b{r['batch']} {r['who']}", r))
    return "\n".join(out)


if __name__ == "__main__":
    main()
