//! The prize table: parsing, validating and rendering the items file.
//!
//! This module owns the *configured* prizes: their names, their fixed
//! per-raffle probabilities and their optional initial stock, as written in
//! the items TOML file. It is pure: the file is read by
//! `crate::config::load_items`, which hands its text to [`ItemsFile::parse`]. Remaining stock at draw time
//! lives in the database and is the concern of [`super::draw`].
//!
//! File format:
//!
//! ```toml
//! [[items]]
//! name = "Steam key"
//! probability = 0.05   # fixed chance per raffle, in (0, 1]
//! stock = 3            # optional; absent = unlimited; whole number >= 0
//! ```

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Maximum number of items an items file may define.
pub(crate) const MAX_ITEMS: usize = 1000;

/// Maximum length of an item name, in characters (after trimming).
pub(crate) const MAX_NAME_CHARS: usize = 100;

/// Tolerance allowed above 1.0 for the sum of all probabilities, to absorb
/// floating point rounding in hand-written decimal fractions.
pub(crate) const SUM_TOLERANCE: f64 = 1e-9;

/// A probability that is finite and lies in the half-open interval (0, 1].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Probability(f64);

/// Why a number was rejected as a [`Probability`].
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum ProbabilityError {
    /// The value is NaN, infinite, zero or below, or above one.
    #[error("probability {0:?} is not in (0, 1]")]
    OutOfRange(f64),
    /// A value above one that reads as a percentage (`probability = 5`).
    #[error("probability {value:?} is not in (0, 1]; write {fraction} for {value} %")]
    Percentage {
        /// The value as written.
        value: f64,
        /// The same chance as a fraction (`value / 100`).
        fraction: f64,
    },
}

impl Probability {
    /// Validates `value`: it must be finite, greater than 0 and at most 1.
    pub(crate) fn new(value: f64) -> Result<Self, ProbabilityError> {
        if value.is_finite() && value > 0.0 && value <= 1.0 {
            Ok(Self(value))
        } else if value > 1.0 && value <= 100.0 {
            Err(ProbabilityError::Percentage {
                value,
                fraction: value / 100.0,
            })
        } else {
            Err(ProbabilityError::OutOfRange(value))
        }
    }

    /// The probability as a plain `f64` in (0, 1].
    pub fn get(self) -> f64 {
        self.0
    }
}

/// One validated prize from the items file.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Display name, trimmed, non-empty, at most `MAX_NAME_CHARS` characters,
    /// unique within its table (case-insensitively).
    pub name: String,
    /// Fixed chance of this item being drawn in one raffle.
    pub probability: Probability,
    /// Initial stock as configured; `None` means unlimited.
    pub(crate) stock: Option<u32>,
}

/// What is wrong with a single item (see [`ItemsError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ItemProblem {
    /// The probability is not a valid [`Probability`].
    #[error(transparent)]
    Probability(#[from] ProbabilityError),
    /// The probability is not a number at all (e.g. a string).
    #[error("probability must be a number, got {0}")]
    ProbabilityNotNumber(String),
    /// The probability is a string that reads as a number or percentage
    /// (`"5%"`, `"0,05"`).
    #[error("probability must be a number, got the string {written:?}; write {fraction} (without quotes)")]
    ProbabilityQuoted {
        /// The string as written.
        written: String,
        /// The number it most likely means, as a fraction.
        fraction: f64,
    },
    /// The name is empty or only whitespace.
    #[error("name is empty")]
    EmptyName,
    /// The name is longer than `MAX_NAME_CHARS` characters.
    #[error("name is {0} characters long, at most {MAX_NAME_CHARS} allowed")]
    NameTooLong(usize),
    /// The name holds a control character (a NUL byte cannot even be
    /// stored by PostgreSQL; the others have no place in a prize's name).
    #[error("name has the control character U+{:04X} at position {position}", u32::from(*.character))]
    ControlCharacter {
        /// 1-based character position in the trimmed name.
        position: usize,
        /// The character at fault.
        character: char,
    },
    /// Another item already has this name (compared case-insensitively).
    #[error("duplicate name (same as item {first_index} \"{first_name}\")")]
    DuplicateName {
        /// 1-based index of the earlier item with the same name.
        first_index: usize,
        /// Name of the earlier item as written.
        first_name: String,
    },
    /// The stock is not a whole number from 0 to 2147483647.
    #[error("stock must be a whole number from 0 to 2147483647, got {0}")]
    BadStock(String),
}

/// Everything that can go wrong loading an items file. Every variant names
/// the file; item-level problems also name the item.
#[derive(Debug, Error)]
pub enum ItemsError {
    /// The file could not be read.
    #[error("{path}: cannot read items file: {source}")]
    Read {
        /// Path as given for messages.
        path: String,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or does not have the expected shape
    /// (unknown keys, missing fields, wrong types).
    #[error("{path}:{}{message}{}", line_prefix(*.line), hint_suffix(.hint.as_ref()))]
    Syntax {
        /// Path as given for messages.
        path: String,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// The parser's message.
        message: String,
        /// What was probably meant, when the line reads as a decimal
        /// comma or a percentage.
        hint: Option<SyntaxHint>,
    },
    /// One item is invalid.
    #[error("{path}: item {index} {name:?}{}: {reason}", line_suffix(*.line))]
    Invalid {
        /// Path as given for messages.
        path: String,
        /// 1-based position of the item in the file.
        index: usize,
        /// The item's name as written.
        name: String,
        /// 1-based line where the item starts, when known.
        line: Option<usize>,
        /// What is wrong.
        reason: ItemProblem,
    },
    /// The probabilities add up to more than 1 (beyond `SUM_TOLERANCE`).
    #[error("{path}: probabilities sum to {sum}, which is more than 1")]
    SumTooLarge {
        /// Path as given for messages.
        path: String,
        /// The offending sum.
        sum: f64,
    },
    /// The file defines no items.
    #[error("{path}: no items defined (need at least one [[items]] entry)")]
    Empty {
        /// Path as given for messages.
        path: String,
    },
    /// The file defines more than `MAX_ITEMS` items.
    #[error("{path}: {count} items defined, at most {MAX_ITEMS} allowed")]
    TooMany {
        /// Path as given for messages.
        path: String,
        /// How many items the file defines.
        count: usize,
    },
}

/// What a TOML syntax error on a `probability` line probably meant.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SyntaxHint {
    /// `probability = 0,05`.
    #[error("use a dot: {fraction}")]
    DecimalComma {
        /// The number meant.
        fraction: f64,
    },
    /// `probability = 5%`.
    #[error("write {fraction} for {written}")]
    Percent {
        /// The value as written.
        written: String,
        /// The fraction meant.
        fraction: f64,
    },
}

