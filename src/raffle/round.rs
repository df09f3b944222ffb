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

use rand::TryRngCore as _;
use tokio::sync::watch;

use super::draw::{self, Candidate, CandidateSnapshot, DrawOutcome, Seed};
use super::eligibility::{self, ExclusionCounts, Verdict, ViewerFacts};
use super::items::{ListSource, PrizeList};
use super::record::{Claim, ClaimStatus, Delivery, OutboxDelivery, Outcome, RaffleRecord, Trigger, Winner};
use super::slot::TimerSlot;
use super::{odds, viewers};
use crate::announce::chat_line::{ChatAnnounce, ChatMessage, Ineligible, OddsAnswer, QueuedChatLine};
use crate::announce::delivery::DeliveryNotifier;
use crate::announce::{Announcement, DeliveryStatus, OutboxEvent, OutboxKind};
use crate::catalog::{Language, SetupText};
use crate::channel::ChannelLogin;
use crate::channel::settings::{ChannelOverrides, ChannelSettings, OwnSettings};
use crate::store::{self, ChannelRecord, EligibilityRules, EligibleViewer, NewRaffle, RoundTransaction, Store};
use crate::twitch::facts::TwitchFacts;
use crate::twitch::live_status::{LiveAnswer, LiveStatus};

/// The rules a round follows: a channel's effective per-channel settings
/// (the engine holds the environment's, the defaults; each round lays the
/// channel's own values over them).
pub type RaffleRules = ChannelSettings;

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

/// How often a round is drawn again because a concurrent round took the
/// last unit of the item it drew (each time, one item fewer is left, so a
/// few suffice; the last attempt's error is returned).
const STOCK_RACE_REDRAWS: u32 = 3;

/// A skip reason fit to store and show: control characters (a NUL would
/// make PostgreSQL refuse the row) dropped, length capped.
fn clean_reason(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SKIP_REASON_CHARS)
        .collect()
}

/// The recorded reason of a round without a prize list (`no_prize`). Stored
/// in English like every skip reason; the dashboard shows it in the
/// reader's language.
pub(crate) fn no_prize_list_reason() -> String {
    Language::En.say(&SetupText::NoPrizeListReason)
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

/// What one try at a round's transaction needs.
struct RoundAttempt<'a> {
    channel: &'a ChannelRecord,
    rules: &'a RaffleRules,
    trigger: Trigger,
    slot: Option<TimerSlot>,
    /// Why the round is skipped (offline), decided before.
    skip_reason: Option<String>,
    /// Whether the try may give up to fetch Twitch facts first.
    may_defer_for_facts: bool,
}

/// How one try at a round's transaction ended.
enum Attempted {
    /// Recorded, or nothing to record.
    Done(RoundResult),
    /// Rolled back: the gates need Twitch facts the cache lacks.
    NeedsFacts,
}

