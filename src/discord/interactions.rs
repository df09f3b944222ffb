//! Answering one interaction (SPEC §12): a slash command or an
//! autocomplete request.
//!
//! - Several instances may share one bot token (SPEC §15); each has its own
//!   Gateway session and Discord delivers every interaction to each. Exactly
//!   one answers: the one whose claim lands first in `discord_interactions`
//!   (an `INSERT … ON CONFLICT DO NOTHING` on the interaction id). The
//!   others stay silent. Who claims when ([`Plan::turn`]): the instance
//!   that serves the command's channel claims at once; one that does not
//!   waits [`HAND_OFF`] first, so it wins only when the serving instance is
//!   gone, and then says the channel is not served right now. What belongs
//!   to no channel (`connect`, `verify`, refusals, questions, autocomplete)
//!   is claimed at once by whoever comes first. If the claim cannot be made
//!   (database away) the instance answers anyway: Discord accepts one first
//!   response per interaction (40060 for the next), so at worst two
//!   instances race and one is refused.
//! - A command's channel is resolved against the install's channels (the
//!   wanted set: configured, `--channel` and every connected streamer), the
//!   same on every instance, so "several channels: choose one" holds
//!   install-wide; autocomplete offers those channels. The work itself runs
//!   only on the instance that serves the channel (holds its lease). Replies
//!   are in that channel's `LANGUAGE` ([`ChannelLanguages::language_for`]);
//!   what belongs to no channel (`connect`, refusals before a channel is
//!   known) speaks the default.
//! - Control subcommands (`now`, `pause`, `resume`) are checked here, on
//!   the member the interaction names: Manage Server (or Administrator) in
//!   the permissions Discord computed for the channel, or the role of
//!   `DISCORD_ADMIN_ROLE`. Outside a server nobody may use them.
//! - The work runs through the same engine and rules as chat and the API:
//!   `now` honours `ONLY_WHEN_LIVE` and the one-draw-per-10-s limit shared
//!   with the chat commands ([`ManualDraws`]).
//! - Discord wants an answer within 3 s. The hand-off, the claim (at most
//!   [`CLAIM_TIMEOUT`]) and the work's [`ANSWER_BUDGET`] together stay well
//!   within it; if the work is done within its budget the reply is the
//!   interaction's answer, otherwise the answer is "thinking…" (deferred)
//!   and the reply follows as a follow-up message once the work is done.
//! - Every reply carries `allowed_mentions: {"parse": []}`; `connect` and
//!   refusals are ephemeral (flag 64: only the caller sees them).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use twilight_http::Client;
use twilight_model::application::command::CommandOptionChoice;
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::channel::message::{AllowedMentions, MessageFlags};
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::{InteractionResponse, InteractionResponseData, InteractionResponseType};
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, InteractionMarker};

use super::commands::{self, Request, Subcommand};
use super::replies::{self, ChannelState, Reply};
use crate::catalog::Language;
use crate::channel::{ChannelLanguages, ChannelLogin, ChannelSet};
use crate::clock::Clock;
use crate::config::Snowflake;
use crate::metrics::{self, InteractionClaim};
use crate::raffle::command::ManualDraws;
use crate::raffle::scheduler::upcoming_slot_of;
use crate::raffle::{RaffleEngine, RaffleError, RoundResult, Trigger};
use crate::twitch::auth::policy::ConnectPolicy;

/// How long the work may take before the answer is deferred: well within
/// Discord's 3 s, leaving time for the answer itself to travel.
pub(crate) const ANSWER_BUDGET: Duration = Duration::from_millis(1500);
/// How long an instance that does not serve a command's channel waits
/// before claiming it, so that the serving instance, which claims at once,
/// wins whenever it is running.
pub(crate) const HAND_OFF: Duration = Duration::from_millis(500);
/// The longest a claim may take; after that the answer goes out unclaimed.
pub(crate) const CLAIM_TIMEOUT: Duration = Duration::from_millis(500);
/// How long claims are kept: an interaction's token lives 15 minutes, and
/// after that nobody can answer it anyway.
const CLAIM_KEEP: Duration = Duration::from_secs(15 * 60);
/// Discord's limit on an interaction's first response.
const DISCORD_DEADLINE: Duration = Duration::from_secs(3);
// The slowest path (hand-off, a claim that times out, the whole budget)
// leaves at least half a second for the answer to reach Discord.
const _: () = assert!(
    HAND_OFF.as_millis() + CLAIM_TIMEOUT.as_millis() + ANSWER_BUDGET.as_millis() + 500 <= DISCORD_DEADLINE.as_millis()
);
/// Raffles listed by `history`.
const HISTORY_LENGTH: i64 = 5;

