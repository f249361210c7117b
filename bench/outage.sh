#!/usr/bin/env bash
# The outage benchmark (not a test): a Python SDK worker with activities in flight through a
# Temporal outage, bare, under `run` at its defaults and under `run --on-disconnect restart`;
# see bench/outage.py.
#
#   ./bench/outage.sh [--outages 3,30,120] [--activity 8] [--workflows 5]
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release --locked --quiet
exec .venv/bin/python bench/outage.py "$@"
