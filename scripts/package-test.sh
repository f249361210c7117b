#!/usr/bin/env bash
# Builds the packages (scripts/package.sh: the release wheel and the npm tarballs, in dist/)
# and tests them as their users install them (tests/packages/test_packages.py): the wheel and
# `pip install .` in fresh virtualenvs, the tarballs with `npm install` in fresh folders, each
# binary run from where its installer put it against a real dev server.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/package.sh
.venv/bin/python tests/packages/test_packages.py -v
