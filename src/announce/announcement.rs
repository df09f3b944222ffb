//! What is announced, and where its delivery stands. Pure.
//!
//! An [`Announcement`] is stored as jsonb in the outbox in the same
//! transaction as what it announces, and rendered only when it is sent
//! (`super::render`), so a rendering change applies to rows already queued.
//! Its JSON is therefore a storage format: rows written by earlier versions
//! must keep deserialising (see the tests).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Something to announce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Announcement {
    /// A raffle was won. Only wins are announced: other outcomes are
    /// recorded and shown on the dashboard, not posted every minute.
    // Stored as `raffle_result`, the name earlier versions used (they also
    // stored an `outcome`, always "won", which is ignored when read).
    #[serde(rename = "raffle_result")]
    Win {
        /// Raffle id, as used by `kinoyubot verify <id>`.
        raffle_id: i64,
        /// Twitch login of the channel the raffle ran in.
        channel_login: String,
        /// Twitch display name of that channel.
        channel_display_name: String,
        /// Name of the prize.
        item_name: String,
        /// Twitch display name of the winner.
        winner_display_name: String,
        /// Twitch login of the winner.
        winner_login: String,
        /// How many candidates took part in the draw.
        candidate_count: i64,
        /// Hex digest of the candidate snapshot, for verification.
        digest_hex: String,
        /// When the raffle was recorded.
        created_at: DateTime<Utc>,
    },
    /// What became of a win with a claim window (SPEC §11): claimed in
    /// time, or expired (and redrawn, or back to stock).
    Claim {
        /// The won raffle.
        raffle_id: i64,
        /// Twitch login of the channel.
        channel_login: String,
        /// Its display name.
        channel_display_name: String,
        /// Name of the prize.
        item_name: String,
        /// Twitch display name of the winner.
        winner_display_name: String,
        /// Twitch login of the winner.
        winner_login: String,
        /// What became of it.
        result: ClaimResult,
    },
    /// An operational notice about a channel (e.g. "needs re-authorisation").
    Notice {
        /// Twitch login of the channel concerned.
        channel_login: String,
        /// Human-readable message.
        message: String,
    },
}

/// What became of a claim, for [`Announcement::Claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ClaimResult {
    /// The winner chatted in time.
    Claimed,
    /// The deadline passed.
    Expired {
        /// The redraw's raffle id; `None` when no redraw followed.
        redraw_id: Option<i64>,
        /// The item went back to stock (the last allowed redraw expired too,
        /// or nobody was left to draw).
        returned_to_stock: bool,
    },
}

/// Where an outbox row goes (`outbox.kind`); serialises as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// A Discord post (webhook or stdout).
    Discord,
    /// A line in the channel's Twitch chat.
    TwitchChat,
}

impl OutboxKind {
    /// Every kind.
    pub(crate) const ALL: [Self; 2] = [Self::Discord, Self::TwitchChat];

    /// The stored word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Discord => "discord",
            Self::TwitchChat => "twitch_chat",
        }
    }
}

/// Which event of its raffle an outbox row tells (`outbox.event`): each
/// raffle is told at most once per destination and event. Serialises as
/// stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxEvent {
    /// The raffle's result (a win, or a round without a prize in chat).
    Win,
    /// The winner claimed the prize.
    Claimed,
    /// The winner's claim expired.
    Unclaimed,
    /// A reply to a chat command (no raffle).
    Reply,
    /// An operational notice (no raffle).
    Notice,
}

impl OutboxEvent {
    /// Every event.
    pub(crate) const ALL: [Self; 5] = [Self::Win, Self::Claimed, Self::Unclaimed, Self::Reply, Self::Notice];

    /// The stored word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Win => "win",
            Self::Claimed => "claimed",
            Self::Unclaimed => "unclaimed",
            Self::Reply => "reply",
            Self::Notice => "notice",
        }
    }
}

impl Announcement {
    /// The outbox event this announcement is.
    pub(crate) fn event(&self) -> OutboxEvent {
        match self {
            Self::Win { .. } => OutboxEvent::Win,
            Self::Claim {
                result: ClaimResult::Claimed,
                ..
            } => OutboxEvent::Claimed,
            Self::Claim { .. } => OutboxEvent::Unclaimed,
            Self::Notice { .. } => OutboxEvent::Notice,
        }
    }

    /// The raffle it tells about; `None` for notices.
    pub(crate) fn raffle_id(&self) -> Option<i64> {
        match self {
            Self::Win { raffle_id, .. } | Self::Claim { raffle_id, .. } => Some(*raffle_id),
            Self::Notice { .. } => None,
        }
    }

    /// The login of the channel it is about.
    pub(crate) fn channel_login(&self) -> &str {
        match self {
            Self::Win { channel_login, .. }
            | Self::Claim { channel_login, .. }
            | Self::Notice { channel_login, .. } => channel_login,
        }
    }
}

/// Where an outbox row stands; serialises as in the JSON API (`"sent"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting to be sent (possibly retrying after an error).
    Pending,
    /// Delivered (to Discord, or printed when no webhook is configured).
    Sent,
    /// Given up: Discord rejected it (see `last_error`).
    Failed,
}

impl DeliveryStatus {
    /// Every status.
    pub(crate) const ALL: [Self; 3] = [Self::Pending, Self::Sent, Self::Failed];

