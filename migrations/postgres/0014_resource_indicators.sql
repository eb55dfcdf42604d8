-- Resource indicators (RFC 8707, issue 14): tokens meant for one API.

-- The APIs tokens can be asked for, and the scopes each one claims: a token for a resource
-- carries only scopes its resources claim; a token without one carries only scopes no resource
-- claims.
create table resources (
    -- the resource indicator: an absolute URI without a fragment, compared exactly
    uri text primary key,
    -- space-delimited scopes this resource claims
    scopes text not null,
    created_at bigint not null
);

-- Space-delimited resource URIs each client may ask for; '' allows none.
alter table clients add column resources text not null default '';

-- Space-delimited resource URIs a refresh family was granted for; its refreshes may ask for
-- these (or some of them) and nothing else. '' for families without resources.
alter table refresh_families add column resources text not null default '';
