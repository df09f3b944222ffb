//! Connecting a streamer (SPEC §7): the OAuth flow walked without a browser
//! against the Twitch stand-in, each way it can fail, tokens at rest, and
//! the admin disconnect. Helpers here are shared with `oauth_tokens` and
//! `oauth_helix`.

use std::sync::Arc;
use std::time::Duration;

use kinoyubot::app::App;
use kinoyubot::channel::ChannelLogin;
use kinoyubot::channel::ChannelSet;
use kinoyubot::config::{Settings, SettingsArgs, TokenKey};
use kinoyubot::secret::{Secret, SecretString};
use kinoyubot::store::Store;
use kinoyubot::twitch::auth::TwitchAuth;
use kinoyubot::twitch::auth::token_cipher::{TokenCipher, TokenKind};
use kinoyubot::twitch::helix::HelixClient;
use kinoyubot::web::oauth::{STATE_COOKIE, TwitchConnect};
use kinoyubot::web::routes::{WebState, routes};
use tokio_util::sync::CancellationToken;
use warp::hyper::body::Bytes;

use crate::fake_twitch::{CLIENT_ID, CLIENT_SECRET, FakeTwitch, User};
use crate::helpers::{TestDatabase, free_port, temp_data_dir};

pub const ADMIN_TOKEN: &str = "admin-token-for-tests";
pub const REDIRECT_URL: &str = "http://localhost:8080/auth/callback";

pub fn streamer() -> User {
    User::new("141981764", "twitchdev", "TwitchDev")
}

pub fn login(s: &str) -> ChannelLogin {
    ChannelLogin::parse(s).expect("valid login")
}

