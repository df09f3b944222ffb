//! The language catalog: every word viewers and streamers read, in every
//! language of `LANGUAGE` (SPEC §10: `en`, `pt-BR`). Pure.
//!
//! # Why a typed Rust catalog (and not fluent)
//!
//! Each area of the program has one message enum (a variant per message,
//! carrying the values it shows), and [`Message::texts`] returns the message
//! in every language at once as a [`Texts`] struct literal. A struct literal
//! must name every field, so **a message missing in one language does not
//! compile**, and adding a language (a field of [`Texts`] and a variant of
//! [`Language`]) makes the compiler list every message still to translate.
//! The match over an area's variants is exhaustive, so a new variant without
//! its texts does not compile either. Arguments are typed Rust values (no
//! string-keyed arguments to misspell), plurals and number formats are
//! ordinary code, and nothing is loaded or parsed at run time: no file to
//! ship next to the binary, no error path when a key is missing. Fluent
//! would give translators a separate file format, but the completeness check
//! would be a test over string keys, and every call would go through
//! untyped arguments; with two languages written by the same people who
//! write the code, the compile-time check is worth more.
//!
//! # Adding a message
//!
//! 1. In your area's file (`catalog/chat.rs`, `catalog/discord.rs`, `catalog/dashboard.rs`,
//!    `catalog/connect.rs`, `catalog/control.rs`, `catalog/setup.rs`, `catalog/items.rs`,
//!    `catalog/discord_bot.rs`, `catalog/cli.rs`, `catalog/raffle_page.rs`, `catalog/api.rs`), add a variant to its enum, with the values it
//!    shows as fields (`&'a str` for names, `i64` / `u64` for counts).
//! 2. Add its arm in that file's `texts()` match:
//!    `Self::Hello { name } => Texts { en: format!("Hi {name}").into(), pt_br: format!("Olá {name}").into() }`
//!    (a fixed text: `Texts::fixed("Hi", "Olá")`). Format numbers and dates
//!    with [`Language::integer`], [`Language::percent`] and
//!    [`Language::date_time`] of the matching language.
//! 3. Add one example of it to the file's `samples()` (the test below
//!    checks every sample is written in every language, and translated).
//! 4. Use it: `language.say(&DiscordText::WinTitle { .. })`.
//!
//! A new area (chat lines, Discord bot replies, control room) is a new file
//! `catalog/<area>.rs` with `pub(crate) enum <Area>Text` and
//! `impl Message for <Area>Text`, plus one `mod` and one `pub(crate) use`
//! line below (copy `catalog/discord.rs`), and its `samples()` in the
//! test at the bottom of this file. Text that comes from users (names,
//! items) is spliced in as given; escaping for Discord or HTML stays with
//! the renderer (`announce::render`, maud), never here.
//!
//! Which language a channel speaks is decided in one place,
//! `crate::channel::language::ChannelLanguages::language_for`.

mod api;
mod chat;
mod cli;
mod connect;
mod control;
mod dashboard;
mod discord;
mod discord_bot;
mod items;
mod raffle_page;
mod setup;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

pub(crate) use api::ApiText;
pub(crate) use chat::{ChatText, OddsReason, duration_words};
pub(crate) use cli::{CliText, table_words};
pub(crate) use connect::{ConnectPage, ConnectText};
pub(crate) use control::{ControlText, percent_sign};
pub(crate) use dashboard::DashboardText;
pub(crate) use discord::DiscordText;
pub(crate) use discord_bot::DiscordBotText;
pub(crate) use items::ItemsText;
pub(crate) use raffle_page::RafflePageText;
pub(crate) use setup::SetupText;

/// A language of `LANGUAGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// English (`en`), the default.
    #[default]
    En,
    /// Brazilian Portuguese (`pt-BR`).
    PtBr,
}

impl Language {
    /// Every language, in the order the dashboard offers them.
    pub(crate) const ALL: [Self; 2] = [Self::En, Self::PtBr];

    /// The BCP 47 tag: the value of `LANGUAGE`, `<html lang>`, `?lang=` and
    /// the locale the dashboard script hands to `Intl`.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::PtBr => "pt-BR",
        }
    }

    /// The language's own name, for the dashboard's switch.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::PtBr => "Português",
        }
    }

    /// `message` in this language.
    pub(crate) fn say(self, message: &impl Message) -> String {
        self.pick(message.texts()).into_owned()
    }

    fn pick(self, texts: Texts) -> Cow<'static, str> {
        match self {
            Self::En => texts.en,
            Self::PtBr => texts.pt_br,
        }
    }

    /// The decimal separator and the thousands separator.
    fn separators(self) -> (char, char) {
        match self {
            Self::En => ('.', ','),
            Self::PtBr => (',', '.'),
        }
    }

    /// The decimal separator: `.` / `,`.
    pub(crate) fn decimal_separator(self) -> char {
        self.separators().0
    }

    /// A whole number with thousands separators: `1,234` / `1.234`.
    pub(crate) fn integer(self, n: i64) -> String {
        let (_, thousands) = self.separators();
        let digits = n.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        if n < 0 {
            out.push('-');
        }
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(thousands);
            }
            out.push(digit);
        }
        out
    }

    /// A fraction as a percentage with one decimal (two below 0.1 %):
    /// `0.05` → `5.0%` / `5,0 %`. Not finite → `?`.
    pub(crate) fn percent(self, fraction: f64) -> String {
        let value = fraction * 100.0;
        if !value.is_finite() {
            return "?".to_owned();
        }
        let decimals = if value != 0.0 && value.abs() < 0.1 { 2 } else { 1 };
        let (decimal, _) = self.separators();
        let number = format!("{value:.decimals$}").replace('.', &decimal.to_string());
        match self {
            Self::En => format!("{number}%"),
            Self::PtBr => format!("{number}\u{a0}%"),
        }
    }

    /// A date and time in UTC in the reader's order:
    /// `2026-01-12 14:00 UTC` / `12/01/2026 14:00 UTC`.
    pub(crate) fn date_time(self, at: &DateTime<Utc>) -> String {
        match self {
            Self::En => at.format("%Y-%m-%d %H:%M UTC").to_string(),
            Self::PtBr => at.format("%d/%m/%Y %H:%M UTC").to_string(),
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for Language {
    type Err = String;

    /// `en` or `pt-BR`, in any case, `_` accepted for `-` (`pt_BR`), and
    /// the bare `pt`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "en" | "en-us" | "en-gb" => Ok(Self::En),
            "pt-br" | "pt" => Ok(Self::PtBr),
            _ => Err(format!("invalid value {text:?}; use en or pt-BR")),
        }
    }
}

