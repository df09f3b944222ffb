//! What the eligibility gates need from Twitch (issue 18, SPEC §14):
//! account creation dates (Helix Get Users, app token) and follow state
//! (Get Channel Followers, the broadcaster's token with
//! `moderator:read:followers`), fetched for the viewers the cache lacks and
//! written to the cache. The broadcaster's token also serves Get Chatters.
//!
//! Nothing here decides eligibility: what could not be fetched stays
//! unknown in the cache, and the pure `crate::raffle::eligibility::judge`
//! excludes those viewers (fails closed).

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::SecretString;

use super::auth::token_cipher::{TokenCipher, TokenKind};
use super::auth::{CHATTERS_SCOPE, FOLLOWERS_SCOPE};
use super::helix::{FOLLOWERS_PER_PAGE, HelixClient, HelixError};
use crate::channel::ChannelLogin;
use crate::store::{self, ChannelRecord, MissingFacts, Store};

/// Follow lookups for single viewers made at once.
const FOLLOW_LOOKUP_CONCURRENCY: usize = 8;
/// Most single-viewer follow lookups in one round; the others stay unknown
/// (excluded) until a later round asks for them.
const MAX_FOLLOW_LOOKUPS: usize = 1000;

/// Why the broadcaster's token cannot be used for a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    /// The broadcaster never connected their account.
    #[error("the channel is not connected to Twitch")]
    NotConnected,
    /// The connected token lacks the scope.
    #[error("the channel's Twitch connection lacks the scope {0}; reconnect it")]
    MissingScope(&'static str),
    /// The connection was refused by Twitch; the streamer must reconnect.
    #[error("the channel's Twitch connection must be renewed")]
    NeedsReauth,
    /// The broadcaster's user id is not known yet.
    #[error("the channel's Twitch user id is not known yet")]
    NoUserId,
    /// The stored token could not be read.
    #[error("the channel's stored token cannot be used: {0}")]
    Unreadable(String),
}

/// Why facts could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// Helix failed.
    #[error(transparent)]
    Helix(#[from] HelixError),
    /// The broadcaster's token cannot be used.
    #[error(transparent)]
    Token(#[from] TokenProblem),
    /// The cache could not be written.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// What one [`TwitchFacts::fill`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactsReport {
    /// Helix `GET /users` calls.
    pub account_calls: usize,
    /// Helix `GET /channels/followers` calls.
    pub follow_calls: usize,
    /// Why some facts could not be had (the viewers concerned are excluded).
    pub problems: Vec<String>,
}

/// Fetches and caches Twitch facts. Cheap to clone.
#[derive(Clone)]
pub struct TwitchFacts {
    helix: Arc<HelixClient>,
    store: Store,
    cipher: TokenCipher,
}

impl std::fmt::Debug for TwitchFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwitchFacts").finish_non_exhaustive()
    }
}

impl TwitchFacts {
    /// Facts from `helix`, cached in `store`; `cipher` opens stored tokens.
    pub fn new(helix: Arc<HelixClient>, store: Store, cipher: TokenCipher) -> Self {
        Self { helix, store, cipher }
    }

    /// The Helix client.
    pub(crate) fn helix(&self) -> &Arc<HelixClient> {
        &self.helix
    }

    /// The broadcaster's access token and user id, if it carries `scope`.
    ///
    /// # Errors
    ///
    /// [`FactsError::Token`] saying why not; database errors.
    pub(crate) async fn broadcaster_token(
        &self,
        channel: &ChannelRecord,
        scope: &'static str,
    ) -> Result<(SecretString, String), FactsError> {
        let login = ChannelLogin::parse(&channel.login).map_err(|e| TokenProblem::Unreadable(e.to_string()))?;
        let tokens = self.store.tokens_of(&login).await?.ok_or(TokenProblem::NotConnected)?;
        if tokens.needs_reauth {
            return Err(TokenProblem::NeedsReauth.into());
        }
        if !tokens.scopes.iter().any(|s| s == scope) {
            return Err(TokenProblem::MissingScope(scope).into());
        }
        let user_id = channel.twitch_user_id.clone().ok_or(TokenProblem::NoUserId)?;
        let token = self
            .cipher
            .decrypt(tokens.channel_id, TokenKind::Access, &tokens.access_token)
            .map_err(|e| TokenProblem::Unreadable(e.to_string()))?;
        Ok((token, user_id))
    }