fn hint_suffix(hint: Option<&SyntaxHint>) -> String {
    hint.map_or_else(String::new, |hint| format!("; {hint}"))
}

fn line_prefix(line: Option<usize>) -> String {
    line.map_or_else(|| " ".to_owned(), |l| format!(" line {l}: "))
}

fn line_suffix(line: Option<usize>) -> String {
    line.map_or_else(String::new, |l| format!(" (line {l})"))
}

/// The raw, unvalidated shape of an items file, as deserialized from TOML.
/// Use [`ItemsFile::parse`] to turn text into a validated [`ItemTable`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemsFile {
    #[serde(default)]
    items: Vec<toml::Spanned<RawItem>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    name: String,
    probability: toml::Value,
    #[serde(default)]
    stock: Option<toml::Value>,
}

/// 1-based line number of byte offset `pos` in `text`.
fn line_of(text: &str, pos: usize) -> Option<usize> {
    text.as_bytes()
        .get(..pos)
        .map(|before| before.iter().filter(|&&b| b == b'\n').count() + 1)
}

fn describe_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("string {s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => format!("{f:?}"),
        other => other.type_str().to_owned(),
    }
}

fn check_probability(value: &toml::Value) -> Result<Probability, ItemProblem> {
    let number = match value {
        toml::Value::Float(f) => *f,
        // Integer literals such as `probability = 1` are accepted; any value
        // outside (0, 1] is rejected below, so the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        toml::Value::Integer(i) => *i as f64,
        toml::Value::String(written) => {
            return Err(match quoted_fraction(written) {
                Some(fraction) => ItemProblem::ProbabilityQuoted {
                    written: written.clone(),
                    fraction,
                },
                None => ItemProblem::ProbabilityNotNumber(describe_value(value)),
            });
        }
        other => return Err(ItemProblem::ProbabilityNotNumber(describe_value(other))),
    };
    Ok(Probability::new(number)?)
}

/// The fraction a quoted probability most likely means: `"5%"` → 0.05,
/// `"0,05"` → 0.05, `"0.05"` → 0.05.
fn quoted_fraction(written: &str) -> Option<f64> {
    let text = written.trim();
    let (number, percent) = match text.strip_suffix('%') {
        Some(number) => (number.trim(), true),
        None => (text, false),
    };
    let value: f64 = number.replace(',', ".").parse().ok()?;
    let fraction = if percent { value / 100.0 } else { value };
    (fraction.is_finite() && fraction > 0.0 && fraction <= 1.0).then_some(fraction)
}

/// A hint for a TOML syntax error on `line` of an items file: a decimal
/// comma (`probability = 0,05`) or a percent sign (`probability = 5%`).
fn syntax_hint(line: &str) -> Option<SyntaxHint> {
    let (key, value) = line.split_once('=')?;
    if key.trim() != "probability" {
        return None;
    }
    let value = value.split('#').next().unwrap_or_default().trim();
    if value.starts_with('"') || value.starts_with('\'') {
        return None;
    }
    let fraction = quoted_fraction(value)?;
    if value.contains(',') {
        Some(SyntaxHint::DecimalComma { fraction })
    } else if value.ends_with('%') {
        Some(SyntaxHint::Percent {
            written: value.to_owned(),
            fraction,
        })
    } else {
        None
    }
}

fn check_stock(value: Option<&toml::Value>) -> Result<Option<u32>, ItemProblem> {
    match value {
        None => Ok(None),
        // Capped at i32::MAX: stock lives in a PostgreSQL integer column.
        Some(toml::Value::Integer(i)) => i32::try_from(*i)
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| ItemProblem::BadStock(i.to_string())),
        Some(other) => Err(ItemProblem::BadStock(describe_value(other))),
    }
}

fn check_name(raw: &str) -> Result<String, ItemProblem> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ItemProblem::EmptyName);
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(ItemProblem::NameTooLong(chars));
    }
    if let Some((index, character)) = name.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(ItemProblem::ControlCharacter {
            position: index + 1,
            character,
        });
    }
    Ok(name.to_owned())
}

