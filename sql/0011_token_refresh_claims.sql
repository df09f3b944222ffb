-- Durable token rotation (issue 12 item 5).
--
-- A refresh is claimed in a short transaction of its own (refresh_claim, a
-- random id, until refresh_claimed_until), the call to Twitch runs outside
-- any transaction, and the rotated tokens are written right after in
-- another short one that also clears the claim. While a claim is current no
-- other instance refreshes the same token; a claim whose holder died lapses.

ALTER TABLE twitch_tokens
    ADD COLUMN refresh_claim bigint,
    ADD COLUMN refresh_claimed_until timestamptz;
