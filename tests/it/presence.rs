//! Chat presence end to end: the app's chat listener against the Twitch IRC
//! stand-in, its presence tracker and store against a throwaway database.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::fake_irc::{FakeIrc, privmsg};
use crate::fake_twitch::streamer;
use crate::helpers::{
    ADMIN_TOKEN, DEADLINE, Presence, TestApp, TestDatabase, capture_logs, has_user, terminate_other_connections,
    wait_until,
};

/// The app, serving `channel` (already joined).
async fn chat_app(channel: &str) -> TestApp {
    TestApp::builder().channels(&[channel]).start().await
}

/// A row without its timestamps, for whole-list comparisons.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    user_id: String,
    login: String,
    display_name: String,
    /// Subscriber, VIP, moderator, broadcaster.
    badges: [bool; 4],
    messages: i64,
}

fn seen(user_id: &str, login: &str, display_name: &str, badges: [bool; 4], messages: i64) -> Seen {
    Seen {
        user_id: user_id.into(),
        login: login.into(),
        display_name: display_name.into(),
        badges,
        messages,
    }
}

fn seen_rows(rows: &[Presence]) -> Vec<Seen> {
    rows.iter()
        .map(|r| {
            seen(
                &r.user_id,
                &r.login,
                &r.display_name,
                [r.is_subscriber, r.is_vip, r.is_moderator, r.is_broadcaster],
                r.message_count,
            )
        })
        .collect()
}

const ROOM: &str = "555000111";