impl ItemsFile {
    /// Parses and validates the text of an items file.
    ///
    /// `path_for_messages` is only used to prefix error messages.
    pub fn parse(path_for_messages: &str, text: &str) -> Result<ItemTable, ItemsError> {
        let path = path_for_messages.to_owned();
        let raw: ItemsFile = toml::from_str(text).map_err(|e| {
            let line = e.span().and_then(|s| line_of(text, s.start));
            let hint = line
                .and_then(|n| text.lines().nth(n.saturating_sub(1)))
                .and_then(syntax_hint);
            ItemsError::Syntax {
                path: path.clone(),
                line,
                message: e.message().trim().to_owned(),
                hint,
            }
        })?;
        let items = raw
            .items
            .into_iter()
            .map(|spanned| {
                let line = line_of(text, spanned.span().start);
                (line, spanned.into_inner())
            })
            .collect();
        validate(path, items)
    }

    /// Parses and validates a prize list given as JSON (the control room's
    /// `PUT /api/channels/{login}/items`): an array of
    /// `{"name": …, "probability": …, "stock": …}` objects, `stock` absent
    /// or `null` for unlimited. The rules and messages are the items
    /// file's (an empty list is refused like an empty file); the messages
    /// start with `label` instead of a path and have no line.
    pub(crate) fn parse_json(label: &str, items: &serde_json::Value) -> Result<ItemTable, ItemsError> {
        let path = label.to_owned();
        let syntax = |message: String| ItemsError::Syntax {
            path: path.clone(),
            line: None,
            message,
            hint: None,
        };
        let Some(array) = items.as_array() else {
            return Err(syntax(format!(
                "`items` must be a list of items (or null for the default list), got {}",
                json_type(items)
            )));
        };
        if array.len() > MAX_ITEMS {
            return Err(ItemsError::TooMany {
                path,
                count: array.len(),
            });
        }
        let mut raw = Vec::with_capacity(array.len());
        for (i, value) in array.iter().enumerate() {
            let index = i + 1;
            let item: JsonItem = serde_json::from_value(value.clone()).map_err(|e| {
                let named = value
                    .get("name")
                    .and_then(serde_json::Value::as_str)
                    .map_or_else(String::new, |name| format!(" {name:?}"));
                syntax(format!("item {index}{named}: {e}"))
            })?;
            let invalid = |reason: ItemProblem| ItemsError::Invalid {
                path: path.clone(),
                index,
                name: item.name.clone(),
                line: None,
                reason,
            };
            let Some(probability) = &item.probability else {
                return Err(syntax(format!(
                    "item {index} {:?}: missing field `probability`",
                    item.name
                )));
            };
            let probability = toml_scalar(probability)
                .ok_or_else(|| invalid(ItemProblem::ProbabilityNotNumber(json_type(probability).to_owned())))?;
            let stock = match item.stock.as_ref().filter(|stock| !stock.is_null()) {
                None => None,
                Some(stock) => Some(
                    toml_scalar(stock).ok_or_else(|| invalid(ItemProblem::BadStock(json_type(stock).to_owned())))?,
                ),
            };
            raw.push((
                None,
                RawItem {
                    name: item.name,
                    probability,
                    stock,
                },
            ));
        }
        validate(path, raw)
    }
}

/// One item of a JSON prize list, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonItem {
    name: String,
    /// `None` when absent or `null`.
    #[serde(default)]
    probability: Option<serde_json::Value>,
    #[serde(default)]
    stock: Option<serde_json::Value>,
}

/// A JSON number, string or boolean as the TOML value the file rules
/// judge (`None` for null, arrays and objects).
fn toml_scalar(value: &serde_json::Value) -> Option<toml::Value> {
    match value {
        serde_json::Value::Number(number) => number
            .as_i64()
            .map(toml::Value::Integer)
            .or_else(|| number.as_f64().map(toml::Value::Float)),
        serde_json::Value::String(text) => Some(toml::Value::String(text.clone())),
        serde_json::Value::Bool(flag) => Some(toml::Value::Boolean(*flag)),
        serde_json::Value::Null | serde_json::Value::Array(_) | serde_json::Value::Object(_) => None,
    }
}

/// The name of a JSON value's type, for messages.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// The rules every prize list follows, whatever it was written in: 1 to
/// `MAX_ITEMS` items, valid names unique case-insensitively, probabilities
/// in (0, 1] summing to at most 1, stock a whole number or absent.
fn validate(path: String, raw: Vec<(Option<usize>, RawItem)>) -> Result<ItemTable, ItemsError> {
    if raw.is_empty() {
        return Err(ItemsError::Empty { path });
    }
    if raw.len() > MAX_ITEMS {
        return Err(ItemsError::TooMany { path, count: raw.len() });
    }

    let mut items = Vec::with_capacity(raw.len());
    // lowercase name -> (1-based index, name as written)
    let mut seen: HashMap<String, (usize, String)> = HashMap::new();
    for (i, (line, raw_item)) in raw.iter().enumerate() {
        let index = i + 1;
        let invalid = |reason: ItemProblem| ItemsError::Invalid {
            path: path.clone(),
            index,
            name: raw_item.name.clone(),
            line: *line,
            reason,
        };
        let name = check_name(&raw_item.name).map_err(invalid)?;
        let key = name.to_lowercase();
        if let Some((first_index, first_name)) = seen.get(&key) {
            return Err(invalid(ItemProblem::DuplicateName {
                first_index: *first_index,
                first_name: first_name.clone(),
            }));
        }
        let probability = check_probability(&raw_item.probability).map_err(invalid)?;
        let stock = check_stock(raw_item.stock.as_ref()).map_err(invalid)?;
        seen.insert(key, (index, name.clone()));
        items.push(Item {
            name,
            probability,
            stock,
        });
    }

    let sum: f64 = items.iter().map(|it| it.probability.get()).sum();
    if sum > 1.0 + SUM_TOLERANCE {
        return Err(ItemsError::SumTooLarge { path, sum });
    }
    Ok(ItemTable { items })
}

