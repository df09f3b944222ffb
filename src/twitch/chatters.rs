//! Lurkers (`PRESENCE_SOURCES=chat,chatters`, SPEC §14): every
//! [`CHATTERS_INTERVAL`] while a served channel is live, Helix Get Chatters
//! with the broadcaster's token lists the logged-in viewers of its chat, and
//! each is marked present (`presence.source = 'chatters'` for new rows),
//! without touching message counts. Pages of 1,000 follow the cursor; the
//! Helix client honours `Ratelimit-*` headers.
//!
//! `PRESENCE_SOURCES` is per channel: with [`ChattersPoller::following`]
//! only channels whose effective value includes `chatters` are listed, and
//! while none does the poller waits for a settings change or a change of
//! the channel set instead of ticking.
//!
//! Intervals are reckoned on the injected [`Clock`], so tests drive them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::facts::{FactsError, TwitchFacts};
use super::live_status::{LiveAnswer, LiveStatus};
use crate::channel::settings::ChannelSettings;
use crate::channel::{ChannelLogin, ChannelSet};
use crate::clock::Clock;
use crate::store::{ListedChatter, Store};

/// How often chatters are listed (SPEC §14).
pub const CHATTERS_INTERVAL: Duration = Duration::from_secs(60);

/// What one poll of one channel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChattersPoll {
    /// Listed: this many chatters over this many pages.
    Listed {
        /// Chatters marked present.
        chatters: usize,
        /// Pages read.
        pages: usize,
    },
    /// The stream is not live (or its state unknown): nothing asked.
    NotLive,
    /// The channel has no row yet.
    UnknownChannel,
    /// The channel's `PRESENCE_SOURCES` is `chat`: nothing asked.
    NotUsed,
}

/// The per-channel settings the poller follows: the defaults and a signal
/// that some channel's own values changed.
#[derive(Clone)]
struct Following {
    defaults: Arc<ChannelSettings>,
    changes: watch::Receiver<()>,
}

/// Lists chatters of the served channels. Run it with [`Self::run`].
#[derive(Clone)]
pub struct ChattersPoller {
    store: Store,
    channels: ChannelSet,
    live: Arc<dyn LiveStatus>,
    facts: TwitchFacts,
    clock: Clock,
    /// `None`: every channel is listed (as if all had `chat,chatters`).
    following: Option<Following>,
}

impl std::fmt::Debug for ChattersPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChattersPoller").finish_non_exhaustive()
    }
}

