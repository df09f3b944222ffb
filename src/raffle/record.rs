//! A recorded raffle as the rest of the program sees it: what started it
//! ([`Trigger`]), how it came out ([`Outcome`]), who won what, whether its
//! announcement went out, and its JSON shape (SPEC §9).
//!
//! Pure: the store decodes rows into these types once (an unknown stored
//! word is a store error there), and the JSON API serialises them once
//! ([`RaffleRecord::to_json`]). Nothing else turns them into strings or
//! back.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::eligibility::ExclusionCounts;
use crate::announce::{DeliveryFailure, DeliveryStatus, OutboxEvent, OutboxKind};

/// What started a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The per-channel timer, for a slot.
    Timer,
    /// `kinoyubot draw` or the admin API.
    Manual,
    /// `!raffle now` in chat.
    Chat,
    /// A redraw after the winner of `redraw_of` did not claim in time.
    Redraw,
}

/// Where a win's claim stands (`raffles.claim_status`, with a claim window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// Waiting for the winner to chat before the deadline.
    Pending,
    /// The winner chatted in time.
    Claimed,
    /// The deadline passed without a word from the winner.
    Expired,
}

impl ClaimStatus {
    /// Every status.
    pub(crate) const ALL: [Self; 3] = [Self::Pending, Self::Claimed, Self::Expired];

    /// The stored word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Claimed => "claimed",
            Self::Expired => "expired",
        }
    }
}

/// A win's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Where it stands.
    pub status: ClaimStatus,
    /// Until when the winner may claim.
    pub deadline: DateTime<Utc>,
}

/// How a round came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A prize was awarded.
    Won,
    /// The draw awarded nothing (the roll missed every item, or hit an
    /// out-of-stock one).
    NoPrize,
    /// Nobody was eligible.
    NoCandidates,
    /// A timer round while the stream was offline: nothing was drawn. The
    /// engine records it; [`super::draw::draw`] never produces it.
    SkippedOffline,
}

impl Trigger {
    /// Every trigger.
    pub(crate) const ALL: [Self; 4] = [Self::Timer, Self::Manual, Self::Chat, Self::Redraw];

    /// The stored word, as in `raffles.trigger` and the JSON API.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Timer => "timer",
            Self::Manual => "manual",
            Self::Chat => "chat",
            Self::Redraw => "redraw",
        }
    }
}

impl Outcome {
    /// Every outcome.
    pub(crate) const ALL: [Self; 4] = [Self::Won, Self::NoPrize, Self::NoCandidates, Self::SkippedOffline];

    /// The stored word, as in `raffles.outcome`, the JSON API and the
    /// `outcome` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Won => "won",
            Self::NoPrize => "no_prize",
            Self::NoCandidates => "no_candidates",
            Self::SkippedOffline => "skipped_offline",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who won a raffle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Winner {
    /// Twitch user id.
    pub user_id: String,
    /// Login.
    pub login: String,
    /// Display name.
    pub display_name: String,
}

/// Where a raffle's announcement stands (only wins are announced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Pending, sent or failed.
    pub status: DeliveryStatus,
    /// Why it failed, or the last error while it is retrying.
    pub error: Option<String>,
    /// Why it was given up, once it was (status failed).
    pub failure: Option<DeliveryFailure>,
}

/// One outbox row of a raffle: a Discord post or a chat line telling one
/// event of it (SPEC §6, §11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxDelivery {
    /// Where it goes.
    pub kind: OutboxKind,
    /// What it tells.
    pub event: OutboxEvent,
    /// Pending, sent or failed.
    pub status: DeliveryStatus,
    /// Why it failed, or the last error while it is retrying.
    pub error: Option<String>,
    /// Why it was given up, once it was (status failed).
    pub failure: Option<DeliveryFailure>,
}

/// A recorded raffle with its channel and delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct RaffleRecord {
    /// Raffle id.
    pub id: i64,
    /// Channel login.
    pub(crate) channel_login: String,
    /// Channel display name.
    pub(crate) channel_display_name: String,
    /// Timer slot; `None` for manual and chat draws.
    pub(crate) slot: Option<i64>,
    /// What started it.
    pub trigger: Trigger,
    /// How it came out.
    pub outcome: Outcome,
    /// Item won (wins only).
    pub item_name: Option<String>,
    /// The winner (wins only).
    pub winner: Option<Winner>,
    /// SHA-256 of the candidate snapshot, hex.
    pub(crate) candidates_digest: String,
    /// Number of candidates.
    pub candidate_count: i32,
    /// When it was drawn.
    pub(crate) created_at: DateTime<Utc>,
    /// Why a `skipped_offline` round was skipped (offline, or live status
    /// unknown and why); `None` for rounds that drew.
    pub skip_reason: Option<String>,
    /// Its announcement, if it was announced.
    pub delivery: Option<Delivery>,
    /// Every outbox row of the raffle (Discord posts and chat lines, each
    /// event), oldest first; empty when the record was not read back.
    pub deliveries: Vec<OutboxDelivery>,
    /// Its claim, for wins with a claim window.
    pub claim: Option<Claim>,
    /// The expired win this raffle redraws.
    pub redraw_of: Option<i64>,
    /// Viewers present but excluded by the eligibility gates, by reason
    /// (issue 18); the snapshot holds only the eligible ones.
    pub excluded: ExclusionCounts,
}

