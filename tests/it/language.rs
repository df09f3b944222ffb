//! `LANGUAGE` (issue 14 item 2, SPEC §10): Discord announcements through the
//! Discord stand-in and the dashboard, over HTTP and in headless Chromium,
//! in Brazilian Portuguese, and the visitor's language switch.

use std::sync::Arc;
use std::time::Duration;

use crate::cdp::{Browser, chromium};
use crate::channel_settings::{get_settings, put_settings};
use crate::fake_discord::discord_limits::check_limits;
use crate::helpers::{TestApp, TestDatabase, Viewer, no_redirects, repo_path, wait_until};
use crate::process::kinoyubot;

const CHANNEL: &str = "canal_teste";

/// An app speaking `language` on a database with [`CHANNEL`] and one
/// active viewer, after one manual draw of an item that is always won.
async fn app_with_a_win(language: &str) -> (TestApp, i64) {
    let database = Arc::new(TestDatabase::migrated().await);
    let channel_id = database.insert_channel(CHANNEL, Some("7001")).await;
    database
        .add_viewer(channel_id, &Viewer::new("9001", "espectadora").named("Espectadora"))
        .await;
    let app = TestApp::builder()
        .database(database)
        .served_public_url()
        .items("[[items]]\nname = \"Chave Steam\"\nprobability = 1.0\n")
        .setting("LANGUAGE", language)
        .setting("ONLY_WHEN_LIVE", "false")
        .setting("RAFFLE_INTERVAL", "1h")
        .start()
        .await;
    let raffle = app.draw(CHANNEL).await;
    assert_eq!(raffle["outcome"], "won", "{raffle}");
    let id = raffle["id"].as_i64().expect("raffle id");
    app.wait_for_delivery(id, "sent").await;
    (app, id)
}

fn field<'a>(body: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    body["embeds"][0]["fields"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == name)?["value"]
        .as_str()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_win_is_posted_to_discord_in_portuguese_when_language_is_pt_br() {
    let (app, id) = app_with_a_win("pt-BR").await;
    let posted = app.discord.received();
    assert_eq!(posted.len(), 1, "one post");
    let body = &posted[0].body;
    assert_eq!(
        body["embeds"][0]["title"], "🎉 Espectadora ganhou Chave Steam!",
        "{body}"
    );
    assert_eq!(
        body["embeds"][0]["description"], "Parabéns! Sorteado ao acaso entre 1 candidato.",
        "{body}"
    );
    assert_eq!(
        field(body, "Canal"),
        Some(CHANNEL.replace('_', "\\_").as_str()),
        "{body}"
    );
    assert_eq!(field(body, "Prêmio"), Some("Chave Steam"), "{body}");
    assert_eq!(field(body, "Sorteio"), Some(format!("#{id}").as_str()), "{body}");
    assert_eq!(field(body, "Raffle"), None, "no English field left: {body}");
    let footer = body["embeds"][0]["footer"]["text"].as_str().unwrap_or_default();
    assert!(footer.starts_with("resumo ") && footer.ends_with(&format!("confira com kinoyubot verify {id}")));
    assert_eq!(check_limits(body), Ok(()));
    assert_eq!(
        posted[0].raffle_id,
        Some(id),
        "the stand-in reads the raffle field in Portuguese"
    );
    assert!(app.discord.violations().is_empty(), "{:?}", app.discord.violations());
}

