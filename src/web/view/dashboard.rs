//! The dashboard page, and the board its script refreshes.
//!
//! The board (`#board`) holds everything that changes: the first-run help
//! and one card per channel. The page renders it once; `/partials/channels`
//! renders it alone and the script swaps it in, so this file is the only
//! place that knows the markup. Typed data becomes words and CSS classes
//! here: the script never sees an outcome, a live state or a delivery status.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::control::{ControlRoom, control_room};
use super::layout::{Shell, page as shell_page, rich};
use crate::announce::DeliveryStatus;
use crate::catalog::{DashboardText, Language, SetupText};
use crate::raffle::round::no_prize_list_reason;
use crate::raffle::{Delivery, Outcome, RaffleRecord};
use crate::twitch::irc::ChatState;
use crate::web::status::ChannelStatus;

/// Winners shown per channel.
const WINNERS_PER_CHANNEL: usize = 5;

/// What the dashboard shows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dashboard<'a> {
    /// Every channel, by login (as in `/api/status`).
    pub(crate) channels: &'a [ChannelStatus],
    /// Recent raffles of every channel, newest first.
    pub(crate) recent: &'a [RaffleRecord],
    /// How this install is set up, as far as the page explains it.
    pub(crate) setup: Setup<'a>,
    /// Whether chat is read for every served channel.
    pub(crate) chat: ChatState,
    /// Who the bot speaks as in chat.
    pub(crate) speaker: &'a Speaker,
}

/// Who the bot speaks as in chat (SPEC §11), or why it is silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Speaker {
    /// Without Twitch credentials the bot cannot speak.
    NotConfigured,
    /// No bot account is connected yet.
    NotConnected,
    /// The connected account's refresh token was refused: connect it again.
    NeedsReauth {
        /// Its login.
        login: String,
    },
    /// The bot speaks as this account.
    Speaks {
        /// Its login.
        login: String,
        /// Its display name.
        display_name: String,
    },
}

/// What the page explains about the settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setup<'a> {
    /// `DISCORD_WEBHOOK_URL` is set: winners are announced, not printed.
    pub(crate) announces_on_discord: bool,
    /// Whether rounds wait for the stream to be live.
    pub(crate) stream_wait: StreamWait,
    /// `ACTIVE_WINDOW`, as written (`10m`).
    pub(crate) active_window: &'a str,
    /// `ITEMS_FILE` when it does not exist: nothing is drawn.
    pub(crate) missing_prize_list: Option<&'a str>,
}

/// Whether rounds wait for the stream (`ONLY_WHEN_LIVE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamWait {
    /// Rounds are skipped while offline.
    Waits,
    /// `ONLY_WHEN_LIVE=false`.
    Off,
    /// `ONLY_WHEN_LIVE=true`, but without Twitch credentials the live
    /// status is unknown and rounds run anyway.
    Unchecked,
}

/// Who is looking, as far as the page cares: whether Connect is offered,
/// and the language the page is written in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visitor {
    /// Twitch is configured: offer Connect and Reconnect.
    pub(crate) can_connect: bool,
    /// The page's language (see `web::dashboard::page_language`).
    pub(crate) language: Language,
}

impl Visitor {
    fn say(&self, text: DashboardText<'_>) -> String {
        self.language.say(&text)
    }
}

/// The whole page; `notice` is shown above the board (the database is
/// away); `control` is the control room of a signed-in streamer, above the
/// board.
pub(crate) fn page(
    visitor: &Visitor,
    dashboard: &Dashboard<'_>,
    notice: Option<&str>,
    control: Option<&ControlRoom<'_>>,
) -> Markup {
    let shell = Shell {
        title: None,
        root: "",
        script: true,
        control: control.is_some(),
        actions: actions(visitor, control.is_some()),
        language: visitor.language,
        switch: true,
    };
    shell_page(
        shell,
        html! {
            (notice_line(visitor, notice))
            @if let Some(control) = control { (control_room(visitor.language, control)) }
            (board(visitor, dashboard))
        },
    )
}

