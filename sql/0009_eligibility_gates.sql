-- Eligibility from Twitch's data (issue 18, SPEC §10, §14, §17).
--
-- presence.source: how a viewer became present: `chat` (a message) or
-- `chatters` (listed by Helix Get Chatters while lurking). A chat message
-- always turns the row back into `chat`.
ALTER TABLE presence
    ADD COLUMN source text NOT NULL DEFAULT 'chat' CHECK (source IN ('chat', 'chatters'));

-- Account creation dates from Helix Get Users: they never change, so they
-- are kept for ever.
CREATE TABLE twitch_accounts (
    user_id    text PRIMARY KEY,
    created_at timestamptz NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now()
);

-- Follow state per channel from Helix Get Channel Followers: followed_at is
-- null when the viewer does not follow; refreshed when fetched_at is old.
CREATE TABLE twitch_follows (
    channel_id  bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    user_id     text NOT NULL,
    followed_at timestamptz,
    fetched_at  timestamptz NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);

-- How many viewers a round's gates excluded, by reason:
-- {"young_account": 3, "unknown_follow": 10}. The snapshot holds only the
-- eligible ones, so `verify` is unchanged.
ALTER TABLE raffles
    ADD COLUMN excluded jsonb NOT NULL DEFAULT '{}'::jsonb;
