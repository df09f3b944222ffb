//! The lease task (SPEC §15): every third of `CHANNEL_LEASE`, and at once
//! when the wanted channels change, it renews this instance's heartbeat and
//! leases, asks [`super::lease::plan`] what to take and hand back, does it,
//! and publishes the channels it now holds in the *served* [`ChannelSet`]
//! that the chat listener, the raffle timers and the token manager follow.
//!
//! Wanted channels are the candidate [`ChannelSet`] (`TWITCH_CHANNELS`,
//! `--channel`, streamers connected here) plus every streamer connected in
//! the database, read each round, so a channel connected on another
//! instance is picked up without a restart.
//!
//! Its cadence runs on tokio's clock (like every I/O pacing, see
//! `crate::clock`); lease expiry is reckoned on the database's. If renewing
//! fails for a whole lease, the instance stops serving everything it held:
//! others may have taken those channels by then.
//!
//! On shutdown it deletes its `instances` row, which deletes its leases:
//! the others take the channels at their next round.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::lease::{self, LeasePlan, Me};
use super::{ChannelLogin, ChannelSet};
use crate::config::InstanceSettings;
use crate::store::{self, Store};

/// What the last lease round found, for `/metrics` and `/api/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct LeaseSnapshot {
    /// `INSTANCE_ID`.
    pub(crate) instance_id: String,
    /// Channels this instance holds.
    pub(crate) leased_channels: usize,
    /// Its share of the channels.
    pub(crate) share: usize,
    /// Live instances on the database, this one included.
    pub(crate) live_instances: usize,
    /// Lease rounds that failed in a row.
    pub(crate) failed_rounds: u32,
}

/// Cheap-to-clone view of the lease task's state.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeaseStatus {
    inner: Arc<Mutex<LeaseSnapshot>>,
}

impl LeaseStatus {
    fn new(instance_id: &str) -> Self {
        let status = Self::default();
        status.update(|snapshot| snapshot.instance_id = instance_id.to_owned());
        status
    }

    /// The last round's figures.
    pub(crate) fn snapshot(&self) -> LeaseSnapshot {
        match self.inner.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut LeaseSnapshot)) {
        let mut guard = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard);
        crate::metrics::set_leased_channels(&guard.instance_id, guard.leased_channels);
    }
}

/// The lease task; see the module doc. A clone that has not run yet is a
/// fresh run of the task (the supervisor restarts it that way).
#[derive(Debug, Clone)]
pub(crate) struct ChannelLeaser {
    store: Store,
    settings: InstanceSettings,
    wanted: ChannelSet,
    served: ChannelSet,
    status: LeaseStatus,
    /// Channel ids by login and back, learned once per channel.
    ids: HashMap<ChannelLogin, i64>,
    logins: HashMap<i64, ChannelLogin>,
    /// Channels held after the last successful round.
    held: BTreeSet<i64>,
    /// When a round last succeeded.
    last_success: Option<Instant>,
}

impl ChannelLeaser {
    /// A task that serves the channels of `wanted` that it can lease,
    /// publishing them in `served`.
    pub(crate) fn new(store: Store, settings: InstanceSettings, wanted: ChannelSet, served: ChannelSet) -> Self {
        let status = LeaseStatus::new(&settings.id);
        Self {
            store,
            settings,
            wanted,
            served,
            status,
            ids: HashMap::new(),
            logins: HashMap::new(),
            held: BTreeSet::new(),
            last_success: None,
        }
    }

    /// The figures this task publishes.
    pub(crate) fn status(&self) -> LeaseStatus {
        self.status.clone()
    }

    /// How often a round runs: a third of the lease, so two renewals can
    /// fail before a lease runs out.
    fn every(&self) -> Duration {
        self.settings.channel_lease / 3
    }

