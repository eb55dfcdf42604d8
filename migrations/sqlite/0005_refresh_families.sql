-- One row per refresh-token family (a grant and all its rotations) instead of one per token.
--
-- Rotation updates this row in place and every revocation deletes it, so the two always meet on
-- the same row: under READ COMMITTED a revocation that waits on a rotation sees the rotated row
-- and deletes it, where it used to miss the successor row the rotation was inserting. The row
-- keeps what reuse detection needs: tokens carry their family secret and generation, so any
-- token of the family that is not the current one is recognised as reuse.

create table refresh_families (
    -- internal id, named in the audit trail; never part of a token
    id text primary key,
    -- SHA-256 (hex) of the family secret every token of the family starts with; null for families
    -- carried over from before this migration, until their first rotation
    family_hash text unique,
    -- SHA-256 (hex) of the one token of the family that may be exchanged now
    current_hash text not null unique,
    -- for a family carried over from before this migration: the hash of its last token without
    -- a family secret, kept at its first rotation so that a replay of it is still reuse
    legacy_hash text unique,
    -- rotations so far; the current token carries this number
    generation bigint not null,
    client_id text not null,
    -- clients.registration at issuance: a client deleted and registered again under the same
    -- client_id does not inherit the old registration's tokens
    client_registration text not null,
    user_id text not null references users (id) on delete cascade,
    -- users.token_generation at issuance: a password change or disable ends the family even if
    -- it was issued by a login that raced the change
    user_generation bigint not null,
    scope text not null,
    -- when the current token was issued, and when it expires
    issued_at bigint not null,
    expires_at bigint not null
);

create index refresh_families_user on refresh_families (user_id);
create index refresh_families_client on refresh_families (client_id);
create index refresh_families_expires on refresh_families (expires_at);

-- Fresh for every registration; '' for clients (and their tokens) from before this migration.
alter table clients add column registration text not null default '';

-- Live tokens keep working: the newest unrotated token of each family becomes its current one.
insert into refresh_families
    (id, family_hash, current_hash, generation, client_id, client_registration, user_id,
     user_generation, scope, issued_at, expires_at)
select r.family_id, null, r.token_hash, 0, r.client_id, '', r.user_id, u.token_generation,
       r.scope, r.issued_at, r.expires_at
from refresh_tokens r
join users u on u.id = r.user_id
where r.rotated_at is null
  and r.token_hash = (select r2.token_hash from refresh_tokens r2
                      where r2.family_id = r.family_id and r2.rotated_at is null
                      order by r2.issued_at desc, r2.token_hash limit 1);

drop table refresh_tokens;
