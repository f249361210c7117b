#!/usr/bin/env bash
# Builds the packages into dist/ (git-ignored), for Linux on x86_64 and aarch64 with glibc 2.17
# or newer, from one release build per architecture:
#  - the Python wheels (scripts/cross-build.sh: `maturin build --zig`, manylinux2014, checked
#    by maturin's auditwheel, nothing bundled; cached by content outside the clone);
#  - the bare binaries, taken out of the wheels: dist/linux-amd64/temporal-supervisor and
#    dist/linux-arm64/temporal-supervisor (what the Dockerfile's `prebuilt` stage copies);
#  - the npm packages (npm/, staged by scripts/stage_packages.py): the launcher package and
#    one platform package per architecture with that binary, Cargo.toml's version and
#    description in each package.json, then `npm pack`: temporal-supervisor-VERSION.tgz,
#    temporal-supervisor-linux-x64-VERSION.tgz and temporal-supervisor-linux-arm64-VERSION.tgz;
#  - dist/SHA256SUMS, the sums of all of them (`cd dist && sha256sum -c SHA256SUMS`).
# The example worker image (scripts/docker-test.sh) installs the x86_64 wheel;
# scripts/package-test.sh tests all.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh   # maturin, in .venv
./scripts/cross-build.sh
rm -rf dist/npm dist/linux-* dist/temporal-supervisor-*.tgz dist/SHA256SUMS
.venv/bin/python scripts/stage_packages.py
npm pack --silent --pack-destination dist ./dist/npm/temporal-supervisor ./dist/npm/linux-x64 \
  ./dist/npm/linux-arm64 >/dev/null
(cd dist && sha256sum temporal_supervisor-*.whl temporal-supervisor-*.tgz linux-*/temporal-supervisor >SHA256SUMS)
(cd dist && find temporal_supervisor-*.whl temporal-supervisor-*.tgz linux-*/temporal-supervisor -printf '%p %s\n') \
  | while read -r file size; do echo "package: dist/$file ($size bytes)"; done
