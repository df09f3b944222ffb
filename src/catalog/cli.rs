//! What the command line prints for the streamer: the `check-items` table,
//! a drawn or verified raffle, `migrate`'s summary, and `items
//! import`/`export`.

use super::{Language, Message, Texts};
use crate::raffle::items::ListSource;

/// A command-line text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CliText<'a> {
    /// `check-items`: the file is valid.
    ItemsValid {
        /// The file checked.
        path: &'a str,
        /// How many items it lists.
        count: usize,
    },
    /// The table's "item" column.
    ColumnItem,
    /// The table's "probability" column.
    ColumnProbability,
    /// The table's "stock" column.
    ColumnStock,
    /// A stock without a limit.
    Unlimited,
    /// The row of the chance that a round gives nothing.
    NoPrize,
    /// The table's total line.
    Total,
    /// A raffle won.
    RaffleWon {
        /// Raffle id.
        id: i64,
        /// Channel login.
        channel: &'a str,
        /// Winner's display name.
        winner: &'a str,
        /// Item won.
        item: &'a str,
        /// Candidates in the snapshot.
        candidates: i64,
        /// The snapshot digest's first characters.
        digest: &'a str,
    },
    /// A win recorded without its item or winner (written by hand).
    RaffleWonBare {
        /// Raffle id.
        id: i64,
        /// Channel login.
        channel: &'a str,
    },
    /// Nobody was eligible.
    RaffleNobody {
        /// Raffle id.
        id: i64,
        /// Channel login.
        channel: &'a str,
    },
    /// A round without a prize.
    RaffleNoPrize {
        /// Raffle id.
        id: i64,
        /// Channel login.
        channel: &'a str,
        /// Candidates in the snapshot.
        candidates: i64,
    },
    /// A round skipped under `ONLY_WHEN_LIVE`.
    RaffleSkipped {
        /// Raffle id.
        id: i64,
        /// Channel login.
        channel: &'a str,
        /// The recorded reason, as stored.
        reason: Option<&'a str>,
    },
    /// `verify`: the replay matches.
    Verified,
    /// `verify`: an offline round, nothing to replay.
    VerifiedSkipped,
    /// `verify`: differences follow.
    Mismatch {
        /// Raffle id.
        id: i64,
    },
    /// `migrate`: nothing to do.
    SchemaUpToDate {
        /// Current version.
        version: i32,
    },
    /// `migrate`: migrations applied.
    MigrationsApplied {
        /// The versions applied, as a list.
        applied: &'a str,
        /// Current version.
        version: i32,
    },
    /// `--channel` names a channel the database does not know.
    UnknownChannel {
        /// Channel login.
        channel: &'a str,
    },
    /// `items import`: the file is now the channel's list.
    ItemsImported {
        /// The file imported.
        path: &'a str,
        /// Channel login.
        channel: &'a str,
        /// How many items the list has.
        count: usize,
    },
    /// `items export`: whose list was printed (on stderr).
    ItemsSource {
        /// Channel login.
        channel: &'a str,
        /// Its own list or the default.
        source: ListSource,
    },
    /// `items export`: the file's first comment.
    ItemsExportTitle {
        /// Channel login.
        channel: &'a str,
    },
    /// `items export`: how to import the file back.
    ItemsReimport {
        /// Channel login.
        channel: &'a str,
    },
    /// `items export`: the stock still left of an item, as a comment.
    ItemsLeft {
        /// Units left.
        count: i64,
    },
    /// `items export`: there are no prizes at all.
    ItemsNone,
}

/// A count in both languages' number formats.
fn count_words(n: i64) -> (String, String) {
    (Language::En.integer(n), Language::PtBr.integer(n))
}

