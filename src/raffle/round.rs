//! One raffle round (SPEC §5), shared by every trigger: the timer, `kinoyubot
//! draw`, the admin API and `!raffle now` in chat.
//!
//! A round is one transaction: lock the slot (timer rounds), lock the items,
//! select the candidates, draw with a fresh seed from the OS, take the stock,
//! write the raffle row and queue its announcement. Either all of it is
//! committed or none, so a raffle is never lost and never announced without
//! being recorded. The store's [`RoundTransaction`] holds the transaction and
//! offers only the typed steps; the draw itself is the pure
//! [`super::draw::draw`], which `kinoyubot verify` replays.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::TryRngCore as _;

use super::draw::{self, Candidate, CandidateSnapshot, DrawOutcome, Seed};
use super::odds;
use super::record::{Claim, ClaimStatus, Delivery, Outcome, RaffleRecord, Trigger, Winner};
use crate::announce::chat_line::{ChatAnnounce, ChatMessage, Ineligible, OddsAnswer, QueuedChatLine};
use crate::announce::delivery::DeliveryNotifier;
use crate::announce::{Announcement, DeliveryStatus};
use crate::channel::ChannelLogin;
use crate::config::Settings;
use crate::store::{self, ChannelRecord, EligibilityRules, NewRaffle, RoundTransaction, Store};
use crate::twitch::live_status::{LiveAnswer, LiveStatus};

/// The raffle rules taken from settings.
#[derive(Debug, Clone)]
pub struct RaffleRules {
    /// `ACTIVE_WINDOW`.
    pub active_window: Duration,
    /// `WINNER_COOLDOWN`.
    pub winner_cooldown: Duration,
    /// `SUBSCRIBER_LUCK`, 1 to 10.
    pub subscriber_luck: u8,
    /// `IGNORE_USERS`.
    pub ignore_users: Vec<ChannelLogin>,
    /// `ONLY_WHEN_LIVE`: rounds of every trigger are recorded as
    /// `skipped_offline` while the stream is offline, or while its live
    /// status cannot be learned although Twitch credentials are set (SPEC
    /// §16); only a [`LivePolicy::Force`] round (the admin API's
    /// `?force=true`) draws anyway.
    pub only_when_live: bool,
}

impl Default for RaffleRules {
    /// The defaults of SPEC §3.
    fn default() -> Self {
        Self {
            active_window: Duration::from_secs(600),
            winner_cooldown: Duration::ZERO,
            subscriber_luck: crate::config::DEFAULT_SUBSCRIBER_LUCK,
            ignore_users: crate::config::DEFAULT_IGNORE_USERS
                .iter()
                .filter_map(|login| ChannelLogin::parse(login).ok())
                .collect(),
            only_when_live: true,
            chat_announce: ChatAnnounce::default(),
            claim_window: Duration::ZERO,
            claim_redraws: crate::config::DEFAULT_CLAIM_REDRAWS,
        }
    }
}

impl RaffleRules {
    /// The rules of these settings.
    pub(crate) fn from_settings(settings: &Settings) -> Self {
        Self {
            active_window: settings.active_window,
            winner_cooldown: settings.winner_cooldown,
            subscriber_luck: settings.subscriber_luck,
            ignore_users: settings.ignore_users.clone(),
            only_when_live: settings.only_when_live,
            chat_announce: settings.chat_announce,
            claim_window: settings.claim_window,
            claim_redraws: settings.claim_redraws,
        }
    }

    /// `CHAT_ANNOUNCE` for this channel. The one place that reads it: per
    /// channel (SPEC §10), so a channel's own value overrides it here once
    /// per-channel settings exist.
    pub(crate) fn chat_announce(&self, _channel: &ChannelLogin) -> ChatAnnounce {
        self.chat_announce
    }

    /// `CLAIM_WINDOW` for this channel (`None`: no claims). Per channel, as
    /// [`Self::chat_announce`].
    pub(crate) fn claim_window(&self, _channel: &ChannelLogin) -> Option<Duration> {
        Some(self.claim_window).filter(|window| !window.is_zero())
    }

    /// `CLAIM_REDRAWS` for this channel. Per channel, as [`Self::chat_announce`].
    pub(crate) fn claim_redraws(&self, _channel: &ChannelLogin) -> u32 {
        self.claim_redraws
    }
}

/// Whether a round honours `ONLY_WHEN_LIVE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivePolicy {
    /// Skip the round while the stream is offline or its status unknown.
    Honour,
    /// Draw whatever the stream's state (an admin's explicit override).
    Force,
}

/// Longest skip reason kept; Twitch's error text is not ours to trust.
const MAX_SKIP_REASON_CHARS: usize = 300;

