-- CONNECT_POLICY (SPEC §10) and bounded OAuth states (issue 13).
--
-- install_owner: the account that owns this install under CONNECT_POLICY=first
-- (one row at most). channel_approvals: logins the owner or the admin let
-- connect besides the owner and TWITCH_CHANNELS.

CREATE TABLE install_owner (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    twitch_user_id text NOT NULL,
    login          text NOT NULL,
    claimed_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE channel_approvals (
    login       text PRIMARY KEY CHECK (login ~ '^[a-z0-9_]{1,25}$'),
    approved_by text NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT now()
);

-- Installs connected before this setting existed: the channel connected
-- longest ago owns the install and every connected channel stays allowed to
-- reconnect (the operator reviews them on the dashboard and disconnects
-- strangers with DELETE /api/channels/{login}/connection).
INSERT INTO install_owner (twitch_user_id, login)
SELECT c.twitch_user_id, c.login
FROM twitch_tokens t JOIN channels c ON c.id = t.channel_id
WHERE c.twitch_user_id IS NOT NULL
ORDER BY c.created_at, c.id
LIMIT 1;

INSERT INTO channel_approvals (login, approved_by)
SELECT c.login, 'connected before CONNECT_POLICY'
FROM twitch_tokens t JOIN channels c ON c.id = t.channel_id;

-- Which client started each pending authorisation (its network address,
-- truncated to the /64 for IPv6), so one client cannot fill the table.
ALTER TABLE oauth_states ADD COLUMN client text NOT NULL DEFAULT 'unknown';
CREATE INDEX oauth_states_client_idx ON oauth_states (client, created_at);
