-- Where each user signed in successfully, recently: attempts from such an address are exempt from
-- the per-account guess budget, so a distributed attack on a username does not lock its owner
-- out at home. Only a successful sign-in writes here, so strangers cannot make it grow.
create table login_addresses (
    -- 'user:<normalised username>', as the lockout counters name users
    user_key text not null,
    -- the address as the throttle counts it: IPv4, or an IPv6 /64
    address text not null,
    last_success bigint not null,
    primary key (user_key, address)
);

create index login_addresses_last_success on login_addresses (last_success);
