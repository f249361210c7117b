#!/usr/bin/env bash
# A Debian 11 (bullseye: glibc 2.31, Python 3.9, pip 20.3) root to install and run the
# packages in (tests/packages/test_debian11.py), as on the worker images still based on it:
# `debootstrap --variant=minbase` with python3 and python3-venv, from the Debian archive apt is
# configured with (tests/docker/helpers.py apt-source, as scripts/docker-test.sh's base).
# Installs debootstrap when missing (apt, as root).
#
# Cached outside the clone (scripts/cache-dir.sh's folder), keyed by a hash of this file and the
# archive: a change to either makes a new root, otherwise the cached one is used (about a
# minute to make). Prints the root's path.
#
#   tests/packages/debian11-root.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

suite=bullseye
packages=python3,python3-venv
if [[ $(id -u) -ne 0 ]]; then
  echo "debian11-root: needs root (debootstrap, and chroot to use the root)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  echo "debian11-root: installing debootstrap with apt" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
read -r mirror keyring < <(.venv/bin/python tests/docker/helpers.py apt-source bookworm)
cache=$(scripts/cache-dir.sh)
key=$( { cat "$0"; echo "$mirror"; } | sha256sum | cut -c1-12)
root=$cache/debian11-$key/root

exec 8>"$cache/debian11.lock"
flock 8
if [[ ! -x $root/usr/bin/python3 ]]; then
  for old in "$cache"/debian11-*/; do   # other keys' roots, and a half-made one
    [[ -d $old ]] && rm -rf --one-file-system "$old"
  done
  work=$cache/debian11-$key/making
  mkdir -p "$work"
  cleanup() {
    # debootstrap mounts /proc and /sys in the new root, and may leave them when interrupted.
    findmnt -rn -o TARGET | grep -F "$work/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$work"
  }
  trap cleanup EXIT
  echo "debian11-root: debootstrap --variant=minbase $suite from $mirror (with $packages)" >&2
  keyring_opt=()
  [[ $keyring != - ]] && keyring_opt=(--keyring "$keyring")
  if ! debootstrap --variant=minbase --include="$packages" "${keyring_opt[@]}" \
      "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    echo "debian11-root: debootstrap failed (log above)" >&2
    exit 1
  fi
  rm -rf "$work"/root/var/cache/apt/archives/*.deb "$work"/root/var/lib/apt/lists/*
  mv "$work/root" "$root"
fi
echo "$root"
