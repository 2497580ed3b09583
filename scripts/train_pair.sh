#!/usr/bin/env bash
# Two runs of train_bundled.sh side by side on one build, the same data with and without the Whisper teacher
# (issue 24: what the teacher adds), for one device command; the same command again goes on (resume).
#   MODE=clips NUM_TRAIN=60000 CONFIG=configs/sam-small.toml WORK=runs/sam-small-work CALL_SECONDS=570 \
#       bash scripts/train_pair.sh OUTDIR TRAIN_SECONDS
# The sources come as data/sources.tgz, or in parts (data/sources.tgz.part-*) carried over several commands.
# TEACHER: the CTranslate2 Whisper folder (runs/distill-teacher). OUTDIR gets plain/ and distill/ (each run's
# checkpoint or model parts) and logs.tgz: the device returns at most 8 files.
set -uo pipefail
out=${1:?usage: train_pair.sh OUTDIR TRAIN_SECONDS}
budget=${2:?usage: train_pair.sh OUTDIR TRAIN_SECONDS}
t0=$(date +%s)
call=${CALL_SECONDS:-0}
work=${WORK:?set WORK: the build both runs share}
half=$(( $(nproc) / 2 - 1 ))
mkdir -p "$out"
if [ ! -f "${SOURCES:-data/sources}/sources.json" ] && [ ! -f data/sources.tgz ]; then
  cat data/sources.tgz.part-* >data/sources.tgz || exit 1
fi
BUILD_ONLY=1 bash scripts/train_bundled.sh "$out" 2>>"$out/build.log" || { tail -5 "$out/build.log" >&2; exit 1; }
if [ ! -f "$work/scenes/train.json" ]; then
  echo "the build is not finished: run the same command again" >&2
  exit 0
fi
left=0
[ "$call" -gt 0 ] && left=$(( call - ($(date +%s) - t0) ))
CALL_SECONDS=$left RUN=plain WORKERS=${WORKERS:-$half} bash scripts/train_bundled.sh "$out/plain" "$budget" \
  >>"$out/plain.log" 2>&1 &
pid=$!
CALL_SECONDS=$left RUN=distill WORKERS=${WORKERS:-$half} \
  TRAIN_ARGS="--distill-teacher ${TEACHER:-runs/distill-teacher} ${TRAIN_ARGS:-}" \
  bash scripts/train_bundled.sh "$out/distill" "$budget" >>"$out/distill.log" 2>&1
rc_d=$?
wait "$pid"
rc_p=$?
tail -n 3 "$out/plain.log" "$out/distill.log" >&2
(cd "$out" && find . -type f ! -name '*.part-*' ! -name logs.tgz | tar -czf logs.tgz -T - --remove-files)
echo "plain: exit $rc_p, distill: exit $rc_d, $(( $(date +%s) - t0 )) s" >&2
[ "$rc_p" = 0 ] && [ "$rc_d" = 0 ]