/// What answering needs from the rest of the bot. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct BotContext {
    /// Every round goes through it.
    pub(crate) engine: RaffleEngine,
    /// The install's configured channels (`TWITCH_CHANNELS`, `--channel`,
    /// streamers connected here); with every connected streamer in the
    /// database, the channels a command may name.
    pub(crate) channels: ChannelSet,
    /// The channels this instance serves (held leases); commands act on
    /// these only.
    pub(crate) served: ChannelSet,
    /// `INSTANCE_ID`, the name claims are made under.
    pub(crate) instance_id: Arc<str>,
    /// Whether claiming is failing now (logged once per outage).
    pub(crate) claims: ClaimOutage,
    /// The manual-draw limit shared with chat.
    pub(crate) draws: ManualDraws,
    /// What the draw limit is reckoned on.
    pub(crate) clock: Clock,
    /// `PUBLIC_URL/auth/twitch`.
    pub(crate) connect_url: String,
    /// `CONNECT_POLICY`.
    pub(crate) connect_policy: ConnectPolicy,
    /// `DISCORD_ADMIN_ROLE`.
    pub(crate) admin_role: Option<Snowflake>,
    /// Which language each channel speaks.
    pub(crate) languages: ChannelLanguages,
}

impl BotContext {
    /// The language of replies about `channel`; the default (`LANGUAGE`)
    /// for what belongs to no channel.
    fn language_for(&self, channel: Option<&ChannelLogin>) -> Language {
        match channel {
            Some(login) => self.languages.language_for(login.as_str()),
            None => self.languages.default_language(),
        }
    }

    /// The install's channels: the configured ones, the served ones and
    /// every streamer connected in the database. Without the database, the
    /// first two.
    async fn install_channels(&self) -> BTreeSet<ChannelLogin> {
        let mut channels = self.channels.current();
        channels.extend(self.served.current());
        match self.engine.store().connected_channels().await {
            Ok(records) => channels.extend(records.iter().filter_map(|r| ChannelLogin::parse(&r.login).ok())),
            // The claim that follows fails too and reports the outage, once.
            Err(e) => tracing::debug!(error = %e, "could not list the connected channels; using the configured ones"),
        }
        channels
    }
}

/// Whether claiming interactions fails now, so that an outage is logged
/// once, not for every interaction. Cheap to clone; clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClaimOutage {
    failing: Arc<AtomicBool>,
}

impl ClaimOutage {
    /// A claim failed; `true` when it is the first since claims last worked.
    pub(crate) fn failed(&self) -> bool {
        !self.failing.swap(true, Ordering::Relaxed)
    }

    /// A claim was made; `true` when claims had been failing until now.
    pub(crate) fn worked(&self) -> bool {
        self.failing.swap(false, Ordering::Relaxed)
    }
}

/// Whether the interaction's member may use control subcommands.
pub(crate) fn may_control(interaction: &Interaction, admin_role: Option<Snowflake>) -> bool {
    // Outside a server (no member) there is nobody to trust.
    let Some(member) = &interaction.member else {
        return false;
    };
    let by_permission = member
        .permissions
        .is_some_and(|p| p.intersects(Permissions::MANAGE_GUILD | Permissions::ADMINISTRATOR));
    let by_role = admin_role.is_some_and(|role| member.roles.iter().any(|r| r.get() == role.get()));
    by_permission || by_role
}

/// When an instance tries to claim an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// At once: it serves the channel, or nothing is about a channel.
    AtOnce,
    /// After [`HAND_OFF`]: another instance should serve the channel.
    AfterHandOff,
}

/// What this instance answers once it holds the claim.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// Autocomplete choices.
    Choices(Vec<CommandOptionChoice>),
    /// A reply known already: a refusal, a question, an unknown channel.
    Say {
        /// The channel whose language it speaks (`None`: the default).
        about: Option<ChannelLogin>,
        /// The reply.
        reply: Reply,
        /// Only the caller sees it.
        ephemeral: bool,
    },
    /// Work this instance does: on a channel it serves, or on none
    /// (`connect`, `verify`).
    Act {
        /// The request.
        request: Request,
        /// Its channel, resolved.
        channel: Option<ChannelLogin>,
    },
}

