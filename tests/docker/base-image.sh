#!/usr/bin/env bash
# Makes the local base image of the project's real-engine test (scripts/docker-test.sh), which
# cannot pull images: Debian bookworm (minbase) from the archive apt is configured with, with
# Python 3.11 in a virtualenv at /opt/venv whose python and pip come first on PATH.
#
#   tests/docker/base-image.sh TAG MIRROR KEYRING|-
#
# It stands in for python:3.11-slim-bookworm (the worker image's base: `pip install` works as
# there, without Debian's "externally managed" refusal), for temporalio/auto-setup's base (the
# dev-server image) and for gcr.io/distroless/static-debian12 (the runtime stage of the
# project's Dockerfile, whose test binary is a glibc build). Outbound TLS on these machines
# goes through an intercepting proxy, so the host's extra CA certificates are trusted inside
# too (and pip is told to use the system's bundle), as on the host itself.
#
# The test keys the image's tag by a hash of this file, the mirror and those certificates: a
# change to any of them makes a new image; otherwise the cached one is used.
set -euo pipefail

tag=$1 mirror=$2 keyring=$3
suite=bookworm
packages=python3,python3-venv,ca-certificates
docker=${DOCKER:-/usr/bin/docker}

work=$(mktemp -d /var/cache/temporal-supervisor/base-image.XXXXXX)
cleanup() {
  # debootstrap mounts /proc and /sys in the new root, and may leave them on when interrupted:
  # unmount whatever is below the work directory, and never cross into another file system.
  findmnt -rn -o TARGET | grep -F "$work/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

rootfs=$work/rootfs
echo "base image: debootstrap --variant=minbase $suite from $mirror (with $packages)" >&2
keyring_opt=()
[[ $keyring != - ]] && keyring_opt=(--keyring "$keyring")
if ! debootstrap --variant=minbase --include="$packages" "${keyring_opt[@]}" \
    "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log" >&2
  echo "base image: debootstrap failed (log above)" >&2
  exit 1
fi

# The host's extra CA certificates (the intercepting proxy's), trusted as on the host.
cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"

# python:3.11-slim has python and pip first on PATH and lets pip install into its Python.
chroot "$rootfs" python3 -m venv /opt/venv
chroot "$rootfs" /opt/venv/bin/python --version >/dev/null

# Slim, like the images it stands for: no package lists or downloaded packages.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*

tar --numeric-owner -C "$rootfs" -c . | "$docker" import \
  --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$tag" >/dev/null
echo "base image: $tag ($(du -sh --one-file-system "$rootfs" | cut -f1))" >&2