    /// The value stored in `outbox.status` and shown by the JSON API.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// The `outbox.last_error` of a Discord post refused with `status` (the
/// status as `404 Not Found`) and Discord's `reason`.
pub(crate) fn discord_rejection_error(status: impl fmt::Display, reason: &str) -> String {
    format!("Discord rejected the message: {status}: {reason}")
}

/// Why a delivery was given up, as far as the dashboard needs to tell the
/// streamer what to do; serialises in `snake_case` (`"webhook_gone"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryFailure {
    /// Discord answered 401 or 404: the webhook was deleted or its token
    /// is wrong; check `DISCORD_WEBHOOK_URL`, then resend.
    WebhookGone,
    /// Discord or Twitch refused the message for another reason (see the
    /// error); resending may help once that is fixed.
    Rejected,
}

impl DeliveryFailure {
    /// Every value, in stored order.
    pub const ALL: [Self; 2] = [Self::WebhookGone, Self::Rejected];

    /// The word stored in `outbox.failure` and used in the JSON API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebhookGone => "webhook_gone",
            Self::Rejected => "rejected",
        }
    }

    /// The failure of a Discord post refused with HTTP `status`: 401 and
    /// 404 mean the webhook is gone (deleted, or a wrong token).
    pub(crate) fn of_discord_status(status: u16) -> Self {
        match status {
            401 | 404 => Self::WebhookGone,
            _ => Self::Rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn status_words_match_the_json_api() {
        let words: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(words, ["pending", "sent", "failed"]);
        for status in DeliveryStatus::ALL {
            assert_eq!(serde_json::to_value(status).ok(), Some(json!(status.as_str())));
        }
    }

    #[test]
    fn announcements_serialise_with_a_kind_tag_and_round_trip() {
        let win = Announcement::Win {
            raffle_id: 42,
            channel_login: "somestreamer".into(),
            channel_display_name: "SomeStreamer".into(),
            item_name: "Steam key".into(),
            winner_display_name: "Viewer".into(),
            winner_login: "viewer".into(),
            candidate_count: 37,
            digest_hex: "9f2c".into(),
            created_at: DateTime::parse_from_rfc3339("2025-03-01T20:15:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
        };
        let value = serde_json::to_value(&win).unwrap_or_default();
        assert_eq!(value["kind"], "raffle_result");
        assert_eq!(value["item_name"], "Steam key");
        assert_eq!(value["created_at"], "2025-03-01T20:15:00Z");
        assert_eq!(serde_json::from_value::<Announcement>(value).ok(), Some(win));
        let notice = json!({ "kind": "notice", "channel_login": "c", "message": "m" });
        assert_eq!(
            serde_json::from_value::<Announcement>(notice).ok(),
            Some(Announcement::Notice {
                channel_login: "c".into(),
                message: "m".into()
            })
        );
    }

    #[test]
    fn a_win_queued_by_an_earlier_version_still_reads() {
        // The payload as earlier versions wrote it: an `outcome` field and
        // nullable names.
        let stored = json!({
            "kind": "raffle_result", "raffle_id": 7, "channel_login": "chan",
            "channel_display_name": "Chan", "outcome": "won", "item_name": "Mug",
            "winner_display_name": "Viewer", "winner_login": "viewer",
            "candidate_count": 3, "digest_hex": "ab", "created_at": "2026-11-24T20:00:00Z"
        });
        match serde_json::from_value::<Announcement>(stored) {
            Ok(Announcement::Win {
                raffle_id,
                item_name,
                created_at,
                ..
            }) => {
                assert_eq!((raffle_id, item_name.as_str()), (7, "Mug"));
                assert_eq!(created_at.to_rfc3339(), "2026-11-24T20:00:00+00:00");
            }
            other => panic!("not read as a win: {other:?}"),
        }
    }

    #[test]
    fn a_refused_webhook_is_told_apart_from_other_refusals() {
        let gone = discord_rejection_error("404 Not Found", "Unknown Webhook (10015)");
        assert_eq!(
            gone,
            "Discord rejected the message: 404 Not Found: Unknown Webhook (10015)"
        );
        assert_eq!(DeliveryFailure::of_discord_status(404), DeliveryFailure::WebhookGone);
        assert_eq!(DeliveryFailure::of_discord_status(401), DeliveryFailure::WebhookGone);
        assert_eq!(DeliveryFailure::of_discord_status(400), DeliveryFailure::Rejected);
        assert_eq!(DeliveryFailure::of_discord_status(403), DeliveryFailure::Rejected);
        for failure in DeliveryFailure::ALL {
            assert_eq!(serde_json::to_value(failure).ok(), Some(json!(failure.as_str())));
        }
        assert_eq!(
            serde_json::to_value(DeliveryFailure::WebhookGone).ok(),
            Some(json!("webhook_gone"))
        );
    }

    #[test]
    fn kind_and_event_words_match_the_json() {
        for kind in OutboxKind::ALL {
            assert_eq!(serde_json::to_value(kind).ok(), Some(json!(kind.as_str())));
        }
        for event in OutboxEvent::ALL {
            assert_eq!(serde_json::to_value(event).ok(), Some(json!(event.as_str())));
        }
    }
}
