-- Passkeys (issue 13): the signature counter of each passkey in a column of its own, so that
-- recording a use is one conditional UPDATE (the counter must grow, unless the authenticator
-- keeps none): two finishes racing with one cloned key cannot both pass.
alter table passkeys add column sign_count bigint not null default 0;
