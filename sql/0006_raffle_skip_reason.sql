-- Why a round was skipped_offline (SPEC §16): the stream was offline, or its
-- live status could not be learned (Helix errors, a bad app token) and
-- ONLY_WHEN_LIVE failed closed. Null for rounds that drew.
-- Append-only: never edit once shipped.
ALTER TABLE raffles ADD COLUMN skip_reason text;
