#!/usr/bin/env bash
# The GPU fast path in one command on the lent GPU machine: install the kernels, run `pytest -m gpu`, the
# decode and end-to-end benchmarks, and print a short table last. Logs and JSON go to $OUT.
#
#   device run, from the repo root, carrying .gpu and .whl:   bash benchmarks/gpu_suite.sh [all|tests|bench]
#
# "tests" and "bench" split the work over two device calls when one is too short for both (Triton compiles
# every kernel afresh on a new machine: expect 1-2 minutes of compilation in the tests alone).
#
# DECODE_ARGS and E2E_ARGS replace the benchmarks' default arguments (e.g. DECODE_ARGS="--sizes 130m
# --batches 1,64 --skip transformer" to iterate on one shape). PROFILE_ARGS, when set, also runs
# profile_decode.py with them after the benchmarks (kernel times per step). TILES_ARGS, when set, first
# runs bench_ssm_tiles.py with them (use "--sizes 130m" or similar: it needs at least one argument), and
# GEMV_ARGS the same for bench_gemv.py (the batch-1 matrix-vector kernels per config against cuBLAS), and
# GRAPHS_ARGS for bench_graphs.py (the prefill and the encoder eager against their CUDA graphs).
#
# Each stage gets what is left of SUITE_SECONDS (default 510 s, for a 540 s device command), so a slow
# stage cannot starve the table. Benchmarks print one JSON line per finished row; the tables are rebuilt
# from those lines at the end (--table-from), so a stage cut short still reports what it measured.
set -u
WHAT=${1:-all}
OUT=${OUT:-/tmp/gpu_suite}
mkdir -p "$OUT"
T0=$(date +%s)
BUDGET=${SUITE_SECONDS:-510}
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
cap() { local l v; l=$(left); v=$1; [ "$v" -gt "$l" ] && v=$l; [ "$v" -lt 5 ] && v=5; echo "$v"; }  # min(arg, left), >= 5

eval "$(bash .gpu/setup.sh)"
python3 -m pip install -q --no-index --no-deps --target /tmp/site2 .whl/*.whl 2>&1 | tail -2
export PYTHONPATH=.:/tmp/site2:${PYTHONPATH:-} PYTHONUNBUFFERED=1
# One autotuning config per mamba_ssm Triton kernel: the tuned chunk-scan configs would cost minutes of
# compilation in every process; upstream and ours run the same kernels either way.
export MAMBA_DETERMINISTIC=1
export SAM_GPU_TEST_REPORT="$OUT/test_errors.tsv"

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv
  python3 -c "import torch, triton, transformers; print('torch', torch.__version__, 'triton', triton.__version__, 'transformers', transformers.__version__)"
  python3 -c "from sam_cli.accel import kernels; print('kernels available:', kernels.available(), kernels.why_unavailable(), 'causal_conv1d:', kernels.conv_available())"
  git log -1 --format='commit %h %s' 2>/dev/null || true
} 2>&1 | tee "$OUT/env.txt"

# STARTUP_ARGS, when set, first runs bench_startup.py with them (fresh `sam describe` processes on a fresh
# Triton cache: a new machine's first command, then later ones), for at most STARTUP_SECONDS (default 300).
if [ -n "${STARTUP_ARGS:-}" ]; then
  echo "== bench_startup ($(left) s left)"
  timeout "$(cap "${STARTUP_SECONDS:-300}")" python3 benchmarks/bench_startup.py $STARTUP_ARGS --json "$OUT/startup.json" \
    > "$OUT/startup.log" 2>&1
  echo "bench_startup exit $?" >> "$OUT/startup.log"
  grep -v "^{" "$OUT/startup.log" | tail -12
fi

if [ "$WHAT" != bench ]; then
  echo "== pytest -m gpu ($(left) s left)"
  limit=$( [ "$WHAT" = tests ] && echo $(( $(left) - 5 )) || echo 280 )
  timeout "$(cap "$limit")" python3 -m pytest -m gpu tests/test_gpu.py -q -rfE --durations=12 -p no:cacheprovider \
    > "$OUT/pytest.log" 2>&1
  echo "pytest exit $?" >> "$OUT/pytest.log"
  tail -30 "$OUT/pytest.log"
fi

# An optional kernel benchmark: name, script, its arguments (unset: skipped); a third of the time left.
kernel_bench() {
  [ "$WHAT" = tests ] || [ -z "$3" ] && return
  echo "== $1 ($(left) s left)"
  timeout "$(cap $(( $(left) / 3 )))" python3 "benchmarks/$2" $3 --json "$OUT/$1.json" > "$OUT/$1.log" 2>&1
  echo "$1 exit $?" >> "$OUT/$1.log"
  grep -v "^{" "$OUT/$1.log" | tail -30
}
kernel_bench tiles bench_ssm_tiles.py "${TILES_ARGS:-}"
kernel_bench gemv bench_gemv.py "${GEMV_ARGS:-}"
kernel_bench graphs bench_graphs.py "${GRAPHS_ARGS:-}"

if [ "$WHAT" != tests ]; then
  echo "== bench_decode ($(left) s left)"
  timeout "$(cap $(( $(left) * 3 / 5 )))" python3 benchmarks/bench_decode.py ${DECODE_ARGS:---repeats 3} --json "$OUT/decode.json" \
    > "$OUT/decode.log" 2>&1
  echo "bench_decode exit $?" >> "$OUT/decode.log"

  echo "== bench_e2e ($(left) s left)"
  timeout "$(cap $(( $(left) - 8 )))" python3 benchmarks/bench_e2e.py ${E2E_ARGS:---files 1024 --workers 8,8p,14p} --json "$OUT/e2e.json" \
    > "$OUT/e2e.log" 2>&1
  echo "bench_e2e exit $?" >> "$OUT/e2e.log"

  if [ -n "${PROFILE_ARGS:-}" ]; then
    echo "== profile_decode ($(left) s left)"
    timeout "$(cap $(( $(left) - 8 )))" python3 benchmarks/profile_decode.py $PROFILE_ARGS > "$OUT/profile.log" 2>&1
    echo "profile_decode exit $?" >> "$OUT/profile.log"
    grep -v "^{" "$OUT/profile.log" | tail -25
  fi

  echo "== summary ($(left) s left)"
  grep -E "Error|error|Traceback" "$OUT/decode.log" "$OUT/e2e.log" | head -20
  python3 benchmarks/bench_e2e.py --table-from "$OUT/e2e.log"
  python3 benchmarks/bench_decode.py --table-from "$OUT/decode.log"
fi
[ -f "$OUT/pytest.log" ] && grep -E "passed|failed|error" "$OUT/pytest.log" | tail -3
