//! The control room in headless Chromium (issue 16 item 5, SPEC §13): a
//! streamer signs in through the Twitch stand-in and runs their channel
//! with real clicks and typing; a second broadcaster sees no controls for
//! it; axe-core finds no serious or critical violation signed in or out, at
//! 1280 and 390 px.
//!
//! Refusals of the API itself (a cross-origin change, one without the CSRF
//! token or without an Origin, another broadcaster's channel, sign-out
//! without the token) are proven over plain HTTP in
//! `control_session::a_signed_in_streamer_runs_their_own_channel_and_only_theirs`;
//! here the page's own requests are checked to pass, and a request made
//! from the page without the token to be refused.
//!
//! Screenshots go to `/var/tmp/kyb-screens/` (outside the repository).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cdp::{Browser, chromium};
use crate::fake_discord::Reply as DiscordReply;
use crate::fake_twitch::{User, streamer};
use crate::helpers::{TestApp, TestAppBuilder, Viewer, repo_path, wait_for, wait_until};
use crate::process::kinoyubot;

const STREAMER: &str = "twitchdev";
const SUBSCRIBER_ID: &str = "7001";
const WAIT: Duration = Duration::from_secs(20);
/// A prize list where every round is won (every draw is announced).
const ALWAYS_WON: &str = "[[items]]\nname = \"Steam <key> & co\"\nprobability = 1.0\n";
/// The default prize list of the prize editor's test.
const DEFAULT_ITEMS: &str = "[[items]]\nname = \"Steam key\"\nprobability = 0.05\nstock = 3\n\
                             [[items]]\nname = \"Sticker\"\nprobability = 0.00125\n";

/// The app with the Twitch stand-in, rounds that do not wait for a live
/// stream, a timer too slow to draw during the test, and `items` as the
/// default prize list.
async fn app(items: &str) -> TestApp {
    builder(items).start().await
}

/// The builder of [`app`], for a test that adds a setting.
fn builder(items: &str) -> TestAppBuilder {
    TestApp::builder()
        .twitch(streamer())
        .served_public_url()
        .setting("CONNECT_POLICY", "anyone")
        .setting("ONLY_WHEN_LIVE", "false")
        .setting("RAFFLE_INTERVAL", "1h")
        .items(items)
}

/// Opens the dashboard and signs in with a real click on Connect, through
/// the stand-in's consent, back to the page with `login`'s control room.
async fn signed_in_browser(app: &TestApp, profile: &std::path::Path, login: &str) -> Browser {
    let mut browser = Browser::open(profile, &format!("{}/", app.address)).await;
    browser
        .wait_for(
            "document.readyState === 'complete' && document.getElementById('connect') !== null",
            WAIT,
        )
        .await;
    assert_eq!(
        browser.eval("document.querySelector('section.control') === null").await,
        Some(json!(true)),
        "no controls before signing in"
    );
    browser.click("#connect").await;
    browser
        .wait_for(
            &format!(
                "location.pathname === '/' && document.querySelector('section.control[data-login=\"{login}\"]') !== null"
            ),
            WAIT,
        )
        .await;
    // The script has its token and has filled in the settings.
    browser
        .wait_for(
            &format!("document.getElementById('{login}-setting-subscriber_luck').value !== ''"),
            WAIT,
        )
        .await;
    browser
}

/// The text of the element matching `selector` (trimmed), or `None`.
async fn text(browser: &mut Browser, selector: &str) -> Option<String> {
    browser
        .eval(&format!(
            "(() => {{ const e = document.querySelector({}); return e ? e.textContent.trim() : null; }})()",
            json!(selector)
        ))
        .await
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// A request made by the page's own JavaScript (its cookie, its Origin).
async fn page_fetch(browser: &mut Browser, method: &str, path: &str, csrf: bool) -> u16 {
    let expression = format!(
        "(async () => {{
            const session = await fetch('api/session', {{cache: 'no-store'}});
            const token = session.ok ? (await session.json()).csrf_token : '';
            const headers = {};
            const reply = await fetch({}, {{method: {}, headers, referrerPolicy: 'same-origin'}});
            return reply.status;
        }})()",
        if csrf { "{'X-CSRF-Token': token}" } else { "{}" },
        json!(path),
        json!(method)
    );
    let status = browser.eval_async(&expression).await;
    u16::try_from(status.as_u64().expect("a status")).expect("a status")
}

