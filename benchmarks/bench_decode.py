"""LM decode speed on a GPU: ours vs mamba_ssm's generate(cg=True) vs a same-size transformer, same run.

    python benchmarks/bench_decode.py [--sizes 130m,780m,2.7b] [--batches 1,64] [--prompt 84] [--new 32]
                                      [--dtype bf16] [--json out.json]

Random weights. Each model continues a random prompt of --prompt tokens (64 audio + 20 text in SAM) by --new
greedy tokens. Per-step time = (T(new tokens) - T(1 token)) / (new - 1): both runs do the same prefill, so
the difference is decoding only, measured the same way for all three (the fastest of --repeats after warm-up).
- ours: sam_cli.decoding.generate.greedy_tokens (fused-kernel prefill, CUDA-graph decode, EOS check every 8
  tokens); also the graph replay alone, and each decode variant's time (GraphDecoder.variant_ms: every
  variant is built and the fastest kept, SAM_GRAPH_VARIANT=timed, unless set otherwise; "rule" in the
  JSON is the variant `sam` builds without timing, and the table marks a row where it is not the fastest). With
  --state-dtypes fp32,model (the default) twice: the fp32 SSM state (`sam --state-dtype fp32`, exact) and
  the state in the model dtype (what upstream keeps, and `sam`'s default on a GPU).
- upstream: mamba_ssm MambaLMHeadModel.generate(cg=True) with the same weights.
- transformer: transformers' GPTNeoX (Pythia shapes) with its KV cache, model.generate, greedy.
- floor: the bytes one step must read (weights; at batch > 1 also the fp32 SSM state read and written)
  over the device-to-device copy bandwidth measured at the start.
Warm-up (compile, autotune, graph capture) is reported separately ("build").
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import time
from typing import Any, Callable
from unittest.mock import patch

import torch

from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel

SIZES = {  # Mamba-2 (d_model, n_layer) and the Pythia model of about the same size (hidden, layers, heads)
    "tiny": ((256, 2), ("tiny", 256, 2, 4)),  # smoke tests of this script (e.g. on the CPU: --device cpu)
    "130m": ((768, 24), ("pythia-160m", 768, 12, 12)),
    "370m": ((1024, 48), ("pythia-410m", 1024, 24, 16)),
    "780m": ((1536, 48), ("pythia-1b", 2048, 16, 8)),
    "1.3b": ((2048, 48), ("pythia-1.4b", 2048, 24, 16)),
    "2.7b": ((2560, 64), ("pythia-2.8b", 2560, 32, 32)),
}
GEMV_MATRICES = ("in_proj", "out_proj", "lm_head")  # the fused GEMV kernels' matrices (--*-tiles)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
DEVICE = "cuda"


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def sync_time(fn: Callable[[], Any]) -> float:
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    return statistics.median(sync_time(fn) for _ in range(repeats))


def measure_bandwidth() -> float:
    """Bytes read + written per second by a large device-to-device copy (GB/s)."""
    n = 2 << 30 if DEVICE == "cuda" else 64 << 20
    a = torch.empty(n, dtype=torch.uint8, device=DEVICE).random_()
    b = torch.empty_like(a)
    b.copy_(a)
    t = median_time(lambda: [b.copy_(a) for _ in range(5)], 5) / 5
    del a, b
    torch.cuda.empty_cache()
    return 2 * n / t / 1e9


def graph_time(fn: Callable[[Any], Any], items: list, calls: int, repeats: int) -> float:
    """Seconds a call of fn, from a CUDA graph of `calls` calls rotating over `items` (e.g. layers' buffers
    that together do not fit in L2), median of `repeats` replays; compiled and warmed up before capture."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for it in items:
            fn(it)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(calls):
            fn(items[i % len(items)])
    g.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        g.replay()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / 1e3 / calls)
    return statistics.median(times)


def tile_label(tile: tuple[int, ...]) -> str:
    return "x".join(map(str, tile))


def parse_tiles(spec: str) -> list[tuple[int, ...]]:
    """Tiles written as the benchmarks' options take them: "16x1x4,8x4x4" -> [(16, 1, 4), (8, 4, 4)]."""
    return [tuple(int(v) for v in t.split("x")) for t in spec.split(",") if t]


