//! Chat presence end to end: the real chat listener against the Twitch IRC
//! stand-in, the real tracker and store against a throwaway database.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kinoyubot::channel::ChannelLogin;
use kinoyubot::channel::ChannelSet;
use kinoyubot::presence::batch::PresenceEvent;
use kinoyubot::presence::batch::PresenceUpdate;
use kinoyubot::presence::tracker::PresenceTracker;
use kinoyubot::raffle::command::{ChatCommand, RaffleCommand};
use kinoyubot::store::Store;
use kinoyubot::twitch::irc::ChatListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::fake_irc::FakeIrc;
use crate::helpers::TestDatabase;

/// Generous: the machine is shared, and twitch-irc opens at most one new
/// connection every 2 s.
const DEADLINE: Duration = Duration::from_secs(30);

/// Listener + tracker + stand-in + database, wired like `App` does.
struct Chat {
    irc: FakeIrc,
    database: TestDatabase,
    store: Store,
    channels: ChannelSet,
    commands: mpsc::Receiver<ChatCommand>,
    shutdown: CancellationToken,
    listener: JoinHandle<()>,
    tracker: JoinHandle<()>,
}

fn login(name: &str) -> ChannelLogin {
    ChannelLogin::parse(name).unwrap()
}

impl Chat {
    async fn start(channel: &str) -> Self {
        Self::start_with_room(channel, &crate::fake_irc::default_room_id(channel)).await
    }

    async fn start_with_room(channel: &str, room_id: &str) -> Self {
        let irc = FakeIrc::start().await;
        irc.set_room_id(channel, room_id);
        let (database, store) = TestDatabase::migrated().await;
        let channels = ChannelSet::new([login(channel)]);
        let (command_tx, commands) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let (tracker, handle) = PresenceTracker::new(store.clone());
        let listener = ChatListener::new(irc.server(), channels.clone(), handle, command_tx);
        let tracker = tokio::spawn(tracker.run(shutdown.clone()));
        let listener_shutdown = shutdown.clone();
        let listener = tokio::spawn(async move { listener.run(listener_shutdown).await.unwrap() });
        irc.wait_joined(channel, 1, DEADLINE).await;
        Self {
            irc,
            database,
            store,
            channels,
            commands,
            shutdown,
            listener,
            tracker,
        }
    }

    async fn stop(self) -> (FakeIrc, TestDatabase, Store) {
        self.shutdown.cancel();
        self.listener.await.unwrap();
        self.tracker.await.unwrap();
        (self.irc, self.database, self.store)
    }

    fn say(&self, channel: &str, line: &str) {
        assert_eq!(
            self.irc.send_to_channel(channel, line),
            1,
            "one client is in #{channel}"
        );
    }

    /// Polls the table until `condition` holds (or panics at the deadline).
    async fn wait_rows(
        &self,
        channel: &str,
        what: &str,
        condition: impl Fn(&[StoredPresence]) -> bool,
    ) -> Vec<StoredPresence> {
        wait_rows(&self.database.url, channel, what, condition).await
    }
}

/// A presence row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredPresence {
    user_id: String,
    login: String,
    display_name: String,
    is_subscriber: bool,
    is_vip: bool,
    is_moderator: bool,
    is_broadcaster: bool,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    message_count: i64,
    /// `None`: not banned; `Some(None)`: banned (`infinity`); `Some(Some(t))`:
    /// timed out until `t` (possibly in the past).
    banned_until: Option<Option<DateTime<Utc>>>,
}

