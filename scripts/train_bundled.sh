#!/usr/bin/env bash
# Train the bundled model on a GPU machine, within a time budget, and evaluate it on held-out scenes.
#   bash scripts/train_bundled.sh OUTDIR [TRAIN_SECONDS]
# Needs: data/sources (python3 scripts/collect_sources.py), the package importable (PYTHONPATH=.), soundfile.
# Scenes are built here from the compact sources, so only ~31 MiB has to travel to the GPU machine.
set -euo pipefail
out=${1:?usage: train_bundled.sh OUTDIR [TRAIN_SECONDS]}
budget=${2:-300}
config=${CONFIG:-configs/sam-tiny.toml}
calib=${CALIB_STEPS:-60}
py=${PYTHON:-python3}
work=${WORK:-/tmp/sam-tiny-work}
mkdir -p "$out" "$work"
workers=$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))

t0=$(date +%s)
"$py" scripts/build_scenes.py --sources data/sources --out "$work/scenes" --num-train "${NUM_TRAIN:-8000}" \
  --num-eval 400 --num-eval-seen 200 --workers "$(nproc)" --seed 0
echo "scenes built in $(( $(date +%s) - t0 )) s" >&2

# Calibrate: time a short run, then size the real one to the budget (the LR schedule needs a step count).
"$py" -m sam_cli train -c "$config" -d "$work/scenes/train.json" -o "$work/calib" --max-steps "$calib" \
  --num-workers "$workers" --num-samples 0 --save-every 100000 --log-every 20 >/dev/null
steps=$("$py" - "$work/calib/metrics.jsonl" "$budget" "${MIN_STEPS:-200}" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"train"' in l]
times = [b["time"] - a["time"] for a, b in zip(rows, rows[1:])]
times = times[len(times) // 3:]  # past the start-up steps
print(max(int(sys.argv[3]), int(float(sys.argv[2]) / statistics.median(times))))
PY
)
echo "training for $steps steps" >&2

"$py" -m sam_cli train -c "$config" -d "$work/scenes/train.json" --eval-json "$work/scenes/eval.json" \
  -o "$work/run" --max-steps "$steps" --num-workers "$workers" --save-every 100000 --log-every 100 \
  --eval-every $(( steps / 3 > 0 ? steps / 3 : 1 )) 2>&1 | tee "$out/train.log" >&2
cp "$work/run/metrics.jsonl" "$out/metrics.jsonl"
"$py" scripts/evaluate.py --model "$work/run/model" --data "$work/scenes" --limit "${EVAL_LIMIT:-300}" \
  --out "$out/eval.json" 2>&1 | tee "$out/eval.txt" >&2
# The device returns files of at most 16 MiB: ship the model in parts (cat model.tgz.part-* | tar xz).
tar -C "$work/run" -czf - model | split -b 15M - "$out/model.tgz.part-"
echo "total $(( $(date +%s) - t0 )) s" >&2
