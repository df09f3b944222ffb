//! Discord's limits on a webhook message, as its documentation states them
//! (Developer docs: "Execute Webhook", "Embed Limits"), and a checker for
//! bodies. Test code: the Discord stand-in (`fake_discord.rs`) checks every
//! body it receives with it, and the renderer's unit tests
//! (`src/announce/render.rs`, through `#[path]`) check theirs. The numbers
//! are kept here, apart from the renderer's own, so the renderer is checked
//! against the documentation rather than against itself.
//!
//! Lengths are counted in Unicode scalar values, as Discord counts them.

use serde_json::{Map, Value};

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

/// Length of an optional string at `obj[key]`; a non-string is an error.
fn opt_str_len(obj: &Map<String, Value>, key: &str, path: &str) -> Result<usize, LimitViolation> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => Ok(s.chars().count()),
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
                        Some(Value::String(s)) => s.chars().count(),
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
