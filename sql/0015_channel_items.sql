-- Per-channel prize lists (SPEC §10, §13, §17; issue 16). `items.channel_id`
-- null is the default list, synchronised from ITEMS_FILE; a channel's own
-- list is written from the control room or `kinoyubot items import`.
-- Existing rows become the default list unchanged. Names are unique within
-- one list (two partial indexes, so it works on any supported PostgreSQL,
-- not only 15+ with NULLS NOT DISTINCT).
-- Append-only: never edit once shipped.

ALTER TABLE items ADD COLUMN channel_id bigint REFERENCES channels (id) ON DELETE CASCADE;
ALTER TABLE items DROP CONSTRAINT items_name_key;
CREATE UNIQUE INDEX items_default_name_key ON items (name) WHERE channel_id IS NULL;
CREATE UNIQUE INDEX items_channel_name_key ON items (channel_id, name) WHERE channel_id IS NOT NULL;

-- The item row a win took its unit from, so an unclaimed prize goes back
-- to the stock of the list it came from (two lists may name the same
-- prize). Redraws carry their parent's. Wins recorded before come from the
-- default list, the only one there was.
ALTER TABLE raffles ADD COLUMN item_id bigint REFERENCES items (id) ON DELETE SET NULL;
UPDATE raffles r SET item_id = i.id
FROM items i
WHERE i.channel_id IS NULL AND i.name = r.item_name AND r.item_name IS NOT NULL;
CREATE INDEX raffles_item_idx ON raffles (item_id) WHERE item_id IS NOT NULL;
