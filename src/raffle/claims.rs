//! The claim sweeper (SPEC §11): settles wins with a claim window.
//!
//! Every [`ClaimSweeperConfig::poll_interval`] it
//! 1. marks `claimed` every pending win whose winner chatted (any message,
//!    `!claim` / `!resgatar` included) after the draw and by the deadline,
//!    and announces it in chat and on Discord;
//! 2. takes each pending win whose deadline passed more than
//!    [`ClaimSweeperConfig::grace`] ago (presence is written in batches, so
//!    a message just before the deadline may land a moment after it), one
//!    transaction each, locked so that no other instance settles it: if the
//!    winner did chat in time after all it is `claimed`; otherwise it is
//!    `expired` and, while the chain has had fewer than `CLAIM_REDRAWS`
//!    redraws, redrawn: a new raffle row with trigger `redraw`,
//!    `redraw_of` the expired one, a fresh seed, the same item, and the
//!    expired round's snapshot minus every winner whose claim expired in the
//!    chain; the winner is drawn by weight with [`draw::draw_winner`], which
//!    `kinoyubot verify` replays. After the last allowed redraw (or when
//!    nobody is left) the item goes back to stock.
//!
//! Deadlines live in the database, so a restart inside a window loses
//! nothing: the next sweep settles what fell due meanwhile, exactly once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::draw::{self, CandidateSnapshot, DrawItem};
use super::eligibility::ExclusionCounts;
use super::record::{ClaimStatus, Trigger, Winner};
use super::round::{RaffleEngine, RaffleError, RaffleRules, fresh_seed};
use crate::announce::chat_line::{ChatAnnounce, ChatMessage, QueuedChatLine};
use crate::announce::{Announcement, ClaimResult};
use crate::channel::{ChannelLogin, ChannelSet};
use crate::store::{self, ClaimTransaction, DueClaim, NewRaffle};

/// Timing of the sweeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimSweeperConfig {
    /// How often to look for claims to settle.
    pub poll_interval: Duration,
    /// How long after a deadline a claim is settled: presence writes lag
    /// by up to a flush interval.
    pub grace: Duration,
}

impl Default for ClaimSweeperConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            grace: Duration::from_secs(3),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Wins claimed.
    pub claimed: usize,
    /// Wins expired.
    pub expired: usize,
    /// Redraws recorded.
    pub redrawn: usize,
    /// Items given back to stock.
    pub returned: usize,
}

/// Settles claims until shutdown. Cheap to clone (the supervisor builds a
/// new run from a clone after a failure).
#[derive(Debug, Clone)]
pub struct ClaimSweeper {
    engine: RaffleEngine,
    config: ClaimSweeperConfig,
    /// Only the claims of the channels this instance serves are settled
    /// here; the instance holding a channel's lease settles its claims.
    served: ChannelSet,
}

impl ClaimSweeper {
    /// A sweeper settling the claims of the `served` channels in `engine`'s
    /// store, by each channel's settings.
    pub fn new(engine: RaffleEngine, config: ClaimSweeperConfig, served: ChannelSet) -> Self {
        Self { engine, config, served }
    }

    /// The logins of the channels served now.
    fn served_logins(&self) -> Vec<String> {
        self.served
            .current()
            .iter()
            .map(|login| login.as_str().to_owned())
            .collect()
    }

