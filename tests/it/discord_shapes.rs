//! The request shapes the Discord stand-ins accept, from Discord's own
//! OpenAPI description (discord/discord-api-spec, `specs/openapi.json`,
//! API v10) and its Gateway documentation, not from our client. Each check
//! returns what is wrong, so the stand-in records it and answers like
//! Discord (400 `Invalid Form Body`, code 50035).
//!
//! - `bulk_set_guild_application_commands` / `bulk_set_application_commands`
//!   (`PUT …/commands`): an array of at most 130
//!   `ApplicationCommandUpdateRequest`; `name` 1–32 characters, lower case
//!   for chat-input commands; `description` at most 100 (1–100 for
//!   options); `name_localizations` / `description_localizations` keyed by
//!   Discord's locales, values 1–32 / 1–100; option `type` 1–11, `name` and
//!   `description` required; `default_member_permissions` an integer or a
//!   string of one.
//! - `create_interaction_response`: `type` one of `InteractionCallbackTypes`
//!   (1, 4, 5, 6, 7, 8, 9, 12, 13); 4 and 5 carry an optional
//!   `IncomingWebhookInteractionRequest` (`content` at most 2000, `flags`
//!   an integer); 8 needs `data.choices`, at most 25.
//! - `create_message`: `nonce` an int64 or a string of at most 25,
//!   `enforce_nonce` a boolean, `allowed_mentions.parse` only `users`,
//!   `roles`, `everyone`.
//! - Gateway IDENTIFY (`op` 2): `token`, `intents` and `properties` with
//!   `os`, `browser`, `device`; RESUME (`op` 6): `token`, `session_id`,
//!   `seq`; HEARTBEAT (`op` 1): `d` the last sequence number or null.

use serde_json::Value;

/// Discord's locales (`Locale` in the API reference).
pub const LOCALES: &[&str] = &[
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl", "no", "pl", "pt-BR",
    "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi", "th", "zh-CN", "ja", "zh-TW", "ko",
];

/// `InteractionCallbackTypes`.
pub const CALLBACK_TYPES: &[u64] = &[1, 4, 5, 6, 7, 8, 9, 12, 13];

fn chars(value: &Value) -> Option<usize> {
    value.as_str().map(|s| s.chars().count())
}

fn check_text(problems: &mut Vec<String>, at: &str, value: &Value, min: usize, max: usize, required: bool) {
    match (value, chars(value)) {
        (Value::Null, _) if !required => {}
        (_, Some(n)) if (min..=max).contains(&n) => {}
        _ => problems.push(format!(
            "{at}: must be a string of {min} to {max} characters, got {value}"
        )),
    }
}

fn check_localizations(problems: &mut Vec<String>, at: &str, value: &Value, max: usize) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (locale, text) in map {
                if !LOCALES.contains(&locale.as_str()) {
                    problems.push(format!("{at}: {locale:?} is not one of Discord's locales"));
                }
                check_text(problems, &format!("{at}.{locale}"), text, 1, max, true);
            }
        }
        other => problems.push(format!("{at}: must be an object, got {other}")),
    }
}

/// Discord's rule for chat-input command and option names: lower case
/// letters (any script), digits, `-` and `_`.
fn check_name(problems: &mut Vec<String>, at: &str, value: &Value) {
    check_text(problems, at, value, 1, 32, true);
    if let Some(name) = value.as_str()
        && !name
            .chars()
            .all(|c| c == '-' || c == '_' || c.is_numeric() || (c.is_alphabetic() && !c.is_uppercase()))
    {
        problems.push(format!("{at}: {name:?} must be lower case letters, digits, - or _"));
    }
}

fn check_option(problems: &mut Vec<String>, at: &str, option: &Value) {
    match option["type"].as_u64() {
        Some(1..=11) => {}
        _ => problems.push(format!("{at}.type: must be 1 to 11, got {}", option["type"])),
    }
    check_name(problems, &format!("{at}.name"), &option["name"]);
    check_localizations(
        problems,
        &format!("{at}.name_localizations"),
        &option["name_localizations"],
        32,
    );
    check_text(
        problems,
        &format!("{at}.description"),
        &option["description"],
        1,
        100,
        true,
    );
    check_localizations(
        problems,
        &format!("{at}.description_localizations"),
        &option["description_localizations"],
        100,
    );
    if let Some(children) = option["options"].as_array() {
        if !matches!(option["type"].as_u64(), Some(1 | 2)) {
            problems.push(format!("{at}.options: only subcommands and groups have options"));
        }
        if children.len() > 25 {
            problems.push(format!("{at}.options: at most 25, got {}", children.len()));
        }
        for (n, child) in children.iter().enumerate() {
            check_option(problems, &format!("{at}.options[{n}]"), child);
        }
    }
}

/// The body of a bulk overwrite of application commands.
pub fn check_commands(body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(commands) = body.as_array() else {
        return vec![format!("body: must be an array of commands, got {body}")];
    };
    if commands.len() > 130 {
        problems.push(format!("body: at most 130 commands, got {}", commands.len()));
    }
    for (n, command) in commands.iter().enumerate() {
        let at = format!("[{n}]");
        check_name(&mut problems, &format!("{at}.name"), &command["name"]);
        check_localizations(
            &mut problems,
            &format!("{at}.name_localizations"),
            &command["name_localizations"],
            32,
        );
        check_text(
            &mut problems,
            &format!("{at}.description"),
            &command["description"],
            0,
            100,
            false,
        );
        check_localizations(
            &mut problems,
            &format!("{at}.description_localizations"),
            &command["description_localizations"],
            100,
        );
        match &command["default_member_permissions"] {
            Value::Null => {}
            Value::Number(n) if n.is_u64() => {}
            Value::String(s) if s.parse::<u64>().is_ok() => {}
            other => problems.push(format!(
                "{at}.default_member_permissions: not a permission integer: {other}"
            )),
        }
        if let Some(options) = command["options"].as_array() {
            if options.len() > 25 {
                problems.push(format!("{at}.options: at most 25, got {}", options.len()));
            }
            for (m, option) in options.iter().enumerate() {
                check_option(&mut problems, &format!("{at}.options[{m}]"), option);
            }
        }
    }
    problems
}

