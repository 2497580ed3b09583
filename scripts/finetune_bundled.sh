#!/usr/bin/env bash
# Fine-tune the bundled model on a GPU machine within one device command, on fresh scenes of which
# EMPTY_SHARE hold no sound event (see build_scenes.py --empty-share).
#   bash scripts/finetune_bundled.sh OUTDIR [TRAIN_SECONDS]
# Needs: data/sources (python3 scripts/collect_sources.py), the package importable (PYTHONPATH=.), soundfile.
# OUTDIR gets the training log, metrics.jsonl and the exported model in 15-MiB parts (cat model.tgz.part-*
# | tar xz), which a device command can return.
set -euo pipefail
out=${1:?usage: finetune_bundled.sh OUTDIR [TRAIN_SECONDS]}
seconds=${2:-450}  # a safety limit: STEPS should end well before it
py=${PYTHON:-python3}
work=${WORK:-runs/sam-tiny-ft}
mkdir -p "$out" "$work"
t0=$(date +%s)
"$py" scripts/build_scenes.py --sources data/sources --out "$work/scenes" --num-train "${NUM_TRAIN:-16000}" \
  --num-eval 200 --num-eval-seen 0 --empty-share "${EMPTY_SHARE:-0.08}" --seed "${SEED:-2}" --workers "$(nproc)"
echo "scenes built in $(( $(date +%s) - t0 )) s" >&2
workers=$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))
"$py" -m sam_cli train -c configs/sam-tiny-finetune.toml -d "$work/scenes/train.json" \
  --eval-json "$work/scenes/eval.json" -o "$work/run" --max-steps "${STEPS:-3000}" --num-workers "$workers" \
  --save-every 100000 --log-every 100 --time-limit "$seconds" 2>&1 | tee "$out/train.log" >&2
cp "$work/run/metrics.jsonl" "$out/metrics.jsonl"
tar -C "$work/run" -czf - model | split -b 15M - "$out/model.tgz.part-"
echo "total $(( $(date +%s) - t0 )) s" >&2
