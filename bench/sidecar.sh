#!/usr/bin/env bash
# The sidecar's cost to the server (not a test): `watch` with one and three task queues beside
# `run`, each against its own dev server, counted by the server; see bench/sidecar.py.
#
#   ./bench/sidecar.sh [--idle SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked --quiet
exec .venv/bin/python bench/sidecar.py "$@"
