-- Refresh retries (issue 14): a client that lost the response to a refresh presents the token
-- it just exchanged again. For `tokens.refresh_retry_secs` after a rotation, the same client
-- gets the same successor back instead of having the family revoked as reuse.
--
-- The row keeps the successor only sealed (AES-256-GCM under a key derived from
-- keys.encryption_key, bound to the family id), and only until the window ends: the next
-- rotation overwrites these columns and the janitor clears them.

-- SHA-256 (hex) of the token the last rotation exchanged
alter table refresh_families add column previous_hash text;
-- the current token, sealed; null when retries are off or the window has passed
alter table refresh_families add column successor_sealed text;
-- until when (Unix seconds) the previous token may be presented again
alter table refresh_families add column retry_until bigint;

create index refresh_families_retry_until on refresh_families (retry_until)
    where retry_until is not null;
