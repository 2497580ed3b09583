#!/usr/bin/env bash
# Train the bundled model on a GPU machine, within a time budget, and evaluate it on held-out data.
#   bash scripts/train_bundled.sh OUTDIR [TRAIN_SECONDS]
# Needs: data/sources (python3 scripts/collect_sources.py), or SOURCES_ARCHIVE (data/sources.tgz: `tar -C data
# -czf data/sources.tgz sources`, unpacked here when data/sources is missing), the package importable
# (PYTHONPATH=.), soundfile. The training data is built here from the compact sources, so only the sources
# (~26 MB compressed) have to travel to the GPU machine.
#
# What is built (MODE):
#   scenes (default)  the 10-s scenes sam-tiny was trained on: build_scenes.py --mode scenes, NUM_TRAIN scenes
#                     (8000), 400 eval, 200 eval_seen, seed 0, as before.
#   clips             clips shaped like what users have (build_scenes.py --mode clips): NUM_TRAIN clips (60000;
#                     a clip longer than 10.24 s gives one example a window), NUM_EVAL (1500), NUM_EVAL_SEEN
#                     (500), in BUILD_PARTS parts (4) of seeds SEED, SEED+1, ... (the eval sets in the first),
#                     each kept once done, so a build that does not fit one command goes on in the next.
# Several runs on one build (e.g. with and without a teacher, side by side): BUILD_ONLY=1 builds and exits;
# then RUN (the run's folder in WORK, "run"), TRAIN_ARGS (more `sam train` options, e.g. "--distill-teacher
# DIR"), WORKERS (data-loading processes; nproc - 2), SHIP=0 (no checkpoint back at a pause, no model at the
# end) and SHIP_HALF=1 (a paused checkpoint back as fp16 whatever its size) per run; scripts/train_many.sh runs them.
# At the end, with MODE=clips: scripts/probe_encoder.py on the run's encoder beside sam-tiny's (PROBE_TRAIN
# training windows, 4000, 0 skips; PROBE_EVAL held-out windows, 800) into OUTDIR/probe.json.
# Both: SEED (0), EMPTY_SHARE (build_scenes --empty-share), BUILD_ARGS (more build_scenes options, e.g. "--mix
# single=0.4,scene=0.2,ambience=0.1,speech=0.22,empty=0.08"), CONFIG (configs/sam-tiny.toml), WORK.
#
# The run can span several commands (a lent GPU machine allows 10 minutes a command): with CALL_SECONDS set,
# this command builds and trains at most that long (sam train --time-limit), leaves its data and a checkpoint in
# WORK and exits 0; the same command again, on the same machine, goes on there. At each pause the newest
# checkpoint's weights are shipped to OUTDIR (checkpoint.tgz.part-*; fp16 when the float32 weights would not
# come back), in case the machine is lost. The learning-rate schedule is sized once, for TRAIN_SECONDS of
# training in all. scripts/README.md ("Training the bundled model on the lent GPU machine") has the plan.
set -euo pipefail
out=${1:?usage: train_bundled.sh OUTDIR [TRAIN_SECONDS]}
budget=${2:-300}
config=${CONFIG:-configs/sam-tiny.toml}
calib=${CALIB_STEPS:-60}
py=${PYTHON:-python3}
work=${WORK:-runs/sam-tiny-work}
call=${CALL_SECONDS:-0}  # 0: no limit per command
tail_s=${TAIL_SECONDS:-90}  # kept free at the end of a command for evaluation and packing
mode=${MODE:-scenes}
sources=${SOURCES:-data/sources}
archive=${SOURCES_ARCHIVE:-data/sources.tgz}
seed=${SEED:-0}
mkdir -p "$out" "$work"
workers=${WORKERS:-$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))}  # data-loading processes of sam train
run=${RUN:-run}  # the training run's folder in WORK: several runs can share one build
read -r -a train_args <<<"${TRAIN_ARGS:-}"
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }

# The device returns at most 8 files: past that, the small files go into one logs.tgz.
pack_out() {
  local n
  n=$(find "$out" -maxdepth 1 -type f | wc -l)
  if [ "$n" -gt 8 ]; then
    (cd "$out" && find . -maxdepth 1 -type f ! -name '*.part-*' ! -name logs.tgz -printf '%f\n' \
      | tar -czf logs.tgz -T - --remove-files)
  fi
}

build_args=()
[ -n "${EMPTY_SHARE:-}" ] && build_args+=(--empty-share "$EMPTY_SHARE")
read -r -a extra <<<"${BUILD_ARGS:-}"
build_args+=("${extra[@]}")

