//! Answering one interaction (SPEC §12): a slash command or an
//! autocomplete request.
//!
//! - Commands act only on the channels this instance serves (the channel
//!   leaser's set), and reply in that channel's `LANGUAGE`
//!   ([`ChannelLanguages::language_for`]); what belongs to no channel
//!   (`connect`, refusals before a channel is known) speaks the default.
//! - Control subcommands (`now`, `pause`, `resume`) are checked here, on
//!   the member the interaction names: Manage Server (or Administrator) in
//!   the permissions Discord computed for the channel, or the role of
//!   `DISCORD_ADMIN_ROLE`. Outside a server nobody may use them.
//! - The work runs through the same engine and rules as chat and the API:
//!   `now` honours `ONLY_WHEN_LIVE` and the one-draw-per-10-s limit shared
//!   with the chat commands ([`ManualDraws`]).
//! - Discord wants an answer within 3 s. The work gets [`ANSWER_BUDGET`];
//!   if it is done by then the reply is the interaction's answer,
//!   otherwise the answer is "thinking…" (deferred) and the reply follows
//!   as a follow-up message once the work is done.
//! - Every reply carries `allowed_mentions: {"parse": []}`; `connect` and
//!   refusals are ephemeral (flag 64: only the caller sees them).

use std::time::{Duration, UNIX_EPOCH};

use twilight_http::Client;
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::channel::message::{AllowedMentions, MessageFlags};
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::{InteractionResponse, InteractionResponseData, InteractionResponseType};
use twilight_model::id::Id;
use twilight_model::id::marker::ApplicationMarker;

use super::commands::{self, Request, Subcommand};
use super::replies::{self, ChannelState, Reply};
use crate::catalog::Language;
use crate::channel::{ChannelLanguages, ChannelLogin, ChannelSet};
use crate::clock::Clock;
use crate::config::Snowflake;
use crate::raffle::command::ManualDraws;
use crate::raffle::scheduler::upcoming_slot_of;
use crate::raffle::{RaffleEngine, RaffleError, RoundResult, Trigger};
use crate::twitch::auth::policy::ConnectPolicy;

/// How long the work may take before the answer is deferred: well within
/// Discord's 3 s, leaving time for the answer itself to travel.
pub(crate) const ANSWER_BUDGET: Duration = Duration::from_millis(1500);
/// Raffles listed by `history`.
const HISTORY_LENGTH: i64 = 5;

/// What answering needs from the rest of the bot. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct BotContext {
    /// Every round goes through it.
    pub(crate) engine: RaffleEngine,
    /// The channels this instance serves (held leases); commands act on
    /// these only.
    pub(crate) served: ChannelSet,
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

/// Answers one interaction; failures to answer are logged.
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
    match interaction.kind {
        InteractionType::ApplicationCommandAutocomplete => {
            let typed = commands::focused_channel(data).unwrap_or_default();
            let served = context.served.current();
            let choices = commands::channel_choices(&typed, served.iter().map(ChannelLogin::as_str));
            let response = InteractionResponse {
                kind: InteractionResponseType::ApplicationCommandAutocompleteResult,
                data: Some(InteractionResponseData {
                    choices: Some(choices),
                    ..InteractionResponseData::default()
                }),
            };
            respond(http, application_id, &interaction, &response).await;
        }
        InteractionType::ApplicationCommand => {
            let request = match commands::parse(data) {
                Ok(request) => request,
                Err(e) => {
                    tracing::warn!(error = %e, "unknown slash command; is an old registration left?");
                    let text = replies::render(context.language_for(None), &Reply::Unavailable);
                    respond(
                        http,
                        application_id,
                        &interaction,
                        &message(InteractionResponseType::ChannelMessageWithSource, Some(text), true),
                    )
                    .await;
                    return;
                }
            };
            tracing::info!(subcommand = request.subcommand.name(), "slash command");
            if request.subcommand.is_control() && !may_control(&interaction, context.admin_role) {
                // In the language of the channel it was about, when that is clear.
                let channel = resolve_channel(&context.served, request.channel.as_deref()).ok();
                let text = replies::render(context.language_for(channel.as_ref()), &Reply::NotAllowed);
                let response = message(InteractionResponseType::ChannelMessageWithSource, Some(text), true);
                respond(http, application_id, &interaction, &response).await;
                return;
            }
            let ephemeral = request.subcommand == Subcommand::Connect;
            let work = act(context, &request);
            tokio::pin!(work);
            let done = tokio::select! {
                done = &mut work => Some(done),
                () = tokio::time::sleep(ANSWER_BUDGET) => None,
            };
            match done {
                Some((language, reply)) => {
                    let text = replies::render(language, &reply);
                    let response = message(InteractionResponseType::ChannelMessageWithSource, Some(text), ephemeral);
                    respond(http, application_id, &interaction, &response).await;
                }
                None => {
                    let deferred = message(
                        InteractionResponseType::DeferredChannelMessageWithSource,
                        None,
                        ephemeral,
                    );
                    respond(http, application_id, &interaction, &deferred).await;
                    let (language, reply) = work.await;
                    let text = replies::render(language, &reply);
                    follow_up(http, application_id, &interaction, &text, ephemeral).await;
                }
            }
        }
        _ => tracing::debug!("interaction of another kind ignored"),
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

/// The channel a request is about: the one named (if served), or the only
/// one served.
fn resolve_channel(channels: &ChannelSet, named: Option<&str>) -> Result<ChannelLogin, Reply> {
    let served = channels.current();
    match named {
        Some(text) => {
            let login = ChannelLogin::parse(text.trim_start_matches('#'))
                .map_err(|_| Reply::UnknownChannel(text.chars().take(25).collect()))?;
            if served.contains(&login) {
                Ok(login)
            } else {
                Err(Reply::UnknownChannel(login.as_str().to_owned()))
            }
        }
        None => {
            let mut all = served.into_iter();
            match (all.next(), all.next()) {
                (None, _) => Err(Reply::NoChannels),
                (Some(only), None) => Ok(only),
                (Some(first), Some(second)) => {
                    let mut logins = vec![first.as_str().to_owned(), second.as_str().to_owned()];
                    logins.extend(all.map(|l| l.as_str().to_owned()));
                    Err(Reply::ChooseChannel(logins))
                }
            }
        }
    }
}

/// Does what the request asks; returns the reply and its language.
async fn act(context: &BotContext, request: &Request) -> (Language, Reply) {
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
            let login = match resolve_channel(&context.served, request.channel.as_deref()) {
                Ok(login) => login,
                Err(reply) => return (context.language_for(None), reply),
            };
            let reply = match act_on_channel(context, request.subcommand, &login).await {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::error!(channel = %login, error = %e, cause = ?e, "slash command failed");
                    Reply::Unavailable
                }
            };
            (context.language_for(Some(&login)), reply)
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

    #[test]
    fn the_only_served_channel_is_the_default_and_several_need_a_choice() {
        let one = ChannelSet::new([ChannelLogin::parse("alpha").expect("login")]);
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
        let two = ChannelSet::new(["alpha", "beta"].map(|l| ChannelLogin::parse(l).expect("login")));
        assert_eq!(
            resolve_channel(&two, None).map(|l| l.as_str().to_owned()),
            Err(Reply::ChooseChannel(vec!["alpha".into(), "beta".into()]))
        );
        let none = ChannelSet::new([]);
        assert_eq!(
            resolve_channel(&none, None).map(|l| l.as_str().to_owned()),
            Err(Reply::NoChannels)
        );
    }
}
