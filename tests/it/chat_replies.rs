//! What the bot answers in chat (issue 15 item 3): `!raffle status`,
//! acknowledgements, Portuguese aliases, `!odds` with the draw's own
//! eligibility, and the reply limits.

use std::time::Duration;

use crate::chat::{bot_user, chat_app, said};
use crate::fake_irc::twitch_id;
use crate::helpers::{TestApp, wait_until};

/// A moderator's line (badge and `mod=1`) in `channel`.
fn moderator_line(app: &TestApp, channel: &str, login: &str, text: &str) -> String {
    crate::fake_irc::privmsg(channel, &app.irc.room_id(channel), &twitch_id(login), login, text)
        .replace("badges=;", "badges=moderator/1;")
        .replace("mod=0", "mod=1")
}

#[tokio::test]
async fn status_and_acknowledgements_are_answered_in_both_command_languages() {
    let items = "[[items]]\nname = \"Steam key\"\nprobability = 0.05\nstock = 3\n\n[[items]]\nname = \"Mug\"\nprobability = 0.5\n";
    let app = chat_app().items(items).start().await;
    app.connect_bot(&bot_user()).await;
    app.chat("twitchdev", "viewer", "hello");
    app.wait_for_presence("twitchdev", "the viewer", |rows| rows.len() == 1)
        .await;
    app.say(
        "twitchdev",
        &moderator_line(&app, "twitchdev", "moddy", "!raffle status"),
    );
    let lines = said(&app, 1).await;
    assert!(lines[0].starts_with("Next raffle in "), "{}", lines[0]);
    assert!(
        lines[0].contains("2 active viewers") || lines[0].contains("1 active viewer "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("Steam key 5.0% (3 left), Mug 50.0% (unlimited)"),
        "{}",
        lines[0]
    );
    app.say(
        "twitchdev",
        &moderator_line(&app, "twitchdev", "moddy", "!sorteio pausar"),
    );
    let lines = said(&app, 2).await;
    assert_eq!(lines[1], "@moddy Raffles paused.");
    wait_until("the channel is paused", || async {
        app.channel_status("twitchdev").await["paused"] == true
    })
    .await;
    app.say(
        "twitchdev",
        &moderator_line(&app, "twitchdev", "moddy", "!raffle resume"),
    );
    let lines = said(&app, 3).await;
    assert_eq!(lines[2], "@moddy Raffles resumed.");
    // A viewer cannot use control commands: no answer.
    app.chat("twitchdev", "viewer", "!raffle pause");
    app.chat("twitchdev", "viewer", "!sorteio status");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.twitch().chat_texts().len(), 3);
}

#[tokio::test]
async fn odds_follow_the_draws_rules_for_eligible_banned_and_ignored_viewers() {
    let items = "[[items]]\nname = \"Key\"\nprobability = 0.5\n";
    let app = chat_app().items(items).start().await;
    app.connect_bot(&bot_user()).await;
    for viewer in ["alice", "bob", "carol", "nightbot"] {
        app.chat("twitchdev", viewer, "hello");
    }
    app.wait_for_presence("twitchdev", "four viewers", |rows| rows.len() == 4)
        .await;
    // Carol is banned.
    let room = app.irc.room_id("twitchdev");
    app.say(
        "twitchdev",
        &format!(
            "@room-id={room};target-user-id={};tmi-sent-ts=1594561360331 :tmi.twitch.tv CLEARCHAT #twitchdev :carol",
            twitch_id("carol")
        ),
    );
    wait_until("carol is banned", || async {
        app.database
            .count(&format!(
                "SELECT count(*) FROM presence WHERE user_id = '{}' AND banned_until IS NOT NULL",
                twitch_id("carol")
            ))
            .await
            == 1
    })
    .await;
    app.chat("twitchdev", "alice", "!odds");
    let lines = said(&app, 1).await;
    // alice and bob are eligible (carol banned, nightbot ignored): 1/2 × 0.5.
    assert_eq!(
        lines[0],
        "@alice your chance in the next raffle: 25.0% (among 2 eligible viewers)"
    );
    app.chat("twitchdev", "carol", "!chance");
    let lines = said(&app, 2).await;
    assert_eq!(lines[1], "@carol you cannot win while banned or timed out.");
    app.chat("twitchdev", "nightbot", "!odds");
    let lines = said(&app, 3).await;
    assert_eq!(
        lines[2],
        "@nightbot you are on this channel's ignore list, so you cannot win."
    );
}

#[tokio::test]
async fn odds_replies_are_limited_per_viewer_and_per_channel() {
    let app = chat_app().start().await;
    app.connect_bot(&bot_user()).await;
    for i in 0..25 {
        app.chat("twitchdev", &format!("viewer{i}"), "hello");
    }
    app.wait_for_presence("twitchdev", "25 viewers", |rows| rows.len() == 25)
        .await;
    // The same viewer twice within the minute: one answer.
    app.chat("twitchdev", "viewer0", "!odds");
    app.chat("twitchdev", "viewer0", "!odds");
    // 24 others: only 19 more fit in the channel's 20 per minute.
    for i in 1..25 {
        app.chat("twitchdev", &format!("viewer{i}"), "!odds");
    }
    let lines = said(&app, 20).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let lines_after = app.twitch().chat_texts();
    assert_eq!(lines_after.len(), 20, "{lines_after:#?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("@viewer0 ")).count(), 1);
}