    /// Runs rounds until `shutdown`, then hands every channel back.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let mut changes = self.wanted.subscribe();
        tracing::info!(
            instance = %self.settings.id,
            lease = ?self.settings.channel_lease,
            max_channels = ?self.settings.max_channels,
            "channel leases started"
        );
        loop {
            changes.borrow_and_update();
            self.round().await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.every()) => {}
                changed = changes.changed() => if changed.is_err() {
                    // The candidate set was dropped: keep the cadence.
                    tokio::time::sleep(self.every()).await;
                },
            }
        }
        self.served.replace(BTreeSet::new());
        match self.store.retire_instance(&self.settings.id).await {
            Ok(()) => tracing::info!(channels = self.held.len(), "channel leases handed back"),
            Err(e) => {
                tracing::warn!(error = %e, "could not hand the channel leases back; they run out by themselves");
            }
        }
    }

    /// One round; failures are logged and counted.
    async fn round(&mut self) {
        match self.try_round().await {
            Ok(plan) => {
                self.last_success = Some(Instant::now());
                let held = self.held.len();
                self.status.update(|status| {
                    status.leased_channels = held;
                    status.share = plan.share;
                    status.live_instances = plan.live_instances;
                    status.failed_rounds = 0;
                });
            }
            Err(e) => {
                self.status
                    .update(|status| status.failed_rounds = status.failed_rounds.saturating_add(1));
                tracing::warn!(error = %e, "channel lease round failed; retrying");
                let lost = self
                    .last_success
                    .is_none_or(|at| at.elapsed() >= self.settings.channel_lease);
                if lost && !self.held.is_empty() {
                    tracing::error!(
                        channels = self.held.len(),
                        "leases not renewed for a whole CHANNEL_LEASE; no longer serving their channels"
                    );
                    self.held.clear();
                    self.publish();
                    self.status.update(|status| status.leased_channels = 0);
                }
            }
        }
    }

    async fn try_round(&mut self) -> Result<LeasePlan, store::Error> {
        let wanted = self.wanted_ids().await?;
        let id = self.settings.id.clone();
        let table = self
            .store
            .renew_leases(&id, self.settings.max_channels, self.settings.channel_lease)
            .await?;
        let me = Me {
            id: &id,
            max_channels: self.settings.max_channels,
            lease: chrono::Duration::from_std(self.settings.channel_lease).unwrap_or(chrono::Duration::MAX),
        };
        let plan = lease::plan(me, &wanted, &table);
        let mut held: BTreeSet<i64> = table
            .leases
            .iter()
            .filter(|lease| lease.instance_id == id)
            .map(|lease| lease.channel_id)
            .collect();
        if !plan.release.is_empty() {
            // Stop serving before the row goes, so no other instance
            // serves it while this one still does.
            for channel in &plan.release {
                held.remove(channel);
            }
            self.held = held.clone();
            self.publish();
            self.store.release_leases(&id, &plan.release).await?;
            tracing::info!(
                channels = plan.release.len(),
                share = plan.share,
                "handed channels back"
            );
        }
        if !plan.take.is_empty() {
            let taken = self
                .store
                .take_leases(&id, &plan.take, self.settings.channel_lease)
                .await?;
            if !taken.is_empty() {
                tracing::info!(channels = taken.len(), share = plan.share, "took channels");
            }
            held.extend(taken);
        }
        self.held = held;
        self.publish();
        Ok(plan)
    }

    /// Ids of the wanted channels: the candidate set plus every connected
    /// streamer in the database.
    async fn wanted_ids(&mut self) -> Result<BTreeSet<i64>, store::Error> {
        let mut logins = self.wanted.current();
        for record in self.store.connected_channels().await? {
            if let Ok(login) = ChannelLogin::parse(&record.login) {
                self.ids.entry(login.clone()).or_insert(record.id);
                self.logins.entry(record.id).or_insert_with(|| login.clone());
                logins.insert(login);
            }
        }
        let unknown: Vec<ChannelLogin> = logins
            .iter()
            .filter(|login| !self.ids.contains_key(*login))
            .cloned()
            .collect();
        for (id, login) in self.store.channel_ids(&unknown).await? {
            self.logins.insert(id, login.clone());
            self.ids.insert(login, id);
        }
        Ok(logins.iter().filter_map(|login| self.ids.get(login).copied()).collect())
    }

    /// Publishes the held channels as the served set.
    fn publish(&self) {
        let served: BTreeSet<ChannelLogin> = self.held.iter().filter_map(|id| self.logins.get(id).cloned()).collect();
        self.served.replace(served);
    }
}