/// What a `PUT /api/channels/{login}/items` body asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ItemsUpdate {
    /// `{"items": [...]}`: the channel's own list.
    Own(ItemTable),
    /// `{"items": null}`: back to the default list.
    Default,
}

impl ItemsUpdate {
    /// The label JSON prize lists' messages start with.
    pub(crate) const LABEL: &'static str = "items";

    /// Parses a body `{"items": [...] | null}`; anything else in it is
    /// refused, and the list is judged by [`ItemsFile::parse_json`].
    pub(crate) fn parse_json(body: &serde_json::Value) -> Result<Self, ItemsError> {
        let syntax = |message: String| ItemsError::Syntax {
            path: Self::LABEL.to_owned(),
            line: None,
            message,
            hint: None,
        };
        let Some(object) = body.as_object() else {
            return Err(syntax(format!(
                "the body must be an object {{\"items\": [...]}}, got {}",
                json_type(body)
            )));
        };
        if let Some(unknown) = object.keys().find(|key| key.as_str() != "items") {
            return Err(syntax(format!("unknown field `{unknown}`, expected `items`")));
        }
        match object.get("items") {
            None => Err(syntax("missing field `items`".to_owned())),
            Some(serde_json::Value::Null) => Ok(Self::Default),
            Some(items) => ItemsFile::parse_json(Self::LABEL, items).map(Self::Own),
        }
    }
}

/// A validated prize table: 1..=`MAX_ITEMS` items with unique names whose
/// probabilities sum to at most 1. The remainder is the chance of no prize.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemTable {
    items: Vec<Item>,
}

impl ItemTable {
    /// No prizes at all: what `run` starts with when there is no items file
    /// (every round is `no_prize`, with the reason recorded).
    pub(crate) fn empty() -> Self {
        Self { items: Vec::new() }
    }

    /// The items in file order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Chance that a raffle awards nothing: `1 - sum(probabilities)`,
    /// clamped at 0 (the sum may exceed 1 by up to `SUM_TOLERANCE`).
    pub fn no_prize_probability(&self) -> f64 {
        let sum: f64 = self.items.iter().map(|it| it.probability.get()).sum();
        (1.0 - sum).max(0.0)
    }

    /// Renders an aligned text table (item, probability, stock), followed by
    /// a "no prize" row with the remainder and a total line, for the
    /// `check-items` command.
    pub(crate) fn render_table(&self) -> String {
        self.render_table_in(&TableWords::default())
    }

    /// The cells of the `check-items` table in a reader's words: what
    /// [`Self::render_table_in`] aligns, and what the control room's
    /// `GET /api/channels/{login}/items` hands the dashboard as `table`, so
    /// both show the same rows.
    pub(crate) fn table_rows_in(&self, words: &TableWords) -> TableRows {
        let percent = |fraction: f64| format_percent(fraction).replace('.', &words.decimal.to_string());
        let mut rows: Vec<[String; 3]> = self
            .items
            .iter()
            .map(|it| {
                [
                    it.name.clone(),
                    percent(it.probability.get()),
                    it.stock.map_or_else(|| words.unlimited.clone(), |s| s.to_string()),
                ]
            })
            .collect();
        rows.push([
            words.no_prize.clone(),
            percent(self.no_prize_probability()),
            "-".to_owned(),
        ]);
        let total: f64 = self.items.iter().map(|it| it.probability.get()).sum::<f64>() + self.no_prize_probability();
        TableRows {
            header: [words.item.clone(), words.probability.clone(), words.stock.clone()],
            rows,
            total: [words.total.clone(), percent(total), String::new()],
        }
    }

    /// [`Self::render_table`] in a reader's words and decimal separator.
    pub(crate) fn render_table_in(&self, words: &TableWords) -> String {
        self.table_rows_in(words).render()
    }
}

/// The `check-items` table's cells: heading, one row per item and the "no
/// prize" row, and the total line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TableRows {
    /// Item, probability, stock.
    pub(crate) header: [String; 3],
    /// The items, then "no prize".
    pub(crate) rows: Vec<[String; 3]>,
    /// The total line (its stock cell is empty).
    pub(crate) total: [String; 3],
}

impl TableRows {
    /// The aligned text `check-items` prints.
    pub(crate) fn render(&self) -> String {
        let Self { header, rows, total } = self;
        let mut widths = [0usize; 3];
        for row in std::iter::once(header).chain(rows.iter()).chain(std::iter::once(total)) {
            for (w, cell) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let rule = widths.map(|w| "-".repeat(w));

        let mut out = String::new();
        let mut line = |row: &[String; 3], right_align_prob: bool| {
            let prob = if right_align_prob {
                pad_left(&row[1], widths[1])
            } else {
                pad_right(&row[1], widths[1])
            };
            let text = format!(
                "{}  {}  {}",
                pad_right(&row[0], widths[0]),
                prob,
                pad_right(&row[2], widths[2])
            );
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(header, false);
        line(&rule, false);
        for row in rows {
            line(row, true);
        }
        line(&rule, false);
        line(total, true);
        out
    }
}

/// Which list a channel draws from (SPEC §10): its own, or the default
/// list of `ITEMS_FILE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListSource {
    /// The default list (`items.channel_id` null).
    Default,
    /// The channel's own list.
    Channel,
}

impl ListSource {
    /// The word of the JSON API and of `items export`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Channel => "channel",
        }
    }
}