/// Every presence row of a channel, by user id, read with a fresh
/// connection (some tests kill connections on purpose).
async fn try_rows(url: &str, channel: &str) -> Result<Vec<StoredPresence>, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT p.user_id, p.login, p.display_name, p.is_subscriber, p.is_vip, p.is_moderator,
                    p.is_broadcaster, p.first_seen, p.last_seen, p.message_count,
                    p.banned_until IS NOT NULL, NULLIF(p.banned_until, 'infinity'::timestamptz)
             FROM presence p JOIN channels c ON c.id = p.channel_id
             WHERE c.login = $1 ORDER BY p.user_id",
            &[&channel],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| StoredPresence {
            user_id: row.get(0),
            login: row.get(1),
            display_name: row.get(2),
            is_subscriber: row.get(3),
            is_vip: row.get(4),
            is_moderator: row.get(5),
            is_broadcaster: row.get(6),
            first_seen: row.get(7),
            last_seen: row.get(8),
            message_count: row.get(9),
            banned_until: row.get::<_, bool>(10).then(|| row.get(11)),
        })
        .collect())
}

async fn rows(url: &str, channel: &str) -> Vec<StoredPresence> {
    try_rows(url, channel).await.unwrap()
}

async fn wait_rows(
    url: &str,
    channel: &str,
    what: &str,
    condition: impl Fn(&[StoredPresence]) -> bool,
) -> Vec<StoredPresence> {
    let end = Instant::now() + DEADLINE;
    loop {
        // Errors count as "not yet": some tests kill connections on purpose.
        let current = try_rows(url, channel).await.ok();
        if let Some(rows) = current
            && condition(&rows)
        {
            return rows;
        }
        assert!(Instant::now() < end, "timed out waiting for presence: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has_user(rows: &[StoredPresence], user_id: &str) -> bool {
    rows.iter().any(|r| r.user_id == user_id)
}

/// A row without its timestamps, for whole-struct comparisons.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    user_id: &'static str,
    login: &'static str,
    display_name: &'static str,
    subscriber: bool,
    vip: bool,
    moderator: bool,
    broadcaster: bool,
    messages: i64,
}

fn seen(rows: &[StoredPresence]) -> Vec<(String, String, String, [bool; 4], i64)> {
    rows.iter()
        .map(|r| {
            (
                r.user_id.clone(),
                r.login.clone(),
                r.display_name.clone(),
                [r.is_subscriber, r.is_vip, r.is_moderator, r.is_broadcaster],
                r.message_count,
            )
        })
        .collect()
}

fn expected(rows: &[Seen]) -> Vec<(String, String, String, [bool; 4], i64)> {
    rows.iter()
        .map(|r| {
            (
                r.user_id.to_owned(),
                r.login.to_owned(),
                r.display_name.to_owned(),
                [r.subscriber, r.vip, r.moderator, r.broadcaster],
                r.messages,
            )
        })
        .collect()
}

/// A PRIVMSG with Twitch's full tag set.
fn privmsg(channel: &str, room_id: &str, user_id: &str, login: &str, text: &str) -> String {
    format!(
        "@badge-info=;badges=;client-nonce=6f1ab1c2d3e4f5a6b7c8d9e0f1a2b3c4;color=#1E90FF;display-name={login};emotes=;first-msg=0;flags=;id=0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e;mod=0;returning-chatter=0;room-id={room_id};subscriber=0;tmi-sent-ts=1764000000000;turbo=0;user-id={user_id};user-type= :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :{text}"
    )
}

const ROOM: &str = "555000111";

#[tokio::test]
async fn replayed_chat_gives_exactly_the_expected_rows() {
    let started: DateTime<Utc> = Utc::now();
    let chat = Chat::start_with_room("kinoyu", ROOM).await;
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
        chat.say("kinoyu", line);
    }
    // Last line: everything before it was processed once its row is there.
    chat.say("kinoyu", &privmsg("kinoyu", ROOM, "99999999", "sentinel", "end"));
    let rows = chat
        .wait_rows("kinoyu", "the sentinel", |rows| has_user(rows, "99999999"))
        .await;
    let finished = Utc::now();
    assert_eq!(
        seen(&rows),
        expected(&[
            Seen {
                user_id: "117166826",
                login: "testaccount_420",
                display_name: "테스트계정420",
                subscriber: true,
                vip: false,
                moderator: true,
                broadcaster: false,
                messages: 1,
            },
            Seen {
                user_id: "29803735",
                login: "jun1orrrr",
                display_name: "JuN1oRRRR",
                subscriber: false,
                vip: false,
                moderator: false,
                broadcaster: false,
                messages: 2,
            },
            Seen {
                user_id: "36029255",
                login: "riotgames",
                display_name: "Riot Games",
                subscriber: true,
                vip: false,
                moderator: false,
                broadcaster: false,
                messages: 1,
            },
            Seen {
                user_id: "36175310",
                login: "tetyys",
                display_name: "TETYYS",
                subscriber: false,
                vip: false,
                moderator: false,
                broadcaster: false,
                messages: 1,
            },
            Seen {
                user_id: "40000001",
                login: "vippy",
                display_name: "Vippy",
                subscriber: false,
                vip: true,
                moderator: false,
                broadcaster: false,
                messages: 1,
            },
            Seen {
                user_id: "555000111",
                login: "kinoyu",
                display_name: "KinoYu",
                subscriber: true,
                vip: false,
                moderator: false,
                broadcaster: true,
                messages: 1,
            },
            Seen {
                user_id: "99999999",
                login: "sentinel",
                display_name: "sentinel",
                subscriber: false,
                vip: false,
                moderator: false,
                broadcaster: false,
                messages: 1,
            },
        ])
    );
    for row in &rows {
        // Stamped on receipt, not with the (old) tmi-sent-ts of the lines.
        assert!(started <= row.first_seen && row.first_seen <= row.last_seen && row.last_seen <= finished);
        assert_eq!(row.banned_until, None);
    }
    // ROOMSTATE taught us the broadcaster's id.
    let channel = chat.store.find_channel(&login("kinoyu")).await.unwrap().unwrap();
    assert_eq!(channel.twitch_user_id.as_deref(), Some(ROOM));
    chat.stop().await;
}

