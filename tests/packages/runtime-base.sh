#!/usr/bin/env bash
# A local stand-in for gcr.io/distroless/cc-debian12:nonroot, the runtime base of the project's
# Dockerfile, for one architecture (amd64 or arm64), since no image registry can be reached:
# made as distroless makes it, from Debian's packages unpacked without running anything
# (libc6 and libgcc-s1 of that architecture, `apt-get download` + `dpkg-deb -x`), with the
# CA bundle, the nonroot user (65532) and no shell; built from Dockerfile.runtime-base with
# `--platform linux/ARCH`, so that the image says its architecture (`docker import
# --platform` needs an experimental daemon). Used by tests/packages/test_images.py.
#
#   tests/packages/runtime-base.sh ARCH TAG     (DOCKER: the client to use)
set -euo pipefail

arch=$1 tag=$2
docker=${DOCKER:-/usr/bin/docker}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download -qq "libc6:$arch" "libgcc-s1:$arch" 2>/dev/null) || {
  echo "runtime-base: apt-get download libc6:$arch libgcc-s1:$arch failed" \
    "(is $arch among dpkg's architectures, and apt's lists updated?)" >&2
  exit 1
}
root=$work/root
mkdir -p "$root"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$root"; done
rm -rf "$root"/usr/share/doc "$root"/usr/share/lintian "$root"/usr/share/locale

mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$work/home"
chmod 1777 "$root/tmp"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$root/etc/group"

DOCKER_BUILDKIT=1 "$docker" build --quiet --platform "linux/$arch" \
  -f "$(dirname "$0")/Dockerfile.runtime-base" -t "$tag" "$work" >/dev/null
echo "runtime-base: $tag ($(du -sh "$root" | cut -f1), $(ls "$work" | grep -c '\.deb$') packages)" >&2