/// The header's right-hand side. The script writes the refresh time into
/// `#updated` with the words of its `data-` attributes. It changes every
/// second, so it is not a live region (a screen reader would read it out
/// every second); the notice below is the one that is announced. A
/// signed-in streamer is not offered Connect again.
fn actions(visitor: &Visitor, signed_in: bool) -> Markup {
    html! {
        span id="updated" class="updated"
            data-just-now=(visitor.say(DashboardText::UpdatedJustNow))
            data-ago=(visitor.say(DashboardText::UpdatedAgo)) {}
        @if visitor.can_connect && !signed_in {
            a id="connect" class="button twitch" href="auth/twitch" { (visitor.say(DashboardText::ConnectWithTwitch)) }
        }
    }
}

/// The notice line, an alert (announced as soon as it says something;
/// hidden by the stylesheet while empty); the script shows `data-offline`
/// in it when a refresh fails.
fn notice_line(visitor: &Visitor, notice: Option<&str>) -> Markup {
    html! {
        p id="notice" class="notice" role="alert"
            data-offline=(visitor.say(DashboardText::Offline)) {
            @if let Some(notice) = notice { (notice) }
        }
    }
}

/// Everything that changes: the first-run help (hidden once there is a
/// channel) and the channel cards. Its `data-` attributes are the words the
/// script's countdowns and local times use, and `lang` the locale of its
/// dates and numbers.
pub(crate) fn board(visitor: &Visitor, dashboard: &Dashboard<'_>) -> Markup {
    html! {
        div id="board" lang=(visitor.language.tag())
            data-countdown=(visitor.say(DashboardText::CountdownIn))
            data-due=(visitor.say(DashboardText::DrawingNow))
            data-today=(visitor.say(DashboardText::TodayAt)) {
            (prize_list_help(visitor, dashboard.setup.missing_prize_list))
            (first_run(visitor, !dashboard.channels.is_empty()))
            (speaker_line(visitor, dashboard.speaker))
            (chat_line(visitor, dashboard.chat))
            section id="channels" class="channels" {
                @for channel in dashboard.channels {
                    (channel_card(visitor, channel, dashboard))
                }
            }
            @if !dashboard.channels.is_empty() {
                (legend(visitor, &dashboard.setup))
            }
        }
    }
}

/// "Chat connected", or since when it is not (local time once the script runs).
fn chat_line(visitor: &Visitor, chat: ChatState) -> Markup {
    html! {
        @match chat {
            ChatState::Connected => p id="chat" class="chat connected" { (visitor.say(DashboardText::ChatConnected)) },
            ChatState::Disconnected { since } => p id="chat" class="chat disconnected" {
                (visitor.say(DashboardText::ChatDisconnectedSince)) " "
                time class="when" datetime=(since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
                    (visitor.language.date_time(&since))
                }
            },
        }
    }
}

/// What to do when there is no prize list.
fn prize_list_help(visitor: &Visitor, missing: Option<&str>) -> Markup {
    html! {
        @if let Some(path) = missing {
            section id="prizes" class="empty" {
                h2 { (visitor.say(DashboardText::NoPrizeListTitle)) }
                p { (rich(&visitor.say(DashboardText::NoPrizeListSteps { path }))) }
            }
        }
    }
}

/// Under the cards: what the numbers mean, and whether rounds wait for the
/// stream.
fn legend(visitor: &Visitor, setup: &Setup<'_>) -> Markup {
    let wait = match setup.stream_wait {
        StreamWait::Waits => None,
        StreamWait::Off => Some(DashboardText::NoWaitOff),
        StreamWait::Unchecked => Some(DashboardText::NoWaitUnchecked),
    };
    html! {
        section id="legend" class="legend" {
            @if let Some(wait) = wait {
                p id="no-wait" class="note" { (rich(&visitor.say(wait))) }
            }
            p id="viewers-explained" {
                (visitor.say(DashboardText::ViewersExplained { window: setup.active_window }))
            }
        }
    }
}

