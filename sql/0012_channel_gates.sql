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
