-- One answer per Discord interaction across instances (issue 17 follow-up,
-- SPEC §12 and §15).
--
-- Instances sharing one DISCORD_BOT_TOKEN each have a Gateway session, and
-- Discord delivers every interaction to each of them. The instance whose
-- INSERT of the interaction's id lands first answers it; the others find
-- the row and stay silent. There is no foreign key to instances: a claim
-- must outlive its instance's row, or a retired instance's interactions
-- could be claimed again. Rows older than an interaction token's lifetime
-- (15 minutes) are pruned as new claims are made.

CREATE TABLE discord_interactions (
    interaction_id bigint PRIMARY KEY,
    instance_id    text NOT NULL CHECK (length(instance_id) BETWEEN 1 AND 64),
    claimed_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX discord_interactions_by_age ON discord_interactions (claimed_at);
