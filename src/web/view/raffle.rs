//! The public page of one raffle (`GET /raffles/{id}`): its result, the
//! claim, and how to verify it. No script; names and items are escaped by
//! maud, and the winner is shown by display name only (no `@`, no ping).

use maud::{Markup, html};

use super::layout::{Shell, page as shell_page, rich};
use crate::catalog::{DashboardText, Language, RafflePageText};
use crate::raffle::{ClaimStatus, Outcome, RaffleRecord};

/// What the raffle page shows.
pub(crate) struct RafflePage<'a> {
    /// The raffle.
    pub(crate) record: &'a RaffleRecord,
    /// The seed as hex, once drawn (`None` for a round skipped offline).
    pub(crate) seed_hex: Option<&'a str>,
    /// The raffle that redrew this one's prize after its claim expired.
    pub(crate) redrawn_as: Option<i64>,
    /// The page's language.
    pub(crate) language: Language,
}

/// A link to another raffle's page (pages are siblings under `/raffles/`).
fn raffle_link(id: i64, language: Language) -> Markup {
    html! {
        a href={ "./" (id) } { (language.say(&RafflePageText::RaffleLink { id })) }
    }
}

/// The whole page.
pub(crate) fn page(view: &RafflePage<'_>) -> Markup {
    let language = view.language;
    let record = view.record;
    let say = |text: &RafflePageText<'_>| language.say(text);
    let title = say(&RafflePageText::Title { id: record.id });
    let at = language.date_time(&record.created_at);
    let result = match record.outcome {
        Outcome::Won => RafflePageText::Won,
        Outcome::NoPrize => RafflePageText::NoPrize,
        Outcome::NoCandidates => RafflePageText::NoCandidates,
        Outcome::SkippedOffline => RafflePageText::SkippedOffline,
    };
    let shell = Shell {
        title: Some(&title),
        root: "../",
        script: false,
        control: false,
        actions: html! {},
        language,
        switch: true,
    };
    shell_page(
        shell,
        html! {
            article class="message raffle" aria-labelledby="raffle-title" {
                h2 id="raffle-title" { (title) }
                p class="lead" {
                    (say(&RafflePageText::Lead { channel: &record.channel_display_name, at: &at }))
                }
                dl class="facts" {
                    div {
                        dt { (say(&RafflePageText::ResultLabel)) }
                        dd { (say(&result)) }
                    }
                    div {
                        dt { (say(&RafflePageText::ItemLabel)) }
                        dd class="prize" {
                            @match &record.item_name {
                                Some(item) => { (item) },
                                None => { (say(&RafflePageText::NoItem)) },
                            }
                        }
                    }
                    div {
                        dt { (say(&RafflePageText::WinnerLabel)) }
                        dd class="winner-name" {
                            @match &record.winner {
                                Some(winner) => { (winner.display_name) },
                                None => { (say(&RafflePageText::NoWinner)) },
                            }
                        }
                    }
                    div {
                        dt { (say(&RafflePageText::CandidatesLabel)) }
                        dd class="candidates" {
                            (say(&RafflePageText::Candidates { n: i64::from(record.candidate_count) }))
                        }
                    }
                    @if let Some(claim) = record.claim {
                        div {
                            dt { (say(&RafflePageText::ClaimLabel)) }
                            dd class={ "claim " (claim.status.as_str()) } {
                                @match claim.status {
                                    ClaimStatus::Pending => {
                                        (say(&RafflePageText::ClaimPending { deadline: &language.date_time(&claim.deadline) }))
                                    },
                                    ClaimStatus::Claimed => { (say(&RafflePageText::ClaimClaimed)) },
                                    ClaimStatus::Expired => {
                                        (say(&RafflePageText::ClaimExpired))
                                        @if let Some(redraw) = view.redrawn_as {
                                            ". " (say(&RafflePageText::RedrawnAs)) " " (raffle_link(redraw, language))
                                        }
                                    },
                                }
                            }
                        }
                    }
                    @if let Some(parent) = record.redraw_of {
                        div {
                            dt { (say(&RafflePageText::RedrawLabel)) }
                            dd class="redraw-of" {
                                (say(&RafflePageText::RedrawOf)) " " (raffle_link(parent, language))
                            }
                        }
                    }
                    div {
                        dt { (say(&RafflePageText::DigestLabel)) }
                        dd { code class="hash" { (record.candidates_digest) } }
                    }
                    div {
                        dt { (say(&RafflePageText::SeedLabel)) }
                        dd {
                            @match view.seed_hex {
                                Some(seed) => { code class="hash seed" { (seed) } },
                                None => { (say(&RafflePageText::NoSeed)) },
                            }
                        }
                    }
                }
            }
            section class="message verify" aria-labelledby="verify-title" {
                h2 id="verify-title" { (say(&RafflePageText::VerifyHeading)) }
                p { (say(&RafflePageText::VerifyIntro)) }
                p { (rich(&say(&RafflePageText::VerifyCommand { id: record.id }))) }
                p {
                    (say(&RafflePageText::VerifySnapshot)) " "
                    a href={ "../api/raffles/" (record.id) "/snapshot" } type="application/json" {
                        (say(&RafflePageText::SnapshotLink))
                    }
                }
                p { (say(&RafflePageText::VerifyDigest)) }
                p { a href="../" { (language.say(&DashboardText::BackToDashboard)) } }
            }
        },
    )
}

