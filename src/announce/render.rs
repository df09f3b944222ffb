//! Rendering of announcements for a Discord webhook and for stdout.
//!
//! Pure functions only: no I/O. An [`Announcement`] is rendered at send time,
//! either into a Discord webhook JSON body ([`render_webhook_body`]) or, when
//! no webhook is configured, into one plain text line ([`render_stdout_line`]).
//!
//! # Safety properties of the webhook body
//!
//! * Every piece of user-supplied text (display names, logins, item names,
//!   channel names, notice messages) goes through [`escape_markdown`], which
//!   escapes Discord markdown, replaces control characters by a space and
//!   neutralises mentions by putting a zero-width space (U+200B) after every
//!   `@` and every `<`. The body additionally sets `allowed_mentions.parse`
//!   to `[]`, so even a mention that slipped through would not ping anyone.
//! * Every Discord length limit is enforced by truncating with an ellipsis
//!   (never by failing). The tests check every body against Discord's
//!   documented limits with the checker the Discord stand-in uses
//!   (`tests/it/discord_limits.rs`).
//!
//! # Counting characters
//!
//! Lengths are counted in Unicode scalar values (what [`str::chars`] yields),
//! which is how Discord's API validates its limits. Truncation therefore never
//! splits a UTF-8 sequence; it may split a multi-code-point grapheme (an emoji
//! ZWJ sequence, a base letter and its combining accent), which degrades the
//! glyph but never produces invalid text.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::announcement::{Announcement, ClaimResult};
use crate::catalog::{DiscordText, Language};

/// Maximum characters in the webhook `username` override.
pub(crate) const USERNAME_MAX_CHARS: usize = 80;
/// Maximum characters in an embed title.
pub(crate) const EMBED_TITLE_MAX_CHARS: usize = 256;
/// Maximum characters in an embed description.
pub(crate) const EMBED_DESCRIPTION_MAX_CHARS: usize = 4096;
/// Maximum number of fields in one embed.
pub(crate) const EMBED_MAX_FIELDS: usize = 25;
/// Maximum characters in an embed field name.
pub(crate) const FIELD_NAME_MAX_CHARS: usize = 256;
/// Maximum characters in an embed field value.
pub(crate) const FIELD_VALUE_MAX_CHARS: usize = 1024;
/// Maximum characters in an embed footer text.
pub(crate) const FOOTER_TEXT_MAX_CHARS: usize = 2048;
/// Maximum sum of title, description, field names and values, footer text and
/// author name over all embeds of one message.
pub(crate) const EMBEDS_TOTAL_MAX_CHARS: usize = 6000;
/// Maximum number of embeds in one message.
pub(crate) const MAX_EMBEDS: usize = 10;
/// The `username` the webhook posts as.
pub(crate) const WEBHOOK_USERNAME: &str = "KinoYuBot";
/// The character appended to text that was cut short.
pub(crate) const ELLIPSIS: char = '…';

/// Zero-width space, inserted after `@` and `<` to break mentions.
const ZWSP: char = '\u{200B}';
/// Zero-width joiner; a dangling one is dropped before an ellipsis.
const ZWJ: char = '\u{200D}';

const COLOR_WON: u32 = 0x57_F2_87;
const COLOR_NOTICE: u32 = 0xE6_7E_22;

/// Characters of the short digest shown in the footer and on stdout.
const SHORT_DIGEST_CHARS: usize = 12;
/// Cap for one person's or channel's name inside a composite text.
const NAME_PART_MAX_CHARS: usize = 500;
/// Cap for user text inside a stdout line, so log lines stay readable.
const STDOUT_PART_MAX_CHARS: usize = 200;

/// Replaces control characters (newlines, tabs, C0/C1, U+2028/U+2029) by a
/// single space per run, drops bidirectional override/isolate characters and
/// trims surrounding whitespace.
fn sanitize_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_control_run = false;
    for c in text.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            if !in_control_run {
                out.push(' ');
            }
            in_control_run = true;
            continue;
        }
        in_control_run = false;
        if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            continue;
        }
        out.push(c);
    }
    out.trim().to_owned()
}

/// Escapes Discord markdown and neutralises mentions in user-supplied text.
///
/// * Control characters are replaced by a space (one per run), bidi override
///   characters are dropped and the result is trimmed, so a display name with
///   newlines becomes one line.
/// * `\ * _ ~ ` | > # [ ] ( )` are backslash-escaped everywhere; `-` is
///   escaped when it is the first non-blank character (list / subtext syntax).
/// * A zero-width space (U+200B) is inserted after every `@` (breaking
///   `@everyone`, `@here`) and after every `<` (breaking `<@123>`, `<@!123>`,
///   `<@&123>`, `<#123>`, `</cmd:1>`, `<t:…>`, `<a:emoji:…>`).
///
/// The output never ends in an unpaired backslash, and
/// [`truncate_with_ellipsis`] preserves that property when cutting it.
pub(crate) fn escape_markdown(text: &str) -> String {
    let cleaned = sanitize_plain(text);
    let mut out = String::with_capacity(cleaned.len() + cleaned.len() / 4 + 4);
    let mut at_start = true;
    for c in cleaned.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            '-' if at_start => {
                out.push('\\');
                out.push(c);
            }
            '@' | '<' => {
                out.push(c);
                out.push(ZWSP);
            }
            _ => out.push(c),
        }
        if !c.is_whitespace() {
            at_start = false;
        }
    }
    out
}