/// The body of an interaction callback.
pub fn check_callback(body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let kind = body["type"].as_u64();
    if !kind.is_some_and(|k| CALLBACK_TYPES.contains(&k)) {
        problems.push(format!("type: not an interaction callback type: {}", body["type"]));
    }
    let data = &body["data"];
    match kind {
        Some(4 | 5) if !data.is_null() => {
            check_text(&mut problems, "data.content", &data["content"], 0, 2000, false);
            if !(data["flags"].is_null() || data["flags"].is_u64()) {
                problems.push(format!("data.flags: must be an integer, got {}", data["flags"]));
            }
            check_allowed_mentions(&mut problems, "data.allowed_mentions", &data["allowed_mentions"]);
        }
        Some(8) => match data["choices"].as_array() {
            Some(choices) if choices.len() <= 25 => {
                for (n, choice) in choices.iter().enumerate() {
                    check_text(
                        &mut problems,
                        &format!("data.choices[{n}].name"),
                        &choice["name"],
                        1,
                        100,
                        true,
                    );
                    if choice["value"].is_null() {
                        problems.push(format!("data.choices[{n}].value: required"));
                    }
                }
            }
            _ => problems.push(format!(
                "data.choices: at most 25 choices required, got {}",
                data["choices"]
            )),
        },
        _ => {}
    }
    problems
}

fn check_allowed_mentions(problems: &mut Vec<String>, at: &str, value: &Value) {
    if value.is_null() {
        return;
    }
    if let Some(parse) = value["parse"].as_array() {
        for kind in parse {
            if !matches!(kind.as_str(), Some("users" | "roles" | "everyone")) {
                problems.push(format!("{at}.parse: {kind} is not users, roles or everyone"));
            }
        }
    }
}

/// The parts of a Create Message body the webhook's limits do not cover.
pub fn check_create_message(body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    match &body["nonce"] {
        Value::Null => {}
        Value::Number(n) if n.is_i64() => {}
        Value::String(s) if s.chars().count() <= 25 => {}
        other => problems.push(format!(
            "nonce: must be an int64 or a string of at most 25, got {other}"
        )),
    }
    if !(body["enforce_nonce"].is_null() || body["enforce_nonce"].is_boolean()) {
        problems.push(format!(
            "enforce_nonce: must be a boolean, got {}",
            body["enforce_nonce"]
        ));
    }
    check_allowed_mentions(&mut problems, "allowed_mentions", &body["allowed_mentions"]);
    problems
}

/// A Gateway payload the bot sent (`op` 1, 2 or 6).
pub fn check_gateway_payload(payload: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let d = &payload["d"];
    match payload["op"].as_u64() {
        Some(1) => {
            if !(d.is_null() || d.is_u64()) {
                problems.push(format!("HEARTBEAT d: the last sequence number or null, got {d}"));
            }
        }
        Some(2) => {
            if !d["token"].is_string() {
                problems.push("IDENTIFY d.token: required".to_owned());
            }
            if !d["intents"].is_u64() {
                problems.push(format!(
                    "IDENTIFY d.intents: an integer is required, got {}",
                    d["intents"]
                ));
            }
            for key in ["os", "browser", "device"] {
                if !d["properties"][key].is_string() {
                    problems.push(format!("IDENTIFY d.properties.{key}: required"));
                }
            }
        }
        Some(6) => {
            for key in ["token", "session_id"] {
                if !d[key].is_string() {
                    problems.push(format!("RESUME d.{key}: required"));
                }
            }
            if !d["seq"].is_u64() {
                problems.push(format!("RESUME d.seq: an integer is required, got {}", d["seq"]));
            }
        }
        other => problems.push(format!("the bot sent op {other:?}, which it never needs")),
    }
    problems
}

#[test]
fn the_checks_refuse_what_discord_refuses() {
    use serde_json::json;
    assert!(check_commands(&json!([{"name": "Raffle", "description": "x"}]))[0].contains("lower case"));
    assert!(
        check_commands(&json!([{"name": "raffle", "description": "x", "name_localizations": {"pt": "sorteio"}}]))[0]
            .contains("locales")
    );
    assert!(
        check_commands(&json!([{"name": "raffle", "description": "x", "options": [{"type": 1, "name": "now"}]}]))[0]
            .contains("description")
    );
    assert!(check_commands(&json!([{"name": "raffle", "description": "x"}])).is_empty());
    assert!(!check_callback(&json!({"type": 3})).is_empty());
    assert!(!check_callback(&json!({"type": 8, "data": {}})).is_empty());
    assert!(check_callback(&json!({"type": 5, "data": {"flags": 64}})).is_empty());
    assert!(!check_create_message(&json!({"nonce": "x".repeat(26)})).is_empty());
    assert!(!check_create_message(&json!({"allowed_mentions": {"parse": ["all"]}})).is_empty());
    assert!(!check_gateway_payload(&json!({"op": 2, "d": {"token": "t", "intents": 1, "properties": {}}})).is_empty());
}