pub fn key(byte: u8) -> TokenKey {
    Secret::new([byte; 32])
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A migrated database, the stand-in and the web state wired to both.
pub struct OAuthSetup {
    pub database: TestDatabase,
    pub store: Store,
    pub fake: FakeTwitch,
    pub auth: TwitchAuth,
    pub cipher: TokenCipher,
    pub state: WebState,
}

impl OAuthSetup {
    pub async fn new() -> Self {
        let (database, store) = TestDatabase::migrated().await;
        let fake = FakeTwitch::start(streamer()).await;
        let auth = TwitchAuth::new(
            CLIENT_ID,
            &SecretString::new(CLIENT_SECRET.into()),
            &fake.auth_url(),
            REDIRECT_URL,
        )
        .expect("auth client");
        let cipher = TokenCipher::new(&key(7));
        let state = WebState {
            store: store.clone(),
            channels: ChannelSet::new([login("configured")]),
            configured_channels: Arc::from(vec![login("configured")]),
            admin_token: Some(SecretString::new(ADMIN_TOKEN.into())),
            twitch: Some(TwitchConnect {
                auth: auth.clone(),
                cipher: cipher.clone(),
                helix: Arc::new(HelixClient::new(auth.clone(), fake.api_url())),
                public_url: url::Url::parse("http://localhost:8080").expect("url"),
            }),
            ..WebState::new(store.clone())
        };
        Self {
            database,
            store,
            fake,
            auth,
            cipher,
            state,
        }
    }

    /// `GET /auth/twitch`: the authorize URL and the state cookie's value.
    pub async fn start(&self) -> (url::Url, String) {
        let response = warp::test::request()
            .path("/auth/twitch")
            .reply(&routes(self.state.clone()))
            .await;
        assert_eq!(response.status(), 302, "{:?}", response.body());
        let location = response.headers()["location"].to_str().expect("ascii");
        let cookie = response.headers()["set-cookie"].to_str().expect("ascii").to_owned();
        let value = cookie
            .strip_prefix(&format!("{STATE_COOKIE}="))
            .and_then(|rest| rest.split(';').next())
            .expect("state cookie")
            .to_owned();
        (url::Url::parse(location).expect("authorize URL"), value)
    }

    /// Follows the authorize URL at the stand-in; returns the callback's path and query.
    pub async fn consent(&self, authorize: &url::Url) -> String {
        let response = no_redirects().get(authorize.clone()).send().await.expect("authorize");
        assert_eq!(response.status(), 302);
        let location = response.headers()["location"].to_str().expect("ascii");
        let url = url::Url::parse(location).expect("callback URL");
        assert_eq!(url.as_str().split('?').next(), Some(REDIRECT_URL));
        format!("{}?{}", url.path(), url.query().unwrap_or_default())
    }

    /// `GET` a callback path (with the state cookie when given).
    pub async fn callback(&self, path_and_query: &str, cookie: Option<&str>) -> warp::http::Response<Bytes> {
        let mut request = warp::test::request().path(path_and_query);
        if let Some(value) = cookie {
            request = request.header("cookie", format!("{STATE_COOKIE}={value}"));
        }
        request.reply(&routes(self.state.clone())).await
    }

    /// The whole flow; asserts it ends on the dashboard.
    pub async fn connect(&self) {
        let (authorize, cookie) = self.start().await;
        let callback = self.consent(&authorize).await;
        let response = self.callback(&callback, Some(&cookie)).await;
        assert_eq!(response.status(), 303, "{:?}", response.body());
        assert_eq!(response.headers()["location"], "/");
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.database
            .client()
            .await
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("count")
            .get(0)
    }

    /// The stored tokens of the streamer, decrypted with the setup's key.
    pub async fn stored_tokens(&self) -> (String, String) {
        let row = self
            .database
            .client()
            .await
            .query_one(
                "SELECT t.channel_id, t.access_token, t.refresh_token FROM twitch_tokens t
                 JOIN channels c ON c.id = t.channel_id WHERE c.login = $1",
                &[&streamer().login],
            )
            .await
            .expect("tokens stored");
        let id: i64 = row.get(0);
        let access = self
            .cipher
            .decrypt(id, TokenKind::Access, row.get(1))
            .expect("access decrypts");
        let refresh = self
            .cipher
            .decrypt(id, TokenKind::Refresh, row.get(2))
            .expect("refresh decrypts");
        (access.expose().clone(), refresh.expose().clone())
    }

    pub async fn needs_reauth(&self) -> bool {
        self.database
            .client()
            .await
            .query_one(
                "SELECT needs_reauth FROM channels WHERE login = $1",
                &[&streamer().login],
            )
            .await
            .expect("channel")
            .get(0)
    }

    pub fn body(response: &warp::http::Response<Bytes>) -> String {
        String::from_utf8_lossy(response.body()).into_owned()
    }

    /// Asserts nothing about a streamer was stored.
    pub async fn assert_nothing_stored(&self) {
        assert_eq!(self.count("twitch_tokens").await, 0, "no tokens");
        assert_eq!(self.count("channels").await, 0, "no channel");
        assert!(!self.state.channels.contains(&login(&streamer().login)), "not joined");
    }
}

#[tokio::test]
async fn connecting_through_the_running_app_stores_the_channel_and_joins_it() {
    let (database, _store) = TestDatabase::migrated().await;
    let fake = FakeTwitch::start(streamer()).await;
    let data_dir = temp_data_dir();
    let port = free_port();
    let settings = Settings::from_args(SettingsArgs {
        database_url: Some(database.url.clone()),
        data_dir: Some(data_dir.path().display().to_string()),
        http_addr: Some(format!("127.0.0.1:{port}")),
        public_url: Some(format!("http://127.0.0.1:{port}")),
        twitch_client_id: Some(CLIENT_ID.into()),
        twitch_client_secret: Some(CLIENT_SECRET.into()),
        twitch_auth_url: Some(fake.auth_url().to_string()),
        twitch_api_url: Some(fake.api_url().to_string()),
        ..SettingsArgs::default()
    })
    .expect("settings");
    let app = App::build(settings).await.expect("app builds");
    let channels = app.channels().clone();
    let live_status = app.live_status();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let http = no_redirects();
    let base = format!("http://127.0.0.1:{port}");

    let start = http.get(format!("{base}/auth/twitch")).send().await.expect("start");
    assert_eq!(start.status(), 302);
    let cookie = start.headers()["set-cookie"].to_str().expect("ascii").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let authorize = url::Url::parse(start.headers()["location"].to_str().expect("ascii")).expect("url");
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(authorize.path(), "/authorize");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], format!("{base}/auth/callback"));
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["scope"], "chat:read chat:edit");
    assert!(query["state"].len() >= 32, "random state");

    let consent = http.get(authorize).send().await.expect("authorize");
    let callback = consent.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(
        callback.starts_with(&format!("{base}/auth/callback?code=")),
        "{callback}"
    );
    let cookie_pair = cookie.split(';').next().expect("pair").to_owned();
    let done = http
        .get(&callback)
        .header("cookie", cookie_pair)
        .send()
        .await
        .expect("callback");
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/");

    assert!(channels.contains(&login("twitchdev")), "joined without a restart");
    let row = database
        .client()
        .await
        .query_one(
            "SELECT c.twitch_user_id, c.needs_reauth, t.scopes, c.display_name FROM channels c
             JOIN twitch_tokens t ON t.channel_id = c.id WHERE c.login = 'twitchdev'",
            &[],
        )
        .await
        .expect("channel and tokens stored");
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("141981764"));
    assert!(!row.get::<_, bool>(1));
    assert_eq!(row.get::<_, Vec<String>>(2), ["chat:edit", "chat:read"]);
    assert_eq!(row.get::<_, String>(3), "TwitchDev", "display name from Helix");
    assert!(
        data_dir.path().join("token.key").exists(),
        "key generated without TOKEN_KEY"
    );

    // The app's live status is Helix.
    fake.set_live("141981764", true);
    assert_eq!(live_status.is_live(Some("141981764")).await, Some(true));

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("stops")
        .expect("joins")
        .expect("clean stop");
}

