-- Second factors and passkeys (issue 13).

-- One TOTP authenticator per user, its secret sealed under keys.encryption_key (like signing
-- keys). A code is accepted once: last_step is the highest time step accepted so far, and a code
-- of that step or an older one is refused, on every instance (one conditional UPDATE).
create table totp_credentials (
    user_id text primary key references users (id) on delete cascade,
    sealed_secret text not null,
    last_step bigint not null default 0,
    created_at bigint not null
);

-- Recovery codes: only SHA-256 hashes (each code has at least 80 random bits). Using one deletes
-- its row; regenerating deletes them all first.
create table recovery_codes (
    code_hash text primary key,
    user_id text not null references users (id) on delete cascade,
    created_at bigint not null
);
create index recovery_codes_user on recovery_codes (user_id);

-- Passkeys (WebAuthn credentials). credential_id is the base64url credential id; passkey is the
-- WebAuthn library's serialised credential (public key, counter): public data, not a secret.
create table passkeys (
    credential_id text primary key,
    user_id text not null references users (id) on delete cascade,
    name text not null,
    passkey text not null,
    created_at bigint not null,
    last_used_at bigint
);
create index passkeys_user on passkeys (user_id);

-- WebAuthn challenges already answered: a ceremony's state travels sealed in a cookie, and this
-- table makes each one single-use across instances. Rows are written only by a successful
-- ceremony (which needs a registered passkey) and leave when they expire.
create table webauthn_challenges_used (
    challenge_hash text primary key,
    expires_at bigint not null
);

-- A role can demand a second factor of everyone who holds it.
alter table roles add column require_mfa boolean not null default false;