/// The `<html lang>` of a raffle's public page (the channel's language for
/// a visitor who chose none).
async fn page_language(app: &TestApp, raffle_id: i64) -> String {
    let page = app.get(&format!("/raffles/{raffle_id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
        .split("<html lang=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// The title of the Discord post of raffle `id`.
async fn posted_title(app: &TestApp, id: i64) -> String {
    app.wait_for_delivery(id, "sent").await;
    let posted = app.discord.received();
    let post = posted
        .iter()
        .find(|post| post.raffle_id == Some(id))
        .unwrap_or_else(|| panic!("no post of raffle {id}"));
    post.body["embeds"][0]["title"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channels_own_language_is_what_it_speaks_and_a_change_elsewhere_reaches_this_instance() {
    let database = Arc::new(TestDatabase::migrated().await);
    let brazilian = database.insert_channel(CHANNEL, Some("7001")).await;
    database
        .add_viewer(brazilian, &Viewer::new("9001", "espectadora").named("Espectadora"))
        .await;
    let other = database.insert_channel("other_channel", Some("7002")).await;
    database
        .add_viewer(other, &Viewer::new("9002", "viewer").named("Viewer"))
        .await;
    let app = TestApp::builder()
        .database(database.clone())
        .served_public_url()
        .items("[[items]]\nname = \"Chave Steam\"\nprobability = 1.0\n")
        .setting("LANGUAGE", "en")
        .setting("ONLY_WHEN_LIVE", "false")
        .setting("RAFFLE_INTERVAL", "1h")
        .start()
        .await;

    // The channel chooses Portuguese in the control room; the other keeps
    // the bot's English.
    let put = put_settings(&app, CHANNEL, &serde_json::json!({"language": "pt-BR"})).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        put.json()["settings"]["language"],
        serde_json::json!({"value": "pt-BR", "source": "channel"})
    );
    assert_eq!(
        get_settings(&app, "other_channel").await.json()["settings"]["language"],
        serde_json::json!({"value": "en", "source": "default"})
    );
    let refused = put_settings(&app, CHANNEL, &serde_json::json!({"language": "fr"})).await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json()["error"],
        "language: valor inválido \"fr\"; use en ou pt-BR",
        "the channel speaks Portuguese now, its refusals too"
    );
    let english_refusal = put_settings(&app, "other_channel", &serde_json::json!({"language": "fr"})).await;
    assert_eq!(
        english_refusal.json()["error"],
        "language: invalid value \"fr\"; use en or pt-BR",
        "the environment's words"
    );

    let portuguese = app.draw(CHANNEL).await["id"].as_i64().expect("raffle id");
    let english = app.draw("other_channel").await["id"].as_i64().expect("raffle id");
    assert_eq!(
        posted_title(&app, portuguese).await,
        "🎉 Espectadora ganhou Chave Steam!"
    );
    assert_eq!(posted_title(&app, english).await, "🎉 Viewer won Chave Steam!");
    assert_eq!(page_language(&app, portuguese).await, "pt-BR");
    assert_eq!(page_language(&app, english).await, "en");

    // Another instance stores a choice for the other channel: this one
    // speaks it within a refresh.
    database
        .client()
        .await
        .execute(
            "INSERT INTO channel_settings (channel_id, language) VALUES ($1, 'pt-BR')
             ON CONFLICT (channel_id) DO UPDATE SET language = EXCLUDED.language",
            &[&other],
        )
        .await
        .expect("another instance's change");
    wait_until("the other channel to speak Portuguese here", || async {
        page_language(&app, english).await == "pt-BR"
    })
    .await;

    // Back to the default: at once.
    let reset = put_settings(&app, CHANNEL, &serde_json::json!({"language": null})).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(page_language(&app, portuguese).await, "en");
    let again = app.draw(CHANNEL).await["id"].as_i64().expect("raffle id");
    assert_eq!(posted_title(&app, again).await, "🎉 Espectadora won Chave Steam!");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_follows_language_and_a_visitors_choice_is_remembered_in_a_cookie() {
    let (app, _) = app_with_a_win("pt-BR").await;
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html lang=\"pt-BR\">"), "{}", page.body);
    assert!(page.body.contains("Espectadores ativos"), "{}", page.body);
    assert!(page.headers.get("set-cookie").is_none(), "nothing chosen, nothing set");

    let chosen = app.get("/?lang=en").await;
    assert!(chosen.body.contains("<html lang=\"en\">"), "{}", chosen.body);
    assert!(chosen.body.contains("Active viewers"), "{}", chosen.body);
    let cookie = chosen.headers["set-cookie"].to_str().expect("ascii").to_owned();
    assert!(cookie.starts_with("kyb_lang=en;"), "{cookie}");
    assert!(cookie.contains("Path=/") && cookie.contains("SameSite=Lax"), "{cookie}");

    // The script's board requests carry the cookie: the board stays English.
    let pair = cookie.split(';').next().expect("name=value");
    let board = no_redirects()
        .get(app.url("/partials/channels"))
        .header("cookie", pair)
        .send()
        .await
        .expect("board")
        .text()
        .await
        .expect("body");
    assert!(board.contains("<div id=\"board\" lang=\"en\""), "{board}");
    assert!(board.contains("Latest winners"), "{board}");
    // Without the cookie the board is the channel's language.
    let board = app.get("/partials/channels").await.body;
    assert!(board.contains("Últimos ganhadores"), "{board}");
    // Nonsense in ?lang= is ignored, not an error.
    let nonsense = app.get("/?lang=%3Cscript%3E").await;
    assert_eq!(nonsense.status, 200);
    assert!(nonsense.body.contains("<html lang=\"pt-BR\">"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_renders_in_portuguese_in_chromium_and_switches_to_english() {
    chromium();
    let (app, _) = app_with_a_win("pt-BR").await;
    let profile = tempfile::tempdir().expect("profile dir");
    let mut browser = Browser::open(profile.path(), &format!("{}/", app.address)).await;
    let ready = "document.readyState === 'complete' && document.querySelector('time.when') !== null \
                 && document.getElementById('updated').textContent !== ''";
    browser.wait_for(ready, Duration::from_secs(20)).await;
    let text = |selector: &str| format!("document.querySelector({selector:?}).textContent");
    assert_eq!(
        browser.eval("document.documentElement.lang").await,
        Some("pt-BR".into())
    );
    assert_eq!(
        browser.eval(&text(".stats dt")).await,
        Some("Espectadores ativos".into())
    );
    assert_eq!(
        browser.eval(&text("#channels h3")).await,
        Some("Últimos ganhadores".into())
    );
    assert_eq!(browser.eval(&text(".delivery")).await, Some("Anunciado".into()));
    let updated = browser.eval(&text("#updated")).await;
    assert!(
        updated
            .as_ref()
            .and_then(|v| v.as_str())
            .is_some_and(|t| t.starts_with("Atualizado")),
        "the script writes the server's Portuguese words: {updated:?}"
    );
    // The script writes dates with Intl in the page's language, not the
    // browser's: the same instant as Intl formats it for pt-BR.
    let expected = browser
        .eval(
            "(() => { const d = new Date(document.querySelector('time.when').getAttribute('datetime')); \
             return 'hoje ' + d.toLocaleTimeString(['pt-BR'], {hour: '2-digit', minute: '2-digit'}); })()",
        )
        .await;
    assert_eq!(browser.eval(&text("time.when")).await, expected);
    assert_eq!(
        browser
            .eval(
                "(() => { const n = document.querySelector('time.when'); \
                 const d = new Date(n.getAttribute('datetime')); \
                 return n.title === d.toLocaleString(['pt-BR']) && n.title !== d.toLocaleString(['en-US']); })()",
            )
            .await,
        Some(true.into()),
        "the full date is in the pt-BR format (day/month/year, 24 h), not the browser's"
    );

    // The switch: a real click on "English".
    browser.click("#language a[hreflang=\"en\"]").await;
    browser
        .wait_for(
            "document.documentElement.lang === 'en' && document.readyState === 'complete'",
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(browser.eval(&text(".stats dt")).await, Some("Active viewers".into()));
    // Remembered: the next visit, without ?lang=, is English, and so is
    // every board the script swaps in.
    browser
        .call("Page.navigate", serde_json::json!({"url": format!("{}/", app.address)}))
        .await
        .expect("navigate");
    browser
        .wait_for(
            "location.search === '' && document.documentElement.lang === 'en' \
             && document.readyState === 'complete'",
            Duration::from_secs(20),
        )
        .await;
    browser
        .eval("document.getElementById('board').dataset.seen = 'yes'")
        .await;
    browser
        .wait_for(
            "document.getElementById('board').dataset.seen === undefined \
             && document.getElementById('board').lang === 'en' \
             && document.querySelector('#channels h3').textContent === 'Latest winners'",
            Duration::from_secs(20),
        )
        .await;
}

#[tokio::test]
async fn check_items_accepts_the_portuguese_example_prize_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .arg("check-items")
        .arg(repo_path("items.pt-BR.toml"))
        .output()
        .await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert!(output.stdout.contains("Chave Steam"), "{}", output.stdout);
    assert!(output.stdout.contains("Pacote de figurinhas"), "{}", output.stdout);
}

/// The setting names of an example `.env`, in order.
fn names(file: &str) -> Vec<String> {
    std::fs::read_to_string(repo_path(file))
        .expect("example file")
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains('='))
        .filter_map(|line| line.split('=').next().map(str::to_owned))
        .collect()
}

#[test]
fn the_portuguese_example_env_has_exactly_the_settings_of_the_english_one() {
    let english = names(".env.example");
    assert!(english.contains(&"LANGUAGE".to_owned()), "{english:?}");
    assert_eq!(names(".env.example.pt-BR"), english);
    let portuguese = std::fs::read_to_string(repo_path(".env.example.pt-BR")).expect("file");
    assert!(
        portuguese.contains("\nLANGUAGE=pt-BR\n"),
        "the Portuguese example speaks Portuguese"
    );
}

#[tokio::test]
async fn prize_list_errors_and_their_hints_are_given_in_the_configured_language() {
    let dir = tempfile::tempdir().expect("tempdir");
    let items = dir.path().join("items.toml");
    std::fs::write(&items, "[[items]]\nname = \"Chave\"\nprobability = 5\n").expect("write");
    let portuguese = kinoyubot(dir.path())
        .env("LANGUAGE", "pt-BR")
        .arg("check-items")
        .output()
        .await;
    assert_eq!(portuguese.code, Some(2), "{}", portuguese.stderr);
    assert!(
        portuguese
            .stderr
            .contains("item 1 \"Chave\" (linha 1): probabilidade 5.0 não está em (0, 1]; escreva 0.05 para 5 %"),
        "{}",
        portuguese.stderr
    );
    let english = kinoyubot(dir.path()).arg("check-items").output().await;
    assert_eq!(english.code, Some(2));
    assert!(english.stderr.contains("write 0.05 for 5 %"), "{}", english.stderr);
    // `run` refuses it the same way, before starting anything.
    std::fs::write(&items, "[[items]]\nname = \"Chave\"\nprobability = 0,05\n").expect("write");
    let run = kinoyubot(dir.path())
        .env("LANGUAGE", "pt-BR")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .arg("run")
        .output()
        .await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("use ponto: 0.05"), "{}", run.stderr);
}

#[tokio::test]
async fn check_items_prints_its_table_in_portuguese_under_language_pt_br() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .env("LANGUAGE", "pt-BR")
        .arg("check-items")
        .arg(repo_path("items.pt-BR.toml"))
        .output()
        .await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let out = &output.stdout;
    for word in [
        "válido",
        "prêmio",
        "chance",
        "estoque",
        "ilimitado",
        "sem prêmio",
        "soma",
    ] {
        assert!(out.contains(word), "{word:?} missing from {out}");
    }
    assert!(out.contains("5,00%"), "decimal comma: {out}");
    assert!(!out.contains("unlimited") && !out.contains("no prize"), "{out}");
}
