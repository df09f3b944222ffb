//! Claims and redraws (issue 15 item 4): a win with a claim window is
//! claimed by any chat message from the winner before the deadline;
//! otherwise it expires and is redrawn verifiably, and the stock returns
//! after the last allowed redraw. Deadlines live in the database.

use std::time::Duration;

use serde_json::Value;

use crate::chat::{bot_user, chat_app, said};
use crate::helpers::{TestApp, wait_for_within};

/// One prize, three in stock.
const STOCKED: &str = "[[items]]\nname = \"Key\"\nprobability = 1.0\nstock = 3\n";

async fn raffle(app: &TestApp, id: i64) -> Value {
    app.get_raffles_of("twitchdev")
        .await
        .into_iter()
        .find(|r| r["id"].as_i64() == Some(id))
        .unwrap_or_else(|| panic!("raffle {id} listed"))
}

async fn stock(app: &TestApp) -> i32 {
    app.database
        .client()
        .await
        .query_one("SELECT stock FROM items WHERE name = 'Key'", &[])
        .await
        .expect("item")
        .get::<_, Option<i32>>(0)
        .expect("stocked")
}

#[tokio::test]
async fn a_winner_who_chats_before_the_deadline_claims_the_prize() {
    let app = chat_app().items(STOCKED).setting("CLAIM_WINDOW", "30s").start().await;
    app.connect_bot(&bot_user()).await;
    app.chat("twitchdev", "viewer", "hello");
    app.wait_for_presence("twitchdev", "the viewer", |rows| rows.len() == 1)
        .await;
    let won = app.draw("twitchdev").await;
    let id = won["id"].as_i64().expect("id");
    assert_eq!(won["claim"]["status"], "pending");
    assert!(won["claim"]["deadline"].is_string());
    let lines = said(&app, 1).await;
    assert!(lines[0].contains("within 30 s to claim it"), "{}", lines[0]);
    app.chat("twitchdev", "viewer", "!claim");
    let lines = said(&app, 2).await;
    assert_eq!(lines[1], format!("@viewer claimed Key (raffle #{id}). Enjoy!"));
    assert_eq!(raffle(&app, id).await["claim"]["status"], "claimed");
    assert_eq!(stock(&app).await, 2, "the claimed unit stays taken");
    wait_for_within(Duration::from_secs(10), "the claim on Discord", || async {
        (app.discord.received().len() >= 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_unclaimed_win_is_redrawn_verifiably_and_the_stock_returns_after_the_last_redraw() {
    let app = chat_app()
        .items(STOCKED)
        .setting("CLAIM_WINDOW", "1s")
        .setting("CLAIM_REDRAWS", "2")
        .start()
        .await;
    app.connect_bot(&bot_user()).await;
    for viewer in ["alice", "bob", "carol", "dave"] {
        app.chat("twitchdev", viewer, "hello");
    }
    app.wait_for_presence("twitchdev", "four viewers", |rows| rows.len() == 4)
        .await;
    let first = app.draw("twitchdev").await;
    let first_id = first["id"].as_i64().expect("id");
    assert_eq!(stock(&app).await, 2, "taken at the first win");
    // Nobody chats: the win and both redraws expire.
    let chain = wait_for_within(Duration::from_secs(40), "two redraws, all expired", || async {
        let raffles = app.get_raffles_of("twitchdev").await;
        let redraws: Vec<Value> = raffles.into_iter().filter(|r| r["trigger"] == "redraw").collect();
        (redraws.len() == 2 && redraws.iter().all(|r| r["claim"]["status"] == "expired")).then_some(redraws)
    })
    .await;
    let mut winners = vec![first["winner"]["user_id"].clone()];
    let (second, third) = if chain[0]["redraw_of"] == first_id {
        (&chain[0], &chain[1])
    } else {
        (&chain[1], &chain[0])
    };
    assert_eq!(second["redraw_of"], first_id);
    assert_eq!(third["redraw_of"], second["id"]);
    assert_eq!(second["candidates"], 3, "the first winner left out");
    assert_eq!(third["candidates"], 2, "both expired winners left out");
    winners.push(second["winner"]["user_id"].clone());
    winners.push(third["winner"]["user_id"].clone());
    let mut distinct = winners.clone();
    distinct.dedup();
    distinct.sort_by_key(|v| v.to_string());
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "an expired winner is never redrawn: {winners:?}");
    wait_for_within(Duration::from_secs(20), "the stock back", || async {
        (stock(&app).await == 3).then_some(())
    })
    .await;
    assert_eq!(raffle(&app, first_id).await["claim"]["status"], "expired");
    // Both redraws verify, including their snapshots against the parents'.
    for redraw in [second, third] {
        let id = redraw["id"].as_i64().expect("id");
        let dir = tempfile::tempdir().expect("tempdir");
        let output = crate::process::kinoyubot(dir.path())
            .args(["verify", &id.to_string()])
            .env("DATABASE_URL", &app.database.url)
            .output()
            .await;
        assert_eq!(output.code, Some(0), "{}{}", output.stdout, output.stderr);
        assert!(output.stdout.starts_with("verified\n"), "{}", output.stdout);
    }
    let lines = app.twitch().chat_texts();
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("Redraw of #{first_id}:"))),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("goes back to the prize pool")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_restart_inside_a_claim_window_neither_loses_nor_doubles_the_redraw() {
    let database = std::sync::Arc::new(crate::helpers::TestDatabase::create().await);
    let twitch = crate::fake_twitch::FakeTwitch::start(crate::fake_twitch::streamer()).await;
    let builder = || {
        chat_app()
            .items(STOCKED)
            .database(database.clone())
            .twitch_stand_in(twitch.clone())
            .setting("CLAIM_WINDOW", "2s")
            .setting("CLAIM_REDRAWS", "1")
    };
    let mut app = builder().start().await;
    app.connect_bot(&bot_user()).await;
    for viewer in ["alice", "bob"] {
        app.chat("twitchdev", viewer, "hello");
    }
    app.wait_for_presence("twitchdev", "two viewers", |rows| rows.len() == 2)
        .await;
    let first = app.draw("twitchdev").await;
    let first_id = first["id"].as_i64().expect("id");
    app.stop().await;
    // Two instances come back after the deadline passed while none ran.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let one = builder().start().await;
    let two = builder().start().await;
    wait_for_within(Duration::from_secs(20), "the redraw", || async {
        let redraws: Vec<Value> = one
            .get_raffles_of("twitchdev")
            .await
            .into_iter()
            .filter(|r| r["redraw_of"] == first_id)
            .collect();
        (!redraws.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        database
            .count(&format!("SELECT count(*) FROM raffles WHERE redraw_of = {first_id}"))
            .await,
        1,
        "redrawn exactly once"
    );
    drop(two);
}
