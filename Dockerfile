# The scopegate image: one static-ish binary on a minimal Debian base, running as a non-root
# user. Build from the repository root:
#   docker build -t scopegate:0.1.0 .
# The build needs only crates.io; the demo policy in examples/policies is compiled in.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY webhook webhook
COPY benches benches
COPY examples examples
COPY tests tests
COPY deploy deploy
RUN cargo build --release --locked -p scopegate \
 && install -D target/release/scopegate /out/scopegate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/scopegate /usr/local/bin/scopegate
# The numeric id matches the Deployment's runAsUser, so `runAsNonRoot` can be checked.
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/scopegate"]
CMD ["serve", "--help"]