/// One item of a stored prize list, as the draw sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedItem {
    /// `items.id`: the row a win takes its unit from (and gives back).
    pub(crate) id: i64,
    /// Name.
    pub(crate) name: String,
    /// Fixed chance per raffle.
    pub(crate) probability: f64,
    /// Remaining stock; `None` = unlimited.
    pub(crate) stock: Option<u32>,
    /// The stock as last configured (file, import or control room).
    pub(crate) configured_stock: Option<u32>,
}

/// The prize list a channel draws from now, in order (SPEC §10): its own
/// when it has one, else the default list. Empty when neither exists.
#[derive(Debug, Clone, PartialEq)]
pub struct PrizeList {
    /// Whose list it is.
    pub(crate) source: ListSource,
    /// The active items in order.
    pub(crate) items: Vec<ListedItem>,
}

impl PrizeList {
    /// The items as the draw takes them.
    pub(crate) fn draw_items(&self) -> Vec<super::draw::DrawItem> {
        self.items
            .iter()
            .map(|item| super::draw::DrawItem {
                name: item.name.clone(),
                probability: item.probability,
                remaining_stock: item.stock,
            })
            .collect()
    }

    /// The list with its remaining stock as an [`ItemTable`]: what the
    /// live probability table shows (`check-items`' table of the list as
    /// it stands). Rows whose probability the database somehow holds
    /// outside (0, 1] are left out (its CHECK forbids them).
    pub(crate) fn live_table(&self) -> ItemTable {
        ItemTable {
            items: self
                .items
                .iter()
                .filter_map(|item| {
                    Some(Item {
                        name: item.name.clone(),
                        probability: Probability::new(item.probability).ok()?,
                        stock: item.stock,
                    })
                })
                .collect(),
        }
    }

    /// The chance of no prize as configured: `1 -` the sum of the
    /// probabilities (out-of-stock items still count as theirs here; the
    /// draw gives their chance to "no prize").
    pub(crate) fn no_prize_probability(&self) -> f64 {
        self.live_table().no_prize_probability()
    }

    /// The list as an items file, which `items import` reads back to the
    /// same list: each item's configured stock, with what remains as a
    /// comment when it differs. `header` lines become `# ` comments at the
    /// top, `left` words the remaining stock ("2 left").
    pub(crate) fn to_toml(&self, header: &[String], left: impl Fn(u32) -> String) -> String {
        let mut out = String::new();
        for line in header {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        for item in &self.items {
            out.push_str("\n[[items]]\n");
            out.push_str(&format!("name = {}\n", toml::Value::String(item.name.clone())));
            out.push_str(&format!("probability = {}\n", toml::Value::Float(item.probability)));
            if let Some(stock) = item.configured_stock {
                out.push_str(&format!("stock = {stock}"));
                match item.stock {
                    Some(remaining) if remaining != stock => {
                        out.push_str("  # ");
                        out.push_str(&left(remaining));
                    }
                    _ => {}
                }
                out.push('\n');
            }
        }
        out
    }
}

impl fmt::Display for ItemTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_table())
    }
}

/// Formats `p` (a fraction) as a percentage with 2 to 4 decimals,
/// e.g. 0.05 -> "5.00%", 0.00125 -> "0.125%".
fn format_percent(p: f64) -> String {
    let mut s = format!("{:.4}", p * 100.0);
    // Trim trailing zeros but keep at least two decimals.
    while s.ends_with('0') && s.split('.').nth(1).is_some_and(|d| d.len() > 2) {
        s.pop();
    }
    s.push('%');
    s
}

fn pad_right(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

fn pad_left(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{}{s}", " ".repeat(width.saturating_sub(n)))
}

/// The words of the `check-items` table, in the reader's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableWords {
    /// The item column's heading.
    pub(crate) item: String,
    /// The probability column's heading.
    pub(crate) probability: String,
    /// The stock column's heading.
    pub(crate) stock: String,
    /// A stock without a limit.
    pub(crate) unlimited: String,
    /// The row of the chance of nothing.
    pub(crate) no_prize: String,
    /// The total line.
    pub(crate) total: String,
    /// The decimal separator of percentages.
    pub(crate) decimal: char,
}

