//! Prometheus metrics: the names, one recording helper per metric, and the
//! process-wide recorder that `GET /metrics` renders.
//!
//! Code that counts something calls a helper here (`metrics::raffle_recorded`)
//! rather than the `metrics` macros, so every name and label set lives in one
//! file. The recorder is installed once per process by [`handle`]; tests
//! build several apps in one process and all share it, and a recorder some
//! embedding program installed first is tolerated (our numbers then go to
//! it, and `/metrics` shows only the zeroed series). Until [`handle`] runs,
//! the helpers are no-ops, which is what the `metrics` facade does without a
//! recorder.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::raffle::Outcome;

/// Counter: chat messages (PRIVMSG) received from Twitch IRC.
pub(crate) const CHAT_MESSAGES_TOTAL: &str = "kinoyubot_chat_messages_total";
/// Counter: presence batches written to the database.
pub(crate) const PRESENCE_FLUSHES_TOTAL: &str = "kinoyubot_presence_flushes_total";
/// Histogram (seconds): age of the oldest buffered presence update when its
/// batch reached the database.
pub const PRESENCE_FLUSH_LAG_SECONDS: &str = "kinoyubot_presence_flush_lag_seconds";
/// Gauge, label `channel`: active, not banned viewers (seen within `ACTIVE_WINDOW`).
pub(crate) const ACTIVE_VIEWERS: &str = "kinoyubot_active_viewers";
/// Counter, label `outcome` (`won`, `no_prize`, `no_candidates`, `skipped_offline`):
/// recorded raffles.
pub(crate) const RAFFLES_TOTAL: &str = "kinoyubot_raffles_total";
/// Counter, label `result` (see [`DeliveryResult`]): delivery attempts.
pub(crate) const DELIVERIES_TOTAL: &str = "kinoyubot_deliveries_total";
/// Counter, label `result` (see [`TokenRefreshResult`]): Twitch token refreshes.
pub(crate) const TOKEN_REFRESHES_TOTAL: &str = "kinoyubot_token_refreshes_total";
/// Counter: reconnections of the Twitch IRC connection.
pub(crate) const IRC_RECONNECTS_TOTAL: &str = "kinoyubot_irc_reconnects_total";
/// Counter, label `what` (see [`SetAside`]): rows the database refused as
/// data (not an outage), set aside so that the rest is written.
pub(crate) const WRITES_SET_ASIDE_TOTAL: &str = "kinoyubot_writes_set_aside_total";

/// Gauge, label `instance`: channels this instance holds a lease on (SPEC §15).
pub(crate) const LEASED_CHANNELS: &str = "kinoyubot_leased_channels";
/// Gauge, labels `instance` and `state` (`pending`, `confirmed`): chat
/// channels this instance wants joined, by whether the server confirmed.
pub(crate) const CHAT_JOINS: &str = "kinoyubot_chat_joins";
/// Histogram (seconds), label `instance`: how long after its slot started a
/// timer round was drawn.
pub const SLOT_LAG_SECONDS: &str = "kinoyubot_slot_lag_seconds";

/// Every metric name, for documentation and tests.
pub const ALL: [&str; 12] = [
    CHAT_MESSAGES_TOTAL,
    PRESENCE_FLUSHES_TOTAL,
    PRESENCE_FLUSH_LAG_SECONDS,
    ACTIVE_VIEWERS,
    RAFFLES_TOTAL,
    DELIVERIES_TOTAL,
    TOKEN_REFRESHES_TOTAL,
    IRC_RECONNECTS_TOTAL,
    WRITES_SET_ASIDE_TOTAL,
    LEASED_CHANNELS,
    CHAT_JOINS,
    SLOT_LAG_SECONDS,
];

/// Histogram buckets for the slot lag: the target is under a second.
const SLOT_LAG_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0];

/// The instance label of this process's series (`INSTANCE_ID`), set once
/// by `App::build`; tests running several apps in one process keep the first.
static INSTANCE: OnceLock<String> = OnceLock::new();

/// Names this process's instance in the per-instance series.
pub(crate) fn set_instance(id: &str) {
    let _ = INSTANCE.set(id.to_owned());
}

fn instance() -> String {
    INSTANCE.get().cloned().unwrap_or_default()
}

/// Histogram buckets for the flush lag: the flusher runs about once a
/// second, so the interesting range is 10 ms to a database outage.
const FLUSH_LAG_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0];

