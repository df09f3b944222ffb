//! One raffle round (SPEC §5), shared by every trigger: the timer, `kinoyubot
//! draw`, the admin API and `!raffle now` in chat.
//!
//! A round is one transaction: lock the slot (timer rounds), lock the items,
//! select the candidates, draw with a fresh seed from the OS, take the stock,
//! write the raffle row and queue its announcement. Either all of it is
//! committed or none, so a raffle is never lost and never announced without
//! being recorded. The draw itself is the pure [`crate::raffle::draw::draw`],
//! which `kinoyubot verify` replays.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::TryRngCore as _;
use serde_json::json;

use crate::announce::delivery::DeliveryNotifier;
use crate::announce::render::Announcement;
use crate::channel::ChannelLogin;
use crate::config::Settings;
use crate::raffle::draw::{self, Candidate, CandidateSnapshot, DrawItem, DrawOutcome, OutcomeKind, Seed};
use crate::store::raffles::{EligibilityRules, NewRaffle, RaffleAudit, RaffleRecord};
use crate::store::{self, Store, channels, items, outbox, raffles};
use crate::twitch::live_status::LiveStatus;

/// What started a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The per-channel timer, for a slot.
    Timer,
    /// `kinoyubot draw` or the admin API.
    Manual,
    /// `!raffle now` in chat.
    Chat,
}

impl Trigger {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Timer => "timer",
            Trigger::Manual => "manual",
            Trigger::Chat => "chat",
        }
    }
}

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
    /// `ONLY_WHEN_LIVE`: timer rounds are recorded as `skipped_offline` while
    /// the stream is known to be offline. Manual and chat draws are explicit
    /// requests and always draw.
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
        }
    }
}

impl RaffleRules {
    /// The rules of these settings.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            active_window: settings.active_window,
            winner_cooldown: settings.winner_cooldown,
            subscriber_luck: settings.subscriber_luck,
            ignore_users: settings.ignore_users.clone(),
            only_when_live: settings.only_when_live,
        }
    }
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
    /// The candidates could not form a snapshot (duplicate ids cannot come
    /// from the primary key; this would be a bug).
    #[error("invalid candidate snapshot: {0}")]
    Snapshot(#[from] draw::SnapshotError),
}

impl From<tokio_postgres::Error> for RaffleError {
    fn from(e: tokio_postgres::Error) -> Self {
        RaffleError::Store(store::Error::Query(e))
    }
}

impl From<deadpool_postgres::PoolError> for RaffleError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        RaffleError::Store(store::Error::Pool(e))
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
}

impl std::fmt::Debug for RaffleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaffleEngine")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

