//! `GET /`: the dashboard page, and the script and stylesheet it loads.
//!
//! The page is complete as served (every value rendered and HTML-escaped
//! here), so it works without JavaScript. `static/dashboard.js` then
//! refreshes it from `/api/status` and `/api/raffles` every few seconds,
//! building the same markup with `textContent` only, and runs the
//! countdowns. No inline script or style: the Content-Security-Policy
//! (see [`super::routes::security_headers`]) allows only our own files.
//!
//! Links are relative (`auth/twitch`, `api/status`), so the page also works
//! behind a reverse proxy that serves the bot under a path prefix.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use warp::Reply as _;
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::oauth::escape_html;
use super::routes::WebState;
use super::status::{self, ChannelStatus, StatusReport};
use crate::announce::DeliveryStatus;
use crate::raffle::{Delivery, Outcome, RaffleRecord};

/// The dashboard script.
pub(crate) const SCRIPT: &str = include_str!("static/dashboard.js");
/// The dashboard stylesheet.
pub(crate) const STYLESHEET: &str = include_str!("static/dashboard.css");

/// How many recent raffles the page reads (shared by every channel).
pub(crate) const RECENT_RAFFLES: i64 = 200;
/// Winners shown per channel.
pub(crate) const WINNERS_PER_CHANNEL: usize = 5;

