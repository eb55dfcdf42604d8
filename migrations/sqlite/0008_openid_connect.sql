-- OpenID Connect (issue 12): per-client id_token and logout settings, offline refresh tokens,
-- which clients each session signed into, and the back-channel logout queue.

-- space-delimited, like redirect_uris
alter table clients add column post_logout_redirect_uris text not null default '';
alter table clients add column backchannel_logout_uri text;
alter table clients add column backchannel_logout_session_required boolean not null default false;
-- the JWS algorithm of this client's id_tokens; '' means the default (RS256)
alter table clients add column id_token_signed_response_alg text not null default '';

-- An offline family (scope offline_access) outlives the session that started it; every other
-- family from a code ends with its session. auth_time and amr carry the sign-in into the
-- id_tokens a refresh issues (OpenID Connect Core section 12.2).
alter table refresh_families add column offline boolean not null default false;
alter table refresh_families add column auth_time bigint;
alter table refresh_families add column amr text;

-- The clients a session signed into: who to tell when it ends. Only a live session's own
-- /authorize adds a row, bounded by the number of registered clients.
create table session_clients (
    session_handle text not null references sessions (handle) on delete cascade,
    client_id text not null,
    primary key (session_handle, client_id)
);

-- Back-channel logout notifications still to deliver. A fresh logout_token is signed for each
-- attempt; a row leaves when delivered or given up. No foreign keys: the user and the session
-- are usually gone by the time it is sent.
create table logout_deliveries (
    id text primary key,
    client_id text not null,
    client_registration text not null,
    -- the client's backchannel_logout_uri when the session ended
    uri text not null,
    -- `sub` of the logout_token
    user_id text not null,
    -- `sid`, the ended session's handle
    session_handle text not null,
    created_at bigint not null,
    due_at bigint not null,
    attempts integer not null default 0,
    last_error text
);

create index logout_deliveries_due on logout_deliveries (due_at);