    /// Sweeps every poll interval until `shutdown` (a sweep in progress is
    /// finished: each settlement is one short transaction).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let pause = match self.sweep().await {
                Ok(report) => {
                    failures = 0;
                    if report != SweepReport::default() {
                        tracing::info!(?report, "claims settled");
                    }
                    self.config.poll_interval
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause = crate::announce::delivery::POST_BACKOFF.delay_after(failures);
                    tracing::warn!(error = %e, cause = ?e, retry_in = ?pause, "claim sweep failed");
                    pause
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One sweep: claims by chatting, then every due deadline.
    ///
    /// # Errors
    ///
    /// Database and OS random source failures; what was committed before
    /// stays committed.
    pub async fn sweep(&self) -> Result<SweepReport, RaffleError> {
        let mut report = SweepReport::default();
        let logins = self.served_logins();
        if logins.is_empty() {
            return Ok(report);
        }
        let store = self.engine.store();
        let mut connection = store.connection().await?;
        let mut told = false;
        {
            let claims = connection.begin_claims().await?;
            let claimed = claims.claim_chatted_wins(&logins).await?;
            for win in &claimed {
                let Ok(login) = ChannelLogin::parse(&win.channel_login) else {
                    continue;
                };
                let announce = self.engine.channel_settings(win.channel_id).await?.chat_announce;
                self.tell_claimed(
                    &claims,
                    &login,
                    announce,
                    win.raffle_id,
                    &win.channel_display_name,
                    &win.item_name,
                    &win.winner_login,
                    &win.winner_display_name,
                )
                .await?;
            }
            claims.commit().await?;
            report.claimed = claimed.len();
            told |= !claimed.is_empty();
        }
        loop {
            let claims = connection.begin_claims().await?;
            let Some(due) = claims.lock_due_claim(self.config.grace, &logins).await? else {
                break;
            };
            let Ok(login) = ChannelLogin::parse(&due.channel_login) else {
                // Cannot happen (the column is checked); leave it expired.
                claims.set_claim_status(due.raffle_id, ClaimStatus::Expired).await?;
                claims.commit().await?;
                continue;
            };
            let rules = self.engine.channel_settings(due.channel_id).await?;
            if due.claimed {
                claims.set_claim_status(due.raffle_id, ClaimStatus::Claimed).await?;
                self.tell_claimed(
                    &claims,
                    &login,
                    rules.chat_announce,
                    due.raffle_id,
                    &due.channel_display_name,
                    &due.item_name,
                    &due.winner_login,
                    &due.winner_display_name,
                )
                .await?;
                claims.commit().await?;
                report.claimed += 1;
            } else {
                self.expire(&claims, &login, &rules, &due, &mut report).await?;
                claims.commit().await?;
            }
            told = true;
        }
        if told {
            self.engine.wake_delivery();
            self.engine.wake_chat();
        }
        Ok(report)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of one claimed win, from two queries"
    )]
    async fn tell_claimed(
        &self,
        claims: &ClaimTransaction<'_>,
        login: &ChannelLogin,
        announce: ChatAnnounce,
        raffle_id: i64,
        channel_display_name: &str,
        item_name: &str,
        winner_login: &str,
        winner_display_name: &str,
    ) -> Result<(), store::Error> {
        tracing::info!(channel = %login, raffle_id, "prize claimed");
        claims
            .enqueue(
                raffle_id,
                &Announcement::Claim {
                    raffle_id,
                    channel_login: login.as_str().to_owned(),
                    channel_display_name: channel_display_name.to_owned(),
                    item_name: item_name.to_owned(),
                    winner_display_name: winner_display_name.to_owned(),
                    winner_login: winner_login.to_owned(),
                    result: ClaimResult::Claimed,
                },
            )
            .await?;
        if announce != ChatAnnounce::Off {
            claims
                .enqueue_chat(&QueuedChatLine {
                    channel_login: login.as_str().to_owned(),
                    message: ChatMessage::Claimed {
                        raffle_id,
                        item_name: item_name.to_owned(),
                        winner_login: winner_login.to_owned(),
                        winner_display_name: winner_display_name.to_owned(),
                    },
                })
                .await?;
        }
        Ok(())
    }