#[tokio::test]
async fn connecting_again_updates_the_tokens_of_the_same_channel() {
    let setup = OAuthSetup::new().await;
    setup.connect().await;
    let first = setup.stored_tokens().await;
    setup.connect().await;
    let second = setup.stored_tokens().await;
    assert_ne!(first, second);
    assert_eq!(setup.count("channels").await, 1);
    assert_eq!(setup.count("twitch_tokens").await, 1);
    assert!(setup.fake.access_token_valid(&second.0));
}

#[tokio::test]
async fn denied_consent_gives_a_clear_403_page_and_stores_nothing() {
    let setup = OAuthSetup::new().await;
    setup.fake.deny_consent();
    let (authorize, cookie) = setup.start().await;
    let callback = setup.consent(&authorize).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let response = setup.callback(&callback, Some(&cookie)).await;
    assert_eq!(response.status(), 403);
    let body = OAuthSetup::body(&response);
    assert!(
        body.contains("Connection cancelled") && body.contains("declined"),
        "{body}"
    );
    // Twitch's description is echoed, escaped.
    assert!(body.contains("&lt;script&gt;") && !body.contains("<script>"), "{body}");
    setup.assert_nothing_stored().await;
    assert_eq!(setup.count("oauth_states").await, 0, "the state is spent");
    assert!(setup.fake.token_requests("authorization_code").is_empty());
}