impl Message for CliText<'_> {
    fn texts(&self) -> Texts {
        let count = count_words;
        match *self {
            Self::ItemsValid { path, count } => Texts {
                en: format!("{path}: {count} item(s) valid").into(),
                pt_br: format!("{path}: {count} item(ns) válido(s)").into(),
            },
            Self::ColumnItem => Texts::fixed("item", "prêmio"),
            Self::ColumnProbability => Texts::fixed("probability", "chance"),
            Self::ColumnStock => Texts::fixed("stock", "estoque"),
            Self::Unlimited => Texts::fixed("unlimited", "ilimitado"),
            Self::NoPrize => Texts::fixed("no prize", "sem prêmio"),
            Self::Total => Texts::fixed("total", "soma"),
            Self::RaffleWon {
                id,
                channel,
                winner,
                item,
                candidates,
                digest,
            } => {
                let (en, pt) = count(candidates);
                Texts {
                    en: format!("raffle #{id} in #{channel}: {winner} won {item} ({en} candidates, digest {digest})")
                        .into(),
                    pt_br: format!(
                        "sorteio #{id} em #{channel}: {winner} ganhou {item} ({pt} candidatos, resumo {digest})"
                    )
                    .into(),
                }
            }
            Self::RaffleWonBare { id, channel } => Texts {
                en: format!("raffle #{id} in #{channel}: won").into(),
                pt_br: format!("sorteio #{id} em #{channel}: ganho").into(),
            },
            Self::RaffleNobody { id, channel } => Texts {
                en: format!("raffle #{id} in #{channel}: nobody was eligible").into(),
                pt_br: format!("sorteio #{id} em #{channel}: ninguém podia participar").into(),
            },
            Self::RaffleNoPrize {
                id,
                channel,
                candidates,
            } => {
                let (en, pt) = count(candidates);
                Texts {
                    en: format!("raffle #{id} in #{channel}: no prize this time ({en} candidates)").into(),
                    pt_br: format!("sorteio #{id} em #{channel}: sem prêmio desta vez ({pt} candidatos)").into(),
                }
            }
            Self::RaffleSkipped { id, channel, reason } => match reason {
                Some(reason) => Texts {
                    en: format!("raffle #{id} in #{channel}: skipped: {reason}").into(),
                    pt_br: format!("sorteio #{id} em #{channel}: pulado: {reason}").into(),
                },
                None => Texts {
                    en: format!("raffle #{id} in #{channel}: skipped: the stream was offline").into(),
                    pt_br: format!("sorteio #{id} em #{channel}: pulado: a live estava offline").into(),
                },
            },
            Self::Verified => Texts::fixed("verified", "verificado"),
            Self::VerifiedSkipped => Texts::fixed(
                "verified (skipped while offline: nothing was drawn)",
                "verificado (pulado com a live offline: nada foi sorteado)",
            ),
            Self::Mismatch { id } => Texts {
                en: format!("MISMATCH for raffle #{id}:").into(),
                pt_br: format!("DIVERGÊNCIA no sorteio #{id}:").into(),
            },
            Self::SchemaUpToDate { version } => Texts {
                en: format!("database schema is up to date (version {version})").into(),
                pt_br: format!("o esquema do banco de dados está em dia (versão {version})").into(),
            },
            Self::MigrationsApplied { applied, version } => Texts {
                en: format!("applied migrations {applied}; database schema is at version {version}").into(),
                pt_br: format!("migrações aplicadas {applied}; o esquema do banco de dados está na versão {version}")
                    .into(),
            },
            Self::UnknownChannel { channel } => Texts {
                en: format!(
                    "--channel: unknown channel {channel}; it is recorded once the bot has joined its chat (kinoyubot run)"
                )
                .into(),
                pt_br: format!(
                    "--channel: canal desconhecido {channel}; ele é registrado quando o bot entra no chat dele (kinoyubot run)"
                )
                .into(),
            },
            Self::ItemsImported { path, channel, count } => Texts {
                en: format!("{path}: {count} item(s) valid; #{channel} now draws from its own prize list").into(),
                pt_br: format!("{path}: {count} item(ns) válido(s); #{channel} agora sorteia da própria lista de prêmios")
                    .into(),
            },
            Self::ItemsSource { channel, source } => match source {
                ListSource::Channel => Texts {
                    en: format!("source: channel (#{channel}'s own prize list)").into(),
                    pt_br: format!("source: channel (a lista de prêmios do próprio #{channel})").into(),
                },
                ListSource::Default => Texts {
                    en: format!("source: default (#{channel} has no prize list of its own and uses ITEMS_FILE's)")
                        .into(),
                    pt_br: format!("source: default (#{channel} não tem lista de prêmios própria e usa a do ITEMS_FILE)")
                        .into(),
                },
            },
            Self::ItemsExportTitle { channel } => Texts {
                en: format!("KinoYuBot prize list of #{channel}").into(),
                pt_br: format!("Lista de prêmios do KinoYuBot de #{channel}").into(),
            },
            Self::ItemsReimport { channel } => Texts {
                en: format!("import it back with: kinoyubot items import --channel {channel} FILE").into(),
                pt_br: format!("importe de volta com: kinoyubot items import --channel {channel} ARQUIVO").into(),
            },
            Self::ItemsLeft { count } => {
                let (en, pt) = count_words(count);
                Texts {
                    en: format!("{en} left").into(),
                    pt_br: format!("restam {pt}").into(),
                }
            }
            Self::ItemsNone => Texts::fixed(
                "no prizes: the channel has no list of its own and there is no default list (ITEMS_FILE)",
                "sem prêmios: o canal não tem lista própria e não há lista padrão (ITEMS_FILE)",
            ),
        }
    }
}