#[tokio::test]
async fn malformed_and_huge_lines_do_not_stop_the_listener() {
    let chat = Chat::start("junk").await;
    let room = crate::fake_irc::default_room_id("junk");
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
        chat.say("junk", line);
    }
    let huge = privmsg("junk", &room, "1", "huge", &"A".repeat(1024 * 1024));
    chat.say("junk", &huge);
    chat.say("junk", &privmsg("junk", &room, "2", "after", "still here"));
    let rows = chat
        .wait_rows("junk", "the message after the junk", |rows| has_user(rows, "2"))
        .await;
    assert!(!has_user(&rows, "1"), "the 1 MB line is discarded");
    assert_eq!(chat.irc.accepted(), 1, "junk must not cause a reconnect");
    assert_eq!(chat.irc.joins("junk"), 1);
    chat.stop().await;
}

#[tokio::test]
async fn listener_rejoins_after_reconnect_and_dropped_connection() {
    let chat = Chat::start("rejoin").await;
    let room = crate::fake_irc::default_room_id("rejoin");
    chat.say("rejoin", &privmsg("rejoin", &room, "1", "one", "before"));
    chat.wait_rows("rejoin", "first message", |rows| has_user(rows, "1"))
        .await;

    // Read in the same chunk as RECONNECT (one write): must not be lost when
    // twitch-irc closes that connection.
    chat.say(
        "rejoin",
        &format!(
            "{}\r\n:tmi.twitch.tv RECONNECT",
            privmsg("rejoin", &room, "10", "ten", "last words")
        ),
    );
    chat.irc.wait_joined("rejoin", 2, DEADLINE).await;
    assert_eq!(chat.irc.accepted(), 2);
    chat.say("rejoin", &privmsg("rejoin", &room, "2", "two", "after reconnect"));
    chat.say("rejoin", &privmsg("rejoin", &room, "1", "one", "me again"));
    chat.wait_rows("rejoin", "messages after RECONNECT", |rows| {
        has_user(rows, "2") && has_user(rows, "10") && rows.iter().any(|r| r.user_id == "1" && r.message_count == 2)
    })
    .await;

    chat.say("rejoin", &privmsg("rejoin", &room, "11", "eleven", "before the drop"));
    chat.irc.drop_connections();
    chat.irc.wait_joined("rejoin", 3, DEADLINE).await;
    chat.say("rejoin", &privmsg("rejoin", &room, "3", "three", "after drop"));
    let rows = chat
        .wait_rows("rejoin", "message after a dropped connection", |rows| {
            has_user(rows, "3")
        })
        .await;
    assert!(has_user(&rows, "11"), "the message read just before the drop is kept");
    assert_eq!(rows.len(), 5);
    chat.stop().await;
}