/// What one delivery attempt of an outbox row came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliveryResult {
    /// Delivered (Discord, or printed without a webhook).
    Sent,
    /// Given up: Discord rejected it, or the payload is unreadable.
    Failed,
    /// A transient error (5xx, network); retried with backoff.
    Retry,
    /// Discord said 429; retried after its `retry_after`.
    RateLimited,
}

impl DeliveryResult {
    /// The `result` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Retry => "retry",
            Self::RateLimited => "rate_limited",
        }
    }

    const ALL: [Self; 4] = [Self::Sent, Self::Failed, Self::Retry, Self::RateLimited];
}

/// What one token refresh came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenRefreshResult {
    /// New tokens stored.
    Ok,
    /// Twitch refused the refresh token; the channel needs re-auth.
    Refused,
    /// Twitch unreachable or answered oddly; retried next cycle.
    Error,
}

impl TokenRefreshResult {
    /// The `result` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Error => "error",
        }
    }

    const ALL: [Self; 3] = [Self::Ok, Self::Refused, Self::Error];
}

/// What kind of write the database refused (issue 12 item 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetAside {
    /// A presence row, ban or channel identity of a presence batch.
    Presence,
    /// A raffle round.
    Raffle,
}

impl SetAside {
    /// The `what` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Presence => "presence",
            Self::Raffle => "raffle",
        }
    }

    const ALL: [Self; 2] = [Self::Presence, Self::Raffle];
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use.
///
/// Safe to call from every `App::build`: the first call installs, the
/// others get the same handle.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        // Only an empty bucket list is rejected, which this constant is
        // not; the fallback reports the lag as a summary instead.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(PRESENCE_FLUSH_LAG_SECONDS.to_owned()), &FLUSH_LAG_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(Matcher::Full(SLOT_LAG_SECONDS.to_owned()), &SLOT_LAG_BUCKETS)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(e) = ::metrics::set_global_recorder(recorder) {
            // Another recorder (an embedding program's) came first: ours
            // stays empty rather than failing the start.
            tracing::warn!(error = %e, "a metrics recorder was already installed; /metrics stays empty");
        }
        describe_and_zero();
        handle
    })
}

/// The metrics in Prometheus text format.
pub fn render() -> String {
    let handle = handle();
    // Histogram buckets and idle series are maintained lazily; keeping them
    // current at scrape time avoids a background task.
    handle.run_upkeep();
    handle.render()
}

/// HELP lines, and every fixed series at zero so a first scrape shows the
/// whole list (a counter that never moved is still worth graphing).
fn describe_and_zero() {
    use ::metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(CHAT_MESSAGES_TOTAL, "Chat messages received from Twitch IRC.");
    describe_counter!(PRESENCE_FLUSHES_TOTAL, "Presence batches written to the database.");
    describe_histogram!(
        PRESENCE_FLUSH_LAG_SECONDS,
        Unit::Seconds,
        "Age of the oldest buffered presence update when its batch was written."
    );
    describe_gauge!(ACTIVE_VIEWERS, "Active, not banned viewers per channel.");
    describe_counter!(RAFFLES_TOTAL, "Recorded raffles by outcome.");
    describe_counter!(DELIVERIES_TOTAL, "Announcement delivery attempts by result.");
    describe_counter!(TOKEN_REFRESHES_TOTAL, "Twitch token refreshes by result.");
    describe_counter!(IRC_RECONNECTS_TOTAL, "Reconnections to Twitch IRC.");
    describe_counter!(
        WRITES_SET_ASIDE_TOTAL,
        "Rows the database refused as data, set aside so the rest is written."
    );
    describe_gauge!(LEASED_CHANNELS, "Channels this instance holds a lease on.");
    describe_gauge!(
        CHAT_JOINS,
        "Chat channels this instance wants joined, by state (pending, confirmed)."
    );
    describe_histogram!(
        SLOT_LAG_SECONDS,
        Unit::Seconds,
        "How long after its slot started a timer round was drawn."
    );
    counter!(CHAT_MESSAGES_TOTAL).absolute(0);
    counter!(PRESENCE_FLUSHES_TOTAL).absolute(0);
    counter!(IRC_RECONNECTS_TOTAL).absolute(0);
    // Every outcome at zero, so dashboards see every series.
    for outcome in Outcome::ALL {
        counter!(RAFFLES_TOTAL, "outcome" => outcome.as_str()).absolute(0);
    }
    for result in DeliveryResult::ALL {
        counter!(DELIVERIES_TOTAL, "result" => result.as_str()).absolute(0);
    }
    for result in TokenRefreshResult::ALL {
        counter!(TOKEN_REFRESHES_TOTAL, "result" => result.as_str()).absolute(0);
    }
    for what in SetAside::ALL {
        counter!(WRITES_SET_ASIDE_TOTAL, "what" => what.as_str()).absolute(0);
    }
}