#[tokio::test]
async fn missing_forged_mismatched_reused_and_expired_states_are_refused() {
    let setup = OAuthSetup::new().await;
    let (authorize, cookie) = setup.start().await;
    let callback = setup.consent(&authorize).await;
    let url = url::Url::parse(&format!("http://x{callback}")).expect("url");
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");

    // Missing state.
    let missing = setup
        .callback(&format!("/auth/callback?code={code}"), Some(&cookie))
        .await;
    assert_eq!(missing.status(), 400);
    assert!(OAuthSetup::body(&missing).contains("has no state"));

    // Forged: a state this bot never issued, with a matching cookie.
    let forged = setup
        .callback(
            &format!("/auth/callback?code={code}&state=forged123"),
            Some("forged123"),
        )
        .await;
    assert_eq!(forged.status(), 400);
    assert!(OAuthSetup::body(&forged).contains("already used or was not issued"));

    // The right state, but not this browser's cookie (or no cookie): CSRF.
    let mismatched = setup.callback(&callback, Some("someone-elses-state")).await;
    assert_eq!(mismatched.status(), 403);
    let no_cookie = setup.callback(&callback, None).await;
    assert_eq!(no_cookie.status(), 403);
    assert!(OAuthSetup::body(&no_cookie).contains("not started in this browser"));
    setup.assert_nothing_stored().await;

    // Used once: fine; used again: refused.
    let first = setup.callback(&callback, Some(&cookie)).await;
    assert_eq!(first.status(), 303);
    let reused = setup.callback(&callback, Some(&cookie)).await;
    assert_eq!(reused.status(), 400);
    assert!(OAuthSetup::body(&reused).contains("already used"));
    assert_eq!(
        setup.fake.token_requests("authorization_code").len(),
        1,
        "code exchanged once"
    );

    // Expired.
    let (authorize, cookie) = setup.start().await;
    let callback = setup.consent(&authorize).await;
    setup
        .database
        .client()
        .await
        .execute("UPDATE oauth_states SET expires_at = now() - interval '1 minute'", &[])
        .await
        .expect("expire");
    let expired = setup.callback(&callback, Some(&cookie)).await;
    assert_eq!(expired.status(), 400);
    assert!(OAuthSetup::body(&expired).contains("expired"));
    assert_eq!(setup.fake.token_requests("authorization_code").len(), 1, "no exchange");
}

#[tokio::test]
async fn a_failed_code_exchange_gives_502_and_stores_nothing() {
    let setup = OAuthSetup::new().await;
    let (authorize, cookie) = setup.start().await;
    let callback = setup.consent(&authorize).await;
    let bogus = callback.replace("code=code", "code=bogus");
    assert_ne!(bogus, callback);
    let response = setup.callback(&bogus, Some(&cookie)).await;
    assert_eq!(response.status(), 502);
    let body = OAuthSetup::body(&response);
    assert!(body.contains("Invalid authorization code"), "{body}");
    setup.assert_nothing_stored().await;
}

#[tokio::test]
async fn without_twitch_credentials_the_connect_link_explains_what_is_missing() {
    let (_database, store) = TestDatabase::migrated().await;
    let filter = routes(WebState::new(store));
    for path in ["/auth/twitch", "/auth/callback?code=a&state=b"] {
        let response = warp::test::request().path(path).reply(&filter).await;
        assert_eq!(response.status(), 503);
        assert!(OAuthSetup::body(&response).contains("TWITCH_CLIENT_ID"));
    }
}

/// Every text and byte of the tables that could hold a token.
async fn database_dump(setup: &OAuthSetup) -> (String, Vec<Vec<u8>>) {
    let client = setup.database.client().await;
    let mut text = String::new();
    for table in ["twitch_tokens", "channels", "oauth_states", "outbox"] {
        for row in client
            .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
            .await
            .expect("dump")
        {
            text.push_str(row.get::<_, &str>(0));
            text.push('\n');
        }
    }
    let mut bytes = Vec::new();
    for row in client
        .query("SELECT access_token, refresh_token FROM twitch_tokens", &[])
        .await
        .expect("bytes")
    {
        bytes.push(row.get::<_, Vec<u8>>(0));
        bytes.push(row.get::<_, Vec<u8>>(1));
    }
    (text, bytes)
}