/// What answering an interaction comes to, decided before claiming it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// This instance answers if it is first: it serves the channel, or
    /// the answer belongs to no channel.
    Now(Answer),
    /// The channel is the install's but another instance serves it (or
    /// should): answered only if that instance does not claim it first.
    ServedElsewhere {
        /// The request.
        request: Request,
        /// Its channel.
        channel: ChannelLogin,
    },
}

impl Plan {
    /// When to claim the interaction.
    pub(crate) fn turn(&self) -> Turn {
        match self {
            Self::Now(_) => Turn::AtOnce,
            Self::ServedElsewhere { .. } => Turn::AfterHandOff,
        }
    }

    /// The answer once this instance holds the claim. After a hand-off:
    /// the work after all if it serves the channel by now (it took the
    /// lease meanwhile), else "not served right now".
    pub(crate) fn settle(self, served: &BTreeSet<ChannelLogin>) -> Answer {
        match self {
            Self::Now(answer) => answer,
            Self::ServedElsewhere { request, channel } if served.contains(&channel) => Answer::Act {
                request,
                channel: Some(channel),
            },
            Self::ServedElsewhere { channel, .. } => Answer::Say {
                reply: Reply::NotServedNow(channel.as_str().to_owned()),
                about: Some(channel),
                ephemeral: true,
            },
        }
    }
}

/// The plan for a slash command: `install` are the install's channels,
/// `served` this instance's. Pure.
pub(crate) fn plan_command(
    request: &Request,
    may_control: bool,
    install: &BTreeSet<ChannelLogin>,
    served: &BTreeSet<ChannelLogin>,
) -> Plan {
    let resolved = request
        .subcommand
        .takes_channel()
        .then(|| resolve_channel(install, request.channel.as_deref()));
    if request.subcommand.is_control() && !may_control {
        // In the language of the channel it was about, when that is clear.
        return Plan::Now(Answer::Say {
            about: resolved.and_then(Result::ok),
            reply: Reply::NotAllowed,
            ephemeral: true,
        });
    }
    match resolved {
        None => Plan::Now(Answer::Act {
            request: request.clone(),
            channel: None,
        }),
        Some(Err(reply)) => Plan::Now(Answer::Say {
            about: None,
            reply,
            ephemeral: false,
        }),
        Some(Ok(channel)) if served.contains(&channel) => Plan::Now(Answer::Act {
            request: request.clone(),
            channel: Some(channel),
        }),
        Some(Ok(channel)) => Plan::ServedElsewhere {
            request: request.clone(),
            channel,
        },
    }
}

/// Answers one interaction, if this instance wins its claim; failures to
/// answer are logged.
#[tracing::instrument(skip_all, fields(interaction_id = %interaction.id, kind = interaction.kind.kind()))]
pub(crate) async fn answer(
    context: &BotContext,
    http: &Client,
    application_id: Id<ApplicationMarker>,
    interaction: Interaction,
) {
    let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
        tracing::debug!("interaction without command data ignored");
        return;
    };
    let plan = match interaction.kind {
        InteractionType::ApplicationCommandAutocomplete => {
            let typed = commands::focused_channel(data).unwrap_or_default();
            let install = context.install_channels().await;
            Plan::Now(Answer::Choices(commands::channel_choices(
                &typed,
                install.iter().map(ChannelLogin::as_str),
            )))
        }
        InteractionType::ApplicationCommand => match commands::parse(data) {
            Ok(request) => {
                tracing::info!(subcommand = request.subcommand.name(), "slash command");
                let install = if request.subcommand.takes_channel() {
                    context.install_channels().await
                } else {
                    BTreeSet::new()
                };
                let allowed = may_control(&interaction, context.admin_role);
                plan_command(&request, allowed, &install, &context.served.current())
            }
            Err(e) => {
                tracing::warn!(error = %e, "unknown slash command; is an old registration left?");
                Plan::Now(Answer::Say {
                    about: None,
                    reply: Reply::Unavailable,
                    ephemeral: true,
                })
            }
        },
        _ => {
            tracing::debug!("interaction of another kind ignored");
            return;
        }
    };
    if plan.turn() == Turn::AfterHandOff {
        tokio::time::sleep(HAND_OFF).await;
    }
    if !claim(context, interaction.id).await {
        return;
    }
    let answer = plan.settle(&context.served.current());
    carry_out(context, http, application_id, &interaction, answer).await;
}