def time_tiles(time_one: Callable[[tuple[int, ...]], float], tiles: list[tuple[int, ...]]) -> dict[str, float | str]:
    """tile_label(t) -> time_one(t) µs (2 decimals) for each tile, or why it failed (e.g. out of shared
    memory): one config that cannot run does not end the sweep."""
    out: dict[str, float | str] = {}
    for t in tiles:
        try:
            out[tile_label(t)] = round(time_one(t) * 1e6, 2)
        except Exception as e:  # noqa: BLE001 - report and go on with the other tiles
            out[tile_label(t)] = f"failed: {type(e).__name__}: {str(e)[:120]}"
    return out


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def add_kernel_bench_args(ap: argparse.ArgumentParser) -> None:
    """The options every single-kernel benchmark (bench_ssm_tiles, bench_gemv) takes for graph_time."""
    ap.add_argument("--calls", type=int, default=48, help="launches in the timed CUDA graph")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None)


def start_kernel_bench() -> float:
    """Stop unless the GPU kernels are here; the copy rate (GB/s), printed as the log's first JSON line."""
    from sam_cli.accel import kernels

    if not kernels.available():
        raise SystemExit(f"needs the GPU kernels: {kernels.why_unavailable()}")
    bw = measure_bandwidth()
    print(json.dumps({"copy_GBps": round(bw)}), flush=True)
    return bw


def emit(rows: list, row: dict[str, Any]) -> None:
    """Keep a finished row, print it as a JSON line (a run cut short still reports it), free GPU memory."""
    rows.append(row)
    print(json.dumps(row), flush=True)
    torch.cuda.empty_cache()


def save_json(path: str | None, bandwidth: float, rows: list) -> None:
    if path:
        with open(path, "w") as f:
            json.dump({"copy_GBps": bandwidth, "rows": rows}, f, indent=1)


def per_step(run: Callable[[int], Any], new: int, repeats: int) -> float:
    """Seconds per decode step: (T(new) - T(1)) / (new - 1), the fastest of interleaved runs (a host
    hiccup only adds time; with medians, one in the short run once made a batch-1 figure negative)."""
    run(new)
    run(1)
    tn, t1 = [], []
    for _ in range(repeats):
        tn.append(sync_time(lambda: run(new)))
        t1.append(sync_time(lambda: run(1)))
    return (min(tn) - min(t1)) / (new - 1)


def graph_ms_under(lm: Mamba2LMHeadModel, batch: int, settings: list[tuple[str, Callable[[], Any]]],
                   state_dtype: torch.dtype | None = None) -> dict[str, Any]:
    """Graph replay time (ms a step) of a decoder built afresh under each setting, given as (label, make)
    pairs: make() returns a context manager that changes a kernel choice of triton_decode while it is
    entered. A kernel's time in isolation (bench_ssm_tiles.py, bench_gemv.py) is not its time inside the
    PDL chain. state_dtype: as for GraphDecoders.get (None: fp32)."""
    from sam_cli.accel.select import graph_decoders

    decoders = graph_decoders(lm)
    out: dict[str, Any] = {}
    for label, make in settings:
        try:
            with make():
                decoders.clear()
                dec = decoders.get(batch, state_dtype)
                dec.replay()
                ms = min(sync_time(lambda: [dec.replay() for _ in range(10)]) for _ in range(3)) * 1e3 / (10 * dec.steps)
                out[label] = {"graph_ms_per_step": ms, "variant": dec.variant}
        finally:
            decoders.clear()
    return out


def small_tile_settings(tiles: list[tuple[int, int, int]]) -> list[tuple[str, Callable[[], Any]]]:
    """Settings for graph_ms_under: each conv+SSM tile for small batches (triton_decode.SMALL_BATCH_TILE)."""
    from sam_cli.accel import triton_decode as T

    return [(tile_label(t), lambda t=t: patch.object(T, "SMALL_BATCH_TILE", t)) for t in tiles]