/// Runs raffle rounds. Cheap to clone.
#[derive(Clone)]
pub struct RaffleEngine {
    store: Store,
    /// The environment's per-channel settings: the defaults.
    rules: Arc<RaffleRules>,
    /// Bumped after a channel's settings change, so timers re-plan.
    settings_changed: Arc<watch::Sender<()>>,
    live: Arc<dyn LiveStatus>,
    /// Channels for which "live status unknown" was already logged.
    warned_unknown_live: Arc<Mutex<HashSet<String>>>,
    /// Woken after each committed announcement so delivery starts at once.
    delivery: Option<DeliveryNotifier>,
    /// Woken after each committed chat line.
    chat: Option<DeliveryNotifier>,
    /// Twitch facts for the gates; `None` without Twitch credentials (gates
    /// needing them then exclude everyone they would judge).
    facts: Option<TwitchFacts>,
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
    /// An engine over this store; `rules` are the defaults of every
    /// channel (the environment's per-channel settings).
    pub fn new(store: Store, rules: RaffleRules, live: Arc<dyn LiveStatus>) -> Self {
        Self {
            store,
            rules: Arc::new(rules),
            settings_changed: Arc::new(watch::Sender::new(())),
            live,
            warned_unknown_live: Arc::default(),
            delivery: None,
            facts: None,
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

    /// Fetches the Twitch facts the gates need from `facts` before rounds.
    #[must_use]
    pub fn with_twitch_facts(mut self, facts: TwitchFacts) -> Self {
        self.facts = Some(facts);
        self
    }

    /// Wakes this delivery worker whenever a round queues an announcement
    /// (other instances' workers find it by polling).
    #[must_use]
    pub fn with_delivery_notifier(mut self, notifier: DeliveryNotifier) -> Self {
        self.delivery = Some(notifier);
        self
    }

    /// The default rules (the environment's per-channel settings).
    pub(crate) fn rules(&self) -> &RaffleRules {
        &self.rules
    }

    /// A channel's effective settings: its own values over the defaults.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn channel_settings(&self, channel_id: i64) -> Result<ChannelSettings, store::Error> {
        let own = self.store.channel_settings(channel_id).await?;
        Ok(self.rules.with_own(&own))
    }

    /// Applies a change of a channel's own settings and wakes the timers,
    /// so a new `RAFFLE_INTERVAL` counts from the next slot. Returns the
    /// channel's own settings afterwards.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn update_channel_settings(
        &self,
        channel_id: i64,
        overrides: &ChannelOverrides,
    ) -> Result<OwnSettings, store::Error> {
        let own = self.store.update_channel_settings(channel_id, overrides).await?;
        self.settings_changed.send_replace(());
        Ok(own)
    }

