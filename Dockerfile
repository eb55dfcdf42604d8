# authd: multi-stage build. Builder and runtime must stay on the same Debian release (bookworm)
# so the binary's glibc matches.

FROM rust:1.95-bookworm AS builder
WORKDIR /app

# 1) Dependency layer: build every dependency against stub sources, so that editing src/ does not
#    rebuild them. When the repo becomes a workspace, COPY each member's Cargo.toml here as well
#    (e.g. `COPY crates/foo/Cargo.toml crates/foo/`) and add a stub for it in the RUN below.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# 2) The real build. migrations/ is embedded by sqlx::migrate! at compile time, so it must be here.
#    Add `COPY crates ./crates` / `COPY examples ./examples` lines here when those exist.
COPY src ./src
COPY migrations ./migrations
# COPY keeps the files' original mtimes, which can be older than the stub build; touch so cargo
# recompiles the authd crate instead of shipping the stub binary.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked


FROM debian:bookworm-slim AS runtime

# ca-certificates for outbound TLS; curl only for the compose healthcheck (the binary has no
# health subcommand). Not version-pinned: Debian's security archive drops superseded versions, so
# exact pins break rebuilds; the bookworm tag already fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 authd \
    && useradd --system --uid 10001 --gid authd --home-dir /var/lib/authd --no-create-home \
        --shell /usr/sbin/nologin authd \
    && install -d -o authd -g authd -m 0750 /var/lib/authd

COPY --from=builder /app/target/release/authd /usr/local/bin/authd
COPY authd.example.toml /etc/authd/authd.example.toml

# Defaults only; anything here is overridden by AUTHD_<SECTION>__<KEY> at `docker run`/compose.
# With the SQLite default, mount a volume on /var/lib/authd to keep the database.
ENV AUTHD_SERVER__BIND=0.0.0.0:8080 \
    AUTHD_DATABASE__URL=sqlite:///var/lib/authd/authd.db \
    RUST_LOG=info

WORKDIR /var/lib/authd
# Numeric so orchestrators (e.g. Kubernetes runAsNonRoot) can verify it is not root.
USER 10001:10001
EXPOSE 8080

# No HEALTHCHECK here: the same image runs one-shot subcommands (migrate, user add, client add,
# an init container), and the port comes from config. docker-compose.yml probes /readyz instead.
ENTRYPOINT ["authd"]
CMD ["serve"]
