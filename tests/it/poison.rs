//! Poison inputs (issue 12 item 1): values the database cannot store are
//! cleaned at the edge, and what still reaches it and is refused as data is
//! set aside without stalling everyone else.

use std::time::Duration;

use chrono::Utc;
use kinoyubot::channel::ChannelLogin;
use kinoyubot::presence::batch::{PresenceEvent, PresenceUpdate};
use kinoyubot::presence::tracker::PresenceTracker;
use tokio_util::sync::CancellationToken;

use crate::fake_irc::privmsg;
use crate::helpers::{Presence, TestApp, TestDatabase, capture_logs, has_user, wait_for_within};

/// How soon other viewers' presence must be written despite poison.
const SOON: Duration = Duration::from_secs(2);

fn update(channel: &str, user_id: &str, login: &str, display_name: &str) -> PresenceEvent {
    PresenceEvent::Message(PresenceUpdate {
        channel: ChannelLogin::parse(channel).unwrap(),
        user_id: user_id.into(),
        login: login.into(),
        display_name: display_name.into(),
        is_subscriber: false,
        is_vip: false,
        is_moderator: false,
        is_broadcaster: false,
        seen_at: Utc::now(),
    })
}

/// `length` characters that PostgreSQL's compression cannot shrink much, so
/// that an index entry of them really exceeds the btree limit (~2.7 KB).
fn incompressible(length: usize) -> String {
    let alphabet: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            alphabet[(state % alphabet.len() as u64) as usize]
        })
        .collect()
}

