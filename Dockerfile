# syntax=docker/dockerfile:1
# The promshard image: `docker build -t ghcr.io/promshard/promshard:0.1.0 .` (the registry
# in deploy/ is a placeholder: push where your cluster pulls from).

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# --locked: the dependencies of Cargo.lock, nothing newer. The target directory is a cache
# mount, so the binary is copied out of it in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin promshard \
    && cp target/release/promshard /promshard

# Runtime: distroless cc-debian12 rather than debian:bookworm-slim. The binary needs only
# glibc and libgcc_s (rustls and aws-lc are linked in statically; tests/deploy.rs checks the
# binary's NEEDED libraries against this list), and cc-debian12 has exactly Debian 12's
# libc6, libgcc-s1, libstdc++6, libgomp1 and libssl3, plus CA certificates and tzdata: the
# same Debian release the builder links against, without a shell or package manager to
# patch or exploit. Its `nonroot` tag runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /promshard /promshard
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/promshard"]
CMD ["--config.file=/etc/promshard/prometheus.yml", "--storage.path=/data"]
