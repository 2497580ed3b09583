"""Eager against CUDA-graph replay (sam_cli.accel.shape_graphs) for the prefill and the audio encoder, same run.

    python benchmarks/bench_graphs.py [--sizes 130m,2.7b] [--batches 1,8,64,256] [--prompt 84]
                                      [--encoder-batches 1,8,16,64] [--json out.json]

Random weights, bf16.
- prefill: for each LM shape and batch, a GraphDecoder's prefill of a random --prompt-token prompt (64 audio
  + 20 text in SAM): the eager forward (GraphDecoder._prefill_eager) against its graph (GraphDecoder.prefill
  once captured); and the eager forward through mamba_chunk_scan_combined as a whole (its state passing
  included) against kernels' one-chunk path, for prompts of one chunk.
- encoder: SAM.encode_audio (EAT-base, 12 x 768, + the concat connector) on 10-s clips' fbank, eager
  against its graph (accel.select.encode_fn once captured).
Each is the median of --repeats wall-clock runs synchronised at both ends; also the capture's one-off cost
and the memory the graph keeps (its private pool). Every row is captured here, whatever the size limits
(cuda_graphs.PREFILL_GRAPH_SIZE, select.ENCODE_GRAPH_ROWS) say, so the table shows where a graph stops
paying.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from typing import Any, Callable
from unittest.mock import patch

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_decode import DTYPES, SIZES, emit, markdown_table, median_time, sync  # noqa: E402

from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel  # noqa: E402
from sam_cli.accel.shape_graphs import ShapeGraphs  # noqa: E402


def eager_vs_graph(eager: Callable[[], Any], graphs: ShapeGraphs, graphed: Callable[[], Any], key: tuple,
                   repeats: int) -> dict[str, Any]:
    """Times of eager() and of graphed() once `graphs` holds `key` (the second graphed() call captures)."""
    t_eager = median_time(eager, repeats)  # the first run compiles; the median skips it
    sync()
    gc.collect()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_reserved()
    graphed()
    graphed()
    if key not in graphs.graphs:
        return {"error": f"not captured: {graphs.failed}"}
    kept = torch.cuda.memory_reserved() - before
    t_graph = median_time(graphed, repeats)
    return {"eager_ms": t_eager * 1e3, "graph_ms": t_graph * 1e3, "speedup": t_eager / t_graph,
            "capture_s": graphs.capture_s, "graph_pool_MB": kept / 2**20}


def bench_prefill(lm: Mamba2LMHeadModel, batch: int, prompt: int, repeats: int) -> dict[str, Any]:
    import sam_cli.accel.cuda_graphs as G
    from sam_cli.accel import kernels
    from sam_cli.accel.select import graph_decoders

    decoders = graph_decoders(lm)
    decoders.clear()
    dec = decoders.get(batch)
    x = torch.randn(batch, prompt, lm.cfg.d_model, device="cuda", dtype=lm.dtype)
    try:
        with patch.object(kernels._lib(), "one_chunk", None):  # mamba_chunk_scan_combined, state passing included
            combined = {"combined_ms": median_time(lambda: dec._prefill_eager(x), repeats) * 1e3}
        with patch.object(G, "PREFILL_GRAPH_SIZE", 1 << 62):
            return {"tokens": batch * prompt, **combined, **eager_vs_graph(
                lambda: dec._prefill_eager(x), dec.prefill_graphs, lambda: dec.prefill(x), ShapeGraphs.key(x), repeats)}
    finally:
        decoders.clear()


def bench_encoder(model: Any, batch: int, repeats: int) -> dict[str, Any]:
    from sam_cli.accel import select

    feats = torch.randn(batch, 1, model.cfg.target_length, 128, device="cuda")
    select.clear(model.encoder)
    with patch.object(select, "ENCODE_GRAPH_ROWS", 1 << 30):
        encode = select.encode_fn(model)
        encode(feats)  # eager: makes the cache; the first graphed() call below captures
        graphs = select.cached(model.encoder)["encode"]
        return eager_vs_graph(lambda: model.encode_audio(feats), graphs, lambda: encode(feats),
                              ShapeGraphs.key(feats), repeats)


def table_row(r: dict[str, Any]) -> list[Any]:
    what = f"prefill {r['size']}, {r['batch']} x {r['prompt']}" if "prompt" in r else f"encoder, {r['batch']} clips"
    if "error" in r:
        return [what, r["error"], "", "", "", "", "", ""]
    one_chunk = ["", ""]
    if "combined_ms" in r:
        one_chunk = [f"{r['combined_ms']:.2f}", f"{r['combined_ms'] / r['eager_ms']:.2f}x"]
    return [what, *one_chunk, f"{r['eager_ms']:.2f}", f"{r['graph_ms']:.2f}", f"{r['speedup']:.1f}x",
            f"{r['capture_s']:.2f}", f"{r['graph_pool_MB']:.0f}"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="130m,2.7b")
    ap.add_argument("--batches", default="1,8,64,256")
    ap.add_argument("--prompt", type=int, default=84)
    ap.add_argument("--encoder-batches", default="1,8,16,64", help="empty: no encoder rows")
    ap.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from sam_cli.accel import kernels

    if not kernels.available():
        raise SystemExit(f"needs the GPU kernels: {kernels.why_unavailable()}")
    dtype = DTYPES[args.dtype]
    rows: list[dict[str, Any]] = []

    def guarded(row: dict[str, Any], fn: Callable[[], dict[str, Any]]) -> None:
        try:
            with torch.inference_mode():
                row.update(fn())
        except Exception as e:  # noqa: BLE001 - e.g. out of memory at the largest batch: report, go on
            row["error"] = f"{type(e).__name__}: {str(e)[:200]}"
        emit(rows, row)

    for size in filter(None, args.sizes.split(",")):
        (d_model, n_layer), _ = SIZES[size]
        torch.manual_seed(0)
        lm = Mamba2LMHeadModel(Mamba2Config(d_model=d_model, n_layer=n_layer), device="cuda", dtype=dtype).eval()
        for b in map(int, args.batches.split(",")):
            guarded({"size": size, "batch": b, "prompt": args.prompt}, lambda: bench_prefill(lm, b, args.prompt,
                                                                                             args.repeats))
        from sam_cli.accel import select

        select.clear(lm)
        del lm
        gc.collect()
        torch.cuda.empty_cache()
    if args.encoder_batches:
        from bench_e2e import build

        model = build("130m", dtype)
        for b in map(int, args.encoder_batches.split(",")):
            guarded({"size": "EAT-base", "batch": b}, lambda: bench_encoder(model, b, args.repeats))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(markdown_table(["what", "eager, combined scan ms", "one-chunk speed-up", "eager ms", "graph ms", "speed-up",
                          "capture s", "graph pool MB"],
                         [table_row(r) for r in rows]))


if __name__ == "__main__":
    main()
