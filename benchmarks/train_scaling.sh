#!/usr/bin/env bash
# `sam train` on 1 GPU and under torchrun on 2 GPUs (NCCL), same global batch: step time and scaling.
#   bash benchmarks/train_scaling.sh OUTDIR          (needs data/sources, soundfile, 2 GPUs)
set -euo pipefail
out=${1:?usage: train_scaling.sh OUTDIR}
mkdir -p "$out"
python3 scripts/build_scenes.py --sources data/sources --out /tmp/scaling-scenes --num-train 400 --num-eval 10 \
  --num-eval-seen 10 --workers "$(nproc)" >/dev/null
for n in 1 2; do
  python3 -m torch.distributed.run --standalone --nproc_per_node "$n" -m sam_cli train \
    -c benchmarks/train-130m-scratch.toml -d /tmp/scaling-scenes/train.json -o "/tmp/scaling-run$n" \
    --max-steps "${STEPS:-30}" --num-workers 6 --save-every 100000 --log-every 10 > "$out/train$n.log" 2>&1
  cp "/tmp/scaling-run$n/metrics.jsonl" "$out/metrics$n.jsonl"
done
python3 - "$out" <<'PY'
import json, statistics, sys
res = {}
for n in (1, 2):
    rows = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics{n}.jsonl") if '"train"' in l]
    dts = [b["time"] - a["time"] for a, b in zip(rows, rows[1:])][len(rows) // 3:]
    step = statistics.median(dts)
    res[n] = (step, rows[-1]["tokens"] / step, rows[-1]["loss"])
for n, (step, tps, loss) in res.items():
    print(f"| {n} GPU{'s' if n > 1 else ''} | {step * 1e3:.0f} ms | {tps / 1e3:.1f}k | {res[1][0] / step:.2f}x | loss {loss:.3f} |")
PY