/// Who speaks in chat, or how to make the bot speak.
fn speaker_line(visitor: &Visitor, speaker: &Speaker) -> Markup {
    html! {
        p id="speaker" class="speaker" {
            @match speaker {
                Speaker::NotConfigured => { (rich(&visitor.say(DashboardText::SpeakerNotConfigured))) }
                Speaker::NotConnected => {
                    (visitor.say(DashboardText::SpeakerSilent)) " "
                    a id="connect-bot" href="auth/twitch/bot" { (visitor.say(DashboardText::SpeakerConnect)) }
                    (visitor.say(DashboardText::SpeakerConnectWho))
                }
                Speaker::NeedsReauth { login } => {
                    (visitor.say(DashboardText::SpeakerRefused { login })) " "
                    a id="connect-bot" href="auth/twitch/bot" { (visitor.say(DashboardText::SpeakerConnectAgain)) } "."
                }
                Speaker::Speaks { login, display_name } => {
                    (visitor.say(DashboardText::SpeaksAs)) " " strong { (display_name) } " "
                    span class="login" { "@" (login) } "."
                }
            }
        }
    }
}

/// What to do on a fresh install.
fn first_run(visitor: &Visitor, hidden: bool) -> Markup {
    html! {
        section id="empty" class="empty" hidden[hidden] {
            h2 { (visitor.say(DashboardText::NoChannelsYet)) }
            p { (visitor.say(DashboardText::RunningIntro)) }
            ol {
                @if visitor.can_connect {
                    li {
                        strong { (visitor.say(DashboardText::ConnectStepLead)) }
                        (visitor.say(DashboardText::ConnectStepRest))
                    }
                } @else {
                    li { (rich(&visitor.say(DashboardText::ConnectStepUnconfigured))) }
                }
                li { (rich(&visitor.say(DashboardText::ChannelStep))) }
                li { (rich(&visitor.say(DashboardText::ItemsStep))) }
                li { (rich(&visitor.say(DashboardText::DiscordStep))) }
            }
        }
    }
}

/// One channel: who, its badges, its numbers, its latest winners.
fn channel_card(visitor: &Visitor, channel: &ChannelStatus, dashboard: &Dashboard<'_>) -> Markup {
    let mine: Vec<&RaffleRecord> = dashboard
        .recent
        .iter()
        .filter(|r| r.channel_login == channel.login)
        .collect();
    html! {
        article class="card" data-login=(channel.login) {
            header class="card-head" {
                div class="who" {
                    h2 class="name" { (channel.display_name) }
                    span class="login" { "@" (channel.login) }
                }
                div class="badges" { (badges(visitor, channel)) }
            }
            (stats(visitor, channel, mine.first().copied()))
            h3 { (visitor.say(DashboardText::LatestWinners)) }
            (winners(visitor, &mine, dashboard.setup.announces_on_discord))
        }
    }
}

/// Live state, paused, and whether the bot can act as the streamer.
fn badges(visitor: &Visitor, channel: &ChannelStatus) -> Markup {
    let (live_class, live_words) = live_badge(channel.live);
    html! {
        span class={ "badge " (live_class) } { (visitor.say(live_words)) }
        @if channel.paused {
            span class="badge paused" { (visitor.say(DashboardText::Paused)) }
        }
        @if channel.needs_reauth {
            span class="badge warn" { (visitor.say(DashboardText::NeedsReauth)) }
            @if visitor.can_connect {
                a class="reconnect" href="auth/twitch" { (visitor.say(DashboardText::Reconnect)) }
            }
        } @else if channel.connected {
            span class="badge ok" { (visitor.say(DashboardText::Connected)) }
        }
        @if !channel.missing_scopes.is_empty() {
            span class="badge warn missing-scope" {
                (visitor.say(DashboardText::MissingScopes { scopes: &channel.missing_scopes.join(", ") }))
            }
            @if visitor.can_connect {
                a class="reconnect" href="auth/twitch" { (visitor.say(DashboardText::Reconnect)) }
            }
        }
    }
}

/// The live badge: its CSS class and words.
fn live_badge(live: Option<bool>) -> (&'static str, DashboardText<'static>) {
    match live {
        Some(true) => ("live", DashboardText::Live),
        Some(false) => ("offline", DashboardText::OfflineBadge),
        None => ("unknown", DashboardText::LiveUnknown),
    }
}

