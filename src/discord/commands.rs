//! The `/raffle` slash command (SPEC §12): its definition as registered
//! with Discord, and the typed request an interaction carries. Pure: no
//! I/O, only twilight's data types.
//!
//! One top-level command with subcommands, every name localized for
//! pt-BR (`/sorteio conectar|status|agora|pausar|retomar|verificar|historico`).
//! Discord sends the canonical (English) names whatever the member's
//! language, so parsing knows only those.
//!
//! `default_member_permissions` belongs to the top-level command, not to a
//! subcommand, and would hide `connect`, `status` and `history` from every
//! member without Manage Server. So it stays unset (everyone sees
//! `/raffle`) and the control subcommands are checked on our side
//! ([`Subcommand::is_control`], `interactions::may_control`).

use std::collections::HashMap;

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionChoice, CommandOptionChoiceValue, CommandOptionType, CommandOptionValue,
    CommandType,
};
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue as DataValue,
};
use twilight_model::id::Id;
use twilight_model::id::marker::ApplicationMarker;

use crate::catalog::{DiscordBotText, Language};

/// The command's name.
pub(crate) const COMMAND_NAME: &str = "raffle";
/// The option naming a Twitch channel.
pub(crate) const CHANNEL_OPTION: &str = "channel";
/// The option naming a raffle id.
pub(crate) const ID_OPTION: &str = "id";
/// Discord's locale for Brazilian Portuguese.
const PT_BR: &str = "pt-BR";
/// Most choices an autocomplete answer may carry (Discord's limit).
pub(crate) const MAX_CHOICES: usize = 25;

/// A `/raffle` subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Subcommand {
    /// The Connect-with-Twitch link (the original bot's `!iniciar`).
    Connect,
    /// A channel's state.
    Status,
    /// Draw now.
    Now,
    /// Stop automatic raffles.
    Pause,
    /// Restart automatic raffles.
    Resume,
    /// Recompute a recorded raffle.
    Verify,
    /// Recent raffles.
    History,
}

impl Subcommand {
    /// Every subcommand, in the order Discord shows them.
    pub(crate) const ALL: [Self; 7] = [
        Self::Connect,
        Self::Status,
        Self::Now,
        Self::Pause,
        Self::Resume,
        Self::Verify,
        Self::History,
    ];

    /// The canonical (English) name Discord sends back.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Status => "status",
            Self::Now => "now",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Verify => "verify",
            Self::History => "history",
        }
    }

    /// The pt-BR name.
    fn name_pt_br(self) -> &'static str {
        match self {
            Self::Connect => "conectar",
            Self::Status => "status",
            Self::Now => "agora",
            Self::Pause => "pausar",
            Self::Resume => "retomar",
            Self::Verify => "verificar",
            Self::History => "historico",
        }
    }

    /// Its description, from the catalog.
    fn description(self) -> DiscordBotText<'static> {
        match self {
            Self::Connect => DiscordBotText::DescribeConnect,
            Self::Status => DiscordBotText::DescribeStatus,
            Self::Now => DiscordBotText::DescribeNow,
            Self::Pause => DiscordBotText::DescribePause,
            Self::Resume => DiscordBotText::DescribeResume,
            Self::Verify => DiscordBotText::DescribeVerify,
            Self::History => DiscordBotText::DescribeHistory,
        }
    }

    /// Control subcommands need Manage Server or `DISCORD_ADMIN_ROLE`.
    pub(crate) fn is_control(self) -> bool {
        matches!(self, Self::Now | Self::Pause | Self::Resume)
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sub| sub.name() == name)
    }

    fn takes_channel(self) -> bool {
        !matches!(self, Self::Connect | Self::Verify)
    }
}

fn pt_br(text: &str) -> Option<HashMap<String, String>> {
    Some(HashMap::from([(PT_BR.to_owned(), text.to_owned())]))
}

/// A description in English (Discord's default) and its pt-BR localization.
fn described(text: DiscordBotText<'_>) -> (String, Option<HashMap<String, String>>) {
    (Language::En.say(&text), pt_br(&Language::PtBr.say(&text)))
}

fn option(kind: CommandOptionType, name: &str, name_pt_br: &str, description: DiscordBotText<'_>) -> CommandOption {
    let (description, description_localizations) = described(description);
    CommandOption {
        autocomplete: None,
        channel_types: None,
        choices: None,
        description,
        description_localizations,
        kind,
        max_length: None,
        max_value: None,
        min_length: None,
        min_value: None,
        name: name.to_owned(),
        name_localizations: pt_br(name_pt_br),
        options: None,
        file_types: None,
        required: None,
    }
}

fn channel_option() -> CommandOption {
    CommandOption {
        autocomplete: Some(true),
        // Twitch logins are 1 to 25 characters.
        max_length: Some(25),
        // Needed only when several channels are served; checked on our side
        // because the set of channels changes while the command stays.
        required: Some(false),
        ..option(
            CommandOptionType::String,
            CHANNEL_OPTION,
            "canal",
            DiscordBotText::DescribeChannelOption,
        )
    }
}