fn fresh_seed() -> Result<Seed, RaffleError> {
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
    pub fn rules(&self) -> &RaffleRules {
        &self.rules
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs one round for `login`. Timer rounds pass their `slot`; they are
    /// skipped when the channel is paused or the slot was drawn already.
    ///
    /// # Errors
    ///
    /// [`RaffleError::UnknownChannel`] when the channel is not in the
    /// database; database and OS random source failures. On error nothing is
    /// recorded.
    #[tracing::instrument(skip_all, fields(channel = %login, trigger = trigger.as_str(), slot, raffle_id))]
    pub async fn run_round(
        &self,
        login: &ChannelLogin,
        trigger: Trigger,
        slot: Option<i64>,
    ) -> Result<RoundResult, RaffleError> {
        if let Some(slot) = slot {
            tracing::Span::current().record("slot", slot);
        }
        let mut client = self.store.pool().get().await?;
        let channel = channels::find_by_login(&client, login)
            .await?
            .ok_or_else(|| RaffleError::UnknownChannel(login.to_string()))?;
        if trigger == Trigger::Timer && channel.paused {
            return Ok(RoundResult::Paused);
        }
        // Live status is a network call: ask before the transaction opens.
        let offline = trigger == Trigger::Timer && self.rules.only_when_live && !self.is_live(&channel).await;

        let transaction = client.transaction().await?;
        if let Some(slot) = slot
            && raffles::lock_slot(&transaction, channel.id, slot).await?
        {
            return Ok(RoundResult::AlreadyDrawn);
        }
        let seed = fresh_seed()?;
        let (snapshot, draw_items, outcome) = if offline {
            (CandidateSnapshot::default(), Vec::new(), None)
        } else {
            let draw_items = items::lock_for_draw(&transaction).await?;
            let snapshot = self.candidates(&transaction, &channel).await?;
            let outcome = draw::draw(&seed, &snapshot, &draw_items);
            (snapshot, draw_items, Some(outcome))
        };
        let kind = outcome.as_ref().map_or(OutcomeKind::SkippedOffline, DrawOutcome::kind);

        let mut winner = None;
        let mut item_name = None;
        if let Some(DrawOutcome::Won {
            item_name: won_item,
            winner_user_id,
            ..
        }) = &outcome
        {
            items::take_one(&transaction, won_item).await?;
            let (winner_login, winner_display) = raffles::viewer_names(&transaction, channel.id, winner_user_id)
                .await?
                .unwrap_or_else(|| (winner_user_id.clone(), winner_user_id.clone()));
            winner = Some((winner_user_id.clone(), winner_login, winner_display));
            item_name = Some(won_item.clone());
        }
        let candidate_count = i32::try_from(snapshot.len()).unwrap_or(i32::MAX);
        let candidates_json = snapshot.to_json();
        let digest = snapshot.digest_hex();
        let items_json = serde_json::to_string(&draw_items).map_err(|e| store::Error::Config(e.to_string()))?;
        let inserted = raffles::insert(
            &transaction,
            &NewRaffle {
                channel_id: channel.id,
                slot,
                trigger: trigger.as_str(),
                outcome: kind.as_str(),
                item_name: item_name.as_deref(),
                winner: winner.as_ref().map(|(id, l, d)| (id.as_str(), l.as_str(), d.as_str())),
                seed: seed.as_bytes(),
                candidates_json: &candidates_json,
                candidates_digest: &digest,
                candidate_count,
                items_json: &items_json,
            },
        )
        .await;
        let (raffle_id, created_at) = match inserted {
            Ok(inserted) => inserted,
            // Another instance drew this slot between our lock and insert
            // (only possible if the advisory lock was bypassed).
            Err(store::Error::Query(e)) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                return Ok(RoundResult::AlreadyDrawn);
            }
            Err(e) => return Err(e.into()),
        };
        tracing::Span::current().record("raffle_id", raffle_id);
        // Only winners are announced on Discord; other outcomes are recorded
        // and shown on the dashboard, not posted every minute.
        if let Some((_, winner_login, winner_display)) = &winner {
            let announcement = Announcement::RaffleResult {
                raffle_id,
                channel_login: channel.login.clone(),
                channel_display_name: channel.display_name.clone(),
                outcome: kind.as_str().to_owned(),
                item_name: item_name.clone(),
                winner_display_name: Some(winner_display.clone()),
                winner_login: Some(winner_login.clone()),
                candidate_count: i64::from(candidate_count),
                digest_hex: digest.clone(),
                created_at: created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            };
            outbox::enqueue(&transaction, Some(raffle_id), &announcement).await?;
        }
        transaction.commit().await?;
        if winner.is_some()
            && let Some(delivery) = &self.delivery
        {
            delivery.wake();
        }
        crate::metrics::raffle_recorded(kind.as_str());
        tracing::info!(outcome = kind.as_str(), candidates = snapshot.len(), "raffle recorded");
        // Everything the record holds is known here: no need to read it back.
        let (winner_user_id, winner_login, winner_display_name) = match winner {
            Some((id, login, display)) => (Some(id), Some(login), Some(display)),
            None => (None, None, None),
        };
        let announced = winner_user_id.is_some();
        Ok(RoundResult::Recorded(Box::new(RaffleRecord {
            id: raffle_id,
            channel_login: channel.login,
            channel_display_name: channel.display_name,
            slot,
            trigger: trigger.as_str().to_owned(),
            outcome: kind.as_str().to_owned(),
            item_name,
            winner_user_id,
            winner_login,
            winner_display_name,
            candidates_digest: digest,
            candidate_count,
            created_at,
            delivery_status: announced.then(|| "pending".to_owned()),
            delivery_error: None,
        })))
    }

    async fn candidates(
        &self,
        db: &impl store::Queryable,
        channel: &channels::ChannelRecord,
    ) -> Result<CandidateSnapshot, RaffleError> {
        let mut excluded: Vec<String> = self.rules.ignore_users.iter().map(|l| l.as_str().to_owned()).collect();
        excluded.push(channel.login.clone());
        let rules = EligibilityRules {
            active_window: self.rules.active_window,
            winner_cooldown: self.rules.winner_cooldown,
            excluded_logins: excluded,
        };
        let viewers = raffles::select_candidates(db, channel.id, channel.twitch_user_id.as_deref(), &rules).await?;
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

    async fn is_live(&self, channel: &channels::ChannelRecord) -> bool {
        match self.live.is_live(channel.twitch_user_id.as_deref()).await {
            Some(live) => live,
            None => {
                let first = self
                    .warned_unknown_live
                    .lock()
                    .map(|mut warned| warned.insert(channel.login.clone()))
                    .unwrap_or(false);
                if first {
                    tracing::warn!(
                        channel = %channel.login,
                        "ONLY_WHEN_LIVE is on but live status is unknown (no Twitch credentials or no answer); raffling anyway"
                    );
                }
                true
            }
        }
    }
}

/// The raffle as JSON (SPEC §9).
pub fn raffle_json(record: &RaffleRecord) -> serde_json::Value {
    let winner = match (
        &record.winner_user_id,
        &record.winner_login,
        &record.winner_display_name,
    ) {
        (Some(user_id), Some(login), Some(display_name)) => json!({
            "user_id": user_id, "login": login, "display_name": display_name,
        }),
        _ => serde_json::Value::Null,
    };
    let delivery = match &record.delivery_status {
        Some(status) => json!({"status": status, "error": record.delivery_error}),
        None => serde_json::Value::Null,
    };
    json!({
        "id": record.id,
        "channel": record.channel_login,
        "trigger": record.trigger,
        "outcome": record.outcome,
        "item": record.item_name,
        "winner": winner,
        "candidates": record.candidate_count,
        "digest": record.candidates_digest,
        "created_at": record.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "delivery": delivery,
    })
}

/// What `kinoyubot verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Seed, snapshot and items replay to the recorded outcome.
    Verified,
    /// A round skipped while offline: nothing was drawn, nothing to replay.
    SkippedOffline,
    /// What differs.
    Mismatch(Vec<String>),
}

