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
    // The account the bot speaks as is seen in chat too (its own lines).
    let bot = bot_user();
    app.say(
        "twitchdev",
        &crate::fake_irc::privmsg("twitchdev", &app.irc.room_id("twitchdev"), &bot.id, &bot.login, "hi"),
    );
    app.wait_for_presence("twitchdev", "five chatters", |rows| rows.len() == 5)
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
    // alice and bob are eligible (carol banned, nightbot ignored, the bot
    // account never): 1/2 × 0.5.
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

#[tokio::test]
async fn odds_give_the_gates_reason_as_the_draw_judges_it() {
    let items = "[[items]]\nname = \"Key\"\nprobability = 0.5\n";
    let app = chat_app()
        .items(items)
        .setting("SUBSCRIBERS_ONLY", "true")
        .start()
        .await;
    app.connect_bot(&bot_user()).await;
    let subscriber = crate::fake_irc::privmsg(
        "twitchdev",
        &app.irc.room_id("twitchdev"),
        &twitch_id("alice"),
        "alice",
        "hello",
    )
    .replace("badges=;", "badges=subscriber/1;")
    .replace("subscriber=0", "subscriber=1");
    app.say("twitchdev", &subscriber);
    app.chat("twitchdev", "bob", "hello");
    app.wait_for_presence("twitchdev", "two viewers", |rows| rows.len() == 2)
        .await;
    app.chat("twitchdev", "bob", "!odds");
    let lines = said(&app, 1).await;
    assert_eq!(lines[0], "@bob only subscribers can win here.");
    let again = crate::fake_irc::privmsg(
        "twitchdev",
        &app.irc.room_id("twitchdev"),
        &twitch_id("alice"),
        "alice",
        "!chance",
    )
    .replace("badges=;", "badges=subscriber/1;")
    .replace("subscriber=0", "subscriber=1");
    app.say("twitchdev", &again);
    let lines = said(&app, 2).await;
    // Alice alone passes the gate: 1/1 × 0.5.
    assert_eq!(
        lines[1],
        "@alice your chance in the next raffle: 50.0% (among 1 eligible viewer)"
    );
}

/// `PUT /api/channels/{channel}/settings` with `body`, as the admin.
async fn put_settings(app: &TestApp, channel: &str, body: &serde_json::Value) -> crate::helpers::Reply {
    let request = reqwest::Client::new()
        .put(app.url(&format!("/api/channels/{channel}/settings")))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(body);
    crate::helpers::Reply::to(request).await
}

/// A short session in `language`: status, a win with a claim window, the
/// claim, `!odds`, then the channel's own `CHAT_ANNOUNCE=off`. Returns the
/// lines said, printed as a transcript.
async fn session(language: &str) -> Vec<String> {
    let items = "[[items]]\nname = \"Steam key\"\nprobability = 1.0\nstock = 3\n";
    let app = chat_app()
        .items(items)
        .setting("LANGUAGE", language)
        .setting("CLAIM_WINDOW", "30s")
        .start()
        .await;
    app.connect_bot(&bot_user()).await;
    app.chat("twitchdev", "viewer", "hello");
    app.wait_for_presence("twitchdev", "the viewer", |rows| rows.len() == 1)
        .await;
    app.say(
        "twitchdev",
        &moderator_line(&app, "twitchdev", "moddy", "!sorteio status"),
    );
    said(&app, 1).await;
    let won = app.draw("twitchdev").await;
    assert_eq!(won["claim"]["status"], "pending");
    said(&app, 2).await;
    app.chat("twitchdev", "viewer", "!resgatar");
    said(&app, 3).await;
    app.chat("twitchdev", "viewer", "!chance");
    said(&app, 4).await;
    app.say(
        "twitchdev",
        &moderator_line(&app, "twitchdev", "moddy", "!raffle pause"),
    );
    let lines = said(&app, 5).await;

    // The channel's own settings: validated like the environment, and obeyed.
    let refused = put_settings(&app, "twitchdev", &serde_json::json!({"claim_redraws": 11})).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("claim_redraws"), "{}", refused.body);
    let changed = put_settings(
        &app,
        "twitchdev",
        &serde_json::json!({"chat_announce": "off", "claim_window": "0s", "claim_redraws": 1}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let settings = &changed.json()["settings"];
    assert_eq!(settings["chat_announce"]["value"], "off");
    assert_eq!(settings["claim_redraws"]["value"], 1);
    let quiet = app.draw("twitchdev").await;
    assert!(quiet["claim"].is_null(), "no claim window: {quiet}");
    app.wait_for_delivery(quiet["id"].as_i64().expect("id"), "sent").await;
    assert_eq!(
        app.twitch().chat_texts().len(),
        5,
        "CHAT_ANNOUNCE=off: the win is not said"
    );
    println!("--- transcript ({language}) ---");
    for line in &lines {
        println!("{line}");
    }
    lines
}

#[tokio::test]
async fn a_short_session_in_english() {
    let lines = session("en").await;
    assert!(lines[0].starts_with("Next raffle in "), "{}", lines[0]);
    assert!(
        lines[0].ends_with("active viewer · prizes: Steam key 100.0% (3 left)")
            || lines[0].ends_with("active viewers · prizes: Steam key 100.0% (3 left)"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("@viewer won Steam key! Raffle #"), "{}", lines[1]);
    assert!(
        lines[1].ends_with(
            "among 1 viewer — http://kinoyubot.test/raffles/1 Say anything in chat (or !claim) within 30 s to claim it."
        ),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "@viewer claimed Steam key (raffle #1). Enjoy!");
    assert_eq!(
        lines[3], "@viewer your chance in the next raffle: 50.0% (among 2 eligible viewers)",
        "the viewer and the moderator"
    );
    assert_eq!(lines[4], "@moddy Raffles paused.");
}

#[tokio::test]
async fn a_short_session_in_portuguese() {
    let lines = session("pt-BR").await;
    assert!(lines[0].starts_with("Próximo sorteio em "), "{}", lines[0]);
    assert!(
        lines[0].ends_with("espectador ativo · prêmios: Steam key 100,0\u{a0}% (restam 3)")
            || lines[0].ends_with("espectadores ativos · prêmios: Steam key 100,0\u{a0}% (restam 3)"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("@viewer ganhou Steam key! Sorteio #"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with("entre 1 espectador — http://kinoyubot.test/raffles/1 Mande qualquer mensagem no chat (ou !resgatar) em até 30 s para resgatar."),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "@viewer resgatou Steam key (sorteio #1). Aproveite!");
    assert_eq!(
        lines[3], "@viewer sua chance no próximo sorteio: 50,0\u{a0}% (entre 2 espectadores elegíveis)",
        "the viewer and the moderator"
    );
    assert_eq!(lines[4], "@moddy Sorteios pausados.");
}
