//! The control room (SPEC §13): what a signed-in streamer sees above the
//! public board, one section per channel they manage.
//!
//! Everything is rendered here, with every word from the catalog: the
//! buttons, the settings form (one labelled field per setting of
//! `GET /api/channels/{login}/settings`, with its hint, source and reset
//! button, and a place for the server's message about it), the prize
//! editor (its row is a `<template>` the script clones), the probability
//! table, the viewers table and the history. `static/control.js` fills in
//! the values the API answers and sends the changes; the words it writes
//! itself come from the `#control-words` JSON block (not executable: the
//! Content-Security-Policy allows only our own script files).
//!
//! The history is also served alone (`/partials/history/{login}`), so the
//! script refreshes it after a draw or a resend without knowing what a
//! delivery state means.

use maud::{Markup, PreEscaped, html};
use serde_json::json;

use super::dashboard::{delivery_line, outcome_words};
use super::layout::rich;
use crate::announce::{DeliveryFailure, DeliveryStatus};
use crate::catalog::{ControlText, Language, percent_sign, table_words};
use crate::channel::settings::Setting;
use crate::raffle::RaffleRecord;
use crate::raffle::viewers::ViewerReason;

/// A channel the signed-in streamer manages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Managed<'a> {
    /// Its login.
    pub(crate) login: &'a str,
    /// Its display name.
    pub(crate) display_name: &'a str,
    /// Whether its raffles are paused.
    pub(crate) paused: bool,
    /// Its latest raffles, newest first.
    pub(crate) history: &'a [RaffleRecord],
}

/// What the control room shows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ControlRoom<'a> {
    /// Who is signed in.
    pub(crate) login: &'a str,
    /// The channels they manage.
    pub(crate) channels: &'a [Managed<'a>],
    /// `DISCORD_WEBHOOK_URL` is set (a sent row was announced, not printed).
    pub(crate) announces_on_discord: bool,
}

fn say(language: Language, text: &ControlText<'_>) -> String {
    language.say(text)
}

