-- Authorization codes are sealed values now: issuing one stores nothing, and a row is written
-- only when a code is redeemed (for single use and replay detection). No row is ever open, so
-- the index of open codes (for trimming a session's open codes) has nothing left to do.
drop index authorization_codes_open;