/// A skip reason fit to store and show: control characters (a NUL would
/// make PostgreSQL refuse the row) dropped, length capped.
fn clean_reason(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SKIP_REASON_CHARS)
        .collect()
}

/// Why a round could not run.
#[derive(Debug, thiserror::Error)]
pub enum RaffleError {
    /// No such channel in the database.
    #[error("unknown channel {0}")]
    UnknownChannel(String),
    /// The database failed; nothing of the round was kept.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The OS random source failed.
    #[error("the operating system's random source failed: {0}")]
    Seed(String),
    /// The candidates could not form a snapshot or be encoded (duplicate
    /// ids cannot come from the primary key; this would be a bug).
    #[error("invalid candidate snapshot: {0}")]
    Snapshot(#[from] draw::SnapshotError),
}

impl RaffleError {
    /// Whether the database refused the round's data (see
    /// `store::Error::rejects_data`): trying the same round again cannot
    /// help, so the timer skips the slot at once instead of retrying.
    pub fn rejects_data(&self) -> bool {
        matches!(self, Self::Store(error) if error.rejects_data())
    }
}

/// The result of asking for a round.
#[derive(Debug, Clone, PartialEq)]
pub enum RoundResult {
    /// A raffle was recorded (whatever its outcome).
    Recorded(Box<RaffleRecord>),
    /// Another instance already drew this slot.
    AlreadyDrawn,
    /// The channel is paused; nothing recorded (timer rounds only).
    Paused,
}

/// Runs raffle rounds. Cheap to clone.
#[derive(Clone)]
pub struct RaffleEngine {
    store: Store,
    rules: Arc<RaffleRules>,
    live: Arc<dyn LiveStatus>,
    /// Channels for which "live status unknown" was already logged.
    warned_unknown_live: Arc<Mutex<HashSet<String>>>,
    /// Woken after each committed announcement so delivery starts at once.
    delivery: Option<DeliveryNotifier>,
    /// Woken after each committed chat line.
    chat: Option<DeliveryNotifier>,
}

impl std::fmt::Debug for RaffleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaffleEngine")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

pub(super) fn fresh_seed() -> Result<Seed, RaffleError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| RaffleError::Seed(e.to_string()))?;
    Ok(Seed::new(bytes))
}

impl RaffleEngine {
    /// An engine over this store.
    pub fn new(store: Store, rules: RaffleRules, live: Arc<dyn LiveStatus>) -> Self {
        Self {
            store,
            rules: Arc::new(rules),
            live,
            warned_unknown_live: Arc::default(),
            delivery: None,
            chat: None,
        }
    }

    /// Wakes this chat worker whenever a round queues a chat line.
    #[must_use]
    pub fn with_chat_notifier(mut self, notifier: DeliveryNotifier) -> Self {
        self.chat = Some(notifier);
        self
    }

    /// Wakes the chat worker (after a reply was queued and committed).
    pub(crate) fn wake_chat(&self) {
        if let Some(chat) = &self.chat {
            chat.wake();
        }
    }

    /// Wakes the Discord worker.
    pub(crate) fn wake_delivery(&self) {
        if let Some(delivery) = &self.delivery {
            delivery.wake();
        }
    }

    /// Wakes this delivery worker whenever a round queues an announcement
    /// (other instances' workers find it by polling).
    #[must_use]
    pub fn with_delivery_notifier(mut self, notifier: DeliveryNotifier) -> Self {
        self.delivery = Some(notifier);
        self
    }

    /// The rules in force.
    pub(crate) fn rules(&self) -> &RaffleRules {
        &self.rules
    }

    /// The store.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Runs one round for `login`, honouring `ONLY_WHEN_LIVE`. Timer rounds
    /// pass their `slot`; they are skipped when the channel is paused or the
    /// slot was drawn already.
    ///
    /// # Errors
    ///
    /// As [`Self::run_round_with`].
    pub async fn run_round(
        &self,
        login: &ChannelLogin,
        trigger: Trigger,
        slot: Option<i64>,
    ) -> Result<RoundResult, RaffleError> {
        self.run_round_with(login, trigger, slot, LivePolicy::Honour).await
    }

