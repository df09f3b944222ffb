//! The `discord_interactions` table (SPEC §12 and §15): which instance
//! answers a Discord interaction when several share one bot token and each
//! receives every interaction on its own Gateway session.

use std::time::Duration;

use super::{Error, Store};

impl Store {
    /// Claims interaction `interaction_id` for `instance_id`: `true` when
    /// this call recorded the claim (this instance answers), `false` when
    /// another claim was there first (it stays silent). One statement:
    /// `INSERT … ON CONFLICT DO NOTHING`, so of two instances claiming at
    /// once exactly one wins.
    ///
    /// The same statement prunes claims older than `keep` (an interaction
    /// token's lifetime), skipping rows another instance is pruning, so two
    /// pruning claims never wait for each other.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn claim_interaction(
        &self,
        interaction_id: i64,
        instance_id: &str,
        keep: Duration,
    ) -> Result<bool, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "WITH pruned AS (
                     DELETE FROM discord_interactions WHERE interaction_id IN (
                         SELECT interaction_id FROM discord_interactions
                         WHERE claimed_at < now() - make_interval(secs => $3::float8)
                         FOR UPDATE SKIP LOCKED))
                 INSERT INTO discord_interactions (interaction_id, instance_id) VALUES ($1, $2)
                 ON CONFLICT (interaction_id) DO NOTHING
                 RETURNING interaction_id",
                &[&interaction_id, &instance_id, &keep.as_secs_f64()],
            )
            .await?;
        Ok(!rows.is_empty())
    }
}
