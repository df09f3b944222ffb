//! `kinoyubot run` as a process at `RUST_LOG=trace`, `LOG_FORMAT=json`:
//! every line it logs is one JSON object, and no secret it was given (nor a
//! Twitch token it obtained) appears in anything it prints, while it serves
//! the dashboard, refuses a bad admin call, draws, posts to Discord and
//! connects a streamer.

use std::time::Duration;

use base64::Engine as _;

use crate::fake_discord::{self, FakeDiscord};
use crate::fake_twitch::{CLIENT_ID, CLIENT_SECRET, FakeTwitch, streamer};
use crate::helpers::{TestDatabase, Viewer, no_redirects, temp_data_dir, wait_until, walk_connect};
use crate::process::kinoyubot;

const ADMIN_TOKEN: &str = "adm1n-T0ken-never-printed-4f1c-0123456789";
const DB_PASSWORD: &str = "db-Passw0rd-never-printed-93ab";
const CHANNEL: &str = "logchannel";

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_at_trace_are_one_object_per_line_and_never_contain_secrets() {
    let mut database = TestDatabase::create().await;
    let database_url = database.owner_with_password(DB_PASSWORD).await;
    let twitch = FakeTwitch::start(streamer()).await;
    let discord = FakeDiscord::start().await;
    let token_key = base64::engine::general_purpose::STANDARD.encode(*b"token-key-32-bytes-never-printed");
    let dir = temp_data_dir();
    let items = dir.path().join("items.toml");
    std::fs::write(&items, "[[items]]\nname = \"Steam key\"\nprobability = 1.0\n").expect("items file");
    let bot = kinoyubot(dir.path())
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", "json")
        .env("DATABASE_URL", &database_url)
        .env("DATA_DIR", dir.path())
        .env("TWITCH_CHANNELS", CHANNEL)
        .env("TWITCH_CLIENT_ID", CLIENT_ID)
        .env("TWITCH_CLIENT_SECRET", CLIENT_SECRET)
        .env("TWITCH_AUTH_URL", twitch.auth_url().as_str())
        .env("TWITCH_API_URL", twitch.api_url().as_str())
        .env("DISCORD_WEBHOOK_URL", discord.webhook_url().as_str())
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("TOKEN_KEY", &token_key)
        .env("ITEMS_FILE", &items)
        .env("RAFFLE_INTERVAL", "1h")
        .spawn_run()
        .await;
    let http = no_redirects();

    // A viewer to win, and the broadcaster's id so live status asks Helix.
    let admin = database.client().await;
    wait_until("the channel row", || async {
        admin
            .execute(
                "UPDATE channels SET twitch_user_id = '6001', display_name = 'LogChannel' WHERE login = $1",
                &[&CHANNEL],
            )
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    let channel_id: i64 = admin
        .query_one("SELECT id FROM channels WHERE login = $1", &[&CHANNEL])
        .await
        .expect("channel")
        .get(0);
    database
        .add_viewer(channel_id, &Viewer::new("7001", "viewer").named("Viewer"))
        .await;

    for path in ["/", "/api/status", "/api/raffles", "/metrics", "/static/dashboard.js"] {
        let response = http.get(bot.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
    }
    let refused = http
        .post(bot.url(&format!("/api/channels/{CHANNEL}/draw")))
        .bearer_auth(format!("{ADMIN_TOKEN}-wrong"))
        .send()
        .await
        .expect("bad admin call");
    assert_eq!(refused.status(), 401);
    // The stand-in's stream is offline: the admin forces the draw (SPEC §16).
    let drawn = http
        .post(bot.url(&format!("/api/channels/{CHANNEL}/draw?force=true")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("draw");
    assert_eq!(drawn.status(), 200);
    let raffle: serde_json::Value = drawn.json().await.expect("raffle json");
    assert_eq!(raffle["outcome"], "won", "{raffle}");
    discord.wait_for(1, Duration::from_secs(30)).await;

    // Connect a streamer: code exchange (client secret), tokens encrypted (TOKEN_KEY).
    assert_eq!(walk_connect(&bot.url("")).await.done.status, 303);
    assert!(!twitch.issued_tokens().is_empty(), "Twitch issued tokens");

    let exited = bot
        .stop_with(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(30))
        .await;
    assert_eq!(exited.code, Some(0));
    let (stdout, stderr) = (exited.stdout, exited.stderr);

    // One JSON object per line, and the raffle's span names its channel.
    let mut lines = 0;
    let mut round_logged = false;
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value.is_object(), "not an object: {line}");
        lines += 1;
        if value["message"] == "raffle recorded" {
            assert_eq!(value["span"]["channel"], CHANNEL, "{line}");
            round_logged = true;
        }
    }
    assert!(lines > 100, "trace logging produced only {lines} lines");
    assert!(round_logged, "no 'raffle recorded' line");

    let mut secrets = vec![
        ("TWITCH_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        (
            "the webhook token in DISCORD_WEBHOOK_URL",
            fake_discord::TOKEN.to_owned(),
        ),
        ("TOKEN_KEY", token_key.clone()),
        ("the password in DATABASE_URL", DB_PASSWORD.to_owned()),
    ];
    secrets.extend(twitch.issued_tokens().into_iter().map(|t| ("a Twitch token", t)));
    for (name, secret) in &secrets {
        // The message names the secret without repeating it.
        assert!(!stderr.contains(secret.as_str()), "{name} reached stderr");
        assert!(!stdout.contains(secret.as_str()), "{name} reached stdout");
    }
}