/// Claims the interaction for this instance; `false` when another instance
/// did first (this one stays silent). A claim that cannot be made counts
/// as won: answering twice is refused by Discord, not answering is not
/// undone by anyone.
async fn claim(context: &BotContext, id: Id<InteractionMarker>) -> bool {
    let claimed = match i64::try_from(id.get()) {
        Ok(key) => {
            let store = context.engine.store();
            let claiming = store.claim_interaction(key, &context.instance_id, CLAIM_KEEP);
            match tokio::time::timeout(CLAIM_TIMEOUT, claiming).await {
                Ok(Ok(won)) => Ok(won),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("the database did not answer within {CLAIM_TIMEOUT:?}")),
            }
        }
        Err(_) => Err("the interaction id does not fit the claim table".to_owned()),
    };
    match claimed {
        Ok(won) => {
            if context.claims.worked() {
                tracing::info!("Discord interactions are claimed again");
            }
            if won {
                metrics::interaction_claimed(InteractionClaim::Won);
            } else {
                metrics::interaction_claimed(InteractionClaim::Lost);
                tracing::debug!("another instance claimed the interaction; staying silent");
            }
            won
        }
        Err(error) => {
            metrics::interaction_claimed(InteractionClaim::Failed);
            if context.claims.failed() {
                tracing::warn!(
                    %error,
                    "could not claim a Discord interaction; answering without claims until they work again \
                     (Discord refuses a second answer)"
                );
            }
            true
        }
    }
}

/// Sends the answer, and the follow-up of a deferred one.
async fn carry_out(
    context: &BotContext,
    http: &Client,
    application_id: Id<ApplicationMarker>,
    interaction: &Interaction,
    answer: Answer,
) {
    match answer {
        Answer::Choices(choices) => {
            let response = InteractionResponse {
                kind: InteractionResponseType::ApplicationCommandAutocompleteResult,
                data: Some(InteractionResponseData {
                    choices: Some(choices),
                    ..InteractionResponseData::default()
                }),
            };
            respond(http, application_id, interaction, &response).await;
        }
        Answer::Say {
            about,
            reply,
            ephemeral,
        } => {
            let text = replies::render(context.language_for(about.as_ref()), &reply);
            let response = message(InteractionResponseType::ChannelMessageWithSource, Some(text), ephemeral);
            respond(http, application_id, interaction, &response).await;
        }
        Answer::Act { request, channel } => {
            let ephemeral = request.subcommand == Subcommand::Connect;
            let work = act(context, &request, channel.as_ref());
            tokio::pin!(work);
            let done = tokio::select! {
                done = &mut work => Some(done),
                () = tokio::time::sleep(ANSWER_BUDGET) => None,
            };
            match done {
                Some((language, reply)) => {
                    let text = replies::render(language, &reply);
                    let response = message(InteractionResponseType::ChannelMessageWithSource, Some(text), ephemeral);
                    respond(http, application_id, interaction, &response).await;
                }
                None => {
                    let deferred = message(
                        InteractionResponseType::DeferredChannelMessageWithSource,
                        None,
                        ephemeral,
                    );
                    respond(http, application_id, interaction, &deferred).await;
                    let (language, reply) = work.await;
                    let text = replies::render(language, &reply);
                    follow_up(http, application_id, interaction, &text, ephemeral).await;
                }
            }
        }
    }
}

fn message(kind: InteractionResponseType, content: Option<String>, ephemeral: bool) -> InteractionResponse {
    InteractionResponse {
        kind,
        data: Some(InteractionResponseData {
            allowed_mentions: Some(AllowedMentions::default()),
            content,
            flags: ephemeral.then_some(MessageFlags::EPHEMERAL),
            ..InteractionResponseData::default()
        }),
    }
}

async fn respond(
    http: &Client,
    application_id: Id<ApplicationMarker>,
    interaction: &Interaction,
    response: &InteractionResponse,
) {
    let result = http
        .interaction(application_id)
        .create_response(interaction.id, &interaction.token, response)
        .await;
    match result {
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %super::bot::describe(&e), "could not answer the interaction"),
    }
}

