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

use serde::Deserialize;
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

        if raw.items.is_empty() {
            return Err(ItemsError::Empty { path });
        }
        if raw.items.len() > MAX_ITEMS {
            return Err(ItemsError::TooMany {
                path,
                count: raw.items.len(),
            });
        }

        let mut items = Vec::with_capacity(raw.items.len());
        // lowercase name -> (1-based index, name as written)
        let mut seen: HashMap<String, (usize, String)> = HashMap::new();
        for (i, spanned) in raw.items.iter().enumerate() {
            let index = i + 1;
            let line = line_of(text, spanned.span().start);
            let raw_item = spanned.get_ref();
            let invalid = |reason: ItemProblem| ItemsError::Invalid {
                path: path.clone(),
                index,
                name: raw_item.name.clone(),
                line,
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

    /// [`Self::render_table`] in a reader's words and decimal separator.
    pub(crate) fn render_table_in(&self, words: &TableWords) -> String {
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
        let header = [words.item.clone(), words.probability.clone(), words.stock.clone()];
        let total_row = [words.total.clone(), percent(total), String::new()];

        let mut widths = [0usize; 3];
        for row in std::iter::once(&header)
            .chain(rows.iter())
            .chain(std::iter::once(&total_row))
        {
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
        line(&header, false);
        line(&rule, false);
        for row in &rows {
            line(row, true);
        }
        line(&rule, false);
        line(&total_row, true);
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
}
