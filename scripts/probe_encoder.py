#!/usr/bin/env python3
"""How well does a model's audio encoder tell sounds apart? A linear probe on its frozen features.

    python3 scripts/probe_encoder.py --data data/clips --model sam-tiny --model runs/x/model --random
    python3 scripts/probe_encoder.py --data data/clips_eval --train-data data/clips_probe --model sam-tiny

The windows of a `build_scenes.py --mode clips` build carry `tags`, the sound classes heard in them. For each
encoder, every window's tokens are pooled two ways (token 0: EAT's CLS, Audio Mamba's mean; the mean of the
patch tokens, which is closer to what the connector reads), a linear layer is trained on the training windows' features (binary
cross-entropy over the classes, features standardised on the training split) and scored on the held-out
windows (recordings the model never heard): mAP and mAUC over the classes, and top-1 accuracy on windows
with exactly one class. Two references run beside the encoders on the same windows: `mel`, the mean and
standard deviation of each fbank band (no learning at all), and `--random`, the first model's encoder with
fresh weights. An encoder whose probe is no better than `mel` has learnt little about what it hears; one
whose probe is good while its captions are poor points at the connector and the language model instead.

Why a probe: the captions' "sources named" mixes what the encoder hears with what the language model says;
the probe measures the first alone, in a few minutes on a CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parent.parent))  # runs from a checkout without an install


def windows(data: Path, split: str, limit: int | None) -> list[tuple[str, tuple[str, ...]]]:
    """(audio_id, tags) of the split's windows that carry tags, one per audio file, in file order."""
    seen: dict[str, tuple[str, ...]] = {}
    for r in json.loads((data / f"{split}.json").read_text()):
        if r.get("tags") is not None and r["audio_id"] not in seen:
            seen[r["audio_id"]] = tuple(r["tags"])
    items = sorted(seen.items())
    if limit is not None and len(items) > limit:
        pick = np.random.default_rng(0).choice(len(items), limit, replace=False)
        items = [items[i] for i in sorted(pick)]
    return items


