#!/usr/bin/env bash
# Two runs side by side on one build, the same data with and without the Whisper teacher (issue 24: what the
# teacher adds): train_many.sh with RUNS plain and distill, half the cores' data workers each.
#   MODE=clips NUM_TRAIN=60000 CONFIG=configs/sam-small.toml WORK=runs/sam-small-work CALL_SECONDS=570 \
#       bash scripts/train_pair.sh OUTDIR TRAIN_SECONDS
# TEACHER: the CTranslate2 Whisper folder (runs/distill-teacher). The sources may come in parts
# (data/sources.tgz.part-*) carried over several commands.
half=$(( $(nproc) / 2 - 1 ))
config=${CONFIG:-configs/sam-tiny.toml}
w=${WORKERS:-$half}
RUNS="plain|$config|$w||${TRAIN_ARGS:-};distill|$config|$w||--distill-teacher ${TEACHER:-runs/distill-teacher} ${TRAIN_ARGS:-}" \
  EVAL_RUNS=${EVAL_RUNS:-$([ -n "${SKIP_EVAL:-}" ] || echo plain,distill)} exec bash "$(dirname "$0")/train_many.sh" "$@"
