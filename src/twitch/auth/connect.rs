//! Connecting and disconnecting a streamer's Twitch account (SPEC §7): what
//! happens behind `GET /auth/twitch`, `GET /auth/callback` and
//! `DELETE /api/channels/{login}/connection`. The web layer only parses the
//! request, calls [`Connections`] and renders the answer; nothing here knows
//! about HTTP, cookies or pages.
//!
//! - [`Connections::start_connect`] issues a random single-use state: its
//!   SHA-256 goes to `oauth_states` (expiring after [`STATE_LIFETIME`]), the
//!   state itself back to the caller, who keeps it in the browser and sends
//!   the browser to the authorize URL.
//! - [`Connections::finish_connect`] runs four steps, and stores nothing
//!   unless all succeed:
//!   1. `check_callback`: consent was given, the state Twitch echoes is the
//!      one the browser kept (CSRF), and it is stored and unexpired; it is
//!      deleted on use whatever follows;
//!   2. `identify`: exchange the code, learn the user from `/validate` and
//!      the display name from Helix;
//!   3. `admit`: `CONNECT_POLICY` (see `policy`) decides whether this
//!      account may connect, before anything is stored; a refused account's
//!      tokens are revoked at Twitch at once and never stored;
//!   4. `save_channel`: encrypt the tokens and store them with the channel
//!      in one transaction, clear `needs_reauth`, and serve the channel
//!      (the chat listener joins it at once).
//! - [`Connections::disconnect`] revokes the tokens at Twitch, forgets them,
//!   and stops serving the channel unless it is configured.
//!
//! - [`Connections::start_bot_connect`] starts connecting the account the
//!   bot speaks as (`GET /auth/twitch/bot`, SPEC §11): the same state and
//!   callback, with the scope `user:write:chat` only and the stored state
//!   recording the flow. It is open while no bot account is connected (or
//!   the connected one needs re-authorisation); afterwards the admin
//!   disconnects it first ([`Connections::disconnect_bot`]). Finishing
//!   shares steps 1 and 2 and stores the account instead of a channel
//!   (no `CONNECT_POLICY`: that policy is about whose channel is served).
//!
//! Where the next feature slots in: signing in on connect is the web
//! layer's use of the returned [`Connected::Channel`].

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use url::Url;

use super::manager::after;
use super::policy::{Admission, Applicant, ConnectPolicy, decide};
use super::token_cipher::{BOT_TOKEN_OWNER, CipherError, TokenCipher, TokenKind};
use super::{AuthError, BOT_SCOPES, TwitchAuth};
use crate::channel::settings::ChannelSettings;
use crate::channel::{ChannelLogin, ChannelSet};
use crate::store::{
    self, BotAccountRow, ConnectFlow, NewBotAccount, NewTokens, StateAdmission, StateLimits, StateLookup, Store,
    StoredTokens,
};
use crate::text;
use crate::twitch::helix::HelixClient;
use secrecy::{ExposeSecret as _, SecretString};

/// How long a started connection stays valid.
pub(crate) const STATE_LIFETIME: Duration = Duration::from_secs(600);

/// The Twitch clients a connection needs, present when `TWITCH_CLIENT_ID`
/// and `TWITCH_CLIENT_SECRET` are set.
#[derive(Debug, Clone)]
pub(crate) struct TwitchClients {
    /// Twitch's OAuth endpoints.
    pub(crate) auth: TwitchAuth,
    /// Encrypts tokens before they reach the database.
    pub(crate) cipher: TokenCipher,
    /// Helix: the display name (`/validate` only gives the login) and live status.
    pub(crate) helix: Arc<HelixClient>,
}

/// Connects and disconnects Twitch accounts. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Connections {
    store: Store,
    channels: ChannelSet,
    /// `TWITCH_CHANNELS` (+ `--channel`): never dropped by a disconnect.
    configured: Arc<[ChannelLogin]>,
    /// `CONNECT_POLICY`.
    policy: ConnectPolicy,
    /// How many states may be pending.
    state_limits: StateLimits,
    twitch: Option<TwitchClients>,
    /// The environment's per-channel settings: with each channel's own
    /// values they say which scopes the gates in force use
    /// (`auth::scopes_in_use`).
    defaults: Arc<ChannelSettings>,
}