/// GET as the admin, as JSON.
async fn admin_json(app: &TestApp, path: &str) -> Value {
    let token = format!("Bearer {}", crate::helpers::ADMIN_TOKEN);
    let reply = app.send(reqwest::Method::GET, path, Some(&token)).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.json()
}

/// The weight of `user_id` in the candidate snapshot of raffle `id`.
async fn snapshot_weight(app: &TestApp, id: i64, user_id: &str) -> Option<u64> {
    let candidates: String = app
        .database
        .client()
        .await
        .query_one("SELECT candidates FROM raffles WHERE id = $1", &[&id])
        .await
        .expect("raffle")
        .get(0);
    let pairs: Vec<(String, u64)> = serde_json::from_str(&candidates).expect("snapshot pairs");
    pairs
        .into_iter()
        .find(|(id, _)| id == user_id)
        .map(|(_, weight)| weight)
}

/// The rows of the probability table as the page shows it: each prize, no
/// prize, and the total, as `[name, probability, stock]`.
async fn chances_on_page(browser: &mut Browser) -> Vec<[String; 3]> {
    let rows = browser
        .eval(
            "[...document.querySelectorAll('section.control table.chances tr')].slice(1)\
             .map(r => [...r.children].map(c => c.textContent.trim()))",
        )
        .await
        .expect("the chances table");
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let cells: Vec<String> = row
                .as_array()
                .expect("cells")
                .iter()
                .map(|c| c.as_str().unwrap_or_default().to_owned())
                .collect();
            [cells[0].clone(), cells[1].clone(), cells[2].clone()]
        })
        .collect()
}

/// The table `kinoyubot check-items` prints for `toml` under `language`,
/// as the same rows.
async fn chances_of_check_items(toml: &str, language: &str) -> Vec<[String; 3]> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("items.toml");
    std::fs::write(&file, toml).expect("items file");
    let output = kinoyubot(dir.path())
        .env("LANGUAGE", language)
        .arg("check-items")
        .arg(&file)
        .output()
        .await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let lines: Vec<&str> = output.stdout.lines().collect();
    let first_rule = lines
        .iter()
        .position(|line| line.starts_with("---"))
        .expect("the table's rule");
    lines[first_rule + 1..]
        .iter()
        .filter(|line| !line.starts_with("---") && !line.trim().is_empty())
        .map(|line| {
            let cells: Vec<String> = line
                .split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_owned)
                .collect();
            [
                cells.first().cloned().unwrap_or_default(),
                cells.get(1).cloned().unwrap_or_default(),
                cells.get(2).cloned().unwrap_or_default(),
            ]
        })
        .collect()
}

/// Screenshots live outside the repository.
fn screen(name: &str) -> PathBuf {
    PathBuf::from("/var/tmp/kyb-screens").join(name)
}

/// Runs axe-core 4.14.1 (vendored, see tests/it/vendor/README.md) on the
/// page, prints its figures, and fails on any serious or critical
/// violation. Injected over DevTools: the page's CSP would block a script
/// tag, but not DevTools evaluation.
async fn axe(browser: &mut Browser, what: &str) {
    let source = std::fs::read_to_string(repo_path("tests/it/vendor/axe.min.js")).expect("vendored axe-core");
    if browser.eval("typeof window.axe === 'object'").await != Some(json!(true)) {
        browser.eval_async(&format!("{source}\n;true")).await;
    }
    let result = browser
        .eval_async(
            "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', \
             'wcag22aa', 'best-practice']}}).then(r => ({
                passes: r.passes.length,
                incomplete: r.incomplete.length,
                violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').slice(0, 200))}))
            }))",
        )
        .await;
    let violations = result["violations"].as_array().cloned().unwrap_or_default();
    let mut by_impact = std::collections::BTreeMap::<String, usize>::new();
    for violation in &violations {
        *by_impact
            .entry(violation["impact"].as_str().unwrap_or("none").to_owned())
            .or_default() += violation["nodes"].as_array().map_or(0, Vec::len);
    }
    println!(
        "axe {what}: {} passes, {} incomplete, violations (nodes) by impact {by_impact:?}",
        result["passes"], result["incomplete"]
    );
    for violation in &violations {
        println!("  {} ({}): {}", violation["id"], violation["impact"], violation["help"]);
    }
    let serious: Vec<&Value> = violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(
        serious.is_empty(),
        "{what}: serious or critical violations: {serious:#?}"
    );
    assert!(
        result["passes"].as_u64().unwrap_or(0) > 10,
        "axe ran its rules: {result}"
    );
}