#[tokio::test]
async fn every_user_survives_database_connections_being_killed() {
    let chat = Chat::start("outage").await;
    let room = crate::fake_irc::default_room_id("outage");
    // `killer` stays connected to the test database throughout; `admin`
    // talks to the server's admin database.
    let killer = chat.database.client().await;
    let admin = chat.database.admin_client().await;
    let terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let say_wave = |wave: i32| {
        for user in 0..40 {
            let id = wave * 1000 + user + 1;
            chat.say(
                "outage",
                &privmsg("outage", &room, &id.to_string(), &format!("user{id}"), "hi"),
            );
        }
    };
    let in_wave = |rows: &[StoredPresence], wave: i32| {
        rows.iter()
            .filter(|r| r.user_id.parse::<i32>().is_ok_and(|id| id / 1000 == wave))
            .count()
    };

    // Connections killed over and over while chat flows: flushes that meet
    // a dead connection fail and are retried.
    say_wave(0);
    for wave in 1..3 {
        killer.query(terminate, &[]).await.unwrap();
        say_wave(wave);
        killer.query(terminate, &[]).await.unwrap();
    }
    chat.wait_rows("outage", "waves 0-2", |rows| rows.len() == 120).await;

    // A real outage: no new connections, existing ones killed.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
            chat.database.name
        ))
        .await
        .unwrap();
    killer.query(terminate, &[]).await.unwrap();
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
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
            chat.database.name
        ))
        .await
        .unwrap();

    let rows = chat
        .wait_rows("outage", "all 200 users", |rows| rows.len() == 200)
        .await;
    for wave in 0..5 {
        assert_eq!(in_wave(&rows, wave), 40, "wave {wave}");
    }
    assert!(rows.iter().all(|r| r.message_count == 1), "each user chatted once");
    chat.stop().await;
}

