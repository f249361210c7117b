# temporal-supervisor: a static binary in a minimal, non-root image.
#
#   docker build -t temporal-supervisor .
#
# The binary is at /usr/local/bin/temporal-supervisor, so worker images can take it with
#   COPY --from=temporal-supervisor /usr/local/bin/temporal-supervisor /usr/local/bin/
# The release profile (fat LTO, opt-level "s", stripped) keeps it about 7 MiB.
#
# The base images and the stage the binary comes from are build arguments; their defaults are
# what a user builds. The project's real-engine test (scripts/docker-test.sh), which cannot
# pull images, builds the runtime stage with BINARY_STAGE set to a local image that holds a
# prebuilt binary at /temporal-supervisor and RUNTIME_IMAGE set to a local Debian image.
ARG RUST_IMAGE=rust:1.95-alpine3.22
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot
ARG BINARY_STAGE=build

FROM ${RUST_IMAGE} AS build
# ring and the vendored protobuf compiler need a C toolchain; Alpine's Rust links musl
# statically, so the result runs on any Linux.
# hadolint ignore=DL3018
RUN apk add --no-cache build-base
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked \
    && cp target/release/temporal-supervisor /temporal-supervisor \
    && /temporal-supervisor --version

# The stage the runtime stage copies the binary from: `build` above unless replaced.
FROM ${BINARY_STAGE} AS binary

# distroless/static: no shell, no package manager, CA certificates for TLS, and a non-root
# user (65532) by default.
FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=binary /temporal-supervisor /usr/local/bin/temporal-supervisor
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/temporal-supervisor"]
CMD ["--help"]