/// Cuts `text` to at most `max_chars` characters (Unicode scalar values),
/// ending it with "…" when anything was cut.
///
/// Text that fits is returned unchanged. When cutting, trailing whitespace,
/// zero-width spaces/joiners and an unpaired trailing backslash (half of a
/// markdown escape) are dropped before the ellipsis, so escaped text stays
/// well-formed. Never splits a UTF-8 sequence. `max_chars == 0` yields "".
pub(crate) fn truncate_with_ellipsis(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    let mut kept: String = text.chars().take(max_chars - 1).collect();
    loop {
        let before = kept.len();
        let trimmed = kept
            .trim_end_matches(|c: char| c.is_whitespace() || c == ZWSP || c == ZWJ)
            .len();
        kept.truncate(trimmed);
        let backslashes = kept.chars().rev().take_while(|&c| c == '\\').count();
        if !backslashes.is_multiple_of(2) {
            kept.pop();
        }
        if kept.len() == before {
            break;
        }
    }
    kept.push(ELLIPSIS);
    kept
}

/// Escapes `text` and cuts the escaped form to `max_chars`.
fn escaped(text: &str, max_chars: usize) -> String {
    truncate_with_ellipsis(&escape_markdown(text), max_chars)
}

/// Sanitises (no escaping) and cuts `text`, for stdout.
fn plain(text: &str, max_chars: usize) -> String {
    truncate_with_ellipsis(&sanitize_plain(text), max_chars)
}

fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// Splits `avail` characters fairly between two texts: a text shorter than
/// half keeps its length and the other gets the rest.
fn fit_pair(a: &str, b: &str, avail: usize) -> (String, String) {
    let (la, lb) = (char_len(a), char_len(b));
    if la + lb <= avail {
        return (a.to_owned(), b.to_owned());
    }
    let half = avail / 2;
    let a_alloc = if la <= half {
        la
    } else if lb <= avail - half {
        avail - lb
    } else {
        half
    };
    (
        truncate_with_ellipsis(a, a_alloc),
        truncate_with_ellipsis(b, avail - a_alloc),
    )
}

/// First hex digits of the digest, lower-cased; anything else is ignored.
fn short_digest(digest_hex: &str) -> String {
    digest_hex
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(SHORT_DIGEST_CHARS)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    value: String,
    inline: bool,
}

impl Field {
    fn new(name: String, value: String) -> Self {
        Self {
            name,
            value,
            inline: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Embed {
    title: String,
    description: String,
    color: u32,
    fields: Vec<Field>,
    footer: Option<String>,
    timestamp: Option<String>,
}

/// Non-empty escaped label: "Display (login)" when the login adds
/// information, otherwise whichever of the two is present, else `fallback`.
fn person_label(display: &str, login: &str, fallback: &str) -> String {
    let display = Some(sanitize_plain(display)).filter(|s| !s.is_empty());
    let login = Some(sanitize_plain(login)).filter(|s| !s.is_empty());
    match (display, login) {
        (Some(d), Some(l)) if d.to_lowercase() != l.to_lowercase() => format!(
            "{} ({})",
            escaped(&d, NAME_PART_MAX_CHARS),
            escaped(&l, NAME_PART_MAX_CHARS)
        ),
        (Some(name), _) | (None, Some(name)) => escaped(&name, NAME_PART_MAX_CHARS),
        (None, None) => fallback.to_owned(),
    }
}

/// Escaped short name: display name, else login, else `fallback`.
fn short_name(display: &str, login: &str, fallback: &str) -> String {
    [display, login]
        .into_iter()
        .map(escape_markdown)
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| fallback.to_owned())
}

/// The parts of [`Announcement::Win`] the embed is built from.
struct WinView<'a> {
    raffle_id: i64,
    channel_login: &'a str,
    channel_display_name: &'a str,
    item_name: &'a str,
    winner_display_name: &'a str,
    winner_login: &'a str,
    candidate_count: i64,
    digest_hex: &'a str,
    created_at: &'a DateTime<Utc>,
}

fn win_embed(r: &WinView<'_>, language: Language) -> Embed {
    let say = |text: DiscordText<'_>| language.say(&text);
    let id = r.raffle_id;
    let channel = person_label(
        r.channel_display_name,
        r.channel_login,
        &say(DiscordText::UnknownChannel),
    );
    let digest = short_digest(r.digest_hex);
    let footer = if digest.is_empty() {
        say(DiscordText::FooterRaffle { raffle_id: id })
    } else {
        say(DiscordText::FooterDigest {
            digest: &digest,
            raffle_id: id,
        })
    };
    let someone = say(DiscordText::Someone);
    let winner = short_name(r.winner_display_name, r.winner_login, &someone);
    let item = Some(escape_markdown(r.item_name))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| say(DiscordText::APrize));
    // The title's own words, measured with empty names, leave the rest of
    // the limit to the winner and the item.
    let fixed = char_len(&say(DiscordText::WinTitle { winner: "", item: "" }));
    let (w, i) = fit_pair(&winner, &item, EMBED_TITLE_MAX_CHARS.saturating_sub(fixed));
    Embed {
        title: say(DiscordText::WinTitle { winner: &w, item: &i }),
        description: say(DiscordText::WinDescription {
            candidates: r.candidate_count,
        }),
        color: COLOR_WON,
        fields: vec![
            Field::new(say(DiscordText::FieldChannel), channel),
            Field::new(
                say(DiscordText::FieldItem),
                truncate_with_ellipsis(&item, FIELD_VALUE_MAX_CHARS),
            ),
            Field::new(
                say(DiscordText::FieldWinner),
                person_label(r.winner_display_name, r.winner_login, &someone),
            ),
            Field::new(say(DiscordText::FieldCandidates), language.integer(r.candidate_count)),
            Field::new(say(DiscordText::FieldRaffle), format!("#{id}")),
        ],
        footer: Some(footer),
        timestamp: Some(r.created_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
    }
}

/// The parts of [`Announcement::Claim`] its embed is built from.
struct ClaimView<'a> {
    raffle_id: i64,
    channel_login: &'a str,
    channel_display_name: &'a str,
    item_name: &'a str,
    winner_display_name: &'a str,
    winner_login: &'a str,
    result: ClaimResult,
}

