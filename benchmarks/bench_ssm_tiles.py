"""The decode step's conv + SSM update alone, per tile of our kernel, against mamba_ssm's kernels, same run.

    python benchmarks/bench_ssm_tiles.py [--sizes 130m,2.7b] [--batches 1,4,16,64,256] [--json out.json]

For each model shape, batch and SSM-state dtype (fp32, bf16) it times one layer's update
(`sam_cli.accel.triton_decode.conv_ssm_step`) for each (rows, chunks, warps) tile in --tiles, and the library
pair the "library" decode variant runs (causal_conv1d_update + selective_state_update). Layers are rotated
over enough buffers that the state does not stay in L2, and each timing is a CUDA graph of --calls
updates (no host launch cost), median of --repeats. "GB/s" counts the state read and written once; the
device-to-device copy rate measured at the start is the ceiling. The table marks the fastest tile of each
row; sam_cli/accel/triton_decode.py's SMALL_BATCH_TILE, LARGE_BATCH_TILE and LARGE_BATCH_FROM are set from it.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from sam_cli.accel import kernels
from sam_cli.accel import triton_decode as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_decode import (add_kernel_bench_args, emit, graph_time, markdown_table, parse_tiles, save_json,  # noqa: E402
                          start_kernel_bench, tile_label, time_tiles)

SHAPES = {"130m": 24, "780m": 48, "2.7b": 80}  # heads (headdim 64, d_state 128, one group, conv width 4)
TILES = "4x1x2,8x1x4,16x1x4,32x1x8,4x8x2,8x4x4,8x8x4,16x2x4,16x4x4,16x4x8,32x2x8"


class Layers:
    """Random inputs and states for `n` layers of one shape and batch."""

    def __init__(self, heads: int, batch: int, state_dtype: torch.dtype, n: int, dtype=torch.bfloat16):
        p, ns, w = 64, 128, 4
        self.d_inner, self.heads, self.p, self.n = heads * p, heads, p, ns
        self.conv_dim = self.d_inner + 2 * ns
        dev = "cuda"
        self.layers = []
        for _ in range(n):
            self.layers.append(dict(
                zx=torch.randn(batch, self.d_inner + self.conv_dim + heads, device=dev).to(dtype),
                cin=torch.randn(batch, self.conv_dim, w, device=dev).to(dtype) * 0.1,
                cout=torch.empty(batch, self.conv_dim, w, device=dev, dtype=dtype),
                cw=(torch.randn(self.conv_dim, w, device=dev) / 2).to(dtype),
                cb=(torch.randn(self.conv_dim, device=dev) / 5).to(dtype),
                state=(torch.randn(batch, heads, p, ns, device=dev) * 0.01).to(state_dtype),
                A=-torch.rand(heads, device=dev) * 4, dtb=(torch.randn(heads, device=dev) - 3).to(dtype),
                D=torch.randn(heads, device=dev).to(dtype),
                y=torch.empty(batch, self.d_inner, device=dev, dtype=dtype)))

    def ours(self, tile):
        def run(L):
            T.conv_ssm_step(L["zx"], L["cin"], L["cout"], L["cw"], L["cb"], L["state"], L["A"], L["dtb"], L["D"],
                            L["y"], self.d_inner, 1, tile=tile)
        return run

    def library(self):
        d, h, p, n = self.d_inner, self.heads, self.p, self.n

        def run(L):
            zx = L["zx"]
            b = zx.shape[0]
            xBC = kernels.causal_conv1d_step(L["cin"], zx[:, d : d + self.conv_dim], L["cw"], L["cb"])
            x, B, C = torch.split(xBC, [d, n, n], dim=-1)
            kernels.ssd_step_raw_dt(L["state"], x.view(b, h, p), zx[:, d + self.conv_dim :], L["A"], B.view(b, 1, n),
                                    C.view(b, 1, n), L["D"], dt_bias=L["dtb"], dt_softplus=True)
        return run

    def time(self, fn, calls: int, repeats: int) -> float:
        return graph_time(fn, self.layers, calls, repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="130m,2.7b")
    ap.add_argument("--batches", default="1,4,16,64,256")
    ap.add_argument("--state-dtypes", default="fp32,bf16")
    ap.add_argument("--tiles", default=TILES, help="rows x chunks x warps, comma-separated")
    add_kernel_bench_args(ap)
    a = ap.parse_args()
    tiles = parse_tiles(a.tiles)
    bw = start_kernel_bench()
    rows = []
    for size in a.sizes.split(","):
        heads = SHAPES[size]
        for batch in (int(b) for b in a.batches.split(",")):
            for sd in a.state_dtypes.split(","):
                state_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[sd]
                one = batch * heads * 64 * 128 * state_dtype.itemsize
                n = max(2, min(24, -(-400_000_000 // one)))  # > 2x L2 in all, but at most 24 layers
                layers = Layers(heads, batch, state_dtype, n)
                row = {"size": size, "batch": batch, "state": sd, "state_MB": round(one / 1e6, 1)}
                row["library_us"] = round(layers.time(layers.library(), a.calls, a.repeats) * 1e6, 2)
                timed = time_tiles(lambda t: layers.time(layers.ours(t), a.calls, a.repeats), tiles)
                row.update({label + "_us": v for label, v in timed.items()})
                times = {k[:-3]: v for k, v in row.items() if k.endswith("_us") and isinstance(v, float)}
                best = min((k for k in times if k != "library"), key=times.get)
                row.update(best=best, best_us=times[best], vs_library=round(times["library"] / times[best], 2),
                           best_GBps=round(2 * one / (times[best] * 1e-6) / 1e9),
                           library_GBps=round(2 * one / (times["library"] * 1e-6) / 1e9),
                           current=tile_label(T.ssm_tile(batch)))
                row["current_us"] = times.get(row["current"])
                del layers
                emit(rows, row)
    print(f"\ncopy bandwidth {bw:.0f} GB/s; one layer's conv + SSM update, µs (state GB/s)")
    print(markdown_table(
        ["size", "batch", "state", "library", "best tile", "best", "vs library", "current tile", "current"],
        [[r["size"], r["batch"], r["state"], f"{r['library_us']} ({r['library_GBps']})", r["best"],
          f"{r['best_us']} ({r['best_GBps']})", f"{r['vs_library']}×", r["current"], r["current_us"]] for r in rows]))
    save_json(a.json, bw, rows)


if __name__ == "__main__":
    main()