impl ChattersPoller {
    /// A poller for `channels`, asking `live` before each poll.
    pub fn new(
        store: Store,
        channels: ChannelSet,
        live: Arc<dyn LiveStatus>,
        facts: TwitchFacts,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            channels,
            live,
            facts,
            clock,
            following: None,
        }
    }

    /// Lists only channels whose effective `PRESENCE_SOURCES` (their own
    /// value over `defaults`) includes `chatters`; `changes` wakes the
    /// poller after a channel's settings change.
    #[must_use]
    pub fn following(mut self, defaults: ChannelSettings, changes: watch::Receiver<()>) -> Self {
        self.following = Some(Following {
            defaults: Arc::new(defaults),
            changes,
        });
        self
    }

    /// Whether `channel` lists its chatters under its settings.
    async fn uses_chatters(&self, channel_id: i64) -> Result<bool, FactsError> {
        let Some(following) = &self.following else {
            return Ok(true);
        };
        let own = self.store.channel_settings(channel_id).await?;
        Ok(following
            .defaults
            .with_own(&own)
            .gates
            .presence_sources
            .includes_chatters())
    }

    /// Whether some channel of the set lists its chatters (a channel not
    /// in the database yet follows the defaults).
    async fn any_uses_chatters(&self) -> bool {
        let Some(following) = &self.following else {
            return true;
        };
        if following.defaults.gates.presence_sources.includes_chatters() {
            return true;
        }
        for login in self.channels.current() {
            let uses = match self.store.find_channel(&login).await {
                Ok(Some(channel)) => self.uses_chatters(channel.id).await,
                Ok(None) => Ok(false),
                Err(e) => Err(e.into()),
            };
            // Settings that cannot be read: try the channel, its poll says why.
            if uses.unwrap_or(true) {
                return true;
            }
        }
        false
    }

    /// Polls at once, then every [`CHATTERS_INTERVAL`], until `shutdown`.
    ///
    /// While no channel lists its chatters (see [`Self::following`]), waits
    /// for a settings change or a change of the channel set instead.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut channels = self.channels.subscribe();
        let mut changes = self.following.as_ref().map(|f| f.changes.clone());
        let mut announced = false;
        loop {
            if self.any_uses_chatters().await {
                if !announced {
                    tracing::info!("listing lurkers from Helix Get Chatters every {CHATTERS_INTERVAL:?}");
                    announced = true;
                }
                self.poll_all().await;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    () = self.clock.sleep(CHATTERS_INTERVAL) => {}
                }
                continue;
            }
            let settings_changed = async {
                match changes.as_mut() {
                    Some(changes) => {
                        if changes.changed().await.is_err() {
                            // The engine is gone: settings cannot change any more.
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let channels_changed = async {
                // `self.channels` keeps the sender alive, so this does not fail.
                if channels.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                () = settings_changed => {}
                () = channels_changed => {}
            }
        }
    }

    /// Polls every served channel once; failures are logged and the
    /// channel is polled again next time.
    pub async fn poll_all(&self) -> Vec<(ChannelLogin, Result<ChattersPoll, FactsError>)> {
        let mut results = Vec::new();
        for login in self.channels.current() {
            let result = self.poll(&login).await;
            match &result {
                Ok(ChattersPoll::Listed { chatters, pages }) => {
                    tracing::debug!(channel = %login, chatters, pages, "lurkers marked present");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(channel = %login, error = %e, "could not list the chat's viewers"),
            }
            results.push((login, result));
        }
        results
    }

    /// Polls one channel.
    ///
    /// # Errors
    ///
    /// [`FactsError`]: the token lacks `moderator:read:chatters`, Helix
    /// failed, or the database did.
    pub async fn poll(&self, login: &ChannelLogin) -> Result<ChattersPoll, FactsError> {
        let Some(channel) = self.store.find_channel(login).await? else {
            return Ok(ChattersPoll::UnknownChannel);
        };
        if !self.uses_chatters(channel.id).await? {
            return Ok(ChattersPoll::NotUsed);
        }
        if self.live.is_live(channel.twitch_user_id.as_deref()).await != LiveAnswer::Live {
            return Ok(ChattersPoll::NotLive);
        }
        let (token, broadcaster) = self.facts.chatters_token(&channel).await?;
        let (chatters, pages) = self.facts.helix().chatters(&broadcaster, &token).await?;
        // What Twitch sends is cleaned like chat's tags: numeric ids, valid
        // logins, display names without control or invisible characters.
        let cleaned: Vec<(&str, ChannelLogin, String)> = chatters
            .iter()
            .filter(|c| c.user_id != broadcaster)
            .filter_map(|c| {
                let user_id = crate::text::twitch_id(&c.user_id)?;
                let login = ChannelLogin::parse(&c.user_login).ok()?;
                let name = crate::text::clean_name(&c.user_name);
                let name = if name.is_empty() {
                    login.as_str().to_owned()
                } else {
                    name
                };
                Some((user_id, login, name))
            })
            .collect();
        let listed: Vec<ListedChatter<'_>> = cleaned
            .iter()
            .map(|(user_id, login, name)| ListedChatter {
                user_id,
                login: login.as_str(),
                display_name: name,
            })
            .collect();
        let written = self.store.mark_chatters_present(channel.id, &listed).await?;
        Ok(ChattersPoll::Listed {
            chatters: written,
            pages,
        })
    }
}