fn claim_embed(c: &ClaimView<'_>, language: Language) -> Embed {
    let say = |text: DiscordText<'_>| language.say(&text);
    let winner = short_name(c.winner_display_name, c.winner_login, &say(DiscordText::Someone));
    let item = Some(escape_markdown(c.item_name))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| say(DiscordText::APrize));
    let claimed = c.result == ClaimResult::Claimed;
    let title = |winner: &str, item: &str| {
        if claimed {
            say(DiscordText::ClaimedTitle { winner, item })
        } else {
            say(DiscordText::UnclaimedTitle { winner, item })
        }
    };
    let (description, color) = match c.result {
        ClaimResult::Claimed => (say(DiscordText::ClaimedDescription), COLOR_WON),
        ClaimResult::Expired {
            redraw_id: Some(redraw_id),
            ..
        } => (say(DiscordText::RedrawnDescription { redraw_id }), COLOR_NOTICE),
        ClaimResult::Expired { redraw_id: None, .. } => (say(DiscordText::ReturnedDescription), COLOR_NOTICE),
    };
    let fixed = char_len(&title("", ""));
    let (w, i) = fit_pair(&winner, &item, EMBED_TITLE_MAX_CHARS.saturating_sub(fixed));
    Embed {
        title: title(&w, &i),
        description,
        color,
        fields: vec![
            Field::new(
                say(DiscordText::FieldChannel),
                person_label(
                    c.channel_display_name,
                    c.channel_login,
                    &say(DiscordText::UnknownChannel),
                ),
            ),
            Field::new(say(DiscordText::FieldRaffle), format!("#{}", c.raffle_id)),
        ],
        footer: None,
        timestamp: None,
    }
}

fn notice_embed(channel_login: &str, message: &str, language: Language) -> Embed {
    let channel = escaped(channel_login, NAME_PART_MAX_CHARS);
    let channel = if channel.is_empty() {
        language.say(&DiscordText::UnknownChannel)
    } else {
        channel
    };
    let message = escape_markdown(message);
    let message = if message.is_empty() {
        language.say(&DiscordText::NoMessage)
    } else {
        message
    };
    Embed {
        title: language.say(&DiscordText::NoticeTitle { channel: &channel }),
        description: message,
        color: COLOR_NOTICE,
        fields: Vec::new(),
        footer: None,
        timestamp: None,
    }
}

/// Water-filling: finds the largest level `L` with `Σ min(len, L) <= budget`
/// and cuts every text longer than `L` down to `L`, so only the longest texts
/// shrink and they shrink to the same length.
fn fit_total_budget(texts: &mut [&mut String], budget: usize) {
    let lens: Vec<usize> = texts.iter().map(|t| char_len(t)).collect();
    if lens.iter().sum::<usize>() <= budget {
        return;
    }
    let (mut lo, mut hi) = (0usize, lens.iter().copied().max().unwrap_or(0));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if lens.iter().map(|&l| l.min(mid)).sum::<usize>() <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    for (text, &len) in texts.iter_mut().zip(&lens) {
        if len > lo {
            **text = truncate_with_ellipsis(text, lo);
        }
    }
}

/// Applies every per-text, per-embed and per-message limit by truncation.
fn clamp_embeds(embeds: &mut Vec<Embed>) {
    embeds.truncate(MAX_EMBEDS);
    for e in embeds.iter_mut() {
        e.title = truncate_with_ellipsis(&e.title, EMBED_TITLE_MAX_CHARS);
        e.description = truncate_with_ellipsis(&e.description, EMBED_DESCRIPTION_MAX_CHARS);
        e.fields.truncate(EMBED_MAX_FIELDS);
        for f in &mut e.fields {
            f.name = truncate_with_ellipsis(&f.name, FIELD_NAME_MAX_CHARS);
            f.value = truncate_with_ellipsis(&f.value, FIELD_VALUE_MAX_CHARS);
        }
        if let Some(footer) = e.footer.as_mut() {
            *footer = truncate_with_ellipsis(footer, FOOTER_TEXT_MAX_CHARS);
        }
    }
    let mut texts: Vec<&mut String> = Vec::new();
    for e in embeds.iter_mut() {
        texts.push(&mut e.title);
        texts.push(&mut e.description);
        for f in &mut e.fields {
            texts.push(&mut f.name);
            texts.push(&mut f.value);
        }
        if let Some(footer) = e.footer.as_mut() {
            texts.push(footer);
        }
    }
    fit_total_budget(&mut texts, EMBEDS_TOTAL_MAX_CHARS);
}

