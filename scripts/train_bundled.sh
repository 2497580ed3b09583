#!/usr/bin/env bash
# Train the bundled model on a GPU machine, within a time budget, and evaluate it on held-out scenes.
#   bash scripts/train_bundled.sh OUTDIR [TRAIN_SECONDS]
# Needs: data/sources (python3 scripts/collect_sources.py), the package importable (PYTHONPATH=.), soundfile.
# Scenes are built here from the compact sources, so only ~31 MiB has to travel to the GPU machine.
#
# The run can span several commands (a lent GPU machine allows 10 minutes a command): with CALL_SECONDS set,
# this command trains at most that long (sam train --time-limit), leaves a checkpoint in WORK and exits 0;
# the same command again, on the same machine, resumes there (scenes and step count are kept in WORK).
# The learning-rate schedule is sized once, for TRAIN_SECONDS of training in all.
set -euo pipefail
out=${1:?usage: train_bundled.sh OUTDIR [TRAIN_SECONDS]}
budget=${2:-300}
config=${CONFIG:-configs/sam-tiny.toml}
calib=${CALIB_STEPS:-60}
py=${PYTHON:-python3}
work=${WORK:-runs/sam-tiny-work}
call=${CALL_SECONDS:-0}  # 0: no limit per command
mkdir -p "$out" "$work"
workers=$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))
t0=$(date +%s)

if [ ! -f "$work/scenes/train.json" ]; then
  "$py" scripts/build_scenes.py --sources data/sources --out "$work/scenes" --num-train "${NUM_TRAIN:-8000}" \
    --num-eval 400 --num-eval-seen 200 --workers "$(nproc)" --seed 0
  echo "scenes built in $(( $(date +%s) - t0 )) s" >&2
fi

# Calibrate: time a short run, then size the real one to the budget (the LR schedule needs a step count).
if [ ! -f "$work/steps" ]; then
  rm -rf "$work/calib"
  "$py" -m sam_cli train -c "$config" -d "$work/scenes/train.json" -o "$work/calib" --max-steps "$calib" \
    --num-workers "$workers" --num-samples 0 --save-every 100000 --log-every 20 >/dev/null
  "$py" - "$work/calib/metrics.jsonl" "$budget" "${MIN_STEPS:-200}" >"$work/steps" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"train"' in l]
times = [b["time"] - a["time"] for a, b in zip(rows, rows[1:])]
times = times[len(times) // 3:]  # past the start-up steps
print(max(int(sys.argv[3]), int(float(sys.argv[2]) / statistics.median(times))))
PY
fi
steps=$(cat "$work/steps")
echo "training for $steps steps" >&2

limit=()
if [ "$call" -gt 0 ]; then
  # What is left of this command, less the evaluation and packing that may follow.
  left=$(( call - ($(date +%s) - t0) - ${TAIL_SECONDS:-90} ))
  limit=(--time-limit "$(( left > 30 ? left : 30 ))")
fi
resume=()
[ -d "$work/run/checkpoints" ] && resume=(--resume)
set +e
"$py" -m sam_cli train -c "$config" -d "$work/scenes/train.json" --eval-json "$work/scenes/eval.json" \
  -o "$work/run" --max-steps "$steps" --num-workers "$workers" --save-every 1000 --keep-last 1 --log-every 200 \
  --eval-every $(( steps / 4 > 0 ? steps / 4 : 1 )) "${resume[@]}" "${limit[@]}" 2>&1 | tee -a "$out/train.log" >&2
rc=${PIPESTATUS[0]}
set -e
cp "$work/run/metrics.jsonl" "$out/metrics.jsonl"
if [ "$rc" = 75 ]; then
  # Stopped at the time limit: ship the newest checkpoint's weights too, in case this machine is lost.
  latest=$(ls -d "$work"/run/checkpoints/stage* | tail -1)
  tar -C "$latest" --exclude trainer_state.pt -czf - . | split -b 15M - "$out/checkpoint.tgz.part-"
  echo "paused at $(basename "$latest"); run the same command again to go on ($(( $(date +%s) - t0 )) s)" >&2
  exit 0
fi
[ "$rc" = 0 ] || exit "$rc"
[ -n "${SKIP_EVAL:-}" ] || "$py" scripts/evaluate.py --model "$work/run/model" --data "$work/scenes" --limit "${EVAL_LIMIT:-300}" \
  --out "$out/eval.json" 2>&1 | tee "$out/eval.txt" >&2
[ -n "${SKIP_EVAL:-}" ] || "$py" scripts/evaluate.py --model "$work/run/model" --data "$work/scenes" --split eval_seen \
  --limit "${EVAL_SEEN_LIMIT:-200}" --out "$out/eval_seen.json" 2>&1 | tee "$out/eval_seen.txt" >&2
# The device returns files of at most 16 MiB: ship the model in parts (cat model.tgz.part-* | tar xz).
tar -C "$work/run" -czf - model | split -b 15M - "$out/model.tgz.part-"
echo "total $(( $(date +%s) - t0 )) s" >&2