/// The stored inputs of a draw, which `kinoyubot verify` replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaffleAudit {
    /// The seed bytes (32 unless tampered with).
    pub seed: Vec<u8>,
    /// The candidate snapshot, in its storage form.
    pub candidates_json: String,
    /// The items as the draw saw them (a JSON array of `DrawItem`).
    pub(crate) items_json: String,
}

/// A raffle in JSON (SPEC §9). The fields are declared in alphabetical
/// order: that is the order the API has always sent them in (it used to
/// build the object with `json!`, whose map sorts its keys), and clients
/// diffing responses see no change.
#[derive(Debug, Serialize)]
pub struct RaffleJson<'a> {
    candidates: i32,
    channel: &'a str,
    claim: Option<ClaimJson>,
    created_at: String,
    delivery: Option<DeliveryJson<'a>>,
    /// Every Discord post and chat line of the raffle, oldest first.
    deliveries: Vec<OutboxDeliveryJson<'a>>,
    digest: &'a str,
    /// Viewers excluded by the gates, by reason (issue 18).
    excluded: &'a ExclusionCounts,
    id: i64,
    item: Option<&'a str>,
    outcome: Outcome,
    reason: Option<&'a str>,
    redraw_of: Option<i64>,
    trigger: Trigger,
    winner: Option<WinnerJson<'a>>,
}

/// The claim inside [`RaffleJson`] (SPEC §17).
#[derive(Debug, Serialize)]
struct ClaimJson {
    deadline: String,
    status: ClaimStatus,
}

/// The winner inside [`RaffleJson`], keys in alphabetical order as well.
#[derive(Debug, Serialize)]
struct WinnerJson<'a> {
    display_name: &'a str,
    login: &'a str,
    user_id: &'a str,
}

/// The delivery inside [`RaffleJson`], keys in alphabetical order as well.
#[derive(Debug, Serialize)]
struct DeliveryJson<'a> {
    error: Option<&'a str>,
    /// Why it was given up (`webhook_gone`: check `DISCORD_WEBHOOK_URL`).
    failure: Option<DeliveryFailure>,
    status: DeliveryStatus,
}

/// One outbox row inside [`RaffleJson`], keys in alphabetical order.
#[derive(Debug, Serialize)]
struct OutboxDeliveryJson<'a> {
    error: Option<&'a str>,
    event: OutboxEvent,
    failure: Option<DeliveryFailure>,
    kind: OutboxKind,
    status: DeliveryStatus,
}

/// The body of `GET /api/raffles`: `{"raffles": [...]}`, newest first.
#[derive(Debug, Serialize)]
pub struct RaffleList<'a> {
    /// The raffles.
    pub(crate) raffles: Vec<RaffleJson<'a>>,
}