/// Active viewers, the next raffle (a countdown once the script runs), the last round.
fn stats(visitor: &Visitor, channel: &ChannelStatus, last: Option<&RaffleRecord>) -> Markup {
    let language = visitor.language;
    html! {
        dl class="stats" {
            div {
                dt { (visitor.say(DashboardText::ActiveViewers)) }
                dd class="viewers" { (language.integer(i64::try_from(channel.active_viewers).unwrap_or(i64::MAX))) }
            }
            div {
                dt { (visitor.say(DashboardText::NextRaffle)) }
                dd class="next" {
                    @match (&channel.next_raffle_at, channel.paused) {
                        (Some(at), _) => time class="countdown" datetime=(at) { (clock_time(at)) },
                        (None, true) => (visitor.say(DashboardText::Paused)),
                        (None, false) => (visitor.say(DashboardText::NotScheduledHere)),
                    }
                }
            }
            div {
                dt { (visitor.say(DashboardText::LastRound)) }
                dd class="last" {
                    @if let Some(last) = last {
                        (visitor.say(outcome_words(last.outcome)))
                        @if let Some(reason) = &last.skip_reason {
                            ": " span class="reason" { (reason_words(visitor.language, reason)) }
                        }
                        " · " (visitor.say(DashboardText::Candidates { n: i64::from(last.candidate_count) }))
                        @if !last.excluded.is_empty() {
                            " · " span class="excluded" {
                                (visitor.say(DashboardText::NotEligible { n: last.excluded.total() }))
                                @for (i, (reason, n)) in last.excluded.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    (visitor.say(DashboardText::ExcludedFor { reason, n }))
                                }
                            }
                        }
                    } @else {
                        (visitor.say(DashboardText::NoneYet))
                    }
                }
            }
        }
    }
}

/// `20:01:00 UTC` from an RFC 3339 time (the text itself if it is not one).
fn clock_time(at: &str) -> String {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc).format("%H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| at.to_owned())
}

/// A recorded skip reason: the bot's own in the reader's language, any
/// other (Twitch's words) as recorded.
fn reason_words(language: Language, reason: &str) -> String {
    if reason == no_prize_list_reason() {
        language.say(&SetupText::NoPrizeListReason)
    } else {
        reason.to_owned()
    }
}

pub(super) fn outcome_words(outcome: Outcome) -> DashboardText<'static> {
    match outcome {
        Outcome::Won => DashboardText::OutcomeWon,
        Outcome::NoPrize => DashboardText::OutcomeNoPrize,
        Outcome::NoCandidates => DashboardText::OutcomeNoCandidates,
        Outcome::SkippedOffline => DashboardText::OutcomeSkippedOffline,
    }
}

/// The channel's latest winners, newest first.
fn winners(visitor: &Visitor, mine: &[&RaffleRecord], announces_on_discord: bool) -> Markup {
    let won: Vec<&RaffleRecord> = mine
        .iter()
        .copied()
        .filter(|r| r.outcome == Outcome::Won)
        .take(WINNERS_PER_CHANNEL)
        .collect();
    html! {
        @if won.is_empty() {
            p class="none" { (visitor.say(DashboardText::NoWinnersYet)) }
        } @else {
            ol class="winners" {
                @for raffle in won { (winner(visitor, raffle, announces_on_discord)) }
            }
        }
    }
}

/// One winner: name, when (local time once the script runs), item, delivery.
fn winner(visitor: &Visitor, raffle: &RaffleRecord, announces_on_discord: bool) -> Markup {
    let name = raffle.winner.as_ref().map_or("?", |w| w.display_name.as_str());
    let (delivery_class, delivery_words) =
        delivery_line(visitor.language, raffle.delivery.as_ref(), announces_on_discord);
    html! {
        li class="winner" {
            span class="winner-name" { (name) }
            time class="when" datetime=(raffle.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
                (visitor.language.date_time(&raffle.created_at))
            }
            span class="item" {
                span class="verb" { (visitor.say(DashboardText::WonVerb)) } " " (raffle.item_name.as_deref().unwrap_or(""))
            }
            span class={ "delivery " (delivery_class) } { (delivery_words) }
        }
    }
}

