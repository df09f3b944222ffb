-- Presence bans (SPEC §4): when the latest ban or timeout was seen.
--
-- Append-only, like every migration (see 0001_initial.sql).
--
-- Twitch sends nothing to chat readers when a ban is lifted, but a banned
-- user cannot chat: a message received after banned_at proves the unban, so
-- the presence upsert clears banned_until when last_seen passes banned_at
-- (src/store/presence.rs).
ALTER TABLE presence ADD COLUMN banned_at timestamptz;