impl RaffleRecord {
    /// The raffle as JSON (SPEC §9).
    pub(crate) fn to_json(&self) -> RaffleJson<'_> {
        RaffleJson {
            candidates: self.candidate_count,
            channel: &self.channel_login,
            claim: self.claim.map(|c| ClaimJson {
                deadline: c.deadline.to_rfc3339_opts(SecondsFormat::Secs, true),
                status: c.status,
            }),
            created_at: self.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            delivery: self.delivery.as_ref().map(|d| DeliveryJson {
                error: d.error.as_deref(),
                failure: d.failure,
                status: d.status,
            }),
            deliveries: self
                .deliveries
                .iter()
                .map(|d| OutboxDeliveryJson {
                    error: d.error.as_deref(),
                    event: d.event,
                    failure: d.failure,
                    kind: d.kind,
                    status: d.status,
                })
                .collect(),
            digest: &self.candidates_digest,
            excluded: &self.excluded,
            id: self.id,
            item: self.item_name.as_deref(),
            outcome: self.outcome,
            reason: self.skip_reason.as_deref(),
            redraw_of: self.redraw_of,
            trigger: self.trigger,
            winner: self.winner.as_ref().map(|w| WinnerJson {
                display_name: &w.display_name,
                login: &w.login,
                user_id: &w.user_id,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RaffleRecord {
        RaffleRecord {
            id: 42,
            channel_login: "somestreamer".into(),
            channel_display_name: "SomeStreamer".into(),
            slot: Some(7),
            trigger: Trigger::Timer,
            outcome: Outcome::Won,
            item_name: Some("Steam key".into()),
            winner: Some(Winner {
                user_id: "123".into(),
                login: "viewer".into(),
                display_name: "Viewer".into(),
            }),
            candidates_digest: "9f2c".into(),
            candidate_count: 37,
            created_at: DateTime::parse_from_rfc3339("2026-11-24T20:00:00.250Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            skip_reason: None,
            delivery: Some(Delivery {
                status: DeliveryStatus::Sent,
                error: None,
                failure: None,
            }),
            deliveries: Vec::new(),
            claim: None,
            redraw_of: None,
            excluded: ExclusionCounts::default(),
        }
    }

    #[test]
    fn raffle_json_is_byte_for_byte_the_spec_shape() {
        let text = serde_json::to_string(&record().to_json()).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"candidates":37,"channel":"somestreamer","claim":null,"created_at":"2026-11-24T20:00:00Z","delivery":{"error":null,"failure":null,"status":"sent"},"deliveries":[],"digest":"9f2c","excluded":{},"id":42,"item":"Steam key","outcome":"won","reason":null,"redraw_of":null,"trigger":"timer","winner":{"display_name":"Viewer","login":"viewer","user_id":"123"}}"#
        );
    }

    #[test]
    fn a_pending_claim_and_a_redraw_show_in_the_json() {
        let mut record = record();
        record.trigger = Trigger::Redraw;
        record.redraw_of = Some(41);
        record.claim = Some(Claim {
            status: ClaimStatus::Pending,
            deadline: record.created_at + chrono::Duration::seconds(60),
        });
        let value = serde_json::to_value(record.to_json()).unwrap_or_default();
        assert_eq!(value["trigger"], "redraw");
        assert_eq!(value["redraw_of"], 41);
        assert_eq!(value["claim"]["status"], "pending");
        assert_eq!(value["claim"]["deadline"], "2026-11-24T20:01:00Z");
    }

    #[test]
    fn each_delivery_shows_its_kind_state_and_why_it_failed() {
        let mut record = record();
        let gone = crate::announce::announcement::discord_rejection_error("404 Not Found", "Unknown Webhook");
        record.delivery = Some(Delivery {
            status: DeliveryStatus::Failed,
            error: Some(gone.clone()),
            failure: Some(DeliveryFailure::WebhookGone),
        });
        record.deliveries = vec![
            OutboxDelivery {
                kind: OutboxKind::Discord,
                event: OutboxEvent::Win,
                status: DeliveryStatus::Failed,
                error: Some(gone),
                failure: Some(DeliveryFailure::WebhookGone),
            },
            OutboxDelivery {
                kind: OutboxKind::TwitchChat,
                event: OutboxEvent::Win,
                status: DeliveryStatus::Sent,
                error: None,
                failure: None,
            },
        ];
        let value = serde_json::to_value(record.to_json()).unwrap_or_default();
        assert_eq!(value["delivery"]["failure"], "webhook_gone");
        assert_eq!(value["deliveries"][0]["kind"], "discord");
        assert_eq!(value["deliveries"][0]["event"], "win");
        assert_eq!(value["deliveries"][0]["failure"], "webhook_gone");
        assert_eq!(value["deliveries"][1]["kind"], "twitch_chat");
        assert_eq!(value["deliveries"][1]["status"], "sent");
        assert!(value["deliveries"][1]["failure"].is_null());
    }

    #[test]
    fn a_round_without_winner_or_announcement_has_nulls() {
        let mut record = record();
        record.outcome = Outcome::NoCandidates;
        record.trigger = Trigger::Chat;
        record.item_name = None;
        record.winner = None;
        record.delivery = None;
        let value = serde_json::to_value(record.to_json()).unwrap_or_default();
        assert_eq!(value["outcome"], "no_candidates");
        assert_eq!(value["trigger"], "chat");
        assert!(value["item"].is_null() && value["winner"].is_null() && value["delivery"].is_null());
    }

    #[test]
    fn stored_words_are_distinct_and_match_the_json() {
        let triggers: Vec<&str> = Trigger::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(triggers, ["timer", "manual", "chat", "redraw"]);
        let outcomes: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(outcomes, ["won", "no_prize", "no_candidates", "skipped_offline"]);
        for trigger in Trigger::ALL {
            assert_eq!(serde_json::to_value(trigger).ok(), Some(trigger.as_str().into()));
            assert_eq!(trigger.to_string(), trigger.as_str());
        }
        for outcome in Outcome::ALL {
            assert_eq!(serde_json::to_value(outcome).ok(), Some(outcome.as_str().into()));
            assert_eq!(outcome.to_string(), outcome.as_str());
        }
    }
}
