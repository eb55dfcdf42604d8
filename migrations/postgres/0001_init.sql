-- Users, roles, scopes and OAuth clients. Times are Unix seconds (bigint) so both backends and the
-- JWT claims (`iat`, `exp`) share one representation.

create table users (
    id text primary key,
    -- stored NFKC-normalised and lower-cased, so this constraint makes usernames case-insensitive
    username text not null unique,
    email text,
    full_name text,
    disabled boolean not null default false,
    -- PHC string (argon2id, or bcrypt for imported users until their next login)
    password_hash text not null,
    -- bumped on password change and disable; access tokens carry the value they were issued
    -- under (claim `gen`) and stop being honoured once it moves on
    token_generation bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);

create table roles (
    name text primary key,
    created_at bigint not null
);

create table role_scopes (
    role_name text not null references roles (name) on delete cascade,
    scope text not null,
    primary key (role_name, scope)
);

create table user_roles (
    user_id text not null references users (id) on delete cascade,
    role_name text not null references roles (name) on delete cascade,
    primary key (user_id, role_name)
);

create index user_roles_role_name on user_roles (role_name);

create table clients (
    client_id text primary key,
    -- SHA-256 (hex) of a 256-bit random secret; null for public clients
    secret_hash text,
    -- space-delimited, as OAuth writes them (RFC 6749 section 3.3)
    grant_types text not null,
    scopes text not null,
    created_at bigint not null
);
