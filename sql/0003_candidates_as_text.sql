-- Candidate snapshots are stored as JSON text instead of jsonb: parsing a
-- 100,000-viewer snapshot into jsonb took most of a raffle round. The text is
-- a compact JSON array of [user_id, weight] pairs sorted by user id (rows
-- written before hold {"user_id", "weight"} objects; both are read); cast it
-- with ::jsonb to query it. lz4 (when the server has it) compresses it
-- several times faster than the default.
-- Append-only: never edit once shipped.
ALTER TABLE raffles ALTER COLUMN candidates TYPE text USING candidates::text;
DO $$
BEGIN
    ALTER TABLE raffles ALTER COLUMN candidates SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'lz4 is not available; candidate snapshots use the default compression';
END
$$;