async fn follow_up(
    http: &Client,
    application_id: Id<ApplicationMarker>,
    interaction: &Interaction,
    text: &str,
    ephemeral: bool,
) {
    let none = AllowedMentions::default();
    let client = http.interaction(application_id);
    let mut request = client
        .create_followup(&interaction.token)
        .content(text)
        .allowed_mentions(Some(&none));
    if ephemeral {
        request = request.flags(MessageFlags::EPHEMERAL);
    }
    if let Err(e) = request.await {
        tracing::warn!(error = %super::bot::describe(&e), "could not send the follow-up");
    }
}
/// The channel a request is about, among the install's `channels`: the one
/// named, or the only one.
fn resolve_channel(channels: &BTreeSet<ChannelLogin>, named: Option<&str>) -> Result<ChannelLogin, Reply> {
    match named {
        Some(text) => {
            let login = ChannelLogin::parse(text.trim_start_matches('#'))
                .map_err(|_| Reply::UnknownChannel(text.chars().take(25).collect()))?;
            if channels.contains(&login) {
                Ok(login)
            } else {
                Err(Reply::UnknownChannel(login.as_str().to_owned()))
            }
        }
        None => {
            let mut all = channels.iter();
            match (all.next(), all.next()) {
                (None, _) => Err(Reply::NoChannels),
                (Some(only), None) => Ok(only.clone()),
                (Some(_), Some(_)) => Err(Reply::ChooseChannel(
                    channels.iter().map(|l| l.as_str().to_owned()).collect(),
                )),
            }
        }
    }
}

/// Does what the request asks, on `channel` (resolved, served here) for the
/// subcommands that take one; returns the reply and its language.
async fn act(context: &BotContext, request: &Request, channel: Option<&ChannelLogin>) -> (Language, Reply) {
    match request.subcommand {
        Subcommand::Connect => (
            context.language_for(None),
            Reply::Connect {
                url: context.connect_url.clone(),
                policy: context.connect_policy,
            },
        ),
        Subcommand::Verify => {
            let Some(id) = request.raffle_id else {
                return (context.language_for(None), Reply::NoSuchRaffle(0));
            };
            match context.engine.store().raffle_audit(id).await {
                // In the language of the raffle's channel.
                Ok(Some((record, audit))) => (
                    context.languages.language_for(&record.channel_login),
                    Reply::Verified {
                        id,
                        verification: crate::raffle::verify(&record, &audit),
                    },
                ),
                Ok(None) => (context.language_for(None), Reply::NoSuchRaffle(id)),
                Err(e) => {
                    tracing::error!(error = %e, "verify: could not read the raffle");
                    (context.language_for(None), Reply::Unavailable)
                }
            }
        }
        Subcommand::Status | Subcommand::Now | Subcommand::Pause | Subcommand::Resume | Subcommand::History => {
            let Some(login) = channel else {
                // `plan_command` resolves the channel of these subcommands.
                tracing::error!("a channel subcommand without its channel");
                return (context.language_for(None), Reply::Unavailable);
            };
            let reply = match act_on_channel(context, request.subcommand, login).await {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::error!(channel = %login, error = %e, cause = ?e, "slash command failed");
                    Reply::Unavailable
                }
            };
            (context.language_for(Some(login)), reply)
        }
    }
}

