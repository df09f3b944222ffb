//! The bot speaks in chat (issue 15): the bot account, chat lines through
//! the outbox, what it says, and the Send Chat Message stand-in.

use std::time::Duration;

use kinoyubot::announce::chat_delivery::ChatDeliveryConfig;
use kinoyubot::announce::delivery::DeliveryConfig;

use crate::fake_irc::twitch_id;
use crate::fake_twitch::{ChatLimit, User, streamer};
use crate::helpers::{ADMIN_TOKEN, TestApp, capture_logs, wait_for, wait_until};

/// The account the bot speaks as in these tests.
pub fn bot_user() -> User {
    User::new("900000001", "kinoyubot_bot", "KinoYuBot_Bot")
}

/// An app serving the stand-in streamer's channel with Twitch configured,
/// drawing only when asked, with a chat worker that polls quickly.
pub fn chat_app() -> crate::helpers::TestAppBuilder {
    TestApp::builder()
        .twitch(streamer())
        .channels(&["twitchdev"])
        .setting("ONLY_WHEN_LIVE", "false")
        .chat_delivery(fast_chat(Duration::from_secs(30)))
}

/// Twitch's limits over `window`, polling every 50 ms.
pub fn fast_chat(window: Duration) -> ChatDeliveryConfig {
    ChatDeliveryConfig {
        delivery: DeliveryConfig {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            poll_interval: Duration::from_millis(50),
            claim_lease: Duration::from_secs(10),
        },
        rate_window: window,
        plain_limit: 20,
        moderator_limit: 100,
    }
}

/// Waits until the stand-in has accepted `n` chat lines; returns their texts.
pub async fn said(app: &TestApp, n: usize) -> Vec<String> {
    wait_for(&format!("{n} chat lines"), || async {
        let texts = app.twitch().chat_texts();
        (texts.len() >= n).then_some(texts)
    })
    .await
}

#[tokio::test]
async fn the_bot_account_connects_with_user_write_chat_only_and_only_the_admin_replaces_it() {
    let app = chat_app().start().await;
    // Open while none is connected.
    let start = app.get("/auth/twitch/bot").await;
    assert_eq!(start.status, 302, "{}", start.body);
    let authorize = url::Url::parse(start.header("location")).expect("authorize URL");
    let scopes: Vec<String> = authorize
        .query_pairs()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(scopes, ["user:write:chat"], "only the scope chat needs");

    app.connect_bot(&bot_user()).await;
    let row = app
        .database
        .client()
        .await
        .query_one("SELECT twitch_user_id, login, scopes FROM bot_account", &[])
        .await
        .expect("bot account stored");
    assert_eq!(row.get::<_, String>(0), "900000001");
    assert_eq!(row.get::<_, String>(1), "kinoyubot_bot");
    assert_eq!(row.get::<_, Vec<String>>(2), ["user:write:chat"]);
    // The channel connection of the same person is untouched: no channel row for the bot.
    assert_eq!(app.database.count("SELECT count(*) FROM twitch_tokens").await, 0);
    let page = app.get("/").await;
    assert!(page.body.contains("Speaks in chat as"), "{}", page.body);
    assert!(page.body.contains("@kinoyubot_bot"), "{}", page.body);

    // Connected: a stranger can no longer replace it.
    let again = app.get("/auth/twitch/bot").await;
    assert_eq!(again.status, 409, "{}", again.body);
    let anonymous = app.send(reqwest::Method::DELETE, "/api/bot", None).await;
    assert!(
        anonymous.status == 401 || anonymous.status == 403,
        "{}",
        anonymous.status
    );
    let removed = app
        .send(
            reqwest::Method::DELETE,
            "/api/bot",
            Some(&format!("Bearer {ADMIN_TOKEN}")),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.json()["revoked_at_twitch"], true);
    assert!(
        !app.twitch().has_valid_tokens_of("900000001"),
        "tokens revoked at Twitch"
    );
    let page = app.get("/").await;
    assert!(
        page.body.contains("auth/twitch/bot"),
        "shows how to connect one: {}",
        page.body
    );
    // And now another account may connect.
    app.connect_bot(&User::new("900000002", "otherbot", "OtherBot")).await;
}

