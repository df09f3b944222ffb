-- The eligibility gates per channel (issue 18, SPEC §10): PRESENCE_SOURCES,
-- MIN_FOLLOW_AGE, MIN_ACCOUNT_AGE, SUBSCRIBERS_ONLY and MIN_MESSAGES join
-- the per-channel settings of channel_settings (null = the environment's
-- default; the value in the environment's syntax, `off` for a channel that
-- does not require following).
ALTER TABLE channel_settings
    ADD COLUMN presence_sources text,
    ADD COLUMN min_follow_age   text,
    ADD COLUMN min_account_age  text,
    ADD COLUMN subscribers_only text,
    ADD COLUMN min_messages     text;

-- Each present viewer's Twitch facts, copied from twitch_accounts and
-- twitch_follows (which stay the cache, shared by channels), so that a
-- round judges the gates over presence alone instead of joining 100,000
-- rows with both caches (issue 18's target: a warm round within 2x of one
-- without gates). Written together with the cache for the channel being
-- judged; a new row starts empty and is filled from the cache before its
-- channel's next gated round. Null = not known.
ALTER TABLE presence
    ADD COLUMN account_created_at timestamptz,
    ADD COLUMN followed_at        timestamptz,
    ADD COLUMN follow_fetched_at  timestamptz;