/// One message in every language. A struct literal must name every field,
/// so a message cannot compile without all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Texts {
    /// English.
    pub(crate) en: Cow<'static, str>,
    /// Brazilian Portuguese.
    pub(crate) pt_br: Cow<'static, str>,
}

impl Texts {
    /// A message without values.
    pub(crate) const fn fixed(en: &'static str, pt_br: &'static str) -> Self {
        Self {
            en: Cow::Borrowed(en),
            pt_br: Cow::Borrowed(pt_br),
        }
    }
}

/// A message of the catalog.
pub(crate) trait Message {
    /// The message in every language.
    fn texts(&self) -> Texts;
}

/// `1 candidate` / `2 candidates`: the count in `language`'s format and the
/// singular or plural noun (singular for exactly one, in both languages).
pub(crate) fn count(language: Language, n: i64, one: &str, many: &str) -> String {
    let noun = if n == 1 { one } else { many };
    format!("{} {noun}", language.integer(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts that read the same in both languages on purpose.
    const SAME_IN_BOTH: &[&str] = &["Offline", "Chance"];

    fn check_area<M: Message + std::fmt::Debug>(samples: Vec<M>) {
        assert!(!samples.is_empty());
        for message in samples {
            let texts = message.texts();
            assert!(!texts.en.trim().is_empty(), "{message:?} has no English text");
            assert!(!texts.pt_br.trim().is_empty(), "{message:?} has no Portuguese text");
            assert!(
                texts.en != texts.pt_br || SAME_IN_BOTH.contains(&texts.en.as_ref()),
                "{message:?} is not translated: {:?}",
                texts.en
            );
            let braces = |s: &str| s.matches('{').count() + s.matches('}').count();
            assert_eq!(
                braces(&texts.en),
                braces(&texts.pt_br),
                "{message:?}: placeholders differ"
            );
            let ticks = |s: &str| s.matches('`').count();
            assert!(
                ticks(&texts.en).is_multiple_of(2),
                "{message:?}: unpaired backtick in English"
            );
            assert!(
                ticks(&texts.pt_br).is_multiple_of(2),
                "{message:?}: unpaired backtick in Portuguese"
            );
        }
    }

    #[test]
    fn every_message_exists_in_every_language_and_is_translated() {
        check_area(api::samples());
        check_area(chat::samples());
        check_area(discord::samples());
        check_area(discord_bot::samples());
        check_area(dashboard::samples());
        check_area(control::samples());
        check_area(connect::samples());
        check_area(setup::samples());
        check_area(items::samples());
        check_area(cli::samples());
        check_area(raffle_page::samples());
    }

    #[test]
    fn every_language_parses_from_its_own_tag() {
        for language in Language::ALL {
            assert_eq!(language.tag().parse::<Language>(), Ok(language));
        }
        assert_eq!("PT_br".parse::<Language>(), Ok(Language::PtBr));
        assert_eq!(" EN ".parse::<Language>(), Ok(Language::En));
        assert!("fr".parse::<Language>().is_err_and(|e| e.contains("en or pt-BR")));
    }

    #[test]
    fn integers_get_the_languages_thousands_separator() {
        assert_eq!(Language::En.integer(1_234_567), "1,234,567");
        assert_eq!(Language::PtBr.integer(1_234_567), "1.234.567");
        assert_eq!(Language::PtBr.integer(999), "999");
        assert_eq!(Language::En.integer(-1000), "-1,000");
        assert_eq!(Language::En.integer(0), "0");
        assert_eq!(Language::En.integer(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn percentages_use_the_languages_decimal_mark_and_spacing() {
        assert_eq!(Language::En.percent(0.05), "5.0%");
        assert_eq!(Language::PtBr.percent(0.05), "5,0\u{a0}%");
        assert_eq!(Language::PtBr.percent(0.0005), "0,05\u{a0}%");
        assert_eq!(Language::En.percent(1.0), "100.0%");
        assert_eq!(Language::En.percent(f64::NAN), "?");
    }

    #[test]
    fn dates_are_written_in_the_readers_order() {
        let at = DateTime::parse_from_rfc3339("2026-01-12T14:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(Language::En.date_time(&at), "2026-01-12 14:00 UTC");
        assert_eq!(Language::PtBr.date_time(&at), "12/01/2026 14:00 UTC");
    }

    #[test]
    fn counts_pick_singular_only_for_one() {
        assert_eq!(count(Language::En, 1, "candidate", "candidates"), "1 candidate");
        assert_eq!(count(Language::PtBr, 0, "candidato", "candidatos"), "0 candidatos");
        assert_eq!(
            count(Language::PtBr, 1500, "candidato", "candidatos"),
            "1.500 candidatos"
        );
    }
}
