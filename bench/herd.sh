#!/usr/bin/env bash
# The fleet benchmark (not a test): N supervisors against one dev server, in several
# configurations side by side (and, with --baseline REF, an earlier release); see
# bench/herd.py. Builds the release binaries (a baseline in a git worktree under target/,
# never committed).
#
#   ./bench/herd.sh [--baseline REF] [--supervisors N] [--idle SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=""
args=()
while (($#)); do
  case $1 in
    --baseline) baseline=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

./scripts/setup.sh
cargo build --release --locked --quiet
if [[ -n $baseline ]]; then
  worktree=target/baseline-src
  if [[ "$(git -C "$worktree" rev-parse HEAD 2>/dev/null)" != "$(git rev-parse "$baseline^{commit}")" ]]; then
    git worktree remove --force "$worktree" 2>/dev/null || rm -rf "$worktree"
    git worktree add --detach "$worktree" "$baseline" >/dev/null
  fi
  CARGO_TARGET_DIR="$PWD/target/baseline" cargo build --release --locked --quiet \
    --manifest-path "$worktree/Cargo.toml"
  args+=(--baseline-binary target/baseline/release/temporal-supervisor
         --baseline-name "release $(git rev-parse --short "$baseline")")
fi
# Each supervisor keeps a few descriptors open; a herd needs more than the usual 1024.
ulimit -n "$(ulimit -Hn)"
exec .venv/bin/python bench/herd.py "${args[@]}"