fn embed_to_json(e: &Embed) -> Value {
    let mut obj = Map::new();
    obj.insert("title".into(), json!(e.title));
    obj.insert("description".into(), json!(e.description));
    obj.insert("color".into(), json!(e.color));
    let fields: Vec<Value> = e
        .fields
        .iter()
        .map(|f| json!({"name": f.name, "value": f.value, "inline": f.inline}))
        .collect();
    obj.insert("fields".into(), Value::Array(fields));
    if let Some(text) = &e.footer {
        obj.insert("footer".into(), json!({ "text": text }));
    }
    if let Some(ts) = &e.timestamp {
        obj.insert("timestamp".into(), json!(ts));
    }
    Value::Object(obj)
}

/// Makes the first embed's title a link to `url` (a raffle's public page,
/// `PUBLIC_URL/raffles/{id}`): Discord shows the title as a link, and a
/// link in a title mentions nobody.
pub(crate) fn link_embed(body: &mut Value, url: &str) {
    if let Some(embed) = body
        .get_mut("embeds")
        .and_then(Value::as_array_mut)
        .and_then(|embeds| embeds.first_mut())
        .and_then(Value::as_object_mut)
    {
        embed.insert("url".into(), json!(url));
    }
}

/// Renders the JSON body to POST to a Discord webhook.
///
/// Shape: `{"username": "KinoYuBot", "allowed_mentions": {"parse": []},
/// "embeds": [{title, description, color, fields, footer?, timestamp?}]}`;
/// `content` is omitted. All user text is escaped with [`escape_markdown`]
/// and every limit is enforced by truncation. The words are `language`'s
/// (the channel's, see `crate::channel::ChannelLanguages`).
pub(crate) fn render_webhook_body(a: &Announcement, language: Language) -> Value {
    let embed = match a {
        Announcement::Win {
            raffle_id,
            channel_login,
            channel_display_name,
            item_name,
            winner_display_name,
            winner_login,
            candidate_count,
            digest_hex,
            created_at,
        } => win_embed(
            &WinView {
                raffle_id: *raffle_id,
                channel_login,
                channel_display_name,
                item_name,
                winner_display_name,
                winner_login,
                candidate_count: *candidate_count,
                digest_hex,
                created_at,
            },
            language,
        ),
        Announcement::Claim {
            raffle_id,
            channel_login,
            channel_display_name,
            item_name,
            winner_display_name,
            winner_login,
            result,
        } => claim_embed(
            &ClaimView {
                raffle_id: *raffle_id,
                channel_login,
                channel_display_name,
                item_name,
                winner_display_name,
                winner_login,
                result: *result,
            },
            language,
        ),
        Announcement::Notice { channel_login, message } => notice_embed(channel_login, message, language),
    };
    let mut embeds = vec![embed];
    clamp_embeds(&mut embeds);
    json!({
        "username": truncate_with_ellipsis(WEBHOOK_USERNAME, USERNAME_MAX_CHARS),
        "allowed_mentions": { "parse": [] },
        "embeds": embeds.iter().map(embed_to_json).collect::<Vec<_>>(),
    })
}

/// Renders the JSON body of Create Message for the bot (SPEC §12): the
/// webhook body's embeds and `allowed_mentions` (no `username`: a bot
/// posts under its own name), plus `nonce` = the outbox row id with
/// `enforce_nonce: true`, so Discord answers a retry of the same row within
/// its nonce window with the message it already created instead of a new one.
pub(crate) fn render_channel_message_body(a: &Announcement, language: Language, outbox_id: i64) -> Value {
    let mut body = render_webhook_body(a, language);
    if let Some(object) = body.as_object_mut() {
        object.remove("username");
        // A string: Discord's nonces are integers or strings of at most 25
        // characters, and an i64 in decimal has at most 20.
        object.insert("nonce".into(), Value::String(outbox_id.to_string()));
        object.insert("enforce_nonce".into(), Value::Bool(true));
    }
    body
}

/// One readable plain-text line for when no webhook is configured, e.g.
/// `[raffle #42] #somestreamer: Viewer won Steam key (37 candidates, digest 9f2c1a3b4d5e…)`.
///
/// Control characters are replaced by spaces and each user text is capped at
/// 200 characters; no markdown escaping is applied.
pub(crate) fn render_stdout_line(a: &Announcement, language: Language) -> String {
    match a {
        Announcement::Win {
            raffle_id,
            channel_login,
            item_name,
            winner_display_name,
            winner_login,
            candidate_count,
            digest_hex,
            ..
        } => {
            let winner = [winner_display_name, winner_login]
                .into_iter()
                .map(|s| plain(s, STDOUT_PART_MAX_CHARS))
                .find(|s| !s.is_empty())
                .unwrap_or_else(|| language.say(&DiscordText::Someone));
            let item = Some(plain(item_name, STDOUT_PART_MAX_CHARS))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| language.say(&DiscordText::APrize));
            language.say(&DiscordText::PrintedWin {
                raffle_id: *raffle_id,
                channel: &plain(channel_login, STDOUT_PART_MAX_CHARS),
                winner: &winner,
                item: &item,
                candidates: *candidate_count,
                digest: &short_digest(digest_hex),
            })
        }
        Announcement::Claim {
            raffle_id,
            channel_login,
            item_name,
            winner_display_name,
            winner_login,
            result,
            ..
        } => {
            let winner = [winner_display_name, winner_login]
                .into_iter()
                .map(|s| plain(s, STDOUT_PART_MAX_CHARS))
                .find(|s| !s.is_empty())
                .unwrap_or_else(|| language.say(&DiscordText::Someone));
            let expired = match result {
                ClaimResult::Claimed => None,
                ClaimResult::Expired { redraw_id, .. } => Some(*redraw_id),
            };
            language.say(&DiscordText::PrintedClaim {
                raffle_id: *raffle_id,
                channel: &plain(channel_login, STDOUT_PART_MAX_CHARS),
                winner: &winner,
                item: &plain(item_name, STDOUT_PART_MAX_CHARS),
                expired,
            })
        }
        Announcement::Notice { channel_login, message } => language.say(&DiscordText::PrintedNotice {
            channel: &plain(channel_login, STDOUT_PART_MAX_CHARS),
            message: &plain(message, 1000),
        }),
    }
}