fn id_option() -> CommandOption {
    CommandOption {
        min_value: Some(CommandOptionValue::Integer(1)),
        required: Some(true),
        ..option(
            CommandOptionType::Integer,
            ID_OPTION,
            "id",
            DiscordBotText::DescribeIdOption,
        )
    }
}

/// The commands to register (bulk overwrite): `/raffle` and its subcommands.
pub(crate) fn definitions(application_id: Id<ApplicationMarker>) -> Vec<Command> {
    let options = Subcommand::ALL
        .into_iter()
        .map(|sub| {
            let mut options = Vec::new();
            if sub.takes_channel() {
                options.push(channel_option());
            }
            if sub == Subcommand::Verify {
                options.push(id_option());
            }
            CommandOption {
                options: Some(options),
                ..option(
                    CommandOptionType::SubCommand,
                    sub.name(),
                    sub.name_pt_br(),
                    sub.description(),
                )
            }
        })
        .collect();
    let (description, description_localizations) = described(DiscordBotText::DescribeCommand);
    #[expect(
        deprecated,
        reason = "dm_permission is a field of twilight's struct; `contexts` replaces it"
    )]
    let command = Command {
        application_id: Some(application_id),
        contexts: Some(vec![InteractionContextType::Guild]),
        default_member_permissions: None,
        description,
        description_localizations,
        dm_permission: None,
        guild_id: None,
        id: None,
        integration_types: None,
        kind: CommandType::ChatInput,
        name: COMMAND_NAME.to_owned(),
        name_localizations: pt_br("sorteio"),
        nsfw: None,
        options,
        version: Id::new(1),
    };
    vec![command]
}

/// What an application-command interaction asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The subcommand.
    pub(crate) subcommand: Subcommand,
    /// The `channel` option as typed, if given.
    pub(crate) channel: Option<String>,
    /// The `id` option (`verify`).
    pub(crate) raffle_id: Option<i64>,
}

/// Why an interaction's data is not a request we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    /// Another command (registered by an older version, say).
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// No or an unknown subcommand.
    #[error("unknown subcommand")]
    UnknownSubcommand,
}

fn subcommand_of(data: &CommandData) -> Result<(Subcommand, &[CommandDataOption]), ParseError> {
    if data.name != COMMAND_NAME {
        return Err(ParseError::UnknownCommand(data.name.chars().take(32).collect()));
    }
    let first = data.options.first().ok_or(ParseError::UnknownSubcommand)?;
    let sub = Subcommand::from_name(&first.name).ok_or(ParseError::UnknownSubcommand)?;
    match &first.value {
        DataValue::SubCommand(options) => Ok((sub, options)),
        _ => Err(ParseError::UnknownSubcommand),
    }
}

/// The request in an application command's data.
///
/// # Errors
///
/// [`ParseError`] when it is not `/raffle` with a subcommand we know.
pub(crate) fn parse(data: &CommandData) -> Result<Request, ParseError> {
    let (subcommand, options) = subcommand_of(data)?;
    let mut request = Request {
        subcommand,
        channel: None,
        raffle_id: None,
    };
    for option in options {
        match (option.name.as_str(), &option.value) {
            (CHANNEL_OPTION, DataValue::String(text)) => {
                let text = text.trim();
                if !text.is_empty() {
                    request.channel = Some(text.to_owned());
                }
            }
            (ID_OPTION, DataValue::Integer(id)) => request.raffle_id = Some(*id),
            _ => {}
        }
    }
    Ok(request)
}

/// The text typed so far in the focused option of an autocomplete
/// interaction, if it is our `channel` option.
pub(crate) fn focused_channel(data: &CommandData) -> Option<String> {
    let (_, options) = subcommand_of(data).ok()?;
    options.iter().find_map(|option| match &option.value {
        DataValue::Focused(text, _) if option.name == CHANNEL_OPTION => Some(text.trim().to_lowercase()),
        _ => None,
    })
}

