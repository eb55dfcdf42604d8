-- Brute-force counters and the audit trail.

create table login_failures (
    -- 'user:<normalised username>' or 'ip:<client address>'
    key text primary key,
    -- failures inside the current window
    failures bigint not null,
    window_start bigint not null,
    -- Unix time until which logins for this key are refused
    locked_until bigint not null default 0,
    -- how many times the key was locked; each lock lasts longer, up to a cap
    lock_count bigint not null default 0,
    updated_at bigint not null
);

create index login_failures_updated on login_failures (updated_at);

create table audit_events (
    id text primary key,
    at_ms bigint not null,
    -- dotted verb: login.failed, token.issued, user.created, key.rotated, ...
    action text not null,
    -- who did it: a username, a client_id, or 'cli'
    actor text,
    -- what it was done to: a username, client_id, role or kid
    subject text,
    client_id text,
    ip text,
    -- short free text; never a secret, token or hash
    detail text
);

create index audit_events_at on audit_events (at_ms);
create index audit_events_action on audit_events (action, at_ms);