#[tokio::test]
async fn a_win_is_said_once_in_chat_and_once_on_discord() {
    let app = chat_app().start().await;
    app.connect_bot(&bot_user()).await;
    app.chat("twitchdev", "viewer", "hello");
    app.wait_for_presence("twitchdev", "the viewer", |rows| rows.len() == 1)
        .await;
    let raffle = app.draw("twitchdev").await;
    let id = raffle["id"].as_i64().expect("id");
    let lines = said(&app, 1).await;
    assert_eq!(
        lines[0],
        format!("@viewer won Key! Raffle #{id} among 1 viewer — http://kinoyubot.test/raffles/{id}")
    );
    app.wait_for_delivery(id, "sent").await;
    let request = &app.twitch().chat_requests()[0];
    let body: serde_json::Value = serde_json::from_str(&request.body).expect("json body");
    assert_eq!(body["broadcaster_id"], streamer().id);
    assert_eq!(body["sender_id"], "900000001");
    let line = &app.twitch().chat_lines()[0];
    wait_until("the chat row is sent with Twitch's id", || async {
        app.database
            .count(&format!(
                "SELECT count(*) FROM outbox WHERE kind = 'twitch_chat' AND status = 'sent'
                 AND twitch_message_id = '{}'",
                line.message_id
            ))
            .await
            == 1
    })
    .await;
    // Nothing else is said, and Discord got exactly one post.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.twitch().chat_texts().len(), 1);
    assert_eq!(app.discord.received().len(), 1);
}

#[tokio::test]
async fn without_a_bot_account_the_bot_stays_silent_and_says_so_once() {
    let (logs, _guard) = capture_logs();
    let app = chat_app().start().await;
    app.chat("twitchdev", "viewer", "hello");
    app.wait_for_presence("twitchdev", "the viewer", |rows| rows.len() == 1)
        .await;
    let first = app.draw("twitchdev").await;
    let second = app.draw("twitchdev").await;
    app.wait_for_delivery(first["id"].as_i64().expect("id"), "sent").await;
    app.wait_for_delivery(second["id"].as_i64().expect("id"), "sent").await;
    assert!(app.twitch().chat_requests().is_empty(), "nothing sent to chat");
    assert_eq!(
        app.database
            .count("SELECT count(*) FROM outbox WHERE kind = 'twitch_chat'")
            .await,
        0,
        "nothing queued for chat"
    );
    wait_until("the silence is logged", || async {
        logs.count("no bot account can speak in chat") >= 1
    })
    .await;
    assert_eq!(logs.count("no bot account can speak in chat"), 1, "said once");
    let page = app.get("/").await;
    assert!(page.body.contains("auth/twitch/bot"), "{}", page.body);
}

#[tokio::test]
async fn a_hostile_display_name_or_item_cannot_make_a_command_or_a_ping() {
    let items = "[[items]]\nname = \"/ban twitchdev @everyone\"\nprobability = 1.0\n";
    let app = chat_app().items(items).start().await;
    app.connect_bot(&bot_user()).await;
    // A display name that tries to mention someone else and start a command.
    let hostile = crate::fake_irc::privmsg(
        "twitchdev",
        &app.irc.room_id("twitchdev"),
        &twitch_id("sneaky"),
        "sneaky",
        "hi",
    )
    .replace("display-name=sneaky", "display-name=/timeout\\s@twitchdev");
    app.say("twitchdev", &hostile);
    app.wait_for_presence("twitchdev", "the viewer", |rows| rows.len() == 1)
        .await;
    app.draw("twitchdev").await;
    let line = said(&app, 1).await.remove(0);
    assert!(line.starts_with("@sneaky won "), "{line}");
    assert!(!line.starts_with('/') && !line.starts_with('.'), "{line}");
    assert_eq!(line.matches('@').count(), 1, "only the winner is mentioned: {line}");
    assert!(line.chars().count() <= 500);
}

