#!/usr/bin/env bash
# The release wheels for Linux on x86_64 and aarch64, for glibc 2.17 and newer
# (manylinux2014), into dist/: `maturin build --zig` from this x86_64 machine, with zig as the
# linker (and C compiler, for ring) and glibc 2.17's symbols as the link target, checked by
# maturin's auditwheel (nothing bundled). Each wheel carries the binary, which
# scripts/package.sh takes from it for the npm packages and the container images.
#
#  - x86_64 with the normal stable toolchain (rustup's cargo and rustc);
#  - aarch64 with Debian's rustc-web and cargo-web (Rust 1.96), the only compiler here that has
#    an aarch64 standard library (libstd-rust-web-dev:arm64); the product itself is built and
#    tested with the stable toolchain, this is a packaging step only.
#
# What it installs when missing: those Debian packages (apt, as root; arm64 added to dpkg's
# architectures), and zig (the `ziglang` package of PyPI) into .venv-packaging, a git-ignored
# virtualenv of its own.
#
# The builds take minutes (4 for x86_64, 7 for aarch64 from cold, on 2 cores), so they are
# cached outside the clone, in cross/ of scripts/cache-dir.sh's folder (/var/cache/
# temporal-supervisor as root), keyed by content: a hash of every file the wheels are made of
# (src/, build.rs, Cargo.toml, Cargo.lock, pyproject.toml, README.md, the licences), the commit
# --version names (build.rs), the toolchains' versions and this script. An unchanged source
# (any commit that changes none of them) reuses the wheels without building or installing
# anything. On a miss the builds run in a copy of those files kept there too, updated file by
# file so that unchanged files keep their times, with a target directory per architecture: a
# change to README.md repacks in seconds, a change to src/ rebuilds the crate, no dependency.
#
#   ./scripts/cross-build.sh      # prints what it did: "cached" or "built" and the time
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

ZIGLANG_VERSION=0.17.1
DEBIAN_PACKAGES=(rustc-web cargo-web libstd-rust-web-dev:arm64)
TARGETS=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu)
SOURCES=(src build.rs Cargo.toml Cargo.lock)   # what build.rs describes
INPUTS=("${SOURCES[@]}" pyproject.toml README.md LICENSE-MIT LICENSE-APACHE)
VENV=$PWD/.venv-packaging
CROSS=$(scripts/cache-dir.sh)/cross
started=$(date +%s)
say() { echo "cross-build: $*"; }

./scripts/setup.sh   # maturin, in .venv
maturin=$PWD/.venv/bin/maturin

# --- the Debian toolchain for aarch64 ---------------------------------------------------------
installed() { dpkg-query -W -f '${Status}\n' "$@" 2>/dev/null | grep -c '^install ok installed$'; }
if [[ $(installed "${DEBIAN_PACKAGES[@]}") -ne ${#DEBIAN_PACKAGES[@]} ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "cross-build: the aarch64 build needs the Debian packages ${DEBIAN_PACKAGES[*]}; install them as root" >&2
    exit 1
  fi
  say "installing ${DEBIAN_PACKAGES[*]} with apt"
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${DEBIAN_PACKAGES[@]}" >/dev/null
fi

# --- the key: everything the wheels are made of -----------------------------------------------
mapfile -t files < <(git ls-files -co --exclude-standard -- "${INPUTS[@]}" | sort)
sources_commit=$(git log -1 --format=%H -- "${SOURCES[@]}")
dirty=$(git status --porcelain -- "${SOURCES[@]}" | head -c 1)
key=$( {
  sha256sum scripts/cross-build.sh "${files[@]}"
  echo "sources $sources_commit ${dirty:+dirty}"
  echo "zig $ZIGLANG_VERSION"
  "$maturin" --version
  rustc -Vv; cargo -V
  dpkg-query -W "${DEBIAN_PACKAGES[@]}"
} | sha256sum | cut -c1-16)
wheels=$CROSS/wheels/$key

mkdir -p "$CROSS/wheels" dist
exec 8>"$CROSS/lock"
flock 8   # one build at a time: they share the copy and the target directories
if [[ ! -f $wheels/done ]]; then
  # --- zig, in a virtualenv of its own ---------------------------------------------------------
  if [[ $("$VENV/bin/python" -m ziglang version 2>/dev/null) != "$ZIGLANG_VERSION" ]]; then
    say "installing zig (ziglang==$ZIGLANG_VERSION) into .venv-packaging"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "ziglang==$ZIGLANG_VERSION"
  fi

  # --- the copy the builds run in --------------------------------------------------------------
  # A git repository whose HEAD is the sources' commit (build.rs asks git for it, and watches
  # HEAD: it moves only when that commit does), with the checkout's files over it.
  copy=$CROSS/src
  [[ -d $copy/.git ]] || git init -q "$copy"
  git -C "$copy" fetch -q --no-tags "$PWD" HEAD
  if [[ $(git -C "$copy" rev-parse -q --verify HEAD || true) != "$sources_commit" ]]; then
    git -C "$copy" update-ref --no-deref HEAD "$sources_commit"
    git -C "$copy" read-tree "$sources_commit"
  fi
  for f in "${files[@]}"; do
    if ! cmp -s "$f" "$copy/$f"; then
      mkdir -p "$(dirname "$copy/$f")"
      cp "$f" "$copy/$f"
    fi
  done
  (cd "$copy" && find src -type f | sort) | comm -23 - <(printf '%s\n' "${files[@]}" | grep '^src/') \
    | while read -r extra; do rm "$copy/$extra"; done

  rm -rf "$wheels"
  mkdir -p "$wheels"
  for target in "${TARGETS[@]}"; do
    arch=${target%%-*}
    say "building the $arch wheel (maturin --zig, manylinux2014; minutes when cold)"
    t0=$(date +%s)
    toolchain=()
    if [[ $arch == aarch64 ]]; then   # Debian's cargo and rustc, before rustup's
      toolchain=(PATH="$VENV/bin:/usr/bin:/bin" RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo)
    fi
    # zig is found as `python3 -m ziglang`, the virtualenv's python3 first on PATH.
    env PATH="$VENV/bin:$PATH" "${toolchain[@]}" CARGO_TARGET_DIR="$CROSS/target-$arch" \
      "$maturin" build --release --locked --quiet --zig --compatibility manylinux2014 \
      --auditwheel check --target "$target" --manifest-path "$copy/Cargo.toml" --out "$wheels"
    say "$arch: $(( $(date +%s) - t0 )) s"
  done
  touch "$wheels/done"
  # Keep the three newest keys.
  ls -1t "$CROSS/wheels" | tail -n +4 | while read -r old; do rm -rf "${CROSS:?}/wheels/$old"; done
  how=built
else
  how=cached
fi
rm -f dist/temporal_supervisor-*.whl
cp "$wheels"/*.whl dist/
say "$how ($key, $(( $(date +%s) - started )) s): $(cd dist && ls temporal_supervisor-*.whl | tr '\n' ' ')"