impl Default for TableWords {
    /// English, the catalog's words.
    fn default() -> Self {
        crate::catalog::table_words(crate::catalog::Language::En)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        ItemsFile::parse("items.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn valid_file_parses_in_order_with_trimmed_names_and_stock() {
        let text = r#"
[[items]]
name = "Steam key"
probability = 0.05
stock = 3

[[items]]
name = "  Sticker  "
probability = 0.2

[[items]]
name = "Jackpot"
probability = 1e-4
stock = 0
"#;
        let table = ItemsFile::parse("items.toml", text).unwrap();
        let items = table.items();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0],
            Item {
                name: "Steam key".into(),
                probability: Probability::new(0.05).unwrap(),
                stock: Some(3),
            }
        );
        assert_eq!(items[1].name, "Sticker");
        assert_eq!(items[1].stock, None);
        assert_eq!(items[2].stock, Some(0));
        assert!((table.no_prize_probability() - 0.7499).abs() < 1e-12);
    }

    #[test]
    fn a_nul_or_other_control_character_in_a_name_is_rejected_naming_the_item() {
        assert_eq!(
            err("[[items]]\nname = \"Steam\\u0000Key\"\nprobability = 0.5\n"),
            "items.toml: item 1 \"Steam\\0Key\" (line 1): name has the control character U+0000 at position 6"
        );
        assert!(err("[[items]]\nname = \"A\\tB\"\nprobability = 0.5\n").contains("U+0009 at position 2"));
    }

    #[test]
    fn integer_probability_one_is_accepted() {
        let table = ItemsFile::parse("items.toml", "[[items]]\nname = \"All\"\nprobability = 1\n").unwrap();
        assert_eq!(table.items()[0].probability.get(), 1.0);
        assert_eq!(table.no_prize_probability(), 0.0);
    }

    #[test]
    fn probability_zero_is_rejected_with_item_and_line() {
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = 0.0\n"),
            "items.toml: item 1 \"A\" (line 1): probability 0.0 is not in (0, 1]"
        );
    }

    #[test]
    fn probability_above_one_is_rejected_naming_second_item() {
        let text = "[[items]]\nname = \"A\"\nprobability = 0.1\n\n[[items]]\nname = \"Steam key\"\nprobability = 1.5\n";
        assert_eq!(
            err(text),
            "items.toml: item 2 \"Steam key\" (line 5): probability 1.5 is not in (0, 1]; write 0.015 for 1.5 %"
        );
    }

    #[test]
    fn nan_and_inf_probabilities_are_rejected() {
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = nan\n"),
            "items.toml: item 1 \"A\" (line 1): probability NaN is not in (0, 1]"
        );
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = inf\n"),
            "items.toml: item 1 \"A\" (line 1): probability inf is not in (0, 1]"
        );
    }

    #[test]
    fn string_probability_is_rejected() {
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = \"0.5\"\n"),
            "items.toml: item 1 \"A\" (line 1): probability must be a number, got the string \"0.5\"; write 0.5 (without quotes)"
        );
    }

    #[test]
    fn probability_new_rejects_out_of_range() {
        assert!(Probability::new(1.0).is_ok());
        assert!(Probability::new(f64::MIN_POSITIVE).is_ok());
        for bad in [0.0, -0.1, 1.0000001, f64::NAN, f64::INFINITY] {
            assert!(Probability::new(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn sum_above_one_is_rejected_naming_the_sum() {
        let text = "[[items]]\nname = \"A\"\nprobability = 0.6\n[[items]]\nname = \"B\"\nprobability = 0.6\n";
        assert_eq!(err(text), "items.toml: probabilities sum to 1.2, which is more than 1");
    }

    #[test]
    fn sum_within_rounding_tolerance_of_one_is_accepted() {
        // 0.1 + 0.2 + 0.7 = 1.0000000000000002 in f64.
        let text = "[[items]]\nname = \"A\"\nprobability = 0.1\n[[items]]\nname = \"B\"\nprobability = 0.2\n[[items]]\nname = \"C\"\nprobability = 0.7\n";
        let table = ItemsFile::parse("items.toml", text).unwrap();
        assert_eq!(table.no_prize_probability(), 0.0);
    }

    #[test]
    fn duplicate_name_is_rejected_case_insensitively() {
        let text =
            "[[items]]\nname = \"Steam key\"\nprobability = 0.1\n[[items]]\nname = \"steam KEY \"\nprobability = 0.1\n";
        assert_eq!(
            err(text),
            "items.toml: item 2 \"steam KEY \" (line 4): duplicate name (same as item 1 \"Steam key\")"
        );
    }

    #[test]
    fn blank_name_is_rejected() {
        assert_eq!(
            err("[[items]]\nname = \"   \"\nprobability = 0.1\n"),
            "items.toml: item 1 \"   \" (line 1): name is empty"
        );
    }

    #[test]
    fn name_longer_than_100_chars_is_rejected() {
        let long = "é".repeat(101);
        assert_eq!(
            err(&format!("[[items]]\nname = \"{long}\"\nprobability = 0.1\n")),
            format!("items.toml: item 1 \"{long}\" (line 1): name is 101 characters long, at most 100 allowed")
        );
        let ok = "é".repeat(100);
        assert!(ItemsFile::parse("x", &format!("[[items]]\nname = \"{ok}\"\nprobability = 0.1\n")).is_ok());
    }

    #[test]
    fn unknown_key_is_rejected_with_line() {
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = 0.1\ncolour = \"red\"\n"),
            "items.toml: line 4: unknown field `colour`, expected one of `name`, `probability`, `stock`"
        );
    }

    #[test]
    fn unknown_top_level_key_is_rejected() {
        let e = err("title = \"x\"\n[[items]]\nname = \"A\"\nprobability = 0.1\n");
        assert_eq!(e, "items.toml: line 1: unknown field `title`, expected `items`");
    }

    #[test]
    fn negative_stock_is_rejected() {
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = 0.1\nstock = -1\n"),
            "items.toml: item 1 \"A\" (line 1): stock must be a whole number from 0 to 2147483647, got -1"
        );
    }

    #[test]
    fn float_stock_is_rejected() {
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = 0.1\nstock = 2.0\n"),
            "items.toml: item 1 \"A\" (line 1): stock must be a whole number from 0 to 2147483647, got 2.0"
        );
    }

    #[test]
    fn string_stock_and_huge_stock_are_rejected() {
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = 0.1\nstock = \"3\"\n"),
            "items.toml: item 1 \"A\" (line 1): stock must be a whole number from 0 to 2147483647, got string \"3\""
        );
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = 0.1\nstock = 4294967296\n"),
            "items.toml: item 1 \"A\" (line 1): stock must be a whole number from 0 to 2147483647, got 4294967296"
        );
    }

    #[test]
    fn empty_file_is_rejected() {
        assert_eq!(
            err(""),
            "items.toml: no items defined (need at least one [[items]] entry)"
        );
        assert!(matches!(
            ItemsFile::parse("items.toml", "# only a comment\n"),
            Err(ItemsError::Empty { .. })
        ));
    }

    #[test]
    fn more_than_1000_items_are_rejected() {
        let mut text = String::new();
        for i in 0..1001 {
            text.push_str(&format!("[[items]]\nname = \"i{i}\"\nprobability = 0.0001\n"));
        }
        assert_eq!(err(&text), "items.toml: 1001 items defined, at most 1000 allowed");
    }

    #[test]
    fn syntax_error_gives_line_number() {
        let e = ItemsFile::parse("items.toml", "[[items]]\nname = \"A\"\nprobability = = 0.1\n").unwrap_err();
        match &e {
            ItemsError::Syntax { line, .. } => assert_eq!(*line, Some(3)),
            other => panic!("expected Syntax, got {other:?}"),
        }
        assert!(e.to_string().starts_with("items.toml: line 3: "), "{e}");
    }

    #[test]
    fn missing_probability_is_a_syntax_error() {
        let e = err("[[items]]\nname = \"A\"\n");
        assert!(e.starts_with("items.toml: line 1: missing field `probability`"), "{e}");
    }

    #[test]
    fn render_table_shows_items_stock_no_prize_remainder_and_total() {
        let text = "[[items]]\nname = \"Steam key\"\nprobability = 0.05\nstock = 3\n[[items]]\nname = \"Sticker\"\nprobability = 0.00125\n";
        let table = ItemsFile::parse("items.toml", text).unwrap();
        let rendered = table.render_table();
        let expected = "\
item       probability  stock
---------  -----------  ---------
Steam key        5.00%  3
Sticker         0.125%  unlimited
no prize       94.875%  -
---------  -----------  ---------
total          100.00%
";
        assert_eq!(rendered, expected);
        assert_eq!(table.to_string(), expected);
    }

    #[test]
    fn format_percent_keeps_two_to_four_decimals() {
        assert_eq!(format_percent(0.05), "5.00%");
        assert_eq!(format_percent(0.00125), "0.125%");
        assert_eq!(format_percent(0.123456), "12.3456%");
        assert_eq!(format_percent(1.0), "100.00%");
        assert_eq!(format_percent(0.0), "0.00%");
    }

    #[test]
    fn a_percentage_gets_a_hint_to_write_a_fraction() {
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = 5\n"),
            "items.toml: item 1 \"A\" (line 1): probability 5.0 is not in (0, 1]; write 0.05 for 5 %"
        );
        let quoted = err("[[items]]\nname = \"A\"\nprobability = \"5%\"\n");
        assert!(
            quoted.ends_with("got the string \"5%\"; write 0.05 (without quotes)"),
            "{quoted}"
        );
        // Far outside any percentage: no hint.
        assert_eq!(
            err("[[items]]\nname = \"A\"\nprobability = 500\n"),
            "items.toml: item 1 \"A\" (line 1): probability 500.0 is not in (0, 1]"
        );
    }

    #[test]
    fn a_decimal_comma_gets_a_hint_to_use_a_dot() {
        let message = err("[[items]]\nname = \"A\"\nprobability = 0,05\n");
        assert!(message.starts_with("items.toml: line 3: "), "{message}");
        assert!(message.ends_with("; use a dot: 0.05"), "{message}");
        let percent = err("[[items]]\nname = \"A\"\nprobability = 5%\n");
        assert!(percent.ends_with("; write 0.05 for 5%"), "{percent}");
        let quoted = err("[[items]]\nname = \"A\"\nprobability = \"0,05\"\n");
        assert!(quoted.ends_with("write 0.05 (without quotes)"), "{quoted}");
    }

    fn json_err(items: serde_json::Value) -> String {
        ItemsFile::parse_json("items", &items).unwrap_err().to_string()
    }

    #[test]
    fn a_json_list_follows_the_files_rules_and_messages() {
        let table = ItemsFile::parse_json(
            "items",
            &serde_json::json!([
                {"name": " Steam key ", "probability": 0.05, "stock": 3},
                {"name": "Sticker", "probability": 1e-4, "stock": null},
                {"name": "Half", "probability": 0.5}
            ]),
        )
        .unwrap();
        let names: Vec<&str> = table.items().iter().map(|item| item.name.as_str()).collect();
        assert_eq!(names, ["Steam key", "Sticker", "Half"]);
        assert!(ItemsFile::parse_json("items", &serde_json::json!([{"name": "All", "probability": 1}])).is_ok());
        assert_eq!(table.items()[0].stock, Some(3));
        assert_eq!(table.items()[1].stock, None);
        // The same errors as the file's, labelled and without lines.
        let cases = [
            (
                serde_json::json!([{"name": "A", "probability": 0.1}, {"name": "Steam key", "probability": 1.5}]),
                "items: item 2 \"Steam key\": probability 1.5 is not in (0, 1]; write 0.015 for 1.5 %",
            ),
            (
                serde_json::json!([{"name": "A", "probability": 0.1, "stock": -1}]),
                "items: item 1 \"A\": stock must be a whole number from 0 to 2147483647, got -1",
            ),
            (
                serde_json::json!([{"name": "A", "probability": 0.1, "stock": 2.0}]),
                "items: item 1 \"A\": stock must be a whole number from 0 to 2147483647, got 2.0",
            ),
            (
                serde_json::json!([{"name": "A", "probability": 0.1, "stock": [1]}]),
                "items: item 1 \"A\": stock must be a whole number from 0 to 2147483647, got array",
            ),
            (
                serde_json::json!([{"name": "Key", "probability": 0.1}, {"name": "KEY", "probability": 0.1}]),
                "items: item 2 \"KEY\": duplicate name (same as item 1 \"Key\")",
            ),
            (
                serde_json::json!([{"name": "A", "probability": 0.6}, {"name": "B", "probability": 0.6}]),
                "items: probabilities sum to 1.2, which is more than 1",
            ),
            (
                serde_json::json!([{"name": "Steam\u{0}Key", "probability": 0.5}]),
                "items: item 1 \"Steam\\0Key\": name has the control character U+0000 at position 6",
            ),
            (
                serde_json::json!([{"name": "A", "probability": "5%"}]),
                "items: item 1 \"A\": probability must be a number, got the string \"5%\"; write 0.05 (without quotes)",
            ),
            (
                serde_json::json!([{"name": "A", "probability": true}]),
                "items: item 1 \"A\": probability must be a number, got boolean",
            ),
            (
                serde_json::json!([{"name": "A", "probability": [0.1]}]),
                "items: item 1 \"A\": probability must be a number, got array",
            ),
            (
                serde_json::json!([{"name": "A"}]),
                "items: item 1 \"A\": missing field `probability`",
            ),
            (
                serde_json::json!([{"name": "A", "probability": 0.1, "colour": "red"}]),
                "items: item 1 \"A\": unknown field `colour`, expected one of `name`, `probability`, `stock`",
            ),
            (
                serde_json::json!([{"probability": 0.1}]),
                "items: item 1: missing field `name`",
            ),
            (
                serde_json::json!([]),
                "items: no items defined (need at least one [[items]] entry)",
            ),
            (
                serde_json::json!("Key"),
                "items: `items` must be a list of items (or null for the default list), got string",
            ),
        ];
        for (items, expected) in cases {
            assert_eq!(json_err(items.clone()), expected, "{items}");
        }
        let many: Vec<serde_json::Value> = (0..1001)
            .map(|i| serde_json::json!({"name": format!("i{i}"), "probability": 0.0001}))
            .collect();
        assert_eq!(
            json_err(serde_json::Value::Array(many)),
            "items: 1001 items defined, at most 1000 allowed"
        );
    }

    #[test]
    fn a_put_body_sets_an_own_list_or_goes_back_to_the_default() {
        let own =
            ItemsUpdate::parse_json(&serde_json::json!({"items": [{"name": "Key", "probability": 0.5}]})).unwrap();
        assert!(matches!(own, ItemsUpdate::Own(table) if table.items().len() == 1));
        assert_eq!(
            ItemsUpdate::parse_json(&serde_json::json!({"items": null})).unwrap(),
            ItemsUpdate::Default
        );
        for (body, expected) in [
            (serde_json::json!({}), "items: missing field `items`"),
            (
                serde_json::json!({"items": null, "source": "channel"}),
                "items: unknown field `source`, expected `items`",
            ),
            (
                serde_json::json!([1]),
                "items: the body must be an object {\"items\": [...]}, got array",
            ),
            (
                serde_json::json!({"items": []}),
                "items: no items defined (need at least one [[items]] entry)",
            ),
        ] {
            assert_eq!(
                ItemsUpdate::parse_json(&body).unwrap_err().to_string(),
                expected,
                "{body}"
            );
        }
    }

    fn listed(id: i64, name: &str, probability: f64, stock: Option<u32>, configured: Option<u32>) -> ListedItem {
        ListedItem {
            id,
            name: name.to_owned(),
            probability,
            stock,
            configured_stock: configured,
        }
    }

    #[test]
    fn an_exported_list_reads_back_as_the_same_list() {
        let list = PrizeList {
            source: ListSource::Channel,
            items: vec![
                listed(1, "Steam \"key\" #1", 0.05, Some(2), Some(3)),
                listed(2, "Sticker", 0.00125, None, None),
                listed(3, "Jackpot", 1e-5, Some(0), Some(0)),
            ],
        };
        let text = list.to_toml(&["prize list of #c".to_owned(), "source: channel".to_owned()], |n| {
            format!("{n} left")
        });
        assert!(text.starts_with("# prize list of #c\n# source: channel\n"), "{text}");
        assert!(text.contains("stock = 3  # 2 left\n"), "{text}");
        assert!(text.contains("stock = 0\n"), "no comment when nothing changed: {text}");
        let table = ItemsFile::parse("export.toml", &text).unwrap();
        let read: Vec<(String, f64, Option<u32>)> = table
            .items()
            .iter()
            .map(|item| (item.name.clone(), item.probability.get(), item.stock))
            .collect();
        assert_eq!(
            read,
            [
                ("Steam \"key\" #1".to_owned(), 0.05, Some(3)),
                ("Sticker".to_owned(), 0.00125, None),
                ("Jackpot".to_owned(), 1e-5, Some(0)),
            ]
        );
    }

    #[test]
    fn the_live_table_is_the_check_items_table_with_the_stock_left() {
        let list = PrizeList {
            source: ListSource::Default,
            items: vec![
                listed(1, "Steam key", 0.05, Some(1), Some(3)),
                listed(2, "Sticker", 0.00125, None, None),
            ],
        };
        let rows = list.live_table().table_rows_in(&TableWords::default());
        assert_eq!(rows.header, ["item", "probability", "stock"]);
        assert_eq!(
            rows.rows,
            [
                ["Steam key", "5.00%", "1"],
                ["Sticker", "0.125%", "unlimited"],
                ["no prize", "94.875%", "-"],
            ]
        );
        assert_eq!(rows.total, ["total", "100.00%", ""]);
        assert_eq!(rows.render(), list.live_table().render_table());
        assert!((list.no_prize_probability() - 0.94875).abs() < 1e-12);
        let draw = list.draw_items();
        assert_eq!(draw[0].remaining_stock, Some(1));
        assert_eq!(draw[1].name, "Sticker");
    }
}
