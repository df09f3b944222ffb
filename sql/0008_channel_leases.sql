-- Several instances on one database (SPEC §15, issue 19).
--
-- instances: every running instance, with the heartbeat it renews every
-- third of CHANNEL_LEASE and the MAX_CHANNELS it accepts (null =
-- unlimited), so each instance computes the same fair shares.
-- channel_leases: which instance serves a channel, until when. Expiry is
-- reckoned on the database's clock (now()), the one clock every instance
-- shares. A graceful stop deletes the instance's row, which hands its
-- channels back at once (ON DELETE CASCADE).

CREATE TABLE instances (
    id           text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    max_channels integer CHECK (max_channels >= 0),
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE channel_leases (
    channel_id  bigint PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    instance_id text NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    lease_until timestamptz NOT NULL,
    taken_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX channel_leases_by_instance ON channel_leases (instance_id);
