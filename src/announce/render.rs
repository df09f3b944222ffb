//! Rendering of raffle announcements for a Discord webhook and for stdout.
//!
//! Pure functions only: no I/O. An [`Announcement`] is stored (as jsonb) in an
//! outbox and rendered at send time, either into a Discord webhook JSON body
//! ([`render_webhook_body`]) or, when no webhook is configured, into one plain
//! text line ([`render_stdout_line`]).
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
//!   (never by failing); [`check_limits`] validates a body against the same
//!   limits.
//!
//! # Counting characters
//!
//! Lengths are counted in Unicode scalar values (what [`str::chars`] yields),
//! which is how Discord's API validates its limits. Truncation therefore never
//! splits a UTF-8 sequence; it may split a multi-code-point grapheme (an emoji
//! ZWJ sequence, a base letter and its combining accent), which degrades the
//! glyph but never produces invalid text.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Maximum characters in a message's `content`.
pub const CONTENT_MAX_CHARS: usize = 2000;
/// Maximum characters in the webhook `username` override.
pub const USERNAME_MAX_CHARS: usize = 80;
/// Maximum characters in an embed title.
pub const EMBED_TITLE_MAX_CHARS: usize = 256;
/// Maximum characters in an embed description.
pub const EMBED_DESCRIPTION_MAX_CHARS: usize = 4096;
/// Maximum number of fields in one embed.
pub const EMBED_MAX_FIELDS: usize = 25;
/// Maximum characters in an embed field name.
pub const FIELD_NAME_MAX_CHARS: usize = 256;
/// Maximum characters in an embed field value.
pub const FIELD_VALUE_MAX_CHARS: usize = 1024;
/// Maximum characters in an embed footer text.
pub const FOOTER_TEXT_MAX_CHARS: usize = 2048;
/// Maximum characters in an embed author name.
pub const AUTHOR_NAME_MAX_CHARS: usize = 256;
/// Maximum sum of title, description, field names and values, footer text and
/// author name over all embeds of one message.
pub const EMBEDS_TOTAL_MAX_CHARS: usize = 6000;
/// Maximum number of embeds in one message.
pub const MAX_EMBEDS: usize = 10;
/// The `username` the webhook posts as.
pub const WEBHOOK_USERNAME: &str = "KinoYuBot";
/// The character appended to text that was cut short.
pub const ELLIPSIS: char = '…';

/// Zero-width space, inserted after `@` and `<` to break mentions.
const ZWSP: char = '\u{200B}';
/// Zero-width joiner; a dangling one is dropped before an ellipsis.
const ZWJ: char = '\u{200D}';

const COLOR_WON: u32 = 0x57_F2_87;
const COLOR_NO_PRIZE: u32 = 0xFE_E7_5C;
const COLOR_NEUTRAL: u32 = 0x95_A5_A6;
const COLOR_NOTICE: u32 = 0xE6_7E_22;

/// Characters of the short digest shown in the footer and on stdout.
const SHORT_DIGEST_CHARS: usize = 12;
/// Cap for one person's or channel's name inside a composite text.
const NAME_PART_MAX_CHARS: usize = 500;
/// Cap for user text inside a stdout line, so log lines stay readable.
const STDOUT_PART_MAX_CHARS: usize = 200;

/// Something to announce; stored as jsonb in the outbox and rendered at send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Announcement {
    /// The result of one raffle draw.
    RaffleResult {
        /// Raffle id, as used by `kinoyubot verify <id>`.
        raffle_id: i64,
        /// Twitch login of the channel the raffle ran in.
        channel_login: String,
        /// Twitch display name of that channel.
        channel_display_name: String,
        /// One of `"won"`, `"no_prize"`, `"no_candidates"`, `"skipped_offline"`;
        /// anything else is rendered with a generic wording.
        outcome: String,
        /// Name of the prize, if one was drawn.
        item_name: Option<String>,
        /// Twitch display name of the winner, if any.
        winner_display_name: Option<String>,
        /// Twitch login of the winner, if any.
        winner_login: Option<String>,
        /// How many candidates took part in the draw.
        candidate_count: i64,
        /// Hex digest of the draw's commitment, for verification.
        digest_hex: String,
        /// When the result was recorded, RFC 3339.
        created_at: String,
    },
    /// An operational notice about a channel (e.g. "needs re-authorisation").
    Notice {
        /// Twitch login of the channel concerned.
        channel_login: String,
        /// Human-readable message.
        message: String,
    },
}