async fn act_on_channel(
    context: &BotContext,
    subcommand: Subcommand,
    login: &ChannelLogin,
) -> Result<Reply, RaffleError> {
    let engine = &context.engine;
    let store = engine.store();
    Ok(match subcommand {
        Subcommand::Status => {
            // The channel's own settings: its active window and interval.
            let channel = store.ensure_channel(login).await?;
            let settings = engine.channel_settings(channel.id).await?;
            let active_viewers = store.active_viewers(login, settings.active_window).await?;
            let served = context.served.current().len();
            let next_raffle_unix = (!channel.paused)
                .then(|| upcoming_slot_of(login.as_str(), settings.raffle_interval, served))
                .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs()).ok());
            Reply::Status(ChannelState {
                login: login.as_str().to_owned(),
                paused: channel.paused,
                active_viewers,
                next_raffle_unix,
            })
        }
        Subcommand::Now => {
            if let Err(wait) = context.draws.try_draw(login, context.clock.unix_millis()) {
                return Ok(Reply::TooSoon {
                    channel: login.as_str().to_owned(),
                    wait,
                });
            }
            // Served channels may be too new for the timer to have recorded them.
            store.ensure_channel(login).await?;
            match engine.run_round(login, Trigger::Chat, None).await? {
                RoundResult::Recorded(record) => Reply::Drawn(record),
                other => {
                    tracing::warn!(result = ?other, "a draw from Discord was not recorded");
                    Reply::Unavailable
                }
            }
        }
        Subcommand::Pause | Subcommand::Resume => {
            let paused = subcommand == Subcommand::Pause;
            store.ensure_channel(login).await?;
            match store.set_paused(login, paused).await? {
                Some(record) => {
                    tracing::info!(channel = %login, paused, "raffles paused/resumed from Discord");
                    Reply::Paused {
                        channel: record.login,
                        paused: record.paused,
                    }
                }
                None => Reply::UnknownChannel(login.as_str().to_owned()),
            }
        }
        Subcommand::History => Reply::History {
            channel: login.as_str().to_owned(),
            raffles: store.recent_raffles(Some(login), HISTORY_LENGTH).await?,
        },
        Subcommand::Connect | Subcommand::Verify => Reply::Unavailable,
    })
}
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn interaction(member: serde_json::Value) -> Interaction {
        let mut value = json!({
            "application_id": "1", "attachment_size_limit": 8388608,
            "authorizing_integration_owners": {}, "entitlements": [],
            "id": "2", "type": 2, "token": "tok", "version": 1,
            "guild_id": "3", "channel_id": "4",
            "data": {"id": "9", "name": "raffle", "type": 1, "options": []},
        });
        if !member.is_null() {
            value["member"] = member;
        }
        serde_json::from_value(value).expect("interaction")
    }

    fn member(permissions: &str, roles: &[&str]) -> serde_json::Value {
        json!({
            "deaf": false, "mute": false, "flags": 0, "joined_at": "2026-01-01T00:00:00.000000+00:00",
            "nick": null, "communication_disabled_until": null,
            "permissions": permissions, "roles": roles,
            "user": {"id": "5", "username": "m", "discriminator": "0", "avatar": null, "global_name": null}
        })
    }

    #[test]
    fn control_needs_manage_server_administrator_or_the_admin_role() {
        let role = Snowflake::new(77);
        // SEND_MESSAGES only.
        assert!(!may_control(&interaction(member("2048", &[])), role));
        // MANAGE_GUILD (1 << 5).
        assert!(may_control(&interaction(member("32", &[])), None));
        // ADMINISTRATOR (1 << 3).
        assert!(may_control(&interaction(member("8", &[])), None));
        // The admin role, without the permission.
        assert!(may_control(&interaction(member("2048", &["77"])), role));
        assert!(!may_control(&interaction(member("2048", &["78"])), role));
        // In a DM there is no member.
        assert!(!may_control(&interaction(serde_json::Value::Null), role));
    }

    fn logins(names: &[&str]) -> BTreeSet<ChannelLogin> {
        names.iter().map(|l| ChannelLogin::parse(l).expect("login")).collect()
    }

    fn login(name: &str) -> ChannelLogin {
        ChannelLogin::parse(name).expect("login")
    }

    fn request(subcommand: Subcommand, channel: Option<&str>) -> Request {
        Request {
            subcommand,
            channel: channel.map(str::to_owned),
            raffle_id: None,
        }
    }

    #[test]
    fn the_only_channel_is_the_default_and_several_need_a_choice() {
        let one = logins(&["alpha"]);
        assert_eq!(
            resolve_channel(&one, None).map(|l| l.as_str().to_owned()),
            Ok("alpha".into())
        );
        assert_eq!(
            resolve_channel(&one, Some("#Alpha")).map(|l| l.as_str().to_owned()),
            Ok("alpha".into())
        );
        assert_eq!(
            resolve_channel(&one, Some("beta")).map(|l| l.as_str().to_owned()),
            Err(Reply::UnknownChannel("beta".into()))
        );
        let two = logins(&["alpha", "beta"]);
        assert_eq!(
            resolve_channel(&two, None).map(|l| l.as_str().to_owned()),
            Err(Reply::ChooseChannel(vec!["alpha".into(), "beta".into()]))
        );
        let three = logins(&["alpha", "beta", "gamma"]);
        assert_eq!(
            resolve_channel(&three, None).map(|l| l.as_str().to_owned()),
            Err(Reply::ChooseChannel(vec![
                "alpha".into(),
                "beta".into(),
                "gamma".into()
            ]))
        );
        assert_eq!(
            resolve_channel(&BTreeSet::new(), None).map(|l| l.as_str().to_owned()),
            Err(Reply::NoChannels)
        );
    }

    #[test]
    fn the_serving_instance_claims_at_once_and_the_others_after_the_hand_off() {
        let install = logins(&["alpha", "beta"]);
        // This instance serves alpha; another serves beta.
        let served = logins(&["alpha"]);
        let status_alpha = request(Subcommand::Status, Some("alpha"));
        let plan = plan_command(&status_alpha, false, &install, &served);
        assert_eq!(plan.turn(), Turn::AtOnce);
        assert_eq!(
            plan.settle(&served),
            Answer::Act {
                request: status_alpha,
                channel: Some(login("alpha"))
            }
        );
        let now_beta = request(Subcommand::Now, Some("beta"));
        let plan = plan_command(&now_beta, true, &install, &served);
        assert_eq!(plan.turn(), Turn::AfterHandOff);
        // Won after the hand-off: beta's instance is gone; nothing is drawn.
        assert_eq!(
            plan.clone().settle(&served),
            Answer::Say {
                about: Some(login("beta")),
                reply: Reply::NotServedNow("beta".into()),
                ephemeral: true
            }
        );
        // Unless this instance took beta's lease meanwhile.
        assert_eq!(
            plan.settle(&install),
            Answer::Act {
                request: now_beta,
                channel: Some(login("beta"))
            }
        );
    }

    #[test]
    fn a_command_without_channel_resolves_install_wide() {
        let install = logins(&["alpha", "beta"]);
        // Each instance serves one channel; both ask to choose.
        for served in [logins(&["alpha"]), logins(&["beta"])] {
            let plan = plan_command(&request(Subcommand::Status, None), false, &install, &served);
            assert_eq!(plan.turn(), Turn::AtOnce);
            assert_eq!(
                plan.settle(&served),
                Answer::Say {
                    about: None,
                    reply: Reply::ChooseChannel(vec!["alpha".into(), "beta".into()]),
                    ephemeral: false
                }
            );
        }
        // One channel in the install, served elsewhere: its instance answers.
        let only = logins(&["alpha"]);
        let plan = plan_command(&request(Subcommand::History, None), false, &only, &BTreeSet::new());
        assert_eq!(plan.turn(), Turn::AfterHandOff);
        // Not one of the install's: said at once, by whoever is first.
        let plan = plan_command(&request(Subcommand::Status, Some("zeta")), false, &install, &only);
        assert_eq!(plan.turn(), Turn::AtOnce);
        assert!(matches!(
            plan.settle(&only),
            Answer::Say {
                reply: Reply::UnknownChannel(_),
                ..
            }
        ));
    }

    #[test]
    fn channel_less_answers_and_refusals_are_claimed_at_once() {
        let install = logins(&["alpha", "beta"]);
        let served = BTreeSet::new();
        for sub in [Subcommand::Connect, Subcommand::Verify] {
            let plan = plan_command(&request(sub, None), false, &install, &served);
            assert_eq!(plan.turn(), Turn::AtOnce, "{sub:?}");
            assert!(matches!(plan.settle(&served), Answer::Act { channel: None, .. }));
        }
        // A refusal, in the language of the channel named.
        let plan = plan_command(&request(Subcommand::Pause, Some("beta")), false, &install, &served);
        assert_eq!(plan.turn(), Turn::AtOnce);
        assert_eq!(
            plan.settle(&served),
            Answer::Say {
                about: Some(login("beta")),
                reply: Reply::NotAllowed,
                ephemeral: true
            }
        );
    }

    #[test]
    fn a_claim_outage_is_reported_once_until_claims_work_again() {
        let outage = ClaimOutage::default();
        assert!(!outage.worked(), "nothing to report while claims work");
        assert!(outage.failed(), "the first failure is logged");
        assert!(!outage.failed(), "the next ones are not");
        assert!(outage.clone().worked(), "clones share the state: claims work again");
        assert!(!outage.worked());
        assert!(outage.failed(), "a new outage is logged again");
    }
}