/// Counts one row the database refused as data and that was set aside.
pub(crate) fn write_set_aside(what: SetAside) {
    ::metrics::counter!(WRITES_SET_ASIDE_TOTAL, "what" => what.as_str()).increment(1);
}

/// Counts one chat message. For the chat listener (`twitch::irc`): call it
/// for every PRIVMSG received.
pub(crate) fn chat_message_received() {
    ::metrics::counter!(CHAT_MESSAGES_TOTAL).increment(1);
}

/// Counts one presence batch written, and how old its oldest update was.
/// For the presence flusher: call it after each successful flush.
pub(crate) fn presence_flushed(lag: Duration) {
    ::metrics::counter!(PRESENCE_FLUSHES_TOTAL).increment(1);
    ::metrics::histogram!(PRESENCE_FLUSH_LAG_SECONDS).record(lag.as_secs_f64());
}

/// Counts one IRC reconnection. For the chat listener: call it when the
/// connection comes back after a drop or a RECONNECT.
pub(crate) fn irc_reconnected() {
    ::metrics::counter!(IRC_RECONNECTS_TOTAL).increment(1);
}

/// Sets the active viewer count of a channel (from `/api/status` and the
/// raffle round, which both count them).
pub(crate) fn set_active_viewers(channel: &str, count: u64) {
    // f64 holds every count below 2^53 exactly; viewer counts are far below.
    ::metrics::gauge!(ACTIVE_VIEWERS, "channel" => channel.to_owned()).set(count as f64);
}

/// Counts one recorded raffle by its outcome.
pub(crate) fn raffle_recorded(outcome: Outcome) {
    ::metrics::counter!(RAFFLES_TOTAL, "outcome" => outcome.as_str()).increment(1);
}

/// Counts one delivery attempt by its result.
pub(crate) fn delivery_attempted(result: DeliveryResult) {
    ::metrics::counter!(DELIVERIES_TOTAL, "result" => result.as_str()).increment(1);
}

/// Counts one token refresh by its result.
pub(crate) fn token_refreshed(result: TokenRefreshResult) {
    ::metrics::counter!(TOKEN_REFRESHES_TOTAL, "result" => result.as_str()).increment(1);
}

/// Sets how many channels an instance holds a lease on.
pub(crate) fn set_leased_channels(instance: &str, count: usize) {
    ::metrics::gauge!(LEASED_CHANNELS, "instance" => instance.to_owned()).set(count as f64);
}

/// Sets how many chat channels are joined and how many wait for the
/// server's confirmation.
pub(crate) fn set_chat_joins(pending: usize, confirmed: usize) {
    let instance = instance();
    ::metrics::gauge!(CHAT_JOINS, "instance" => instance.clone(), "state" => "pending").set(pending as f64);
    ::metrics::gauge!(CHAT_JOINS, "instance" => instance, "state" => "confirmed").set(confirmed as f64);
}

/// Records how late after its slot's start a timer round was drawn.
pub(crate) fn slot_drawn(lag: Duration) {
    ::metrics::histogram!(SLOT_LAG_SECONDS, "instance" => instance()).record(lag.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_listed_after_install_and_names_are_prometheus_safe() {
        for name in ALL {
            assert!(name.starts_with("kinoyubot_"), "{name}");
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}");
        }
        // Counts before the recorder exists are dropped, as in the app,
        // which installs it in `App::build`.
        handle();
        raffle_recorded(Outcome::Won);
        presence_flushed(Duration::from_millis(300));
        set_active_viewers("unit_test_channel", 3);
        set_leased_channels("unit_test_instance", 2);
        set_chat_joins(1, 2);
        slot_drawn(Duration::from_millis(20));
        let text = render();
        for name in ALL {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert!(text.contains("kinoyubot_raffles_total{outcome=\"won\"}"), "{text}");
        assert!(
            text.contains("kinoyubot_active_viewers{channel=\"unit_test_channel\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("kinoyubot_leased_channels{instance=\"unit_test_instance\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("kinoyubot_presence_flush_lag_seconds_bucket{le=\"0.5\"}"),
            "lag is a histogram:\n{text}"
        );
    }
}
