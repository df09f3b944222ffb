//! [`WebState`]: what every handler may read. Handlers take it by value
//! (it is cheap to clone); the route table hands it to them.

use std::sync::Arc;
use std::time::Duration;

use super::admin::AdminGuard;

use crate::channel::{ChannelLanguages, ChannelSet, LeaseStatus};
use crate::presence::tracker::PresenceHealth;
use crate::raffle::RaffleEngine;
use crate::raffle::command::DrawLimiter;
use crate::store::Store;
use crate::supervisor::Supervisor;
use crate::twitch::auth::connect::Connections;
use crate::twitch::irc::ChatHealth;
use crate::twitch::live_status::CachedLiveStatus;
use secrecy::SecretString;

/// Shared state handed to handlers.
#[derive(Clone, Debug)]
pub(crate) struct WebState {
    /// The database.
    pub(crate) store: Store,
    /// Runs raffle rounds for the admin draw endpoint.
    pub(crate) engine: RaffleEngine,
    /// Channels this instance may serve (configured and connected).
    pub(crate) channels: ChannelSet,
    /// Channels this instance holds a lease on and serves (SPEC §15).
    pub(crate) served: ChannelSet,
    /// The lease task's figures, for `/api/status`.
    pub(crate) leases: LeaseStatus,
    /// The chat listener's joins, for `/api/status`.
    pub(crate) joins: crate::twitch::join_pacer::JoinStatus,
    /// Connecting and disconnecting Twitch accounts (`twitch::auth::connect`).
    pub(crate) connections: Connections,
    /// `ADMIN_TOKEN`; `None` disables admin endpoints.
    pub(crate) admin_token: Option<SecretString>,
    /// Slows down clients that keep sending wrong admin tokens.
    pub(crate) admin_guard: Arc<AdminGuard>,
    /// Live status for the dashboard, cached so page refreshes do not hammer Helix.
    pub(crate) live: CachedLiveStatus,
    /// `RAFFLE_INTERVAL`, for the next slot shown on the dashboard.
    pub(crate) raffle_interval: Duration,
    /// `PUBLIC_URL`: the OAuth state cookie is `Secure` when it is https, and
    /// its path (a bot behind a reverse proxy under a prefix) scopes the
    /// cookie and the redirect back to the dashboard.
    pub(crate) public_url: url::Url,
    /// `SESSION_TTL`.
    pub(crate) session_ttl: Duration,
    /// Draws by signed-in streamers: one per channel per 10 s (SPEC §16;
    /// the admin is not limited). A std Mutex: held for a map update only.
    pub(crate) session_draws: Arc<std::sync::Mutex<DrawLimiter>>,
    /// Which language each channel speaks.
    pub(crate) languages: ChannelLanguages,
    /// What the dashboard explains about the settings.
    pub(crate) setup: WebSetup,
    /// What `/readyz` and the dashboard report about the running parts.
    pub(crate) health: Health,
}

/// Settings the dashboard explains, beyond those of the raffle engine.
#[derive(Clone, Debug, Default)]
pub(crate) struct WebSetup {
    /// `DISCORD_WEBHOOK_URL` is set (else winners are printed).
    pub(crate) announces_on_discord: bool,
    /// `ITEMS_FILE`, when it does not exist: the bot runs and draws nothing.
    pub(crate) missing_prize_list: Option<String>,
}

/// The running parts' health (SPEC §16), shared with them.
#[derive(Clone, Debug)]
pub(crate) struct Health {
    /// Whether chat is joined for every served channel.
    pub(crate) chat: ChatHealth,
    /// How long presence has waited unwritten.
    pub(crate) presence: PresenceHealth,
    /// What every background task is doing.
    pub(crate) supervisor: Supervisor,
}

impl WebState {
    /// `PUBLIC_URL`'s path without a trailing slash (`""` at the root).
    pub(crate) fn base_path(&self) -> &str {
        self.public_url.path().trim_end_matches('/')
    }
}
