//! The binary's command line: settings from flags, environment and `.env`,
//! and exit code 2 with one line naming the setting at fault.

use crate::helpers::repo_path;
use crate::process::kinoyubot;

#[tokio::test]
async fn help_lists_every_command_of_the_spec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path()).arg("--help").output().await;
    assert_eq!(output.code, Some(0));
    for command in ["run", "migrate", "draw", "verify", "check-items", "items"] {
        assert!(
            output.stdout.contains(&format!("  {command} ")),
            "{command} missing from:\n{}",
            output.stdout
        );
    }
}

#[tokio::test]
async fn invalid_environment_value_exits_2_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .arg("migrate")
        .env("RAFFLE_INTERVAL", "banana")
        .output()
        .await;
    assert_eq!(output.code, Some(2));
    assert_eq!(
        output.stderr,
        "error: RAFFLE_INTERVAL: invalid duration \"banana\"; use e.g. 30s, 10m, 1h\n"
    );
}

#[tokio::test]
async fn dotenv_file_is_read_and_the_environment_and_flags_win_over_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".env"), "SUBSCRIBER_LUCK=99\n").expect("write .env");
    let from_file = kinoyubot(dir.path()).arg("migrate").output().await;
    assert_eq!(from_file.code, Some(2));
    assert!(from_file.stderr.contains("SUBSCRIBER_LUCK: invalid value \"99\""));

    // The environment beats .env, and a flag beats the environment: each
    // layer here is invalid in its own way, so the message shows which won.
    let from_env = kinoyubot(dir.path())
        .arg("migrate")
        .env("SUBSCRIBER_LUCK", "77")
        .output()
        .await;
    assert!(from_env.stderr.contains("\"77\""), "{}", from_env.stderr);
    let from_flag = kinoyubot(dir.path())
        .args(["migrate", "--subscriber-luck", "55"])
        .env("SUBSCRIBER_LUCK", "77")
        .output()
        .await;
    assert!(from_flag.stderr.contains("\"55\""), "{}", from_flag.stderr);
}

#[tokio::test]
async fn malformed_dotenv_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".env"), "THIS IS NOT=\"closed\n").expect("write .env");
    let output = kinoyubot(dir.path()).arg("migrate").output().await;
    assert_eq!(output.code, Some(2));
    assert!(output.stderr.starts_with("error: .env: "), "{}", output.stderr);
}

#[tokio::test]
async fn secrets_in_bad_settings_are_not_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", "postgres://me:hunter2@db:notaport/x")
        .output()
        .await;
    assert_eq!(output.code, Some(2));
    assert!(output.stderr.starts_with("error: DATABASE_URL: "), "{}", output.stderr);
    assert!(!output.stderr.contains("hunter2"), "{}", output.stderr);
}

#[tokio::test]
async fn bad_channel_flag_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .args(["run", "--channel", "not a login"])
        .output()
        .await;
    assert_eq!(output.code, Some(2));
    assert!(output.stderr.contains("--channel: login"), "{}", output.stderr);
}

#[tokio::test]
async fn check_items_prints_the_table_and_rejects_bad_files_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = kinoyubot(dir.path())
        .arg("check-items")
        .arg(repo_path("items.toml"))
        .output()
        .await;
    assert_eq!(good.code, Some(0), "{}", good.stderr);
    assert!(good.stdout.contains("no prize"), "{}", good.stdout);

    std::fs::write(
        dir.path().join("items.toml"),
        "[[items]]\nname = \"Steam key\"\nprobability = 1.5\n",
    )
    .expect("write");
    let bad = kinoyubot(dir.path()).arg("check-items").output().await;
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr.contains("items.toml") && bad.stderr.contains("Steam key"),
        "{}",
        bad.stderr
    );
}

#[tokio::test]
async fn verify_rejects_a_non_numeric_raffle_id_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path()).args(["verify", "abc"]).output().await;
    assert_eq!(output.code, Some(2));
    assert!(output.stderr.contains("RAFFLE_ID"), "{}", output.stderr);
}

#[tokio::test]
async fn run_with_a_bad_items_file_exits_2_before_starting_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("items.toml"),
        "[[items]]\nname = \"A\"\nprobability = 0.7\n\n[[items]]\nname = \"B\"\nprobability = 0.6\n",
    )
    .expect("write");
    let output = kinoyubot(dir.path())
        .arg("run")
        .env("DATA_DIR", dir.path().join("data"))
        .output()
        .await;
    assert_eq!(output.code, Some(2));
    assert!(
        output.stderr.contains("items.toml") && output.stderr.contains("sum"),
        "{}",
        output.stderr
    );
    assert!(!dir.path().join("data").exists(), "nothing was started");
}

