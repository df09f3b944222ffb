//! Dashboard sign-in (issue 16 item 1, SPEC §13): Connect signs the
//! streamer in; state changes from the browser need the session, the CSRF
//! token and the right `Origin`; a broadcaster manages only their channel.

use serde_json::{Value, json};

use crate::fake_twitch::{User, streamer};
use crate::helpers::{ADMIN_TOKEN, Reply, TestApp, no_redirects};

/// A browser signed in through Connect: its session cookie and CSRF token.
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

/// Walks Connect for the stand-in's consenting user and returns the
/// session the callback set.
pub async fn sign_in(app: &TestApp) -> Browser {
    let (authorize, state_cookie) = app.start_connect().await;
    let callback = app.consent(&authorize).await;
    let reply = app.callback(&callback, Some(&state_cookie)).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let set_cookie: Vec<&str> = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("kyb_session="))
        .unwrap_or_else(|| panic!("no session cookie in {set_cookie:?}"));
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(session.contains(attribute), "{attribute} in {session}");
    }
    assert!(!session.contains("Secure"), "plain http: {session}");
    let cookie = session.split(';').next().expect("pair").to_owned();
    let me = Reply::to(no_redirects().get(app.url("/api/session")).header("cookie", &cookie)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let csrf = me.json()["csrf_token"].as_str().expect("csrf token").to_owned();
    Browser { cookie, csrf }
}

