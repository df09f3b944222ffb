-- The control room (issue 16, SPEC §13, §17): per-channel settings and a
-- timer slot key that survives interval changes.
--
-- channel_settings: a channel's own values for the per-channel settings of
-- SPEC §10, one nullable column per setting (null = the environment's
-- default), each holding the value in the environment's syntax ("30s",
-- "2", "true", "a,b"). kinoyubot validates with the same parser on write
-- and on read. A new per-channel setting adds one column here.

CREATE TABLE channel_settings (
    channel_id      bigint PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    raffle_interval text,
    active_window   text,
    winner_cooldown text,
    subscriber_luck text,
    only_when_live  text,
    ignore_users    text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Slot numbers depend on RAFFLE_INTERVAL (floor(now / interval)), so once a
-- channel can change its interval the same number means different moments
-- and different numbers the same moment. The moment a timer slot starts is
-- what must be drawn once: it becomes the unique key, and the number stays
-- for reading.
ALTER TABLE raffles ADD COLUMN slot_start timestamptz;

-- Rows drawn before: intervals were whole seconds and a round is recorded
-- within its slot, so the interval is floor(created_at / slot) exactly and
-- the start slot × interval. Should two rows of a channel land on one start
-- (clocks far apart), only the first keeps it.
UPDATE raffles r SET slot_start = computed.start
FROM (
    SELECT id, start, row_number() OVER (PARTITION BY channel_id, start ORDER BY id) AS nth
    FROM (
        SELECT id, channel_id,
               to_timestamp(slot::float8 * floor(extract(epoch FROM created_at) / slot)) AS start
        FROM raffles
        WHERE slot IS NOT NULL AND slot > 0
    ) starts
) computed
WHERE r.id = computed.id AND computed.nth = 1;

CREATE UNIQUE INDEX raffles_channel_slot_start_key ON raffles (channel_id, slot_start);
ALTER TABLE raffles DROP CONSTRAINT IF EXISTS raffles_channel_id_slot_key;

-- Dashboard sign-ins (SPEC §13): only the SHA-256 of each kyb_session
-- cookie is kept; the CSRF token is derived from the cookie, not stored.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    channel_id bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX sessions_channel_idx ON sessions (channel_id, created_at);
CREATE INDEX sessions_expiry_idx ON sessions (expires_at);