#[tokio::test]
async fn check_items_and_run_reject_a_nul_in_an_item_name_with_exit_2_naming_the_item() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("items.toml"),
        "[[items]]\nname = \"Sticker\"\nprobability = 0.2\n\n[[items]]\nname = \"Steam\\u0000Key\"\nprobability = 0.1\n",
    )
    .expect("write");
    let checked = kinoyubot(dir.path()).arg("check-items").output().await;
    assert_eq!(checked.code, Some(2), "{}", checked.stderr);
    assert!(
        checked.stderr.contains(r#"item 2 "Steam\0Key""#) && checked.stderr.contains("U+0000"),
        "{}",
        checked.stderr
    );
    let run = kinoyubot(dir.path())
        .arg("run")
        .env("DATA_DIR", dir.path().join("data"))
        .output()
        .await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains(r#"item 2 "Steam\0Key""#), "{}", run.stderr);
    assert!(!dir.path().join("data").exists(), "nothing was started");
}

#[tokio::test]
async fn a_secret_given_as_a_flag_exits_2_without_echoing_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (flag, name) in [
        ("--admin-token", "ADMIN_TOKEN"),
        ("--token-key", "TOKEN_KEY"),
        ("--twitch-client-secret", "TWITCH_CLIENT_SECRET"),
        ("--discord-webhook-url", "DISCORD_WEBHOOK_URL"),
    ] {
        let output = kinoyubot(dir.path())
            .args(["migrate", flag, "flag-secret-0123456789abcdef0123456789"])
            .output()
            .await;
        assert_eq!(output.code, Some(2), "{flag}: {}", output.stderr);
        assert!(
            output.stderr.starts_with(&format!("error: {name}: is a secret")),
            "{flag}: {}",
            output.stderr
        );
        assert!(
            !output.stderr.contains("flag-secret"),
            "{flag} echoed: {}",
            output.stderr
        );
    }
}

#[tokio::test]
async fn secrets_are_read_from_a_file_named_by_the_file_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("admin-token");
    std::fs::write(&secret, "short\n").expect("write");
    // The file's contents are what is checked: too short, exit 2.
    let output = kinoyubot(dir.path())
        .arg("migrate")
        .env("ADMIN_TOKEN_FILE", &secret)
        .output()
        .await;
    assert_eq!(output.code, Some(2));
    assert!(
        output
            .stderr
            .starts_with("error: ADMIN_TOKEN: must be at least 32 characters"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("openssl rand -hex 32"), "{}", output.stderr);
    assert!(!output.stderr.contains("short"), "{}", output.stderr);

    let missing = kinoyubot(dir.path())
        .arg("migrate")
        .env("TOKEN_KEY_FILE", dir.path().join("absent"))
        .output()
        .await;
    assert_eq!(missing.code, Some(2));
    assert!(
        missing
            .stderr
            .starts_with("error: TOKEN_KEY: cannot read TOKEN_KEY_FILE file"),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn a_short_admin_token_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .arg("migrate")
        .env("ADMIN_TOKEN", "a")
        .output()
        .await;
    assert_eq!(output.code, Some(2));
    assert!(
        output
            .stderr
            .starts_with("error: ADMIN_TOKEN: must be at least 32 characters"),
        "{}",
        output.stderr
    );
}

#[tokio::test]
async fn a_missing_argument_is_named_alone_in_the_usage_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path()).arg("draw").output().await;
    assert_eq!(output.code, Some(2));
    assert!(output.stderr.contains("  --channel <NAME>\n"), "{}", output.stderr);
    assert!(
        output.stderr.contains("Usage: kinoyubot draw --channel <NAME>\n"),
        "{}",
        output.stderr
    );
    // None of the global settings crowd the usage line.
    assert!(!output.stderr.contains("--raffle-interval"), "{}", output.stderr);
}

#[tokio::test]
async fn check_items_gives_hints_for_percentages_and_decimal_commas() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (written, hint) in [
        ("probability = 5", "write 0.05 for 5 %"),
        ("probability = 0,05", "use a dot: 0.05"),
    ] {
        let file = dir.path().join("items.toml");
        std::fs::write(&file, format!("[[items]]\nname = \"Key\"\n{written}\n")).expect("write");
        let output = kinoyubot(dir.path()).args(["check-items"]).arg(&file).output().await;
        assert_eq!(output.code, Some(2), "{written}: {}", output.stderr);
        assert!(output.stderr.contains(hint), "{written}: {}", output.stderr);
    }
}
