-- Browser sign-in (issue 11): what a client needs for the authorization code flow, and the
-- sessions, consents and codes behind it. Secrets (session ids, codes) are stored only as SHA-256.

-- space-delimited, like grant_types: URIs and origins contain no spaces
alter table clients add column client_name text not null default '';
alter table clients add column redirect_uris text not null default '';
alter table clients add column allowed_origins text not null default '';
-- first-party clients skip the consent page; every other client is treated as third-party
alter table clients add column skip_consent boolean not null default false;
-- a confidential client that may omit PKCE when it sends `openid` and a `nonce`
alter table clients add column pkce_optional boolean not null default false;

-- One row per signed-in browser. Only a successful sign-in creates one, so strangers cannot
-- make this table grow; each user keeps a bounded number (the oldest are ended first).
create table sessions (
    -- SHA-256 (hex) of the random id in the cookie
    id_hash text primary key,
    -- a public handle for listing and ending one session (never the cookie value)
    handle text not null unique,
    user_id text not null references users (id) on delete cascade,
    -- users.token_generation at sign-in: a password change or disable ends the session even if
    -- the sign-in raced the change
    user_generation bigint not null,
    -- when the person last proved who they are (OpenID Connect `auth_time`)
    auth_time bigint not null,
    -- how they proved it, space-delimited RFC 8176 values
    amr text not null,
    created_at bigint not null,
    last_seen_at bigint not null,
    -- the absolute timeout; the idle timeout is counted from last_seen_at
    expires_at bigint not null,
    ip text
);

create index sessions_user on sessions (user_id);
create index sessions_expires on sessions (expires_at);

-- What a person approved: per user and client, the scopes granted so far.
create table consents (
    user_id text not null references users (id) on delete cascade,
    client_id text not null,
    -- clients.registration when approved: a client registered again must ask again
    client_registration text not null,
    scopes text not null,
    granted_at bigint not null,
    primary key (user_id, client_id)
);

create table authorization_codes (
    -- SHA-256 (hex) of the 256-bit code
    code_hash text primary key,
    client_id text not null,
    client_registration text not null,
    -- as sent to /authorize; null when it was omitted (then /token must omit it too)
    redirect_uri text,
    -- the URI the code was delivered to
    delivered_to text not null,
    -- S256 challenge; null only for a client allowed to skip PKCE
    code_challenge text,
    scope text not null,
    user_id text not null references users (id) on delete cascade,
    user_generation bigint not null,
    session_handle text not null,
    auth_time bigint not null,
    amr text not null,
    nonce text,
    expires_at bigint not null,
    -- insertion order, to keep a session's newest open codes
    issued_at_ms bigint not null,
    -- set by the one redemption; a second one revokes what the first issued
    redeemed_at bigint,
    access_jti text,
    access_expires_at bigint,
    refresh_family_id text
);

create index authorization_codes_expires on authorization_codes (expires_at);

-- Refresh families from a code remember their consent (revoking the consent revokes them) and
-- their session (for logout in the OpenID Connect issue).
alter table refresh_families add column origin text not null default '';
alter table refresh_families add column session_handle text;

-- Open codes only: redeemed ones stay an hour for replay detection, and must not slow the trim
-- of a session's open codes that every /authorize runs.
create index authorization_codes_open on authorization_codes (session_handle, issued_at_ms)
    where redeemed_at is null;
create index authorization_codes_user_client on authorization_codes (user_id, client_id);
