-- Token exchange (RFC 8693, issue 15).
--
-- Clients allowed to impersonate: exchange a user's token for one that carries no `act`, so that
-- the resource it calls cannot tell the client from the user (section 1.1). Off unless the
-- operator (or an admin holding every admin scope the client holds) turns it on.
alter table clients add column allow_impersonation boolean not null default false;
