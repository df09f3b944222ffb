//! Lurkers (`PRESENCE_SOURCES=chat,chatters`, SPEC §14): every
//! [`CHATTERS_INTERVAL`] while a served channel is live, Helix Get Chatters
//! with the broadcaster's token lists the logged-in viewers of its chat, and
//! each is marked present (`presence.source = 'chatters'` for new rows),
//! without touching message counts. Pages of 1,000 follow the cursor; the
//! Helix client honours `Ratelimit-*` headers.
//!
//! Intervals are reckoned on the injected [`Clock`], so tests drive them.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::facts::{FactsError, TwitchFacts};
use super::live_status::{LiveAnswer, LiveStatus};
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
}

/// Lists chatters of the served channels. Run it with [`Self::run`].
#[derive(Clone)]
pub struct ChattersPoller {
    store: Store,
    channels: ChannelSet,
    live: Arc<dyn LiveStatus>,
    facts: TwitchFacts,
    clock: Clock,
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
        }
    }

    /// Polls at once, then every [`CHATTERS_INTERVAL`], until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!("listing lurkers from Helix Get Chatters every {CHATTERS_INTERVAL:?}");
        loop {
            self.poll_all().await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                () = self.clock.sleep(CHATTERS_INTERVAL) => {}
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
