"""Where one `sam batch` model batch goes on the GPU: a kernel profile of run_windows, phase by phase.

    python benchmarks/profile_batch.py [--size 130m] [--batch 256] [--state-dtype fp32] [--top 12]

The model and clips of bench_e2e.py (random weights, 10-s noise, --new tokens a clip). After a warm-up
batch (compile, graph capture), one batch runs under torch.profiler; its three phases -- encode (fbank +
EAT + connector), prefill, decode -- are also timed apart (generate()'s Timings). For each phase: wall
time, summed kernel time, and the largest kernels (total µs, launches). The question it answers: which
kernels, in which phase, a faster `sam batch` has to cut.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_e2e import SR, build  # noqa: E402

from sam_cli import audio as A  # noqa: E402
from sam_cli.decoding.options import DecodeOptions, Timings  # noqa: E402
from sam_cli.decoding.generate import generate
from sam_cli.tasks import encode_windows, prompt_ids  # noqa: E402


def phase_kernels(prof, ranges: dict[str, tuple[int, int]]) -> dict[str, dict[str, list[float]]]:
    """Kernel durations (µs) by phase: the phase whose host range the kernel ran in (the profiler puts
    host and GPU records on one clock)."""
    out: dict[str, dict[str, list[float]]] = {k: defaultdict(list) for k in ranges}
    for ev in prof.events():
        if ev.device_type != torch.autograd.DeviceType.CUDA:
            continue
        t = ev.time_range.start
        for name, (a, b) in ranges.items():
            if a <= t <= b:
                out[name][ev.name].append(ev.time_range.elapsed_us())
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="130m")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--state-dtype", default="model", choices=["fp32", "model"])
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.manual_seed(0)
    model = build(a.size)
    opts = DecodeOptions(max_new_tokens=a.new, loop_repeats=10**9, state_dtype=a.state_dtype)  # as bench_e2e
    pool = [torch.randn(10 * SR) * 0.1 for _ in range(8)]
    wins = [A.AudioWindow(i, 0.0, 10.0, pool[i % len(pool)]) for i in range(a.batch)]
    ids = prompt_ids(model, model.cfg.describe_prompt)

    def one(tm: Timings) -> None:
        # Each phase ends with a synchronisation, so its kernels run inside its host range.
        with record_function("encode"):
            embeds, _ = encode_windows(model, wins, tm)
            torch.cuda.synchronize()
        with record_function("generate"):  # prefill, then the graph-replayed decode
            generate(model, embeds, [ids] * len(wins), opts, timings=tm)
            torch.cuda.synchronize()

    with torch.inference_mode():
        one(Timings())  # warm-up: compile, autotune, graph capture
        one(Timings())
        tm = Timings()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            one(tm)
    # Phases from the profiler's own host ranges (same clock as its kernel records).
    ranges = {}
    for ev in prof.events():
        if ev.name in ("encode", "generate") and ev.device_type == torch.autograd.DeviceType.CPU:
            ranges[ev.name] = (ev.time_range.start, ev.time_range.end)
    by_phase = phase_kernels(prof, ranges)
    result = {"size": a.size, "batch": a.batch, "state_dtype": a.state_dtype, "new_tokens": a.new,
              "wall_ms": {"encode": tm.encode_s * 1e3, "prefill": tm.prefill_s * 1e3, "decode": tm.decode_s * 1e3},
              "phases": {}}
    for phase, kern in by_phase.items():
        total = sum(sum(v) for v in kern.values())
        top = sorted(kern.items(), key=lambda kv: -sum(kv[1]))[: a.top]
        result["phases"][phase] = {"kernel_ms": total / 1e3, "launches": sum(len(v) for v in kern.values()),
                                   "top": [{"kernel": k[:90], "ms": sum(v) / 1e3, "launches": len(v)} for k, v in top]}
    print(json.dumps(result), flush=True)
    w = result["wall_ms"]
    print(f"\n{a.size}, batch {a.batch}, state {a.state_dtype}: encode {w['encode']:.1f} ms, prefill "
          f"{w['prefill']:.1f} ms, decode {w['decode']:.1f} ms (wall, profiled)")
    for phase, r in result["phases"].items():
        print(f"\n{phase}: {r['kernel_ms']:.1f} ms in {r['launches']} kernels")
        for t in r["top"]:
            print(f"  {t['ms']:8.2f} ms {t['launches']:6d}x  {t['kernel']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
