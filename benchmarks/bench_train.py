"""Training-step benchmark: SAM with an EAT-base-shaped encoder and a Mamba-2 LM of a published size.

Random weights, random 10.24 s fbank clips and random text; the step is `sam train`'s (forward under bf16
autocast, cross-entropy on the text, backward, AdamW), training what stage 2-4 trains (encoder + connector +
LoRA) unless --freeze-encoder / --stage 1. Prints step time, tokens/s (LM positions: audio + text) and peak
memory. On a GPU machine:

    python benchmarks/bench_train.py --batch-size 8 --steps 20
    python benchmarks/bench_train.py --lm-size 780m --batch-size 4 --gradient-checkpointing

On the CPU, as a smoke test:  python benchmarks/bench_train.py --tiny --steps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sam_cli.models.connector import ConnectorConfig  # noqa: E402
from sam_cli.models.encoder import EATConfig  # noqa: E402
from sam_cli.models.mamba2 import Mamba2Config  # noqa: E402
from sam_cli.models.sam import IGNORE_INDEX, SAM, SAMConfig  # noqa: E402
from sam_cli.train.build import count, set_trainable  # noqa: E402
from sam_cli.train.config import StagePlan  # noqa: E402

LM_SIZES = {"130m": (768, 24), "370m": (1024, 48), "780m": (1536, 48), "1.3b": (2048, 48), "2.7b": (2560, 64)}


def config(args: argparse.Namespace) -> SAMConfig:
    if args.tiny:
        return SAMConfig(encoder=EATConfig(embed_dim=64, depth=2, num_heads=2, num_classes=0, model_variant="pretrain"),
                         lm=Mamba2Config(d_model=64, n_layer=2, vocab_size=1000, d_state=16, headdim=16),
                         connector=ConnectorConfig(kind=args.connector), lora_rank=args.lora_rank)
    d_model, n_layer = LM_SIZES[args.lm_size]
    return SAMConfig(encoder=EATConfig(), lm=Mamba2Config(d_model=d_model, n_layer=n_layer),
                     connector=ConnectorConfig(kind=args.connector), lora_rank=args.lora_rank)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lm-size", choices=sorted(LM_SIZES), default="130m")
    p.add_argument("--batch-size", type=int, default=8, help="clips per step (one micro-batch)")
    p.add_argument("--text-tokens", type=int, default=108, help="text length per clip (LTU's cutoff)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3, help="steps left out of the timings")
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--connector", default="concat", choices=["concat", "time_major", "frequency_major"])
    p.add_argument("--stage", type=int, default=2, choices=[1, 2, 3, 4])
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--no-bf16", action="store_true", help="fp32 throughout (bf16 autocast is the default on CUDA)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tiny", action="store_true", help="a tiny model, for a CPU smoke test")
    args = p.parse_args()

    device = torch.device(args.device)
    bf16 = device.type == "cuda" and not args.no_bf16
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    cfg = config(args)
    torch.manual_seed(0)
    with torch.device(device):
        model = SAM(cfg)
    model.lm.gradient_checkpointing = args.gradient_checkpointing
    model.train()
    plan = StagePlan(stage=args.stage, lr=1e-4, epochs=1, max_steps=None, warmup_steps=0, tasks=("*",),
                     train_encoder=args.stage > 1 and not args.freeze_encoder, train_connector=True,
                     train_lm="lora" if args.stage > 1 else "none")
    trainable = set_trainable(model, plan)
    params = [p for _, p in trainable]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)

    b, t = args.batch_size, args.text_tokens
    fbank = torch.randn(b, 1, cfg.target_length, 128, device=device)
    ids = torch.randint(0, cfg.lm.vocab_size, (b, t), device=device)
    labels = ids.clone()
    labels[:, : t // 3] = IGNORE_INDEX  # a prompt without loss, as with loss_on = answer
    positions = b * (cfg.num_audio_tokens + t)

    def step() -> float:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            logits, _ = model(fbank, ids)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                               ignore_index=IGNORE_INDEX)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    total_params = sum(p.numel() for p in model.parameters())
    print(f"model: EAT {'tiny' if args.tiny else 'base'} + Mamba-2 {'tiny' if args.tiny else args.lm_size} "
          f"({total_params / 1e6:.1f}M parameters, {count(trainable) / 1e6:.2f}M trained: {plan.describe()}), "
          f"connector {args.connector}, LoRA r={args.lora_rank}")
    print(f"batch {b} clips x ({cfg.num_audio_tokens} audio + {t} text) = {positions} LM positions; "
          f"{device}, {'bf16 autocast' if bf16 else 'fp32'}"
          + (", gradient checkpointing" if args.gradient_checkpointing else ""))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        loss = step()  # float() synchronises
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
        print(f"  step {i + 1}: {dt * 1e3:.0f} ms, loss {loss:.3f}", file=sys.stderr)
    if not times:
        times = [dt]
    med = statistics.median(times)
    print(f"step time: median {med * 1e3:.1f} ms, mean {statistics.mean(times) * 1e3:.1f} ms over {len(times)} steps")
    print(f"throughput: {b / med:.1f} clips/s, {positions / med:,.0f} tokens/s")
    if device.type == "cuda":
        print(f"peak memory: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB allocated, "
              f"{torch.cuda.max_memory_reserved(device) / 2**30:.2f} GiB reserved")


if __name__ == "__main__":
    main()
