#!/usr/bin/env bash
# Benchmarks (not tests): builds the release binary and compares it side by side with the
# alternatives in one run. Arguments go to bench/bench.py (--runs N, --lag-trials K).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
if [[ ! -x /usr/bin/time ]]; then
  echo "bench: GNU time measures peak RSS; installing the Debian package 'time'" >&2
  apt-get install -y time >/dev/null
fi
cargo build --release --locked --quiet
exec .venv/bin/python bench/bench.py "$@"
