//! The public page of one raffle and its snapshot (SPEC §13), `HEAD`
//! wherever `GET` is answered, and the favicon.

use kinoyubot::raffle::draw::{Candidate, CandidateSnapshot, DrawItem, DrawOutcome, Seed, draw};
use serde_json::Value;

use crate::helpers::{Reply, TestApp, Viewer};

const HOSTILE: &str = "<img src=x onerror=alert(1)>@everyone";

/// An app with one won raffle in `chan` whose winner has a hostile display
/// name and a pending claim; returns the raffle's JSON.
async fn app_with_a_win() -> (TestApp, Value) {
    let app = TestApp::builder()
        .setting("ONLY_WHEN_LIVE", "false")
        .setting("CLAIM_WINDOW", "10m")
        .start()
        .await;
    let channel = app.database.insert_channel("chan", Some("b-chan")).await;
    app.database
        .add_viewer(channel, &Viewer::new("10", "viewer").named(HOSTILE))
        .await;
    app.database.add_viewer(channel, &Viewer::new("11", "other")).await;
    let won = app.draw("chan").await;
    assert_eq!(won["outcome"], "won", "{won}");
    (app, won)
}

#[tokio::test]
async fn the_raffle_page_shows_the_result_escaped_and_how_to_verify() {
    let (app, won) = app_with_a_win().await;
    let id = won["id"].as_i64().expect("id");
    let snapshot = app.get_json(&format!("/api/raffles/{id}/snapshot")).await;
    let page = app.get(&format!("/raffles/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.header("content-type").starts_with("text/html"));
    let body = &page.body;
    assert!(body.contains("<html lang=\"en\">"), "{body}");
    assert!(body.contains(&format!("Raffle #{id}")), "{body}");
    assert!(body.contains("<dd class=\"prize\">Key</dd>"), "{body}");
    let winner = won["winner"]["display_name"].as_str().expect("winner");
    let escaped = winner.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    assert!(body.contains(&escaped), "{body}");
    assert!(!body.contains("<img"), "the name is escaped: {body}");
    assert!(!body.contains(&format!("@{winner}")), "never a ping: {body}");
    assert!(body.contains("2 viewers"), "{body}");
    assert!(body.contains(won["digest"].as_str().expect("digest")), "{body}");
    assert!(body.contains(snapshot["seed"].as_str().expect("seed")), "{body}");
    assert!(body.contains("Waiting for the winner to chat before"), "{body}");
    assert!(body.contains(&format!("<code>kinoyubot verify {id}</code>")), "{body}");
    assert!(
        body.contains(&format!("href=\"../api/raffles/{id}/snapshot\"")),
        "{body}"
    );
    assert!(body.contains("rel=\"icon\""), "{body}");
    assert!(!body.contains("style=") && !body.contains("<script"), "{body}");

    let portuguese = app.get(&format!("/raffles/{id}?lang=pt-BR")).await;
    assert_eq!(portuguese.status, 200);
    assert!(portuguese.body.contains("<html lang=\"pt-BR\">"), "{}", portuguese.body);
    assert!(
        portuguese.body.contains(&format!("Sorteio #{id}")),
        "{}",
        portuguese.body
    );
    assert!(portuguese.body.contains("Como verificar"), "{}", portuguese.body);
    let browser = Reply::to(
        reqwest::Client::new()
            .get(app.url(&format!("/raffles/{id}")))
            .header("accept-language", "pt-BR,pt;q=0.9,en;q=0.8"),
    )
    .await;
    assert!(
        browser.body.contains("Como verificar"),
        "Accept-Language: {}",
        browser.body
    );

    for missing in ["/raffles/999999", "/raffles/nope"] {
        let page = app.get(missing).await;
        assert_eq!(page.status, 404, "{missing}");
        assert!(page.body.contains("Raffle not found"), "{}", page.body);
    }
    let missing = app.get("/raffles/999999?lang=pt-BR").await;
    assert!(missing.body.contains("Sorteio não encontrado"), "{}", missing.body);
    assert_eq!(app.get("/api/raffles/999999/snapshot").await.status, 404);

    // The Discord announcement links here.
    let posted = app.discord.wait_for(1, crate::helpers::DEADLINE).await;
    let link = posted[0].body["embeds"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(link.ends_with(&format!("/raffles/{id}")), "{:?}", posted[0].body);
}

#[tokio::test]
async fn the_snapshot_alone_replays_the_draw() {
    let (app, won) = app_with_a_win().await;
    let id = won["id"].as_i64().expect("id");
    let snapshot = app.get_json(&format!("/api/raffles/{id}/snapshot")).await;
    assert_eq!(snapshot["raffle_id"], id);
    assert_eq!(snapshot["digest"], won["digest"]);
    let seed: [u8; 32] = hex::decode(snapshot["seed"].as_str().expect("seed"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let candidates: Vec<Candidate> = serde_json::from_value(snapshot["candidates"].clone()).expect("candidates");
    assert_eq!(candidates.len(), 2);
    let candidates = CandidateSnapshot::new(candidates).expect("snapshot");
    assert_eq!(
        Value::from(candidates.digest_hex()),
        snapshot["digest"],
        "the digest is recomputed"
    );
    let items: Vec<DrawItem> = serde_json::from_value(snapshot["items"].clone()).expect("items");
    match draw(&Seed::new(seed), &candidates, &items) {
        DrawOutcome::Won {
            winner_user_id,
            item_name,
            ..
        } => {
            assert_eq!(Value::from(winner_user_id.as_str()), won["winner"]["user_id"]);
            assert_eq!(Value::from(winner_user_id), snapshot["winner_user_id"]);
            assert_eq!(Value::from(item_name), won["item"]);
        }
        other => panic!("replay gives {other:?}"),
    }
}

#[tokio::test]
async fn head_answers_wherever_get_does_with_the_same_headers_and_no_body() {
    let (app, won) = app_with_a_win().await;
    let id = won["id"].as_i64().expect("id");
    let client = reqwest::Client::new();
    for path in [
        "/".to_owned(),
        "/healthz".to_owned(),
        "/api/status".to_owned(),
        format!("/raffles/{id}"),
        format!("/api/raffles/{id}/snapshot"),
        "/favicon.ico".to_owned(),
    ] {
        let get = Reply::to(client.get(app.url(&path))).await;
        let head = Reply::to(client.head(app.url(&path))).await;
        assert_eq!(get.status, 200, "GET {path}: {}", get.body);
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body: {}", head.body);
        assert!(!get.body.is_empty(), "GET {path}");
        assert_eq!(head.header("content-type"), get.header("content-type"), "HEAD {path}");
        assert_eq!(
            head.headers.get("content-security-policy"),
            get.headers.get("content-security-policy"),
            "HEAD {path}"
        );
    }
    assert_eq!(
        Reply::to(client.head(app.url("/no/such/page"))).await.status,
        404,
        "HEAD of nothing"
    );
}

#[tokio::test]
async fn the_favicon_is_an_svg_cached_for_a_day() {
    let app = TestApp::builder().start().await;
    for path in ["/favicon.ico", "/static/favicon.svg"] {
        let icon = app.get(path).await;
        assert_eq!(icon.status, 200, "{path}");
        assert_eq!(icon.header("content-type"), "image/svg+xml", "{path}");
        assert!(icon.header("cache-control").contains("max-age=86400"), "{path}");
        assert!(icon.body.starts_with("<svg"), "{path}: {}", icon.body);
    }
    let dashboard = app.get("/").await;
    assert!(
        dashboard
            .body
            .contains("<link rel=\"icon\" href=\"static/favicon.svg\" type=\"image/svg+xml\">"),
        "{}",
        dashboard.body
    );
}

#[tokio::test]
async fn the_raffle_page_fits_a_390_pixel_phone() {
    let (app, won) = app_with_a_win().await;
    let id = won["id"].as_i64().expect("id");
    let profile = tempfile::tempdir().expect("profile dir");
    let mut browser = crate::cdp::Browser::open(profile.path(), &app.url(&format!("/raffles/{id}"))).await;
    browser
        .call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
        )
        .await
        .expect("phone metrics");
    browser
        .call("Page.reload", serde_json::json!({}))
        .await
        .expect("reload");
    browser
        .wait_for(
            "document.readyState === 'complete' && document.querySelector('.facts') !== null \
             && getComputedStyle(document.querySelector('.facts')).display === 'grid'",
            std::time::Duration::from_secs(20),
        )
        .await;
    let width = browser
        .eval("[window.innerWidth, document.documentElement.scrollWidth]")
        .await
        .expect("widths");
    assert_eq!(width[0], 390, "{width}");
    assert!(
        width[1].as_i64().unwrap_or(i64::MAX) <= 390,
        "no sideways scrolling: {width}"
    );
    let landmarks = browser
        .eval("[document.documentElement.lang, !!document.querySelector('main'), !!document.querySelector('header'), document.querySelectorAll('h1, h2').length]")
        .await
        .expect("landmarks");
    assert_eq!(landmarks, serde_json::json!(["en", true, true, 3]), "{landmarks}");
}