    /// Wakes after any channel's settings change (on this instance).
    pub(crate) fn watch_settings(&self) -> watch::Receiver<()> {
        self.settings_changed.subscribe()
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
        slot: Option<TimerSlot>,
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
        slot: Option<TimerSlot>,
        live: LivePolicy,
    ) -> Result<RoundResult, RaffleError> {
        if let Some(slot) = slot {
            tracing::Span::current().record("slot", slot.number());
        }
        let channel = self
            .store
            .find_channel(login)
            .await?
            .ok_or_else(|| RaffleError::UnknownChannel(login.to_string()))?;
        if trigger == Trigger::Timer && channel.paused {
            return Ok(RoundResult::Paused);
        }
        let rules = self.channel_settings(channel.id).await?;
        // Live status is a network call: ask before the transaction opens.
        let skip_reason = if rules.only_when_live && live == LivePolicy::Honour {
            self.offline_reason(&channel).await
        } else {
            None
        };
        // Twitch facts are network calls too: a round that finds facts
        // missing or due (judged in SQL with the draw) rolls back, fetches
        // them without holding its locks, and runs once more. A warm cache
        // costs nothing beyond the candidate query.
        //
        // Stock is not locked while the round runs either: the default
        // prize list is shared by every channel without one of its own, and
        // a lock would make each such channel's round wait for every
        // other's. The unit is taken at the end; if a
        // concurrent round took the last one first, the round is drawn
        // again (fresh seed) from the stock now left, and that is what it
        // records.
        let mut facts_fetched = false;
        let mut raced = 0u32;
        loop {
            let attempt = RoundAttempt {
                channel: &channel,
                rules: &rules,
                trigger,
                slot,
                skip_reason: skip_reason.clone(),
                may_defer_for_facts: !facts_fetched,
            };
            match self.attempt_round(attempt).await {
                Ok(Attempted::Done(result)) => return Ok(result),
                Ok(Attempted::NeedsFacts) => {
                    self.fill_missing_facts(&channel, &rules).await?;
                    facts_fetched = true;
                }
                Err(RaffleError::Store(store::Error::OutOfStock { item })) if raced < STOCK_RACE_REDRAWS => {
                    raced = raced.saturating_add(1);
                    tracing::info!(
                        item,
                        raced,
                        "a concurrent round took the last unit first; drawing again"
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One try at a round's transaction; see [`Self::run_round_with`].
    async fn attempt_round(&self, attempt: RoundAttempt<'_>) -> Result<Attempted, RaffleError> {
        let RoundAttempt {
            channel,
            rules,
            trigger,
            slot,
            skip_reason,
            may_defer_for_facts,
        } = attempt;
        let offline = skip_reason.is_some();
        let mut connection = self.store.connection().await?;
        let round = connection.begin_round().await?;
        if let Some(slot) = slot
            && round.slot_drawn(channel.id, slot).await?
        {
            return Ok(Attempted::Done(RoundResult::AlreadyDrawn));
        }
        let seed = fresh_seed()?;
        let (snapshot, excluded, list, drawn) = if offline {
            (
                CandidateSnapshot::default(),
                ExclusionCounts::default(),
                PrizeList {
                    source: ListSource::Default,
                    items: Vec::new(),
                },
                None,
            )
        } else {
            let list = round.items(channel.id).await?;
            let draw_items = list.draw_items();
            let Some((snapshot, excluded)) = self.candidates(&round, channel, rules, may_defer_for_facts).await? else {
                // Dropping the transaction rolls it back.
                return Ok(Attempted::NeedsFacts);
            };
            let drawn = draw::draw(&seed, &snapshot, &draw_items);
            (snapshot, excluded, list, Some(drawn))
        };
        let draw_items = list.draw_items();
        // Without a prize list the round draws nothing, and says why.
        let skip_reason = skip_reason.or_else(|| (!offline && draw_items.is_empty()).then(no_prize_list_reason));
        let outcome = drawn.as_ref().map_or(Outcome::SkippedOffline, DrawOutcome::outcome);
        let (item_name, item_id, winner) = match drawn {
            Some(DrawOutcome::Won {
                item_index,
                item_name,
                winner_user_id,
                ..
            }) => {
                // The row of the channel's list the unit comes from (two
                // lists may name the same prize).
                let item = list.items.get(item_index).ok_or_else(|| store::Error::OutOfStock {
                    item: item_name.clone(),
                })?;
                // Unlimited items have no stock to take (and no row to lock).
                if item.stock.is_some() {
                    round.take_one(item).await?;
                }
                let (login, display_name) = round
                    .viewer_names(channel.id, &winner_user_id)
                    .await?
                    .unwrap_or_else(|| (winner_user_id.clone(), winner_user_id.clone()));
                let winner = Winner {
                    user_id: winner_user_id,
                    login,
                    display_name,
                };
                (Some(item_name), Some(item.id), Some(winner))
            }
            Some(DrawOutcome::NoPrize | DrawOutcome::NoCandidates) | None => (None, None, None),
        };
        let candidate_count = i32::try_from(snapshot.len()).unwrap_or(i32::MAX);
        let claim_window = winner.as_ref().and_then(|_| rules.claims());
        let candidates_json = snapshot.to_json()?;
        let digest = snapshot.digest_hex();
        let inserted = round
            .insert_raffle(&NewRaffle {
                channel_id: channel.id,
                slot,
                trigger,
                outcome,
                item_name: item_name.as_deref(),
                item_id,
                winner: winner.as_ref(),
                seed: &seed,
                candidates_json: &candidates_json,
                candidates_digest: &digest,
                candidate_count,
                items: &draw_items,
                skip_reason: skip_reason.as_deref(),
                claim_window,
                redraw_of: None,
                excluded: &excluded,
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
            return Ok(Attempted::Done(RoundResult::AlreadyDrawn));
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
        let chat_message = match (&item_name, &winner, rules.chat_announce) {
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
        let chat_event = chat_message.as_ref().map(ChatMessage::event);
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
        tracing::info!(
            %outcome,
            reason = skip_reason.as_deref(),
            candidates = snapshot.len(),
            excluded = excluded.total(),
            "raffle recorded"
        );
        // Everything the record holds is known here: no need to read it back.
        Ok(Attempted::Done(RoundResult::Recorded(Box::new(RaffleRecord {
            id: raffle_id,
            channel_login: channel.login.clone(),
            channel_display_name: channel.display_name.clone(),
            slot: slot.map(TimerSlot::number),
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
                failure: None,
            }),
            deliveries: Self::queued_deliveries(announced, chat_event.filter(|_| chat_queued)),
            excluded,
            claim: claim_deadline.map(|deadline| Claim {
                status: ClaimStatus::Pending,
                deadline,
            }),
            redraw_of: None,
        }))))
    }

    /// The outbox rows a round just queued, as the record shows them: the
    /// Discord win (announced) first, then the chat line, if any.
    fn queued_deliveries(announced: bool, chat: Option<OutboxEvent>) -> Vec<OutboxDelivery> {
        let pending = |kind, event| OutboxDelivery {
            kind,
            event,
            status: DeliveryStatus::Pending,
            error: None,
            failure: None,
        };
        announced
            .then(|| pending(OutboxKind::Discord, OutboxEvent::Win))
            .into_iter()
            .chain(chat.map(|event| pending(OutboxKind::TwitchChat, event)))
            .collect()
    }

    /// The SQL rules of SPEC §5 step 2 for this channel.
    pub(crate) fn sql_rules(channel: &ChannelRecord, rules: &RaffleRules) -> EligibilityRules {
        let mut excluded: Vec<String> = rules.ignore_users.iter().map(|l| l.as_str().to_owned()).collect();
        excluded.push(channel.login.clone());
        EligibilityRules {
            active_window: rules.active_window,
            winner_cooldown: rules.winner_cooldown,
            excluded_logins: excluded,
            include_chatters: rules.gates.presence_sources.includes_chatters(),
            with_account_ages: rules.gates.needs_account_age(),
            with_follows: rules.gates.needs_follow(),
        }
    }

    /// Asks Twitch for the account ages and follow states the gates need
    /// and the cache lacks. What cannot be had stays unknown: the gates then
    /// exclude those viewers (fail closed), so only database errors fail
    /// the round.
    async fn fill_missing_facts(&self, channel: &ChannelRecord, rules: &RaffleRules) -> Result<(), RaffleError> {
        let gates = &rules.gates;
        if !gates.needs_account_age() && !gates.needs_follow() {
            return Ok(());
        }
        let missing = self
            .store
            .missing_facts(
                channel.id,
                channel.twitch_user_id.as_deref(),
                &Self::sql_rules(channel, rules),
                gates,
                &rules.follow_cache,
            )
            .await?;
        if missing.is_empty() {
            return Ok(());
        }
        match &self.facts {
            Some(facts) => {
                let report = facts.fill(channel, &missing).await;
                tracing::debug!(
                    accounts = missing.accounts.len(),
                    follows = missing.follows.len(),
                    account_calls = report.account_calls,
                    follow_calls = report.follow_calls,
                    problems = report.problems.len(),
                    "asked Twitch for the gates' facts"
                );
            }
            None => tracing::warn!(
                channel = %channel.login,
                "MIN_ACCOUNT_AGE or MIN_FOLLOW_AGE is set but there are no Twitch credentials; viewers they judge are not eligible"
            ),
        }
        Ok(())
    }

    /// Every present viewer of a channel now with the gates' verdict, as the
    /// next round would judge them from the cache (nothing is fetched): for
    /// the viewers API and `!odds`, so the reason shown is the round's.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn judge_viewers(&self, channel: &ChannelRecord) -> Result<Vec<(EligibleViewer, Verdict)>, RaffleError> {
        let rules = self.channel_settings(channel.id).await?;
        let present = self
            .store
            .present_viewers(
                channel.id,
                channel.twitch_user_id.as_deref(),
                &Self::sql_rules(channel, &rules),
            )
            .await?;
        Ok(present
            .viewers
            .into_iter()
            .map(|viewer| {
                let verdict = Self::judge(&rules, &viewer, present.now);
                (viewer, verdict)
            })
            .collect())
    }

    /// `user_id`'s chance in the channel's next round (`!odds`), judged by
    /// the draw's own rules: the present viewers and the gates' verdicts of
    /// [`Self::judge_viewers`], or, for a viewer the draw's query leaves out
    /// (banned, ignored, recent winner, idle), why.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn odds(&self, channel: &ChannelRecord, user_id: &str) -> Result<OddsAnswer, RaffleError> {
        let rules = self.channel_settings(channel.id).await?;
        let judged = self.judge_viewers(channel).await?;
        let inputs = self
            .store
            .odds_inputs(
                channel.id,
                channel.twitch_user_id.as_deref(),
                user_id,
                &Self::sql_rules(channel, &rules),
            )
            .await?;
        let luck = u32::from(rules.subscriber_luck.max(1));
        let weight_of = |viewer: &EligibleViewer| if viewer.is_subscriber { luck } else { 1 };
        let eligible = || judged.iter().filter(|(_, verdict)| *verdict == Verdict::Eligible);
        let total: u64 = eligible().map(|(viewer, _)| u64::from(weight_of(viewer))).sum();
        Ok(match judged.iter().find(|(viewer, _)| viewer.user_id == user_id) {
            Some((viewer, Verdict::Eligible)) => OddsAnswer::Eligible {
                chance: odds::chance(weight_of(viewer), total, &inputs.items),
                candidates: u64::try_from(eligible().count()).unwrap_or(u64::MAX),
            },
            Some((_, Verdict::Excluded(reason))) => OddsAnswer::NotEligible {
                reason: Ineligible::Gate(*reason),
            },
            None => OddsAnswer::NotEligible {
                // The facts may say "eligible" when the row changed between
                // the two reads: the draw's query has the last word.
                reason: odds::eligibility(inputs.viewer.as_ref(), rules.subscriber_luck)
                    .err()
                    .unwrap_or(Ineligible::NotActive),
            },
        })
    }

    /// Every active viewer of the channel with their weight and chance in
    /// the next round, or why they have none (the control room's viewer
    /// list): `!odds`'s numbers for each, sorted as [`viewers::list`] sorts.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn viewers(&self, channel: &ChannelRecord) -> Result<Vec<viewers::ViewerEntry>, RaffleError> {
        let rules = self.channel_settings(channel.id).await?;
        let judged = self.judge_viewers(channel).await?;
        let active = self
            .store
            .viewer_standings(
                channel.id,
                &channel.login,
                channel.twitch_user_id.as_deref(),
                &Self::sql_rules(channel, &rules),
            )
            .await?;
        let items = self.store.prize_table(channel.id).await?;
        Ok(viewers::list(active, &judged, u32::from(rules.subscriber_luck), &items))
    }

    fn judge(rules: &RaffleRules, viewer: &EligibleViewer, now: chrono::DateTime<chrono::Utc>) -> Verdict {
        let facts = ViewerFacts {
            message_count: viewer.message_count,
            is_subscriber: viewer.is_subscriber,
            account_created_at: viewer.account_created_at,
            follow: viewer.follow,
        };
        eligibility::judge(&rules.gates, &rules.follow_cache, &facts, now)
    }

    /// The round's candidates: the gates are judged in SQL over presence
    /// (with its copies of the cached Twitch facts), so only the eligible
    /// viewers come back and the excluded are counted there; the same rules
    /// as [`eligibility::judge`], which the viewers API uses. The snapshot
    /// holds exactly the eligible set, so `verify` replays the draw.
    /// `None` when facts the gates need are missing or due for a refresh
    /// and `may_defer` allows asking Twitch first.
    async fn candidates(
        &self,
        round: &RoundTransaction<'_>,
        channel: &ChannelRecord,
        rules: &RaffleRules,
        may_defer: bool,
    ) -> Result<Option<(CandidateSnapshot, ExclusionCounts)>, RaffleError> {
        let sql_rules = Self::sql_rules(channel, rules);
        let judged = round
            .judged_candidates(
                channel.id,
                channel.twitch_user_id.as_deref(),
                &sql_rules,
                &rules.gates,
                &rules.follow_cache,
            )
            .await?;
        if may_defer && judged.facts_due > 0 {
            return Ok(None);
        }
        let luck = u32::from(rules.subscriber_luck.max(1));
        let candidates = judged
            .eligible
            .into_iter()
            .map(|(user_id, is_subscriber)| Candidate {
                weight: if is_subscriber { luck } else { 1 },
                user_id,
            })
            .collect();
        Ok(Some((CandidateSnapshot::new(candidates)?, judged.excluded)))
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
