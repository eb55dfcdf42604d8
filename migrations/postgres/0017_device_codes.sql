-- Issue 15: the device authorization grant (RFC 8628).
--
-- One row per device_authorization request, from issue until the janitor sweeps it after
-- expiry. Both codes are stored only as SHA-256 (hex): the device code is 256 random bits and
-- the bearer secret of the polling client; the user code is short, but its hash keeps the
-- lookup's timing unrelated to the characters typed. Every change of state is one conditional
-- UPDATE, so two approvals, an approval and a denial, or two redemptions cannot both win.
create table device_codes (
    device_code_hash text primary key,
    user_code_hash text not null unique,
    client_id text not null,
    client_registration text not null,
    -- space-delimited scopes asked for; null: everything the client and user may hold
    scope text,
    -- RFC 8707 resources asked for, space-delimited
    resources text not null default '',
    created_at bigint not null,
    expires_at bigint not null,
    -- seconds the client must wait between polls; grows by 5 on each slow_down (section 3.5)
    interval_secs bigint not null,
    last_polled_at bigint,
    -- pending, approved, denied or redeemed
    status text not null default 'pending',
    -- who decided, and how they had signed in (set by the approval)
    user_id text,
    user_generation bigint,
    granted_scope text,
    auth_time bigint,
    amr text,
    decided_at bigint
);

-- The per-client cap on live codes counts by client; the janitor sweeps by expiry.
create index device_codes_client on device_codes (client_id, expires_at);
create index device_codes_expires_at on device_codes (expires_at);