/// Autocomplete choices: the served channels starting with (else
/// containing) what was typed, at most [`MAX_CHOICES`].
pub(crate) fn channel_choices<'a>(typed: &str, served: impl IntoIterator<Item = &'a str>) -> Vec<CommandOptionChoice> {
    let served: Vec<&str> = served.into_iter().collect();
    let mut matches: Vec<&str> = served
        .iter()
        .copied()
        .filter(|login| login.starts_with(typed))
        .collect();
    matches.extend(
        served
            .iter()
            .copied()
            .filter(|login| !login.starts_with(typed) && login.contains(typed)),
    );
    matches
        .into_iter()
        .take(MAX_CHOICES)
        .map(|login| CommandOptionChoice {
            name: login.to_owned(),
            name_localizations: None,
            value: CommandOptionChoiceValue::String(login.to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn data(value: serde_json::Value) -> CommandData {
        serde_json::from_value(value).expect("command data")
    }

    #[test]
    fn the_definition_has_every_subcommand_with_pt_br_names() {
        let commands = definitions(Id::new(42));
        let json = serde_json::to_value(&commands).expect("serializes");
        let raffle = &json[0];
        assert_eq!(raffle["name"], "raffle");
        assert_eq!(raffle["name_localizations"], json!({"pt-BR": "sorteio"}));
        assert_eq!(raffle["type"], 1);
        assert_eq!(raffle["default_member_permissions"], serde_json::Value::Null);
        let subs: Vec<(String, String)> = raffle["options"]
            .as_array()
            .expect("options")
            .iter()
            .map(|o| {
                assert_eq!(o["type"], 1, "a subcommand: {o}");
                (
                    o["name"].as_str().unwrap_or_default().to_owned(),
                    o["name_localizations"]["pt-BR"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let expected = [
            ("connect", "conectar"),
            ("status", "status"),
            ("now", "agora"),
            ("pause", "pausar"),
            ("resume", "retomar"),
            ("verify", "verificar"),
            ("history", "historico"),
        ];
        assert_eq!(
            subs,
            expected
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect::<Vec<_>>()
        );
        let verify = &raffle["options"][5]["options"][0];
        assert_eq!(verify["name"], "id");
        assert_eq!(verify["type"], 4);
        assert_eq!(verify["required"], true);
        let channel = &raffle["options"][2]["options"][0];
        assert_eq!(channel["name"], "channel");
        assert_eq!(channel["autocomplete"], true);
        assert_eq!(channel["required"], false);
    }

    #[test]
    fn discord_limits_on_names_and_descriptions_hold() {
        let json = serde_json::to_value(definitions(Id::new(1))).expect("serializes");
        let mut stack = vec![json[0].clone()];
        while let Some(node) = stack.pop() {
            for key in ["name", "description"] {
                let text = node[key].as_str().expect(key);
                let max = if key == "name" { 32 } else { 100 };
                assert!((1..=max).contains(&text.chars().count()), "{key} {text:?}");
                let localized = &node[format!("{key}_localizations")]["pt-BR"];
                let localized = localized.as_str().expect("localized");
                assert!((1..=max).contains(&localized.chars().count()), "{localized:?}");
                if key == "name" {
                    for name in [text, localized] {
                        assert!(
                            name.chars()
                                .all(|c| c.is_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'),
                            "{name:?}"
                        );
                    }
                }
            }
            if let Some(children) = node["options"].as_array() {
                stack.extend(children.iter().cloned());
            }
        }
    }

    #[test]
    fn requests_parse_from_discord_data() {
        let now = data(json!({
            "id": "1", "name": "raffle", "type": 1,
            "options": [{"name": "now", "type": 1, "options": [{"name": "channel", "type": 3, "value": " SomeStreamer "}]}]
        }));
        assert_eq!(
            parse(&now),
            Ok(Request {
                subcommand: Subcommand::Now,
                channel: Some("SomeStreamer".into()),
                raffle_id: None
            })
        );
        let verify = data(json!({
            "id": "1", "name": "raffle", "type": 1,
            "options": [{"name": "verify", "type": 1, "options": [{"name": "id", "type": 4, "value": 42}]}]
        }));
        assert_eq!(
            parse(&verify).map(|r| (r.subcommand, r.raffle_id)),
            Ok((Subcommand::Verify, Some(42)))
        );
        let other = data(json!({"id": "1", "name": "ping", "type": 1}));
        assert_eq!(parse(&other), Err(ParseError::UnknownCommand("ping".into())));
        let unknown = data(
            json!({"id": "1", "name": "raffle", "type": 1, "options": [{"name": "nuke", "type": 1, "options": []}]}),
        );
        assert_eq!(parse(&unknown), Err(ParseError::UnknownSubcommand));
        assert!(Subcommand::Now.is_control() && Subcommand::Pause.is_control() && Subcommand::Resume.is_control());
        assert!(!Subcommand::Connect.is_control() && !Subcommand::Status.is_control());
    }

    #[test]
    fn autocomplete_offers_served_channels_matching_what_was_typed() {
        let focused = data(json!({
            "id": "1", "name": "raffle", "type": 1,
            "options": [{"name": "status", "type": 1, "options": [{"name": "channel", "type": 3, "value": "St", "focused": true}]}]
        }));
        assert_eq!(focused_channel(&focused).as_deref(), Some("st"));
        let choices = channel_choices("st", ["alpha", "bestream", "streamer"]);
        let names: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["streamer", "bestream"]);
        let many: Vec<String> = (0..40).map(|n| format!("chan{n}")).collect();
        assert_eq!(channel_choices("", many.iter().map(String::as_str)).len(), MAX_CHOICES);
    }
}