/// A request from `browser` (cookie, CSRF token, our own Origin), with
/// parts left out on demand.
pub async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    browser: &Browser,
    body: Option<Value>,
    origin: Option<&str>,
    csrf: bool,
) -> Reply {
    let mut request = no_redirects()
        .request(method, app.url(path))
        .header("cookie", &browser.cookie);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if csrf {
        request = request.header("x-csrf-token", &browser.csrf);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::to(request).await
}

#[tokio::test]
async fn a_signed_in_streamer_runs_their_own_channel_and_only_theirs() {
    let app = TestApp::builder()
        .twitch(streamer())
        .served_public_url()
        .setting("CONNECT_POLICY", "anyone")
        .setting("ONLY_WHEN_LIVE", "false")
        .start()
        .await;
    let origin = app.address.clone();
    let own = "/api/channels/twitchdev/settings";

    // Signed out: the session endpoint and the controls refuse.
    assert_eq!(app.get("/api/session").await.status, 401);
    assert_eq!(app.get(own).await.status, 401);

    let streamer_browser = sign_in(&app).await;
    let me = Reply::to(
        no_redirects()
            .get(app.url("/api/session"))
            .header("cookie", &streamer_browser.cookie),
    )
    .await
    .json();
    assert_eq!(me["login"], "twitchdev");
    assert_eq!(me["channels"], json!(["twitchdev"]));

    let get = send(&app, reqwest::Method::GET, own, &streamer_browser, None, None, false).await;
    assert_eq!(get.status, 200, "a GET needs only the session: {}", get.body);
    let change = json!({"subscriber_luck": 4});
    let put = send(
        &app,
        reqwest::Method::PUT,
        own,
        &streamer_browser,
        Some(change.clone()),
        Some(&origin),
        true,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["settings"]["subscriber_luck"]["value"], 4);

    // A state change from another origin, without an Origin, or without
    // the CSRF token is refused, and changes nothing.
    for (what, origin_sent, csrf) in [
        ("cross-origin", Some("http://evil.example"), true),
        ("no origin", None, true),
        ("no CSRF token", Some(origin.as_str()), false),
    ] {
        let refused = send(
            &app,
            reqwest::Method::PUT,
            own,
            &streamer_browser,
            Some(json!({"subscriber_luck": 9})),
            origin_sent,
            csrf,
        )
        .await;
        assert_eq!(refused.status, 403, "{what}: {}", refused.body);
        let pause = send(
            &app,
            reqwest::Method::POST,
            "/api/channels/twitchdev/pause",
            &streamer_browser,
            None,
            origin_sent,
            csrf,
        )
        .await;
        assert_eq!(pause.status, 403, "{what}: {}", pause.body);
    }
    let settings = send(&app, reqwest::Method::GET, own, &streamer_browser, None, None, false).await;
    assert_eq!(
        settings.json()["settings"]["subscriber_luck"]["value"],
        4,
        "nothing changed"
    );
    assert_eq!(app.channel_status("twitchdev").await["paused"], false);

    // Pause, resume and draw through the session.
    for (action, paused) in [("pause", true), ("resume", false)] {
        let reply = send(
            &app,
            reqwest::Method::POST,
            &format!("/api/channels/twitchdev/{action}"),
            &streamer_browser,
            None,
            Some(&origin),
            true,
        )
        .await;
        assert_eq!(reply.status, 200, "{action}: {}", reply.body);
        assert_eq!(reply.json()["paused"], paused);
    }
    let draw_path = "/api/channels/twitchdev/draw";
    let drawn = send(
        &app,
        reqwest::Method::POST,
        draw_path,
        &streamer_browser,
        None,
        Some(&origin),
        true,
    )
    .await;
    assert_eq!(drawn.status, 200, "{}", drawn.body);
    assert_eq!(drawn.json()["trigger"], "manual");
    let again = send(
        &app,
        reqwest::Method::POST,
        draw_path,
        &streamer_browser,
        None,
        Some(&origin),
        true,
    )
    .await;
    assert_eq!(again.status, 429, "one draw per 10 s from a session: {}", again.body);
    assert!(again.headers.contains_key("retry-after"));
    let forced = send(
        &app,
        reqwest::Method::POST,
        "/api/channels/twitchdev/draw?force=true",
        &streamer_browser,
        None,
        Some(&origin),
        true,
    )
    .await;
    assert_eq!(forced.status, 403, "force is the admin's: {}", forced.body);
    // The admin is not rate limited.
    for _ in 0..2 {
        assert_eq!(app.draw("twitchdev").await["trigger"], "manual");
    }

    // A second broadcaster signs in and cannot touch the first's channel.
    app.twitch()
        .set_consenting(User::new("222", "otherstreamer", "OtherStreamer"));
    let other_browser = sign_in(&app).await;
    for (method, path, body) in [
        (reqwest::Method::GET, own, None),
        (reqwest::Method::PUT, own, Some(json!({"subscriber_luck": 1}))),
        (reqwest::Method::POST, "/api/channels/twitchdev/pause", None),
        (reqwest::Method::POST, draw_path, None),
    ] {
        let refused = send(&app, method.clone(), path, &other_browser, body, Some(&origin), true).await;
        assert_eq!(refused.status, 403, "{method} {path}: {}", refused.body);
        assert!(
            refused.json()["error"]
                .as_str()
                .unwrap_or_default()
                .contains("otherstreamer")
        );
    }
    let theirs = send(
        &app,
        reqwest::Method::GET,
        "/api/channels/otherstreamer/settings",
        &other_browser,
        None,
        None,
        false,
    )
    .await;
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    // The admin token manages every channel.
    let admin = app
        .send(reqwest::Method::GET, own, Some(&format!("Bearer {ADMIN_TOKEN}")))
        .await;
    assert_eq!(admin.status, 200);

    // Signing out: refused without the CSRF token, then done; the cookie
    // is cleared and the session no longer works.
    let no_csrf = send(
        &app,
        reqwest::Method::POST,
        "/auth/logout",
        &streamer_browser,
        None,
        Some(&origin),
        false,
    )
    .await;
    assert_eq!(no_csrf.status, 403);
    let out = send(
        &app,
        reqwest::Method::POST,
        "/auth/logout",
        &streamer_browser,
        None,
        Some(&origin),
        true,
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.body);
    assert!(
        out.header("set-cookie").starts_with("kyb_session=;"),
        "{}",
        out.header("set-cookie")
    );
    let after = send(&app, reqwest::Method::GET, own, &streamer_browser, None, None, false).await;
    assert_eq!(after.status, 401);
    let stored = app
        .database
        .count("SELECT count(*) FROM sessions s JOIN channels c ON c.id = s.channel_id WHERE c.login = 'twitchdev'")
        .await;
    assert_eq!(stored, 0, "the session row is gone");

    // Signing in again: Twitch is asked without forcing the consent page,
    // and the stored grant stays valid.
    app.twitch().set_consenting(streamer());
    let (authorize, _) = app.start_connect().await;
    assert!(
        !authorize.query_pairs().any(|(name, _)| name == "force_verify"),
        "{authorize}"
    );
    let back = sign_in(&app).await;
    let works = send(&app, reqwest::Method::GET, own, &back, None, None, false).await;
    assert_eq!(works.status, 200);
    assert!(app.twitch().has_valid_tokens_of("141981764"));
    let hashed = app
        .database
        .count(&format!(
            "SELECT count(*) FROM sessions WHERE token_hash = sha256(convert_to('{}', 'UTF8'))",
            back.cookie.trim_start_matches("kyb_session=")
        ))
        .await;
    assert_eq!(hashed, 1, "only the cookie's SHA-256 is stored");
}

/// A request from `browser` with all it needs and `Accept-Language`.
async fn send_in(app: &TestApp, method: reqwest::Method, path: &str, browser: &Browser, language: &str) -> Reply {
    Reply::to(
        no_redirects()
            .request(method, app.url(path))
            .header("cookie", &browser.cookie)
            .header("origin", &app.address)
            .header("x-csrf-token", &browser.csrf)
            .header("accept-language", language)
            .json(&json!({"claim_window": "soon"})),
    )
    .await
}

#[tokio::test]
async fn refusals_are_said_in_the_readers_language_and_name_the_field_first() {
    let app = TestApp::builder()
        .twitch(streamer())
        .served_public_url()
        .setting("CONNECT_POLICY", "anyone")
        .setting("LANGUAGE", "pt-BR")
        .start()
        .await;
    let browser = sign_in(&app).await;
    let own = "/api/channels/twitchdev/settings";
    let error = |reply: &Reply| reply.json()["error"].as_str().unwrap_or_default().to_owned();

    // No language asked for: the bot's LANGUAGE. Asked for: that one.
    let portuguese = send_in(&app, reqwest::Method::PUT, own, &browser, "fr").await;
    assert_eq!(portuguese.status, 400, "{}", portuguese.body);
    assert_eq!(
        error(&portuguese),
        "claim_window: duração inválida \"soon\"; use por exemplo 30s, 10m, 1h"
    );
    let english = send_in(&app, reqwest::Method::PUT, own, &browser, "en-US,en;q=0.9").await;
    assert_eq!(
        error(&english),
        "claim_window: invalid duration \"soon\"; use e.g. 30s, 10m, 1h",
        "the environment's words"
    );

    // Another broadcaster's channel, and a login that is not one.
    let other = send_in(
        &app,
        reqwest::Method::PUT,
        "/api/channels/someone/settings",
        &browser,
        "pt-BR",
    )
    .await;
    assert_eq!(other.status, 403, "{}", other.body);
    assert_eq!(
        error(&other),
        "você entrou como twitchdev: só pode gerenciar o seu próprio canal"
    );
    let bad = send_in(
        &app,
        reqwest::Method::GET,
        "/api/channels/no.pe/viewers",
        &browser,
        "pt-BR",
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(
        error(&bad),
        "canal: o login \"no.pe\" tem '.' na posição 3; só letras, dígitos e _ são permitidos"
    );

    // Refused before the handler: from another origin, and signed out.
    let cross = Reply::to(
        no_redirects()
            .put(app.url(own))
            .header("cookie", &browser.cookie)
            .header("origin", "http://evil.example")
            .header("x-csrf-token", &browser.csrf)
            .header("accept-language", "pt-BR")
            .json(&json!({"subscriber_luck": 2})),
    )
    .await;
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(
        error(&cross).starts_with("este pedido precisa vir da própria página do painel"),
        "{}",
        cross.body
    );
    let signed_out = Reply::to(no_redirects().get(app.url(own)).header("accept-language", "en")).await;
    assert_eq!(signed_out.status, 401);
    assert!(
        error(&signed_out).starts_with("sign in with Twitch"),
        "{}",
        signed_out.body
    );
    let signed_out = Reply::to(no_redirects().get(app.url(own))).await;
    assert!(
        error(&signed_out).starts_with("entre com a Twitch no painel"),
        "{}",
        signed_out.body
    );

    // The resend of a raffle that does not exist.
    let resend = send_in(
        &app,
        reqwest::Method::POST,
        "/api/raffles/999/resend",
        &browser,
        "pt-BR",
    )
    .await;
    assert_eq!(resend.status, 404, "{}", resend.body);
    assert_eq!(error(&resend), "sorteio desconhecido 999");
    assert_eq!(
        app.database.count("SELECT count(*) FROM channel_settings").await,
        0,
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn a_signed_in_streamers_page_speaks_their_channels_own_language() {
    let app = TestApp::builder()
        .twitch(streamer())
        .served_public_url()
        .setting("CONNECT_POLICY", "anyone")
        .channels(&["englishchannel"])
        .start()
        .await;
    let browser = sign_in(&app).await;
    let chosen = send(
        &app,
        reqwest::Method::PUT,
        "/api/channels/twitchdev/settings",
        &browser,
        Some(json!({"language": "pt-BR"})),
        Some(&app.address),
        true,
    )
    .await;
    assert_eq!(chosen.status, 200, "{}", chosen.body);
    let lang_of = |page: &Reply| {
        page.body
            .split("lang=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned()
    };
    let page = |path: &'static str, signed_in: bool| {
        let mut request = no_redirects().get(app.url(path));
        if signed_in {
            request = request.header("cookie", &browser.cookie);
        }
        Reply::to(request)
    };

    // Signed out, the board shows channels of two languages: LANGUAGE.
    assert_eq!(lang_of(&page("/", false).await), "en");
    // Signed in, the streamer reads their channel's language, unless they
    // chose another.
    let own = page("/", true).await;
    assert_eq!(lang_of(&own), "pt-BR");
    assert!(own.body.contains("Sala de controle"), "{}", own.body);
    assert_eq!(lang_of(&page("/?lang=en", true).await), "en");
    // The script's board requests ask in the page's language.
    let board = Reply::to(
        no_redirects()
            .get(app.url("/partials/channels"))
            .header("accept-language", "pt-BR"),
    )
    .await;
    assert_eq!(lang_of(&board), "pt-BR", "{}", board.body);
}
