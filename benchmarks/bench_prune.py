"""TopK token pruning of the EAT encoder (docs/design.md §4a): encoder MACs and time per 10-s clip at several
pruning rates, as ratios to no pruning in the same run.

    python benchmarks/bench_prune.py [--rates 0,0.2,0.4,0.6] [--criteria attention,intensity]
                                     [--shapes tiny,base] [--batch 1] [--rounds 7] [--threads 2] [--json out.json]

Shapes: "tiny" = the bundled sam-tiny (its real weights; encoder 6 x 256 + its concat connector, i.e.
`SAM.encode_audio`, pruning at blocks 1, 3, 4), "base" = an EAT-base-shaped encoder (12 x 768, random weights,
pruning at blocks 3, 6, 9; the encoder alone). Input: the fbank of examples/dog_bark.wav (10 s, padded to
1024 frames), --batch copies. float32, inference mode, the CPU unless --device says otherwise.

Rates are measured round-robin (one pass of each rate per round, after one untimed warm-up pass each), so a
busy machine slows them alike; each time is the median (and the best) over --rounds. Rate 0 is the unpruned forward
(`EATEncoder.forward`), so its row is today's encoder.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sam_cli  # noqa: E402
from sam_cli import audio as A  # noqa: E402
from sam_cli.models.encoder import EATConfig, EATEncoder  # noqa: E402
from sam_cli.models.pruning import PruneConfig, encoder_macs, token_counts  # noqa: E402


def runner(shape: str, device: str):
    """-> (encoder config, fn(fbank, prune) running the shape's encode path)."""
    if shape == "tiny":
        model = sam_cli.load_model("sam-tiny", device=device, dtype="float32").eval()

        def encode(x, prune):
            model.cfg.prune = prune
            return model.encode_audio(x)

        return model.cfg.encoder, encode
    torch.manual_seed(0)
    enc = EATEncoder(EATConfig(num_classes=0, model_variant="pretrain")).eval().to(device)
    return enc.config, lambda x, prune: enc.forward_pruned(x, prune) if prune.on else enc(x)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="0,0.2,0.4,0.6")
    ap.add_argument("--criteria", default="attention")
    ap.add_argument("--shapes", default="tiny,base")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rates = [float(r) for r in args.rates.split(",")]
    criteria = args.criteria.split(",")
    wav = A.load_audio(str(ROOT / "examples/dog_bark.wav"))
    feats = A.fbank(wav)[None, None].expand(args.batch, -1, -1, -1).contiguous().to(args.device)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, device {args.device}, batch {args.batch}, {args.rounds} rounds", file=sys.stderr)
    rows = []
    for shape in args.shapes.split(","):
        cfg, encode = runner(shape, args.device)
        settings = [(0.0, "-")] + [(r, c) for c in criteria for r in rates if r > 0]
        times: dict[tuple, list[float]] = {s: [] for s in settings}
        with torch.inference_mode():
            for rnd in range(args.rounds + 1):
                for rate, crit in settings:
                    prune = PruneConfig(rate=rate, criterion=crit if crit != "-" else "attention")
                    sync(args.device)
                    t0 = time.perf_counter()
                    encode(feats, prune)
                    sync(args.device)
                    if rnd:  # round 0 warms up
                        times[(rate, crit)].append(time.perf_counter() - t0)
        base_t = statistics.median(times[(0.0, "-")])
        base_macs = encoder_macs(cfg, 1024)
        for rate, crit in settings:
            prune = PruneConfig(rate=rate, criterion=crit if crit != "-" else "attention")
            macs = encoder_macs(cfg, 1024, prune)
            t = statistics.median(times[(rate, crit)])
            left = token_counts(cfg.num_patches(1024), cfg.depth, prune)[-1][1]
            rows.append({"shape": shape, "rate": rate, "criterion": crit, "tokens_left": left, "gmacs": macs / 1e9,
                         "macs_ratio": macs / base_macs, "ms_per_clip": t / args.batch * 1e3,
                         "time_ratio": t / base_t, "best_ms_per_clip": min(times[(rate, crit)]) / args.batch * 1e3,
                         "best_ratio": min(times[(rate, crit)]) / min(times[(0.0, "-")])})
    print("| shape | rate | criterion | tokens after the last pruning | encoder GMACs | MACs vs 0 % | ms a clip "
          "(median) | time vs 0 % | ms a clip (best) | best vs 0 % |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['shape']} | {r['rate']:.0%} | {r['criterion']} | {r['tokens_left']} | {r['gmacs']:.2f} | "
              f"{r['macs_ratio']:.2f} | {r['ms_per_clip']:.0f} | {r['time_ratio']:.2f} | "
              f"{r['best_ms_per_clip']:.0f} | {r['best_ratio']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
