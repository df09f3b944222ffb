-- Delivery claims as committed leases (SPEC §6). A worker claims a row by
-- setting claimed_until, commits, posts to Discord without holding a lock or
-- a connection, then records the outcome (retrying the write if the database
-- is briefly unreachable). A lost database connection after Discord accepted
-- the message therefore no longer makes the row due again; only a worker
-- that dies mid-send leaves the lease to expire, after which the row is due.
-- Append-only: never edit once shipped.
ALTER TABLE outbox ADD COLUMN claimed_until timestamptz;
