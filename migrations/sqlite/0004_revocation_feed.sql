-- Each instance keeps revoked token ids in memory and polls for new ones by revocation time.
alter table revoked_access_tokens add column revoked_at_ms bigint not null default 0;
create index revoked_access_tokens_revoked_at on revoked_access_tokens (revoked_at_ms);
