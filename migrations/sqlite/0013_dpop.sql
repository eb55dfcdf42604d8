-- DPoP (RFC 9449, issue 14).
--
-- Proofs accepted at /token, one row per proof (SHA-256 of its key's thumbprint and its jti),
-- kept until the proof's iat window has passed: inserting one that exists is a replay, on this
-- instance or another (section 11.1). Only proofs that verified, for a request whose grant
-- checked out, are written; the janitor deletes rows past expires_at.
create table dpop_proofs (
    proof_hash text primary key,
    expires_at bigint not null
);
create index dpop_proofs_expires_at on dpop_proofs (expires_at);

-- A public client's refresh tokens are bound to the DPoP key they were issued with (section 5):
-- the base64url SHA-256 JWK thumbprint, or null for unbound families.
alter table refresh_families add column dpop_jkt text;

-- Clients that must always use DPoP (section 5.2 client metadata dpop_bound_access_tokens).
alter table clients add column dpop_bound_access_tokens boolean not null default false;