/// Recomputes a recorded raffle from its stored seed, snapshot and items.
pub fn verify_record(record: &RaffleRecord, audit: &RaffleAudit) -> Verification {
    let mut problems = Vec::new();
    let seed = match Seed::from_bytes(&audit.seed) {
        Ok(seed) => Some(seed),
        Err(e) => {
            problems.push(format!("seed: {e}"));
            None
        }
    };
    let snapshot = match CandidateSnapshot::from_json(&audit.candidates_json) {
        Ok(snapshot) => Some(snapshot),
        Err(e) => {
            problems.push(format!("candidates: {e}"));
            None
        }
    };
    let draw_items: Option<Vec<DrawItem>> = match serde_json::from_str(&audit.items_json) {
        Ok(items) => Some(items),
        Err(e) => {
            problems.push(format!("items: {e}"));
            None
        }
    };
    if let Some(snapshot) = &snapshot {
        let digest = snapshot.digest_hex();
        if digest != record.candidates_digest {
            problems.push(format!(
                "candidates digest: recorded {} but the stored snapshot hashes to {digest}",
                record.candidates_digest
            ));
        }
        if i64::try_from(snapshot.len()).ok() != Some(i64::from(record.candidate_count)) {
            problems.push(format!(
                "candidate count: recorded {} but the snapshot has {}",
                record.candidate_count,
                snapshot.len()
            ));
        }
    }
    if record.outcome == OutcomeKind::SkippedOffline.as_str() {
        return if problems.is_empty() {
            Verification::SkippedOffline
        } else {
            Verification::Mismatch(problems)
        };
    }
    let (Some(seed), Some(snapshot), Some(draw_items)) = (seed, snapshot, draw_items) else {
        return Verification::Mismatch(problems);
    };
    let replayed = draw::draw(&seed, &snapshot, &draw_items);
    let replayed_outcome = replayed.kind().as_str();
    if replayed_outcome != record.outcome {
        problems.push(format!(
            "outcome: recorded {} but replay gives {replayed_outcome}",
            record.outcome
        ));
    }
    let (replayed_item, replayed_winner) = match &replayed {
        DrawOutcome::Won {
            item_name,
            winner_user_id,
            ..
        } => (Some(item_name.as_str()), Some(winner_user_id.as_str())),
        _ => (None, None),
    };
    if replayed_item != record.item_name.as_deref() {
        problems.push(format!(
            "item: recorded {:?} but replay gives {:?}",
            record.item_name, replayed_item
        ));
    }
    if replayed_winner != record.winner_user_id.as_deref() {
        problems.push(format!(
            "winner: recorded {:?} but replay gives {:?}",
            record.winner_user_id, replayed_winner
        ));
    }
    if problems.is_empty() {
        Verification::Verified
    } else {
        Verification::Mismatch(problems)
    }
}