if [ ! -f "$work/scenes/train.json" ]; then
  if [ ! -f "$sources/sources.json" ] && [ ! -f "$sources/audio.npz" ]; then
    [ -f "$archive" ] || { echo "no $sources and no $archive: run scripts/collect_sources.py (scripts/README.md)" >&2; exit 1; }
    mkdir -p "$(dirname "$sources")" && tar -C "$(dirname "$sources")" -xzf "$archive"
    echo "sources unpacked from $archive in $(elapsed) s" >&2
  fi
  if [ "$mode" = scenes ]; then
    "$py" scripts/build_scenes.py --sources "$sources" --out "$work/scenes" --num-train "${NUM_TRAIN:-8000}" \
      --num-eval "${NUM_EVAL:-400}" --num-eval-seen "${NUM_EVAL_SEEN:-200}" --workers "$(nproc)" --seed "$seed" \
      "${build_args[@]}"
  elif [ "$mode" = clips ]; then
    # In parts, so that a build longer than one command goes on in the next; the training records of all
    # parts are merged into scenes/train.json, and the eval sets are the first part's.
    parts=${BUILD_PARTS:-4}
    total=${NUM_TRAIN:-60000}
    last=0
    for ((k = 0; k < parts; k++)); do
      part="$work/scenes/p$k"
      [ -f "$part/.done" ] && continue
      if [ "$call" -gt 0 ] && [ $(( call - $(elapsed) - tail_s )) -lt $(( last * 5 / 4 + 30 )) ]; then
        echo "built $k of $parts parts in this command; run the same command again to go on" >&2
        exit 0
      fi
      ev=0; evs=0
      [ "$k" = 0 ] && { ev=${NUM_EVAL:-1500}; evs=${NUM_EVAL_SEEN:-500}; }
      n=$(( total / parts + (k < total % parts ? 1 : 0) ))
      rm -rf "$part"
      t1=$(date +%s)
      "$py" scripts/build_scenes.py --mode clips --sources "$sources" --out "$part" --num-train "$n" \
        --num-eval "$ev" --num-eval-seen "$evs" --workers "$(nproc)" --seed $(( seed + k )) "${build_args[@]}"
      touch "$part/.done"
      last=$(( $(date +%s) - t1 ))
      echo "part $((k + 1))/$parts: $n clips in $last s" >&2
    done
    "$py" - "$work/scenes" "$parts" <<'PY'
import json, os, sys
root, parts = sys.argv[1], int(sys.argv[2])
records = []
for k in range(parts):
    for r in json.load(open(os.path.join(root, f"p{k}", "train.json"))):
        r["audio_id"] = f"p{k}/{r['audio_id']}"
        records.append(r)
for name in ("eval.json", "eval_seen.json"):
    src = os.path.join(root, "p0", name)
    rows = json.load(open(src)) if os.path.exists(src) else []
    for r in rows:
        r["audio_id"] = f"p0/{r['audio_id']}"
    json.dump(rows, open(os.path.join(root, name), "w"), ensure_ascii=False)
tmp = os.path.join(root, ".train.json.tmp")
with open(tmp, "w") as f:
    json.dump(records, f, ensure_ascii=False)
os.replace(tmp, os.path.join(root, "train.json"))
print(f"{len(records)} training records from {parts} parts", file=sys.stderr)
PY
  else
    echo "MODE must be scenes or clips, not $mode" >&2; exit 2
  fi
  echo "data built in $(elapsed) s" >&2
fi
[ -n "${BUILD_ONLY:-}" ] && exit 0
# evaluate.py reads the ground truth (scenes_meta.json) next to the eval sets.
evaldata="$work/scenes"
[ -d "$work/scenes/p0" ] && evaldata="$work/scenes/p0"

# Calibrate: time a short run, then size the real one to the budget (the LR schedule needs a step count).
if [ ! -f "$work/$run.steps" ]; then
  rm -rf "$work/$run.calib"
  "$py" -m sam_cli train -c "$config" -d "$work/scenes/train.json" -o "$work/$run.calib" --max-steps "$calib" \
    --num-workers "$workers" --num-samples 0 --save-every 100000 --log-every 20 "${train_args[@]}" >/dev/null
  "$py" - "$work/$run.calib/metrics.jsonl" "$budget" "${MIN_STEPS:-200}" >"$work/$run.steps" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"train"' in l]
