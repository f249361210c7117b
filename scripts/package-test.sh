#!/usr/bin/env bash
# Builds the packages (scripts/package.sh: wheels, bare binaries, npm tarballs and their sums
# in dist/, for x86_64 and aarch64) and tests them as their users install and run them
# (tests/packages/, each binary against a real dev server on free loopback ports):
#  - test_packages.py: the wheels and `pip install .` in fresh virtualenvs, the tarballs with
#    `npm install` in fresh folders, the launcher's signals and codes, the sums;
#  - test_glibc_floor.py: every built binary needs at most GLIBC_2.17, read from the binary;
#  - test_debian11.py: the x86_64 binary and wheel in a Debian 11 root (glibc 2.31);
#  - test_aarch64.py: the aarch64 binary and wheel under qemu-user: check, run, signals;
#  - test_images.py: the Dockerfile's images for amd64 and arm64 from the release binaries;
# and the crate: `cargo package --locked` and `cargo publish --dry-run --locked` (nothing is
# uploaded). Installs what these need when missing, with apt (as root): qemu-user-static and
# libc6:arm64, debootstrap, docker.io. Prints the time each step took.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "package-test: needs root (apt, chroot, a Docker engine of its own)" >&2
  exit 1
fi
missing=()
[[ -x /usr/bin/qemu-aarch64-static ]] || missing+=(qemu-user-static)
dpkg-query -W -f '${Status}\n' libc6:arm64 2>/dev/null | grep -q 'ok installed' || missing+=(libc6:arm64)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[[ -x /usr/sbin/dockerd && -x /usr/bin/docker ]] || missing+=(docker.io)
if ((${#missing[@]})); then
  echo "package-test: installing ${missing[*]} with apt"
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  # Installing docker.io must not start the system's Docker daemon (it would make the docker0
  # bridge): policy-rc.d says no to service starts during the install.
  policy_rc_d=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_rc_d=made
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ -n $policy_rc_d ]]; then rm -f /usr/sbin/policy-rc.d; fi
fi

step_start=0
step() { step_start=$(date +%s); echo "package-test: $*"; }
took() { echo "package-test: ... $(( $(date +%s) - step_start )) s"; }

step "the packages (scripts/package.sh)"
./scripts/package.sh
took

# The crate as crates.io would take it. A checkout with uncommitted changes (a developer's)
# is packaged as it is; CI's clean clone is packaged as committed. `cargo package` verifies
# the tarball by building it (the crate alone, without the dev-dependencies' features, so
# none of cargo test's artifacts fit) in a target directory in the cache outside the clone:
# every clone after the first compiles only the crate. `cargo publish --dry-run` then checks
# what an upload checks of the same tarball, without building it a second time.
dirty=()
[[ -z $(git status --porcelain) ]] || dirty=(--allow-dirty)
export CARGO_TARGET_DIR
CARGO_TARGET_DIR=$(scripts/cache-dir.sh)/crate-target
step "cargo package --locked${dirty:+ ${dirty[*]}}, cargo publish --dry-run --no-verify --locked${dirty:+ ${dirty[*]}}"
cargo package --locked --quiet "${dirty[@]}"
cargo publish --dry-run --no-verify --locked --quiet "${dirty[@]}"
crate=$CARGO_TARGET_DIR/package/temporal-supervisor-$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1).crate
tar -tzf "$crate" | grep -x 'temporal-supervisor-[0-9.]*/LICENSE-APACHE' >/dev/null \
  || { echo "package-test: $crate has no LICENSE-APACHE" >&2; exit 1; }
echo "package-test: $crate ($(stat -c %s "$crate") bytes, $(tar -tzf "$crate" | wc -l) files)"
took

unset CARGO_TARGET_DIR
step "the tests (tests/packages/)"
.venv/bin/python -m unittest discover -v -s tests/packages -t tests/packages
took
