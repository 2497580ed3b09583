"""The batch-1 decode step's matrix-vector products alone: each config of our fused GEMV kernels against
cuBLAS, same run.

    python benchmarks/bench_gemv.py [--sizes 130m,2.7b] [--rows 1] [--json out.json]

For each model shape, the three matrices of a step: in_proj (RMSNorm + GEMV, `triton_decode.rmsnorm_gemv`),
out_proj (gated RMSNorm + GEMV + residual add, `gated_norm_gemv_add`) and the LM head (RMSNorm + GEMV +
fused greedy pick). Every tile (BLOCK_N x BLOCK_K x warps x stages) in the autotuner's list
(`triton_decode.GEMV_CANDIDATES`) and in --extra is timed, then what runs by default (the measured
`triton_decode.GEMV_TILES` entry, else the autotuner) and the autotuner's own pick; the best tiles go
into GEMV_TILES (the script prints the entries). "cuBLAS" is F.linear on an input already normalised:
the GEMV alone, as the hybrid decode variant runs it (its norms are separate launches), so it is the
harder reference.
Matrices rotate over enough copies not to stay in L2; each timing is a CUDA graph of --calls launches
(our kernels with programmatic dependent launch, as in the decode graph), median of --repeats. GB/s
counts the weight bytes; the device-to-device copy rate measured at the start is the ceiling.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_decode import (add_kernel_bench_args, emit, graph_time, markdown_table, parse_tiles, save_json,  # noqa: E402
                          start_kernel_bench, tile_label, time_tiles)

# The published Mamba-2 shapes: d_model, d_inner, heads (headdim 64, d_state 128, one group).
SHAPES = {"130m": (768, 1536, 24), "370m": (1024, 2048, 32), "780m": (1536, 3072, 48), "1.3b": (2048, 4096, 64),
          "2.7b": (2560, 5120, 80)}
EXTRA = ("8x512x4x4,8x1024x8x3,4x1024x4x3,16x512x8x3,8x256x4x4,4x256x2x3,2x1024x4x3,4x2048x8x3,16x256x4x3,"
         "32x256x8x3,8x512x8x3,16x128x4x4,8x512x4x2,4x512x2x3")
VOCAB = 50288  # padded vocabulary of the published checkpoints
EPS = 1e-5


def matrices(size: str, rows: int, dtype=torch.bfloat16) -> dict[str, tuple[int, int, object]]:
    """name -> (N, K, make(copies) -> list of argument dicts)."""
    d_model, d_inner, heads = SHAPES[size]
    d_in_proj = 2 * d_inner + 2 * 128 + heads
    dev = "cuda"

    def rnd(*shape, scale=1.0, dt=dtype):
        return (torch.randn(*shape, device=dev) * scale).to(dt)

    def in_proj(n):
        return [dict(x=rnd(rows, d_model, dt=torch.float32), nw=rnd(d_model, scale=0.2) + 1,
                     w=rnd(d_in_proj, d_model, scale=0.03), out=torch.empty(rows, d_in_proj, device=dev, dtype=dtype))
                for _ in range(n)]

    def out_proj(n):
        return [dict(y=rnd(rows, d_inner), z=rnd(rows, d_in_proj)[:, :d_inner], gw=rnd(d_inner, scale=0.2) + 1,
                     w=rnd(d_model, d_inner, scale=0.03), r=rnd(rows, d_model, dt=torch.float32))
                for _ in range(n)]

    def head(n):
        return [dict(x=rnd(rows, d_model, dt=torch.float32), nw=rnd(d_model, scale=0.2) + 1,
                     w=rnd(VOCAB, d_model, scale=0.03), out=torch.empty(rows, VOCAB, device=dev, dtype=dtype),
                     packed=torch.empty(rows, dtype=torch.long, device=dev))
                for _ in range(n)]

    return {"in_proj": (d_in_proj, d_model, in_proj), "out_proj": (d_model, d_inner, out_proj),
            "lm_head": (VOCAB, d_model, head)}


def ours(name: str, tile=None):
    from sam_cli.accel import triton_decode as T

    if name == "out_proj":
        return lambda a: T.gated_norm_gemv_add(a["y"], a["z"], a["gw"], a["w"], EPS, a["r"], tile=tile)
    if name == "lm_head":
        return lambda a: T.rmsnorm_gemv(a["x"], a["nw"], a["w"], EPS, a["out"], argmax_out=a["packed"], tile=tile)
    return lambda a: T.rmsnorm_gemv(a["x"], a["nw"], a["w"], EPS, a["out"], tile=tile)


def cublas(name: str):
    def run(a):
        x = a["y"] if name == "out_proj" else a["x"].to(a["w"].dtype)
        torch.nn.functional.linear(x, a["w"])
    return run


def kernel_of(name: str):
    from sam_cli.accel import triton_decode as T

    return T._gated_norm_gemv_add_kernel if name == "out_proj" else T._rmsnorm_gemv_kernel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="130m,2.7b")
    ap.add_argument("--rows", type=int, default=1, help="batch rows (at most triton_decode.MAX_GEMV_ROWS)")
    ap.add_argument("--extra", default=EXTRA,
                    help="more tiles to time: BLOCK_N x BLOCK_K x warps x stages, comma-separated")
    add_kernel_bench_args(ap)
    a = ap.parse_args()
    bw = start_kernel_bench()
    from sam_cli.accel import triton_decode as T  # needs Triton and a GPU: imported once they are known to be here
    results = []
    for size in a.sizes.split(","):
        for name, (n_out, k_in, make) in matrices(size, a.rows).items():
            nbytes = n_out * k_in * 2
            args = make(max(2, min(24, -(-120_000_000 // nbytes))))  # > 2x L2 in all
            kern = kernel_of(name)
            row = {"size": size, "matrix": name, "N": n_out, "K": k_in, "MB": round(nbytes / 1e6, 1), "us": {}}
            row["us"]["cublas"] = graph_time(cublas(name), args, a.calls, a.repeats) * 1e6
            tiles = list(T.GEMV_CANDIDATES)
            tiles += [t for t in parse_tiles(a.extra) if t not in tiles]
            row["us"].update(time_tiles(lambda t: graph_time(ours(name, t), args, a.calls, a.repeats), tiles))
            kern.cache.clear()
            ours(name, "auto")(args[0])  # the autotuner picks (L2 flushed between its timings)
            row["picked"] = tile_label(T.config_tile(next(iter(kern.cache.values()))))
            row["us"]["autotuned"] = graph_time(ours(name, "auto"), args, a.calls, a.repeats) * 1e6
            row["us"]["default"] = graph_time(ours(name), args, a.calls, a.repeats) * 1e6
            times = {k: v for k, v in row["us"].items() if isinstance(v, float)
                     and k not in ("cublas", "autotuned", "default")}
            row["best"] = min(times, key=times.get)
            row["GBps"] = {k: round(nbytes / (v * 1e-6) / 1e9) for k, v in row["us"].items() if isinstance(v, float)}
            row["us"] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in row["us"].items()}
            del args
            emit(results, row)
    print(f"\ncopy bandwidth {bw:.0f} GB/s; batch {a.rows}; µs (weight GB/s)")
    print(markdown_table(
        ["size", "matrix", "N × K", "cuBLAS GEMV alone", "best tile", "its time", "default", "autotuned pick", "its time"],
        [[r["size"], r["matrix"], f"{r['N']} × {r['K']}", f"{r['us']['cublas']} ({r['GBps']['cublas']})", r["best"],
          f"{r['us'][r['best']]} ({r['GBps'][r['best']]})", r["us"]["default"], r["picked"],
          f"{r['us']['autotuned']} ({r['GBps']['autotuned']})"] for r in results]))
    print("\nGEMV_TILES entries (the best tile of each matrix):")
    for r in results:
        kind = "gated" if r["matrix"] == "out_proj" else "rmsnorm"
        print(f'    ("{kind}", {r["N"]}, {r["K"]}): ({r["best"].replace("x", ", ")}),  # {r["size"]} {r["matrix"]}')
    save_json(a.json, bw, results)


if __name__ == "__main__":
    main()
