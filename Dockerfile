# authd and the items example: multi-stage build. Builder and runtime must stay on the same
# Debian release (bookworm) so the binaries' glibc matches.

FROM rust:1.95-bookworm AS builder
WORKDIR /app

# 1) Dependency layer: build every dependency of the workspace against stub sources, so that
#    editing src/, crates/ or examples/ does not rebuild them. Each member's Cargo.toml is here.
COPY Cargo.toml Cargo.lock ./
COPY crates/authd-client/Cargo.toml crates/authd-client/
COPY examples/items/Cargo.toml examples/items/
# The benchmark crates are workspace members and benches/ holds a declared [[bench]]: cargo
# needs them to read the manifest, though the image never builds them.
COPY bench ./bench
COPY benches ./benches
# examples/items declares a library and two binaries (items, prices): each needs a stub.
RUN mkdir -p src crates/authd-client/src examples/items/src/bin \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs crates/authd-client/src/lib.rs examples/items/src/lib.rs \
    && echo 'fn main() {}' > examples/items/src/main.rs \
    && echo 'fn main() {}' > examples/items/src/bin/prices.rs \
    && cargo build --release --locked --bin authd --bin items \
    && rm -rf src crates/authd-client/src examples/items/src

# 2) The real build. Everything read at compile time must be here: migrations/ (sqlx::migrate!),
#    templates/ (askama) and static/ (include_str!). .ci/check-image-context compiles exactly what
#    .dockerignore lets through, so a missing folder fails CI rather than the next image build.
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY crates ./crates
COPY examples ./examples
# COPY keeps the files' original mtimes, which can be older than the stub build; touch so cargo
# recompiles the workspace crates instead of shipping the stub binaries.
RUN touch src/main.rs src/lib.rs crates/authd-client/src/lib.rs examples/items/src/lib.rs \
    examples/items/src/main.rs \
    && cargo build --release --locked --bin authd --bin items


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
    && install -d -o authd -g authd -m 0750 /var/lib/authd \
    && install -d -o authd -g authd -m 0700 /var/lib/items

# One image, three uses in docker-compose.yml: `authd serve`, the one-shot init (the seeding
# script) and the items example (entrypoint `items`).
COPY --from=builder /app/target/release/authd /app/target/release/items /usr/local/bin/
COPY examples/items/compose-init.sh /usr/local/bin/items-compose-init
COPY authd.example.toml /etc/authd/authd.example.toml

# Defaults only; anything here is overridden by AUTHD_<SECTION>__<KEY> at `docker run`/compose.
# With the SQLite default, mount a volume on /var/lib/authd to keep the database.
ENV AUTHD_SERVER__BIND=0.0.0.0:8080 \
    AUTHD_DATABASE__URL=sqlite:///var/lib/authd/authd.db \
    ITEMS_BIND=0.0.0.0:8081 \
    RUST_LOG=info

WORKDIR /var/lib/authd
# Numeric so orchestrators (e.g. Kubernetes runAsNonRoot) can verify it is not root.
USER 10001:10001
EXPOSE 8080 8081

# No HEALTHCHECK here: the same image runs one-shot subcommands (migrate, user add, client add,
# an init container), and the port comes from config. docker-compose.yml probes /readyz instead.
ENTRYPOINT ["authd"]
CMD ["serve"]
