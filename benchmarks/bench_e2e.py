"""End-to-end SAM on a GPU: one clip's latency, batch throughput, and memory (random weights).

    python benchmarks/bench_e2e.py [--sizes 130m,2.7b] [--batches 1,64,256] [--new 32] [--files 512]
                                   [--json out.json]

The model: EAT-base encoder (12 x 768) -> concat connector -> Mamba-2 LM of the given size, all bf16, random
weights, a throw-away tokenizer. Every clip is 10 s of noise; every answer is --new tokens (EOS and the loop
guard are switched off, so random weights cannot stop early and flatter the numbers).
1. describe latency, batch 1: fbank + encoder / prefill / decode (generate()'s Timings), median of 5, the
   encoder and the prefill replayed from their CUDA graphs (a long-lived process); and the encode, prefill
   and total with both eager (a one-off describe).
2. throughput: sam_cli.batch.runner.run_windows (what `sam batch` runs per batch: GPU fbank, encoder, grouped
   prefill, CUDA-graph decode, detokenise) on in-memory windows; clips/s and the mean GPU utilisation
   (NVML, sampled every 20 ms). With --files, also `run_batch` over that many WAV files on disk (decoding
   threads or processes, resumable output) at the largest batch, for the 130M shape: the whole run's rate
   and the steady rate (from the first finished batch to the end: without start-up and pipeline fill).
   --state-dtypes fp32,model runs the throughput rows with both SSM-state dtypes (`--state-dtype`).
3. memory: peak allocated against generated length (must stay flat) and against audio length.
Warm-up (kernel compile, autotune, graph capture) is run first and reported apart ("build").
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest.mock import patch

import torch

from sam_cli import audio as A
from sam_cli.accel import cuda_graphs, select
from sam_cli.batch.runner import run_batch, run_windows
from sam_cli.models.connector import ConnectorConfig
from sam_cli.models.encoder import EATConfig
from sam_cli.decoding.options import DecodeOptions, Timings
from sam_cli.decoding.generate import generate
from sam_cli.tasks import describe, encode_windows, prompt_ids
from sam_cli.models.mamba2 import Mamba2Config
from sam_cli.models.sam import SAM, SAMConfig
from sam_cli.models.tokenizer import train_tokenizer

SIZES = {"130m": (768, 24), "780m": (1536, 48), "2.7b": (2560, 64), "tiny": (256, 2)}
SR = 16000
DEVICE = "cuda"


def build(size: str, dtype: torch.dtype = torch.bfloat16) -> SAM:
    d, n = SIZES[size]
    # "tiny" (a 1-block, 64-wide encoder too) only smoke-tests this script, e.g. with --device cpu.
    enc = EATConfig(embed_dim=64, depth=1, num_heads=2, num_classes=0) if size == "tiny" else EATConfig()
    cfg = SAMConfig(encoder=enc, lm=Mamba2Config(d_model=d, n_layer=n, vocab_size=50277),
                    connector=ConnectorConfig(kind="concat"), lora_rank=0)
    with torch.device(DEVICE):
        model = SAM(cfg)
    model = model.to(dtype).eval()
    tok = train_tokenizer(["a dog barks", "rain on a roof", "### Instruction:", "### Response:",
                           "Close-ended question: Write an audio caption describing the sound."] * 8, vocab_size=300)
    tok.eos_id = -1  # random weights: never stop early
    model.tokenizer = tok
    return model


class Utilisation:
    """Mean GPU utilisation (NVML, %) over a `with` block."""

    def __enter__(self):
        self.samples: list[int] = []
        self.stop = threading.Event()

        def poll() -> None:
            while DEVICE == "cuda" and not self.stop.is_set():
                try:
                    self.samples.append(torch.cuda.utilization())
                except Exception:  # noqa: BLE001 - no NVML: no figure
                    return
                time.sleep(0.02)

        self.thread = threading.Thread(target=poll, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    @property
    def mean(self) -> float | None:
        return statistics.mean(self.samples) if self.samples else None


def clips(n: int, pool: list[torch.Tensor]) -> list[A.AudioWindow]:
    return [A.AudioWindow(i, 0.0, 10.0, pool[i % len(pool)]) for i in range(n)]


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def peak_reset() -> None:
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()


def allocated(peak: bool = False) -> int:
    if DEVICE != "cuda":
        return 0
    return torch.cuda.max_memory_allocated() if peak else torch.cuda.memory_allocated()


def latency(model: SAM, opts: DecodeOptions, pool: list[torch.Tensor], repeats: int = 5) -> dict[str, Any]:
    """Median split of `repeats` describes after a first one (which builds the batch-1 decoder); the second
    captures the encoder's and the prompt's prefill graphs, so the median is the steady state of a
    long-lived process. Then the same with both eager (SAM_ENCODE_GRAPHS=0 SAM_PREFILL_GRAPHS=0), as a
    one-off describe runs them."""
    ids = prompt_ids(model, model.cfg.describe_prompt)
    win = clips(1, pool)

    def once() -> tuple[float, ...]:
        tm = Timings()
        sync()
        t0 = time.perf_counter()
        embeds, _ = encode_windows(model, win, tm)
        out = generate(model, embeds, [ids], opts, timings=tm)
        sync()
        assert len(out[0]) == opts.max_new_tokens
        return tm.encode_s, tm.prefill_s, tm.decode_s, time.perf_counter() - t0

    once()
    rows = [once() for _ in range(repeats)]
    med = [statistics.median(r[k] for r in rows) * 1e3 for k in range(4)]
    with patch.object(cuda_graphs, "PREFILL_GRAPH_SIZE", 0), patch.object(select, "ENCODE_GRAPH_ROWS", 0):
        eager = [once() for _ in range(repeats)]
    return {"prompt_tokens": model.cfg.num_audio_tokens + len(ids), "encode_ms": med[0], "prefill_ms": med[1],
            "decode_ms": med[2], "total_ms": med[3], "decode_ms_per_token": med[2] / (opts.max_new_tokens - 1),
            "encode_eager_ms": statistics.median(r[0] for r in eager) * 1e3,
            "prefill_eager_ms": statistics.median(r[1] for r in eager) * 1e3,
            "total_eager_ms": statistics.median(r[3] for r in eager) * 1e3}


def throughput(model: SAM, batch: int, opts: DecodeOptions, pool: list[torch.Tensor], seconds: float = 3.0
               ) -> dict[str, Any]:
    ids = prompt_ids(model, model.cfg.describe_prompt)
    wins = clips(batch, pool)
    peak_reset()
    sync()
    t0 = time.perf_counter()
    run_windows(model, wins, ids, opts, None)  # warm-up: builds this batch size's decoder
    sync()
    build_s = time.perf_counter() - t0
    n, tm = 0, Timings()
    with Utilisation() as util:
        sync()
        t0 = time.perf_counter()
        while True:
            texts = run_windows(model, wins, ids, opts, tm)
            n += len(texts)
            sync()
            if time.perf_counter() - t0 > seconds and n >= 2 * batch:
                break
        elapsed = time.perf_counter() - t0
    return {"batch": batch, "clips_per_s": n / elapsed, "gpu_util_pct": util.mean, "build_s": build_s,
            "split_s_per_batch": {"encode": tm.encode_s * batch / n, "prefill": tm.prefill_s * batch / n,
                                  "decode": tm.decode_s * batch / n}, "peak_mem_GB": allocated(peak=True) / 1e9}


def files_throughput(model: SAM, nfiles: int, batch: int, opts: DecodeOptions, workers: int,
                     processes: bool = False) -> dict[str, Any]:
    marks: list[tuple[float, int]] = []

    def progress(done: int, total: int, rate: float, eta: float) -> None:
        marks.append((time.perf_counter(), done))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        folder.mkdir()
        g = torch.Generator().manual_seed(0)
        base = [torch.randn(10 * SR, generator=g) * 0.1 for _ in range(8)]
        for i in range(nfiles):
            A.write_audio(folder / f"clip{i:05d}.wav", base[i % 8])
        out = Path(tmp) / "results.jsonl"
        kw = dict(opts=opts, batch_size=batch, workers=workers, processes=processes)
        warm = sorted(folder.iterdir())[: 2 * batch]  # builds this batch size's decoder, warms the caches
        run_batch(model, warm, out, **kw)
        out.unlink()
        with Utilisation() as util:
            s = run_batch(model, [folder], out, progress=progress, **kw)
        first = next(((t, n) for t, n in marks if n >= batch), marks[-1])
        last = marks[-1]
        steady = (last[1] - first[1]) / (last[0] - first[0]) if last[0] > first[0] else None
        return {"files": nfiles, "batch": batch, "workers": workers, "processes": processes,
                "state_dtype": opts.state_dtype, "clips_per_s": s.done / s.seconds, "steady_clips_per_s": steady,
                "gpu_util_pct": util.mean, "errors": s.failed}


def memory(model: SAM, opts: DecodeOptions, pool: list[torch.Tensor], seconds: list[int]) -> dict[str, Any]:
    ids = prompt_ids(model, model.cfg.describe_prompt)
    embeds, _ = encode_windows(model, clips(1, pool))
    by_len = {}
    for n in ((16, 128, 1024) if DEVICE == "cuda" else (4, 12)):
        o = DecodeOptions(max_new_tokens=n, loop_repeats=opts.loop_repeats)
        generate(model, embeds, [ids], o)
        sync()
        peak_reset()
        base = allocated()
        generate(model, embeds, [ids], o)
        sync()
        by_len[n] = (allocated(peak=True) - base) / 1e6
    by_audio = {}
    for secs in seconds:
        wav = torch.randn(secs * SR) * 0.1
        describe(model, wav, batch_size=8, opts=opts)
        sync()
        peak_reset()
        base = allocated()
        describe(model, wav, batch_size=8, opts=opts)
        sync()
        by_audio[secs] = (allocated(peak=True) - base) / 1e6
    return {"peak_MB_by_new_tokens": by_len, "peak_MB_by_audio_seconds": by_audio}


def guarded(fn) -> dict[str, Any]:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        torch.cuda.empty_cache()
        return {"error": f"{type(e).__name__}: {str(e)[:300]}"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="130m,2.7b")
    ap.add_argument("--batches", default="1,64,256")
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--files", type=int, default=0, help="also run `sam batch` over this many WAV files (130m)")
    ap.add_argument("--workers", default="8", help="decoders of the --files run; 8p = 8 processes; a comma list")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--table-from", default=None, help="print the table from a log of an earlier (cut-short) run")
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to smoke-test this script (--sizes tiny)")
    ap.add_argument("--memory-seconds", default="10,60,300", help="audio lengths of the memory sweep")
    ap.add_argument("--state-dtypes", default="model", help="SSM-state dtypes of the throughput rows: fp32,model")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if args.table_from:
        res = {"device": "?", "new_tokens": args.new, "sizes": {}}
        for line in open(args.table_from):
            if line.startswith("{"):
                d = json.loads(line)
                if "device" in d:
                    res.update(d)
                else:
                    res["sizes"].update(d)
        print(table(res))
        return
    torch.manual_seed(0)
    opts = DecodeOptions(max_new_tokens=args.new, loop_repeats=10**9)
    pool = [torch.randn(10 * SR) * 0.1 for _ in range(8)]
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else DEVICE
    res: dict[str, Any] = {"device": name, "new_tokens": args.new, "sizes": {}}
    print(json.dumps({"device": res["device"], "new_tokens": args.new}), flush=True)
    for size in args.sizes.split(","):
        t0 = time.perf_counter()
        model = build(size, torch.bfloat16 if DEVICE == "cuda" else torch.float32)
        r: dict[str, Any] = {"model_build_s": time.perf_counter() - t0}
        r["latency"] = guarded(lambda: latency(model, opts, pool))
        states = [replace(opts, state_dtype=st) for st in args.state_dtypes.split(",")]
        r["throughput"] = [guarded(lambda b=b, o=o: {**throughput(model, b, o, pool, args.seconds),
                                                     "state_dtype": o.state_dtype})
                           for o in states for b in map(int, args.batches.split(","))]
        if size in ("130m", "tiny"):
            if args.files:
                r["sam_batch_files"] = [guarded(lambda w=w, o=o: files_throughput(
                    model, args.files, max(map(int, args.batches.split(","))), o, int(w.rstrip("p")),
                    processes=w.endswith("p"))) for o in states for w in args.workers.split(",")]
            r["memory"] = guarded(lambda: memory(model, opts, pool, [int(x) for x in args.memory_seconds.split(",")]))
        res["sizes"][size] = r
        print(json.dumps({size: r}), flush=True)
        select.clear(model.lm)
        select.clear(model.encoder)
        del model
        gc.collect()
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    print(table(res))


def table(res: dict[str, Any]) -> str:
    lines = [f"device: {res['device']}; bf16; 10-s clips; {res['new_tokens']} new tokens",
             "| size | 1 clip: encode / prefill / decode / total ms (eager encode / prefill / total) | batch | SSM state "
             "| clips/s | GPU util % | build s |",
             "|---|---|---|---|---|---|---|"]
    for size, r in res["sizes"].items():
        lat = r["latency"]
        ls = (f"{lat['encode_ms']:.1f} / {lat['prefill_ms']:.1f} / {lat['decode_ms']:.1f} / {lat['total_ms']:.1f}"
              f" ({lat.get('encode_eager_ms', float('nan')):.1f} / {lat.get('prefill_eager_ms', float('nan')):.1f}"
              f" / {lat.get('total_eager_ms', float('nan')):.1f})"
              if "total_ms" in lat else lat.get("error", "err"))
        for t in r["throughput"]:
            if "clips_per_s" in t:
                u = f"{t['gpu_util_pct']:.0f}" if t.get("gpu_util_pct") is not None else "-"
                lines.append(f"| {size} | {ls} | {t['batch']} | {t.get('state_dtype', 'fp32')} | {t['clips_per_s']:.0f} "
                             f"| {u} | {t['build_s']:.1f} |")
            else:
                lines.append(f"| {size} | {ls} | ? | | {t.get('error', 'err')} | | |")
        files = r.get("sam_batch_files", [])
        for f in files if isinstance(files, list) else [files]:
            if "clips_per_s" in f:
                how = "processes" if f.get("processes") else "threads"
                steady = f"{f['steady_clips_per_s']:.0f}" if f.get("steady_clips_per_s") else "-"
                lines.append(f"| {size} | `sam batch` over {f['files']} WAV files, {f['workers']} decode {how} | "
                             f"{f['batch']} | {f.get('state_dtype', 'fp32')} | {f['clips_per_s']:.0f} whole run, "
                             f"{steady} steady | {f['gpu_util_pct'] or 0:.0f} | |")
            else:
                lines.append(f"| {size} | `sam batch` files | | | {f.get('error')} | | |")
        if "memory" in r:
            lines.append(f"\nmemory ({size}): {json.dumps(r['memory'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