#[tokio::test]
async fn clearchat_makes_a_user_ineligible_until_they_chat_again() {
    let chat = Chat::start("mods").await;
    let room = crate::fake_irc::default_room_id("mods");
    chat.say("mods", &privmsg("mods", &room, "70948394", "weeb123", "hello"));
    chat.say("mods", &privmsg("mods", &room, "148973258", "fabzeef", "hello"));
    chat.wait_rows("mods", "both viewers", |rows| rows.len() == 2).await;

    let before = Utc::now();
    chat.say(
        "mods",
        &format!(
            "@room-id={room};target-user-id=70948394;tmi-sent-ts=1594561360331 :tmi.twitch.tv CLEARCHAT #mods :weeb123"
        ),
    );
    chat.say(
        "mods",
        &format!("@ban-duration=600;room-id={room};target-user-id=148973258;tmi-sent-ts=1594553828245 :tmi.twitch.tv CLEARCHAT #mods :fabzeef"),
    );
    let rows = chat
        .wait_rows("mods", "ban and timeout", |rows| {
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
    chat.say("mods", &privmsg("mods", &room, "70948394", "weeb123", "i'm back"));
    let rows = chat
        .wait_rows("mods", "unban by chatting", |rows| {
            rows.iter().any(|r| r.user_id == "70948394" && r.message_count == 2)
        })
        .await;
    let back = rows.iter().find(|r| r.user_id == "70948394").unwrap();
    assert_eq!(back.banned_until, None);
    chat.stop().await;
}

#[tokio::test]
async fn raffle_commands_from_moderators_and_broadcaster_reach_the_engine_only() {
    let mut chat = Chat::start("cmds").await;
    let room = crate::fake_irc::default_room_id("cmds");
    // A viewer, even a VIP, cannot command.
    chat.say("cmds", &format!(
        "@badge-info=;badges=vip/1;color=;display-name=Viewer;emotes=;flags=;id=1;mod=0;room-id={room};subscriber=0;tmi-sent-ts=1;turbo=0;user-id=10;user-type=;vip=1 :viewer!viewer@viewer.tmi.twitch.tv PRIVMSG #cmds :!raffle now"
    ));
    chat.say("cmds", &format!(
        "@badge-info=;badges=moderator/1;color=;display-name=Moddy;emotes=;flags=;id=2;mod=1;room-id={room};subscriber=0;tmi-sent-ts=1;turbo=0;user-id=11;user-type=mod :moddy!moddy@moddy.tmi.twitch.tv PRIVMSG #cmds :!RAFFLE pause"
    ));
    chat.say("cmds", &format!(
        "@badge-info=;badges=broadcaster/1;color=;display-name=Cmds;emotes=;flags=;id=3;mod=0;room-id={room};subscriber=0;tmi-sent-ts=1;turbo=0;user-id={room};user-type= :cmds!cmds@cmds.tmi.twitch.tv PRIVMSG #cmds :!raffle status"
    ));
    let first = tokio::time::timeout(DEADLINE, chat.commands.recv())
        .await
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(DEADLINE, chat.commands.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        [first, second],
        [
            ChatCommand {
                channel: login("cmds"),
                command: RaffleCommand::Pause,
                requested_by: "moddy".into(),
            },
            ChatCommand {
                channel: login("cmds"),
                command: RaffleCommand::Status,
                requested_by: "cmds".into(),
            },
        ],
        "the viewer's command (sent first) never arrives"
    );
    // Everyone who typed is still present.
    chat.wait_rows("cmds", "three senders", |rows| rows.len() == 3).await;
    assert!(chat.commands.try_recv().is_err());
    chat.stop().await;
}

#[tokio::test]
async fn channels_added_or_removed_while_running_are_joined_or_parted() {
    let chat = Chat::start("first").await;
    assert!(chat.channels.add(login("second")));
    chat.irc.wait_joined("second", 1, DEADLINE).await;
    let room = crate::fake_irc::default_room_id("second");
    chat.say("second", &privmsg("second", &room, "5", "five", "hi"));
    chat.wait_rows("second", "a viewer in the new channel", |rows| has_user(rows, "5"))
        .await;
    assert!(chat.channels.remove(&login("second")));
    chat.irc
        .wait_until("PART #second", DEADLINE, |irc| !irc.is_joined("second"))
        .await;
    assert!(chat.irc.received().iter().any(|l| l == "PART #second"));
    chat.stop().await;
}

#[tokio::test]
async fn server_ping_is_answered_and_login_is_anonymous() {
    let chat = Chat::start("pings").await;
    chat.irc.send_ping("tmi.twitch.tv");
    chat.irc
        .wait_until("a PONG", DEADLINE, |irc| {
            irc.received().iter().any(|l| l.starts_with("PONG"))
        })
        .await;
    let received = chat.irc.received();
    assert!(received.iter().any(|l| l.starts_with("NICK justinfan")), "{received:?}");
    assert!(
        !received.iter().any(|l| l.starts_with("PASS")),
        "anonymous login sends no password"
    );
    assert!(received.iter().any(|l| l.starts_with("CAP REQ")));
    chat.stop().await;
}

#[tokio::test]
async fn tracker_flushes_what_it_holds_on_shutdown() {
    let (database, store) = TestDatabase::migrated().await;
    let (tracker, handle) = PresenceTracker::new(store.clone());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(tracker.run(shutdown.clone()));
    let update = PresenceUpdate {
        channel: login("flushy"),
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
    let rows = rows(&database.url, "flushy").await;
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
    let room = crate::fake_irc::default_room_id("raw");
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
    use kinoyubot::app::App;
    use kinoyubot::config::{Settings, SettingsArgs};
    let irc = FakeIrc::start().await;
    let database = TestDatabase::create().await;
    let data_dir = crate::helpers::temp_data_dir();
    let settings = Settings::from_args(SettingsArgs {
        database_url: Some(database.url.clone()),
        data_dir: Some(data_dir.path().display().to_string()),
        http_addr: Some("127.0.0.1:0".into()),
        twitch_channels: Some("appchan".into()),
        twitch_irc_server: Some(irc.url()),
        ..SettingsArgs::default()
    })
    .unwrap();
    let app = App::build(settings).await.unwrap();
    let port = app.port();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    irc.wait_joined("appchan", 1, DEADLINE).await;
    let room = crate::fake_irc::default_room_id("appchan");
    irc.send_to_channel("appchan", &privmsg("appchan", &room, "77", "viewer77", "hello app"));
    irc.send_to_channel("appchan", &format!(
        "@badge-info=;badges=broadcaster/1;color=;display-name=AppChan;emotes=;flags=;id=3;mod=0;room-id={room};subscriber=0;tmi-sent-ts=1;turbo=0;user-id={room};user-type= :appchan!appchan@appchan.tmi.twitch.tv PRIVMSG #appchan :!raffle now"
    ));
    wait_rows(&database.url, "appchan", "both senders", |rows| rows.len() == 2).await;
    // The broadcaster's `!raffle now` went through the raffle engine.
    let client = database.client().await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let chat_raffles: i64 = client
            .query_one("SELECT count(*) FROM raffles WHERE trigger = 'chat'", &[])
            .await
            .unwrap()
            .get(0);
        if chat_raffles == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "!raffle now did not draw");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The chat side of /metrics moved (the recorder is per process, so other
    // tests may have added to the counters too; they never go down).
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
    shutdown.cancel();
    tokio::time::timeout(DEADLINE, running).await.unwrap().unwrap().unwrap();
}

/// Collects formatted log lines written on this thread.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap()).matches(needle).count()
    }
}

#[tokio::test]
async fn a_database_outage_is_logged_once_when_it_starts_and_once_when_it_ends() {
    // The tracker runs on this test's single thread, so a thread-local
    // subscriber sees its events (and only this test's).
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let chat = Chat::start("logonce").await;
    let room = crate::fake_irc::default_room_id("logonce");
    chat.say("logonce", &privmsg("logonce", &room, "1", "first", "hi"));
    chat.wait_rows("logonce", "the first viewer", |rows| rows.len() == 1)
        .await;

    let killer = chat.database.client().await;
    let admin = chat.database.admin_client().await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
            chat.database.name
        ))
        .await
        .unwrap();
    killer
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    for n in 2..=20 {
        chat.say(
            "logonce",
            &privmsg("logonce", &room, &n.to_string(), &format!("viewer{n}"), "hi"),
        );
    }
    // Several failed flushes happen while the database is away (sabotage
    // window, not synchronisation): each must not log again.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
            chat.database.name
        ))
        .await
        .unwrap();
    chat.wait_rows("logonce", "every viewer after the outage", |rows| rows.len() == 20)
        .await;
    chat.stop().await;

    assert_eq!(
        logs.count("could not write presence; buffering and retrying"),
        1,
        "one warning per outage"
    );
    assert_eq!(logs.count("database reachable again"), 1, "one line when it ends");
}
