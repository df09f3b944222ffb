-- LANGUAGE per channel (SPEC §10, issue 16): the language a channel's chat
-- lines, Discord posts and dashboard speak, over the environment's
-- LANGUAGE. Null = the default. Stored as its canonical tag (`en`,
-- `pt-BR`), read back through the same parser as the environment's.
-- Append-only: never edit once shipped.

ALTER TABLE channel_settings ADD COLUMN language text;