/// A started connection: where to send the browser, and what the browser
/// must keep and bring back. No `Debug`: the URL carries the state.
pub(crate) struct ConnectStart {
    /// Twitch's `/authorize` URL with our client id, scopes, the state and
    /// the PKCE challenge.
    pub(crate) authorize_url: Url,
    /// What the browser keeps (in an HttpOnly cookie): the single-use state
    /// (only its hash is stored) and the PKCE verifier, as `state.verifier`.
    pub(crate) browser_keeps: SecretString,
}

/// What the browser kept, split: `state.verifier` (both base64url, so the
/// dot cannot occur inside either).
struct BrowserKept<'a> {
    state: &'a str,
    verifier: Option<&'a str>,
}

impl<'a> BrowserKept<'a> {
    fn parse(kept: &'a str) -> Self {
        let kept = kept.trim();
        match kept.split_once('.') {
            Some((state, verifier)) => Self {
                state,
                verifier: Some(verifier).filter(|v| !v.is_empty()),
            },
            None => Self {
                state: kept,
                verifier: None,
            },
        }
    }
}

/// The RFC 6749 §4.1.2.1 error codes of an authorization answer. Parsed from
/// the callback's `error`; anything else is [`AuthorizeError::Other`] (never
/// kept: it is whatever the link's author wrote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthorizeError {
    /// `access_denied`: the streamer declined.
    AccessDenied,
    /// `server_error`.
    ServerError,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// `invalid_request`.
    InvalidRequest,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `unsupported_response_type`.
    UnsupportedResponseType,
    /// `invalid_scope`.
    InvalidScope,
    /// A code RFC 6749 does not define.
    Other,
}

impl AuthorizeError {
    fn parse(code: &str) -> Self {
        match code {
            "access_denied" => Self::AccessDenied,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            "invalid_request" => Self::InvalidRequest,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "invalid_scope" => Self::InvalidScope,
            _ => Self::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::Other => "an undocumented error code",
        }
    }
}

impl std::fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What Twitch sent to the redirect URL (RFC 6749 §4.1.2, §4.1.2.1).
/// Empty or blank values count as absent.
#[derive(Default)]
pub(crate) struct Callback {
    /// The authorization code.
    pub(crate) code: Option<String>,
    /// The state we issued, echoed.
    pub(crate) state: Option<String>,
    /// An error code (`access_denied` when the streamer declined). Its
    /// `error_description` is not kept: anyone can write a callback link,
    /// and the page must not show their text on the bot's own origin.
    pub(crate) error: Option<String>,
}

/// A channel whose account was just connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectedChannel {
    /// Its login (now served).
    pub(crate) login: ChannelLogin,
    /// Its broadcaster's Twitch user id.
    pub(crate) twitch_user_id: String,
}

/// The account the bot now speaks as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectedBot {
    /// Its login.
    pub(crate) login: ChannelLogin,
    /// Its Twitch user id.
    pub(crate) twitch_user_id: String,
}

/// What a finished connection connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Connected {
    /// A streamer's channel (`GET /auth/twitch`).
    Channel(ConnectedChannel),
    /// The bot's chat account (`GET /auth/twitch/bot`).
    Bot(ConnectedBot),
}

/// A channel whose account was just disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Disconnected {
    /// Twitch confirmed both tokens revoked (false when Twitch was
    /// unreachable or is not configured: the tokens are forgotten anyway).
    pub(crate) revoked_at_twitch: bool,
}

