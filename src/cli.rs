//! The `kinoyubot` command line (SPEC §2) and what each command does.
//!
//! Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or input.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::app::App;
use crate::config::{ConfigError, Settings, SettingsArgs};
use crate::domain::channel::ChannelLogin;
use crate::domain::items::ItemTable;
use crate::store::Database;

/// Command-line interface. Every setting is also a flag, and flags win over
/// the environment and `.env`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "kinoyubot",
    version,
    about = "Live Twitch chat giveaways with fair, auditable raffles"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Settings (SPEC §3).
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// The commands of SPEC §2.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Run the bot: migrate, serve the web UI, join chat, raffle, announce
    Run {
        /// Channel to join (repeatable), besides TWITCH_CHANNELS and connected streamers
        #[arg(long = "channel", value_name = "NAME")]
        channels: Vec<String>,
    },
    /// Apply pending database migrations and exit
    Migrate,
    /// Run one raffle now for a channel and print the result
    Draw {
        /// Channel login
        #[arg(long, value_name = "NAME")]
        channel: String,
    },
    /// Recompute a recorded raffle from its stored seed and candidates
    Verify {
        /// Raffle id
        #[arg(value_name = "RAFFLE_ID")]
        raffle_id: String,
    },
    /// Validate an items file and print the effective probability table
    CheckItems {
        /// Items file [default: ITEMS_FILE]
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

/// How a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad configuration or input: exit code 2.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad input other than a setting (a file, an argument): exit code 2.
    #[error("{0}")]
    Input(String),
    /// Anything else: exit code 1.
    #[error("{0:#}")]
    Runtime(#[from] anyhow::Error),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Config(_) | Failure::Input(_) => ExitCode::from(2),
            Failure::Runtime(_) => ExitCode::from(1),
        }
    }
}

/// Runs one command to completion.
///
/// # Errors
///
/// A [`Failure`] carrying the exit code.
pub async fn execute(command: Command, settings: Settings) -> Result<(), Failure> {
    match command {
        Command::Run { channels } => run(settings, &channels).await,
        Command::Migrate => migrate(&settings).await,
        Command::Draw { channel } => {
            ChannelLogin::parse(&channel).map_err(|e| Failure::Input(format!("--channel: {e}")))?;
            Err(not_yet("draw"))
        }
        Command::Verify { raffle_id } => {
            raffle_id
                .parse::<i64>()
                .map_err(|_| Failure::Input(format!("RAFFLE_ID: {raffle_id:?} is not a raffle id (a whole number)")))?;
            Err(not_yet("verify"))
        }
        Command::CheckItems { file } => {
            let path = file.unwrap_or_else(|| settings.items_file.clone());
            let table = ItemTable::load(&path).map_err(|e| Failure::Input(e.to_string()))?;
            println!("{}: {} item(s) valid", path.display(), table.items().len());
            print!("{}", table.render_table());
            Ok(())
        }
    }
}

fn not_yet(command: &str) -> Failure {
    Failure::Runtime(anyhow::anyhow!(
        "`kinoyubot {command}` is not available in this version yet; it arrives with the raffle engine"
    ))
}

async fn run(mut settings: Settings, channels: &[String]) -> Result<(), Failure> {
    for channel in channels {
        let login = ChannelLogin::parse(channel).map_err(|e| Failure::Input(format!("--channel: {e}")))?;
        if !settings.twitch_channels.contains(&login) {
            settings.twitch_channels.push(login);
        }
    }
    // Install the signal handlers before the (possibly slow) start, so a
    // Ctrl-C during start still shuts down cleanly.
    let shutdown = crate::shutdown::on_signal().context("could not install signal handlers")?;
    let app = App::build(settings).await?;
    app.run_until_stopped(shutdown).await?;
    Ok(())
}

async fn migrate(settings: &Settings) -> Result<(), Failure> {
    let database = Database::open(settings.database_url.as_ref(), &settings.data_dir)
        .await
        .context("could not open the database")?;
    let result = database.store().migrate().await;
    let closed = database.close().await;
    let report = result.context("could not migrate the database")?;
    closed.context("could not stop the embedded database")?;
    if report.applied.is_empty() {
        println!("database schema is up to date (version {})", report.current);
    } else {
        println!(
            "applied migrations {:?}; database schema is at version {}",
            report.applied, report.current
        );
    }
    Ok(())
}
