#!/usr/bin/env bash
# Fuzzes every target (or those named) for SECONDS each (default 300), then minimises the
# committed corpus (`cargo fuzz cmin`). Needs the nightly toolchain and cargo-fuzz (installed
# with `cargo install cargo-fuzz` when missing); the test command only replays the corpus,
# on stable (tests/fuzz_corpus.rs). Crashes land in fuzz/artifacts/TARGET/.
#
#   ./fuzz/run.sh [--seconds N] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300
targets=()
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=(config_file profile_file duration address signal identity)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

mkdir -p fuzz/artifacts
for target in "${targets[@]}"; do
  flags=(-max_total_time="$seconds" -rss_limit_mb=512 -timeout=5 -max_len=4096 -print_final_stats=1)
  [[ -f fuzz/dicts/$target.dict ]] && flags+=(-dict="fuzz/dicts/$target.dict")
  log=fuzz/artifacts/$target.log
  # Safe Rust only: no sanitizer, so more executions; panics, aborts, hangs (-timeout) and
  # memory (-rss_limit_mb) are what is looked for.
  if cargo +nightly fuzz run --sanitizer none "$target" -- "${flags[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and fuzz/artifacts/$target/)"
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
  # Edges only, not hit counts, chosen by set cover: hundreds of files instead of thousands.
  cargo +nightly fuzz cmin --sanitizer none "$target" -- -use_counters=0 -set_cover_merge=1 >/dev/null 2>&1
  echo "$target: ${runs:-0} executions in ${seconds}s, $(ls "fuzz/corpus/$target" | wc -l) corpus files: $result"
done
