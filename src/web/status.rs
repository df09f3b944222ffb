//! `GET /api/status` (SPEC §9): what the dashboard shows about each channel.
//!
//! Channels listed: every channel this instance serves (`TWITCH_CHANNELS`,
//! `--channel`, connected streamers) and every channel in the database (so a
//! disconnected channel's history stays visible), sorted by login. Fields:
//!
//! - `connected`: tokens are stored for the channel and it does not need
//!   re-auth, i.e. the bot can act as the streamer right now;
//! - `live`: Helix's answer, cached for [`crate::twitch::live_status::DASHBOARD_LIVE_TTL`];
//!   `null` when unknown (no Twitch credentials, broadcaster id not learned
//!   yet, Twitch unreachable);
//! - `active_viewers`: presence rows seen within `ACTIVE_WINDOW`, not banned
//!   or timed out (the raffle also drops ignored users, so it may count fewer);
//! - `next_raffle_at`: the next slot boundary (RFC 3339, UTC); `null` when
//!   paused, or when this instance runs no timer for the channel;
//! - `served_by`: the `INSTANCE_ID` holding the channel's lease (SPEC §15),
//!   `null` when no instance serves it now.
//!
//! And `instance`: this instance's id, the channels it leases, its share,
//! the live instances, and its chat joins pending and confirmed.

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::reply::{self, WebError};
use super::state::WebState;
use crate::raffle::scheduler::upcoming_slot_of;
use crate::store;

/// One channel in `/api/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ChannelStatus {
    /// Lowercase login.
    pub(crate) login: String,
    /// Display name (the login until Twitch tells us better).
    pub(crate) display_name: String,
    /// Tokens stored and not needing re-auth.
    pub(crate) connected: bool,
    /// Live, offline, or `None` when unknown.
    pub(crate) live: Option<bool>,
    /// Automatic raffles paused.
    pub(crate) paused: bool,
    /// The streamer must connect again.
    pub(crate) needs_reauth: bool,
    /// Active, not banned viewers.
    pub(crate) active_viewers: u64,
    /// Start of the next timer slot (RFC 3339, UTC), `None` when paused or not served here.
    pub(crate) next_raffle_at: Option<String>,
    /// `INSTANCE_ID` of the instance serving the channel, if any.
    pub(crate) served_by: Option<String>,
    /// Scopes the eligibility gates need that the channel's connection
    /// lacks (issue 18): lurkers or follow ages cannot be had until the
    /// streamer reconnects. Left out of the JSON when none is missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) missing_scopes: Vec<&'static str>,
}

/// This instance, in `/api/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct InstanceStatus {
    /// `INSTANCE_ID`.
    pub(crate) id: String,
    /// Channels it holds a lease on.
    pub(crate) leased_channels: usize,
    /// Its share of the channels.
    pub(crate) share: usize,
    /// Live instances on the database, this one included.
    pub(crate) live_instances: usize,
    /// Chat channels whose join the server has not confirmed yet.
    pub(crate) joins_pending: usize,
    /// Chat channels joined.
    pub(crate) joins_confirmed: usize,
}

/// The body of `/api/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StatusReport {
    /// This instance.
    pub(crate) instance: InstanceStatus,
    /// Channels by login.
    pub(crate) channels: Vec<ChannelStatus>,
}

