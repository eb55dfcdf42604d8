#!/usr/bin/env bash
# Soak test for authd's memory (issue 16): the mixed load of bench/load.sh (introspection and
# client_credentials at once, half the connections each) for SOAK_SECS (default 600), sampling
# authd's resident memory every SAMPLE_SECS (default 30). It prints one line per sample and a
# verdict: memory must plateau, that is, the last third of the samples must not sit more than
# PLATEAU_MIB (default 8) above the highest sample of the middle third.
#
#   bench/soak.sh                      # SQLite, 10 minutes (builds release binaries first)
#   BACKEND=postgres bench/soak.sh     # a scratch database on PG_ADMIN_URL, dropped at the end
#   SKIP_BUILD=1 SOAK_SECS=120 bench/soak.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOAK_SECS=${SOAK_SECS:-600}
SAMPLE_SECS=${SAMPLE_SECS:-30}
PLATEAU_MIB=${PLATEAU_MIB:-8}
CONNECTIONS=${CONNECTIONS:-32}
BACKEND=${BACKEND:-sqlite}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${AUTHD_PORT:-18180}
OUT="$ROOT/target/bench-soak"
AUTHD="$ROOT/target/release/authd"
URL="http://127.0.0.1:$PORT"
AUTHD_PID="" WRK_PIDS=() PG_DB=""

log() { printf '[soak] %s\n' "$*" >&2; }
cleanup() {
  for pid in "${WRK_PIDS[@]}" "$AUTHD_PID"; do
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  [[ -n $PG_DB ]] && psql -q "$PG_ADMIN_URL" -c "drop database if exists $PG_DB with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

command -v wrk >/dev/null || { log "wrk is required (apt-get install wrk)"; exit 1; }
[[ -n ${SKIP_BUILD:-} ]] || (cd "$ROOT" && cargo build --release -p authd)
rm -rf "$OUT" && mkdir -p "$OUT"

export RUST_LOG=${RUST_LOG:-info}
export AUTHD_SERVER__BIND="127.0.0.1:$PORT" AUTHD_TOKENS__ISSUER="$URL"
export AUTHD_TOKENS__ACCESS_TTL_SECS=3600
AUTHD_KEYS__ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)
export AUTHD_KEYS__ENCRYPTION_KEY
if [[ $BACKEND == postgres ]]; then
  PG_DB="authd_soak_$$"
  psql -q "$PG_ADMIN_URL" -c "create database $PG_DB" >/dev/null
  export AUTHD_DATABASE__URL="${PG_ADMIN_URL%/*}/$PG_DB"
else
  export AUTHD_DATABASE__URL="sqlite://$OUT/authd-soak.db"
fi

"$AUTHD" role set soak items:read >/dev/null 2>>"$OUT/authd.log"
secret=$("$AUTHD" client add soak --grant client_credentials --scope introspect --scope items:read 2>>"$OUT/authd.log")
basic="Basic $(printf 'soak:%s' "$secret" | base64 -w0)"
"$AUTHD" serve >>"$OUT/authd.log" 2>&1 &
AUTHD_PID=$!
for _ in $(seq 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
token=$(curl -sf -u "soak:$secret" "$URL/token" -d grant_type=client_credentials |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[[ -n $token ]] || { log "no token; see $OUT/authd.log"; exit 1; }

half=$((CONNECTIONS / 2))
log "$BACKEND: introspection and client_credentials, $half connections each, for ${SOAK_SECS}s"
WRK_BODY="token=$token" WRK_AUTH="$basic" wrk -t1 -c"$half" -d"${SOAK_SECS}s" \
  -s "$ROOT/bench/wrk/post.lua" "$URL/introspect" >"$OUT/wrk-introspect.txt" 2>&1 &
WRK_PIDS+=($!)
WRK_BODY="grant_type=client_credentials" WRK_AUTH="$basic" wrk -t1 -c"$half" -d"${SOAK_SECS}s" \
  -s "$ROOT/bench/wrk/post.lua" "$URL/token" >"$OUT/wrk-token.txt" 2>&1 &
WRK_PIDS+=($!)

samples=()
for ((elapsed = SAMPLE_SECS; elapsed <= SOAK_SECS; elapsed += SAMPLE_SECS)); do
  sleep "$SAMPLE_SECS"
  kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$AUTHD_PID/status")
  samples+=("$kib")
  printf '%5ss  %6.1f MiB\n' "$elapsed" "$(awk -v k="$kib" 'BEGIN { print k / 1024 }')"
done
wait "${WRK_PIDS[@]}" || true
WRK_PIDS=()

n=${#samples[@]}
third=$((n / 3))
((third > 0)) || { log "too few samples for a verdict"; exit 1; }
middle_max=$(printf '%s\n' "${samples[@]:third:third}" | sort -n | tail -1)
late_max=$(printf '%s\n' "${samples[@]:$((2 * third))}" | sort -n | tail -1)
growth=$(awk -v a="$late_max" -v b="$middle_max" 'BEGIN { printf "%.1f", (a - b) / 1024 }')
if awk -v g="$growth" -v p="$PLATEAU_MIB" 'BEGIN { exit !(g <= p) }'; then
  echo "plateau: the last third peaked ${growth} MiB above the middle third (bound ${PLATEAU_MIB} MiB)"
else
  echo "GROWING: the last third peaked ${growth} MiB above the middle third (bound ${PLATEAU_MIB} MiB)"
  exit 1
fi
