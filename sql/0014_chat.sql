-- The bot speaks in chat, and winners claim their prize (SPEC §11, §17;
-- issue 15). Additive: new tables, new columns with defaults, and widened
-- checks; rows written before keep their meaning (every existing outbox row
-- is a Discord post announcing its raffle's win).
-- Append-only: never edit once shipped.

-- The Twitch account the bot speaks as (GET /auth/twitch/bot): one at most.
-- Tokens are encrypted with TOKEN_KEY like twitch_tokens'.
CREATE TABLE bot_account (
    singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    twitch_user_id    text NOT NULL,
    login             text NOT NULL CHECK (login ~ '^[a-z0-9_]{1,25}$'),
    display_name      text NOT NULL,
    -- nonce || ciphertext || tag
    access_token      bytea NOT NULL,
    refresh_token     bytea NOT NULL,
    scopes            text[] NOT NULL DEFAULT '{}',
    expires_at        timestamptz NOT NULL,
    last_validated_at timestamptz,
    -- Twitch refused the refresh token: silent until connected again.
    needs_reauth      boolean NOT NULL DEFAULT false,
    connected_at      timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Which Connect flow issued a state: a streamer's channel or the bot's account.
ALTER TABLE oauth_states ADD COLUMN flow text NOT NULL DEFAULT 'channel'
    CHECK (flow IN ('channel', 'bot'));

-- Where a queued row goes, and which event of its raffle it tells: a raffle
-- is announced at most once per destination and event.
ALTER TABLE outbox ADD COLUMN kind text NOT NULL DEFAULT 'discord'
    CHECK (kind IN ('discord', 'twitch_chat'));
ALTER TABLE outbox ADD COLUMN event text NOT NULL DEFAULT 'win'
    CHECK (event IN ('win', 'claimed', 'unclaimed', 'reply', 'notice'));
-- Twitch's id of a chat message it accepted.
ALTER TABLE outbox ADD COLUMN twitch_message_id text;
ALTER TABLE outbox DROP CONSTRAINT outbox_raffle_id_key;
CREATE UNIQUE INDEX outbox_raffle_event_key ON outbox (raffle_id, kind, event) WHERE raffle_id IS NOT NULL;
DROP INDEX outbox_due_idx;
CREATE INDEX outbox_due_idx ON outbox (kind, next_attempt_at, id) WHERE status = 'pending';

-- Claims and redraws (CLAIM_WINDOW > 0).
ALTER TABLE raffles DROP CONSTRAINT raffles_trigger_check;
ALTER TABLE raffles ADD CONSTRAINT raffles_trigger_check
    CHECK (trigger IN ('timer', 'manual', 'chat', 'redraw'));
-- The expired win this raffle redraws; unique, so two instances never both redraw it.
ALTER TABLE raffles ADD COLUMN redraw_of bigint UNIQUE REFERENCES raffles (id) ON DELETE CASCADE;
ALTER TABLE raffles ADD COLUMN claim_status text
    CHECK (claim_status IN ('pending', 'claimed', 'expired'));
ALTER TABLE raffles ADD COLUMN claim_deadline timestamptz;
ALTER TABLE raffles ADD CONSTRAINT raffles_claim_has_deadline
    CHECK ((claim_status IS NULL) = (claim_deadline IS NULL));
-- The claim sweeper: pending wins by deadline.
CREATE INDEX raffles_pending_claims_idx ON raffles (claim_deadline) WHERE claim_status = 'pending';

-- The chat settings a channel may set for itself (SPEC §10: per channel),
-- in the environment's syntax like the other columns of channel_settings.
ALTER TABLE channel_settings ADD COLUMN chat_announce text;
ALTER TABLE channel_settings ADD COLUMN claim_window text;
ALTER TABLE channel_settings ADD COLUMN claim_redraws text;