times = [b["time"] - a["time"] for a, b in zip(rows, rows[1:])]
times = times[len(times) // 3:]  # past the start-up steps
print(max(int(sys.argv[3]), int(float(sys.argv[2]) / statistics.median(times))))
PY
fi
steps=$(cat "$work/$run.steps")
echo "training for $steps steps" >&2

limit=()
if [ "$call" -gt 0 ]; then
  # What is left of this command, less the evaluation and packing that may follow.
  left=$(( call - $(elapsed) - tail_s ))
  limit=(--time-limit "$(( left > 30 ? left : 30 ))")
fi
resume=()
[ -d "$work/$run/checkpoints" ] && resume=(--resume)
set +e
"$py" -m sam_cli train -c "$config" -d "$work/scenes/train.json" --eval-json "$work/scenes/eval.json" \
  -o "$work/$run" --max-steps "$steps" --num-workers "$workers" --save-every 1000 --keep-last 1 --log-every 200 \
  --eval-every $(( steps / 4 > 0 ? steps / 4 : 1 )) "${resume[@]}" "${limit[@]}" "${train_args[@]}" 2>&1 | tee -a "$out/train.log" >&2
rc=${PIPESTATUS[0]}
set -e
cp "$work/$run/metrics.jsonl" "$out/metrics.jsonl"
if [ "$rc" = 75 ]; then
  # Stopped at the time limit: ship the newest checkpoint's weights too, in case this machine is lost (not the
  # optimizer state: a lost machine means going on from these weights with a fresh schedule, `--init`). At most
  # 64 MiB come back: float32 weights over 60 MB are shipped as an fp16 copy (SAM checkpoint format either way).
  latest=$(ls -d "$work/$run"/checkpoints/stage* | tail -1)
  ship="$latest"
  if [ "${SHIP_HALF:-0}" = 1 ] || [ "$(stat -c %s "$latest/model.safetensors")" -gt 60000000 ]; then
    ship="$work/ship/$(basename "$latest")"
    rm -rf "$work/ship" && mkdir -p "$ship"
    cp "$latest/config.json" "$latest/tokenizer.json" "$ship/"
    "$py" - "$latest/model.safetensors" "$ship/model.safetensors" <<'PY'
import sys
import torch
from sam_cli.store.weights import read_tensors, write_safetensors
sd = {k: v.half() if v.is_floating_point() else v for k, v in read_tensors(sys.argv[1]).items()}
write_safetensors(sd, sys.argv[2], metadata={"format": "pt"})
PY
  fi
  rm -f "$out"/checkpoint.tgz.part-*
  [ "${SHIP:-1}" = 0 ] || tar -C "$ship" --exclude trainer_state.pt -czf - . | split -b 15M - "$out/checkpoint.tgz.part-"
  pack_out
  echo "paused at $(basename "$latest"); run the same command again to go on ($(elapsed) s)" >&2
  exit 0
fi
[ "$rc" = 0 ] || exit "$rc"
rm -f "$out"/checkpoint.tgz.part-*
[ -n "${SKIP_EVAL:-}" ] || "$py" scripts/evaluate.py --model "$work/$run/model" --data "$evaldata" --limit "${EVAL_LIMIT:-300}" \
  --out "$out/eval.json" 2>&1 | tee "$out/eval.txt" >&2
[ -n "${SKIP_EVAL:-}" ] || "$py" scripts/evaluate.py --model "$work/$run/model" --data "$evaldata" --split eval_seen \
  --limit "${EVAL_SEEN_LIMIT:-200}" --out "$out/eval_seen.json" 2>&1 | tee "$out/eval_seen.txt" >&2
# What the encoder alone hears, beside the bundled model's (scripts/probe_encoder.py; PROBE_TRAIN=0 skips).
if [ "${PROBE_TRAIN:-4000}" != 0 ] && [ "$mode" = clips ]; then
  dev=$("$py" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
  "$py" scripts/probe_encoder.py --data "$work/scenes" --model "$work/$run/model" --model sam-tiny --device "$dev" \
    --train-limit "${PROBE_TRAIN:-4000}" --eval-limit "${PROBE_EVAL:-800}" --out "$out/probe.json" 2>&1 \
    | tee "$out/probe.txt" >&2
fi
# The device returns files of at most 16 MiB: ship the model in parts (cat model.tgz.part-* | tar xz).
[ "${SHIP:-1}" = 0 ] || tar -C "$work/$run" -czf - model | split -b 15M - "$out/model.tgz.part-"
pack_out
echo "total $(elapsed) s" >&2