    /// Expires a due win and redraws it, or gives its item back.
    async fn expire(
        &self,
        claims: &ClaimTransaction<'_>,
        login: &ChannelLogin,
        rules: &RaffleRules,
        due: &DueClaim,
        report: &mut SweepReport,
    ) -> Result<(), RaffleError> {
        claims.set_claim_status(due.raffle_id, ClaimStatus::Expired).await?;
        report.expired += 1;
        let mut expired_winners = due.earlier_expired_winners.clone();
        expired_winners.push(due.winner_user_id.clone());
        let mut redraw_id = None;
        let mut redraw_line = None;
        if due.redraws_so_far < rules.claim_redraws {
            let parent = CandidateSnapshot::from_json(&due.candidates_json)?;
            let snapshot = parent.without(&expired_winners);
            let seed = fresh_seed()?;
            let drawn = draw::draw_winner(&seed, &snapshot);
            let winner = match &drawn {
                Some((_, user_id)) => {
                    let (winner_login, display_name) = claims
                        .viewer_names(due.channel_id, user_id)
                        .await?
                        .unwrap_or_else(|| (user_id.clone(), user_id.clone()));
                    Some(Winner {
                        user_id: user_id.clone(),
                        login: winner_login,
                        display_name,
                    })
                }
                None => None,
            };
            let candidates_json = snapshot.to_json()?;
            let digest = snapshot.digest_hex();
            let candidate_count = i32::try_from(snapshot.len()).unwrap_or(i32::MAX);
            let items = [DrawItem {
                name: due.item_name.clone(),
                probability: 1.0,
                remaining_stock: None,
            }];
            let inserted = claims
                .insert_redraw(&NewRaffle {
                    channel_id: due.channel_id,
                    slot: None,
                    trigger: Trigger::Redraw,
                    outcome: store::redraw_outcome(winner.is_some()),
                    item_name: winner.as_ref().map(|_| due.item_name.as_str()),
                    item_id: winner.as_ref().and(due.item_id),
                    winner: winner.as_ref(),
                    seed: &seed,
                    candidates_json: &candidates_json,
                    candidates_digest: &digest,
                    candidate_count,
                    items: &items,
                    skip_reason: None,
                    claim_window: winner.as_ref().and_then(|_| rules.claims()),
                    excluded: &ExclusionCounts::default(),
                    redraw_of: Some(due.raffle_id),
                })
                .await?;
            let Some(inserted) = inserted else {
                // Redrawn already (the unique redraw_of): nothing more to do.
                return Ok(());
            };
            if let Some(winner) = &winner {
                redraw_id = Some(inserted.id);
                report.redrawn += 1;
                tracing::info!(channel = %login, raffle_id = inserted.id, redraw_of = due.raffle_id, "prize redrawn");
                claims
                    .enqueue(
                        inserted.id,
                        &Announcement::Win {
                            raffle_id: inserted.id,
                            channel_login: login.as_str().to_owned(),
                            channel_display_name: due.channel_display_name.clone(),
                            item_name: due.item_name.clone(),
                            winner_display_name: winner.display_name.clone(),
                            winner_login: winner.login.clone(),
                            candidate_count: i64::from(candidate_count),
                            digest_hex: digest.clone(),
                            created_at: inserted.created_at,
                        },
                    )
                    .await?;
                redraw_line = Some(ChatMessage::Win {
                    raffle_id: inserted.id,
                    item_name: due.item_name.clone(),
                    winner_login: winner.login.clone(),
                    winner_display_name: winner.display_name.clone(),
                    candidate_count: i64::from(candidate_count),
                    redraw_of: Some(due.raffle_id),
                    claim_deadline: inserted.claim_deadline,
                });
            }
        }
        let returned_to_stock = redraw_id.is_none();
        if returned_to_stock {
            if let Some(item_id) = due.item_id {
                claims.return_one(item_id).await?;
            }
            report.returned += 1;
            tracing::info!(channel = %login, raffle_id = due.raffle_id, item = %due.item_name, "unclaimed prize back to stock");
        }
        claims
            .enqueue(
                due.raffle_id,
                &Announcement::Claim {
                    raffle_id: due.raffle_id,
                    channel_login: login.as_str().to_owned(),
                    channel_display_name: due.channel_display_name.clone(),
                    item_name: due.item_name.clone(),
                    winner_display_name: due.winner_display_name.clone(),
                    winner_login: due.winner_login.clone(),
                    result: ClaimResult::Expired {
                        redraw_id,
                        returned_to_stock,
                    },
                },
            )
            .await?;
        if rules.chat_announce != ChatAnnounce::Off {
            let channel_login = login.as_str().to_owned();
            claims
                .enqueue_chat(&QueuedChatLine {
                    channel_login: channel_login.clone(),
                    message: ChatMessage::Unclaimed {
                        raffle_id: due.raffle_id,
                        item_name: due.item_name.clone(),
                        winner_display_name: due.winner_display_name.clone(),
                        returned_to_stock,
                    },
                })
                .await?;
            if let Some(message) = redraw_line {
                claims.enqueue_chat(&QueuedChatLine { channel_login, message }).await?;
            }
        }
        Ok(())
    }
}