def large_tile_settings(tiles: list[tuple[int, ...]]) -> list[tuple[str, Callable[[], Any]]]:
    """Settings for graph_ms_under at large batch: the library variant, then the hybrid one with each conv+SSM
    tile (triton_decode.LARGE_BATCH_TILE)."""
    from sam_cli.accel import triton_decode as T

    def variant(name: str, tile: tuple[int, ...] | None = None) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(patch.dict(os.environ, {"SAM_GRAPH_VARIANT": name}))
        if tile is not None:
            stack.enter_context(patch.object(T, "LARGE_BATCH_TILE", tile))
        return stack

    return [("library", lambda: variant("library"))] + [
        (f"hybrid {tile_label(t)}", lambda t=t: variant("hybrid", t)) for t in tiles]


def gemv_tile_settings(lm: Mamba2LMHeadModel, matrix: str, tiles: list[tuple[int, ...]]
                       ) -> list[tuple[str, Callable[[], Any]]]:
    """Settings for graph_ms_under: each GEMV tile for the model's in_proj, out_proj or lm_head
    (triton_decode.GEMV_TILES)."""
    from sam_cli.accel import triton_decode as T

    w = lm.lm_head.weight if matrix == "lm_head" else getattr(lm.backbone.layers[0].mixer, matrix).weight
    key = ("gated" if matrix == "out_proj" else "rmsnorm", w.shape[0], w.shape[1])
    return [(tile_label(t), lambda t=t: patch.dict(T.GEMV_TILES, {key: t})) for t in tiles]


def param_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())  # tied weights counted once


def bench_ours(lm: Mamba2LMHeadModel, ids: torch.Tensor, new: int, repeats: int, state: str = "fp32"
               ) -> dict[str, Any]:
    from sam_cli.accel.select import graph_decoders
    from sam_cli.decoding.generate import greedy_tokens

    decoders = graph_decoders(lm)
    b = ids.shape[0]
    sdt = None if state == "fp32" else lm.dtype
    decoders.clear()  # one decoder (one static state) at a time
    build = sync_time(lambda: decoders.get(b, sdt))
    dec = decoders.get(b, sdt)
    s = per_step(lambda n: greedy_tokens(lm, ids, n, state_dtype=state), new, repeats)
    # The graph alone: STEPS_PER_GRAPH steps a replay, no host work.
    dec.replay()
    graph_ms = sync_time(lambda: [dec.replay() for _ in range(10)]) * 1e3 / (10 * dec.steps)
    return {"ms_per_step": s * 1e3, "tok_per_s": b / s, "graph_ms_per_step": graph_ms, "variant": dec.variant,
            "variant_ms": dec.variant_ms, "rule": dec.candidates()[0], "build_s": build}


def upstream_model(lm: Mamba2LMHeadModel, device: str = "cuda") -> torch.nn.Module:
    """mamba_ssm's MambaLMHeadModel holding `lm`'s weights (the same state-dict keys)."""
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel

    c = lm.cfg
    up = MambaLMHeadModel(MambaConfig(d_model=c.d_model, n_layer=c.n_layer, d_intermediate=0, vocab_size=c.vocab_size,
                                      ssm_cfg={"layer": "Mamba2"}, rms_norm=True, residual_in_fp32=True,
                                      fused_add_norm=True, pad_vocab_size_multiple=c.pad_vocab_size_multiple),
                          device=device, dtype=lm.dtype)
    up.load_state_dict(lm.state_dict())
    return up.eval()


def release(lm: Mamba2LMHeadModel) -> None:
    """Free a model and its fast-path copy before the next size."""
    from sam_cli.accel import select

    select.clear(lm)
    gc.collect()
    torch.cuda.empty_cache()


def bench_upstream(lm: Mamba2LMHeadModel, ids: torch.Tensor, new: int, repeats: int) -> dict[str, Any]:
    up = upstream_model(lm, DEVICE)
    L = ids.shape[1]
    try:
        cg = DEVICE == "cuda"
        build = sync_time(lambda: up.generate(ids, max_length=L + new, cg=cg))
        s = per_step(lambda n: up.generate(ids, max_length=L + n, cg=cg), new, repeats)
        return {"ms_per_step": s * 1e3, "tok_per_s": ids.shape[0] / s, "build_s": build}
    finally:
        del up
        gc.collect()
        torch.cuda.empty_cache()