#[tokio::test]
async fn is_sent_false_is_recorded_as_failed_with_its_drop_reason_and_429_and_5xx_are_retried() {
    let app = chat_app().start().await;
    app.connect_bot(&bot_user()).await;
    app.chat("twitchdev", "viewer", "hello");
    app.wait_for_presence("twitchdev", "the viewer", |rows| rows.len() == 1)
        .await;
    app.twitch().fail_chat_sends(&[429, 503]);
    app.draw("twitchdev").await;
    let lines = said(&app, 1).await;
    assert!(lines[0].starts_with("@viewer won Key!"));
    assert_eq!(app.twitch().chat_requests().len(), 3, "429, 503, then shown");

    app.twitch()
        .set_chat_drop(Some(("msg_duplicate", "The message is identical to the previous one")));
    app.draw("twitchdev").await;
    wait_until("the dropped line is failed", || async {
        app.database
            .count(
                "SELECT count(*) FROM outbox WHERE kind = 'twitch_chat' AND status = 'failed'
                 AND last_error LIKE '%msg_duplicate%identical%'",
            )
            .await
            == 1
    })
    .await;
    assert_eq!(app.twitch().chat_texts().len(), 1, "a dropped line is not shown");

    // A sender Twitch does not let speak there (403) fails the line at once.
    app.twitch().set_chat_drop(None);
    app.twitch().forbid_sender(&streamer().id, &bot_user().id);
    app.draw("twitchdev").await;
    wait_until("the refused line is failed", || async {
        app.database
            .count("SELECT count(*) FROM outbox WHERE kind = 'twitch_chat' AND status = 'failed'")
            .await
            == 2
    })
    .await;
    assert_eq!(app.twitch().chat_texts().len(), 1);
}