/// `GET /`.
pub(crate) async fn page(state: WebState) -> Response {
    let gathered = async {
        let report = status::collect(&state).await?;
        let recent = state.store.recent_raffles(None, RECENT_RAFFLES).await?;
        Ok::<_, crate::store::Error>((report, recent))
    }
    .await;
    let connect = state.twitch.is_some();
    let (status, body) = match gathered {
        Ok((report, recent)) => (StatusCode::OK, render(&report, &recent, connect, None)),
        Err(e) => {
            tracing::error!(error = %e, cause = ?e, "dashboard could not read the database");
            let empty = StatusReport { channels: Vec::new() };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                render(
                    &empty,
                    &[],
                    connect,
                    Some("The bot cannot reach its database right now; this page retries by itself."),
                ),
            )
        }
    };
    let mut response = warp::reply::with_status(warp::reply::html(body), status).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /static/dashboard.js` and `/static/dashboard.css`.
pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidate every time: a restarted bot may ship a newer script.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn time_text(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn render_channel(out: &mut String, channel: &ChannelStatus, recent: &[RaffleRecord], connect: bool) {
    let e = |s: &str| escape_html(s);
    let (live_class, live_text) = match channel.live {
        Some(true) => ("live", "Live"),
        Some(false) => ("offline", "Offline"),
        None => ("unknown", "Live status unknown"),
    };
    let _ = write!(
        out,
        "<article class=\"card\" data-login=\"{login}\">\n<header class=\"card-head\">\
         <div class=\"who\"><h2 class=\"name\">{name}</h2><span class=\"login\">@{login}</span></div>\
         <div class=\"badges\"><span class=\"badge {live_class}\">{live_text}</span>",
        login = e(&channel.login),
        name = e(&channel.display_name),
    );
    if channel.paused {
        out.push_str("<span class=\"badge paused\">Paused</span>");
    }
    if channel.needs_reauth {
        out.push_str("<span class=\"badge warn\">Needs re-auth</span>");
        if connect {
            out.push_str("<a class=\"reconnect\" href=\"auth/twitch\">Reconnect</a>");
        }
    } else if channel.connected {
        out.push_str("<span class=\"badge ok\">Connected</span>");
    }
    out.push_str("</div></header>\n<dl class=\"stats\">");
    let _ = write!(
        out,
        "<div><dt>Active viewers</dt><dd class=\"viewers\">{}</dd></div>",
        channel.active_viewers
    );
    out.push_str("<div><dt>Next raffle</dt><dd class=\"next\">");
    match (&channel.next_raffle_at, channel.paused) {
        (Some(at), _) => {
            let text = DateTime::parse_from_rfc3339(at)
                .map(|t| t.with_timezone(&Utc).format("%H:%M:%S UTC").to_string())
                .unwrap_or_else(|_| at.clone());
            let _ = write!(
                out,
                "<time class=\"countdown\" datetime=\"{}\">{}</time>",
                e(at),
                e(&text)
            );
        }
        (None, true) => out.push_str("Paused"),
        (None, false) => out.push_str("Not scheduled here"),
    }
    out.push_str("</dd></div>");
    let mine: Vec<&RaffleRecord> = recent.iter().filter(|r| r.channel_login == channel.login).collect();
    out.push_str("<div><dt>Last round</dt><dd class=\"last\">");
    match mine.first() {
        Some(last) => {
            let _ = write!(
                out,
                "{} · {} candidate{}",
                e(outcome_text(last.outcome)),
                last.candidate_count,
                if last.candidate_count == 1 { "" } else { "s" }
            );
        }
        None => out.push_str("None yet"),
    }
    out.push_str("</dd></div></dl>\n<h3>Latest winners</h3>\n");
    let winners: Vec<&&RaffleRecord> = mine
        .iter()
        .filter(|r| r.outcome == Outcome::Won)
        .take(WINNERS_PER_CHANNEL)
        .collect();
    if winners.is_empty() {
        out.push_str("<p class=\"none\">No winners yet.</p>\n");
    } else {
        out.push_str("<ol class=\"winners\">\n");
        for raffle in winners {
            render_winner(out, raffle);
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</article>\n");
}

fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Won => "Won",
        Outcome::NoPrize => "No prize",
        Outcome::NoCandidates => "No candidates",
        Outcome::SkippedOffline => "Skipped (offline)",
    }
}

fn render_winner(out: &mut String, raffle: &RaffleRecord) {
    let e = |s: &str| escape_html(s);
    let name = raffle.winner.as_ref().map_or("?", |w| w.display_name.as_str());
    // The CSS class is the status word, as `dashboard.js` sets it from the API.
    let class = raffle.delivery.as_ref().map_or("none", |d| d.status.as_str());
    let text = match &raffle.delivery {
        Some(Delivery {
            status: DeliveryStatus::Sent,
            ..
        }) => "Announced".to_owned(),
        Some(Delivery {
            status: DeliveryStatus::Failed,
            error,
        }) => format!("Failed: {}", error.as_deref().unwrap_or("unknown reason")),
        Some(Delivery {
            status: DeliveryStatus::Pending,
            error: Some(error),
        }) => format!("Pending (retrying: {error})"),
        Some(Delivery {
            status: DeliveryStatus::Pending,
            error: None,
        }) => "Pending".to_owned(),
        None => "Not announced".to_owned(),
    };
    let created = raffle.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let _ = write!(
        out,
        "<li class=\"winner\"><span class=\"winner-name\">{name}</span>\
         <time class=\"when\" datetime=\"{created}\">{when}</time>\
         <span class=\"item\">{item}</span>\
         <span class=\"delivery {class}\">{text}</span></li>",
        name = e(name),
        item = e(raffle.item_name.as_deref().unwrap_or("")),
        created = e(&created),
        when = e(&time_text(&raffle.created_at)),
        text = e(&text),
    );
    out.push('\n');
}

fn render_empty(out: &mut String, hidden: bool, connect: bool) {
    let _ = write!(
        out,
        "<section id=\"empty\" class=\"empty\"{}>\n<h2>No channels yet</h2>\n\
         <p>KinoYuBot is running. To start giving prizes away:</p>\n<ol>\n",
        if hidden { " hidden" } else { "" }
    );
    if connect {
        out.push_str(
            "<li><strong>Connect your Twitch account</strong> with the button above: the bot joins \
             your chat at once.</li>\n",
        );
    } else {
        out.push_str(
            "<li>To connect a Twitch account, create a Twitch application and set \
             <code>TWITCH_CLIENT_ID</code> and <code>TWITCH_CLIENT_SECRET</code> (see the README), \
             then restart.</li>\n",
        );
    }
    out.push_str(
        "<li>Or add a channel by name: set <code>TWITCH_CHANNELS=yourchannel</code> \
         (or run <code>kinoyubot run --channel yourchannel</code>) and restart.</li>\n\
         <li>List the prizes in <code>items.toml</code>; check it with \
         <code>kinoyubot check-items</code>.</li>\n\
         <li>Set <code>DISCORD_WEBHOOK_URL</code> to announce winners on Discord; without it they \
         are printed by the bot.</li>\n</ol>\n</section>\n",
    );
}

/// The whole page. Every value from the database or Twitch is escaped.
pub(crate) fn render(report: &StatusReport, recent: &[RaffleRecord], connect: bool, notice: Option<&str>) -> String {
    let mut out = String::with_capacity(8 * 1024);
    out.push_str(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>KinoYuBot</title>\n\
         <link rel=\"stylesheet\" href=\"static/dashboard.css\">\n\
         <script src=\"static/dashboard.js\" defer></script>\n</head>\n",
    );
    if connect {
        out.push_str("<body data-connect-url=\"auth/twitch\">\n");
    } else {
        out.push_str("<body>\n");
    }
    out.push_str(
        "<header class=\"top\">\n<div class=\"brand\"><span class=\"mark\" aria-hidden=\"true\">KY</span>\
         <div><h1>KinoYuBot</h1><p class=\"tagline\">Live giveaways from your Twitch chat</p></div></div>\n\
         <div class=\"actions\"><span id=\"updated\" class=\"updated\" aria-live=\"polite\"></span>",
    );
    if connect {
        out.push_str("<a id=\"connect\" class=\"button twitch\" href=\"auth/twitch\">Connect with Twitch</a>");
    }
    out.push_str("</div>\n</header>\n<main>\n");
    let _ = write!(
        out,
        "<p id=\"notice\" class=\"notice\"{}>{}</p>",
        if notice.is_some() { "" } else { " hidden" },
        escape_html(notice.unwrap_or("")),
    );
    out.push('\n');
    render_empty(&mut out, !report.channels.is_empty(), connect);
    out.push_str("<section id=\"channels\" class=\"channels\">\n");
    for channel in &report.channels {
        render_channel(&mut out, channel, recent, connect);
    }
    out.push_str(
        "</section>\n</main>\n<footer>Data as JSON: <a href=\"api/status\">status</a> · \
         <a href=\"api/raffles\">raffles</a> · <a href=\"metrics\">metrics</a></footer>\n</body>\n</html>\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            trigger: crate::raffle::Trigger::Manual,
            outcome: Outcome::Won,
            item_name: Some("Steam <key>".into()),
            winner: Some(crate::raffle::Winner {
                user_id: "1".into(),
                login: "viewer".into(),
                display_name: winner.into(),
            }),
            candidates_digest: "ab".into(),
            candidate_count: 3,
            created_at: DateTime::parse_from_rfc3339("2026-11-24T20:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
            delivery: Some(Delivery {
                status,
                error: error.map(Into::into),
            }),
        }
    }

    #[test]
    fn user_text_is_escaped_and_no_inline_script_or_style_is_emitted() {
        let report = StatusReport {
            channels: vec![channel("streamer", "<b>Str\"eamer</b>")],
        };
        let recent = [won(
            "streamer",
            "<img src=x onerror=alert(1)>",
            DeliveryStatus::Failed,
            Some("404 <Unknown Webhook>"),
        )];
        let html = render(&report, &recent, true, None);
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
        let empty = StatusReport { channels: Vec::new() };
        let with_twitch = render(&empty, &[], true, None);
        assert!(with_twitch.contains("<section id=\"empty\" class=\"empty\">"));
        assert!(with_twitch.contains("Connect with Twitch"));
        assert!(with_twitch.contains("TWITCH_CHANNELS"));
        let without = render(&empty, &[], false, None);
        assert!(!without.contains("Connect with Twitch"));
        assert!(without.contains("TWITCH_CLIENT_ID"), "says what to configure");
    }
}
