#!/bin/sh
# One-shot seeding for docker compose: the demo roles and users, and the items client, whose
# secret is written to $ITEMS_CLIENT_SECRET_FILE (a volume items reads). Safe to re-run.
set -eu

secret_file="${ITEMS_CLIENT_SECRET_FILE:?set ITEMS_CLIENT_SECRET_FILE}"

has_row() { # has_row LIST_COMMAND NAME: whether `authd LIST_COMMAND list` has a row for NAME
    authd "$1" list | cut -f1 | grep -qx "$2"
}

# `role set` replaces the scopes, so it is idempotent as it stands.
authd role set demo items:read
authd role set admin items:read items:write

# Passwords come from stdin; these are demo values, documented in docs/src/sibling-services.md.
has_row user demo || printf 'demo-password-1\n' | authd user add demo --role demo
has_row user admin || printf 'admin-password-1\n' | authd user add admin --role admin

if has_row client items; then
    if [ -s "$secret_file" ]; then
        echo "client items already registered; keeping its secret"
        exit 0
    fi
    # authd stores only a hash of the secret, so a lost secret cannot be recovered.
    echo "client items exists but $secret_file is empty; run 'docker compose down -v' to start over" >&2
    exit 1
fi
umask 077
authd client add items --grant client_credentials --scope introspect >"$secret_file.tmp"
mv "$secret_file.tmp" "$secret_file"
echo "client items registered; secret written to $secret_file"
