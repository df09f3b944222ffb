//! Eligibility gates at scale (issue 18): a channel with 100,000 chatters
//! listed by Get Chatters (100 pages of 1,000 from the Twitch stand-in) and
//! the gates `MIN_ACCOUNT_AGE` and `MIN_FOLLOW_AGE` on 10,000 new candidates
//! (the other 90,000 already cached).
//!
//! Prints, in one run:
//! - cold: time from the tick to the committed raffle, listing chatters and
//!   fetching the new candidates' facts, and the Helix calls made;
//! - warm: the gated round with every fact cached, against today's round
//!   (no gates) over the same 100,000 viewers, p50 of each and their ratio.
//!
//! Needs PostgreSQL like `draw_latency` (`BENCH_DATABASE_URL`). Run with
//! `cargo bench --bench gates_latency`.

// A benchmark program: a failed step should stop it with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[allow(dead_code)]
#[path = "../tests/it/fake_twitch.rs"]
mod fake_twitch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{BenchDatabase, connect, ms, percentile};
use secrecy::SecretString;

use fake_twitch::{CLIENT_ID, CLIENT_SECRET, FakeTwitch, User, streamer};
use kinoyubot::channel::{ChannelLogin, ChannelSet};
use kinoyubot::clock::Clock;
use kinoyubot::config::TokenKey;
use kinoyubot::raffle::eligibility::{Gates, PresenceSources};
use kinoyubot::raffle::items::ItemsFile;
use kinoyubot::raffle::slot::TimerSlot;
use kinoyubot::raffle::{RaffleEngine, RaffleRules, RoundResult, Trigger};
use kinoyubot::twitch::auth::TwitchAuth;
use kinoyubot::twitch::auth::token_cipher::{TokenCipher, TokenKind};
use kinoyubot::twitch::chatters::ChattersPoller;
use kinoyubot::twitch::facts::TwitchFacts;
use kinoyubot::twitch::helix::HelixClient;
use kinoyubot::twitch::live_status::UnknownLiveStatus;

const CHATTERS: usize = 100_000;
const NEW_CANDIDATES: usize = 10_000;
/// Followers of the channel among the chatters (every other one).
const FOLLOW_EVERY: usize = 2;
const WARM_ROUNDS: i64 = 15;

fn chatter(n: usize) -> User {
    User::new(
        &format!("{}", 200_000_000 + n),
        &format!("viewer{n}"),
        &format!("Viewer{n}"),
    )
}

/// A user token for the stand-in's streamer with these scopes, through its
/// authorization-code flow.
async fn user_token(fake: &FakeTwitch, scopes: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirect = "http://bench.invalid/auth/callback";
    let authorize = http
        .get(format!("http://{}/authorize", fake.addr))
        .query(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("scope", scopes),
            ("state", "bench"),
        ])
        .send()
        .await
        .expect("authorize");
    let location = authorize.headers()["location"].to_str().expect("location").to_owned();
    let code = url::Url::parse(&location)
        .expect("callback")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let tokens: serde_json::Value = http
        .post(format!("http://{}/token", fake.addr))
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    tokens["access_token"].as_str().expect("access token").to_owned()
}

fn helix_calls(fake: &FakeTwitch) -> (usize, usize, usize) {
    let users = fake
        .requests("/helix/users")
        .iter()
        .filter(|r| r.query_pairs.iter().any(|(k, _)| k == "id"))
        .count();
    (
        fake.requests("/helix/chat/chatters").len(),
        users,
        fake.requests("/helix/channels/followers").len(),
    )
}

