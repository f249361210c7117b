#!/usr/bin/env bash
# The health endpoint under a flood (not a test): this build side by side with a baseline
# build, one after the other in one run; see bench/flood.py. Builds both release binaries,
# the baseline from a git worktree in a temporary directory (never committed), and installs
# wrk with apt when it is missing.
#
#   ./bench/flood.sh [--baseline REF] [--connections N] [--slow N] [--wrk-seconds S] [--probes N]
set -euo pipefail
cd "$(dirname "$0")/.."

# The release before the bounded health server: what the README's figures compare against.
baseline=576f63f
args=()
while (($#)); do
  case $1 in
    --baseline) baseline=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

./scripts/setup.sh
if ! command -v wrk >/dev/null; then
  echo "bench: installing the Debian package 'wrk'" >&2
  apt-get install -y wrk >/dev/null
fi
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ts-flood-baseline.XXXXXX")
trap 'git worktree remove --force "$scratch/src" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
git worktree add --quiet --detach "$scratch/src" "$baseline"
# Built in this clone's build directory, so that both builds share their dependencies; the
# baseline's binary is copied out before ours replaces it.
CARGO_TARGET_DIR="$PWD/target" cargo build --release --locked --quiet \
  --manifest-path "$scratch/src/Cargo.toml"
cp target/release/temporal-supervisor "$scratch/baseline"
cargo build --release --locked --quiet
# The flooder holds one descriptor per connection.
ulimit -n "$(ulimit -Hn)"
.venv/bin/python bench/flood.py bench --baseline-binary "$scratch/baseline" \
  --baseline-name "release $(git rev-parse --short "$baseline")" "${args[@]}"
