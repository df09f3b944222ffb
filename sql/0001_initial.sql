-- KinoYuBot schema, version 1 (SPEC §9).
--
-- Migrations are append-only: once a file has shipped, never edit it; add
-- the next numbered file instead. Each file runs in one transaction and is
-- recorded in schema_migrations (see src/store/migrate.rs).

CREATE TABLE channels (
    id             bigserial PRIMARY KEY,
    -- Twitch user id of the broadcaster; null until learned (from ROOMSTATE or OAuth).
    twitch_user_id text UNIQUE,
    login          text NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9_]{1,25}$'),
    display_name   text NOT NULL,
    paused         boolean NOT NULL DEFAULT false,
    needs_reauth   boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE presence (
    channel_id     bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    user_id        text NOT NULL,
    login          text NOT NULL,
    display_name   text NOT NULL,
    is_subscriber  boolean NOT NULL DEFAULT false,
    is_vip         boolean NOT NULL DEFAULT false,
    is_moderator   boolean NOT NULL DEFAULT false,
    is_broadcaster boolean NOT NULL DEFAULT false,
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    message_count  bigint NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    -- null: not banned; a time: timed out until then; 'infinity': banned.
    banned_until   timestamptz,
    PRIMARY KEY (channel_id, user_id)
);

-- Candidate selection (SPEC §5 step 2): active viewers of one channel.
CREATE INDEX presence_active_idx
    ON presence (channel_id, last_seen DESC)
    INCLUDE (user_id, is_subscriber, banned_until);

CREATE TABLE items (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    probability double precision NOT NULL CHECK (probability > 0 AND probability <= 1),
    -- null = unlimited
    stock       integer CHECK (stock IS NULL OR stock >= 0),
    -- order in the items file; the draw walks items in this order
    position    integer NOT NULL DEFAULT 0,
    -- false once the item was removed from the items file (kept for history)
    active      boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE raffles (
    id                  bigserial PRIMARY KEY,
    channel_id          bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    -- floor(unix time / RAFFLE_INTERVAL) for timer rounds; null for manual draws
    slot                bigint,
    trigger             text NOT NULL CHECK (trigger IN ('timer', 'manual', 'chat')),
    outcome             text NOT NULL CHECK (outcome IN ('won', 'no_prize', 'no_candidates', 'skipped_offline')),
    item_name           text,
    winner_user_id      text,
    winner_login        text,
    winner_display_name text,
    seed                bytea NOT NULL CHECK (octet_length(seed) = 32),
    -- [{"user_id": "...", "weight": n}, ...] sorted by user_id
    candidates          jsonb NOT NULL,
    candidates_digest   text NOT NULL,
    candidate_count     integer NOT NULL CHECK (candidate_count >= 0),
    -- the item table (name, probability, remaining stock) the draw saw, for verify
    items               jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, slot),
    CHECK ((outcome = 'won') = (winner_user_id IS NOT NULL AND item_name IS NOT NULL))
);

CREATE INDEX raffles_channel_created_idx ON raffles (channel_id, created_at DESC);
CREATE INDEX raffles_created_idx ON raffles (created_at DESC);
-- Winner cooldown (SPEC §5 step 2).
CREATE INDEX raffles_recent_winners_idx
    ON raffles (channel_id, created_at DESC, winner_user_id)
    WHERE outcome = 'won';

CREATE TABLE outbox (
    id                 bigserial PRIMARY KEY,
    -- null for notices (e.g. a channel needs re-authorisation)
    raffle_id          bigint UNIQUE REFERENCES raffles (id) ON DELETE CASCADE,
    payload            jsonb NOT NULL,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    last_error         text,
    discord_message_id text,
    sent_at            timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Delivery worker: due pending rows (SPEC §6).
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE status = 'pending';

-- Twitch tokens of connected channels, encrypted with TOKEN_KEY (SPEC §7).
CREATE TABLE twitch_tokens (
    channel_id        bigint PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    -- nonce || ciphertext || tag
    access_token      bytea NOT NULL,
    refresh_token     bytea NOT NULL,
    scopes            text[] NOT NULL DEFAULT '{}',
    expires_at        timestamptz NOT NULL,
    last_validated_at timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Pending OAuth authorisations: the SHA-256 of each single-use state.
CREATE TABLE oauth_states (
    state_hash bytea PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX oauth_states_expiry_idx ON oauth_states (expires_at);