/// Why a connection could not be started or finished. Messages never
/// contain tokens, codes or states.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// `TWITCH_CLIENT_ID` / `TWITCH_CLIENT_SECRET` are not set.
    #[error("Twitch is not configured (TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET are unset)")]
    NotConfigured,
    /// The streamer declined on Twitch's consent page (`error=access_denied`).
    #[error("authorization was declined on Twitch (access_denied)")]
    ConsentDenied,
    /// Twitch could not handle the authorization (`server_error`,
    /// `temporarily_unavailable`).
    #[error("Twitch could not handle the authorization (server_error or temporarily_unavailable)")]
    TwitchUnavailable,
    /// Twitch refused our authorization request (a configuration problem,
    /// or an error code it does not document).
    #[error("Twitch refused the authorization request ({0})")]
    AuthorizeRejected(AuthorizeError),
    /// The callback came without a `state`.
    #[error("the sign-in response has no state")]
    MissingState,
    /// The `state` is not the one this browser kept (no or another cookie): forged.
    #[error("the sign-in state does not match this browser")]
    StateMismatch,
    /// The `state` was never issued or was already used.
    #[error("the sign-in state is unknown or was already used")]
    UnknownState,
    /// Too many connections are pending (from this client or in all): the
    /// state was not issued.
    #[error("too many sign-ins are pending")]
    TooManyPending,
    /// The `state` expired before the streamer came back.
    #[error("the sign-in state expired")]
    ExpiredState,
    /// The callback came without a `code`.
    #[error("the sign-in response has no authorization code")]
    MissingCode,
    /// Twitch did not complete the connection: the exchange or `/validate`
    /// failed, or its answer lacked something we need.
    #[error(transparent)]
    Twitch(#[from] AuthError),
    /// `CONNECT_POLICY` does not let this account connect; its tokens were
    /// revoked and nothing was stored.
    #[error("{login} may not connect: this install is private (CONNECT_POLICY={policy})")]
    NotAllowed {
        /// The account that tried.
        login: ChannelLogin,
        /// The policy that refused it.
        policy: ConnectPolicy,
    },
    /// A bot account is connected already: only the admin (or the owner)
    /// can replace it, by disconnecting it first.
    #[error("a bot account is connected already")]
    BotAlreadyConnected,
    /// The database failed (storing or checking the state, or saving the channel).
    #[error("the database failed")]
    Database(#[source] store::Error),
    /// Encrypting the tokens failed.
    #[error("encrypting the tokens failed")]
    Cipher(#[source] CipherError),
}

impl From<store::Error> for ConnectError {
    fn from(error: store::Error) -> Self {
        Self::Database(error)
    }
}

impl From<CipherError> for ConnectError {
    fn from(error: CipherError) -> Self {
        Self::Cipher(error)
    }
}

/// Who Twitch says connected, and the tokens it issued.
#[derive(Debug)]
struct Identity {
    login: ChannelLogin,
    user_id: String,
    /// From Helix; `None` when Helix did not answer (the login stands in).
    display_name: Option<String>,
    access_token: SecretString,
    refresh_token: SecretString,
    scopes: Vec<String>,
    expires_at: DateTime<Utc>,
    validated_at: DateTime<Utc>,
}

fn state_hash(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

/// Whether two states are the same, compared in constant time (on their
/// hashes, which also hides the length).
fn same_state(a: &str, b: &str) -> bool {
    state_hash(a).ct_eq(&state_hash(b)).into()
}

fn present(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

impl Connections {
    /// Connections over `store`, adding connected channels to `channels`;
    /// `configured` channels stay served when disconnected; `policy` says
    /// who may connect. Without
    /// `twitch`, connecting answers [`ConnectError::NotConfigured`] and
    /// disconnecting forgets tokens without revoking them.
    pub(crate) fn new(
        store: Store,
        channels: ChannelSet,
        configured: Arc<[ChannelLogin]>,
        policy: ConnectPolicy,
        twitch: Option<TwitchClients>,
    ) -> Self {
        Self {
            store,
            channels,
            configured,
            policy,
            state_limits: StateLimits::default(),
            twitch,
            defaults: Arc::default(),
        }
    }

    /// Asks streamers for the scopes the gates of any channel use, these
    /// being the defaults of channels without values of their own.
    #[must_use]
    pub(crate) fn with_settings_defaults(mut self, defaults: ChannelSettings) -> Self {
        self.defaults = Arc::new(defaults);
        self
    }

    /// The scopes to ask for now: [`super::SCOPES`] plus what the gates of some
    /// channel use (its own values or the defaults), read at each connect
    /// so that a channel's change counts at once.
    async fn scopes(&self) -> Result<Vec<&'static str>, ConnectError> {
        let own = self.store.all_channel_settings().await?;
        Ok(super::scopes_in_use(&self.defaults, &own))
    }

    /// `CONNECT_POLICY`.
    pub(crate) fn policy(&self) -> ConnectPolicy {
        self.policy
    }

    /// Whether accounts can be connected (Twitch is configured).
    pub(crate) fn can_connect(&self) -> bool {
        self.twitch.is_some()
    }

    fn twitch(&self) -> Result<&TwitchClients, ConnectError> {
        self.twitch.as_ref().ok_or(ConnectError::NotConfigured)
    }

    /// Starts connecting a streamer's channel.
    ///
    /// # Errors
    ///
    /// [`ConnectError::NotConfigured`]; [`ConnectError::TooManyPending`]
    /// when too many connections are pending; [`ConnectError::Database`]
    /// when the state cannot be stored. `client` names who asks (see
    /// `store::StateLimits`).
    pub(crate) async fn start_connect(&self, client: &str) -> Result<ConnectStart, ConnectError> {
        let scopes = self.scopes().await?;
        self.start(client, ConnectFlow::Channel, &scopes).await
    }

    /// Starts connecting the account the bot speaks as, while none is
    /// connected (or the connected one needs re-authorisation).
    ///
    /// # Errors
    ///
    /// As [`Self::start_connect`]; [`ConnectError::BotAlreadyConnected`].
    pub(crate) async fn start_bot_connect(&self, client: &str) -> Result<ConnectStart, ConnectError> {
        self.twitch()?;
        if self.store.bot_account().await?.is_some_and(|bot| !bot.needs_reauth) {
            return Err(ConnectError::BotAlreadyConnected);
        }
        self.start(client, ConnectFlow::Bot, BOT_SCOPES).await
    }

    async fn start(&self, client: &str, flow: ConnectFlow, scopes: &[&str]) -> Result<ConnectStart, ConnectError> {
        let twitch = self.twitch()?;
        let mut bytes = [0u8; 32];
        rand::rng().fill(&mut bytes);
        let state = SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
        let expires_at = after(Utc::now(), STATE_LIFETIME);
        match self
            .store
            .insert_oauth_state(
                &state_hash(state.expose_secret()),
                client,
                expires_at,
                self.state_limits,
                flow,
            )
            .await?
        {
            StateAdmission::Stored => {}
            StateAdmission::TooMany => return Err(ConnectError::TooManyPending),
        }
        let (authorize_url, verifier) = twitch.auth.authorize_url(&state, scopes);
        Ok(ConnectStart {
            authorize_url,
            browser_keeps: SecretString::from(format!("{}.{}", state.expose_secret(), verifier.expose_secret())),
        })
    }

    /// Finishes connecting a streamer's channel from Twitch's `callback`
    /// and what the browser kept (`browser_state`, see [`ConnectStart`]).
    ///
    /// # Errors
    ///
    /// Each way the callback can be refused or fail, as [`ConnectError`];
    /// nothing is stored then.
    #[tracing::instrument(skip_all, fields(channel))]
    pub(crate) async fn finish_connect(
        &self,
        callback: &Callback,
        browser_state: Option<&str>,
    ) -> Result<Connected, ConnectError> {
        let twitch = self.twitch()?;
        let (code, verifier, flow) = self.check_callback(callback, browser_state).await?;
        let identity = identify(twitch, code, &verifier).await?;
        tracing::Span::current().record("channel", identity.login.as_str());
        if flow == ConnectFlow::Bot {
            return self.save_bot(twitch, identity).await.map(Connected::Bot);
        }
        if let Err(refused) = self.admit(&identity).await {
            // Nothing is stored: hand the tokens back so they are dead at
            // Twitch too, not just forgotten here.
            let revoked = revoke_issued(twitch, &identity).await;
            tracing::warn!(
                channel = %identity.login,
                policy = %self.policy,
                revoked_at_twitch = revoked,
                "connection refused by CONNECT_POLICY"
            );
            return Err(refused);
        }
        self.save_channel(twitch, identity).await.map(Connected::Channel)
    }

    /// Stores the bot account, unless another one was connected meanwhile
    /// (then the new tokens are handed back to Twitch).
    async fn save_bot(&self, twitch: &TwitchClients, identity: Identity) -> Result<ConnectedBot, ConnectError> {
        if !identity.scopes.iter().any(|scope| BOT_SCOPES.contains(&scope.as_str())) {
            revoke_issued(twitch, &identity).await;
            return Err(ConnectError::Twitch(AuthError::Validate(
                "Twitch did not grant user:write:chat".into(),
            )));
        }
        let access = twitch
            .cipher
            .encrypt(BOT_TOKEN_OWNER, TokenKind::Access, &identity.access_token)?;
        let refresh = twitch
            .cipher
            .encrypt(BOT_TOKEN_OWNER, TokenKind::Refresh, &identity.refresh_token)?;
        let display_name = identity
            .display_name
            .clone()
            .unwrap_or_else(|| identity.login.as_str().to_owned());
        let saved = self
            .store
            .save_bot_account(
                NewBotAccount {
                    twitch_user_id: &identity.user_id,
                    login: identity.login.as_str(),
                    display_name: &display_name,
                    access_token: &access,
                    refresh_token: &refresh,
                    scopes: &identity.scopes,
                    expires_at: identity.expires_at,
                    validated_at: Some(identity.validated_at),
                },
                false,
            )
            .await?;
        if !saved {
            revoke_issued(twitch, &identity).await;
            return Err(ConnectError::BotAlreadyConnected);
        }
        tracing::info!(bot = %identity.login, "bot chat account connected");
        Ok(ConnectedBot {
            login: identity.login,
            twitch_user_id: identity.user_id,
        })
    }

    /// Revokes and forgets the bot account (`DELETE /api/bot`); `Ok(None)`:
    /// none was connected.
    ///
    /// # Errors
    ///
    /// Database errors; Twitch failing to revoke is not one.
    pub(crate) async fn disconnect_bot(&self) -> Result<Option<(BotAccountRow, Disconnected)>, store::Error> {
        let Some(bot) = self.store.forget_bot_account().await? else {
            return Ok(None);
        };
        let revoked_at_twitch = match &self.twitch {
            Some(twitch) => {
                let mut all = true;
                for (kind, stored) in [
                    (TokenKind::Access, &bot.access_token),
                    (TokenKind::Refresh, &bot.refresh_token),
                ] {
                    let outcome = match twitch.cipher.decrypt(BOT_TOKEN_OWNER, kind, stored) {
                        Ok(token) => twitch.auth.revoke(&token).await.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(reason) = outcome {
                        tracing::warn!(?kind, %reason, "could not revoke a bot token at Twitch");
                        all = false;
                    }
                }
                all
            }
            None => false,
        };
        tracing::info!(bot = %bot.login, revoked = revoked_at_twitch, "bot chat account disconnected");
        Ok(Some((bot, Disconnected { revoked_at_twitch })))
    }

    /// Step 3: whether `CONNECT_POLICY` lets this account connect. Under
    /// `first`, the first account to get here claims the install.
    async fn admit(&self, identity: &Identity) -> Result<(), ConnectError> {
        let listed = self.configured.contains(&identity.login);
        let facts = match self.policy {
            ConnectPolicy::Anyone | ConnectPolicy::Listed => None,
            ConnectPolicy::First => Some(self.store.owner_facts(&identity.user_id, &identity.login, true).await?),
        };
        let applicant = Applicant {
            listed,
            owner: facts.is_some_and(|f| f.owner),
            approved: facts.is_some_and(|f| f.approved),
        };
        match decide(self.policy, applicant) {
            Admission::Admitted => Ok(()),
            Admission::Refused => Err(ConnectError::NotAllowed {
                login: identity.login.clone(),
                policy: self.policy,
            }),
        }
    }

    /// Step 1: the browser's state first (CSRF), then the stored state
    /// (spent here whatever follows), then Twitch's answer: an error code
    /// becomes its fixed [`ConnectError`], never Twitch's (or a forger's)
    /// text. Returns the authorization code and the PKCE verifier.
    async fn check_callback<'c>(
        &self,
        callback: &'c Callback,
        browser_kept: Option<&'c str>,
    ) -> Result<(&'c str, SecretString, ConnectFlow), ConnectError> {
        let state = present(callback.state.as_ref()).ok_or(ConnectError::MissingState)?;
        // The browser's copy binds the state to the browser that started (CSRF).
        let kept = browser_kept.map(BrowserKept::parse);
        if !kept.as_ref().is_some_and(|kept| same_state(kept.state, state)) {
            return Err(ConnectError::StateMismatch);
        }
        let flow = match self.store.take_oauth_state(&state_hash(state)).await? {
            StateLookup::Valid(flow) => flow,
            StateLookup::Expired => return Err(ConnectError::ExpiredState),
            StateLookup::Unknown => return Err(ConnectError::UnknownState),
        };
        if let Some(error) = present(callback.error.as_ref()) {
            return Err(match AuthorizeError::parse(error) {
                AuthorizeError::AccessDenied => ConnectError::ConsentDenied,
                AuthorizeError::ServerError | AuthorizeError::TemporarilyUnavailable => ConnectError::TwitchUnavailable,
                other => ConnectError::AuthorizeRejected(other),
            });
        }
        let code = present(callback.code.as_ref()).ok_or(ConnectError::MissingCode)?;
        // A state the browser kept without its verifier: not ours.
        let verifier = kept.and_then(|kept| kept.verifier).ok_or(ConnectError::StateMismatch)?;
        Ok((code, SecretString::from(verifier.to_owned()), flow))
    }

    /// Step 4: the channel and its encrypted tokens in one transaction; then
    /// the channel is served.
    async fn save_channel(&self, twitch: &TwitchClients, identity: Identity) -> Result<ConnectedChannel, ConnectError> {
        let mut connection = self.store.connection().await?;
        let transaction = connection.begin_tokens().await?;
        let channel = transaction
            .record_identity(&identity.login, &identity.user_id, identity.display_name.as_deref())
            .await?;
        let access = twitch
            .cipher
            .encrypt(channel.id, TokenKind::Access, &identity.access_token)?;
        let refresh = twitch
            .cipher
            .encrypt(channel.id, TokenKind::Refresh, &identity.refresh_token)?;
        transaction
            .store(
                channel.id,
                NewTokens {
                    access_token: &access,
                    refresh_token: &refresh,
                    scopes: &identity.scopes,
                    expires_at: identity.expires_at,
                    validated_at: Some(identity.validated_at),
                },
            )
            .await?;
        transaction.clear_needs_reauth(&identity.login).await?;
        transaction.commit().await?;
        self.channels.add(identity.login.clone());
        Ok(ConnectedChannel {
            login: identity.login,
            twitch_user_id: identity.user_id,
        })
    }

    /// Revokes and forgets a channel's tokens, and stops serving it unless
    /// it is configured. `Ok(None)`: it had no tokens.
    ///
    /// # Errors
    ///
    /// Database errors; Twitch failing to revoke is not one (see
    /// [`Disconnected::revoked_at_twitch`]).
    #[tracing::instrument(skip_all, fields(channel = %login))]
    pub(crate) async fn disconnect(&self, login: &ChannelLogin) -> Result<Option<Disconnected>, store::Error> {
        let Some(tokens) = self.store.tokens_of(login).await? else {
            return Ok(None);
        };
        let revoked_at_twitch = match &self.twitch {
            Some(twitch) => revoke_all(twitch, &tokens).await,
            None => {
                tracing::warn!("Twitch is not configured: tokens are forgotten but not revoked at Twitch");
                false
            }
        };
        self.store.forget_tokens(tokens.channel_id).await?;
        if !self.configured.contains(login) {
            self.channels.remove(login);
        }
        tracing::info!(channel = %login, revoked = revoked_at_twitch, "Twitch connection removed");
        Ok(Some(Disconnected { revoked_at_twitch }))
    }
}

/// Step 2: the tokens for `code`, and who they belong to.
async fn identify(twitch: &TwitchClients, code: &str, verifier: &SecretString) -> Result<Identity, AuthError> {
    let tokens = twitch.auth.exchange_code(code, verifier).await?;
    let refresh_token = tokens
        .refresh_token
        .clone()
        .ok_or_else(|| AuthError::Exchange("Twitch sent no refresh token".into()))?;
    let validation = twitch.auth.validate(&tokens.access_token).await.map_err(|e| match e {
        AuthError::TokenInvalid => AuthError::Validate("Twitch rejected the token it had just issued".into()),
        other => other,
    })?;
    if validation.client_id != twitch.auth.client_id() {
        return Err(AuthError::Validate("the token belongs to another application".into()));
    }
    let user_id = validation
        .user_id
        .as_deref()
        .ok_or_else(|| AuthError::Validate("no user id in the answer".into()))
        .and_then(|id| {
            text::twitch_id(id)
                .map(str::to_owned)
                .ok_or_else(|| AuthError::Validate("the user id in the answer is not a Twitch id".into()))
        })?;
    let login = validation
        .login
        .as_deref()
        .ok_or_else(|| AuthError::Validate("no login in the answer".into()))
        .and_then(|l| ChannelLogin::parse(l).map_err(|e| AuthError::Validate(e.to_string())))?;
    let validated_at = Utc::now();
    let lifetime = tokens.expires_in.unwrap_or(Duration::from_secs(validation.expires_in));
    // Scopes are stored: only well-formed ones (`text::oauth_scope`); a
    // scope with a NUL byte would make the whole connection fail to store.
    let scopes: Vec<String> = if tokens.scopes.is_empty() {
        validation.scopes.clone().unwrap_or_default()
    } else {
        tokens.scopes.clone()
    }
    .into_iter()
    .filter(|scope| text::oauth_scope(scope).is_some())
    .collect();
    // Nice to have only: without it the login stands in for the display name.
    let display_name = match twitch.helix.user_by_login(login.as_str()).await {
        Ok(user) => user
            .filter(|u| u.id == user_id)
            .map(|u| text::clean_name(&u.display_name))
            .filter(|name| !name.is_empty()),
        Err(e) => {
            tracing::warn!(error = %e, "could not fetch the display name");
            None
        }
    };
    Ok(Identity {
        login,
        user_id,
        display_name,
        access_token: tokens.access_token,
        refresh_token,
        scopes,
        expires_at: after(validated_at, lifetime),
        validated_at,
    })
}

/// Revokes the tokens of a refused connection; failures are logged (the
/// tokens are never stored either way). Returns whether both were revoked.
async fn revoke_issued(twitch: &TwitchClients, identity: &Identity) -> bool {
    let mut all = true;
    for (kind, token) in [
        (TokenKind::Access, &identity.access_token),
        (TokenKind::Refresh, &identity.refresh_token),
    ] {
        if let Err(e) = twitch.auth.revoke(token).await {
            tracing::warn!(?kind, error = %e, "could not revoke a refused connection's token at Twitch");
            all = false;
        }
    }
    all
}

/// Revokes both tokens; failures are logged and never stop the forgetting:
/// a streamer who disconnects must not stay connected because Twitch was down.
async fn revoke_all(twitch: &TwitchClients, tokens: &StoredTokens) -> bool {
    let mut all = true;
    for (kind, stored) in [
        (TokenKind::Access, &tokens.access_token),
        (TokenKind::Refresh, &tokens.refresh_token),
    ] {
        let outcome = match twitch.cipher.decrypt(tokens.channel_id, kind, stored) {
            Ok(token) => twitch.auth.revoke(&token).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(reason) = outcome {
            tracing::warn!(?kind, %reason, "could not revoke a token at Twitch");
            all = false;
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_compare_equal_only_when_identical() {
        assert!(same_state("abc", "abc"));
        assert!(!same_state("abc", "abd"));
        assert!(!same_state("abc", "abcd"));
        assert!(!same_state("", "abc"));
    }

    #[test]
    fn what_the_browser_kept_splits_into_state_and_verifier() {
        let kept = BrowserKept::parse("st4te.v3rifier");
        assert_eq!((kept.state, kept.verifier), ("st4te", Some("v3rifier")));
        let bare = BrowserKept::parse("st4te");
        assert_eq!((bare.state, bare.verifier), ("st4te", None));
        let empty = BrowserKept::parse("st4te.");
        assert_eq!((empty.state, empty.verifier), ("st4te", None));
    }

    #[test]
    fn rfc_6749_error_codes_parse_and_anything_else_is_other() {
        for code in [
            "access_denied",
            "server_error",
            "temporarily_unavailable",
            "invalid_request",
            "unauthorized_client",
            "unsupported_response_type",
            "invalid_scope",
        ] {
            assert_eq!(AuthorizeError::parse(code).as_str(), code);
        }
        assert_eq!(AuthorizeError::parse("<b>phish</b>"), AuthorizeError::Other);
        assert!(!AuthorizeError::Other.to_string().contains('<'));
    }

    #[test]
    fn blank_callback_values_count_as_absent() {
        assert_eq!(present(Some(&"  code ".to_owned())), Some("code"));
        assert_eq!(present(Some(&"   ".to_owned())), None);
        assert_eq!(present(None), None);
    }
}
