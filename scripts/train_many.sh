#!/usr/bin/env bash
# Several runs of train_bundled.sh side by side on one build and one GPU, for one device command; the same
# command again goes on (resume). Used for the bundled model beside the comparisons it shares a GPU with
# (issue 24's teacher with and without; issue 22's EAT against Audio Mamba).
#   RUNS="NAME|CONFIG|WORKERS|STEPS|TRAIN_ARGS;..." MODE=clips WORK=runs/work CALL_SECONDS=570 \
#       bash scripts/train_many.sh OUTDIR TRAIN_SECONDS
# Per run, separated by "|": its folder name in WORK (and in OUTDIR), its config, its data-loading processes,
# its steps (empty: sized by its own calibration to TRAIN_SECONDS; a number gives every run the same steps
# whatever its speed, for a comparison at equal steps) and more `sam train` options. EVAL_RUNS (names, comma
# separated) are evaluated at the end (train_bundled.sh's evaluation, its tables and JSON in logs.tgz; the others skip it), NOSHIP_RUNS send no
# checkpoint back at a pause (the device returns at most 8 files, 64 MiB). The build and every other variable
# are train_bundled.sh's. OUTDIR gets one folder a run and logs.tgz.
set -uo pipefail
out=${1:?usage: train_many.sh OUTDIR TRAIN_SECONDS}
budget=${2:?usage: train_many.sh OUTDIR TRAIN_SECONDS}
runs=${RUNS:?set RUNS: NAME|CONFIG|WORKERS|STEPS|TRAIN_ARGS;...}
t0=$(date +%s)
call=${CALL_SECONDS:-0}
work=${WORK:?set WORK: the build the runs share}
mkdir -p "$out"
if [ ! -f "${SOURCES:-data/sources}/sources.json" ] && [ ! -f data/sources.tgz ] && ls data/sources.tgz.part-* >/dev/null 2>&1; then
  cat data/sources.tgz.part-* >data/sources.tgz || exit 1
fi
BUILD_ONLY=1 bash scripts/train_bundled.sh "$out" 2>>"$out/build.log" || { tail -5 "$out/build.log" >&2; exit 1; }
if [ ! -f "$work/scenes/train.json" ]; then
  echo "the build is not finished: run the same command again" >&2
  exit 0
fi
left=0
[ "$call" -gt 0 ] && left=$(( call - ($(date +%s) - t0) ))
pids=(); names=()
IFS=';' read -r -a specs <<<"$runs"
for spec in "${specs[@]}"; do
  IFS='|' read -r name config workers steps args <<<"$spec"
  [ -n "$name" ] || continue
  [ -n "$steps" ] && [ ! -f "$work/$name.steps" ] && echo "$steps" >"$work/$name.steps"
  skip=1; [[ ",${EVAL_RUNS:-}," == *",$name,"* ]] && skip=
  ship=1; [[ ",${NOSHIP_RUNS:-}," == *",$name,"* ]] && ship=0
  CALL_SECONDS=$left RUN=$name CONFIG=$config WORKERS=$workers TRAIN_ARGS="$args" SKIP_EVAL=$skip SHIP=$ship \
    bash scripts/train_bundled.sh "$out/$name" "$budget" >>"$out/$name.log" 2>&1 &
  pids+=($!); names+=("$name")
done
status=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"; rc=$?
  echo "${names[$i]}: exit $rc" >&2
  tail -n 2 "$out/${names[$i]}.log" >&2
  [ "$rc" = 0 ] || status=1
done
(cd "$out" && find . -type f ! -name '*.part-*' ! -name logs.tgz | tar -czf logs.tgz -T - --remove-files)
echo "$(( $(date +%s) - t0 )) s" >&2
exit $status