    /// Runs one round for `login` with this live policy.
    ///
    /// # Errors
    ///
    /// [`RaffleError::UnknownChannel`] when the channel is not in the
    /// database; database and OS random source failures. On error nothing is
    /// recorded.
    #[tracing::instrument(skip_all, fields(channel = %login, %trigger, slot, raffle_id))]
    pub async fn run_round_with(
        &self,
        login: &ChannelLogin,
        trigger: Trigger,
        slot: Option<i64>,
        live: LivePolicy,
    ) -> Result<RoundResult, RaffleError> {
        if let Some(slot) = slot {
            tracing::Span::current().record("slot", slot);
        }
        let channel = self
            .store
            .find_channel(login)
            .await?
            .ok_or_else(|| RaffleError::UnknownChannel(login.to_string()))?;
        if trigger == Trigger::Timer && channel.paused {
            return Ok(RoundResult::Paused);
        }
        // Live status is a network call: ask before the transaction opens.
        let skip_reason = if self.rules.only_when_live && live == LivePolicy::Honour {
            self.offline_reason(&channel).await
        } else {
            None
        };
        let offline = skip_reason.is_some();

        let mut connection = self.store.connection().await?;
        let round = connection.begin_round().await?;
        if let Some(slot) = slot
            && round.slot_drawn(channel.id, slot).await?
        {
            return Ok(RoundResult::AlreadyDrawn);
        }
        let seed = fresh_seed()?;
        let (snapshot, draw_items, drawn) = if offline {
            (CandidateSnapshot::default(), Vec::new(), None)
        } else {
            let draw_items = round.lock_items().await?;
            let snapshot = self.candidates(&round, &channel).await?;
            let drawn = draw::draw(&seed, &snapshot, &draw_items);
            (snapshot, draw_items, Some(drawn))
        };
        let outcome = drawn.as_ref().map_or(Outcome::SkippedOffline, DrawOutcome::outcome);
        let (item_name, winner) = match drawn {
            Some(DrawOutcome::Won {
                item_name,
                winner_user_id,
                ..
            }) => {
                round.take_one(&item_name).await?;
                let (login, display_name) = round
                    .viewer_names(channel.id, &winner_user_id)
                    .await?
                    .unwrap_or_else(|| (winner_user_id.clone(), winner_user_id.clone()));
                let winner = Winner {
                    user_id: winner_user_id,
                    login,
                    display_name,
                };
                (Some(item_name), Some(winner))
            }
            Some(DrawOutcome::NoPrize | DrawOutcome::NoCandidates) | None => (None, None),
        };
        let candidate_count = i32::try_from(snapshot.len()).unwrap_or(i32::MAX);
        let claim_window = winner.as_ref().and_then(|_| self.rules.claim_window(login));
        let candidates_json = snapshot.to_json()?;
        let digest = snapshot.digest_hex();
        let inserted = round
            .insert_raffle(&NewRaffle {
                channel_id: channel.id,
                slot,
                trigger,
                outcome,
                item_name: item_name.as_deref(),
                winner: winner.as_ref(),
                seed: &seed,
                candidates_json: &candidates_json,
                candidates_digest: &digest,
                candidate_count,
                items: &draw_items,
                skip_reason: skip_reason.as_deref(),
                claim_window,
                redraw_of: None,
            })
            .await?;
        // Another instance drew this slot between our lock and insert (only
        // possible if the advisory lock was bypassed).
        let Some(store::Inserted {
            id: raffle_id,
            created_at,
            claim_deadline,
        }) = inserted
        else {
            return Ok(RoundResult::AlreadyDrawn);
        };
        tracing::Span::current().record("raffle_id", raffle_id);
        // Only winners are announced on Discord; other outcomes are recorded
        // and shown on the dashboard, not posted every minute.
        if let (Some(item_name), Some(winner)) = (&item_name, &winner) {
            let announcement = Announcement::Win {
                raffle_id,
                channel_login: channel.login.clone(),
                channel_display_name: channel.display_name.clone(),
                item_name: item_name.clone(),
                winner_display_name: winner.display_name.clone(),
                winner_login: winner.login.clone(),
                candidate_count: i64::from(candidate_count),
                digest_hex: digest.clone(),
                created_at,
            };
            round.enqueue(raffle_id, &announcement).await?;
        }
        let chat_message = match (&item_name, &winner, self.rules.chat_announce(login)) {
            (_, _, ChatAnnounce::Off) => None,
            (Some(item_name), Some(winner), _) => Some(ChatMessage::Win {
                raffle_id,
                item_name: item_name.clone(),
                winner_login: winner.login.clone(),
                winner_display_name: winner.display_name.clone(),
                candidate_count: i64::from(candidate_count),
                redraw_of: None,
                claim_deadline,
            }),
            (None, None, ChatAnnounce::All) if !offline => Some(ChatMessage::NoPrize {
                raffle_id,
                candidate_count: i64::from(candidate_count),
            }),
            _ => None,
        };
        let chat_queued = match chat_message {
            Some(message) => round
                .enqueue_chat(&QueuedChatLine {
                    channel_login: channel.login.clone(),
                    message,
                })
                .await?
                .is_some(),
            None => false,
        };
        round.commit().await?;
        let announced = winner.is_some();
        if announced {
            self.wake_delivery();
        }
        if chat_queued {
            self.wake_chat();
        }
        crate::metrics::raffle_recorded(outcome);
        tracing::info!(%outcome, reason = skip_reason.as_deref(), candidates = snapshot.len(), "raffle recorded");
        // Everything the record holds is known here: no need to read it back.
        Ok(RoundResult::Recorded(Box::new(RaffleRecord {
            id: raffle_id,
            channel_login: channel.login,
            channel_display_name: channel.display_name,
            slot,
            trigger,
            outcome,
            item_name,
            winner,
            candidates_digest: digest,
            candidate_count,
            created_at,
            skip_reason,
            delivery: announced.then_some(Delivery {
                status: DeliveryStatus::Pending,
                error: None,
            }),
            claim: claim_deadline.map(|deadline| Claim {
                status: ClaimStatus::Pending,
                deadline,
            }),
            redraw_of: None,
        })))
    }

