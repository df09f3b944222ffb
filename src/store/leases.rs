//! The `instances` and `channel_leases` tables (SPEC §15): which instance
//! serves which channel. Expiry is reckoned on the database's clock
//! (`now()`), the one clock all instances share; the decisions are made in
//! `crate::channel::lease` from what [`Store::renew_leases`] reads.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Error, Store, get};
use crate::channel::ChannelLogin;
use crate::channel::lease::{InstanceRow, LeaseRow, LeaseTable};

/// Who serves a channel, for `/api/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelHolder {
    /// The channel's login.
    pub(crate) login: String,
    /// `INSTANCE_ID` of the holder.
    pub(crate) instance_id: String,
    /// Held until then.
    pub(crate) lease_until: DateTime<Utc>,
}

/// A lease length as seconds for `make_interval`.
fn seconds(lease: Duration) -> f64 {
    lease.as_secs_f64()
}

fn max_channels_column(max_channels: Option<u32>) -> Option<i32> {
    // The column is an integer; a cap above i32::MAX is as good as none.
    max_channels.and_then(|cap| i32::try_from(cap).ok())
}

impl Store {
    /// One heartbeat: records this instance as alive, renews every lease it
    /// holds until `now() + lease`, forgets instances silent for two leases
    /// (their leases ran out long ago), and reads both tables back on the
    /// database's clock.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn renew_leases(
        &self,
        instance_id: &str,
        max_channels: Option<u32>,
        lease: Duration,
    ) -> Result<LeaseTable, Error> {
        let client = self.pool.get().await?;
        let lease_seconds = seconds(lease);
        client
            .execute(
                "INSERT INTO instances (id, max_channels) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET heartbeat = now(), max_channels = EXCLUDED.max_channels",
                &[&instance_id, &max_channels_column(max_channels)],
            )
            .await?;
        client
            .execute(
                "UPDATE channel_leases SET lease_until = now() + make_interval(secs => $2::float8)
                 WHERE instance_id = $1",
                &[&instance_id, &lease_seconds],
            )
            .await?;
        client
            .execute(
                "DELETE FROM instances WHERE id <> $1 AND heartbeat < now() - make_interval(secs => $2::float8 * 2)",
                &[&instance_id, &lease_seconds],
            )
            .await?;
        let now: DateTime<Utc> = get(&client.query_one("SELECT now() AS now", &[]).await?, "now")?;
        let instances = client
            .query("SELECT id, max_channels, heartbeat FROM instances", &[])
            .await?
            .iter()
            .map(|row| {
                let cap: Option<i32> = get(row, "max_channels")?;
                Ok(InstanceRow {
                    id: get(row, "id")?,
                    max_channels: cap.and_then(|cap| u32::try_from(cap).ok()),
                    heartbeat: get(row, "heartbeat")?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let leases = client
            .query("SELECT channel_id, instance_id, lease_until FROM channel_leases", &[])
            .await?
            .iter()
            .map(|row| {
                Ok(LeaseRow {
                    channel_id: get(row, "channel_id")?,
                    instance_id: get(row, "instance_id")?,
                    lease_until: get(row, "lease_until")?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(LeaseTable { now, instances, leases })
    }

    /// Takes these channels for `lease` where they are free (no lease, or
    /// one that ran out); returns the ones taken. Two instances taking the
    /// same channel at once: one wins, the other's row is left alone.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn take_leases(
        &self,
        instance_id: &str,
        channel_ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, Error> {
        if channel_ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "INSERT INTO channel_leases (channel_id, instance_id, lease_until)
                 SELECT id, $1, now() + make_interval(secs => $3::float8) FROM unnest($2::bigint[]) AS id
                 ON CONFLICT (channel_id) DO UPDATE
                     SET instance_id = EXCLUDED.instance_id, lease_until = EXCLUDED.lease_until, taken_at = now()
                     WHERE channel_leases.lease_until <= now() OR channel_leases.instance_id = EXCLUDED.instance_id
                 RETURNING channel_id",
                &[&instance_id, &channel_ids, &seconds(lease)],
            )
            .await?;
        rows.iter().map(|row| get(row, "channel_id")).collect()
    }

    /// Hands these channels back (only those this instance holds).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn release_leases(&self, instance_id: &str, channel_ids: &[i64]) -> Result<u64, Error> {
        if channel_ids.is_empty() {
            return Ok(0);
        }
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "DELETE FROM channel_leases WHERE instance_id = $1 AND channel_id = ANY($2)",
                &[&instance_id, &channel_ids],
            )
            .await?)
    }

    /// Removes this instance and, with it, every lease it holds (a graceful
    /// stop hands its channels back at once).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn retire_instance(&self, instance_id: &str) -> Result<(), Error> {
        let client = self.pool.get().await?;
        client
            .execute("DELETE FROM instances WHERE id = $1", &[&instance_id])
            .await?;
        Ok(())
    }

    /// The ids of these channels, recording the ones that have no row yet.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn channel_ids(&self, logins: &[ChannelLogin]) -> Result<Vec<(i64, ChannelLogin)>, Error> {
        if logins.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<&str> = logins.iter().map(ChannelLogin::as_str).collect();
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO channels (login, display_name)
                 SELECT login, login FROM unnest($1::text[]) AS login
                 ON CONFLICT (login) DO NOTHING",
                &[&texts],
            )
            .await?;
        let rows = client
            .query("SELECT id, login FROM channels WHERE login = ANY($1)", &[&texts])
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let login: &str = get(row, "login")?;
            match ChannelLogin::parse(login) {
                Ok(login) => out.push((get(row, "id")?, login)),
                Err(e) => tracing::warn!(login, error = %e, "skipping a stored channel with an invalid login"),
            }
        }
        Ok(out)
    }

    /// Every valid lease with its channel's login, by login.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn channel_holders(&self) -> Result<Vec<ChannelHolder>, Error> {
        let client = self.pool.get().await?;
        client
            .query(
                "SELECT c.login, l.instance_id, l.lease_until
                 FROM channel_leases l JOIN channels c ON c.id = l.channel_id
                 WHERE l.lease_until > now() ORDER BY c.login",
                &[],
            )
            .await?
            .iter()
            .map(|row| {
                Ok(ChannelHolder {
                    login: get(row, "login")?,
                    instance_id: get(row, "instance_id")?,
                    lease_until: get(row, "lease_until")?,
                })
            })
            .collect()
    }
}
