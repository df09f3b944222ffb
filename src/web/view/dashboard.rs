//! The dashboard page, and the board its script refreshes.
//!
//! The board (`#board`) holds everything that changes: the first-run help
//! and one card per channel. The page renders it once; `/partials/channels`
//! renders it alone and the script swaps it in, so this file is the only
//! place that knows the markup. Typed data becomes words and CSS classes
//! here: the script never sees an outcome, a live state or a delivery status.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::layout::{Shell, page as shell_page};
use crate::announce::DeliveryStatus;
use crate::raffle::{Delivery, Outcome, RaffleRecord};
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

/// Who is looking, as far as the page cares. Today only whether Connect is
/// offered; the visitor's language and session belong here too.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visitor {
    /// Twitch is configured: offer Connect and Reconnect.
    pub(crate) can_connect: bool,
}

/// The whole page; `notice` is shown above the board (the database is away).
pub(crate) fn page(visitor: &Visitor, dashboard: &Dashboard<'_>, notice: Option<&str>) -> Markup {
    let shell = Shell {
        title: None,
        root: "",
        script: true,
        actions: actions(visitor),
    };
    shell_page(
        shell,
        html! {
            (notice_line(notice))
            (board(visitor, dashboard))
        },
    )
}

/// The header's right-hand side. The script writes the refresh time into
/// `#updated` with the words of its `data-` attributes.
fn actions(visitor: &Visitor) -> Markup {
    html! {
        span id="updated" class="updated" aria-live="polite"
            data-just-now="Updated just now" data-ago="Updated {seconds} s ago" {}
        @if visitor.can_connect {
            a id="connect" class="button twitch" href="auth/twitch" { "Connect with Twitch" }
        }
    }
}

/// The notice line; the script shows `data-offline` in it when a refresh fails.
fn notice_line(notice: Option<&str>) -> Markup {
    html! {
        p id="notice" class="notice" hidden[notice.is_none()]
            data-offline="Cannot reach the bot right now; retrying\u{2026}" {
            @if let Some(notice) = notice { (notice) }
        }
    }
}

/// Everything that changes: the first-run help (hidden once there is a
/// channel) and the channel cards. Its `data-` attributes are the words the
/// script's countdowns and local times use.
pub(crate) fn board(visitor: &Visitor, dashboard: &Dashboard<'_>) -> Markup {
    html! {
        div id="board" data-countdown="in {time}" data-due="drawing now\u{2026}" data-today="today {time}" {
            (first_run(visitor, !dashboard.channels.is_empty()))
            (speaker_line(dashboard.speaker))
            section id="channels" class="channels" {
                @for channel in dashboard.channels {
                    (channel_card(visitor, channel, dashboard.recent))
                }
            }
        }
    }
}