// Discord's documented limits as the Discord stand-in checks them, shared
// with the integration tests so both check against the same reading of
// Discord's documentation rather than against this renderer's constants.
#[cfg(test)]
#[path = "../../tests/it/discord_limits.rs"]
mod discord_limits;

#[cfg(test)]
mod tests {
    use super::discord_limits::check_limits;
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn win(item: &str, winner: &str) -> Announcement {
        Announcement::Win {
            raffle_id: 42,
            channel_login: "somestreamer".into(),
            channel_display_name: "SomeStreamer".into(),
            item_name: item.into(),
            winner_display_name: winner.into(),
            winner_login: "viewer".into(),
            candidate_count: 37,
            digest_hex: "9f2c1a3b4d5e6f708192a3b4c5d6e7f8".into(),
            created_at: at("2025-03-01T20:15:00Z"),
        }
    }

    #[test]
    fn channel_message_body_has_the_webhook_embeds_and_an_enforced_nonce() {
        let announcement = win("Steam key", "@everyone");
        let body = render_channel_message_body(&announcement, Language::PtBr, 9_000_000_000);
        let webhook = render_webhook_body(&announcement, Language::PtBr);
        assert_eq!(body["embeds"], webhook["embeds"]);
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
        assert_eq!(body["nonce"], json!("9000000000"));
        assert_eq!(body["enforce_nonce"], json!(true));
        assert!(body.get("username").is_none(), "{body}");
        assert!(body["nonce"].as_str().is_some_and(|n| n.len() <= 25));
        assert_eq!(check_limits(&body), Ok(()));
    }

    fn embed(body: &Value) -> &Value {
        &body["embeds"][0]
    }

