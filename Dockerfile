# temporal-supervisor: a static binary in a minimal, non-root image.
#
#   docker build -t temporal-supervisor .
#
# The binary is at /usr/local/bin/temporal-supervisor, so worker images can take it with
#   COPY --from=temporal-supervisor /usr/local/bin/temporal-supervisor /usr/local/bin/
# The release profile (fat LTO, opt-level "s", stripped) keeps it about 7 MiB.

FROM rust:1.95-alpine3.22 AS build
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

# distroless/static: no shell, no package manager, CA certificates for TLS, and a non-root
# user (65532) by default.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /temporal-supervisor /usr/local/bin/temporal-supervisor
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/temporal-supervisor"]
CMD ["--help"]