#[tokio::main]
async fn main() {
    let database = BenchDatabase::create("gates").await;
    let store = database.store.clone();
    let client = connect(&database.url).await;
    let table = ItemsFile::parse("bench-items.toml", "[[items]]\nname = \"Key\"\nprobability = 0.5\n").expect("items");
    store.sync_items(&table).await.expect("items");

    // The stand-in: 100,000 chatters, half of them followers, all accounts old.
    let broadcaster = streamer();
    let fake = FakeTwitch::start(broadcaster.clone()).await;
    let chatters: Vec<User> = (0..CHATTERS).map(chatter).collect();
    fake.set_chatters(&broadcaster.id, chatters.clone());
    fake.set_followers(
        &broadcaster.id,
        chatters
            .iter()
            .step_by(FOLLOW_EVERY)
            .map(|u| (u.clone(), "2020-01-01T00:00:00Z".to_owned()))
            .collect(),
    );
    for user in &chatters {
        fake.set_account(user.clone(), "2018-05-05T10:00:00Z");
    }

    // The connected channel and its token.
    let login = ChannelLogin::parse(&broadcaster.login).expect("login");
    let channel_id: i64 = client
        .query_one(
            "INSERT INTO channels (login, display_name, twitch_user_id) VALUES ($1, $1, $2) RETURNING id",
            &[&login.as_str(), &broadcaster.id],
        )
        .await
        .expect("channel")
        .get(0);
    let cipher = TokenCipher::new(&TokenKey::new([7; 32]));
    let access = SecretString::from(user_token(&fake, "moderator:read:chatters moderator:read:followers").await);
    let sealed = cipher.encrypt(channel_id, TokenKind::Access, &access).expect("seal");
    let sealed_refresh = cipher
        .encrypt(channel_id, TokenKind::Refresh, &SecretString::from("unused"))
        .expect("seal");
    client
        .execute(
            "INSERT INTO twitch_tokens (channel_id, access_token, refresh_token, scopes, expires_at)
             VALUES ($1, $2, $3, ARRAY['moderator:read:chatters', 'moderator:read:followers'], now() + interval '4 hours')",
            &[&channel_id, &sealed, &sealed_refresh],
        )
        .await
        .expect("tokens");

    let auth = TwitchAuth::new(
        CLIENT_ID,
        &SecretString::from(CLIENT_SECRET),
        &fake.auth_url(),
        "http://bench.invalid/auth/callback",
    )
    .expect("auth");
    let helix = Arc::new(HelixClient::new(auth, fake.api_url()));
    let facts = TwitchFacts::new(helix, store.clone(), cipher);

    // 90,000 chatters' facts already cached; 10,000 are new.
    let cached = i64::try_from(CHATTERS - NEW_CANDIDATES).expect("count");
    client
        .execute(
            "INSERT INTO twitch_accounts (user_id, created_at)
             SELECT (200000000 + g)::text, '2018-05-05T10:00:00Z' FROM generate_series(0, $1::bigint - 1) AS g",
            &[&cached],
        )
        .await
        .expect("cached accounts");
    client
        .execute(
            "INSERT INTO twitch_follows (channel_id, user_id, followed_at, fetched_at)
             SELECT $1, (200000000 + g)::text, CASE WHEN g % 2 = 0 THEN '2020-01-01T00:00:00Z'::timestamptz END, now()
             FROM generate_series(0, $2::bigint - 1) AS g",
            &[&channel_id, &cached],
        )
        .await
        .expect("cached follows");

    let gated = RaffleRules {
        active_window: Duration::from_secs(600),
        only_when_live: false,
        gates: Gates {
            presence_sources: PresenceSources::ChatAndChatters,
            min_messages: 0,
            subscribers_only: false,
            min_account_age: Duration::from_secs(7 * 86_400),
            min_follow_age: Some(Duration::from_secs(86_400)),
        },
        ..RaffleRules::default()
    };
    let today = RaffleRules {
        gates: Gates {
            // Today's rules, but the lurkers must count to have 100,000 viewers.
            presence_sources: PresenceSources::ChatAndChatters,
            min_messages: 0,
            ..Gates::default()
        },
        ..gated.clone()
    };
    let gated_engine =
        RaffleEngine::new(store.clone(), gated, Arc::new(UnknownLiveStatus)).with_twitch_facts(facts.clone());
    let today_engine = RaffleEngine::new(store.clone(), today, Arc::new(UnknownLiveStatus));

    // Cold: the tick lists the chatters, then the round fetches the facts
    // of the 10,000 new candidates and draws.
    #[derive(Debug)]
    struct AlwaysLive;
    impl kinoyubot::twitch::live_status::LiveStatus for AlwaysLive {
        fn is_live<'a>(
            &'a self,
            _: Option<&'a str>,
        ) -> futures::future::BoxFuture<'a, kinoyubot::twitch::live_status::LiveAnswer> {
            Box::pin(async { kinoyubot::twitch::live_status::LiveAnswer::Live })
        }
    }
    let poller = ChattersPoller::new(
        store.clone(),
        ChannelSet::new([login.clone()]),
        Arc::new(AlwaysLive),
        facts,
        Clock::system(),
    );
    let tick = Instant::now();
    let polled = poller.poll(&login).await.expect("chatters");
    let listed = tick.elapsed();
    let result = gated_engine
        .run_round(&login, Trigger::Timer, Some(TimerSlot::new(0, Duration::from_secs(60))))
        .await
        .expect("cold round");
    let cold = tick.elapsed();
    let RoundResult::Recorded(record) = result else {
        panic!("cold round not recorded")
    };
    let (chatter_calls, user_calls, follower_calls) = helix_calls(&fake);
    println!(
        "gates latency: {CHATTERS} chatters, {NEW_CANDIDATES} new candidates under MIN_ACCOUNT_AGE and MIN_FOLLOW_AGE"
    );
    println!("cold: {polled:?}");
    println!(
        "cold: tick -> committed raffle {} ms (chatters listed in {} ms); candidates {}, excluded {:?}",
        ms(cold, 0),
        ms(listed, 0),
        record.candidate_count,
        record.excluded
    );
    println!(
        "cold: Helix calls: {chatter_calls} Get Chatters, {user_calls} Get Users, {follower_calls} Get Channel Followers"
    );
    println!("RESULT gates_cold_ms={}", ms(cold, 0));
    println!(
        "RESULT gates_cold_helix_calls={}",
        chatter_calls + user_calls + follower_calls
    );

    // Warm: every fact cached. Today's round and the gated round alternate
    // so that both see the same database state.
    client.batch_execute("ANALYZE").await.expect("analyze");
    let mut today_times = Vec::new();
    let mut gated_times = Vec::new();
    let before_warm = helix_calls(&fake);
    for slot in 1..=WARM_ROUNDS {
        let start = Instant::now();
        let result = today_engine
            .run_round(
                &login,
                Trigger::Timer,
                Some(TimerSlot::new(slot * 2, Duration::from_secs(60))),
            )
            .await
            .expect("today's round");
        today_times.push(start.elapsed());
        assert!(matches!(result, RoundResult::Recorded(_)));
        let start = Instant::now();
        let result = gated_engine
            .run_round(
                &login,
                Trigger::Timer,
                Some(TimerSlot::new(slot * 2 + 1, Duration::from_secs(60))),
            )
            .await
            .expect("gated round");
        gated_times.push(start.elapsed());
        assert!(matches!(result, RoundResult::Recorded(_)));
    }
    assert_eq!(helix_calls(&fake), before_warm, "a warm cache asks Helix nothing");
    today_times.sort();
    gated_times.sort();
    let today_p50 = percentile(&today_times, 0.5);
    let gated_p50 = percentile(&gated_times, 0.5);
    println!(
        "warm ({WARM_ROUNDS} rounds each): today p50 {} ms p95 {} ms; gated p50 {} ms p95 {} ms; ratio {:.2}x",
        ms(today_p50, 1),
        ms(percentile(&today_times, 0.95), 1),
        ms(gated_p50, 1),
        ms(percentile(&gated_times, 0.95), 1),
        gated_p50.as_secs_f64() / today_p50.as_secs_f64()
    );
    println!(
        "RESULT gates_warm_ratio={:.2}",
        gated_p50.as_secs_f64() / today_p50.as_secs_f64()
    );
    drop(client);
    database.drop_now().await;
}