/// Who speaks in chat, or how to make the bot speak.
fn speaker_line(speaker: &Speaker) -> Markup {
    html! {
        p id="speaker" class="speaker" {
            @match speaker {
                Speaker::NotConfigured => {
                    "The bot is silent in chat: it needs a Twitch application ("
                    code { "TWITCH_CLIENT_ID" } ", " code { "TWITCH_CLIENT_SECRET" } ") to speak."
                }
                Speaker::NotConnected => {
                    "The bot is silent in chat. "
                    a id="connect-bot" href="auth/twitch/bot" { "Connect the account it speaks as" }
                    " (a bot account, or your own)."
                }
                Speaker::NeedsReauth { login } => {
                    "The bot is silent in chat: Twitch no longer accepts the account "
                    strong { "@" (login) } ". "
                    a id="connect-bot" href="auth/twitch/bot" { "Connect it again" } "."
                }
                Speaker::Speaks { login, display_name } => {
                    "Speaks in chat as " strong { (display_name) } " "
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
            h2 { "No channels yet" }
            p { "KinoYuBot is running. To start giving prizes away:" }
            ol {
                @if visitor.can_connect {
                    li {
                        strong { "Connect your Twitch account" }
                        " with the button above: the bot joins your chat at once."
                    }
                } @else {
                    li {
                        "To connect a Twitch account, create a Twitch application and set "
                        code { "TWITCH_CLIENT_ID" } " and " code { "TWITCH_CLIENT_SECRET" }
                        " (see the README), then restart."
                    }
                }
                li {
                    "Or add a channel by name: set " code { "TWITCH_CHANNELS=yourchannel" }
                    " (or run " code { "kinoyubot run --channel yourchannel" } ") and restart."
                }
                li {
                    "List the prizes in " code { "items.toml" } "; check it with "
                    code { "kinoyubot check-items" } "."
                }
                li {
                    "Set " code { "DISCORD_WEBHOOK_URL" }
                    " to announce winners on Discord; without it they are printed by the bot."
                }
            }
        }
    }
}

/// One channel: who, its badges, its numbers, its latest winners.
fn channel_card(visitor: &Visitor, channel: &ChannelStatus, recent: &[RaffleRecord]) -> Markup {
    let mine: Vec<&RaffleRecord> = recent.iter().filter(|r| r.channel_login == channel.login).collect();
    html! {
        article class="card" data-login=(channel.login) {
            header class="card-head" {
                div class="who" {
                    h2 class="name" { (channel.display_name) }
                    span class="login" { "@" (channel.login) }
                }
                div class="badges" { (badges(visitor, channel)) }
            }
            (stats(channel, mine.first().copied()))
            h3 { "Latest winners" }
            (winners(&mine))
        }
    }
}

/// Live state, paused, and whether the bot can act as the streamer.
fn badges(visitor: &Visitor, channel: &ChannelStatus) -> Markup {
    let (live_class, live_words) = live_badge(channel.live);
    html! {
        span class={ "badge " (live_class) } { (live_words) }
        @if channel.paused {
            span class="badge paused" { "Paused" }
        }
        @if channel.needs_reauth {
            span class="badge warn" { "Needs re-auth" }
            @if visitor.can_connect {
                a class="reconnect" href="auth/twitch" { "Reconnect" }
            }
        } @else if channel.connected {
            span class="badge ok" { "Connected" }
        }
    }
}

/// The live badge: its CSS class and words.
fn live_badge(live: Option<bool>) -> (&'static str, &'static str) {
    match live {
        Some(true) => ("live", "Live"),
        Some(false) => ("offline", "Offline"),
        None => ("unknown", "Live status unknown"),
    }
}

/// Active viewers, the next raffle (a countdown once the script runs), the last round.
fn stats(channel: &ChannelStatus, last: Option<&RaffleRecord>) -> Markup {
    html! {
        dl class="stats" {
            div {
                dt { "Active viewers" }
                dd class="viewers" { (channel.active_viewers) }
            }
            div {
                dt { "Next raffle" }
                dd class="next" {
                    @match (&channel.next_raffle_at, channel.paused) {
                        (Some(at), _) => time class="countdown" datetime=(at) { (clock_time(at)) },
                        (None, true) => "Paused",
                        (None, false) => "Not scheduled here",
                    }
                }
            }
            div {
                dt { "Last round" }
                dd class="last" {
                    @if let Some(last) = last {
                        (outcome_words(last.outcome))
                        @if let Some(reason) = &last.skip_reason { ": " span class="reason" { (reason) } }
                        " · " (last.candidate_count) " "
                        (if last.candidate_count == 1 { "candidate" } else { "candidates" })
                    } @else {
                        "None yet"
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

fn outcome_words(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Won => "Won",
        Outcome::NoPrize => "No prize",
        Outcome::NoCandidates => "No candidates",
        Outcome::SkippedOffline => "Skipped (offline)",
    }
}

/// The channel's latest winners, newest first.
fn winners(mine: &[&RaffleRecord]) -> Markup {
    let won: Vec<&RaffleRecord> = mine
        .iter()
        .copied()
        .filter(|r| r.outcome == Outcome::Won)
        .take(WINNERS_PER_CHANNEL)
        .collect();
    html! {
        @if won.is_empty() {
            p class="none" { "No winners yet." }
        } @else {
            ol class="winners" {
                @for raffle in won { (winner(raffle)) }
            }
        }
    }
}

/// One winner: name, when (local time once the script runs), item, delivery.
fn winner(raffle: &RaffleRecord) -> Markup {
    let name = raffle.winner.as_ref().map_or("?", |w| w.display_name.as_str());
    let (delivery_class, delivery_words) = delivery_line(raffle.delivery.as_ref());
    html! {
        li class="winner" {
            span class="winner-name" { (name) }
            time class="when" datetime=(raffle.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
                (raffle.created_at.format("%Y-%m-%d %H:%M UTC"))
            }
            span class="item" { span class="verb" { "won" } " " (raffle.item_name.as_deref().unwrap_or("")) }
            span class={ "delivery " (delivery_class) } { (delivery_words) }
        }
    }
}

/// The delivery line: its CSS class (the status's own word, as stored and
/// in the JSON; `none` when nothing was queued) and words.
fn delivery_line(delivery: Option<&Delivery>) -> (&'static str, String) {
    let Some(delivery) = delivery else {
        return ("none", "Not announced".to_owned());
    };
    let words = match (delivery.status, delivery.error.as_deref()) {
        (DeliveryStatus::Sent, _) => "Announced".to_owned(),
        (DeliveryStatus::Failed, error) => format!("Failed: {}", error.unwrap_or("unknown reason")),
        (DeliveryStatus::Pending, Some(error)) => format!("Pending (retrying: {error})"),
        (DeliveryStatus::Pending, None) => "Pending".to_owned(),
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
            }),
            claim: None,
            redraw_of: None,
        }
    }

    const CONNECT: Visitor = Visitor { can_connect: true };

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
        };
        let html = page(&CONNECT, &dashboard, None).into_string();
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
        };
        let with_twitch = page(&CONNECT, &empty, None).into_string();
        assert!(with_twitch.contains("<section id=\"empty\" class=\"empty\">"));
        assert!(with_twitch.contains("Connect with Twitch"));
        assert!(with_twitch.contains("TWITCH_CHANNELS"));
        let without = page(&Visitor { can_connect: false }, &empty, None).into_string();
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
        };
        let fragment = board(&CONNECT, &dashboard).into_string();
        assert!(fragment.starts_with("<div id=\"board\""), "{fragment}");
        assert!(page(&CONNECT, &dashboard, None).into_string().contains(&fragment));
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
    fn typed_states_become_classes_and_words() {
        assert_eq!(live_badge(None), ("unknown", "Live status unknown"));
        assert_eq!(delivery_line(None), ("none", "Not announced".to_owned()));
        let pending = Delivery {
            status: DeliveryStatus::Pending,
            error: Some("429".into()),
        };
        assert_eq!(
            delivery_line(Some(&pending)),
            ("pending", "Pending (retrying: 429)".to_owned())
        );
        let failed = Delivery {
            status: DeliveryStatus::Failed,
            error: None,
        };
        assert_eq!(
            delivery_line(Some(&failed)),
            ("failed", "Failed: unknown reason".to_owned())
        );
    }

    #[test]
    fn a_notice_is_shown_only_when_given() {
        let empty = Dashboard {
            channels: &[],
            recent: &[],
            speaker: &Speaker::NotConnected,
        };
        let quiet = page(&CONNECT, &empty, None).into_string();
        assert!(quiet.contains("<p id=\"notice\" class=\"notice\" hidden"), "{quiet}");
        let loud = page(&CONNECT, &empty, Some("Database <away>")).into_string();
        assert!(loud.contains("Database &lt;away&gt;</p>"), "{loud}");
        assert!(!loud.contains("class=\"notice\" hidden"), "{loud}");
    }
}