/// The value of `kinoyubot_writes_set_aside_total{what="presence"}`.
fn set_aside_presence() -> f64 {
    let text = kinoyubot::metrics::render();
    text.lines()
        .find(|line| line.starts_with("kinoyubot_writes_set_aside_total{what=\"presence\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

async fn rows_of(database: &TestDatabase, channel: &str, users: &[&str]) -> Option<Vec<Presence>> {
    database
        .presence(channel)
        .await
        .filter(|rows| users.iter().all(|user| has_user(rows, user)))
}

/// Straight into the tracker, past the edge cleaning: a NUL in a display
/// name, a NUL in a login, an id beyond the btree index limit and a NUL in
/// a channel's room id. The database refuses those four entries; each is
/// set aside with one log line and one count, and the viewers of both
/// channels are written within 2 s, then and afterwards.
#[tokio::test]
async fn poison_presence_is_set_aside_and_other_viewers_and_channels_are_written_within_2_s() {
    let (logs, guard) = capture_logs();
    kinoyubot::metrics::handle();
    let before = set_aside_presence();
    let database = TestDatabase::migrated().await;
    let (tracker, handle) = PresenceTracker::new(database.store());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(tracker.run(shutdown.clone()));

    let huge_id = incompressible(6000);
    handle
        .send(vec![
            update("poisona", "1", "good1", "Good One"),
            update("poisona", "2", "nulname", "Bad\0Name"),
            update("poisona", "3", "nul\0login", "NulLogin"),
            update("poisona", &huge_id, "huge", "Huge"),
            update("poisonb", "4", "good4", "Good Four"),
            PresenceEvent::ChannelIdentity {
                channel: ChannelLogin::parse("poisonb").unwrap(),
                twitch_user_id: "40\u{0}40".into(),
            },
            update("poisonb", "5", "good5", "Good Five"),
        ])
        .await
        .unwrap();
    let a = wait_for_within(SOON, "good viewers of #poisona", || {
        rows_of(&database, "poisona", &["1"])
    })
    .await;
    let b = wait_for_within(SOON, "good viewers of #poisonb", || {
        rows_of(&database, "poisonb", &["4", "5"])
    })
    .await;
    assert_eq!(a.iter().map(|r| r.user_id.as_str()).collect::<Vec<_>>(), ["1"]);
    assert_eq!(b.len(), 2);

    // The tracker is not stuck in an "outage": later presence is written
    // as promptly, in both channels.
    handle
        .send(vec![
            update("poisona", "6", "later6", "Later"),
            update("poisonb", "7", "later7", "Later"),
        ])
        .await
        .unwrap();
    wait_for_within(SOON, "later viewer of #poisona", || {
        rows_of(&database, "poisona", &["1", "6"])
    })
    .await;
    wait_for_within(SOON, "later viewer of #poisonb", || {
        rows_of(&database, "poisonb", &["4", "5", "7"])
    })
    .await;

    drop(handle);
    shutdown.cancel();
    task.await.unwrap();
    drop(guard);
    let text = logs.text();
    assert_eq!(
        logs.count("the database refused a presence entry"),
        4,
        "one line per refused entry:\n{text}"
    );
    assert_eq!(
        logs.count("could not write presence"),
        0,
        "poison is no outage:\n{text}"
    );
    assert!(!text.contains(&huge_id[..100]), "the log names a shortened id only");
    assert!(
        set_aside_presence() >= before + 4.0,
        "counted: {} before, {} after",
        before,
        set_aside_presence()
    );
    let identity: Option<String> = database
        .client()
        .await
        .query_one("SELECT twitch_user_id FROM channels WHERE login = 'poisonb'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(identity, None);
}

/// Through chat: hostile tag values are cleaned or dropped at the edge, so
/// none of them reaches the database as poison.
#[tokio::test]
async fn hostile_chat_tags_are_cleaned_or_dropped_at_the_edge() {
    let room = "71000001";
    let mut app = TestApp::builder()
        .room_id("edgy", room)
        .channels(&["edgy"])
        .start()
        .await;
    let line = |user_id: &str, login: &str, display_name: &str| {
        privmsg("edgy", room, user_id, login, "hi").replacen(
            &format!("display-name={login};"),
            &format!("display-name={display_name};"),
            1,
        )
    };
    let huge_id: String = "7".repeat(3000);
    app.say("edgy", &line("101", "nulname", "Nul\0Name"));
    app.say("edgy", &line("102", "bidi", "\u{202E}nimda\u{202C}\u{200B}"));
    app.say("edgy", &line("103", "longname", &"é".repeat(30_000)));
    app.say("edgy", &line("104", "blank", "\u{200B}\u{200D}"));
    app.say("edgy", &line(&huge_id, "hugeid", "HugeId"));
    app.say("edgy", &line("10\u{0}5", "nulid", "NulId"));
    app.say("edgy", &line("106", "nul\u{0}login", "NulLogin"));
    app.say(
        "edgy",
        "@emote-only=0;room-id=7\u{0}1;slow=0 :tmi.twitch.tv ROOMSTATE #edgy",
    );
    app.say("edgy", &privmsg("edgy", room, "199", "sentinel", "end"));
    let rows = app
        .wait_for_presence("edgy", "the sentinel", |rows| has_user(rows, "199"))
        .await;
    let seen: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.user_id.as_str(), r.display_name.as_str()))
        .collect();
    let capped = "é".repeat(64);
    assert_eq!(
        seen,
        [
            ("101", "Nul Name"),
            ("102", "nimda"),
            ("103", capped.as_str()),
            ("104", "blank"),
            ("199", "sentinel"),
        ]
    );
    let identity: Option<String> = app
        .database
        .client()
        .await
        .query_one("SELECT twitch_user_id FROM channels WHERE login = 'edgy'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(identity.as_deref(), Some(room), "the poisoned ROOMSTATE was ignored");
    app.stop().await;
}

/// Real chat lines twitch-irc's strict conversion refuses (no `badge-info`,
/// no `badges`, the malformed `emotes` tag live Twitch still sends) make
/// their senders present, and a broadcaster's command among them is obeyed.
#[tokio::test]
async fn chat_lines_the_strict_parser_refuses_still_count() {
    let room = "72000001";
    let mut app = TestApp::builder()
        .room_id("lenient", room)
        .channels(&["lenient"])
        .start()
        .await;
    let lines = [
        format!(
            "@badges=subscriber/12,premium/1;color=#008000;display-name=Schmoopiie;emotes=;id=e3b1d1c1-1c60-4b66-9a4a-2dbb5c3e7b89;mod=0;room-id={room};subscriber=1;tmi-sent-ts=1507246572675;turbo=0;user-id=4020330;user-type= :schmoopiie!schmoopiie@schmoopiie.tmi.twitch.tv PRIVMSG #lenient :Hello world!"
        ),
        format!(
            "@badge-info=;color=;display-name=Lenient;emotes=;id=1;mod=0;room-id={room};subscriber=0;tmi-sent-ts=1507246572675;turbo=0;user-id={room};user-type= :lenient!lenient@lenient.tmi.twitch.tv PRIVMSG #lenient :!raffle now"
        ),
        format!(
            "@badge-info=;badges=;color=;display-name=Emoter;emotes=80481_/3:7-14;flags=;id=2;mod=0;room-id={room};subscriber=0;tmi-sent-ts=1594545155039;turbo=0;user-id=4020331;user-type= :emoter!emoter@emoter.tmi.twitch.tv PRIVMSG #lenient :Kappa pajaW hi"
        ),
    ];
    for line in &lines {
        app.say("lenient", line);
    }
    let rows = app
        .wait_for_presence("lenient", "all three senders", |rows| rows.len() == 3)
        .await;
    let seen: Vec<(&str, &str, bool, bool)> = rows
        .iter()
        .map(|r| {
            (
                r.user_id.as_str(),
                r.display_name.as_str(),
                r.is_subscriber,
                r.is_broadcaster,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("4020330", "Schmoopiie", true, false),
            ("4020331", "Emoter", false, false),
            (room, "Lenient", false, true),
        ]
    );
    app.database
        .wait_count(
            "SELECT count(*) FROM raffles WHERE trigger = 'chat'",
            1,
            "the broadcaster's !raffle now from a line without badges",
        )
        .await;
    app.stop().await;
}

fn oauth_app() -> crate::helpers::TestAppBuilder {
    use kinoyubot::twitch::auth::manager::TokenManagerConfig;
    TestApp::builder()
        .twitch(crate::fake_twitch::streamer())
        .token_manager(TokenManagerConfig {
            check_every: Duration::from_secs(3600),
            ..TokenManagerConfig::default()
        })
}

/// A NUL in a granted scope, and an app token "valid" for u64::MAX seconds
/// (which overflowed `Instant` in the Helix client): connecting still works,
/// the poisoned scope is not stored, the display name is fetched.
#[tokio::test]
async fn a_nul_in_a_scope_and_a_huge_app_token_lifetime_do_not_break_connecting() {
    let app = oauth_app().start().await;
    app.twitch().set_extra_scope("chat:\u{0}read");
    app.twitch().set_app_expires_in(u64::MAX);
    app.connect_streamer().await;
    let row = app
        .database
        .client()
        .await
        .query_one(
            "SELECT t.scopes, c.display_name FROM twitch_tokens t JOIN channels c ON c.id = t.channel_id
             WHERE c.login = 'twitchdev'",
            &[],
        )
        .await
        .unwrap();
    let scopes: Vec<String> = row.get(0);
    assert_eq!(scopes, ["chat:edit", "chat:read"]);
    let display_name: String = row.get(1);
    assert_eq!(display_name, crate::fake_twitch::streamer().display_name);
    // The Helix client still answers afterwards (the cached token's renewal
    // time did not overflow).
    assert!(!app.twitch().requests("/helix/users").is_empty());
}

/// Twitch refuses a refresh with a NUL (and a bidi override) in its
/// message: the needs-reauth notice is still queued, once, without them.
#[tokio::test]
async fn a_nul_in_twitchs_refusal_message_still_queues_the_needs_reauth_notice() {
    use kinoyubot::twitch::auth::manager::TokenManagerConfig;
    let app = oauth_app().start().await;
    app.connect_streamer().await;
    app.twitch()
        .set_refresh_refusal("Invalid refresh\u{0} token \u{202E}gotcha");
    app.twitch().revoke_user(&crate::fake_twitch::streamer().id);
    let manager = app.token_manager(TokenManagerConfig {
        check_every: Duration::from_millis(20),
        validate_every: Duration::ZERO,
        refresh_ahead: Duration::from_secs(600),
    });
    let report = manager.run_cycle().await.expect("a cycle despite the NUL");
    assert_eq!(report.newly_needs_reauth, 1, "{report:?}");
    let notices: Vec<serde_json::Value> = app
        .database
        .client()
        .await
        .query("SELECT payload FROM outbox WHERE payload->>'kind' = 'notice'", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let message = notices[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("400 Invalid refresh token gotcha"), "{message}");
    assert!(!message.contains('\u{0}') && !message.contains('\u{202E}'), "{message}");
    assert_eq!(manager.run_cycle().await.expect("cycle").newly_needs_reauth, 0);
}

/// Chat lines in the shapes live Twitch sends (tags as Twitch's IRC docs
/// list them, plus the variants other clients' bug reports show: tags
/// missing, empty, malformed or added later), each from its own viewer.
/// Every one must be counted: the typed parser's refusal is no reason to
/// lose a chatter (issue 12 item 4).
fn line_shapes(room: &str) -> Vec<String> {
    let common = |user: u32, name: &str| {
        format!(
            "color=#1E90FF;display-name={name};id=0b1c2d3e-4f5a-6b7c-8d9e-{user:012};mod=0;room-id={room};subscriber=0;tmi-sent-ts=1764000000000;turbo=0;user-id={user};user-type="
        )
    };
    let from = |user: u32, name: &str, login: &str, extra: &str, text: &str| {
        let tags = common(user, name);
        format!("@{extra}{tags} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #shapes :{text}")
    };
    let mut lines = vec![
        // The full modern tag set.
        from(
            9100001,
            "Full",
            "full",
            "badge-info=subscriber/14;badges=subscriber/12,premium/1;client-nonce=2d1c9b4a5e6f;emotes=25:0-4;first-msg=0;flags=;returning-chatter=0;",
            "Kappa hello",
        ),
        // No badge-info at all (older servers, some relays).
        from(
            9100002,
            "NoBadgeInfo",
            "nobadgeinfo",
            "badges=moderator/1;emotes=;flags=;",
            "hi",
        ),
        // No badges at all.
        from(9100003, "NoBadges", "nobadges", "badge-info=;emotes=;flags=;", "hi"),
        // Neither badges nor badge-info.
        from(9100004, "Bare", "bare", "emotes=;", "hi"),
        // A malformed emote range (still seen live).
        from(
            9100005,
            "BadEmote",
            "bademote",
            "badge-info=;badges=;emotes=80481_/3:7-14;flags=;",
            "Kappa pajaW hi",
        ),
        // An emote range past the end of the text.
        from(
            9100006,
            "LongEmote",
            "longemote",
            "badge-info=;badges=;emotes=25:0-40;flags=;",
            "Kappa",
        ),
        // Empty emote set positions.
        from(
            9100007,
            "EmptyEmote",
            "emptyemote",
            "badge-info=;badges=;emotes=25:;flags=;",
            "Kappa",
        ),
        // First message in the channel.
        from(
            9100008,
            "FirstTimer",
            "firsttimer",
            "badge-info=;badges=;emotes=;first-msg=1;flags=;returning-chatter=0;",
            "first!",
        ),
        // A reply, with the reply-parent and reply-thread tags.
        from(
            9100009,
            "Replier",
            "replier",
            "badge-info=;badges=;emotes=;flags=;reply-parent-display-name=Full;reply-parent-msg-body=Kappa\\shello;reply-parent-msg-id=0b1c2d3e-4f5a-6b7c-8d9e-009100001000;reply-parent-user-id=9100001;reply-parent-user-login=full;reply-thread-parent-msg-id=0b1c2d3e-4f5a-6b7c-8d9e-009100001000;reply-thread-parent-user-login=full;",
            "@Full hi",
        ),
        // Cheer bits.
        from(
            9100010,
            "Cheerer",
            "cheerer",
            "badge-info=;badges=bits/100;bits=100;emotes=;flags=;",
            "cheer100 gg",
        ),
        // A /me (ACTION) message.
        from(
            9100011,
            "Actor",
            "actor",
            "badge-info=;badges=;emotes=;flags=;",
            "\u{1}ACTION waves\u{1}",
        ),
        // A highlighted message (channel points).
        from(
            9100012,
            "Highlight",
            "highlight",
            "badge-info=;badges=;custom-reward-id=a3b5c7d9-0000-1111-2222-333344445555;emotes=;flags=;msg-id=highlighted-message;",
            "look at me",
        ),
        // Emote-only mode tag.
        from(
            9100013,
            "EmoteOnly",
            "emoteonly",
            "badge-info=;badges=;emote-only=1;emotes=25:0-4;flags=;",
            "Kappa",
        ),
        // AutoMod flags on the text.
        from(
            9100014,
            "Flagged",
            "flagged",
            "badge-info=;badges=;emotes=;flags=0-3:P.6;",
            "darn it",
        ),
        // A VIP with the vip tag Twitch added later.
        from(
            9100015,
            "Vipper",
            "vipper",
            "badge-info=;badges=vip/1;emotes=;flags=;vip=1;",
            "hi",
        ),
        // Shared Chat: the source-* tags on a message sent in this very
        // channel (one relayed from another room is not presence here,
        // SPEC §4; irc.rs tests that).
        from(
            9100016,
            "Shared",
            "shared",
            &format!(
                "badge-info=;badges=;emotes=;flags=;source-badge-info=;source-badges=;source-id=0b1c2d3e-4f5a-6b7c-8d9e-000000000016;source-room-id={room};"
            ),
            "during a shared session",
        ),
        // A paid pinned message (Hype Chat).
        from(
            9100017,
            "HypeChat",
            "hypechat",
            "badge-info=;badges=;emotes=;flags=;pinned-chat-paid-amount=500;pinned-chat-paid-currency=USD;pinned-chat-paid-exponent=2;pinned-chat-paid-is-system-message=0;pinned-chat-paid-level=ONE;",
            "pinned",
        ),
        // A display name in another script, escaped spaces in tags.
        from(
            9100018,
            "\u{d55c}\u{ae00}",
            "hangul",
            "badge-info=;badges=;emotes=;flags=;",
            "annyeong",
        ),
        // An unknown tag and a tag without a value.
        from(
            9100019,
            "Future",
            "future",
            "badge-info=;badges=;emotes=;flags=;some-new-tag=x;valueless;",
            "hi",
        ),
        // No display-name value (Twitch sends it empty for some accounts).
        from(9100020, "", "noname", "badge-info=;badges=;emotes=;flags=;", "hi"),
        // A subscriber badge with founder info.
        from(
            9100021,
            "Founder",
            "founder",
            "badge-info=founder/3;badges=founder/0;emotes=;flags=;",
            "hi",
        ),
        // An empty message text.
        from(9100022, "Quiet", "quiet", "badge-info=;badges=;emotes=;flags=;", ""),
    ];
    // Tags in another order (Twitch does not promise one).
    lines.push(format!(
        "@user-id=9100023;room-id={room};display-name=Shuffled;badges=;badge-info=;emotes=;id=0b1c2d3e-4f5a-6b7c-8d9e-009100023000;mod=0;subscriber=0;tmi-sent-ts=1764000000000;turbo=0;user-type=;color= :shuffled!shuffled@shuffled.tmi.twitch.tv PRIVMSG #shapes :hi"
    ));
    lines
}

#[tokio::test]
async fn every_real_chat_line_shape_is_counted() {
    let room = "72000002";
    let mut app = TestApp::builder()
        .room_id("shapes", room)
        .channels(&["shapes"])
        .start()
        .await;
    let lines = line_shapes(room);
    let expected = lines.len();
    for line in &lines {
        app.say("shapes", line);
    }
    let rows = app
        .wait_for_presence("shapes", "every sender", |rows| rows.len() == expected)
        .await;
    let mut ids: Vec<&str> = rows.iter().map(|r| r.user_id.as_str()).collect();
    ids.sort_unstable();
    let wanted: Vec<String> = (9_100_001..=9_100_023).map(|id: u32| id.to_string()).collect();
    assert_eq!(ids, wanted.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(rows.iter().all(|r| r.message_count == 1), "{rows:?}");
    // The empty display name falls back to the login.
    assert!(
        rows.iter()
            .any(|r| r.user_id == "9100020" && r.display_name == "noname"),
        "{rows:?}"
    );
    app.stop().await;
}
