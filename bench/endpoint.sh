#!/usr/bin/env bash
# The endpoint's cost (not a test): short workflows per second through the local endpoint
# against a worker connected directly, the latency it adds to an RPC, its memory per
# connection and under large payloads; see bench/endpoint.py.
#
#   ./bench/endpoint.sh [--seconds 90] [--warm-up 10] [--concurrency 10] [--sequential 100]
#                       [--rpcs 2000] [--connections 200] [--big-runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release --locked --quiet
exec .venv/bin/python bench/endpoint.py "$@"