/// The page of an unknown raffle.
pub(crate) fn not_found(language: Language) -> Markup {
    super::message_page(
        &language.say(&RafflePageText::NotFoundTitle),
        &language.say(&RafflePageText::NotFound),
        "../",
        language,
    )
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::raffle::{Claim, Trigger, Winner};

    fn record() -> RaffleRecord {
        let at = DateTime::parse_from_rfc3339("2026-11-24T20:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        RaffleRecord {
            id: 42,
            channel_login: "chan".into(),
            channel_display_name: "Chan".into(),
            slot: None,
            trigger: Trigger::Manual,
            outcome: Outcome::Won,
            item_name: Some("Steam <key>".into()),
            winner: Some(Winner {
                user_id: "1".into(),
                login: "viewer".into(),
                display_name: "<script>alert(1)</script>".into(),
            }),
            candidates_digest: "ab12".into(),
            candidate_count: 1500,
            created_at: at,
            skip_reason: None,
            delivery: None,
            deliveries: Vec::new(),
            claim: Some(Claim {
                status: ClaimStatus::Expired,
                deadline: at,
            }),
            redraw_of: None,
            excluded: crate::raffle::eligibility::ExclusionCounts::default(),
        }
    }

    #[test]
    fn the_page_escapes_names_and_shows_every_fact() {
        let record = record();
        let html = page(&RafflePage {
            record: &record,
            seed_hex: Some("00ff"),
            redrawn_as: Some(43),
            language: Language::En,
        })
        .into_string();
        assert!(html.contains("<html lang=\"en\">"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("Steam &lt;key&gt;"), "{html}");
        assert!(html.contains("1,500 viewers"), "{html}");
        assert!(html.contains("ab12") && html.contains("00ff"), "{html}");
        assert!(html.contains("href=\"./43\""), "{html}");
        assert!(html.contains("href=\"../api/raffles/42/snapshot\""), "{html}");
        assert!(html.contains("<code>kinoyubot verify 42</code>"), "{html}");
        assert!(
            html.contains("<main>") && html.contains("<h1>") && html.contains("<h2"),
            "{html}"
        );
        assert!(!html.contains("style=") && !html.contains("<script"), "{html}");
    }

    #[test]
    fn a_skipped_round_has_no_seed_and_portuguese_reads_portuguese() {
        let mut record = record();
        record.outcome = Outcome::SkippedOffline;
        record.item_name = None;
        record.winner = None;
        record.claim = None;
        let html = page(&RafflePage {
            record: &record,
            seed_hex: None,
            redrawn_as: None,
            language: Language::PtBr,
        })
        .into_string();
        assert!(html.contains("<html lang=\"pt-BR\">"), "{html}");
        assert!(html.contains("Nenhuma: nada foi sorteado"), "{html}");
        assert!(html.contains("Nenhum prêmio") && html.contains("Ninguém"), "{html}");
        assert!(html.contains("1.500 espectadores"), "{html}");
    }
}
