# temporal-supervisor: the binary in a minimal, non-root image.
#
#   docker build -t temporal-supervisor .
#
# The binary is at /usr/local/bin/temporal-supervisor, so worker images can take it with
#   COPY --from=temporal-supervisor /usr/local/bin/temporal-supervisor /usr/local/bin/
# The release profile (fat LTO, opt-level "s", stripped) keeps it about 7 MiB.
#
# Images for both architectures from the release binaries of scripts/package.sh (glibc 2.17
# or newer: dist/linux-amd64/ and dist/linux-arm64/), without building Rust in the image:
#
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg BINARY_STAGE=prebuilt .
#
# (or one `docker build --platform linux/ARCH` per architecture). The runtime stage is the same
# either way; its base (distroless/cc: glibc and libgcc, no shell) runs both kinds of binary.
#
# The base images and the stage the binary comes from are build arguments; their defaults are
# what a user builds. The project's real-engine tests, which cannot pull images, build the
# runtime stage with RUNTIME_IMAGE set to a local image: scripts/docker-test.sh with
# BINARY_STAGE set to a local image that holds a prebuilt binary at /temporal-supervisor,
# tests/packages/test_images.py with BINARY_STAGE=prebuilt for each architecture.
ARG RUST_IMAGE=rust:1.95-alpine3.22
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG BINARY_STAGE=build

FROM ${RUST_IMAGE} AS build
# ring and the vendored protobuf compiler need a C toolchain; Alpine's Rust links musl
# statically, so the result runs on any Linux of the build's architecture.
# hadolint ignore=DL3018
RUN apk add --no-cache build-base
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
RUN cargo build --release --locked \
    && cp target/release/temporal-supervisor /temporal-supervisor \
    && /temporal-supervisor --version

# The release binary of the architecture being built (TARGETARCH: amd64 or arm64), from dist/.
FROM scratch AS prebuilt
ARG TARGETARCH
COPY dist/linux-${TARGETARCH}/temporal-supervisor /temporal-supervisor

# The stage the runtime stage copies the binary from: `build` above unless replaced.
FROM ${BINARY_STAGE} AS binary

# distroless/cc: no shell, no package manager, glibc and libgcc (for the glibc release
# binaries), CA certificates for TLS, and a non-root user (65532) by default.
FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=binary /temporal-supervisor /usr/local/bin/temporal-supervisor
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/temporal-supervisor"]
CMD ["--help"]
