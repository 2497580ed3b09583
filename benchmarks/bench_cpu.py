"""CPU timings of the model core: 130M-shaped LM prefill (84 tokens) and decode step, EAT-base on 10 s.

    python benchmarks/bench_cpu.py [--threads 2] [--repeats 5]

Random weights, float32, torch.inference_mode. Prints a markdown table (median of --repeats after a warm-up)
and, as a same-run reference, the time of one plain float32 matmul of the LM's in_proj shape, so figures
from different machines can be compared as ratios.

The decode step is timed both ways (sam_cli.accel.cpu_decode): `exact` is the pure float32 reference step,
`fast` the default CPU step with fp16 copies of in_proj / out_proj / lm_head (fp32 accumulation). Prefill is
the same code in both modes (the copies serve only the step); the one-off cost of making the copies (on the
first fast step) is reported too.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from sam_cli.accel.cpu_decode import ENV as DECODE_ENV
from sam_cli.models.encoder import EATConfig, EATEncoder
from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    # Built outside inference_mode, as a loaded model is: its weights then carry the version counters that
    # tell the fast step when its copies are stale.
    cfg = Mamba2Config(d_model=768, n_layer=24, vocab_size=50277)
    lm = Mamba2LMHeadModel(cfg).eval()
    with torch.inference_mode():
        ids = torch.randint(0, 50277, (1, 84))
        rows.append(("Mamba-2 130M shape: prefill, 84 tokens", timed(lambda: lm(ids, num_last_tokens=1), args.repeats)))
        _, state = lm(ids, return_state=True, num_last_tokens=1)
        tok = torch.tensor([11])

        def steps(n: int = 16) -> None:
            s = state.clone()
            for _ in range(n):
                lm.step(tok, s)

        before = os.environ.get(DECODE_ENV)
        os.environ[DECODE_ENV] = "exact"
        rows.append(("Mamba-2 130M shape: one decode step, exact (fp32)", timed(steps, args.repeats) / 16))
        os.environ[DECODE_ENV] = "fast"
        t0 = time.perf_counter()
        lm.step(tok, state.clone())  # makes the fp16 copies
        rows.append(("Mamba-2 130M shape: first fast step (makes the fp16 copies, once)", time.perf_counter() - t0))
        rows.append(("Mamba-2 130M shape: one decode step, fast (fp16 weights)", timed(steps, args.repeats) / 16))
        if before is None:
            os.environ.pop(DECODE_ENV)
        else:
            os.environ[DECODE_ENV] = before
        enc = EATEncoder(EATConfig()).eval()
        fbank = torch.randn(1, 1, 1024, 128)
        rows.append(("EAT-base: one 10.24 s clip", timed(lambda: enc(fbank), args.repeats)))
        a, b = torch.randn(84, 768), torch.randn(768, 3352)
        rows.append(("reference: matmul 84x768 @ 768x3352", timed(lambda: a @ b, args.repeats * 20)))
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}")
    print("| what | ms |\n| --- | ---: |")
    for name, s in rows:
        print(f"| {name} | {s * 1e3:.2f} |")


if __name__ == "__main__":
    main()