/// Why a webhook body breaks one of Discord's limits; see [`check_limits`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitViolation {
    /// A text is longer than its limit.
    #[error("{field} is {len} characters long, limit is {max}")]
    TooLong {
        /// JSON path of the text, e.g. `embeds[0].title`.
        field: String,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An array has more entries than allowed.
    #[error("{field} has {count} entries, limit is {max}")]
    TooMany {
        /// JSON path of the array, e.g. `embeds[0].fields`.
        field: String,
        /// Number of entries.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The embed texts together are longer than [`EMBEDS_TOTAL_MAX_CHARS`].
    #[error("embed texts total {total} characters, limit is {max}")]
    TotalTooLong {
        /// Sum of all counted embed texts.
        total: usize,
        /// The limit.
        max: usize,
    },
    /// `allowed_mentions.parse` is missing or not an empty array.
    #[error("allowed_mentions.parse must be an empty array: {reason}")]
    MentionsNotDisabled {
        /// What was found instead.
        reason: String,
    },
    /// A value has the wrong JSON type.
    #[error("{field} must be {expected}")]
    WrongType {
        /// JSON path of the value.
        field: String,
        /// The expected JSON type.
        expected: &'static str,
    },
    /// A text that Discord requires to be non-empty is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// JSON path of the text.
        field: String,
    },
    /// The body has neither a non-empty `content` nor any embed.
    #[error("body has neither content nor embeds")]
    NothingToSend,
}

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
pub fn escape_markdown(text: &str) -> String {
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
pub fn truncate_with_ellipsis(text: &str, max_chars: usize) -> String {
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

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// True for `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, the RFC 3339 shape
/// Discord accepts for an embed timestamp.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, to: usize| -> Option<u32> {
        let part = b.get(from..to)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    let date_time_ok = digits(0, 4).is_some()
        && at(4, b"-")
        && digits(5, 7).is_some_and(|m| (1..=12).contains(&m))
        && at(7, b"-")
        && digits(8, 10).is_some_and(|d| (1..=31).contains(&d))
        && at(10, b"Tt")
        && digits(11, 13).is_some_and(|h| h <= 23)
        && at(13, b":")
        && digits(14, 16).is_some_and(|m| m <= 59)
        && at(16, b":")
        && digits(17, 19).is_some_and(|s| s <= 60);
    if !date_time_ok {
        return false;
    }
    let mut i = 19;
    if at(i, b".") {
        let frac = b
            .get(i + 1..)
            .unwrap_or(&[])
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if frac == 0 {
            return false;
        }
        i += 1 + frac;
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && digits(i + 1, i + 3).is_some_and(|h| h <= 23)
                && at(i + 3, b":")
                && digits(i + 4, i + 6).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    value: String,
    inline: bool,
}

impl Field {
    fn new(name: &str, value: String) -> Self {
        Self {
            name: name.to_owned(),
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
fn person_label(display: Option<&str>, login: Option<&str>, fallback: &str) -> String {
    let display = display.map(sanitize_plain).filter(|s| !s.is_empty());
    let login = login.map(sanitize_plain).filter(|s| !s.is_empty());
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
fn short_name(display: Option<&str>, login: Option<&str>, fallback: &str) -> String {
    [display, login]
        .into_iter()
        .flatten()
        .map(escape_markdown)
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| fallback.to_owned())
}

struct RaffleView<'a> {
    raffle_id: i64,
    channel_login: &'a str,
    channel_display_name: &'a str,
    outcome: &'a str,
    item_name: Option<&'a str>,
    winner_display_name: Option<&'a str>,
    winner_login: Option<&'a str>,
    candidate_count: i64,
    digest_hex: &'a str,
    created_at: &'a str,
}

fn raffle_embed(r: &RaffleView<'_>) -> Embed {
    let id = r.raffle_id;
    let channel = person_label(Some(r.channel_display_name), Some(r.channel_login), "unknown channel");
    let digest = short_digest(r.digest_hex);
    let footer = if digest.is_empty() {
        format!("raffle #{id}")
    } else {
        format!("digest {digest} · verify with kinoyubot verify {id}")
    };
    let timestamp = is_rfc3339(r.created_at).then(|| r.created_at.to_owned());
    let candidates = plural(r.candidate_count, "candidate", "candidates");
    let channel_field = Field::new("Channel", channel);
    let raffle_field = Field::new("Raffle", format!("#{id}"));
    let count_field = Field::new("Candidates", r.candidate_count.to_string());

    let (title, description, color, fields) = match r.outcome {
        "won" => {
            let winner = short_name(r.winner_display_name, r.winner_login, "Someone");
            let item = r
                .item_name
                .map(escape_markdown)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "a prize".to_owned());
            let (prefix, middle, suffix) = ("🎉 ", " won ", "!");
            let fixed = char_len(prefix) + char_len(middle) + char_len(suffix);
            let (w, i) = fit_pair(&winner, &item, EMBED_TITLE_MAX_CHARS - fixed);
            let winner_field = person_label(r.winner_display_name, r.winner_login, "Someone");
            (
                format!("{prefix}{w}{middle}{i}{suffix}"),
                format!("Congratulations! Drawn at random from {candidates}."),
                COLOR_WON,
                vec![
                    channel_field,
                    Field::new("Item", truncate_with_ellipsis(&item, FIELD_VALUE_MAX_CHARS)),
                    Field::new("Winner", winner_field),
                    count_field,
                    raffle_field,
                ],
            )
        }
        "no_prize" => (
            format!("Raffle #{id}: no prize awarded"),
            format!("There was no prize left to give away, so no winner was drawn from {candidates}."),
            COLOR_NO_PRIZE,
            vec![channel_field, count_field, raffle_field],
        ),
        "no_candidates" => (
            format!("Raffle #{id}: no candidates"),
            "Nobody was eligible for this raffle, so no winner was drawn.".to_owned(),
            COLOR_NEUTRAL,
            vec![channel_field, raffle_field],
        ),
        "skipped_offline" => (
            format!("Raffle #{id} skipped"),
            "The stream was offline when the raffle was due, so it was skipped.".to_owned(),
            COLOR_NEUTRAL,
            vec![channel_field, raffle_field],
        ),
        other => (
            format!("Raffle #{id} finished"),
            format!("Outcome: {}", escaped(other, 100)),
            COLOR_NEUTRAL,
            vec![channel_field, count_field, raffle_field],
        ),
    };
    Embed {
        title,
        description,
        color,
        fields,
        footer: Some(footer),
        timestamp,
    }
}

fn notice_embed(channel_login: &str, message: &str) -> Embed {
    let channel = escaped(channel_login, NAME_PART_MAX_CHARS);
    let channel = if channel.is_empty() {
        "unknown channel".to_owned()
    } else {
        channel
    };
    let message = escape_markdown(message);
    let message = if message.is_empty() {
        "(no message)".to_owned()
    } else {
        message
    };
    Embed {
        title: format!("⚠️ Notice for {channel}"),
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

/// Renders the JSON body to POST to a Discord webhook.
///
/// Shape: `{"username": "KinoYuBot", "allowed_mentions": {"parse": []},
/// "embeds": [{title, description, color, fields, footer?, timestamp?}]}`;
/// `content` is omitted. All user text is escaped with [`escape_markdown`]
/// and every limit is enforced by truncation, so the result always passes
/// [`check_limits`]. An invalid `created_at` omits the timestamp rather than
/// making Discord reject the message.
pub fn render_webhook_body(a: &Announcement) -> Value {
    let embed = match a {
        Announcement::RaffleResult {
            raffle_id,
            channel_login,
            channel_display_name,
            outcome,
            item_name,
            winner_display_name,
            winner_login,
            candidate_count,
            digest_hex,
            created_at,
        } => raffle_embed(&RaffleView {
            raffle_id: *raffle_id,
            channel_login,
            channel_display_name,
            outcome,
            item_name: item_name.as_deref(),
            winner_display_name: winner_display_name.as_deref(),
            winner_login: winner_login.as_deref(),
            candidate_count: *candidate_count,
            digest_hex,
            created_at,
        }),
        Announcement::Notice { channel_login, message } => notice_embed(channel_login, message),
    };
    let mut embeds = vec![embed];
    clamp_embeds(&mut embeds);
    json!({
        "username": truncate_with_ellipsis(WEBHOOK_USERNAME, USERNAME_MAX_CHARS),
        "allowed_mentions": { "parse": [] },
        "embeds": embeds.iter().map(embed_to_json).collect::<Vec<_>>(),
    })
}

/// Length of an optional string at `obj[key]`; a non-string is an error.
fn opt_str_len(obj: &Map<String, Value>, key: &str, path: &str) -> Result<usize, LimitViolation> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => Ok(char_len(s)),
        Some(_) => Err(LimitViolation::WrongType {
            field: path.to_owned(),
            expected: "a string",
        }),
    }
}

fn within(len: usize, max: usize, path: &str) -> Result<(), LimitViolation> {
    if len > max {
        return Err(LimitViolation::TooLong {
            field: path.to_owned(),
            len,
            max,
        });
    }
    Ok(())
}

fn as_object<'v>(v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, LimitViolation> {
    v.as_object().ok_or_else(|| LimitViolation::WrongType {
        field: path.to_owned(),
        expected: "an object",
    })
}

/// Checks one embed's limits and returns its counted text total.
fn check_embed(embed: &Value, path: &str) -> Result<usize, LimitViolation> {
    let e = as_object(embed, path)?;
    let title = opt_str_len(e, "title", &format!("{path}.title"))?;
    within(title, EMBED_TITLE_MAX_CHARS, &format!("{path}.title"))?;
    let desc = opt_str_len(e, "description", &format!("{path}.description"))?;
    within(desc, EMBED_DESCRIPTION_MAX_CHARS, &format!("{path}.description"))?;
    let mut total = title + desc;
    match e.get("fields") {
        None | Some(Value::Null) => {}
        Some(Value::Array(fields)) => {
            if fields.len() > EMBED_MAX_FIELDS {
                return Err(LimitViolation::TooMany {
                    field: format!("{path}.fields"),
                    count: fields.len(),
                    max: EMBED_MAX_FIELDS,
                });
            }
            for (i, f) in fields.iter().enumerate() {
                let fpath = format!("{path}.fields[{i}]");
                let f = as_object(f, &fpath)?;
                for (key, max) in [("name", FIELD_NAME_MAX_CHARS), ("value", FIELD_VALUE_MAX_CHARS)] {
                    let kpath = format!("{fpath}.{key}");
                    let len = match f.get(key) {
                        Some(Value::String(s)) => char_len(s),
                        _ => {
                            return Err(LimitViolation::WrongType {
                                field: kpath,
                                expected: "a string",
                            });
                        }
                    };
                    if len == 0 {
                        return Err(LimitViolation::Empty { field: kpath });
                    }
                    within(len, max, &kpath)?;
                    total += len;
                }
            }
        }
        Some(_) => {
            return Err(LimitViolation::WrongType {
                field: format!("{path}.fields"),
                expected: "an array",
            });
        }
    }
    for (key, inner, max) in [
        ("footer", "text", FOOTER_TEXT_MAX_CHARS),
        ("author", "name", AUTHOR_NAME_MAX_CHARS),
    ] {
        if let Some(v) = e.get(key).filter(|v| !v.is_null()) {
            let opath = format!("{path}.{key}");
            let obj = as_object(v, &opath)?;
            let ipath = format!("{opath}.{inner}");
            let len = opt_str_len(obj, inner, &ipath)?;
            within(len, max, &ipath)?;
            total += len;
        }
    }
    Ok(total)
}

/// Validates a webhook body against Discord's limits (see the `*_MAX_*`
/// constants) and requires `allowed_mentions.parse` to be an empty array.
///
/// Also rejects empty field names/values, wrong JSON types and a body with
/// neither content nor embeds. Returns the first violation found.
pub fn check_limits(body: &Value) -> Result<(), LimitViolation> {
    let root = as_object(body, "body")?;
    match root.get("allowed_mentions").and_then(|m| m.get("parse")) {
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(other) => {
            return Err(LimitViolation::MentionsNotDisabled {
                reason: format!("found {other}"),
            });
        }
        None => {
            return Err(LimitViolation::MentionsNotDisabled {
                reason: "missing".to_owned(),
            });
        }
    }
    within(
        opt_str_len(root, "username", "username")?,
        USERNAME_MAX_CHARS,
        "username",
    )?;
    let content = opt_str_len(root, "content", "content")?;
    within(content, CONTENT_MAX_CHARS, "content")?;
    let embeds: &[Value] = match root.get("embeds") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(LimitViolation::WrongType {
                field: "embeds".to_owned(),
                expected: "an array",
            });
        }
    };
    if embeds.len() > MAX_EMBEDS {
        return Err(LimitViolation::TooMany {
            field: "embeds".to_owned(),
            count: embeds.len(),
            max: MAX_EMBEDS,
        });
    }
    if content == 0 && embeds.is_empty() {
        return Err(LimitViolation::NothingToSend);
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        total += check_embed(e, &format!("embeds[{i}]"))?;
    }
    if total > EMBEDS_TOTAL_MAX_CHARS {
        return Err(LimitViolation::TotalTooLong {
            total,
            max: EMBEDS_TOTAL_MAX_CHARS,
        });
    }
    Ok(())
}

