-- Issue 14: pushed authorization requests (RFC 9126) and JWT introspection responses (RFC 9701).

-- A pushed request travels sealed inside its request_uri, so pushing stores nothing. This table
-- makes each request_uri single use across instances: /authorize inserts the request's id, and
-- only the first insert succeeds. A row needs a request_uri that /par issued, and leaves (by the
-- janitor) once that request_uri has expired, 60 seconds after the push.
create table pushed_requests_used (
    request_id text primary key,
    expires_at bigint not null
);

-- Per client: /authorize accepts this client's requests only through /par.
alter table clients add column require_pushed_authorization_requests boolean not null default false;
-- Per client: the JWS algorithm of its JWT introspection responses; '' is the server's default.
alter table clients add column introspection_signed_response_alg text not null default '';
