#!/usr/bin/env bash
# Builds the packages into dist/ (git-ignored) from one release build:
#  - the Python wheel, with maturin (pyproject.toml): `maturin build --release`, whose own
#    auditwheel check gives it a manylinux tag and fails if the binary needs a library outside
#    the manylinux policy (it is not repaired: nothing may be bundled);
#  - the npm packages (npm/): the binary taken out of that wheel into a copy of the linux-x64
#    platform package, Cargo.toml's version and description written into both package.json
#    files, then `npm pack`: temporal-supervisor-VERSION.tgz and
#    temporal-supervisor-linux-x64-VERSION.tgz.
# The release build lands in target/release, so a second run only packs again. The example
# worker image (scripts/docker-test.sh) installs this wheel; scripts/package-test.sh tests all.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh   # maturin, in .venv
rm -rf dist/npm dist/temporal_supervisor-*.whl dist/temporal-supervisor-*.tgz
.venv/bin/maturin build --release --locked --auditwheel check --out dist --quiet
wheels=(dist/temporal_supervisor-*.whl)
[[ ${#wheels[@]} == 1 ]] || { echo "package: expected one wheel in dist/, found ${wheels[*]}" >&2; exit 1; }

.venv/bin/python - "${wheels[0]}" <<'PY'
"""Stages the npm packages in dist/npm: the binary from the wheel, the crate's metadata."""
import json
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

crate = tomllib.loads(Path("Cargo.toml").read_text())["package"]
stage = Path("dist/npm")
for name in ("temporal-supervisor", "linux-x64"):
    shutil.copytree(Path("npm") / name, stage / name)
    for licence in ("LICENSE-MIT", "LICENSE-APACHE"):
        shutil.copy(licence, stage / name)

main = json.loads((stage / "temporal-supervisor/package.json").read_text())
platform = json.loads((stage / "linux-x64/package.json").read_text())
for package in (main, platform):
    del package["//"]
    package["version"] = crate["version"]
main["description"] = crate["description"]
platform["description"] = f"The linux-x64 (glibc) binary of {main['name']}: {crate['description']}"
main["optionalDependencies"] = {platform["name"]: crate["version"]}
for package, folder in ((main, "temporal-supervisor"), (platform, "linux-x64")):
    (stage / folder / "package.json").write_text(json.dumps(package, indent=2) + "\n")

binary = stage / "linux-x64/bin/temporal-supervisor"
binary.parent.mkdir()
with zipfile.ZipFile(sys.argv[1]) as wheel:
    [member] = [n for n in wheel.namelist() if n.endswith(".data/scripts/temporal-supervisor")]
    binary.write_bytes(wheel.read(member))
binary.chmod(0o755)
PY
npm pack --silent --pack-destination dist ./dist/npm/temporal-supervisor ./dist/npm/linux-x64 >/dev/null
ls -l dist/*.whl dist/*.tgz | awk '{ printf "package: %s (%d bytes)\n", $NF, $5 }'
