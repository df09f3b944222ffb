//! Property-based fuzzing of the input parsers: the items file, `!raffle`
//! chat commands and channel logins. Each test prints how many inputs it
//! tried (`cargo test fuzz -- --nocapture` shows it).

use std::cell::Cell;

use kinoyubot::channel::ChannelLogin;
use kinoyubot::raffle::command::RaffleCommand;
use kinoyubot::raffle::items::ItemsFile;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const CASES: u32 = 4_000;

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

/// A TOML value that is sometimes right and often wrong.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (-2.0f64..2.0).prop_map(|f| format!("{f}")),
        any::<i64>().prop_map(|i| i.to_string()),
        Just("nan".to_owned()),
        Just("inf".to_owned()),
        "[ -~]{0,12}".prop_map(|s| format!("{s:?}")),
        Just("true".to_owned()),
        Just("[1, 2]".to_owned()),
    ]
}

fn item_block() -> impl Strategy<Value = String> {
    // Weighted towards valid items so accepted tables are exercised too.
    let name = prop_oneof![
        8 => "[A-Za-z][A-Za-z0-9 ]{0,20}".prop_map(Some),
        1 => prop::option::of("[ -~\\u{00e9}\\u{1F381}]{0,30}"),
    ];
    let probability = prop_oneof![
        6 => (0.001f64..0.25).prop_map(|f| Some(format!("{f}"))),
        2 => prop::option::of(toml_value()),
    ];
    let stock = prop_oneof![
        4 => Just(None),
        2 => (0u32..100).prop_map(|n| Some(n.to_string())),
        1 => prop::option::of(toml_value()),
    ];
    let extra = prop_oneof![8 => Just(None), 1 => ("[a-z]{1,8}", toml_value()).prop_map(Some)];
    (name, probability, stock, extra).prop_map(|(name, probability, stock, extra)| {
        let mut block = String::from("[[items]]\n");
        if let Some(name) = name {
            block.push_str(&format!("name = {name:?}\n"));
        }
        if let Some(p) = probability {
            block.push_str(&format!("probability = {p}\n"));
        }
        if let Some(s) = stock {
            block.push_str(&format!("stock = {s}\n"));
        }
        if let Some((key, value)) = extra {
            block.push_str(&format!("{key} = {value}\n"));
        }
        block
    })
}

#[test]
fn items_parser_never_panics_and_accepted_tables_obey_the_rules() {
    let tried = Cell::new(0u32);
    let accepted = Cell::new(0u32);
    let result = runner().run(&prop::collection::vec(item_block(), 0..6), |blocks| {
        tried.set(tried.get() + 1);
        let text = blocks.concat();
        match ItemsFile::parse("fuzz.toml", &text) {
            Ok(table) => {
                accepted.set(accepted.get() + 1);
                let sum: f64 = table.items().iter().map(|i| i.probability.get()).sum();
                prop_assert!(sum <= 1.0 + 1e-9, "sum {sum} accepted");
                for item in table.items() {
                    let p = item.probability.get();
                    prop_assert!(p > 0.0 && p <= 1.0, "probability {p} accepted");
                    prop_assert!(!item.name.trim().is_empty(), "empty name accepted");
                }
                prop_assert!(table.no_prize_probability() >= 0.0);
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(
                    message.starts_with("fuzz.toml"),
                    "error does not name the file: {message}"
                );
                prop_assert!(!message.contains('\n') || message.lines().count() < 20);
            }
        }
        Ok(())
    });
    println!(
        "items parser: {} generated files tried, {} accepted",
        tried.get(),
        accepted.get()
    );
    result.expect("items parser property");
    assert!(tried.get() >= CASES);
    assert!(accepted.get() > 0, "the generator never produced a valid file");
}

#[test]
fn items_parser_survives_arbitrary_bytes() {
    let tried = Cell::new(0u32);
    let result = runner().run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
        tried.set(tried.get() + 1);
        let text = String::from_utf8_lossy(&bytes);
        let _ = ItemsFile::parse("bytes.toml", &text);
        Ok(())
    });
    println!("items parser: {} arbitrary inputs tried", tried.get());
    result.expect("no panic");
}

#[test]
fn chat_command_parser_accepts_only_the_four_commands() {
    let tried = Cell::new(0u32);
    let words = prop_oneof![
        Just("!raffle".to_owned()),
        Just("!RAFFLE".to_owned()),
        Just("now".to_owned()),
        Just("pause".to_owned()),
        Just("resume".to_owned()),
        Just("status".to_owned()),
        "\\PC{0,8}",
    ];
    let result = runner().run(
        &(prop::collection::vec(words, 0..5), "[ \t\u{3000}]{0,3}"),
        |(parts, separator)| {
            tried.set(tried.get() + 1);
            let message = parts.join(if separator.is_empty() { " " } else { &separator });
            let parsed = RaffleCommand::parse(&message);
            let tokens: Vec<String> = message.split_whitespace().map(str::to_lowercase).collect();
            let expected = match tokens.as_slice() {
                [first, sub] if first == "!raffle" => match sub.as_str() {
                    "now" => Some(RaffleCommand::Now),
                    "pause" => Some(RaffleCommand::Pause),
                    "resume" => Some(RaffleCommand::Resume),
                    "status" => Some(RaffleCommand::Status),
                    _ => None,
                },
                _ => None,
            };
            prop_assert_eq!(parsed, expected, "message {:?}", message);
            Ok(())
        },
    );
    println!("chat command parser: {} messages tried", tried.get());
    result.expect("chat command property");
}

#[test]
fn login_parser_never_panics_and_only_accepts_twitch_logins() {
    let tried = Cell::new(0u32);
    let result = runner().run(&"\\PC{0,40}", |input| {
        tried.set(tried.get() + 1);
        if let Ok(login) = ChannelLogin::parse(&input) {
            let s = login.as_str();
            prop_assert!((1..=25).contains(&s.len()));
            prop_assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
        }
        Ok(())
    });
    println!("login parser: {} inputs tried", tried.get());
    result.expect("login property");
}
