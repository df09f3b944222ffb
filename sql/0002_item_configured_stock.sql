-- The stock an item had in the items file when the file was last
-- synchronised. `items.stock` is what remains; a different value in the file
-- at the next start means the streamer restocked, and resets it.
-- Append-only: never edit once shipped.
ALTER TABLE items
    ADD COLUMN configured_stock integer CHECK (configured_stock IS NULL OR configured_stock >= 0);
UPDATE items SET configured_stock = stock;