#[tokio::test]
async fn twenty_lines_per_window_hold_under_a_burst_of_wins_and_every_line_is_said_later() {
    let window = Duration::from_secs(2);
    let app = chat_app().chat_delivery(fast_chat(window)).start().await;
    app.twitch().set_chat_limit(ChatLimit {
        plain: 20,
        moderator: 100,
        window,
    });
    app.connect_bot(&bot_user()).await;
    app.chat("twitchdev", "viewer", "hello");
    app.wait_for_presence("twitchdev", "the viewer", |rows| rows.len() == 1)
        .await;
    const WINS: usize = 100;
    for _ in 0..WINS {
        app.draw("twitchdev").await;
    }
    let lines = crate::helpers::wait_for_within(Duration::from_secs(60), "every line said", || async {
        let lines = app.twitch().chat_lines();
        (lines.len() >= WINS).then_some(lines)
    })
    .await;
    assert_eq!(lines.len(), WINS);
    // No window of the stand-in's length ever held more than 20 lines, and
    // Twitch never had to refuse one.
    for (i, first) in lines.iter().enumerate() {
        let within = lines[i..]
            .iter()
            .take_while(|l| l.at.duration_since(first.at) < window)
            .count();
        assert!(within <= 20, "{within} lines within {window:?} from line {i}");
    }
    let refused = app.twitch().chat_requests().len().saturating_sub(WINS);
    assert_eq!(refused, 0, "the bot kept within the limit itself");
    let mut ids: Vec<String> = lines.iter().map(|l| l.message.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), WINS, "each win said once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_win_is_said_once_in_chat_and_on_discord_across_kill_9_during_delivery() {
    use crate::fake_discord::FakeDiscord;
    use crate::fake_irc::{FakeIrc, default_room_id, privmsg};
    use crate::fake_twitch::{CLIENT_ID, CLIENT_SECRET, FakeTwitch};
    use crate::helpers::{ALWAYS_WON, DEADLINE, TestDatabase, temp_data_dir};

    let database = std::sync::Arc::new(TestDatabase::create().await);
    let twitch = FakeTwitch::start(streamer()).await;
    // The bot account is connected once (by an app on the same database
    // and TOKEN_KEY), then only the compiled bot runs.
    let mut setup = chat_app()
        .database(database.clone())
        .twitch_stand_in(twitch.clone())
        .start()
        .await;
    setup.connect_bot(&bot_user()).await;
    setup.stop().await;
    drop(setup);

    // Twitch asks the bot to wait (429, reset in 1 s) for every line, so the
    // lines are pending, and being retried, when the process is killed.
    twitch.fail_chat_sends(&[429; 10_000]);
    let irc = FakeIrc::start().await;
    let discord = FakeDiscord::start().await;
    let dir = temp_data_dir();
    let items = dir.path().join("items.toml");
    std::fs::write(&items, ALWAYS_WON).expect("items");
    let token_key = crate::helpers::test_token_key();
    let run = || {
        crate::process::kinoyubot(dir.path())
            .env("DATABASE_URL", &database.url)
            .env("DATA_DIR", dir.path())
            .env("ITEMS_FILE", &items)
            .env("RAFFLE_INTERVAL", "1s")
            .env("ONLY_WHEN_LIVE", "false")
            .env("TWITCH_CHANNELS", "twitchdev")
            .env("TWITCH_IRC_SERVER", irc.url())
            .env("TWITCH_CLIENT_ID", CLIENT_ID)
            .env("TWITCH_CLIENT_SECRET", CLIENT_SECRET)
            .env("TWITCH_AUTH_URL", twitch.auth_url().as_str())
            .env("TWITCH_API_URL", twitch.api_url().as_str())
            .env("TOKEN_KEY", &token_key)
            .env("DISCORD_WEBHOOK_URL", discord.webhook_url().as_str())
            .spawn_run()
    };
    let bot = run().await;
    irc.wait_joined("twitchdev", 1, DEADLINE).await;
    irc.send_to_channel(
        "twitchdev",
        &privmsg("twitchdev", &default_room_id("twitchdev"), "801", "fan801", "hello"),
    );
    database
        .wait_count(
            "SELECT count(*) FROM outbox WHERE kind = 'twitch_chat' AND status = 'pending'",
            2,
            "two win lines waiting for Twitch",
        )
        .await;
    wait_until("Twitch has refused a line", || async {
        !twitch.chat_requests().is_empty()
    })
    .await;
    bot.kill_9().await;
    assert!(twitch.chat_texts().is_empty(), "nothing was shown before the kill");
    let pending = database
        .count("SELECT count(*) FROM outbox WHERE kind = 'twitch_chat' AND status = 'pending'")
        .await;

    // Twitch takes lines again; the restarted bot says every queued one.
    twitch.heal_chat();
    let bot = run().await;
    // A line the killed process had claimed waits for its lease (60 s) first.
    database
        .wait_count_within(
            Duration::from_secs(100),
            "SELECT count(*) FROM outbox WHERE kind = 'twitch_chat' AND status = 'sent'",
            pending,
            "the queued lines said",
        )
        .await;
    assert_eq!(bot.stop().await.code, Some(0));

    // Every line marked sent was shown exactly once, and each win once.
    let sent = database
        .count("SELECT count(*) FROM outbox WHERE kind = 'twitch_chat' AND status = 'sent'")
        .await;
    let texts = twitch.chat_texts();
    assert_eq!(i64::try_from(texts.len()).expect("count"), sent, "{texts:#?}");
    let mut said: Vec<&str> = texts
        .iter()
        .filter_map(|t| t.split("Raffle #").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    let total = said.len();
    said.sort_unstable();
    said.dedup();
    assert_eq!(said.len(), total, "a win was said twice: {texts:#?}");
    let mut posts = std::collections::HashMap::new();
    for received in discord.received() {
        if let Some(id) = received.raffle_id {
            *posts.entry(id).or_insert(0) += 1;
        }
    }
    assert!(posts.values().all(|n| *n == 1), "a raffle was posted twice: {posts:?}");
}
