#!/usr/bin/env bash
# Validates the shipped examples so they cannot rot (the example workers themselves run in
# tests/example_workers.rs):
# - hadolint on the Dockerfiles: the project's, the example worker's, the real-engine test's
#   dev-server image and the package tests' runtime base (exceptions are justified inline);
# - kubernetes-validate --strict on every Kubernetes manifest (a worker-controller
#   WorkerDeployment's pod template as the Deployment the controller makes of it, its custom
#   resources against the fields their CRDs require), every --stop-timeout shorter than its
#   pod's terminationGracePeriodSeconds, and each `watch` sidecar wired as its pod needs (the
#   workers' startup and readiness probes on its --health-listen port, task queues, no liveness
#   probe on readiness; with an endpoint, the workers connected to it and drained by a preStop
#   hook on /drain: the list is in the Python below);
# - docker-compose's own validation of the Compose file, alone and with the real-engine
#   test's overrides (Debian's docker-compose, installed here when missing: no Docker engine is
#   needed to validate; scripts/docker-test.sh runs them in one).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
.venv/bin/hadolint Dockerfile examples/compose/Dockerfile.worker tests/docker/Dockerfile.temporal \
  tests/packages/Dockerfile.runtime-base
manifests=$(mktemp -d)
trap 'rm -rf "$manifests"' EXIT
.venv/bin/python scripts/check_manifests.py "$manifests" examples/kubernetes/*.yaml
.venv/bin/kubernetes-validate --strict --quiet "$manifests"/*.yaml
if ! command -v docker-compose >/dev/null; then
  echo "check-examples: installing Debian's docker-compose to validate the Compose file" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "check-examples: needs root to apt-get install docker-compose (or install it yourself)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
docker-compose -f examples/compose/docker-compose.yml config --quiet
# The overrides take their images and ports from the environment (scripts/docker-test.sh).
TS_PYTHON_IMAGE=python-base TS_TEMPORAL_IMAGE=temporal TS_TEMPORAL_PORT=7233 \
  TS_TEMPORAL_HTTP_PORT=7243 TS_TEMPORAL_METRICS_PORT=9090 TS_HEALTH_DOCUMENT=8081 \
  TS_HEALTH_CHAT=8082 TS_HEALTH_S3=8083 TS_HEALTH_AZURE=8084 TS_HEALTH_WEBHOOK=8085 \
  bash -c 'base=(-f examples/compose/docker-compose.yml -f tests/docker/compose.test.yml)
    docker-compose "${base[@]}" config --quiet
    docker-compose "${base[@]}" -f tests/docker/compose.seed.yml config --quiet'
echo "examples: Dockerfiles, Kubernetes manifests and the Compose file (with the test's overrides) are valid"