    /// The draw's eligibility rules for this channel.
    fn eligibility_rules(&self, channel: &ChannelRecord) -> EligibilityRules {
        let mut excluded: Vec<String> = self.rules.ignore_users.iter().map(|l| l.as_str().to_owned()).collect();
        excluded.push(channel.login.clone());
        EligibilityRules {
            active_window: self.rules.active_window,
            winner_cooldown: self.rules.winner_cooldown,
            excluded_logins: excluded,
        }
    }

    /// `user_id`'s chance in the channel's next round, by the draw's own
    /// rules (`!odds`), or why they have none.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn odds(&self, channel: &ChannelRecord, user_id: &str) -> Result<OddsAnswer, RaffleError> {
        let rules = self.eligibility_rules(channel);
        let inputs = self
            .store
            .odds_inputs(channel.id, channel.twitch_user_id.as_deref(), user_id, &rules)
            .await?;
        let luck = self.rules.subscriber_luck;
        let weight_of = |subscriber: bool| if subscriber { u32::from(luck.max(1)) } else { 1 };
        let total: u64 = inputs
            .eligible
            .iter()
            .map(|(_, subscriber)| u64::from(weight_of(*subscriber)))
            .sum();
        let in_snapshot = inputs.eligible.iter().find(|(id, _)| id == user_id);
        Ok(match (in_snapshot, odds::eligibility(inputs.viewer.as_ref(), luck)) {
            (Some((_, subscriber)), _) => OddsAnswer::Eligible {
                chance: odds::chance(weight_of(*subscriber), total, &inputs.items),
                candidates: u64::try_from(inputs.eligible.len()).unwrap_or(u64::MAX),
            },
            (None, Err(reason)) => OddsAnswer::NotEligible { reason },
            // The facts say eligible but the draw's query left them out
            // (their row changed in between): the draw's word counts.
            (None, Ok(_)) => OddsAnswer::NotEligible {
                reason: Ineligible::NotActive,
            },
        })
    }

    async fn candidates(
        &self,
        round: &RoundTransaction<'_>,
        channel: &ChannelRecord,
    ) -> Result<CandidateSnapshot, RaffleError> {
        let rules = self.eligibility_rules(channel);
        let viewers = round
            .eligible_viewers(channel.id, channel.twitch_user_id.as_deref(), &rules)
            .await?;
        let luck = u32::from(self.rules.subscriber_luck.max(1));
        let candidates = viewers
            .into_iter()
            .map(|v| Candidate {
                weight: if v.is_subscriber { luck } else { 1 },
                user_id: v.user_id,
            })
            .collect();
        Ok(CandidateSnapshot::new(candidates)?)
    }

    /// Why this channel's round must be skipped under `ONLY_WHEN_LIVE`, or
    /// `None` to draw: offline, or live status unknown although Twitch
    /// credentials are set (fails closed). Without credentials the round
    /// draws, warning once per channel (SPEC §3).
    async fn offline_reason(&self, channel: &ChannelRecord) -> Option<String> {
        match self.live.is_live(channel.twitch_user_id.as_deref()).await {
            LiveAnswer::Live => None,
            LiveAnswer::Offline => Some("the stream is offline".to_owned()),
            LiveAnswer::Unknown(reason) => Some(clean_reason(&reason)),
            LiveAnswer::NotConfigured => {
                let first = self
                    .warned_unknown_live
                    .lock()
                    .map(|mut warned| warned.insert(channel.login.clone()))
                    .unwrap_or(false);
                if first {
                    tracing::warn!(
                        channel = %channel.login,
                        "ONLY_WHEN_LIVE is on but there are no Twitch credentials to ask whether the stream is live; raffling anyway"
                    );
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_reasons_lose_control_characters_and_are_capped() {
        assert_eq!(
            clean_reason("Helix answered HTTP 500: a\0b\nc"),
            "Helix answered HTTP 500: a b c"
        );
        let long = "x".repeat(10_000);
        assert_eq!(clean_reason(&long).chars().count(), MAX_SKIP_REASON_CHARS);
    }
}