#[tokio::test]
async fn replayed_chat_gives_exactly_the_expected_rows() {
    let started: DateTime<Utc> = Utc::now();
    let mut app = TestApp::builder()
        .room_id("kinoyu", ROOM)
        .channels(&["kinoyu"])
        .start()
        .await;
    let lines = [
        // First message ever in the channel (first-msg=1), plain viewer.
        r"@badge-info=;badges=;client-nonce=815810609edecdf4537bd9586994182b;color=#0000FF;display-name=JuN1oRRRR;emotes=;first-msg=1;flags=;id=e9d998c3-36f1-430f-89ec-6b887c28af36;mod=0;returning-chatter=0;room-id=555000111;subscriber=0;tmi-sent-ts=1594545155039;turbo=0;user-id=29803735;user-type= :jun1orrrr!jun1orrrr@jun1orrrr.tmi.twitch.tv PRIVMSG #kinoyu :dank cam",
        // Moderator + subscriber with a Korean display name, /me action.
        "@badge-info=subscriber/35;badges=moderator/1,subscriber/3024;color=#FF0000;display-name=테스트계정420;emotes=;flags=;id=bdfa278e-11c4-484f-9491-0a61b16fab60;mod=1;room-id=555000111;subscriber=1;tmi-sent-ts=1593953876927;turbo=0;user-id=117166826;user-type=mod :testaccount_420!testaccount_420@testaccount_420.tmi.twitch.tv PRIVMSG #kinoyu :\u{1}ACTION waves 👋\u{1}",
        // The first viewer again, replying, with escaped tag values.
        r"@badge-info=;badges=;client-nonce=cd56193132f934ac71b4d5ac488d4bd6;color=#0000FF;display-name=JuN1oRRRR;emotes=;first-msg=0;flags=;id=5b4f63a9-776f-4fce-bf3c-d9707f52e32d;mod=0;reply-parent-display-name=테스트계정420;reply-parent-msg-body=waves\s👋\:\s\\o/;reply-parent-msg-id=bdfa278e-11c4-484f-9491-0a61b16fab60;reply-parent-user-id=117166826;reply-parent-user-login=testaccount_420;reply-thread-parent-msg-id=bdfa278e-11c4-484f-9491-0a61b16fab60;reply-thread-parent-user-login=testaccount_420;returning-chatter=0;room-id=555000111;subscriber=0;tmi-sent-ts=1673925983585;turbo=0;user-id=29803735;user-type= :jun1orrrr!jun1orrrr@jun1orrrr.tmi.twitch.tv PRIVMSG #kinoyu :@테스트계정420 hi",
        // Bits.
        "@badge-info=;badges=bits/100;bits=100;color=#004B49;display-name=TETYYS;emotes=;flags=;id=d7f03a35-f339-41ca-b4d4-7c0721438570;mod=0;room-id=555000111;subscriber=0;tmi-sent-ts=1594571566672;turbo=0;user-id=36175310;user-type= :tetyys!tetyys@tetyys.tmi.twitch.tv PRIVMSG #kinoyu :cheer100 gg",
        // VIP.
        "@badge-info=;badges=vip/1,partner/1;color=#8A2BE2;display-name=Vippy;emotes=;flags=;id=a7f03a35-f339-41ca-b4d4-7c0721438571;mod=0;room-id=555000111;subscriber=0;tmi-sent-ts=1594571566672;turbo=0;user-id=40000001;user-type=;vip=1 :vippy!vippy@vippy.tmi.twitch.tv PRIVMSG #kinoyu :👉 <3 👉 <3",
        // The broadcaster (also a subscriber badge).
        "@badge-info=subscriber/12;badges=broadcaster/1,subscriber/3012;color=;display-name=KinoYu;emotes=;flags=;id=c7f03a35-f339-41ca-b4d4-7c0721438572;mod=0;room-id=555000111;subscriber=1;tmi-sent-ts=1594571566672;turbo=0;user-id=555000111;user-type= :kinoyu!kinoyu@kinoyu.tmi.twitch.tv PRIVMSG #kinoyu :welcome all",
        // Founder (counts as subscriber), display name with an escaped space.
        r"@badge-info=founder/3;badges=founder/0;color=;display-name=Riot\sGames;emotes=;flags=;id=f7f03a35-f339-41ca-b4d4-7c0721438573;mod=0;room-id=555000111;subscriber=1;tmi-sent-ts=1594571566672;turbo=0;user-id=36029255;user-type= :riotgames!riotgames@riotgames.tmi.twitch.tv PRIVMSG #kinoyu :Då kan du begära skadestånd Kappa",
        // Not presence: a sub notice, a chat clear, a shared-chat guest.
        r"@badge-info=subscriber/0;badges=subscriber/0,premium/1;color=;display-name=fallenseraphhh;emotes=;flags=;id=2a9bea11-a80a-49a0-a498-1642d457f775;login=fallenseraphhh;mod=0;msg-id=sub;msg-param-cumulative-months=1;msg-param-months=0;msg-param-should-share-streak=0;msg-param-sub-plan-name=Channel\sSubscription\s(kinoyu);msg-param-sub-plan=Prime;room-id=555000111;subscriber=1;system-msg=fallenseraphhh\ssubscribed\swith\sPrime.;tmi-sent-ts=1582685713242;user-id=224005980;user-type= :tmi.twitch.tv USERNOTICE #kinoyu",
        "@room-id=555000111;tmi-sent-ts=1594561392337 :tmi.twitch.tv CLEARCHAT #kinoyu",
        "@badge-info=;badges=;color=;display-name=Guest;emotes=;flags=;id=1b4f63a9-776f-4fce-bf3c-d9707f52e32d;mod=0;room-id=555000111;source-badge-info=;source-badges=;source-id=2b4f63a9-776f-4fce-bf3c-d9707f52e32d;source-room-id=22484632;subscriber=0;tmi-sent-ts=1594545155039;turbo=0;user-id=42;user-type= :guest!guest@guest.tmi.twitch.tv PRIVMSG #kinoyu :hello from next door",
    ];
    for line in lines {
        app.say("kinoyu", line);
    }
    // Last line: everything before it was processed once its row is there.
    app.say("kinoyu", &privmsg("kinoyu", ROOM, "99999999", "sentinel", "end"));
    let rows = app
        .wait_for_presence("kinoyu", "the sentinel", |rows| has_user(rows, "99999999"))
        .await;
    let finished = Utc::now();
    assert_eq!(
        seen_rows(&rows),
        [
            seen(
                "117166826",
                "testaccount_420",
                "테스트계정420",
                [true, false, true, false],
                1
            ),
            seen("29803735", "jun1orrrr", "JuN1oRRRR", [false, false, false, false], 2),
            seen("36029255", "riotgames", "Riot Games", [true, false, false, false], 1),
            seen("36175310", "tetyys", "TETYYS", [false, false, false, false], 1),
            seen("40000001", "vippy", "Vippy", [false, true, false, false], 1),
            seen("555000111", "kinoyu", "KinoYu", [true, false, false, true], 1),
            seen("99999999", "sentinel", "sentinel", [false, false, false, false], 1),
        ]
    );
    for row in &rows {
        // Stamped on receipt, not with the (old) tmi-sent-ts of the lines.
        assert!(started <= row.first_seen && row.first_seen <= row.last_seen && row.last_seen <= finished);
        assert_eq!(row.banned_until, None);
    }
    // ROOMSTATE taught us the broadcaster's id.
    let twitch_user_id: Option<String> = app
        .database
        .client()
        .await
        .query_one("SELECT twitch_user_id FROM channels WHERE login = 'kinoyu'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(twitch_user_id.as_deref(), Some(ROOM));
    app.stop().await;
}

#[tokio::test]
async fn malformed_and_huge_lines_do_not_stop_the_listener() {
    let mut app = chat_app("junk").await;
    let room = app.irc.room_id("junk");
    for line in [
        "@ :broken",
        "@badge-info=;badges= ",
        "!!! not irc at all",
        ":prefix-only",
        // PRIVMSG without user-id or channel: not parseable as a PRIVMSG.
        "@room-id=1 :someone!someone@someone.tmi.twitch.tv PRIVMSG",
        "@display-name=x :x!x@x.tmi.twitch.tv PRIVMSG #junk :no ids",
        "\u{1}\u{2}\u{3}",
    ] {
        app.say("junk", line);
    }
    let huge = privmsg("junk", &room, "1", "huge", &"A".repeat(1024 * 1024));
    app.say("junk", &huge);
    app.say("junk", &privmsg("junk", &room, "2", "after", "still here"));
    let rows = app
        .wait_for_presence("junk", "the message after the junk", |rows| has_user(rows, "2"))
        .await;
    assert!(!has_user(&rows, "1"), "the 1 MB line is discarded");
    assert_eq!(app.irc.accepted(), 1, "junk must not cause a reconnect");
    assert_eq!(app.irc.joins("junk"), 1);
    app.stop().await;
}

#[tokio::test]
async fn listener_rejoins_after_reconnect_and_dropped_connection() {
    let mut app = chat_app("rejoin").await;
    let room = app.irc.room_id("rejoin");
    app.say("rejoin", &privmsg("rejoin", &room, "1", "one", "before"));
    app.wait_for_presence("rejoin", "first message", |rows| has_user(rows, "1"))
        .await;

    // Read in the same chunk as RECONNECT (one write): must not be lost when
    // twitch-irc closes that connection.
    app.say(
        "rejoin",
        &format!(
            "{}\r\n:tmi.twitch.tv RECONNECT",
            privmsg("rejoin", &room, "10", "ten", "last words")
        ),
    );
    app.irc.wait_joined("rejoin", 2, DEADLINE).await;
    assert_eq!(app.irc.accepted(), 2);
    app.say("rejoin", &privmsg("rejoin", &room, "2", "two", "after reconnect"));
    app.say("rejoin", &privmsg("rejoin", &room, "1", "one", "me again"));
    app.wait_for_presence("rejoin", "messages after RECONNECT", |rows| {
        has_user(rows, "2") && has_user(rows, "10") && rows.iter().any(|r| r.user_id == "1" && r.message_count == 2)
    })
    .await;

    app.say("rejoin", &privmsg("rejoin", &room, "11", "eleven", "before the drop"));
    app.irc.drop_connections();
    app.irc.wait_joined("rejoin", 3, DEADLINE).await;
    app.say("rejoin", &privmsg("rejoin", &room, "3", "three", "after drop"));
    let rows = app
        .wait_for_presence("rejoin", "message after a dropped connection", |rows| {
            has_user(rows, "3")
        })
        .await;
    assert!(has_user(&rows, "11"), "the message read just before the drop is kept");
    assert_eq!(rows.len(), 5);
    app.stop().await;
}

#[tokio::test]
async fn every_user_survives_database_connections_being_killed() {
    let mut app = chat_app("outage").await;
    let room = app.irc.room_id("outage");
    // `killer` stays connected to the test database throughout.
    let killer = app.database.client().await;
    let say_wave = |wave: i32| {
        for user in 0..40 {
            let id = wave * 1000 + user + 1;
            app.say(
                "outage",
                &privmsg("outage", &room, &id.to_string(), &format!("user{id}"), "hi"),
            );
        }
    };
    let in_wave = |rows: &[Presence], wave: i32| {
        rows.iter()
            .filter(|r| r.user_id.parse::<i32>().is_ok_and(|id| id / 1000 == wave))
            .count()
    };

    // Connections killed over and over while chat flows: flushes that meet
    // a dead connection fail and are retried.
    say_wave(0);
    for wave in 1..3 {
        terminate_other_connections(&killer).await;
        say_wave(wave);
        terminate_other_connections(&killer).await;
    }
    app.wait_for_presence("outage", "waves 0-2", |rows| rows.len() == 120)
        .await;

    // A real outage: no new connections, existing ones killed.
    app.database.refuse_connections().await;
    terminate_other_connections(&killer).await;
    say_wave(3);
    say_wave(4);
    // Keep the database away for a few flush periods (sabotage, not
    // synchronisation): nothing of waves 3-4 can be written meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during: i64 = killer
        .query_one("SELECT count(*) FROM presence WHERE user_id::int >= 3000", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(during, 0, "the database really was unreachable");
    app.database.allow_connections().await;

    let rows = app
        .wait_for_presence("outage", "all 200 users", |rows| rows.len() == 200)
        .await;
    for wave in 0..5 {
        assert_eq!(in_wave(&rows, wave), 40, "wave {wave}");
    }
    assert!(rows.iter().all(|r| r.message_count == 1), "each user chatted once");
    app.stop().await;
}

#[tokio::test]
async fn clearchat_makes_a_user_ineligible_until_they_chat_again() {
    let mut app = chat_app("mods").await;
    let room = app.irc.room_id("mods");
    app.say("mods", &privmsg("mods", &room, "70948394", "weeb123", "hello"));
    app.say("mods", &privmsg("mods", &room, "148973258", "fabzeef", "hello"));
    app.wait_for_presence("mods", "both viewers", |rows| rows.len() == 2)
        .await;

    let before = Utc::now();
    app.say(
        "mods",
        &format!(
            "@room-id={room};target-user-id=70948394;tmi-sent-ts=1594561360331 :tmi.twitch.tv CLEARCHAT #mods :weeb123"
        ),
    );
    app.say(
        "mods",
        &format!("@ban-duration=600;room-id={room};target-user-id=148973258;tmi-sent-ts=1594553828245 :tmi.twitch.tv CLEARCHAT #mods :fabzeef"),
    );
    let rows = app
        .wait_for_presence("mods", "ban and timeout", |rows| {
            rows.iter().all(|r| r.banned_until.is_some())
        })
        .await;
    let banned = rows.iter().find(|r| r.user_id == "70948394").unwrap();
    assert_eq!(banned.banned_until, Some(None), "a ban lasts (infinity)");
    let timed_out = rows.iter().find(|r| r.user_id == "148973258").unwrap();
    let until = timed_out.banned_until.flatten().expect("a timeout has an end");
    let expected = before + chrono::Duration::seconds(600);
    assert!(
        until >= expected && until <= Utc::now() + chrono::Duration::seconds(600),
        "timeout ends 600 s after it was seen, got {until}"
    );

    // Twitch does not tell readers about unbans, but a banned user cannot
    // chat: a message after the ban proves it was lifted.
    app.say("mods", &privmsg("mods", &room, "70948394", "weeb123", "i'm back"));
    let rows = app
        .wait_for_presence("mods", "unban by chatting", |rows| {
            rows.iter().any(|r| r.user_id == "70948394" && r.message_count == 2)
        })
        .await;
    let back = rows.iter().find(|r| r.user_id == "70948394").unwrap();
    assert_eq!(back.banned_until, None);
    app.stop().await;
}

#[tokio::test]
async fn raffle_commands_from_moderators_and_broadcaster_reach_the_engine_only() {
    // The app's engine runs on this test's single thread, so this captures
    // its log (the chat listener has threads of its own).
    let (logs, _guard) = capture_logs();
    let mut app = chat_app("cmds").await;
    let room = app.irc.room_id("cmds");
    // A viewer, even a VIP, cannot command.
    app.say("cmds", &format!(
        "@badge-info=;badges=vip/1;color=;display-name=Viewer;emotes=;flags=;id=1;mod=0;room-id={room};subscriber=0;tmi-sent-ts=1;turbo=0;user-id=10;user-type=;vip=1 :viewer!viewer@viewer.tmi.twitch.tv PRIVMSG #cmds :!raffle now"
    ));
    app.say("cmds", &format!(
        "@badge-info=;badges=moderator/1;color=;display-name=Moddy;emotes=;flags=;id=2;mod=1;room-id={room};subscriber=0;tmi-sent-ts=1;turbo=0;user-id=11;user-type=mod :moddy!moddy@moddy.tmi.twitch.tv PRIVMSG #cmds :!RAFFLE pause"
    ));
    app.say("cmds", &format!(
        "@badge-info=;badges=broadcaster/1;color=;display-name=Cmds;emotes=;flags=;id=3;mod=0;room-id={room};subscriber=0;tmi-sent-ts=1;turbo=0;user-id={room};user-type= :cmds!cmds@cmds.tmi.twitch.tv PRIVMSG #cmds :!raffle status"
    ));
    // Commands are applied in order: once the last one is, so are the others.
    wait_until("the broadcaster's !raffle status to be applied", || async {
        logs.count("!raffle status requested") == 1
    })
    .await;
    // The engine's log names who asked for each command it applied.
    let log = logs.text();
    let applied: Vec<&str> = log.lines().filter(|l| l.contains("channel=cmds by=")).collect();
    assert_eq!(applied.len(), 2, "{log}");
    assert!(
        applied[0].contains("channel=cmds by=moddy")
            && applied[0].contains("raffles paused/resumed from chat paused=true"),
        "{log}"
    );
    assert!(
        applied[1].contains("channel=cmds by=cmds") && applied[1].contains("!raffle status requested"),
        "{log}"
    );
    let (paused, raffles): (bool, i64) = {
        let row = app
            .database
            .client()
            .await
            .query_one(
                "SELECT paused, (SELECT count(*) FROM raffles) FROM channels WHERE login = 'cmds'",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(paused, "the moderator's !RAFFLE pause reached the engine");
    assert_eq!(raffles, 0, "the viewer's !raffle now (sent first) never arrives");
    // Everyone who typed is still present.
    app.wait_for_presence("cmds", "three senders", |rows| rows.len() == 3)
        .await;
    app.stop().await;
}

#[tokio::test]
async fn channels_added_or_removed_while_running_are_joined_or_parted() {
    let mut app = TestApp::builder().twitch(streamer()).channels(&["first"]).start().await;
    // Connecting the streamer adds their channel while running.
    app.connect_streamer().await;
    app.irc.wait_joined("twitchdev", 1, DEADLINE).await;
    app.chat("twitchdev", "five", "hi");
    app.wait_for_presence("twitchdev", "a viewer in the new channel", |rows| {
        rows.iter().any(|r| r.login == "five")
    })
    .await;
    // Disconnecting removes it.
    let reply = app
        .disconnect("twitchdev", Some(&format!("Bearer {ADMIN_TOKEN}")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.irc
        .wait_until("PART #twitchdev", DEADLINE, |irc| !irc.is_joined("twitchdev"))
        .await;
    assert!(app.irc.received().iter().any(|l| l == "PART #twitchdev"));
    assert!(app.irc.is_joined("first"), "the other channel stays");
    app.stop().await;
}

#[tokio::test]
async fn server_ping_is_answered_and_login_is_anonymous() {
    let mut app = chat_app("pings").await;
    app.irc.send_ping("tmi.twitch.tv");
    app.irc
        .wait_until("a PONG", DEADLINE, |irc| {
            irc.received().iter().any(|l| l.starts_with("PONG"))
        })
        .await;
    let received = app.irc.received();
    assert!(received.iter().any(|l| l.starts_with("NICK justinfan")), "{received:?}");
    assert!(
        !received.iter().any(|l| l.starts_with("PASS")),
        "anonymous login sends no password"
    );
    assert!(received.iter().any(|l| l.starts_with("CAP REQ")));
    app.stop().await;
}

/// The tracker on its own: what it holds when shutdown comes is written.
/// (In the app, shutdown stops chat first and flushes presence last.)
#[tokio::test]
async fn tracker_flushes_what_it_holds_on_shutdown() {
    use kinoyubot::channel::ChannelLogin;
    use kinoyubot::presence::batch::PresenceEvent;
    use kinoyubot::presence::batch::PresenceUpdate;
    use kinoyubot::presence::tracker::PresenceTracker;
    use tokio_util::sync::CancellationToken;

    let database = TestDatabase::migrated().await;
    let (tracker, handle) = PresenceTracker::new(database.store());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(tracker.run(shutdown.clone()));
    let update = PresenceUpdate {
        channel: ChannelLogin::parse("flushy").unwrap(),
        user_id: "7".into(),
        login: "seven".into(),
        display_name: "Seven".into(),
        is_subscriber: true,
        is_vip: false,
        is_moderator: false,
        is_broadcaster: false,
        seen_at: Utc::now(),
    };
    handle.send(vec![PresenceEvent::Message(update)]).await.unwrap();
    drop(handle);
    shutdown.cancel();
    task.await.unwrap();
    let rows = database.presence("flushy").await.expect("readable");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].user_id.as_str(), rows[0].is_subscriber), ("7", true));
}

#[tokio::test]
async fn fake_irc_speaks_enough_twitch_for_a_raw_client() {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    let irc = FakeIrc::start().await;
    let stream = tokio::net::TcpStream::connect(irc.url().trim_start_matches("tcp://"))
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    write
        .write_all(b"CAP REQ :twitch.tv/tags twitch.tv/commands\r\nPASS SCHMOOPIIE\r\nNICK justinfan123\r\nJOIN #raw\r\nPING :hello\r\n")
        .await
        .unwrap();
    let mut lines = BufReader::new(read).lines();
    let mut got = Vec::new();
    while !got.iter().any(|l: &String| l.contains("PONG")) {
        let line = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.push(line);
    }
    let room = irc.room_id("raw");
    assert_eq!(
        got,
        vec![
            ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands".to_owned(),
            ":tmi.twitch.tv 001 justinfan123 :Welcome, GLHF!".to_owned(),
            ":tmi.twitch.tv 002 justinfan123 :Your host is tmi.twitch.tv".to_owned(),
            ":tmi.twitch.tv 003 justinfan123 :This server is rather new".to_owned(),
            ":tmi.twitch.tv 004 justinfan123 :-".to_owned(),
            ":tmi.twitch.tv 375 justinfan123 :-".to_owned(),
            ":tmi.twitch.tv 372 justinfan123 :You are in a maze of twisty passages, all alike.".to_owned(),
            ":tmi.twitch.tv 376 justinfan123 :>".to_owned(),
            ":justinfan123!justinfan123@justinfan123.tmi.twitch.tv JOIN #raw".to_owned(),
            ":justinfan123.tmi.twitch.tv 353 justinfan123 = #raw :justinfan123".to_owned(),
            ":justinfan123.tmi.twitch.tv 366 justinfan123 #raw :End of /NAMES list".to_owned(),
            format!(
                "@emote-only=0;followers-only=-1;r9k=0;room-id={room};slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #raw"
            ),
            ":tmi.twitch.tv PONG tmi.twitch.tv :hello".to_owned(),
        ]
    );
    irc.wait_joined("raw", 1, DEADLINE).await;
    assert_eq!(irc.received()[1], "PASS SCHMOOPIIE");
}

#[tokio::test]
async fn app_joins_configured_channels_and_records_presence() {
    let mut app = chat_app("appchan").await;
    let room = app.irc.room_id("appchan");
    app.say("appchan", &privmsg("appchan", &room, "77", "viewer77", "hello app"));
    app.say("appchan", &format!(
        "@badge-info=;badges=broadcaster/1;color=;display-name=AppChan;emotes=;flags=;id=3;mod=0;room-id={room};subscriber=0;tmi-sent-ts=1;turbo=0;user-id={room};user-type= :appchan!appchan@appchan.tmi.twitch.tv PRIVMSG #appchan :!raffle now"
    ));
    app.wait_for_presence("appchan", "both senders", |rows| rows.len() == 2)
        .await;
    // The broadcaster's `!raffle now` went through the raffle engine.
    app.database
        .wait_count(
            "SELECT count(*) FROM raffles WHERE trigger = 'chat'",
            1,
            "!raffle now to draw",
        )
        .await;
    assert_eq!(app.database.count("SELECT count(*) FROM raffles").await, 1);
    // The chat side of /metrics moved (the recorder is per process, so other
    // tests may have added to the counters too; they never go down).
    let metrics = app.get("/metrics").await.body;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(value("kinoyubot_chat_messages_total") >= 2.0, "{metrics}");
    assert!(value("kinoyubot_presence_flushes_total") >= 1.0, "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn a_database_outage_is_logged_once_when_it_starts_and_once_when_it_ends() {
    // The app runs on this test's single thread, so this captures its log
    // (and only this test's).
    let (logs, guard) = capture_logs();
    let mut app = chat_app("logonce").await;
    let room = app.irc.room_id("logonce");
    app.say("logonce", &privmsg("logonce", &room, "1", "first", "hi"));
    app.wait_for_presence("logonce", "the first viewer", |rows| rows.len() == 1)
        .await;

    let killer = app.database.client().await;
    app.database.refuse_connections().await;
    terminate_other_connections(&killer).await;
    for n in 2..=20 {
        app.say(
            "logonce",
            &privmsg("logonce", &room, &n.to_string(), &format!("viewer{n}"), "hi"),
        );
    }
    // Several failed flushes happen while the database is away (sabotage
    // window, not synchronisation): each must not log again.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    app.database.allow_connections().await;
    app.wait_for_presence("logonce", "every viewer after the outage", |rows| rows.len() == 20)
        .await;
    app.stop().await;
    drop(guard);

    assert_eq!(
        logs.count("could not write presence; buffering and retrying"),
        1,
        "one warning per outage"
    );
    assert_eq!(logs.count("database reachable again"), 1, "one line when it ends");
}