def bench_transformer(size: str, dtype: torch.dtype, batch: int, prompt: int, new: int, repeats: int) -> dict[str, Any]:
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    name, hidden, layers, heads = SIZES[size][1]
    cfg = GPTNeoXConfig(vocab_size=50304, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=4 * hidden, rotary_pct=0.25, max_position_embeddings=2048,
                        use_parallel_residual=True, tie_word_embeddings=False)
    with torch.device(DEVICE):
        model = GPTNeoXForCausalLM(cfg).to(dtype).eval()
    try:
        ids = torch.randint(0, 50277, (batch, prompt), device=DEVICE)
        mask = torch.ones_like(ids)

        def run(n: int) -> None:
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                           use_cache=True, pad_token_id=0)

        s = per_step(run, new, repeats)
        return {"model": name, "ms_per_step": s * 1e3, "tok_per_s": batch / s, "params_bytes": param_bytes(model)}
    finally:
        del model
        gc.collect()
        torch.cuda.empty_cache()


def guarded(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - one failing baseline must not lose the others
        torch.cuda.empty_cache()
        return {"error": f"{type(e).__name__}: {str(e)[:300]}"}


def main() -> None:
    os.environ.setdefault("SAM_GRAPH_VARIANT", "timed")  # every variant timed: shows whether the rule holds
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="130m,780m,2.7b")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--prompt", type=int, default=84)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip", default="", help="comma list of: upstream, transformer")
    ap.add_argument("--state-dtypes", default="fp32,model", help="ours with these SSM-state dtypes")
    ap.add_argument("--small-tiles", default="", help="for batches below triton_decode.LARGE_BATCH_FROM, also "
                    "the graph replay with each of these conv+SSM tiles (rows x chunks x warps, comma-separated)")
    ap.add_argument("--large-tiles", default="", help="for batches from triton_decode.LARGE_BATCH_FROM, also the "
                    "graph replay (each --state-dtypes) of the library variant and of the hybrid one with each of these "
                    "conv+SSM tiles (rows x chunks x warps, comma-separated)")
    for matrix in GEMV_MATRICES:
        ap.add_argument(f"--{matrix.replace('_', '-')}-tiles", default="", help="for batches of at most 4, also the "
                        f"graph replay with each of these {matrix} GEMV tiles (BLOCK_N x BLOCK_K x warps x stages, "
                        "comma-separated)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--table-from", default=None, help="print the table from a log of an earlier (cut-short) run")
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to smoke-test this script")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if args.table_from:
        print(table(from_log(args.table_from)))
        return
    dtype = DTYPES[args.dtype]
    skip = set(filter(None, args.skip.split(",")))
    torch.manual_seed(0)
    bw = measure_bandwidth()
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else DEVICE
    results: dict[str, Any] = {"device": name, "bandwidth_GBps": bw, "dtype": args.dtype,
                               "prompt": args.prompt, "new": args.new, "rows": []}
    print(json.dumps({k: v for k, v in results.items() if k != "rows"}), flush=True)
    # no_grad, not inference_mode: weights made in inference mode cannot be captured by the fast path.
    with torch.no_grad():
        for size in args.sizes.split(","):
            (d_model, n_layer), _ = SIZES[size]
            cfg = Mamba2Config(d_model=d_model, n_layer=n_layer, vocab_size=1000 if size == "tiny" else 50277)
            with torch.device(DEVICE):
                lm = Mamba2LMHeadModel(cfg, dtype=dtype).eval()
            wbytes = param_bytes(lm)
            state_bytes = n_layer * (cfg.nheads * cfg.headdim * cfg.d_state * 4 + cfg.conv_dim * cfg.d_conv * 2)
            for batch in map(int, args.batches.split(",")):
                ids = torch.randint(0, cfg.vocab_size, (batch, args.prompt), device=DEVICE)
                row: dict[str, Any] = {"size": size, "batch": batch, "weight_bytes": wbytes,
                                       "floor_ms": wbytes / bw / 1e6,
                                       "floor_with_state_ms": (wbytes + 2 * batch * state_bytes) / bw / 1e6}
                for st in args.state_dtypes.split(","):
                    key = "ours" if st == "fp32" else f"ours_{st}_state"
                    row[key] = guarded(lambda st=st: bench_ours(lm, ids, args.new, args.repeats, st))
                if args.small_tiles and batch < 8:
                    tiles = parse_tiles(args.small_tiles)
                    row["small_tiles"] = guarded(lambda: graph_ms_under(lm, batch, small_tile_settings(tiles)))
                if args.large_tiles and batch >= 8:
                    tiles = parse_tiles(args.large_tiles)
                    for st in args.state_dtypes.split(","):
                        sdt = None if st == "fp32" else lm.dtype
                        row["large_tiles" if st == "fp32" else f"large_tiles_{st}_state"] = guarded(
                            lambda: graph_ms_under(lm, batch, large_tile_settings(tiles), sdt))
                for matrix in GEMV_MATRICES:
                    spec = getattr(args, f"{matrix}_tiles")
                    if spec and batch <= 4:
                        tiles = parse_tiles(spec)
                        row[f"{matrix}_tiles"] = guarded(
                            lambda: graph_ms_under(lm, batch, gemv_tile_settings(lm, matrix, tiles)))
                if "upstream" not in skip:
                    row["upstream"] = guarded(lambda: bench_upstream(lm, ids, args.new, args.repeats))
                if "transformer" not in skip:
                    row["transformer"] = guarded(lambda: bench_transformer(size, dtype, batch, args.prompt, args.new,
                                                                           max(3, args.repeats - 2)))
                results["rows"].append(row)
                print(json.dumps(row), flush=True)
            release(lm)
            del lm
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results))