/// One readable plain-text line for when no webhook is configured, e.g.
/// `[raffle #42] #somestreamer: Viewer won Steam key (37 candidates, digest 9f2c1a3b4d5e…)`.
///
/// Control characters are replaced by spaces and each user text is capped at
/// 200 characters; no markdown escaping is applied.
pub fn render_stdout_line(a: &Announcement) -> String {
    match a {
        Announcement::RaffleResult {
            raffle_id,
            channel_login,
            outcome,
            item_name,
            winner_display_name,
            winner_login,
            candidate_count,
            digest_hex,
            ..
        } => {
            let channel = plain(channel_login, STDOUT_PART_MAX_CHARS);
            let digest = short_digest(digest_hex);
            let digest_part = (!digest.is_empty()).then(|| format!("digest {digest}{ELLIPSIS}"));
            let count_part = plural(*candidate_count, "candidate", "candidates");
            let details = |with_count: bool| {
                let parts: Vec<String> = with_count
                    .then(|| count_part.clone())
                    .into_iter()
                    .chain(digest_part.clone())
                    .collect();
                if parts.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", parts.join(", "))
                }
            };
            let body = match outcome.as_str() {
                "won" => {
                    let winner = [winner_display_name.as_deref(), winner_login.as_deref()]
                        .into_iter()
                        .flatten()
                        .map(|s| plain(s, STDOUT_PART_MAX_CHARS))
                        .find(|s| !s.is_empty())
                        .unwrap_or_else(|| "Someone".to_owned());
                    let item = item_name
                        .as_deref()
                        .map(|s| plain(s, STDOUT_PART_MAX_CHARS))
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "a prize".to_owned());
                    format!("{winner} won {item}{}", details(true))
                }
                "no_prize" => format!("no prize to award{}", details(true)),
                "no_candidates" => format!("no candidates entered{}", details(false)),
                "skipped_offline" => "skipped, stream offline".to_owned(),
                other => format!(
                    "finished with outcome {}{}",
                    plain(other, STDOUT_PART_MAX_CHARS),
                    details(true)
                ),
            };
            format!("[raffle #{raffle_id}] #{channel}: {body}")
        }
        Announcement::Notice { channel_login, message } => format!(
            "[notice] #{}: {}",
            plain(channel_login, STDOUT_PART_MAX_CHARS),
            plain(message, 1000)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(item: &str, winner: &str) -> Announcement {
        Announcement::RaffleResult {
            raffle_id: 42,
            channel_login: "somestreamer".into(),
            channel_display_name: "SomeStreamer".into(),
            outcome: "won".into(),
            item_name: Some(item.into()),
            winner_display_name: Some(winner.into()),
            winner_login: Some("viewer".into()),
            candidate_count: 37,
            digest_hex: "9f2c1a3b4d5e6f708192a3b4c5d6e7f8".into(),
            created_at: "2025-03-01T20:15:00Z".into(),
        }
    }

    fn with_outcome(outcome: &str) -> Announcement {
        match win("Steam key", "Viewer") {
            Announcement::RaffleResult {
                raffle_id,
                channel_login,
                channel_display_name,
                candidate_count,
                digest_hex,
                created_at,
                ..
            } => Announcement::RaffleResult {
                raffle_id,
                channel_login,
                channel_display_name,
                outcome: outcome.into(),
                item_name: None,
                winner_display_name: None,
                winner_login: None,
                candidate_count,
                digest_hex,
                created_at,
            },
            notice => notice,
        }
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
        let raffle = |outcome: &str| Announcement::RaffleResult {
            raffle_id: 7,
            channel_login: h.into(),
            channel_display_name: h.into(),
            outcome: outcome.into(),
            item_name: Some(h.into()),
            winner_display_name: Some(h.into()),
            winner_login: Some(format!("{h}x")),
            candidate_count: 3,
            digest_hex: h.into(),
            created_at: h.into(),
        };
        vec![
            raffle("won"),
            raffle("no_prize"),
            raffle("no_candidates"),
            raffle("skipped_offline"),
            raffle(h),
            Announcement::Notice {
                channel_login: h.into(),
                message: h.into(),
            },
        ]
    }

    #[test]
    fn ordinary_win_renders_exactly_the_golden_body() {
        let body = render_webhook_body(&win("Steam key", "Viewer"));
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
    fn every_hostile_input_yields_a_body_without_live_mentions_and_within_limits() {
        for h in hostile_strings() {
            for a in hostile_announcements(&h) {
                let body = render_webhook_body(&a);
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
        let body = render_webhook_body(&win(hostile, hostile));
        let escaped = r"\*\*bold\*\* \_\_u\_\_ \|\|spoiler\|\| \`code\` \> quote \# heading \[link\]\(http://x\)";
        assert_eq!(field(&body, "Item"), Some(escaped));
        assert_eq!(
            embed(&body)["title"].as_str(),
            Some(format!("🎉 {escaped} won {escaped}!").as_str())
        );
    }

    #[test]
    fn five_thousand_char_item_is_cut_with_ellipsis_in_title_and_item_field() {
        let body = render_webhook_body(&win(&"I".repeat(5000), "Viewer"));
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
        let body = render_webhook_body(&win("Steam key", &name));
        let title = embed(&body)["title"].as_str().unwrap_or_default();
        assert!(title.chars().count() <= EMBED_TITLE_MAX_CHARS);
        assert!(title.ends_with("N… won Steam key!"), "{title}");
        let winner = field(&body, "Winner").unwrap_or_default();
        assert_eq!(winner, format!("{name} (viewer)"));
        assert_eq!(check_limits(&body), Ok(()));
    }

    #[test]
    fn hundred_char_channel_name_is_kept_whole_in_channel_field() {
        let a = Announcement::RaffleResult {
            raffle_id: 1,
            channel_login: "c".repeat(100),
            channel_display_name: "C".repeat(100),
            outcome: "won".into(),
            item_name: Some("x".into()),
            winner_display_name: Some("w".into()),
            winner_login: None,
            candidate_count: 1,
            digest_hex: "ab".into(),
            created_at: "2025-03-01T20:15:00Z".into(),
        };
        let body = render_webhook_body(&a);
        assert_eq!(field(&body, "Channel"), Some("C".repeat(100).as_str()));
        assert_eq!(
            embed(&body)["description"],
            "Congratulations! Drawn at random from 1 candidate."
        );
    }

    #[test]
    fn newlines_in_display_name_become_single_spaces() {
        let body = render_webhook_body(&win("Steam\nkey", "Vie\r\nwer\n"));
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
                .map(|i| Field::new(&format!("f{i}"), "v".repeat(1000)))
                .chain([Field::new("short", "s".repeat(10))])
                .collect(),
            footer: Some("f".repeat(100)),
            timestamp: None,
        };
        e.fields.push(Field::new("mid", "m".repeat(900)));
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
    fn no_prize_outcome_says_no_prize_was_awarded() {
        let body = render_webhook_body(&with_outcome("no_prize"));
        assert_eq!(embed(&body)["title"], "Raffle #42: no prize awarded");
        assert_eq!(
            embed(&body)["description"],
            "There was no prize left to give away, so no winner was drawn from 37 candidates."
        );
        assert_eq!(field(&body, "Candidates"), Some("37"));
        assert_eq!(field(&body, "Winner"), None);
        assert_eq!(check_limits(&body), Ok(()));
    }

    #[test]
    fn no_candidates_outcome_says_nobody_was_eligible() {
        let body = render_webhook_body(&with_outcome("no_candidates"));
        assert_eq!(embed(&body)["title"], "Raffle #42: no candidates");
        assert_eq!(
            embed(&body)["description"],
            "Nobody was eligible for this raffle, so no winner was drawn."
        );
        assert_eq!(field(&body, "Channel"), Some("SomeStreamer"));
    }

    #[test]
    fn skipped_offline_outcome_says_the_stream_was_offline() {
        let body = render_webhook_body(&with_outcome("skipped_offline"));
        assert_eq!(embed(&body)["title"], "Raffle #42 skipped");
        assert_eq!(
            embed(&body)["description"],
            "The stream was offline when the raffle was due, so it was skipped."
        );
    }

    #[test]
    fn unknown_outcome_is_shown_escaped_with_generic_wording() {
        let body = render_webhook_body(&with_outcome("weird_*"));
        assert_eq!(embed(&body)["title"], "Raffle #42 finished");
        assert_eq!(embed(&body)["description"], "Outcome: weird\\_\\*");
    }

    #[test]
    fn win_without_item_or_winner_names_uses_fallback_wording() {
        let body = render_webhook_body(&with_outcome("won"));
        assert_eq!(embed(&body)["title"], "🎉 Someone won a prize!");
        assert_eq!(field(&body, "Winner"), Some("Someone"));
    }

    #[test]
    fn winner_field_adds_login_only_when_it_differs_from_display_name() {
        let a = Announcement::RaffleResult {
            raffle_id: 1,
            channel_login: "chan".into(),
            channel_display_name: "ちゃんねる".into(),
            outcome: "won".into(),
            item_name: Some("x".into()),
            winner_display_name: Some("Cool_Guy".into()),
            winner_login: Some("some_login".into()),
            candidate_count: 2,
            digest_hex: String::new(),
            created_at: String::new(),
        };
        let body = render_webhook_body(&a);
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
        let body = render_webhook_body(&a);
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
    fn invalid_created_at_omits_timestamp_and_valid_forms_are_kept() {
        for ok in [
            "2025-03-01T20:15:00Z",
            "2025-03-01T20:15:00.123456+09:00",
            "2025-12-31t23:59:60-05:30",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "yesterday",
            "2025-03-01 20:15:00Z",
            "2025-13-01T20:15:00Z",
            "2025-03-01T20:15:00",
            "2025-03-01T20:15:00.Z",
            "2025-03-01T20:15:00+0900",
            "2025-03-01T20:15:00Zjunk",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
        let mut a = win("x", "y");
        if let Announcement::RaffleResult { created_at, .. } = &mut a {
            *created_at = "not a time".into();
        }
        assert!(embed(&render_webhook_body(&a)).get("timestamp").is_none());
    }

    #[test]
    fn check_limits_rejects_an_over_long_title() {
        let body = json!({
            "allowed_mentions": { "parse": [] },
            "embeds": [{ "title": "t".repeat(257) }]
        });
        assert_eq!(
            check_limits(&body),
            Err(LimitViolation::TooLong {
                field: "embeds[0].title".into(),
                len: 257,
                max: EMBED_TITLE_MAX_CHARS
            })
        );
    }

    #[test]
    fn check_limits_rejects_missing_or_non_empty_allowed_mentions() {
        let missing = json!({ "content": "hi" });
        assert!(matches!(
            check_limits(&missing),
            Err(LimitViolation::MentionsNotDisabled { .. })
        ));
        let no_parse = json!({ "content": "hi", "allowed_mentions": {} });
        assert!(matches!(
            check_limits(&no_parse),
            Err(LimitViolation::MentionsNotDisabled { .. })
        ));
        let everyone = json!({ "content": "hi", "allowed_mentions": { "parse": ["everyone"] } });
        assert!(matches!(
            check_limits(&everyone),
            Err(LimitViolation::MentionsNotDisabled { .. })
        ));
    }

    #[test]
    fn check_limits_rejects_each_other_limit() {
        let base = |extra: Value| {
            let mut b = json!({ "allowed_mentions": { "parse": [] }, "content": "x" });
            if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
                b.extend(extra.clone());
            }
            b
        };
        let field = |n: usize, v: usize| json!({ "name": "n".repeat(n), "value": "v".repeat(v) });
        let cases = [
            (json!({ "content": "c".repeat(2001) }), "content"),
            (json!({ "username": "u".repeat(81) }), "username"),
            (json!({ "embeds": vec![json!({"title": "t"}); 11] }), "embeds"),
            (
                json!({ "embeds": [{ "description": "d".repeat(4097) }] }),
                "embeds[0].description",
            ),
            (
                json!({ "embeds": [{ "fields": vec![field(1, 1); 26] }] }),
                "embeds[0].fields",
            ),
            (
                json!({ "embeds": [{ "fields": [field(257, 1)] }] }),
                "embeds[0].fields[0].name",
            ),
            (
                json!({ "embeds": [{ "fields": [field(1, 1025)] }] }),
                "embeds[0].fields[0].value",
            ),
            (
                json!({ "embeds": [{ "fields": [field(1, 0)] }] }),
                "embeds[0].fields[0].value",
            ),
            (
                json!({ "embeds": [{ "footer": { "text": "f".repeat(2049) } }] }),
                "embeds[0].footer.text",
            ),
            (
                json!({ "embeds": [{ "author": { "name": "a".repeat(257) } }] }),
                "embeds[0].author.name",
            ),
            (json!({ "embeds": [{ "title": 5 }] }), "embeds[0].title"),
        ];
        for (extra, path) in cases {
            let err = check_limits(&base(extra));
            let named = match &err {
                Err(
                    LimitViolation::TooLong { field, .. }
                    | LimitViolation::TooMany { field, .. }
                    | LimitViolation::WrongType { field, .. }
                    | LimitViolation::Empty { field },
                ) => field.clone(),
                other => format!("{other:?}"),
            };
            assert_eq!(named, path);
        }
        let over_total = base(json!({ "embeds": [
            { "description": "d".repeat(4000) },
            { "description": "d".repeat(2001) }
        ] }));
        assert_eq!(
            check_limits(&over_total),
            Err(LimitViolation::TotalTooLong { total: 6001, max: 6000 })
        );
        let empty = json!({ "allowed_mentions": { "parse": [] } });
        assert_eq!(check_limits(&empty), Err(LimitViolation::NothingToSend));
    }

    #[test]
    fn limit_violation_message_names_field_and_length() {
        let v = LimitViolation::TooLong {
            field: "embeds[0].title".into(),
            len: 300,
            max: 256,
        };
        assert_eq!(v.to_string(), "embeds[0].title is 300 characters long, limit is 256");
    }

    #[test]
    fn stdout_line_for_a_win_names_winner_item_count_and_digest() {
        assert_eq!(
            render_stdout_line(&win("Steam key", "Viewer")),
            "[raffle #42] #somestreamer: Viewer won Steam key (37 candidates, digest 9f2c1a3b4d5e…)"
        );
    }

    #[test]
    fn stdout_line_for_each_other_outcome_and_notice_has_its_own_wording() {
        assert_eq!(
            render_stdout_line(&with_outcome("no_prize")),
            "[raffle #42] #somestreamer: no prize to award (37 candidates, digest 9f2c1a3b4d5e…)"
        );
        assert_eq!(
            render_stdout_line(&with_outcome("no_candidates")),
            "[raffle #42] #somestreamer: no candidates entered (digest 9f2c1a3b4d5e…)"
        );
        assert_eq!(
            render_stdout_line(&with_outcome("skipped_offline")),
            "[raffle #42] #somestreamer: skipped, stream offline"
        );
        let notice = Announcement::Notice {
            channel_login: "somestreamer".into(),
            message: "needs re-authorisation".into(),
        };
        assert_eq!(
            render_stdout_line(&notice),
            "[notice] #somestreamer: needs re-authorisation"
        );
    }

    #[test]
    fn stdout_line_removes_control_characters_without_escaping() {
        let line = render_stdout_line(&win("**key**\n\u{1b}[31m", "Vie\r\nwer"));
        assert_eq!(
            line,
            "[raffle #42] #somestreamer: Vie wer won **key** [31m (37 candidates, digest 9f2c1a3b4d5e…)"
        );
        assert!(!line.chars().any(char::is_control));
    }

    #[test]
    fn announcement_serialises_with_snake_case_kind_tag_and_round_trips() {
        let a = win("Steam key", "Viewer");
        let v = serde_json::to_value(&a).unwrap_or_default();
        assert_eq!(v["kind"], "raffle_result");
        assert_eq!(v["item_name"], "Steam key");
        assert_eq!(serde_json::from_value::<Announcement>(v).ok(), Some(a));
        let n = json!({ "kind": "notice", "channel_login": "c", "message": "m" });
        assert_eq!(
            serde_json::from_value::<Announcement>(n).ok(),
            Some(Announcement::Notice {
                channel_login: "c".into(),
                message: "m".into()
            })
        );
    }
}
