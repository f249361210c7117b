#!/usr/bin/env bash
# The rollout benchmark (not a test): a Python SDK worker with activities in flight stopped by
# SIGTERM beside a surge pod, bare (SDK defaults, and as the SDK's docs advise), under
# `run --endpoint=false` and under `run` (drained through its endpoint); see bench/rollout.py.
#
#   ./bench/rollout.sh [--activity 15] [--workflows 5] [--grace 40] [--in-flight-for 3]
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release --locked --quiet
exec .venv/bin/python bench/rollout.py "$@"