    fn field<'v>(body: &'v Value, name: &str) -> Option<&'v str> {
        embed(body)["fields"].as_array()?.iter().find(|f| f["name"] == name)?["value"].as_str()
    }

    fn all_strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| all_strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| all_strings(x, out)),
            _ => {}
        }
    }

    fn ends_with_unpaired_backslash(s: &str) -> bool {
        !s.chars().rev().take_while(|&c| c == '\\').count().is_multiple_of(2)
    }

    fn hostile_strings() -> Vec<String> {
        let mut v: Vec<String> = [
            "@everyone",
            "@here",
            "<@&123>",
            "<@123>",
            "<@!123>",
            "<#1>",
            "</cmd:1>",
            "**bold** __u__ ||spoiler|| `code` > quote # heading [link](http://x)",
            "line one\nline two\r\n@everyone\ttab",
            "👨‍👩‍👧‍👦 family 🏳️‍🌈",
            "e\u{301}te\u{301} cafe\u{301}",
            "- list\n# heading\n> quote",
            "\u{202E}reversed\u{202C}",
            "",
            "   ",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        v.push("N".repeat(300));
        v.push("I".repeat(5000));
        v.push("C".repeat(100));
        v.push("\\".repeat(3001));
        v.push("*".repeat(3001));
        v.push("@everyone ".repeat(700));
        v.push("<@123>".repeat(700));
        v.push("👍🏽e\u{301}".repeat(2000));
        v
    }

    fn hostile_announcements(h: &str) -> Vec<Announcement> {
        vec![
            Announcement::Win {
                raffle_id: 7,
                channel_login: h.into(),
                channel_display_name: h.into(),
                item_name: h.into(),
                winner_display_name: h.into(),
                winner_login: format!("{h}x"),
                candidate_count: 3,
                digest_hex: h.into(),
                created_at: at("2025-03-01T20:15:00Z"),
            },
            Announcement::Notice {
                channel_login: h.into(),
                message: h.into(),
            },
            Announcement::Claim {
                raffle_id: 7,
                channel_login: h.into(),
                channel_display_name: h.into(),
                item_name: h.into(),
                winner_display_name: h.into(),
                winner_login: format!("{h}x"),
                result: ClaimResult::Claimed,
            },
            Announcement::Claim {
                raffle_id: 7,
                channel_login: h.into(),
                channel_display_name: h.into(),
                item_name: h.into(),
                winner_display_name: h.into(),
                winner_login: format!("{h}x"),
                result: ClaimResult::Expired {
                    redraw_id: Some(8),
                    returned_to_stock: false,
                },
            },
        ]
    }

    #[test]
    fn ordinary_win_renders_exactly_the_golden_body() {
        let body = render_webhook_body(&win("Steam key", "Viewer"), Language::En);
        let expected = json!({
            "username": "KinoYuBot",
            "allowed_mentions": { "parse": [] },
            "embeds": [{
                "title": "🎉 Viewer won Steam key!",
                "description": "Congratulations! Drawn at random from 37 candidates.",
                "color": 0x57F287,
                "fields": [
                    { "name": "Channel", "value": "SomeStreamer", "inline": true },
                    { "name": "Item", "value": "Steam key", "inline": true },
                    { "name": "Winner", "value": "Viewer", "inline": true },
                    { "name": "Candidates", "value": "37", "inline": true },
                    { "name": "Raffle", "value": "#42", "inline": true }
                ],
                "footer": { "text": "digest 9f2c1a3b4d5e · verify with kinoyubot verify 42" },
                "timestamp": "2025-03-01T20:15:00Z"
            }]
        });
        assert_eq!(body, expected);
        assert_eq!(check_limits(&body), Ok(()));
    }

    #[test]
    fn a_win_in_portuguese_renders_exactly_the_golden_body() {
        let mut a = win("Chave Steam", "Espectadora");
        if let Announcement::Win { candidate_count, .. } = &mut a {
            *candidate_count = 1234;
        }
        let body = render_webhook_body(&a, Language::PtBr);
        let expected = json!({
            "username": "KinoYuBot",
            "allowed_mentions": { "parse": [] },
            "embeds": [{
                "title": "🎉 Espectadora ganhou Chave Steam!",
                "description": "Parabéns! Sorteado ao acaso entre 1.234 candidatos.",
                "color": 0x57F287,
                "fields": [
                    { "name": "Canal", "value": "SomeStreamer", "inline": true },
                    { "name": "Prêmio", "value": "Chave Steam", "inline": true },
                    { "name": "Ganhador", "value": "Espectadora (viewer)", "inline": true },
                    { "name": "Candidatos", "value": "1.234", "inline": true },
                    { "name": "Sorteio", "value": "#42", "inline": true }
                ],
                "footer": { "text": "resumo 9f2c1a3b4d5e · confira com kinoyubot verify 42" },
                "timestamp": "2025-03-01T20:15:00Z"
            }]
        });
        assert_eq!(body, expected);
        assert_eq!(check_limits(&body), Ok(()));
    }

    #[test]
    fn a_notice_and_fallbacks_in_portuguese_use_portuguese_words() {
        let notice = Announcement::Notice {
            channel_login: String::new(),
            message: String::new(),
        };
        let body = render_webhook_body(&notice, Language::PtBr);
        assert_eq!(embed(&body)["title"], "⚠️ Aviso para canal desconhecido");
        assert_eq!(embed(&body)["description"], "(sem mensagem)");
        let mut nameless = win(" ", "\n");
        if let Announcement::Win { winner_login, .. } = &mut nameless {
            winner_login.clear();
        }
        let body = render_webhook_body(&nameless, Language::PtBr);
        assert_eq!(embed(&body)["title"], "🎉 Alguém ganhou um prêmio!");
        assert_eq!(
            render_stdout_line(&win("Caneca", "Viewer"), Language::PtBr),
            "[sorteio #42] #somestreamer: Viewer ganhou Caneca (37 candidatos, resumo 9f2c1a3b4d5e…)"
        );
    }

    #[test]
    fn a_long_portuguese_title_still_fits_the_limit() {
        let body = render_webhook_body(&win(&"I".repeat(5000), &"N".repeat(300)), Language::PtBr);
        let title = embed(&body)["title"].as_str().unwrap_or_default();
        assert_eq!(title.chars().count(), EMBED_TITLE_MAX_CHARS);
        assert!(title.contains("… ganhou I"), "{title}");
        assert!(title.ends_with("I…!"), "{title}");
        assert_eq!(check_limits(&body), Ok(()));
    }

    #[test]
    fn every_hostile_input_yields_a_body_without_live_mentions_and_within_limits() {
        for h in hostile_strings() {
            for (a, language) in hostile_announcements(&h)
                .into_iter()
                .flat_map(|a| Language::ALL.map(|l| (a.clone(), l)))
            {
                let body = render_webhook_body(&a, language);
                let text = serde_json::to_string(&body).unwrap_or_default();
                let short: String = h.chars().take(40).collect();
                assert!(!text.contains("@everyone"), "@everyone survived {short:?}");
                assert!(!text.contains("@here"), "@here survived {short:?}");
                assert!(!text.contains("<@"), "<@ survived {short:?}");
                assert!(!text.contains("<#"), "<# survived {short:?}");
                assert!(!text.contains("</"), "</ survived {short:?}");
                assert_eq!(body["allowed_mentions"]["parse"], json!([]));
                assert_eq!(check_limits(&body), Ok(()), "limits broken by {short:?}");
                let mut strings = Vec::new();
                all_strings(&body, &mut strings);
                for s in strings {
                    assert!(!ends_with_unpaired_backslash(&s), "dangling \\ in {s:?}");
                    assert!(!s.contains('\n') && !s.contains('\r'), "newline in {s:?}");
                    assert!(!s.contains('\u{202E}'), "bidi override in {s:?}");
                }
            }
        }
    }

    #[test]
    fn markdown_in_names_is_escaped_in_title_and_fields() {
        let hostile = "**bold** __u__ ||spoiler|| `code` > quote # heading [link](http://x)";
        let body = render_webhook_body(&win(hostile, hostile), Language::En);
        let escaped = r"\*\*bold\*\* \_\_u\_\_ \|\|spoiler\|\| \`code\` \> quote \# heading \[link\]\(http://x\)";
        assert_eq!(field(&body, "Item"), Some(escaped));
        assert_eq!(
            embed(&body)["title"].as_str(),
            Some(format!("🎉 {escaped} won {escaped}!").as_str())
        );
    }

    #[test]
    fn five_thousand_char_item_is_cut_with_ellipsis_in_title_and_item_field() {
        let body = render_webhook_body(&win(&"I".repeat(5000), "Viewer"), Language::En);
        let title = embed(&body)["title"].as_str().unwrap_or_default();
        assert_eq!(title.chars().count(), EMBED_TITLE_MAX_CHARS);
        assert!(title.starts_with("🎉 Viewer won III"));
        assert!(title.ends_with("I…!"));
        let item = field(&body, "Item").unwrap_or_default();
        assert_eq!(item.chars().count(), FIELD_VALUE_MAX_CHARS);
        assert!(item.ends_with('…'));
        assert_eq!(check_limits(&body), Ok(()));
    }

    #[test]
    fn three_hundred_char_display_name_fits_title_and_winner_field() {
        let name = "N".repeat(300);
        let body = render_webhook_body(&win("Steam key", &name), Language::En);
        let title = embed(&body)["title"].as_str().unwrap_or_default();
        assert!(title.chars().count() <= EMBED_TITLE_MAX_CHARS);
        assert!(title.ends_with("N… won Steam key!"), "{title}");
        let winner = field(&body, "Winner").unwrap_or_default();
        assert_eq!(winner, format!("{name} (viewer)"));
        assert_eq!(check_limits(&body), Ok(()));
    }

    #[test]
    fn hundred_char_channel_name_is_kept_whole_in_channel_field() {
        let a = Announcement::Win {
            raffle_id: 1,
            channel_login: "c".repeat(100),
            channel_display_name: "C".repeat(100),
            item_name: "x".into(),
            winner_display_name: "w".into(),
            winner_login: String::new(),
            candidate_count: 1,
            digest_hex: "ab".into(),
            created_at: at("2025-03-01T20:15:00Z"),
        };
        let body = render_webhook_body(&a, Language::En);
        assert_eq!(field(&body, "Channel"), Some("C".repeat(100).as_str()));
        assert_eq!(
            embed(&body)["description"],
            "Congratulations! Drawn at random from 1 candidate."
        );
    }

    #[test]
    fn newlines_in_display_name_become_single_spaces() {
        let body = render_webhook_body(&win("Steam\nkey", "Vie\r\nwer\n"), Language::En);
        assert_eq!(embed(&body)["title"], "🎉 Vie wer won Steam key!");
    }

    #[test]
    fn escape_markdown_escapes_every_markdown_character() {
        for c in ['\\', '*', '_', '~', '`', '|', '>', '#', '[', ']', '(', ')'] {
            assert_eq!(escape_markdown(&format!("a{c}b")), format!("a\\{c}b"));
        }
        assert_eq!(escape_markdown("- item"), "\\- item");
        assert_eq!(escape_markdown("a-b"), "a-b");
    }

    #[test]
    fn escape_markdown_breaks_everyone_and_here_with_zero_width_space() {
        assert_eq!(escape_markdown("@everyone"), "@\u{200B}everyone");
        assert_eq!(escape_markdown("hi @here"), "hi @\u{200B}here");
    }

    #[test]
    fn escape_markdown_breaks_user_role_channel_and_command_mentions() {
        for m in ["<@123>", "<@!123>", "<@&123>", "<#123>", "</cmd:1>", "<t:1:R>"] {
            let out = escape_markdown(m);
            assert!(out.starts_with("<\u{200B}"), "{m} -> {out:?}");
            assert!(!out.contains("<@") && !out.contains("<#") && !out.contains("</"));
        }
    }

    #[test]
    fn escape_markdown_replaces_control_runs_with_one_space_and_trims() {
        assert_eq!(escape_markdown("\n a\r\n\tb\u{7}c\u{2028}d \n"), "a b c d");
        assert_eq!(escape_markdown("\u{202E}abc\u{2069}"), "abc");
    }

    #[test]
    fn escape_markdown_keeps_emoji_and_combining_characters_intact() {
        let s = "👨‍👩‍👧‍👦 e\u{301}";
        assert_eq!(escape_markdown(s), s);
    }

    #[test]
    fn truncate_returns_fitting_text_unchanged() {
        assert_eq!(truncate_with_ellipsis("abc", 3), "abc");
        assert_eq!(truncate_with_ellipsis("", 0), "");
        assert_eq!(truncate_with_ellipsis("éé", 2), "éé");
    }

    #[test]
    fn truncate_cuts_to_max_chars_ending_with_ellipsis() {
        assert_eq!(truncate_with_ellipsis("abcdef", 4), "abc…");
        assert_eq!(truncate_with_ellipsis("abcdef", 1), "…");
        assert_eq!(truncate_with_ellipsis("abcdef", 0), "");
        assert_eq!(truncate_with_ellipsis("ab  cdef", 4), "ab…");
    }

    #[test]
    fn truncate_drops_half_an_escape_but_keeps_an_escaped_backslash() {
        assert_eq!(truncate_with_ellipsis(r"ab\*cd", 4), "ab…");
        assert_eq!(truncate_with_ellipsis(r"ab\\cd", 5), r"ab\\…");
    }

    #[test]
    fn truncating_escaped_text_at_any_length_never_panics_or_dangles_a_backslash() {
        let raw = "👨‍👩‍👧‍👦 e\u{301} \\*_@everyone <@1> \\\\ **x** 日本語 ||y||";
        let esc = escape_markdown(raw);
        for max in 0..=esc.chars().count() + 2 {
            let out = truncate_with_ellipsis(&esc, max);
            assert!(out.chars().count() <= max);
            assert!(!ends_with_unpaired_backslash(&out), "{max}: {out:?}");
            if out != esc && max > 0 {
                assert!(out.ends_with('…'));
            }
        }
    }

    #[test]
    fn total_budget_shrinks_only_the_longest_texts() {
        let mut e = Embed {
            title: "t".repeat(200),
            description: "d".repeat(4000),
            color: 0,
            fields: (0..3)
                .map(|i| Field::new(format!("f{i}"), "v".repeat(1000)))
                .chain([Field::new("short".into(), "s".repeat(10))])
                .collect(),
            footer: Some("f".repeat(100)),
            timestamp: None,
        };
        e.fields.push(Field::new("mid".into(), "m".repeat(900)));
        let mut embeds = vec![e];
        clamp_embeds(&mut embeds);
        let e = &embeds[0];
        let total = e.title.chars().count()
            + e.description.chars().count()
            + e.footer.as_deref().map_or(0, |f| f.chars().count())
            + e.fields
                .iter()
                .map(|f| f.name.chars().count() + f.value.chars().count())
                .sum::<usize>();
        assert!(total <= EMBEDS_TOTAL_MAX_CHARS, "{total}");
        assert_eq!(e.title, "t".repeat(200));
        assert_eq!(e.fields[3].value, "s".repeat(10));
        assert!(e.description.ends_with('…'));
        // 8224 chars before clamping; only the 4000-char description is above
        // the water level, so it alone shrinks, to exactly the remaining budget.
        assert_eq!(e.description.chars().count(), 1776);
        assert_eq!(e.fields[0].value, "v".repeat(1000));
        assert_eq!(e.fields[4].value, "m".repeat(900));
        assert_eq!(total, EMBEDS_TOTAL_MAX_CHARS);
        let body = json!({
            "allowed_mentions": { "parse": [] },
            "embeds": [embed_to_json(e)],
        });
        assert_eq!(check_limits(&body), Ok(()));
    }

    #[test]
    fn total_budget_levels_equally_long_texts_down_together() {
        let (mut a, mut b, mut c) = ("a".repeat(3000), "b".repeat(3000), "c".repeat(500));
        fit_total_budget(&mut [&mut a, &mut b, &mut c], 4000);
        assert_eq!(a.chars().count(), 1750);
        assert_eq!(b.chars().count(), 1750);
        assert!(a.ends_with('…') && b.ends_with('…'));
        assert_eq!(c, "c".repeat(500));
    }

    #[test]
    fn win_without_item_or_winner_names_uses_fallback_wording() {
        let mut nameless = win(" ", "\n");
        if let Announcement::Win { winner_login, .. } = &mut nameless {
            winner_login.clear();
        }
        let body = render_webhook_body(&nameless, Language::En);
        assert_eq!(embed(&body)["title"], "🎉 Someone won a prize!");
        assert_eq!(field(&body, "Winner"), Some("Someone"));
    }

    #[test]
    fn winner_field_adds_login_only_when_it_differs_from_display_name() {
        let a = Announcement::Win {
            raffle_id: 1,
            channel_login: "chan".into(),
            channel_display_name: "ちゃんねる".into(),
            item_name: "x".into(),
            winner_display_name: "Cool_Guy".into(),
            winner_login: "some_login".into(),
            candidate_count: 2,
            digest_hex: String::new(),
            created_at: at("2025-03-01T20:15:00Z"),
        };
        let body = render_webhook_body(&a, Language::En);
        assert_eq!(field(&body, "Winner"), Some(r"Cool\_Guy (some\_login)"));
        assert_eq!(field(&body, "Channel"), Some("ちゃんねる (chan)"));
        assert_eq!(embed(&body)["footer"]["text"], "raffle #1");
    }

    #[test]
    fn notice_renders_a_plain_escaped_embed() {
        let a = Announcement::Notice {
            channel_login: "some_streamer".into(),
            message: "needs re-authorisation\n@everyone".into(),
        };
        let body = render_webhook_body(&a, Language::En);
        let expected = json!({
            "username": "KinoYuBot",
            "allowed_mentions": { "parse": [] },
            "embeds": [{
                "title": "⚠️ Notice for some\\_streamer",
                "description": "needs re-authorisation @\u{200B}everyone",
                "color": 0xE67E22,
                "fields": []
            }]
        });
        assert_eq!(body, expected);
        assert_eq!(check_limits(&body), Ok(()));
    }

    #[test]
    fn stdout_line_for_a_win_names_winner_item_count_and_digest() {
        assert_eq!(
            render_stdout_line(&win("Steam key", "Viewer"), Language::En),
            "[raffle #42] #somestreamer: Viewer won Steam key (37 candidates, digest 9f2c1a3b4d5e…)"
        );
    }

    #[test]
    fn stdout_line_for_a_notice_names_the_channel() {
        let notice = Announcement::Notice {
            channel_login: "somestreamer".into(),
            message: "needs re-authorisation".into(),
        };
        assert_eq!(
            render_stdout_line(&notice, Language::En),
            "[notice] #somestreamer: needs re-authorisation"
        );
    }

    #[test]
    fn stdout_line_removes_control_characters_without_escaping() {
        let line = render_stdout_line(&win("**key**\n\u{1b}[31m", "Vie\r\nwer"), Language::En);
        assert_eq!(
            line,
            "[raffle #42] #somestreamer: Vie wer won **key** [31m (37 candidates, digest 9f2c1a3b4d5e…)"
        );
        assert!(!line.chars().any(char::is_control));
    }
}