/// The delivery line: its CSS class (the status's own word, as stored and
/// in the JSON; `none` when nothing was queued) and words. A sent row was
/// printed, not announced, when no webhook is set.
pub(super) fn delivery_line(
    language: Language,
    delivery: Option<&Delivery>,
    announces_on_discord: bool,
) -> (&'static str, String) {
    let Some(delivery) = delivery else {
        return ("none", language.say(&DashboardText::NotAnnounced));
    };
    let words = match (delivery.status, delivery.error.as_deref()) {
        (DeliveryStatus::Sent, _) if announces_on_discord => language.say(&DashboardText::Announced),
        (DeliveryStatus::Sent, _) => language.say(&DashboardText::Printed),
        (DeliveryStatus::Failed, error) => {
            let unknown = language.say(&DashboardText::UnknownReason);
            language.say(&DashboardText::DeliveryFailed {
                error: error.unwrap_or(&unknown),
            })
        }
        (DeliveryStatus::Pending, Some(error)) => language.say(&DashboardText::PendingRetrying { error }),
        (DeliveryStatus::Pending, None) => language.say(&DashboardText::Pending),
    };
    (delivery.status.as_str(), words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raffle::{Trigger, Winner};

    fn channel(login: &str, display_name: &str) -> ChannelStatus {
        ChannelStatus {
            login: login.into(),
            display_name: display_name.into(),
            connected: false,
            live: Some(true),
            paused: false,
            needs_reauth: true,
            active_viewers: 4,
            next_raffle_at: Some("2026-11-24T20:01:00Z".into()),
            served_by: None,
            missing_scopes: Vec::new(),
        }
    }

    fn won(channel: &str, winner: &str, status: DeliveryStatus, error: Option<&str>) -> RaffleRecord {
        RaffleRecord {
            id: 1,
            channel_login: channel.into(),
            channel_display_name: channel.into(),
            slot: None,
            trigger: Trigger::Manual,
            outcome: Outcome::Won,
            item_name: Some("Steam <key>".into()),
            winner: Some(Winner {
                user_id: "1".into(),
                login: "viewer".into(),
                display_name: winner.into(),
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
                failure: None,
            }),
            deliveries: Vec::new(),
            claim: None,
            redraw_of: None,
            excluded: crate::raffle::eligibility::ExclusionCounts::default(),
        }
    }

    const SETUP: Setup<'static> = Setup {
        announces_on_discord: true,
        stream_wait: StreamWait::Waits,
        active_window: "10m",
        missing_prize_list: None,
    };

    const CONNECT: Visitor = Visitor {
        can_connect: true,
        language: Language::En,
    };

    #[test]
    fn user_text_is_escaped_and_no_inline_script_or_style_is_emitted() {
        let channels = [channel("streamer", "<b>Str\"eamer</b>")];
        let recent = [won(
            "streamer",
            "<img src=x onerror=alert(1)>",
            DeliveryStatus::Failed,
            Some("404 <Unknown Webhook>"),
        )];
        let dashboard = Dashboard {
            channels: &channels,
            recent: &recent,
            speaker: &Speaker::NotConnected,
            setup: SETUP,
            chat: ChatState::Connected,
        };
        let html = page(&CONNECT, &dashboard, None, None).into_string();
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
        assert!(html.contains("Steam &lt;key&gt;"));
        assert!(html.contains("Failed: 404 &lt;Unknown Webhook&gt;"));
        assert!(
            html.contains("href=\"auth/twitch\">Reconnect"),
            "re-auth offers a reconnect link"
        );
        assert!(!html.contains("<script>"), "no inline script");
        assert!(!html.contains("style="), "no inline style");
        assert!(html.contains("<section id=\"empty\" class=\"empty\" hidden>"));
    }

    #[test]
    fn first_run_shows_the_empty_state_and_connect_only_when_configured() {
        let empty = Dashboard {
            channels: &[],
            recent: &[],
            speaker: &Speaker::NotConnected,
            setup: SETUP,
            chat: ChatState::Connected,
        };
        let with_twitch = page(&CONNECT, &empty, None, None).into_string();
        assert!(with_twitch.contains("<section id=\"empty\" class=\"empty\">"));
        assert!(with_twitch.contains("Connect with Twitch"));
        assert!(with_twitch.contains("TWITCH_CHANNELS"));
        let without = page(
            &Visitor {
                can_connect: false,
                language: Language::En,
            },
            &empty,
            None,
            None,
        )
        .into_string();
        assert!(!without.contains("Connect with Twitch"));
        assert!(without.contains("TWITCH_CLIENT_ID"), "says what to configure");
    }

    #[test]
    fn the_page_embeds_exactly_the_board_the_partial_serves() {
        let channels = [channel("streamer", "Streamer")];
        let recent = [won("streamer", "Viewer", DeliveryStatus::Sent, None)];
        let dashboard = Dashboard {
            channels: &channels,
            recent: &recent,
            speaker: &Speaker::NotConnected,
            setup: SETUP,
            chat: ChatState::Connected,
        };
        let fragment = board(&CONNECT, &dashboard).into_string();
        assert!(fragment.starts_with("<div id=\"board\""), "{fragment}");
        assert!(page(&CONNECT, &dashboard, None, None).into_string().contains(&fragment));
        assert!(
            fragment.contains("<span class=\"delivery sent\">Announced</span>"),
            "{fragment}"
        );
        assert!(
            fragment.contains("<dd class=\"last\">Won · 3 candidates</dd>"),
            "{fragment}"
        );
    }

    #[test]
    fn the_last_round_says_how_many_the_gates_excluded_and_why() {
        use crate::raffle::eligibility::ExclusionReason;
        let channels = [channel("streamer", "Streamer")];
        let mut last = won("streamer", "Viewer", DeliveryStatus::Sent, None);
        last.excluded.add(ExclusionReason::YoungAccount);
        last.excluded.add(ExclusionReason::UnknownFollow);
        let recent = [last];
        let dashboard = Dashboard {
            channels: &channels,
            recent: &recent,
            setup: SETUP,
            chat: ChatState::Connected,
            speaker: &Speaker::NotConnected,
        };
        let fragment = board(&CONNECT, &dashboard).into_string();
        assert!(
            fragment.contains("<span class=\"excluded\">2 not eligible: 1 account too new, 1 follow unknown"),
            "{fragment}"
        );
    }

    #[test]
    fn typed_states_become_classes_and_words() {
        assert_eq!(live_badge(None), ("unknown", DashboardText::LiveUnknown));
        assert_eq!(
            delivery_line(Language::En, None, true),
            ("none", "Not announced".to_owned())
        );
        let pending = Delivery {
            status: DeliveryStatus::Pending,
            error: Some("429".into()),
            failure: None,
        };
        assert_eq!(
            delivery_line(Language::En, Some(&pending), true),
            ("pending", "Pending (retrying: 429)".to_owned())
        );
        let failed = Delivery {
            status: DeliveryStatus::Failed,
            error: None,
            failure: Some(crate::announce::DeliveryFailure::Rejected),
        };
        assert_eq!(
            delivery_line(Language::En, Some(&failed), true),
            ("failed", "Failed: unknown reason".to_owned())
        );
    }

    #[test]
    fn the_board_says_whether_chat_is_connected_and_since_when_it_is_not() {
        let connected = Dashboard {
            channels: &[],
            recent: &[],
            setup: SETUP,
            chat: ChatState::Connected,
            speaker: &Speaker::NotConnected,
        };
        let fragment = board(&CONNECT, &connected).into_string();
        assert!(
            fragment.contains("<p id=\"chat\" class=\"chat connected\">Chat connected</p>"),
            "{fragment}"
        );
        let since = DateTime::parse_from_rfc3339("2026-12-01T15:00:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let lost = Dashboard {
            chat: ChatState::Disconnected { since },
            ..connected
        };
        let fragment = board(&CONNECT, &lost).into_string();
        assert!(
            fragment.contains("Chat disconnected since <time class=\"when\" datetime=\"2026-12-01T15:00:00Z\">"),
            "{fragment}"
        );
    }

    #[test]
    fn a_notice_is_shown_only_when_given() {
        let empty = Dashboard {
            channels: &[],
            recent: &[],
            speaker: &Speaker::NotConnected,
            setup: SETUP,
            chat: ChatState::Connected,
        };
        let quiet = page(&CONNECT, &empty, None, None).into_string();
        assert!(
            quiet.contains("<p id=\"notice\" class=\"notice\" role=\"alert\""),
            "{quiet}"
        );
        assert!(quiet.contains("</p><div id=\"board\""), "empty: {quiet}");
        let loud = page(&CONNECT, &empty, Some("Database <away>"), None).into_string();
        assert!(loud.contains("Database &lt;away&gt;</p>"), "{loud}");
        assert!(
            !loud.contains("aria-live"),
            "the ticking refresh time is not a live region: {loud}"
        );
    }

    #[test]
    fn the_page_in_portuguese_has_portuguese_words_formats_and_lang() {
        let mut streamer = channel("streamer", "Streamer");
        streamer.active_viewers = 1234;
        streamer.needs_reauth = false;
        streamer.connected = true;
        let channels = [streamer];
        let recent = [won("streamer", "Viewer", DeliveryStatus::Sent, None)];
        let dashboard = Dashboard {
            channels: &channels,
            recent: &recent,
            setup: SETUP,
            chat: ChatState::Connected,
            speaker: &Speaker::NotConnected,
        };
        let visitor = Visitor {
            can_connect: true,
            language: Language::PtBr,
        };
        let html = page(&visitor, &dashboard, None, None).into_string();
        assert!(html.contains("<html lang=\"pt-BR\">"), "{html}");
        assert!(html.contains("<div id=\"board\" lang=\"pt-BR\""), "{html}");
        for words in [
            "Sorteios ao vivo no seu chat da Twitch",
            "Conectar com a Twitch",
            "Espectadores ativos",
            "<dd class=\"viewers\">1.234</dd>",
            "Próximo sorteio",
            "<dd class=\"last\">Ganho · 3 candidatos</dd>",
            "Últimos ganhadores",
            "<span class=\"badge live\">Ao vivo</span>",
            "<span class=\"badge ok\">Conectado</span>",
            "24/11/2026 20:00 UTC",
            "<span class=\"verb\">ganhou</span>",
            "<span class=\"delivery sent\">Anunciado</span>",
            "data-countdown=\"em {time}\"",
            "data-ago=\"Atualizado há {seconds} s\"",
            "Dados em JSON: ",
        ] {
            assert!(html.contains(words), "missing {words:?} in {html}");
        }
        for english in ["Active viewers", "Latest winners", "Announced", "candidates"] {
            assert!(!html.contains(english), "English {english:?} left in {html}");
        }
        assert!(
            html.contains("<a href=\"?lang=en\" hreflang=\"en\" lang=\"en\">English</a>"),
            "offers English: {html}"
        );
        assert!(html.contains("aria-current=\"true\">Português</a>"), "{html}");
    }

    #[test]
    fn the_first_run_help_in_portuguese_keeps_setting_names_as_code() {
        let empty = Dashboard {
            channels: &[],
            recent: &[],
            setup: SETUP,
            chat: ChatState::Connected,
            speaker: &Speaker::NotConnected,
        };
        let visitor = Visitor {
            can_connect: false,
            language: Language::PtBr,
        };
        let html = page(&visitor, &empty, None, None).into_string();
        assert!(html.contains("Nenhum canal ainda"), "{html}");
        assert!(html.contains("<code>TWITCH_CLIENT_ID</code>"), "{html}");
        assert!(html.contains("<code>TWITCH_CHANNELS=seucanal</code>"), "{html}");
        assert!(html.contains("<code>items.pt-BR.toml</code>"), "{html}");
    }
}
