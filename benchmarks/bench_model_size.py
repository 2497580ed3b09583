"""Sizes for the bundled model: parameters, fp16 size on disk and CPU model time of `sam describe` (issue 24).

    python benchmarks/bench_model_size.py [--candidates NAME=ENC_DEPTHxENC_DIM/LM_LAYERSxD_MODEL/VOCAB,...]
                                          [--repeats 5] [--warm 3] [--threads 2] [--tokens 24]
                                          [--clip examples/dog_bark.wav] [--json out.json] [--keep DIR]

Each candidate is a random-weight SAM in the bundled format, built as `sam train --scratch` builds one from a
config's `[model]` table (sam_cli/train/build.py: an EAT encoder of `encoder_depth` blocks of `encoder_dim`
with `encoder_dim / 64` heads, the `concat` connector, a Mamba-2 LM of `n_layer` x `d_model` with d_state 64,
headdim 32, chunk 64; `--d-state`, `--headdim` change those) and saved as the bundled model is, in fp16
(sam_cli/store/checkpoint.py). The LM's vocabulary is the `vocab_size` cap a scratch tokenizer may fill; the
tokenizer file is the bundled one (the embedding rows it does not use cost the same).

Timing: for each candidate, the model is loaded as the CLI loads it (sam_cli.load_model: fp32 on the CPU) and
the clip is described once ("cold": what a one-off `sam describe --stats` prints, including the first decode
step's fp16 weight copies) and `--warm` more times ("warm": a long-lived process). `--processes` does each load
in a fresh process, exactly as a one-off command (slower to run: torch's import each time). Model time =
encode (fbank + encoder + connector) + prefill + decode of exactly --tokens new tokens (EOS and the loop guard
are off: random weights must not stop early). The candidates are measured round-robin, --repeats rounds, so a
busy machine slows all of them alike; the table gives medians, the best warm time, each candidate's ratio to
the first one (the reference) in the same run, and the CPU seconds the process used for a warm describe
(less sensitive than wall time to other work on the machine).
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_TOKENIZER = ROOT / "sam_cli" / "assets" / "models" / "sam-tiny" / "tokenizer.json"
DEFAULT = ("sam-tiny-shape=6x256/6x384/4096,"  # the reference: sam-tiny's [model] table
           "e8x384/l8x512=8x384/8x512/4096,"
           "e8x384/l12x512=8x384/12x512/4096,"
           "e12x384/l8x512=12x384/8x512/4096,"
           "e8x512/l8x640=8x512/8x640/4096,"
           "e6x256/l12x384=6x256/12x384/4096,"
           "e8x256/l8x384=8x256/8x384/4096,"
           "e8x256/l8x384/v8k=8x256/8x384/8192")
# Also useful: "bundled=@sam-tiny" (the bundled model itself; its tokenizer filled 2,224 of the 4,096).


def parse_candidates(spec: str) -> list[tuple[str, dict]]:
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, shape = item.rpartition("=")
        enc, lm, vocab = shape.split("/")
        ed, ew = (int(x) for x in enc.lower().split("x"))
        ld, lw = (int(x) for x in lm.lower().split("x"))
        out.append((name or shape, dict(encoder_depth=ed, encoder_dim=ew, n_layer=ld, d_model=lw,
                                        vocab_size=int(vocab))))
    return out


def build(shape: dict, folder: Path, d_state: int, headdim: int) -> dict:
    """A random-weight SAM of `shape`, saved in fp16 as the bundled model is; -> its sizes."""
    import torch

    from sam_cli.models.connector import ConnectorConfig
    from sam_cli.models.encoder import EATConfig
    from sam_cli.models.mamba2 import Mamba2Config
    from sam_cli.models.sam import SAM, SAMConfig
    from sam_cli.models.tokenizer import Tokenizer
    from sam_cli.store.checkpoint import WEIGHTS_FILE, save_checkpoint

    cfg = SAMConfig(  # as sam_cli/train/build.py's from_scratch
        encoder=EATConfig(embed_dim=shape["encoder_dim"], depth=shape["encoder_depth"],
                          num_heads=shape["encoder_dim"] // 64, num_classes=0, model_variant="pretrain",
                          max_length=1024 // 16, target_length=1024),
        lm=Mamba2Config(d_model=shape["d_model"], n_layer=shape["n_layer"], vocab_size=shape["vocab_size"],
                        d_state=d_state, headdim=headdim, chunk_size=64),
        connector=ConnectorConfig(kind="concat"), lora_rank=0, target_length=1024)
    torch.manual_seed(0)
    model = SAM(cfg).eval()
    parts = {name: sum(p.numel() for p in getattr(model, name).parameters()) for name in ("encoder", "connector", "lm")}
    save_checkpoint(model.half(), Tokenizer.from_file(BUNDLED_TOKENIZER), folder)
    return {"params": sum(p.numel() for p in model.parameters()), **{f"params_{k}": v for k, v in parts.items()},
            "weights_bytes": (folder / WEIGHTS_FILE).stat().st_size,
            "folder_bytes": sum(f.stat().st_size for f in folder.iterdir())}


def measure(folder: str, clip: str, tokens: int, warm: int) -> dict:
    """Load as the CLI does, describe once ("cold": new fp16 decode copies), then `warm` more times."""
    import torch

    import sam_cli
    from sam_cli.decoding.options import DecodeOptions, Timings
    from sam_cli.tasks import describe

    t1 = time.perf_counter()
    model = sam_cli.load_model(folder, device="cpu")
    load_s = time.perf_counter() - t1
    model.tokenizer.eos_id = -1  # random weights: never stop early
    opts = DecodeOptions(max_new_tokens=tokens, loop_repeats=0)
    runs = []
    for _ in range(1 + warm):
        t, c0 = Timings(), time.process_time()
        describe(model, clip, opts=opts, timings=t)
        assert t.new_tokens == tokens, t.new_tokens
        runs.append({"encode": t.encode_s, "prefill": t.prefill_s, "decode": t.decode_s,
                     "cpu": time.process_time() - c0})
    del model, torch
    return {"load": load_s, "cold": runs[0], "warm": runs[1:]}


def worker(folder: str, clip: str, threads: int, tokens: int, warm: int) -> None:
    """One fresh process (--processes): set the threads, measure, print one JSON line."""
    import torch

    torch.set_num_threads(threads)
    print(json.dumps(measure(folder, clip, tokens, warm)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--candidates", default=DEFAULT, help="NAME=ENC_DEPTHxENC_DIM/LM_LAYERSxD_MODEL/VOCAB, "
                    "comma-separated; the first is the reference. A folder of an existing SAM checkpoint "
                    "can be given as NAME=@PATH (e.g. the bundled model)")
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes per candidate (rounds)")
    ap.add_argument("--warm", type=int, default=3, help="describes after the first, in each process")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--d-state", type=int, default=64)
    ap.add_argument("--headdim", type=int, default=32)
    ap.add_argument("--clip", default=str(ROOT / "examples" / "dog_bark.wav"))
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--keep", help="build the checkpoints here (kept) instead of a temporary folder")
    ap.add_argument("--processes", action="store_true", help="each measurement in a fresh process, as a one-off "
                    "`sam describe` (slow on a busy machine: torch's import each time)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.clip, args.threads, args.tokens, args.warm)
        return

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sam-size-"))
    tmp.mkdir(parents=True, exist_ok=True)
    cands = []
    for item in filter(None, (s.strip() for s in args.candidates.split(","))):
        name, _, rest = item.partition("=")
        if rest.startswith("@"):
            import sam_cli  # noqa: F401
            from sam_cli.store.checkpoint import WEIGHTS_FILE
            from sam_cli.store.hub import resolve_model

            from sam_cli.store.weights import read_tensors

            folder = Path(resolve_model(rest[1:]))

            sd = read_tensors(folder / WEIGHTS_FILE)
            info = {"params": sum(t.numel() for t in sd.values()), "weights_bytes": (folder / WEIGHTS_FILE).stat().st_size,
                    "folder_bytes": sum(f.stat().st_size for f in folder.iterdir() if f.is_file())}
            cands.append((name, {"checkpoint": str(folder)}, folder, info))
            continue
        (name, shape), = parse_candidates(item)
        folder = tmp / name.replace("/", "_")
        t0 = time.perf_counter()
        info = build(shape, folder, args.d_state, args.headdim)
        print(f"built {name}: {info['params'] / 1e6:.1f}M parameters, {info['weights_bytes'] / 1e6:.1f} MB "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        cands.append((name, shape, folder, info))

    results = {name: [] for name, *_ in cands}
    loads = []
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if not args.processes:
        import torch

        torch.set_num_threads(args.threads)
    for r in range(args.repeats):
        loads.append(os.getloadavg()[0])
        for name, _, folder, _ in cands:
            if args.processes:
                out = subprocess.run([sys.executable, __file__, "--worker", str(folder), "--clip", args.clip,
                                      "--threads", str(args.threads), "--tokens", str(args.tokens),
                                      "--warm", str(args.warm)], capture_output=True, text=True, env=env, check=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
            else:
                row = measure(str(folder), args.clip, args.tokens, args.warm)
            results[name].append(row)
            print(f"round {r + 1}/{args.repeats} {name}: cold {sum(v for k, v in row['cold'].items() if k != 'cpu'):.3f} s, "
                  f"warm {[round(sum(v for k, v in w.items() if k != 'cpu'), 3) for w in row['warm']]} s, "
                  f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    loads.append(os.getloadavg()[0])

    def vals(rows, phase, key):
        if phase == "cold":
            runs = [row["cold"] for row in rows]
        else:
            runs = [w for row in rows for w in row["warm"]]
        total = lambda w: w["encode"] + w["prefill"] + w["decode"]  # noqa: E731
        return [total(w) if key == "total" else w[key] for w in runs] or [float("nan")]

    def med(rows, phase, key):
        return statistics.median(vals(rows, phase, key))

    if not args.repeats:
        return
    ref = results[cands[0][0]]
    ref_cold, ref_warm = med(ref, "cold", "total"), med(ref, "warm", "total")
    ref_best, ref_cpu = min(vals(ref, "warm", "total")), med(ref, "warm", "cpu")
    print(f"\ntorch threads {args.threads}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{args.tokens} new tokens, clip {Path(args.clip).name}; median of {args.repeats} "
          f"{'fresh processes' if args.processes else 'loads'} (cold) and of {args.repeats * args.warm} repeats (warm); "
          f"load average {min(loads):.2f}-{max(loads):.2f}")
    print("| candidate (encoder / LM / vocab) | params (enc / LM) | fp16 on disk | load | encode | prefill | "
          "decode | **model time, cold** | × ref | warm | × ref | warm, best | × ref | CPU s, warm | × ref |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    table = []
    for name, shape, folder, info in cands:
        rows = results[name]
        cold = {k: med(rows, "cold", k) for k in ("encode", "prefill", "decode", "total")}
        warm, best, cpu = med(rows, "warm", "total"), min(vals(rows, "warm", "total")), med(rows, "warm", "cpu")
        load = statistics.median(row["load"] for row in rows)
        enc = f"{info['params_encoder'] / 1e6:.1f} / {info['params_lm'] / 1e6:.1f}" if "params_lm" in info else "—"
        print(f"| {name} | {info['params'] / 1e6:.1f}M ({enc}) | {info['weights_bytes'] / 1e6:.1f} MB | "
              f"{load * 1e3:.0f} ms | {cold['encode'] * 1e3:.0f} ms | {cold['prefill'] * 1e3:.0f} ms | "
              f"{cold['decode'] * 1e3:.0f} ms | **{cold['total'] * 1e3:.0f} ms** | {cold['total'] / ref_cold:.2f} | "
              f"{warm * 1e3:.0f} ms | {warm / ref_warm:.2f} | {best * 1e3:.0f} ms | {best / ref_best:.2f} | {cpu:.2f} | {cpu / ref_cpu:.2f} |")
        table.append({"name": name, "shape": shape, **info, "load_s": load, "cold_s": cold, "warm_total_s": warm,
                      "warm_best_s": best, "warm_cpu_s": cpu,
                      "runs": rows})
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": args.threads, "tokens": args.tokens, "load_average": loads,
                                               "cpu": platform.processor(), "candidates": table}, indent=1) + "\n")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