def load_fbanks(data: Path, items) -> tuple["torch.Tensor", list[int]]:
    """Every window's fbank (as `sam describe` computes it, half precision: read once, used by every encoder)
    and the frames actually heard (10 ms each; the rest is padding)."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from sam_cli import audio as sam_audio
    from sam_cli.audio.fbank import fbank

    def one(item):
        wav = sam_audio.load_audio(str(data / item[0]))
        return fbank(wav).half(), min(wav.numel() // 160, 1024)

    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(one, items))
    return torch.stack([f for f, _ in done]), [n for _, n in done]


def mel_features(fb, lengths: list[int]) -> np.ndarray:
    """Mean and standard deviation of each band over the frames heard: no learning at all."""
    out = []
    for f, n in zip(fb.float(), lengths):
        f = f[:max(n, 1)]
        out.append(np.concatenate([f.mean(0).numpy(), f.std(0, unbiased=False).numpy()]))
    return np.stack(out)


def encoder_features(encoder, fb, batch: int) -> dict[str, np.ndarray]:
    import torch

    cls, mean = [], []
    t0 = time.time()
    device = next(encoder.parameters()).device
    with torch.inference_mode():
        for i in range(0, len(fb), batch):
            tokens = encoder(fb[i:i + batch, None].to(device, encoder.dtype)).float().cpu()
            cls.append(tokens[:, 0].numpy())
            mean.append(tokens[:, 1:].mean(1).numpy())
            if (i // batch + 1) % 50 == 0:
                print(f"  {i + batch}/{len(fb)} windows, {time.time() - t0:.0f} s", file=sys.stderr)
    return {"cls": np.concatenate(cls), "mean": np.concatenate(mean)}


def probe(x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, epochs: int, seed: int = 0) -> np.ndarray:
    """A linear layer on standardised features, full-batch Adam on binary cross-entropy -> eval logits."""
    import torch

    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    xt = torch.tensor((x_train - mu) / sd, dtype=torch.float32)
    xe = torch.tensor((x_eval - mu) / sd, dtype=torch.float32)
    yt = torch.tensor(y_train, dtype=torch.float32)
    torch.manual_seed(seed)
    layer = torch.nn.Linear(xt.shape[1], yt.shape[1])
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(layer(xt), yt).backward()
        opt.step()
    with torch.no_grad():
        return layer(xe).numpy()


def score(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sam_cli.evaluation.metrics import ranking_metrics

    out = ranking_metrics(logits, y)
    single = y.sum(1) == 1
    out["top1_single"] = float((y[single, logits[single].argmax(1)] == 1).mean()) if single.any() else float("nan")
    out["single_windows"] = int(single.sum())
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="a build_scenes.py --mode clips folder")
    ap.add_argument("--train-data", type=Path, help="the training windows' folder, if not --data's train split")
    ap.add_argument("--model", action="append", default=[], help="a model folder or name (repeatable)")
    ap.add_argument("--random", action="store_true", help="also probe the first model's encoder, freshly initialised")
    ap.add_argument("--train-limit", type=int, default=3000)
    ap.add_argument("--eval-limit", type=int, default=800)
    ap.add_argument("--eval-split", default="eval", help="eval (held-out recordings) or eval_seen")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="cpu", help="where the encoders run (cpu, cuda)")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args(argv)

    import torch

    import sam_cli
    from sam_cli.evaluation.metrics import multi_hot

    train_data = args.train_data or args.data
    train = windows(train_data, "train", args.train_limit)
    held = windows(args.data, args.eval_split, args.eval_limit)
    classes = sorted({t for _, tags in train for t in tags})
    known = set(classes)
    held = [(a, tuple(t for t in tags if t in known)) for a, tags in held]
    held = [(a, tags) for a, tags in held if tags]  # a class never trained on cannot be probed
    y_train, y_eval = multi_hot([t for _, t in train], classes), multi_hot([t for _, t in held], classes)
    print(f"{len(train)} training windows, {len(held)} {args.eval_split} windows, {len(classes)} classes",
          file=sys.stderr)

    encoders = []
    for name in args.model:
        encoders.append((name, sam_cli.load_model(name, device=args.device, dtype=torch.float32).encoder))
    if args.random and encoders:
        torch.manual_seed(0)
        first = encoders[0][1]
        encoders.append(("random " + args.model[0], type(first)(first.config).to(args.device).eval()))

    results: dict[str, dict[str, float]] = {}
    t0 = time.time()
    fb_train, len_train = load_fbanks(train_data, train)
    fb_eval, len_eval = load_fbanks(args.data, held)
    print(f"  fbanks: {time.time() - t0:.0f} s", file=sys.stderr)
    feats = {"mel": (mel_features(fb_train, len_train), mel_features(fb_eval, len_eval))}
    for name, enc in encoders:
        tr, ev = encoder_features(enc.eval(), fb_train, args.batch), encoder_features(enc, fb_eval, args.batch)
        for pool in ("cls", "mean"):
            feats[f"{name} [{pool}]"] = (tr[pool], ev[pool])
        print(f"  features of {name}: {time.time() - t0:.0f} s", file=sys.stderr)
    for key, (xt, xe) in feats.items():
        results[key] = score(probe(xt, y_train, xe, args.epochs), y_eval)

    print(f"| features | mAP | mAUC | top-1, single-class windows (n={results['mel']['single_windows']}) |")
    print("|---|---:|---:|---:|")
    for key, r in results.items():
        print(f"| {key} | {r['mAP']:.3f} | {r['mAUC']:.3f} | {100 * r['top1_single']:.1f}% |")
    if args.out:
        args.out.write_text(json.dumps({"train": len(train), "eval": len(held), "classes": len(classes),
                                        "split": args.eval_split, "results": results}, indent=1))


if __name__ == "__main__":
    main()