/// Gathers the status of every channel (one query plus cached live lookups).
///
/// # Errors
///
/// Database errors.
pub(crate) async fn collect(state: &WebState) -> Result<StatusReport, store::Error> {
    let overview = state.store.channel_overview(state.engine.rules().active_window).await?;
    let served = state.served.current();
    let holders: std::collections::HashMap<String, String> = state
        .store
        .channel_holders()
        .await?
        .into_iter()
        .map(|holder| (holder.login, holder.instance_id))
        .collect();
    let holder = |login: &str| holders.get(login).cloned();
    // Each channel's own interval and the scopes its gates need; the
    // defaults when its settings cannot be read.
    let mut intervals = std::collections::HashMap::new();
    let mut gate_scopes = std::collections::HashMap::new();
    for row in &overview {
        let settings = state
            .engine
            .channel_settings(row.channel.id)
            .await
            .unwrap_or_else(|_| state.engine.rules().clone());
        let scopes: Vec<&'static str> = crate::twitch::auth::scopes_for(&settings.gates)
            .into_iter()
            .filter(|scope| !crate::twitch::auth::SCOPES.contains(scope))
            .collect();
        intervals.insert(row.channel.login.clone(), settings.raffle_interval);
        gate_scopes.insert(row.channel.login.clone(), scopes);
    }
    let next_slot_of = |login: &str| {
        let interval = intervals.get(login).copied().unwrap_or(state.raffle_interval);
        rfc3339(upcoming_slot_of(login, interval, served.len()))
    };

    let lookups = overview
        .iter()
        .map(|row| state.live.is_live(row.channel.twitch_user_id.as_deref()));
    let live = futures::future::join_all(lookups).await;

    let mut channels: Vec<ChannelStatus> = overview
        .into_iter()
        .zip(live)
        .map(|(row, live)| {
            let channel = row.channel;
            let is_served = served.iter().any(|login| login.as_str() == channel.login);
            let missing_scopes = if row.has_tokens {
                gate_scopes
                    .get(&channel.login)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|scope| !row.token_scopes.iter().any(|s| s == scope))
                    .collect()
            } else {
                Vec::new()
            };
            ChannelStatus {
                missing_scopes,
                connected: row.has_tokens && !channel.needs_reauth,
                live,
                paused: channel.paused,
                needs_reauth: channel.needs_reauth,
                active_viewers: u64::try_from(row.active_viewers).unwrap_or(0),
                next_raffle_at: (is_served && !channel.paused).then(|| next_slot_of(&channel.login)),
                served_by: holder(&channel.login),
                login: channel.login,
                display_name: channel.display_name,
            }
        })
        .collect();
    // Channels this instance may serve whose row does not exist yet.
    for login in &state.channels.current() {
        if !channels.iter().any(|c| c.login == login.as_str()) {
            channels.push(ChannelStatus {
                login: login.as_str().to_owned(),
                display_name: login.as_str().to_owned(),
                connected: false,
                live: None,
                paused: false,
                needs_reauth: false,
                active_viewers: 0,
                next_raffle_at: served.contains(login).then(|| next_slot_of(login.as_str())),
                served_by: holder(login.as_str()),
                missing_scopes: Vec::new(),
            });
        }
    }
    channels.sort_by(|a, b| a.login.cmp(&b.login));
    for channel in &channels {
        crate::metrics::set_active_viewers(&channel.login, channel.active_viewers);
    }
    let leases = state.leases.snapshot();
    let joins = state.joins.counts();
    Ok(StatusReport {
        instance: InstanceStatus {
            id: leases.instance_id,
            leased_channels: leases.leased_channels,
            share: leases.share,
            live_instances: leases.live_instances,
            joins_pending: joins.pending,
            joins_confirmed: joins.confirmed,
        },
        channels,
    })
}

/// A time as RFC 3339 UTC with whole seconds (`2026-11-24T20:01:00Z`).
pub(crate) fn rfc3339(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `GET /api/status`.
///
/// # Errors
///
/// 503 when the database is unavailable.
pub(crate) async fn api_status(state: WebState) -> Result<Response, WebError> {
    let report = collect(&state).await.map_err(WebError::database_unavailable)?;
    Ok(reply::json(StatusCode::OK, &report))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_whole_seconds() {
        let time = UNIX_EPOCH + Duration::from_millis(1_795_550_460_250);
        assert_eq!(rfc3339(time), "2026-11-24T20:01:00Z");
    }

    #[test]
    fn a_channel_serialises_to_exactly_the_spec_fields() {
        let status = ChannelStatus {
            login: "somestreamer".into(),
            display_name: "SomeStreamer".into(),
            connected: true,
            live: None,
            paused: false,
            needs_reauth: false,
            active_viewers: 37,
            next_raffle_at: Some("2026-11-24T20:01:00Z".into()),
            served_by: Some("host-1".into()),
            missing_scopes: Vec::new(),
        };
        let instance = InstanceStatus {
            id: "host-1".into(),
            leased_channels: 1,
            share: 1,
            live_instances: 2,
            joins_pending: 0,
            joins_confirmed: 1,
        };
        assert_eq!(
            serde_json::to_value(StatusReport {
                instance,
                channels: vec![status]
            })
            .expect("serialises"),
            serde_json::json!({"instance": {"id": "host-1", "leased_channels": 1, "share": 1, "live_instances": 2,
                "joins_pending": 0, "joins_confirmed": 1},
                "channels": [{"login": "somestreamer", "display_name": "SomeStreamer",
                "connected": true, "live": null, "paused": false, "needs_reauth": false,
                "active_viewers": 37, "next_raffle_at": "2026-11-24T20:01:00Z", "served_by": "host-1"}]})
        );
    }
}
