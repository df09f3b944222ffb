//! Text from servers we do not control, cleaned and bounded at the edge
//! (issue 12 item 1). Pure.
//!
//! Twitch sets IRC tags and writes its error messages itself, but the bot
//! must survive a hostile or broken server anyway. PostgreSQL rejects a NUL
//! byte in `text` (and `\u0000` in `jsonb`), and a btree index refuses a key
//! over about 2.7 KB; both would make a whole batch fail on every retry. So
//! everything stored from outside goes through one of these first:
//!
//! - [`clean_name`] for display names (shown on the dashboard, in Discord,
//!   in the log): control characters, Unicode bidi controls and zero-width
//!   characters are removed, whitespace runs become one space, and the
//!   result is capped at [`MAX_NAME_CHARS`].
//! - [`clean_line`] for what a server says in an error (Twitch's refusal
//!   message): the same, with a longer cap.
//! - [`oauth_scope`] for granted scopes: visible ASCII only.
//! - [`strip_nul_json`] for JSON stored as `jsonb` (outbox payloads).
//! - [`twitch_id`] for user and room ids: Twitch ids are decimal numbers;
//!   anything else is refused (the caller drops the event, since an id is a
//!   key and cannot be repaired).

/// Longest display name kept, in characters. Twitch allows 25; localized
/// names are longer in bytes but not in characters.
pub(crate) const MAX_NAME_CHARS: usize = 64;
/// Longest Twitch id accepted, in digits (today's ids have at most 10).
pub(crate) const MAX_ID_DIGITS: usize = 20;
/// Longest OAuth scope accepted (Twitch's longest is about 40).
pub(crate) const MAX_SCOPE_CHARS: usize = 100;

/// Whether `c` is invisible formatting that can disguise a name: bidi
/// embeddings, overrides, isolates and marks, zero-width spaces, joiners
/// and the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// A display name fit to store and show: no control, bidi or zero-width
/// characters, single spaces, trimmed, at most [`MAX_NAME_CHARS`]
/// characters. May be empty (callers fall back to the login).
pub(crate) fn clean_name(input: &str) -> String {
    clean_line(input, MAX_NAME_CHARS)
}

/// One line of text fit to store and log, as [`clean_name`] but capped at
/// `max_chars` characters: for what a server says in an error (Twitch's
/// refusal `message`), which ends up in notices and log lines.
pub(crate) fn clean_line(input: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(input.len().min(max_chars.saturating_mul(4)));
    let mut kept = 0usize;
    let mut pending_space = false;
    for c in input.chars() {
        if kept >= max_chars {
            break;
        }
        if c.is_whitespace() || c.is_control() {
            // A control character between two words should not glue them.
            pending_space = !out.is_empty();
            continue;
        }
        if is_invisible_format(c) {
            continue;
        }
        if pending_space {
            out.push(' ');
            kept += 1;
            pending_space = false;
            if kept >= max_chars {
                break;
            }
        }
        out.push(c);
        kept += 1;
    }
    out
}

/// `input` if it can be an OAuth scope (`chat:read`, `moderator:read:chatters`):
/// 1 to [`MAX_SCOPE_CHARS`] visible ASCII characters.
pub(crate) fn oauth_scope(input: &str) -> Option<&str> {
    (!input.is_empty() && input.len() <= MAX_SCOPE_CHARS && input.bytes().all(|b| b.is_ascii_graphic()))
        .then_some(input)
}

/// Removes NUL characters from every string in a JSON value: PostgreSQL's
/// `jsonb` refuses `\u0000` (SQLSTATE 22P05), which would make the row
/// fail to store on every try.
pub(crate) fn strip_nul_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => {
            if text.contains('\0') {
                text.retain(|c| c != '\0');
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nul_json),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(strip_nul_json),
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {}
    }
}

/// `input` if it is a Twitch id: 1 to [`MAX_ID_DIGITS`] ASCII digits.
pub(crate) fn twitch_id(input: &str) -> Option<&str> {
    (!input.is_empty() && input.len() <= MAX_ID_DIGITS && input.bytes().all(|b| b.is_ascii_digit())).then_some(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_nul_controls_bidi_and_zero_width_characters() {
        assert_eq!(clean_name("Ki\0no\u{1}Yu"), "Ki no Yu");
        assert_eq!(clean_name("\u{202E}evil\u{202C}"), "evil");
        assert_eq!(clean_name("a\u{200B}d\u{200D}m\u{2060}i\u{FEFF}n"), "admin");
        assert_eq!(clean_name("\u{2066}x\u{2069} \t\r\n y "), "x y");
        assert_eq!(clean_name("테스트계정420"), "테스트계정420");
        assert_eq!(clean_name("Riot Games"), "Riot Games");
        assert_eq!(clean_name("\0\u{200B}"), "");
    }

    #[test]
    fn names_are_capped_in_characters_not_bytes() {
        let long = "é".repeat(60_000);
        let cleaned = clean_name(&long);
        assert_eq!(cleaned.chars().count(), MAX_NAME_CHARS);
        assert_eq!(cleaned.len(), MAX_NAME_CHARS * 2);
        let spaced = "a ".repeat(100);
        assert_eq!(clean_name(&spaced).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn lines_lose_controls_and_are_capped() {
        assert_eq!(
            clean_line("400 Invalid\0 refresh\r\ntoken", 100),
            "400 Invalid refresh token"
        );
        assert_eq!(clean_line(&"x".repeat(10), 4), "xxxx");
    }

    #[test]
    fn scopes_are_visible_ascii_of_sane_length() {
        assert_eq!(oauth_scope("moderator:read:chatters"), Some("moderator:read:chatters"));
        assert_eq!(oauth_scope("chat:\0read"), None);
        assert_eq!(oauth_scope("chat read"), None);
        assert_eq!(oauth_scope(""), None);
        assert_eq!(oauth_scope(&"a".repeat(MAX_SCOPE_CHARS + 1)), None);
    }

    #[test]
    fn nul_is_stripped_from_every_json_string() {
        let mut value = serde_json::json!({"kind": "notice", "message": "a\u{0}b", "list": ["\u{0}", 1, null]});
        strip_nul_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"kind": "notice", "message": "ab", "list": ["", 1, null]})
        );
    }

    #[test]
    fn only_decimal_ids_of_sane_length_are_twitch_ids() {
        assert_eq!(twitch_id("29803735"), Some("29803735"));
        assert_eq!(twitch_id(""), None);
        assert_eq!(twitch_id("12\u{0}3"), None);
        assert_eq!(twitch_id("abc"), None);
        assert_eq!(twitch_id("-1"), None);
        assert_eq!(twitch_id(&"1".repeat(MAX_ID_DIGITS)).map(str::len), Some(MAX_ID_DIGITS));
        assert_eq!(twitch_id(&"1".repeat(3000)), None);
        assert_eq!(twitch_id("١٢٣"), None, "non-ASCII digits");
    }
}
