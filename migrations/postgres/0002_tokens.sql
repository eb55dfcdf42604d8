-- Signing keys, refresh tokens and revoked access tokens.

create table signing_keys (
    kid text primary key,
    algorithm text not null,
    -- PKCS#8 DER of the private key
    private_key bytea not null,
    -- the public half as a JWK (JSON text), served in the JWKS document
    public_jwk text not null,
    -- times in milliseconds: two rotations within one second must still be ordered
    created_at_ms bigint not null,
    -- the key signs new tokens from this instant (publication precedes it by the rotation delay)
    activates_at_ms bigint not null
);

create table refresh_tokens (
    -- SHA-256 (hex) of the opaque token; the token itself is never stored
    token_hash text primary key,
    -- every rotation of one grant shares a family; reuse of a rotated token revokes the family
    family_id text not null,
    client_id text not null,
    user_id text not null references users (id) on delete cascade,
    scope text not null,
    issued_at bigint not null,
    expires_at bigint not null,
    -- set when the token is exchanged; a second exchange is reuse (RFC 9700 section 4.14)
    rotated_at bigint
);

create index refresh_tokens_family on refresh_tokens (family_id);
create index refresh_tokens_user on refresh_tokens (user_id);
create index refresh_tokens_expires on refresh_tokens (expires_at);

create table revoked_access_tokens (
    jti text primary key,
    -- kept until the token would have expired anyway
    expires_at bigint not null
);

create index revoked_access_tokens_expires on revoked_access_tokens (expires_at);