#[cfg(test)]
pub(super) fn samples() -> Vec<CliText<'static>> {
    use CliText::*;
    vec![
        ItemsValid {
            path: "items.toml",
            count: 3,
        },
        ColumnItem,
        ColumnProbability,
        ColumnStock,
        Unlimited,
        NoPrize,
        Total,
        RaffleWon {
            id: 42,
            channel: "somestreamer",
            winner: "Viewer",
            item: "Steam key",
            candidates: 1234,
            digest: "9f2c00aa11bb",
        },
        RaffleWonBare { id: 1, channel: "c" },
        RaffleNobody { id: 1, channel: "c" },
        RaffleNoPrize {
            id: 1,
            channel: "c",
            candidates: 2,
        },
        RaffleSkipped {
            id: 1,
            channel: "c",
            reason: None,
        },
        RaffleSkipped {
            id: 1,
            channel: "c",
            reason: Some("offline"),
        },
        Verified,
        VerifiedSkipped,
        Mismatch { id: 7 },
        SchemaUpToDate { version: 10 },
        MigrationsApplied {
            applied: "[9, 10]",
            version: 10,
        },
        UnknownChannel { channel: "c" },
        ItemsImported {
            path: "items.toml",
            channel: "c",
            count: 2,
        },
        ItemsSource {
            channel: "c",
            source: ListSource::Channel,
        },
        ItemsSource {
            channel: "c",
            source: ListSource::Default,
        },
        ItemsExportTitle { channel: "c" },
        ItemsReimport { channel: "c" },
        ItemsLeft { count: 1500 },
        ItemsNone,
    ]
}

/// The `check-items` table's words in `language`.
pub(crate) fn table_words(language: Language) -> crate::raffle::items::TableWords {
    crate::raffle::items::TableWords {
        item: language.say(&CliText::ColumnItem),
        probability: language.say(&CliText::ColumnProbability),
        stock: language.say(&CliText::ColumnStock),
        unlimited: language.say(&CliText::Unlimited),
        no_prize: language.say(&CliText::NoPrize),
        total: language.say(&CliText::Total),
        decimal: language.decimal_separator(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_items_table_and_a_drawn_raffle_read_in_portuguese() {
        let words = table_words(Language::PtBr);
        assert_eq!((words.item.as_str(), words.decimal), ("prêmio", ','));
        assert_eq!(
            Language::PtBr.say(&CliText::RaffleNoPrize {
                id: 2,
                channel: "canal",
                candidates: 1234
            }),
            "sorteio #2 em #canal: sem prêmio desta vez (1.234 candidatos)"
        );
        assert_eq!(
            Language::En.say(&CliText::RaffleNoPrize {
                id: 2,
                channel: "canal",
                candidates: 1234
            }),
            "raffle #2 in #canal: no prize this time (1,234 candidates)"
        );
    }
}