    /// Asks Twitch for the `missing` facts of this channel's viewers and
    /// caches the answers. Failures are reported, not returned: the viewers
    /// concerned stay unknown and the gates exclude them.
    pub async fn fill(&self, channel: &ChannelRecord, missing: &MissingFacts) -> FactsReport {
        let mut report = FactsReport::default();
        if !missing.accounts.is_empty() {
            match self.fill_accounts(channel, &missing.accounts, &mut report).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(channel = %channel.login, error = %e, "could not learn account ages");
                    report.problems.push(format!("account age: {e}"));
                }
            }
        }
        if !missing.follows.is_empty() {
            match self.fill_follows(channel, &missing.follows, &mut report).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(channel = %channel.login, error = %e, "could not learn who follows");
                    report.problems.push(format!("follow age: {e}"));
                }
            }
        }
        report
    }

    async fn fill_accounts(
        &self,
        channel: &ChannelRecord,
        user_ids: &[String],
        report: &mut FactsReport,
    ) -> Result<(), FactsError> {
        let (accounts, calls) = self.helix.accounts_created(user_ids).await?;
        report.account_calls = report.account_calls.saturating_add(calls);
        let rows: Vec<(&str, chrono::DateTime<chrono::Utc>)> =
            accounts.iter().map(|a| (a.id.as_str(), a.created_at)).collect();
        self.store.cache_accounts(channel.id, &rows).await?;
        Ok(())
    }

    async fn fill_follows(
        &self,
        channel: &ChannelRecord,
        user_ids: &[String],
        report: &mut FactsReport,
    ) -> Result<(), FactsError> {
        let (token, broadcaster) = self.broadcaster_token(channel, FOLLOWERS_SCOPE).await?;
        // Reading the whole follower list costs one call per 100 followers;
        // asking per viewer, one call each. Take the cheaper.
        let total = self.helix.follower_total(&broadcaster, &token).await?;
        report.follow_calls = report.follow_calls.saturating_add(1);
        let list_pages = usize::try_from(total.div_ceil(FOLLOWERS_PER_PAGE as u64)).unwrap_or(usize::MAX);
        if list_pages < user_ids.len() {
            let (followers, pages) = self.helix.all_followers(&broadcaster, &token).await?;
            report.follow_calls = report.follow_calls.saturating_add(pages);
            let since: HashMap<&str, chrono::DateTime<chrono::Utc>> =
                followers.iter().map(|f| (f.user_id.as_str(), f.followed_at)).collect();
            let rows: Vec<(&str, Option<chrono::DateTime<chrono::Utc>>)> = user_ids
                .iter()
                .map(|id| (id.as_str(), since.get(id.as_str()).copied()))
                .collect();
            self.store.cache_follows(channel.id, &rows).await?;
            return Ok(());
        }
        let asked = &user_ids[..user_ids.len().min(MAX_FOLLOW_LOOKUPS)];
        let mut answers: Vec<(&str, Result<_, HelixError>)> = Vec::with_capacity(asked.len());
        for chunk in asked.chunks(FOLLOW_LOOKUP_CONCURRENCY) {
            // A loop, not a stream combinator: futures borrowing the token
            // inside closures would not be `Send` for every lifetime.
            let mut lookups = Vec::with_capacity(chunk.len());
            for id in chunk {
                lookups.push(self.helix.follower(&broadcaster, id, &token));
            }
            let results = futures::future::join_all(lookups).await;
            answers.extend(chunk.iter().map(String::as_str).zip(results));
        }
        report.follow_calls = report.follow_calls.saturating_add(answers.len());
        let mut rows = Vec::with_capacity(answers.len());
        let mut first_error = None;
        for (id, answer) in answers {
            match answer {
                Ok(follower) => rows.push((id, follower.map(|f| f.followed_at))),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.store.cache_follows(channel.id, &rows).await?;
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Whether the channel's token can list chatters, or why not.
    ///
    /// # Errors
    ///
    /// As [`Self::broadcaster_token`].
    pub(crate) async fn chatters_token(&self, channel: &ChannelRecord) -> Result<(SecretString, String), FactsError> {
        self.broadcaster_token(channel, CHATTERS_SCOPE).await
    }
}