def from_log(path: str) -> dict[str, Any]:
    """The results dict from the JSON lines a run printed (header first, then one line per row)."""
    results: dict[str, Any] = {"rows": []}
    for line in open(path):
        if line.startswith("{"):
            d = json.loads(line)
            if "size" in d:
                results["rows"].append(d)
            elif "device" in d:
                results.update(d)
    return results


def _ms(d: dict[str, Any], key: str = "ms_per_step") -> str:
    return f"{d[key]:.3f}" if key in d else "err"


def table(results: dict[str, Any]) -> str:
    head = (f"device: {results['device']}; copy bandwidth {results['bandwidth_GBps']:.0f} GB/s; {results['dtype']}; "
            f"prompt {results['prompt']}, {results['new']} new tokens; ms/step (tok/s)")
    rows = []
    for r in results["rows"]:
        o, u, t = r.get("ours", {}), r.get("upstream", {}), r.get("transformer", {})
        m = r.get("ours_model_state", {})
        cell = lambda d: f"{_ms(d)} ({d['tok_per_s']:.0f})" if "ms_per_step" in d else "err"  # noqa: E731

        def speedup(d: dict[str, Any]) -> str:
            return f"{u['ms_per_step'] / d['ms_per_step']:.2f}x" if "ms_per_step" in d and "ms_per_step" in u else "-"

        fl = f"{o['ms_per_step'] / r['floor_ms']:.2f}" if "ms_per_step" in o else "-"
        def variant(d: dict[str, Any]) -> str:
            v = d.get("variant", "-")
            return v if d.get("rule", v) == v else f"{v} (rule: {d['rule']})"

        rows.append([r["size"], r["batch"], cell(o), _ms(o, "graph_ms_per_step"), variant(o), cell(u),
                     cell(t), f"{r['floor_ms']:.3f}", f"{r['floor_with_state_ms']:.3f}", speedup(o), fl,
                     f"{cell(m) if m else '-'} ({variant(m)})", speedup(m)])
    return head + "\n" + markdown_table(
        ["size", "batch", "ours", "ours graph only", "variant", "upstream cg", "transformer", "floor (weights)",
         "floor (+state)", "ours/upstream speed-up", "ours / floor", "ours, model-dtype state", "its speed-up"], rows)

if __name__ == "__main__":
    main()
