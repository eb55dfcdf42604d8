-- Coalesced audit events.
--
-- How many identical events this row stands for: 1, except for client_credentials issuances
-- (`token.issued`), where one row may stand for several tokens that one client got from one
-- address with one scope in the same second. The row keeps the first event's id and time.
alter table audit_events add column occurrences bigint not null default 1;