/// How a setting is edited.
enum Widget {
    /// Free text (durations, lists, numbers), validated by the server.
    Text {
        /// `inputmode` for on-screen keyboards.
        mode: &'static str,
    },
    /// One of a few values: (value sent, its words).
    Choice(&'static [(&'static str, ControlText<'static>)]),
}

const YES_NO: &[(&str, ControlText<'static>)] = &[("true", ControlText::Yes), ("false", ControlText::No)];

fn widget(setting: Setting) -> Widget {
    match setting {
        Setting::SubscriberLuck | Setting::ClaimRedraws | Setting::MinMessages => Widget::Text { mode: "numeric" },
        Setting::OnlyWhenLive | Setting::SubscribersOnly => Widget::Choice(YES_NO),
        Setting::ChatAnnounce => Widget::Choice(&[
            ("off", ControlText::AnnounceOff),
            ("winners", ControlText::AnnounceWinners),
            ("all", ControlText::AnnounceAll),
        ]),
        Setting::Language => Widget::Choice(&[
            ("en", ControlText::LanguageChoice(Language::En)),
            ("pt-BR", ControlText::LanguageChoice(Language::PtBr)),
        ]),
        Setting::PresenceSources => Widget::Choice(&[
            ("chat", ControlText::SourcesChat),
            ("chat,chatters", ControlText::SourcesChatters),
        ]),
        Setting::RaffleInterval
        | Setting::ActiveWindow
        | Setting::WinnerCooldown
        | Setting::IgnoreUsers
        | Setting::ClaimWindow
        | Setting::MinFollowAge
        | Setting::MinAccountAge => Widget::Text { mode: "text" },
    }
}

/// The control room: the words block, then one section per channel.
pub(crate) fn control_room(language: Language, room: &ControlRoom<'_>) -> Markup {
    html! {
        (words(language))
        @for channel in room.channels {
            (channel_section(language, room, channel))
        }
    }
}

/// The words the script writes, as JSON (`<` escaped so the block cannot
/// end early; every value is ours anyway).
fn words(language: Language) -> Markup {
    let table = table_words(language);
    let reasons: serde_json::Map<String, serde_json::Value> = ViewerReason::all()
        .into_iter()
        .map(|reason| {
            (
                reason.as_str().to_owned(),
                json!(say(language, &ControlText::ViewerReason(reason))),
            )
        })
        .collect();
    let value = json!({
        "locale": language.tag(),
        "decimal": language.decimal_separator().to_string(),
        "percent_sign": percent_sign(language),
        "working": say(language, &ControlText::Working),
        "refused": say(language, &ControlText::Refused),
        "unreachable": say(language, &ControlText::Unreachable),
        "session_gone": say(language, &ControlText::SessionGone),
        "signed_out": say(language, &ControlText::SignedOut),
        "drawn": say(language, &ControlText::Drawn),
        "paused_done": say(language, &ControlText::PausedDone),
        "resumed_done": say(language, &ControlText::ResumedDone),
        "state_running": say(language, &ControlText::StateRunning),
        "state_paused": say(language, &ControlText::StatePaused),
        "saved": say(language, &ControlText::Saved),
        "nothing_changed": say(language, &ControlText::NothingChanged),
        "source_default": say(language, &ControlText::SourceDefault),
        "source_channel": say(language, &ControlText::SourceChannel),
        "prizes_own": say(language, &ControlText::PrizesOwn),
        "prizes_default": say(language, &ControlText::PrizesDefault),
        "remove_row": say(language, &ControlText::RemovePrizeRow),
        "name_row": say(language, &ControlText::PrizeNameRow),
        "probability_row": say(language, &ControlText::PrizeProbabilityRow),
        "stock_row": say(language, &ControlText::PrizeStockRow),
        "unlimited": table.unlimited,
        "no_prize": table.no_prize,
        "resent": say(language, &ControlText::Resent),
        "yes": say(language, &ControlText::EligibleYes),
        "no": say(language, &ControlText::EligibleNo),
        "reasons": reasons,
        "outcomes": {
            "won": language.say(&outcome_words(crate::raffle::Outcome::Won)),
            "no_prize": language.say(&outcome_words(crate::raffle::Outcome::NoPrize)),
            "no_candidates": language.say(&outcome_words(crate::raffle::Outcome::NoCandidates)),
            "skipped_offline": language.say(&outcome_words(crate::raffle::Outcome::SkippedOffline)),
        },
    });
    let text = value.to_string().replace('<', "\\u003c");
    html! {
        script type="application/json" id="control-words" { (PreEscaped(text)) }
    }
}

/// One managed channel's controls.
fn channel_section(language: Language, room: &ControlRoom<'_>, channel: &Managed<'_>) -> Markup {
    let id = |part: &str| format!("{}-{part}", channel.login);
    html! {
        section class="control" data-login=(channel.login) aria-labelledby=(id("control-title")) {
            header class="control-head" {
                div {
                    h2 id=(id("control-title")) { (say(language, &ControlText::Title { name: channel.display_name })) }
                    p class="signed-in" { (say(language, &ControlText::SignedInAs { login: room.login })) }
                }
                button type="button" class="button secondary sign-out" { (say(language, &ControlText::SignOut)) }
            }
            noscript { p class="note" { (say(language, &ControlText::NeedsScript)) } }
            p class="control-alert" role="alert" {}
            p class="control-status" role="status" {}
            div class="control-actions" {
                p class="state" data-paused=(channel.paused) {
                    @if channel.paused { (say(language, &ControlText::StatePaused)) }
                    @else { (say(language, &ControlText::StateRunning)) }
                }
                button type="button" class="button draw" { (say(language, &ControlText::DrawNow)) }
                button type="button" class="button secondary pause" hidden[channel.paused] {
                    (say(language, &ControlText::Pause))
                }
                button type="button" class="button secondary resume" hidden[!channel.paused] {
                    (say(language, &ControlText::Resume))
                }
            }
            (settings_form(language, channel.login))
            (prize_editor(language, channel.login))
            (viewers(language, channel.login))
            section class="history-section" {
                h3 id=(id("history-title")) tabindex="-1" { (say(language, &ControlText::HistoryTitle)) }
                (history(language, channel.login, channel.history, room.announces_on_discord))
            }
        }
    }
}

/// The settings form: every per-channel setting, labelled, with its hint,
/// its source, a reset button and a place for the server's message.
fn settings_form(language: Language, login: &str) -> Markup {
    let title = format!("{login}-settings-title");
    html! {
        section class="settings-section" {
            h3 id=(title) { (say(language, &ControlText::SettingsTitle)) }
            p class="intro" { (say(language, &ControlText::SettingsIntro)) }
            form class="settings" novalidate {
                div class="fields" {
                    @for setting in Setting::ALL { (field(language, login, setting)) }
                }
                p class="form-error" role="alert" {}
                div class="form-actions" {
                    button type="submit" class="button save-settings" { (say(language, &ControlText::SaveSettings)) }
                    span class="form-status" role="status" {}
                }
            }
        }
    }
}

fn field(language: Language, login: &str, setting: Setting) -> Markup {
    let name = setting.name();
    let id = format!("{login}-setting-{name}");
    let hint = format!("{id}-hint");
    let source = format!("{id}-source");
    let error = format!("{id}-error");
    let described = format!("{hint} {source} {error}");
    let label = say(language, &ControlText::SettingLabel(setting));
    html! {
        div class="field" data-setting=(name) {
            label for=(id) { (label) }
            div class="field-row" {
                @match widget(setting) {
                    Widget::Text { mode } => {
                        input id=(id) name=(name) type="text" inputmode=(mode) autocomplete="off"
                            spellcheck="false" aria-describedby=(described);
                    }
                    Widget::Choice(choices) => {
                        select id=(id) name=(name) aria-describedby=(described) {
                            @for (value, words) in choices {
                                option value=(value) { (say(language, words)) }
                            }
                        }
                    }
                }
                span class="source" id=(source) {}
                button type="button" class="reset" aria-label=(say(language, &ControlText::ResetField { label: &label })) {
                    (say(language, &ControlText::Reset))
                }
            }
            p class="hint" id=(hint) { (rich(&say(language, &ControlText::SettingHint(setting)))) }
            p class="field-error" id=(error) {}
        }
    }
}

/// The prize editor: rows (cloned from the template), the live table.
fn prize_editor(language: Language, login: &str) -> Markup {
    let title = format!("{login}-prizes-title");
    let hints = format!("{login}-prizes-hints");
    let caption = format!("{login}-chances-caption");
    let table = table_words(language);
    html! {
        section class="prizes-section" {
            h3 id=(title) { (say(language, &ControlText::PrizesTitle)) }
            p class="prize-source" {}
            p class="hint" id=(hints) {
                (say(language, &ControlText::ProbabilityHint)) " " (say(language, &ControlText::StockHint))
            }
            form class="prizes" novalidate {
                div class="table-scroll" role="region" tabindex="0" aria-labelledby=(title) {
                    table class="editor" {
                        thead {
                            tr {
                                th scope="col" { (say(language, &ControlText::ColumnName)) }
                                th scope="col" { (say(language, &ControlText::ColumnProbability)) }
                                th scope="col" { (say(language, &ControlText::ColumnStock)) }
                                th scope="col" { span class="visually-hidden" { (say(language, &ControlText::RemovePrize)) } }
                            }
                        }
                        tbody class="prize-rows" {}
                    }
                }
                template class="prize-row" {
                    tr {
                        td { input class="prize-name" type="text" maxlength="100" autocomplete="off" aria-describedby=(hints); }
                        td { input class="prize-probability" type="text" inputmode="decimal" autocomplete="off" aria-describedby=(hints); }
                        td { input class="prize-stock" type="text" inputmode="numeric" autocomplete="off" aria-describedby=(hints); }
                        td { button type="button" class="reset remove-prize" { (say(language, &ControlText::RemovePrize)) } }
                    }
                }
                p class="form-error prize-error" role="alert" {}
                div class="form-actions" {
                    button type="button" class="button secondary add-prize" { (say(language, &ControlText::AddPrize)) }
                    button type="submit" class="button save-prizes" { (say(language, &ControlText::SavePrizes)) }
                    span class="form-status" role="status" {}
                }
            }
            div class="table-scroll" role="region" tabindex="0" aria-labelledby=(caption) {
                table class="chances" {
                    caption id=(caption) { (rich(&say(language, &ControlText::ChancesCaption))) }
                    thead {
                        tr {
                            th scope="col" { (table.item) }
                            th scope="col" class="number" { (table.probability) }
                            th scope="col" { (table.stock) }
                        }
                    }
                    tbody {}
                    tfoot {
                        tr {
                            th scope="row" { (table.total) }
                            td class="number total" {}
                            td {}
                        }
                    }
                }
            }
        }
    }
}

/// The viewers table, paged by the script.
fn viewers(language: Language, login: &str) -> Markup {
    let title = format!("{login}-viewers-title");
    html! {
        section class="viewers-section" {
            div class="section-head" {
                h3 id=(title) { (say(language, &ControlText::ViewersTitle)) }
                button type="button" class="button secondary refresh-viewers" { (say(language, &ControlText::Refresh)) }
            }
            p class="intro" { (say(language, &ControlText::ViewersIntro)) }
            div class="table-scroll" role="region" tabindex="0" aria-labelledby=(title) {
                table class="viewer-table" {
                    thead {
                        tr {
                            th scope="col" { (say(language, &ControlText::ColumnViewer)) }
                            th scope="col" { (say(language, &ControlText::ColumnEligible)) }
                            th scope="col" class="number" { (say(language, &ControlText::ColumnWeight)) }
                            th scope="col" class="number" { (say(language, &ControlText::ColumnChance)) }
                            th scope="col" { (say(language, &ControlText::ColumnReason)) }
                        }
                    }
                    tbody {}
                }
            }
            p class="none no-viewers" hidden { (say(language, &ControlText::NoViewers)) }
            button type="button" class="button secondary load-more" hidden { (say(language, &ControlText::LoadMore)) }
        }
    }
}

/// A channel's history: each raffle with its delivery state, a resend
/// button on a failed one, and what to check when the webhook is gone.
pub(crate) fn history(language: Language, login: &str, raffles: &[RaffleRecord], announces_on_discord: bool) -> Markup {
    html! {
        div class="history" data-login=(login) {
            @if raffles.is_empty() {
                p class="none" { (say(language, &ControlText::NoRafflesYet)) }
            } @else {
                div class="table-scroll" role="region" tabindex="0" aria-labelledby=(format!("{login}-history-title")) {
                    table class="history-table" {
                        thead {
                            tr {
                                th scope="col" { (say(language, &ControlText::ColumnRound)) }
                                th scope="col" { (say(language, &ControlText::ColumnWhen)) }
                                th scope="col" { (say(language, &ControlText::ColumnPrize)) }
                                th scope="col" { (say(language, &ControlText::ColumnWinner)) }
                                th scope="col" { (say(language, &ControlText::ColumnDelivery)) }
                            }
                        }
                        tbody {
                            @for raffle in raffles { (history_row(language, raffle, announces_on_discord)) }
                        }
                    }
                }
            }
        }
    }
}

fn history_row(language: Language, raffle: &RaffleRecord, announces_on_discord: bool) -> Markup {
    let (class, words) = delivery_line(language, raffle.delivery.as_ref(), announces_on_discord);
    // Any failed row, the Discord post or a chat line, can be resent (the
    // resend route puts every failed row of the raffle back).
    let failures: Vec<Option<DeliveryFailure>> = raffle
        .delivery
        .iter()
        .filter(|delivery| delivery.status == DeliveryStatus::Failed)
        .map(|delivery| delivery.failure)
        .chain(
            raffle
                .deliveries
                .iter()
                .filter(|delivery| delivery.status == DeliveryStatus::Failed)
                .map(|delivery| delivery.failure),
        )
        .collect();
    let gone = failures.contains(&Some(DeliveryFailure::WebhookGone));
    html! {
        tr data-raffle=(raffle.id) {
            th scope="row" {
                a class="raffle-number" href={ "raffles/" (raffle.id) } { (say(language, &ControlText::RaffleNumber { id: raffle.id })) }
                " " span class="outcome" { (language.say(&outcome_words(raffle.outcome))) }
            }
            td {
                time class="when" datetime=(raffle.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
                    (language.date_time(&raffle.created_at))
                }
            }
            td class="item" { (raffle.item_name.as_deref().unwrap_or("\u{2014}")) }
            td class="winner-cell" { (raffle.winner.as_ref().map_or("\u{2014}", |w| w.display_name.as_str())) }
            td {
                span class={ "delivery " (class) } { (words) }
                @if gone {
                    p class="webhook-hint" { (rich(&say(language, &ControlText::CheckWebhook))) }
                }
                @if !failures.is_empty() {
                    button type="button" class="button secondary resend" data-raffle=(raffle.id)
                        aria-label=(say(language, &ControlText::ResendRaffle { id: raffle.id })) {
                        (say(language, &ControlText::Resend))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raffle::{Delivery, Outcome, Trigger, Winner};
    use chrono::{DateTime, Utc};

    fn raffle(id: i64, status: DeliveryStatus, error: Option<&str>, failure: Option<DeliveryFailure>) -> RaffleRecord {
        RaffleRecord {
            id,
            channel_login: "streamer".into(),
            channel_display_name: "Streamer".into(),
            slot: None,
            trigger: Trigger::Manual,
            outcome: Outcome::Won,
            item_name: Some("Steam <key>".into()),
            winner: Some(Winner {
                user_id: "1".into(),
                login: "viewer".into(),
                display_name: "<b>Viewer</b>".into(),
            }),
            candidates_digest: "ab".into(),
            candidate_count: 3,
            created_at: DateTime::parse_from_rfc3339("2026-11-24T20:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
            skip_reason: None,
            delivery: Some(Delivery {
                status,
                error: error.map(Into::into),
                failure,
            }),
            deliveries: Vec::new(),
            claim: None,
            redraw_of: None,
            excluded: crate::raffle::eligibility::ExclusionCounts::default(),
        }
    }

    #[test]
    fn every_setting_is_a_labelled_field_tied_to_its_hint_source_and_error() {
        let history = [raffle(1, DeliveryStatus::Sent, None, None)];
        let channels = [Managed {
            login: "streamer",
            display_name: "Streamer",
            paused: false,
            history: &history,
        }];
        let room = ControlRoom {
            login: "streamer",
            channels: &channels,
            announces_on_discord: true,
        };
        let html = control_room(Language::En, &room).into_string();
        for setting in Setting::ALL {
            let id = format!("streamer-setting-{}", setting.name());
            assert!(html.contains(&format!("<label for=\"{id}\">")), "{id} labelled");
            assert!(
                html.contains(&format!("aria-describedby=\"{id}-hint {id}-source {id}-error\"")),
                "{id} described"
            );
            assert!(html.contains(&format!("<p class=\"field-error\" id=\"{id}-error\">")));
        }
        assert!(html.contains("Control room · Streamer"), "{html}");
        assert!(html.contains("<p class=\"control-alert\" role=\"alert\">"), "{html}");
        assert!(!html.contains("<b>"), "names are escaped: {html}");
        assert!(html.contains("&lt;b&gt;Viewer&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<script>"), "no executable inline script");
        assert!(html.contains("<script type=\"application/json\" id=\"control-words\">"));
        assert!(!html.contains("class=\"button secondary resend\""), "nothing failed");
        assert!(html.contains("class=\"button secondary resume\" hidden"), "{html}");
    }

    #[test]
    fn a_failed_delivery_offers_resend_and_a_gone_webhook_says_what_to_check() {
        let gone = raffle(
            7,
            DeliveryStatus::Failed,
            Some("Discord rejected the message: 404 Not Found: Unknown Webhook (code 10015)"),
            Some(DeliveryFailure::WebhookGone),
        );
        let flaky = raffle(
            8,
            DeliveryStatus::Failed,
            Some("Discord rejected the message: 400 Bad Request: x"),
            Some(DeliveryFailure::Rejected),
        );
        let html = history(Language::PtBr, "streamer", &[gone, flaky], true).into_string();
        assert_eq!(html.matches("class=\"button secondary resend\"").count(), 2, "{html}");
        assert!(html.contains("aria-label=\"Reenviar sorteio #7\""), "{html}");
        assert_eq!(html.matches("<code>DISCORD_WEBHOOK_URL</code>").count(), 1, "{html}");
        assert!(html.contains("Steam &lt;key&gt;"), "{html}");
        assert!(
            html.contains("<a class=\"raffle-number\" href=\"raffles/7\">Sorteio #7</a>"),
            "{html}"
        );
    }

    #[test]
    fn a_failed_chat_line_offers_resend_even_when_discord_was_sent() {
        let mut chat_failed = raffle(9, DeliveryStatus::Sent, None, None);
        chat_failed.deliveries = vec![
            crate::raffle::OutboxDelivery {
                kind: crate::announce::OutboxKind::Discord,
                event: crate::announce::OutboxEvent::Win,
                status: DeliveryStatus::Sent,
                error: None,
                failure: None,
            },
            crate::raffle::OutboxDelivery {
                kind: crate::announce::OutboxKind::TwitchChat,
                event: crate::announce::OutboxEvent::Win,
                status: DeliveryStatus::Failed,
                error: Some("Twitch dropped the message: msg_duplicate".into()),
                failure: Some(DeliveryFailure::Rejected),
            },
        ];
        let all_sent = raffle(10, DeliveryStatus::Sent, None, None);
        let html = history(Language::En, "streamer", &[chat_failed, all_sent], true).into_string();
        assert_eq!(html.matches("class=\"button secondary resend\"").count(), 1, "{html}");
        assert!(html.contains("aria-label=\"Resend raffle #9\""), "{html}");
        assert!(
            !html.contains("DISCORD_WEBHOOK_URL"),
            "a chat line is not the webhook: {html}"
        );
    }

    #[test]
    fn the_words_block_cannot_end_the_script_early() {
        let html = words(Language::PtBr).into_string();
        let inner = html
            .trim_start_matches("<script type=\"application/json\" id=\"control-words\">")
            .trim_end_matches("</script>");
        assert!(!inner.contains('<'), "{inner}");
        let value: serde_json::Value = serde_json::from_str(inner).expect("JSON");
        assert_eq!(value["decimal"], ",");
        assert_eq!(value["percent_sign"], "\u{a0}%");
        assert_eq!(value["no_prize"], table_words(Language::PtBr).no_prize);
        assert_eq!(value["reasons"]["not_subscriber"], "não é inscrito");
    }
}