#[tokio::test]
async fn no_token_appears_in_plaintext_in_the_database() {
    let setup = OAuthSetup::new().await;
    setup.connect().await;
    // A refresh too, so rotated tokens are checked as well.
    let manager = kinoyubot::twitch::auth::manager::TokenManager::new(
        setup.store.clone(),
        setup.auth.clone(),
        setup.cipher.clone(),
        kinoyubot::twitch::auth::manager::TokenManagerConfig {
            refresh_ahead: Duration::from_secs(365 * 24 * 3600),
            ..Default::default()
        },
        "http://localhost:8080/auth/twitch".into(),
    );
    assert_eq!(manager.run_cycle().await.expect("cycle").refreshed, 1);
    let (text, bytes) = database_dump(&setup).await;
    let issued = setup.fake.issued_tokens();
    assert!(
        issued.len() >= 5,
        "codes, access and refresh tokens were issued: {issued:?}"
    );
    assert!(text.contains("twitchdev"), "the dump has content");
    for token in &issued {
        assert!(!text.contains(token.as_str()), "{token} in plaintext");
        assert!(!text.contains(&hex::encode(token)), "{token} hex-encoded");
        for blob in &bytes {
            assert!(
                !blob.windows(token.len()).any(|w| w == token.as_bytes()),
                "{token} inside a bytea"
            );
        }
    }
    // The client secret is not stored either.
    assert!(!text.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn disconnect_is_admin_only_revokes_at_twitch_and_forgets_the_tokens() {
    let setup = OAuthSetup::new().await;
    setup.connect().await;
    let (access, refresh) = setup.stored_tokens().await;
    let filter = routes(setup.state.clone());
    let delete = |auth: Option<&str>, who: &str| {
        let mut request = warp::test::request()
            .method("DELETE")
            .path(&format!("/api/channels/{who}/connection"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request
    };
    let unauthorized = delete(None, "twitchdev").reply(&filter).await;
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(unauthorized.headers()["www-authenticate"], "Bearer");
    let wrong = delete(Some("Bearer nope"), "twitchdev").reply(&filter).await;
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = serde_json::from_slice(wrong.body()).expect("json");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("admin token")));
    let disabled = routes(WebState {
        admin_token: None,
        ..setup.state.clone()
    });
    let forbidden = delete(Some(&format!("Bearer {ADMIN_TOKEN}")), "twitchdev")
        .reply(&disabled)
        .await;
    assert_eq!(forbidden.status(), 403);
    assert_eq!(setup.count("twitch_tokens").await, 1, "still connected");

    let admin = format!("Bearer {ADMIN_TOKEN}");
    let unknown = delete(Some(&admin), "nobody").reply(&filter).await;
    assert_eq!(unknown.status(), 404);
    let bad = delete(Some(&admin), "no%20pe").reply(&filter).await;
    assert_eq!(bad.status(), 400);

    let done = delete(Some(&admin), "twitchdev").reply(&filter).await;
    assert_eq!(done.status(), 200, "{:?}", done.body());
    let body: serde_json::Value = serde_json::from_slice(done.body()).expect("json");
    assert_eq!(body["connected"], false);
    assert_eq!(body["revoked_at_twitch"], true);
    let revoked: Vec<String> = setup
        .fake
        .requests("/revoke")
        .iter()
        .map(|r| r.params["token"].clone())
        .collect();
    assert!(revoked.contains(&access) && revoked.contains(&refresh), "{revoked:?}");
    assert!(!setup.fake.access_token_valid(&access));
    assert!(!setup.fake.refresh_token_valid(&refresh));
    assert_eq!(setup.count("twitch_tokens").await, 0);
    assert!(!setup.state.channels.contains(&login("twitchdev")), "left");
    assert!(setup.state.channels.contains(&login("configured")));
    let again = delete(Some(&admin), "twitchdev").reply(&filter).await;
    assert_eq!(again.status(), 404, "nothing left to disconnect");
}

#[tokio::test]
async fn disconnecting_a_configured_channel_keeps_serving_it() {
    let setup = OAuthSetup::new().await;
    let state = WebState {
        configured_channels: Arc::from(vec![login("twitchdev")]),
        ..setup.state.clone()
    };
    let setup = OAuthSetup { state, ..setup };
    setup.connect().await;
    let response = warp::test::request()
        .method("DELETE")
        .path("/api/channels/twitchdev/connection")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .reply(&routes(setup.state.clone()))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(setup.count("twitch_tokens").await, 0);
    assert!(
        setup.state.channels.contains(&login("twitchdev")),
        "still in TWITCH_CHANNELS"
    );
}
