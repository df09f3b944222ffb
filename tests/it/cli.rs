//! The binary's command line: settings from flags, environment and `.env`,
//! and exit code 2 with one line naming the setting at fault.

use crate::helpers::{kinoyubot, repo_path};

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_lists_every_command_of_the_spec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path()).arg("--help").output().expect("runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["run", "migrate", "draw", "verify", "check-items"] {
        assert!(
            help.contains(&format!("  {command} ")),
            "{command} missing from:\n{help}"
        );
    }
}

#[test]
fn invalid_environment_value_exits_2_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .arg("migrate")
        .env("RAFFLE_INTERVAL", "banana")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr_of(&output),
        "error: RAFFLE_INTERVAL: invalid duration \"banana\"; use e.g. 30s, 10m, 1h\n"
    );
}

#[test]
fn dotenv_file_is_read_and_the_environment_and_flags_win_over_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".env"), "SUBSCRIBER_LUCK=99\n").expect("write .env");
    let from_file = kinoyubot(dir.path()).arg("migrate").output().expect("runs");
    assert_eq!(from_file.status.code(), Some(2));
    assert!(stderr_of(&from_file).contains("SUBSCRIBER_LUCK: invalid value \"99\""));

    // The environment beats .env, and a flag beats the environment: each
    // layer here is invalid in its own way, so the message shows which won.
    let from_env = kinoyubot(dir.path())
        .arg("migrate")
        .env("SUBSCRIBER_LUCK", "77")
        .output()
        .expect("runs");
    assert!(stderr_of(&from_env).contains("\"77\""), "{}", stderr_of(&from_env));
    let from_flag = kinoyubot(dir.path())
        .args(["migrate", "--subscriber-luck", "55"])
        .env("SUBSCRIBER_LUCK", "77")
        .output()
        .expect("runs");
    assert!(stderr_of(&from_flag).contains("\"55\""), "{}", stderr_of(&from_flag));
}

#[test]
fn malformed_dotenv_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".env"), "THIS IS NOT=\"closed\n").expect("write .env");
    let output = kinoyubot(dir.path()).arg("migrate").output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).starts_with("error: .env: "),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn secrets_in_bad_settings_are_not_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", "postgres://me:hunter2@db:notaport/x")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(stderr.starts_with("error: DATABASE_URL: "), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn bad_channel_flag_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .args(["run", "--channel", "not a login"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("--channel: login"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn check_items_prints_the_table_and_rejects_bad_files_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = kinoyubot(dir.path())
        .arg("check-items")
        .arg(repo_path("items.toml"))
        .output()
        .expect("runs");
    assert!(good.status.success(), "{}", stderr_of(&good));
    let table = String::from_utf8_lossy(&good.stdout);
    assert!(table.contains("no prize"), "{table}");

    std::fs::write(
        dir.path().join("items.toml"),
        "[[items]]\nname = \"Steam key\"\nprobability = 1.5\n",
    )
    .expect("write");
    let bad = kinoyubot(dir.path()).arg("check-items").output().expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    let stderr = stderr_of(&bad);
    assert!(
        stderr.contains("items.toml") && stderr.contains("Steam key"),
        "{stderr}"
    );
}

#[test]
fn verify_rejects_a_non_numeric_raffle_id_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path()).args(["verify", "abc"]).output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("RAFFLE_ID"), "{}", stderr_of(&output));
}

#[test]
fn run_with_a_bad_items_file_exits_2_before_starting_anything() {
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
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("items.toml") && stderr.contains("sum"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing was started");
}