/// Whether the page scrolls sideways (it must not at 390 px).
async fn scrolls_sideways(browser: &mut Browser) -> bool {
    browser
        .eval("document.documentElement.scrollWidth > document.documentElement.clientWidth")
        .await
        == Some(json!(true))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamer_runs_their_channel_from_the_control_room() {
    chromium();
    let app = app(ALWAYS_WON).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let mut browser = signed_in_browser(&app, profile.path(), STREAMER).await;
    let control = format!("section.control[data-login=\"{STREAMER}\"]");
    let channel_id: i64 = app
        .database
        .client()
        .await
        .query_one("SELECT id FROM channels WHERE login = $1", &[&STREAMER])
        .await
        .expect("the connected channel")
        .get(0);
    let mut subscriber = Viewer::new(SUBSCRIBER_ID, "subviewer").named("SubViewer");
    subscriber.subscriber = true;
    app.database.add_viewer(channel_id, &subscriber).await;
    app.database
        .add_viewer(channel_id, &Viewer::new("7002", "plainviewer").named("PlainViewer"))
        .await;

    // A bad setting: the server's message is shown next to the field it
    // names, the field is marked invalid, and nothing is saved.
    let luck = format!("#{STREAMER}-setting-subscriber_luck");
    assert_eq!(
        browser.eval(&format!("document.querySelector('{luck}').value")).await,
        Some(json!("1"))
    );
    browser.type_into(&luck, "11").await;
    browser.click(&format!("{control} .save-settings")).await;
    browser
        .wait_for(
            &format!("document.getElementById('{STREAMER}-setting-subscriber_luck-error').textContent !== ''"),
            WAIT,
        )
        .await;
    let message = text(&mut browser, &format!("#{STREAMER}-setting-subscriber_luck-error"))
        .await
        .expect("the field's error");
    assert!(message.starts_with("subscriber_luck:"), "{message}");
    assert_eq!(
        browser
            .eval(&format!(
                "document.querySelector('{luck}').getAttribute('aria-invalid')"
            ))
            .await,
        Some(json!("true"))
    );
    assert_eq!(
        browser
            .eval(&format!("document.activeElement === document.querySelector('{luck}')"))
            .await,
        Some(json!(true)),
        "focus goes to the field at fault"
    );
    let path = format!("/api/channels/{STREAMER}/settings");
    assert_eq!(
        admin_json(&app, &path).await["settings"]["subscriber_luck"],
        json!({"value": 1, "source": "default"}),
        "nothing saved"
    );

    // A good one, typed and saved with the keyboard (Enter in the field).
    browser.type_into(&luck, "4").await;
    browser.press("Enter", "Enter", 13).await;
    browser
        .wait_for(
            &format!(
                "document.getElementById('{STREAMER}-setting-subscriber_luck-source').dataset.source === 'channel'"
            ),
            WAIT,
        )
        .await;
    assert_eq!(
        admin_json(&app, &path).await["settings"]["subscriber_luck"],
        json!({"value": 4, "source": "channel"})
    );
    assert_eq!(
        text(&mut browser, &format!("#{STREAMER}-setting-subscriber_luck-error")).await,
        Some(String::new()),
        "the old error is gone"
    );

    // Draw now: the next round uses the new luck, and shows in the history.
    browser.click(&format!("{control} .draw")).await;
    let raffles = wait_for("the drawn raffle", || async {
        let raffles = app.get_raffles_of(STREAMER).await;
        (!raffles.is_empty()).then_some(raffles)
    })
    .await;
    let drawn = raffles[0]["id"].as_i64().expect("raffle id");
    assert_eq!(raffles[0]["trigger"], "manual");
    assert_eq!(
        snapshot_weight(&app, drawn, SUBSCRIBER_ID).await,
        Some(4),
        "luck 4 used"
    );
    assert_eq!(snapshot_weight(&app, drawn, "7002").await, Some(1));
    browser
        .wait_for(
            &format!("document.querySelector('{control} .history tr[data-raffle=\"{drawn}\"]') !== null"),
            WAIT,
        )
        .await;
    browser
        .wait_for(
            &format!("document.querySelector('{control} .control-status').textContent.includes('#{drawn}')"),
            WAIT,
        )
        .await;

    // Reset to the default with the field's own button.
    browser
        .click(&format!("{control} .field[data-setting=\"subscriber_luck\"] .reset"))
        .await;
    browser
        .wait_for(
            &format!(
                "document.getElementById('{STREAMER}-setting-subscriber_luck-source').dataset.source === 'default' \
                 && document.querySelector('{luck}').value === '1'"
            ),
            WAIT,
        )
        .await;
    assert_eq!(
        admin_json(&app, &path).await["settings"]["subscriber_luck"]["source"],
        "default"
    );

    // Pause and resume: the page shows the state, the API agrees.
    browser.click(&format!("{control} .pause")).await;
    browser
        .wait_for(
            &format!("document.querySelector('{control} .state').dataset.paused === 'true'"),
            WAIT,
        )
        .await;
    assert_eq!(app.channel_status(STREAMER).await["paused"], true);
    assert_eq!(
        browser
            .eval(&format!(
                "document.activeElement === document.querySelector('{control} .resume')"
            ))
            .await,
        Some(json!(true)),
        "focus moves to Resume, which replaced Pause"
    );
    browser.press(" ", "Space", 32).await;
    browser
        .wait_for(
            &format!("document.querySelector('{control} .state').dataset.paused === 'false'"),
            WAIT,
        )
        .await;
    assert_eq!(app.channel_status(STREAMER).await["paused"], false);

    // The page's own change requests carry the token; one without it is refused.
    assert_eq!(
        page_fetch(&mut browser, "POST", &format!("api/channels/{STREAMER}/pause"), false).await,
        403
    );
    assert_eq!(app.channel_status(STREAMER).await["paused"], false);

    // A failed announcement: resend it once Discord accepts again.
    app.discord.push([DiscordReply::UnknownWebhook]);
    let refused = app.draw(STREAMER).await;
    let refused_id = refused["id"].as_i64().expect("raffle id");
    app.wait_for_delivery(refused_id, "failed").await;
    let resend = format!("{control} .history .resend[data-raffle=\"{refused_id}\"]");
    browser
        .wait_for(&format!("document.querySelector('{resend}') !== null"), WAIT)
        .await;
    let hint = text(
        &mut browser,
        &format!("{control} .history tr[data-raffle=\"{refused_id}\"] .webhook-hint"),
    )
    .await
    .unwrap_or_default();
    assert!(hint.contains("DISCORD_WEBHOOK_URL"), "{hint}");
    browser.click(&resend).await;
    app.wait_for_delivery(refused_id, "sent").await;
    browser
        .wait_for(
            &format!(
                "document.querySelector('{control} .history tr[data-raffle=\"{refused_id}\"] .delivery.sent') !== null \
                 && document.querySelector('{resend}') === null"
            ),
            WAIT,
        )
        .await;
    let posted: Vec<_> = app
        .discord
        .received()
        .into_iter()
        .filter(|r| r.raffle_id == Some(refused_id))
        .collect();
    assert_eq!(posted.len(), 2, "refused once, then accepted: {posted:?}");
    assert_eq!(
        posted.iter().filter(|r| r.answered_id.is_some()).count(),
        1,
        "posted once"
    );

    // Sign out: the controls are gone and the API answers 401.
    browser.click(&format!("{control} .sign-out")).await;
    browser
        .wait_for(
            "document.readyState === 'complete' && document.querySelector('section.control') === null \
             && document.getElementById('connect') !== null",
            WAIT,
        )
        .await;
    assert_eq!(page_fetch(&mut browser, "GET", "api/session", false).await, 401);
    assert_eq!(
        page_fetch(&mut browser, "POST", &format!("api/channels/{STREAMER}/pause"), true).await,
        401
    );
    assert_eq!(
        app.database
            .count("SELECT count(*) FROM sessions s JOIN channels c ON c.id = s.channel_id WHERE c.login = 'twitchdev'")
            .await,
        0
    );
    drop(browser);
    let mut app = app;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_broadcaster_gets_controls_for_their_channel_only() {
    chromium();
    let app = app(ALWAYS_WON).await;
    let first = tempfile::tempdir().expect("profile dir");
    let first_browser = signed_in_browser(&app, first.path(), STREAMER).await;
    drop(first_browser);

    app.twitch()
        .set_consenting(User::new("222", "otherstreamer", "OtherStreamer"));
    let second = tempfile::tempdir().expect("profile dir");
    let mut browser = signed_in_browser(&app, second.path(), "otherstreamer").await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('section.control').length")
            .await,
        Some(json!(1))
    );
    assert_eq!(
        browser
            .eval(&format!(
                "document.querySelector('section.control[data-login=\"{STREAMER}\"]') === null"
            ))
            .await,
        Some(json!(true)),
        "no controls for the first streamer's channel"
    );
    // The first channel is still on the public board.
    assert_eq!(
        browser
            .eval(&format!(
                "document.querySelector('#board [data-login=\"{STREAMER}\"]') !== null"
            ))
            .await,
        Some(json!(true))
    );
    for (method, action) in [("POST", "pause"), ("POST", "draw"), ("GET", "settings")] {
        assert_eq!(
            page_fetch(&mut browser, method, &format!("api/channels/{STREAMER}/{action}"), true).await,
            403,
            "{method} {action}"
        );
    }
    assert_eq!(
        page_fetch(&mut browser, "GET", &format!("partials/history/{STREAMER}"), false).await,
        403
    );
    assert_eq!(app.channel_status(STREAMER).await["paused"], false);
    assert!(app.get_raffles_of(STREAMER).await.is_empty(), "nothing drawn");
    drop(browser);
    let mut app = app;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_meets_wcag_aa_signed_in_and_out_at_1280_and_390_px() {
    chromium();
    let app = TestApp::builder()
        .twitch(streamer())
        .served_public_url()
        .setting("CONNECT_POLICY", "anyone")
        .setting("ONLY_WHEN_LIVE", "false")
        .setting("RAFFLE_INTERVAL", "1h")
        .items(ALWAYS_WON)
        .channels(&["publicchannel"])
        .start()
        .await;
    let profile = tempfile::tempdir().expect("profile dir");
    let mut browser = Browser::open(profile.path(), &format!("{}/", app.address)).await;
    browser.wait_for("document.readyState === 'complete'", WAIT).await;
    // A channel with a winner and a failed announcement, as the public board shows.
    let channel_id: i64 = wait_for("the named channel", || async {
        app.database
            .client()
            .await
            .query_opt("SELECT id FROM channels WHERE login = 'publicchannel'", &[])
            .await
            .ok()
            .flatten()
            .map(|row| row.get::<_, i64>(0))
    })
    .await;
    app.database
        .add_viewer(channel_id, &Viewer::new("8001", "fan").named("Fan"))
        .await;
    app.discord.push([DiscordReply::UnknownWebhook]);
    let won = app.draw("publicchannel").await;
    app.wait_for_delivery(won["id"].as_i64().expect("id"), "failed").await;
    let sent = app.draw("publicchannel").await;
    app.wait_for_delivery(sent["id"].as_i64().expect("id"), "sent").await;

    for width in [1280, 390] {
        browser.set_width(width).await;
        browser.navigate(&format!("{}/", app.address)).await;
        browser
            .wait_for("document.getElementById('updated').textContent !== ''", WAIT)
            .await;
        axe(&mut browser, &format!("signed out, {width} px")).await;
        assert!(
            !scrolls_sideways(&mut browser).await,
            "signed out, {width} px scrolls sideways"
        );
        browser.screenshot(&screen(&format!("signed-out-{width}.png"))).await;
    }

    browser.set_width(1280).await;
    browser.navigate(&format!("{}/", app.address)).await;
    browser.click("#connect").await;
    browser
        .wait_for(
            "location.pathname === '/' && document.querySelector('section.control') !== null \
             && document.getElementById('twitchdev-setting-subscriber_luck').value !== ''",
            WAIT,
        )
        .await;
    // Something in every part: a viewer, a failed delivery with its resend
    // button, a field error.
    let own_id: i64 = app
        .database
        .client()
        .await
        .query_one("SELECT id FROM channels WHERE login = $1", &[&STREAMER])
        .await
        .expect("the connected channel")
        .get(0);
    app.database
        .add_viewer(own_id, &Viewer::new("8002", "viewer").named("Viewer"))
        .await;
    app.discord.push([DiscordReply::UnknownWebhook]);
    let failed = app.draw(STREAMER).await;
    app.wait_for_delivery(failed["id"].as_i64().expect("id"), "failed")
        .await;
    for width in [1280, 390] {
        browser.set_width(width).await;
        browser.navigate(&format!("{}/", app.address)).await;
        browser
            .wait_for(
                "document.querySelector('section.control .history .resend') !== null \
                 && document.getElementById('twitchdev-setting-subscriber_luck').value !== ''",
                WAIT,
            )
            .await;
        browser.type_into("#twitchdev-setting-claim_window", "soon").await;
        browser.click("section.control .save-settings").await;
        browser
            .wait_for(
                "document.getElementById('twitchdev-setting-claim_window-error').textContent !== ''",
                WAIT,
            )
            .await;
        axe(&mut browser, &format!("signed in, {width} px")).await;
        assert!(
            !scrolls_sideways(&mut browser).await,
            "signed in, {width} px scrolls sideways"
        );
        browser.screenshot(&screen(&format!("signed-in-{width}.png"))).await;
        // The long phone page also in screen-sized parts, to look at.
        if width < 500 {
            let height = browser.page_height().await;
            let mut top = 0.0;
            let mut part = 1;
            while top < height {
                browser
                    .screenshot_part(&screen(&format!("signed-in-{width}-part{part}.png")), top, Some(900.0))
                    .await;
                top += 900.0;
                part += 1;
            }
        }
    }
    // The public page of a raffle, linked from the history.
    let raffle_link = format!(
        "section.control .history a.raffle-number[href=\"raffles/{}\"]",
        failed["id"]
    );
    browser.set_width(1280).await;
    browser.navigate(&format!("{}/", app.address)).await;
    // Everything above it loaded first, so the page no longer moves.
    browser
        .wait_for(
            &format!(
                "document.querySelector('{raffle_link}') !== null \
                 && document.querySelectorAll('section.control .prize-rows tr').length > 0 \
                 && document.querySelectorAll('section.control .viewer-table tbody tr').length > 0"
            ),
            WAIT,
        )
        .await;
    browser.click(&raffle_link).await;
    let raffle_page = format!("{}/raffles/{}", app.address, failed["id"]);
    browser
        .wait_for(
            &format!("location.href === '{raffle_page}' && document.readyState === 'complete'"),
            WAIT,
        )
        .await;
    for width in [1280, 390] {
        browser.set_width(width).await;
        browser.navigate(&raffle_page).await;
        axe(&mut browser, &format!("raffle page, {width} px")).await;
        assert!(
            !scrolls_sideways(&mut browser).await,
            "raffle page, {width} px scrolls sideways"
        );
        browser.screenshot(&screen(&format!("raffle-{width}.png"))).await;
    }
    browser.navigate(&format!("{}/", app.address)).await;
    browser
        .wait_for("document.querySelector('section.control .history') !== null", WAIT)
        .await;
    // Every control of the control room can be reached with Tab: none is
    // a click-only element, and each is at least 24 px on both sides.
    let small = browser
        .eval(
            "[...document.querySelectorAll('section.control button:not([hidden]), section.control input, \
              section.control select, a')].filter(e => e.offsetParent !== null)\
              .filter(e => { const r = e.getBoundingClientRect(); return r.width < 24 || r.height < 24; })\
              .filter(e => !(e.tagName === 'A' && e.closest('p, li, footer')))\
              .map(e => e.outerHTML.slice(0, 120))",
        )
        .await;
    assert_eq!(small, Some(json!([])), "targets under 24 px");
    let click_only = browser
        .eval("[...document.querySelectorAll('[onclick], div[tabindex]:not([role=region]), span[tabindex]')].length")
        .await;
    assert_eq!(click_only, Some(json!(0)));
    drop(browser);
    let mut app = app;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_prize_editor_shows_the_check_items_table_as_you_type_and_saves_through_the_api() {
    chromium();
    let app = app(DEFAULT_ITEMS).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let mut browser = signed_in_browser(&app, profile.path(), STREAMER).await;
    let control = format!("section.control[data-login=\"{STREAMER}\"]");
    browser
        .wait_for(
            &format!("document.querySelectorAll('{control} .prize-rows tr').length === 2"),
            WAIT,
        )
        .await;
    assert_eq!(
        chances_on_page(&mut browser).await,
        chances_of_check_items(DEFAULT_ITEMS, "en").await,
        "the default list, as check-items prints it"
    );

    // Typing updates the table at once, with check-items' numbers.
    browser
        .type_into(
            &format!("{control} .prize-rows tr:nth-child(1) .prize-probability"),
            "0.1234",
        )
        .await;
    browser.click(&format!("{control} .add-prize")).await;
    let third = format!("{control} .prize-rows tr:nth-child(3)");
    browser.type_into(&format!("{third} .prize-name"), "Gift sub").await;
    browser.type_into(&format!("{third} .prize-probability"), "0.25").await;
    browser.type_into(&format!("{third} .prize-stock"), "2").await;
    let edited = "[[items]]\nname = \"Steam key\"\nprobability = 0.1234\nstock = 3\n\
                  [[items]]\nname = \"Sticker\"\nprobability = 0.00125\n\
                  [[items]]\nname = \"Gift sub\"\nprobability = 0.25\nstock = 2\n";
    assert_eq!(
        chances_on_page(&mut browser).await,
        chances_of_check_items(edited, "en").await
    );

    // A bad value: the server's message names the item, nothing is saved.
    browser.type_into(&format!("{third} .prize-probability"), "1.5").await;
    browser.click(&format!("{control} .save-prizes")).await;
    browser
        .wait_for(
            &format!("document.querySelector('{control} .prize-error').textContent !== ''"),
            WAIT,
        )
        .await;
    let message = text(&mut browser, &format!("{control} .prize-error"))
        .await
        .unwrap_or_default();
    assert!(message.contains("Gift sub"), "names the item: {message}");
    assert_eq!(
        browser
            .eval(&format!(
                "document.querySelector('{third} .prize-probability').getAttribute('aria-invalid')"
            ))
            .await,
        Some(json!("true"))
    );
    let path = format!("/api/channels/{STREAMER}/items");
    let stored = admin_json(&app, &path).await;
    assert_eq!(stored["source"], "default", "nothing saved: {stored}");

    // Fixed and saved: the channel's own list, in the API and in the next round.
    browser.type_into(&format!("{third} .prize-probability"), "0.25").await;
    browser.click(&format!("{control} .save-prizes")).await;
    wait_until("the channel's own prize list", || async {
        admin_json(&app, &path).await["source"] == "channel"
    })
    .await;
    let stored = admin_json(&app, &path).await;
    assert_eq!(
        stored["items"],
        json!([
            {"name": "Steam key", "probability": 0.1234, "stock": 3},
            {"name": "Sticker", "probability": 0.00125, "stock": null},
            {"name": "Gift sub", "probability": 0.25, "stock": 2}
        ]),
        "{stored}"
    );
    browser
        .wait_for(
            &format!("document.querySelector('{control} .prize-source').dataset.source === 'channel'"),
            WAIT,
        )
        .await;
    assert_eq!(
        text(&mut browser, &format!("{control} .prize-error")).await,
        Some(String::new())
    );

    // Removing a row with the keyboard updates the table too.
    browser.click(&format!("{third} .remove-prize")).await;
    let two = "[[items]]\nname = \"Steam key\"\nprobability = 0.1234\nstock = 3\n\
               [[items]]\nname = \"Sticker\"\nprobability = 0.00125\n";
    assert_eq!(
        chances_on_page(&mut browser).await,
        chances_of_check_items(two, "en").await
    );

    // In Portuguese, the same rows with the decimal comma.
    browser.navigate(&format!("{}/?lang=pt-BR", app.address)).await;
    browser
        .wait_for(
            &format!("document.querySelectorAll('{control} .prize-rows tr').length === 3"),
            WAIT,
        )
        .await;
    assert_eq!(
        chances_on_page(&mut browser).await,
        chances_of_check_items(edited, "pt-BR").await,
        "pt-BR"
    );
    drop(browser);
    let mut app = app;
    app.stop().await;
}

/// A Portuguese dashboard (`LANGUAGE=pt-BR`, no choice made, the browser
/// itself asking for English) gets the API's refusals in Portuguese: the
/// script asks in the page's language. A bad setting's message still
/// names its field first, so it lands next to that field.
#[tokio::test(flavor = "multi_thread")]
async fn a_portuguese_dashboard_shows_the_apis_refusals_in_portuguese() {
    chromium();
    let app = builder(DEFAULT_ITEMS).setting("LANGUAGE", "pt-BR").start().await;
    let profile = tempfile::tempdir().expect("profile dir");
    let mut browser = signed_in_browser(&app, profile.path(), STREAMER).await;
    assert_eq!(
        browser.eval("document.documentElement.lang").await,
        Some(json!("pt-BR"))
    );
    assert_eq!(
        browser
            .eval("navigator.languages.some((l) => l.toLowerCase().startsWith('pt'))")
            .await,
        Some(json!(false)),
        "the browser's own Accept-Language is not Portuguese"
    );

    let luck = format!("#{STREAMER}-setting-subscriber_luck");
    browser.type_into(&luck, "11").await;
    let control = format!("section.control[data-login=\"{STREAMER}\"]");
    browser.click(&format!("{control} .save-settings")).await;
    browser
        .wait_for(
            &format!("document.getElementById('{STREAMER}-setting-subscriber_luck-error').textContent !== ''"),
            WAIT,
        )
        .await;
    assert_eq!(
        text(&mut browser, &format!("#{STREAMER}-setting-subscriber_luck-error")).await,
        Some("subscriber_luck: valor inválido \"11\"; deve ser um número inteiro de 1 a 10".to_owned())
    );

    // Drawing twice within 10 s: the second refusal, in Portuguese, in the
    // alert region.
    browser.click(&format!("{control} button.draw")).await;
    browser
        .wait_for(
            &format!("document.querySelector('{control} .control-status').textContent.includes('#')"),
            WAIT,
        )
        .await;
    browser.click(&format!("{control} button.draw")).await;
    browser
        .wait_for(
            &format!("document.querySelector('{control} .control-alert').textContent !== ''"),
            WAIT,
        )
        .await;
    let alert = text(&mut browser, &format!("{control} .control-alert"))
        .await
        .unwrap_or_default();
    assert!(
        alert.contains("um sorteio por canal a cada 10 segundos"),
        "the refusal in Portuguese: {alert}"
    );
    drop(browser);
    let mut app = app;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_viewer_list_shows_chances_and_reasons_page_by_page() {
    chromium();
    let app = app(ALWAYS_WON).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let mut browser = signed_in_browser(&app, profile.path(), STREAMER).await;
    let control = format!("section.control[data-login=\"{STREAMER}\"]");
    let channel_id: i64 = app
        .database
        .client()
        .await
        .query_one("SELECT id FROM channels WHERE login = $1", &[&STREAMER])
        .await
        .expect("the connected channel")
        .get(0);
    for n in 0..60 {
        app.database
            .add_viewer(
                channel_id,
                &Viewer::new(&format!("{}", 9100 + n), &format!("viewer{n:02}")),
            )
            .await;
    }
    let mut banned = Viewer::new("9999", "troll").named("Troll");
    banned.banned = Some(None);
    app.database.add_viewer(channel_id, &banned).await;
    browser.click(&format!("{control} .refresh-viewers")).await;
    browser
        .wait_for(
            &format!("document.querySelectorAll('{control} .viewer-table tbody tr').length === 50"),
            WAIT,
        )
        .await;
    let api = admin_json(&app, &format!("/api/channels/{STREAMER}/viewers?limit=50")).await;
    let first = &api["viewers"][0];
    let row = browser
        .eval(&format!(
            "[...document.querySelector('{control} .viewer-table tbody tr').children].map(c => c.textContent.trim())"
        ))
        .await
        .expect("a row");
    let chance = first["chance"].as_f64().map(|c| format!("{:.1}%", c * 100.0));
    assert_eq!(row[3].as_str(), chance.as_deref(), "{row} vs {first}");
    assert!(
        browser
            .eval(&format!("document.querySelector('{control} .load-more').hidden"))
            .await
            == Some(json!(false)),
        "a next page"
    );
    browser.click(&format!("{control} .load-more")).await;
    browser
        .wait_for(
            &format!("document.querySelectorAll('{control} .viewer-table tbody tr').length === 61"),
            WAIT,
        )
        .await;
    let troll = browser
        .eval(&format!(
            "[...document.querySelectorAll('{control} .viewer-table tbody tr')]\
             .filter(r => r.dataset.user === '9999').map(r => r.querySelector('.reason').textContent)"
        ))
        .await;
    println!("the banned viewer's reason: {troll:?}");
    assert_eq!(troll, Some(json!(["banned or timed out"])));
    drop(browser);
    let mut app = app;
    app.stop().await;
}
