//! The `kinoyubot` command line (SPEC §2) and what each command does.
//!
//! Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or input.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::app::App;
use crate::catalog::{CliText, ItemsText, Language, table_words};
use crate::channel::ChannelLogin;
use crate::clock::Clock;
use crate::config::{ConfigError, Settings, SettingsArgs, load_items};
use crate::raffle::items::ItemsError;
use crate::raffle::{Outcome, RaffleEngine, RaffleError, RaffleRecord, RoundResult, Trigger, Verification, Winner};
use crate::store::migrate::Report;
use crate::store::{ChannelRecord, Database};

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
    /// A channel's own prize list: import it from an items file, or export it
    Items {
        /// What to do with it.
        #[command(subcommand)]
        action: ItemsCommand,
    },
}

/// `kinoyubot items …` (SPEC §13).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ItemsCommand {
    /// Validate an items file and make it the channel's own prize list
    Import {
        /// Channel login
        #[arg(long, value_name = "NAME")]
        channel: String,
        /// Items file (the format of ITEMS_FILE)
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the prize list the channel draws from as an items file
    Export {
        /// Channel login
        #[arg(long, value_name = "NAME")]
        channel: String,
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
    /// `verify` found a difference (already printed): exit code 1.
    #[error("the raffle does not verify")]
    Mismatch,
    /// Anything else: exit code 1.
    #[error("{0:#}")]
    Runtime(#[from] anyhow::Error),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Config(_) | Failure::Input(_) => ExitCode::from(2),
            Failure::Runtime(_) | Failure::Mismatch => ExitCode::from(1),
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
            let login = ChannelLogin::parse(&channel).map_err(|e| Failure::Input(format!("--channel: {e}")))?;
            draw(&settings, &login).await
        }
        Command::Verify { raffle_id } => {
            let id = raffle_id
                .parse::<i64>()
                .map_err(|_| Failure::Input(format!("RAFFLE_ID: {raffle_id:?} is not a raffle id (a whole number)")))?;
            verify(&settings, id).await
        }
        Command::CheckItems { file } => {
            let path = file.unwrap_or_else(|| settings.items_file.clone());
            let table = load_items(&path).map_err(|e| items_failure(settings.language, &e))?;
            let language = settings.language;
            println!(
                "{}",
                language.say(&CliText::ItemsValid {
                    path: &path.display().to_string(),
                    count: table.items().len(),
                })
            );
            print!("{}", table.render_table_in(&table_words(language)));
            Ok(())
        }
        Command::Items { action } => match action {
            ItemsCommand::Import { channel, file } => {
                let login = ChannelLogin::parse(&channel).map_err(|e| Failure::Input(format!("--channel: {e}")))?;
                import_items(&settings, &login, &file).await
            }
            ItemsCommand::Export { channel } => {
                let login = ChannelLogin::parse(&channel).map_err(|e| Failure::Input(format!("--channel: {e}")))?;
                export_items(&settings, &login).await
            }
        },
    }
}

/// The channel with this login, or bad input saying it is unknown.
async fn known_channel(
    settings: &Settings,
    database: &Database,
    login: &ChannelLogin,
) -> Result<ChannelRecord, Failure> {
    database
        .store()
        .find_channel(login)
        .await
        .context("could not read the channel")?
        .ok_or_else(|| {
            Failure::Input(settings.language.say(&CliText::UnknownChannel {
                channel: login.as_str(),
            }))
        })
}

/// `items import`: validates the file like `check-items` (exit 2 naming
/// the item), then writes it as the channel's own list by the rules of the
/// items file's synchronisation, and prints the list's table.
async fn import_items(settings: &Settings, login: &ChannelLogin, file: &std::path::Path) -> Result<(), Failure> {
    let language = settings.language;
    let table = load_items(file).map_err(|e| items_failure(language, &e))?;
    with_database(settings, async |database: &Database, _: &Report| {
        let channel = known_channel(settings, database, login).await?;
        let list = database
            .store()
            .set_channel_items(channel.id, Some(&table))
            .await
            .context("could not store the channel's prize list")?;
        tracing::info!(channel = %channel.login, items = list.items.len(), "channel prize list imported");
        println!(
            "{}",
            language.say(&CliText::ItemsImported {
                path: &file.display().to_string(),
                channel: login.as_str(),
                count: list.items.len(),
            })
        );
        print!("{}", list.live_table().render_table_in(&table_words(language)));
        Ok(())
    })
    .await
}

/// `items export`: the list the channel draws from as an items file on
/// stdout, its source in a comment and on stderr.
async fn export_items(settings: &Settings, login: &ChannelLogin) -> Result<(), Failure> {
    let language = settings.language;
    with_database(settings, async |database: &Database, _: &Report| {
        let channel = known_channel(settings, database, login).await?;
        let list = database
            .store()
            .prize_list(channel.id)
            .await
            .context("could not read the channel's prize list")?;
        let source = CliText::ItemsSource {
            channel: login.as_str(),
            source: list.source,
        };
        let header = [
            language.say(&CliText::ItemsExportTitle {
                channel: login.as_str(),
            }),
            format!("source: {}", list.source.as_str()),
            language.say(&CliText::ItemsReimport {
                channel: login.as_str(),
            }),
        ];
        print!(
            "{}",
            list.to_toml(&header, |left| language
                .say(&CliText::ItemsLeft { count: i64::from(left) }))
        );
        eprintln!("{}", language.say(&source));
        if list.items.is_empty() {
            eprintln!("{}", language.say(&CliText::ItemsNone));
        }
        Ok(())
    })
    .await
}

/// A prize list that cannot be used: bad input, said in `LANGUAGE` with
/// its hint.
fn items_failure(language: Language, error: &ItemsError) -> Failure {
    Failure::Input(language.say(&ItemsText(error)))
}

/// Maps a start-up error to its exit code: a setting at fault anywhere in
/// the chain (the Discord bot token, say) is bad configuration, a bad items
/// file is bad input.
fn classify(error: anyhow::Error, language: Language) -> Failure {
    if let Some(config) = error.chain().find_map(|cause| cause.downcast_ref::<ConfigError>()) {
        return Failure::Config(config.clone());
    }
    match error.downcast_ref::<ItemsError>() {
        Some(items_error) => items_failure(language, items_error),
        None => Failure::Runtime(error),
    }
}

/// Opens and migrates the database for a one-shot command, runs `work`
/// with what the migration did, then closes it (stopping the embedded
/// server) whatever happened.
async fn with_database<T, F>(settings: &Settings, work: F) -> Result<T, Failure>
where
    F: AsyncFnOnce(&Database, &Report) -> Result<T, Failure>,
{
    // Beside a running `kinoyubot run`, its embedded server is shared.
    let database = Database::open_beside_run(settings.database_url.as_ref(), &settings.data_dir)
        .await
        .context("could not open the database")?;
    let result = match database.store().migrate().await {
        Ok(report) => work(&database, &report).await,
        Err(e) => Err(Failure::Runtime(
            anyhow::Error::new(e).context("could not migrate the database"),
        )),
    };
    let closed = database.close().await;
    let value = result?;
    closed.context("could not stop the embedded database")?;
    Ok(value)
}

async fn draw(settings: &Settings, login: &ChannelLogin) -> Result<(), Failure> {
    let table = load_items(&settings.items_file).map_err(|e| items_failure(settings.language, &e))?;
    with_database(settings, async |database: &Database, _: &Report| {
        let store = database.store().clone();
        store.sync_items(&table).await.context("could not store the items")?;
        let live = crate::app::live_status_from_settings(settings)?;
        let engine = RaffleEngine::new(store, settings.channel_defaults.clone(), live);
        match engine.run_round(login, Trigger::Manual, None).await {
            Ok(RoundResult::Recorded(record)) => {
                println!("{}", describe_raffle(settings.language, &record));
                let json = serde_json::to_string(&record.to_json()).context("could not encode the raffle")?;
                println!("{json}");
                Ok(())
            }
            Ok(other) => Err(Failure::Runtime(anyhow::anyhow!(
                "the draw was not recorded: {other:?}"
            ))),
            Err(RaffleError::UnknownChannel(_)) => Err(Failure::Input(format!(
                "--channel: unknown channel {login}; it is recorded once the bot has joined its chat (kinoyubot run)"
            ))),
            Err(e) => Err(Failure::Runtime(anyhow::Error::new(e).context("the draw failed"))),
        }
    })
    .await
}

fn describe_raffle(language: Language, record: &RaffleRecord) -> String {
    let (id, channel) = (record.id, record.channel_login.as_str());
    let text = match (record.outcome, &record.winner, &record.item_name) {
        (Outcome::Won, Some(Winner { display_name, .. }), Some(item)) => CliText::RaffleWon {
            id,
            channel,
            winner: display_name,
            item,
            candidates: i64::from(record.candidate_count),
            digest: record.candidates_digest.get(..12).unwrap_or(&record.candidates_digest),
        },
        (Outcome::NoCandidates, _, _) => CliText::RaffleNobody { id, channel },
        (Outcome::NoPrize, _, _) => CliText::RaffleNoPrize {
            id,
            channel,
            candidates: i64::from(record.candidate_count),
        },
        (Outcome::SkippedOffline, _, _) => CliText::RaffleSkipped {
            id,
            channel,
            reason: record.skip_reason.as_deref(),
        },
        // A win recorded without its item or winner (written by hand).
        (Outcome::Won, _, _) => CliText::RaffleWonBare { id, channel },
    };
    language.say(&text)
}

async fn verify(settings: &Settings, id: i64) -> Result<(), Failure> {
    with_database(settings, async |database: &Database, _: &Report| {
        let (record, audit) = database
            .store()
            .raffle_audit(id)
            .await
            .context("could not read the raffle")?
            .ok_or_else(|| Failure::Input(format!("RAFFLE_ID: there is no raffle {id}")))?;
        let redraw = match record.redraw_of {
            Some(parent) => database
                .store()
                .redraw_audit(parent)
                .await
                .context("could not read the round this raffle redraws")?,
            None => None,
        };
        match crate::raffle::verify_redraw(&record, &audit, redraw.as_ref()) {
            Verification::Verified => {
                println!("{}", settings.language.say(&CliText::Verified));
                println!("{}", describe_raffle(settings.language, &record));
                Ok(())
            }
            Verification::SkippedOffline => {
                println!("{}", settings.language.say(&CliText::VerifiedSkipped));
                Ok(())
            }
            Verification::Mismatch(problems) => {
                println!("{}", settings.language.say(&CliText::Mismatch { id }));
                for problem in &problems {
                    println!("  {problem}");
                }
                Err(Failure::Mismatch)
            }
        }
    })
    .await
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
    let language = settings.language;
    let app = App::build(settings, Clock::system())
        .await
        .map_err(|e| classify(e, language))?;
    app.run_until_stopped(shutdown)
        .await
        .map_err(|e| classify(e, language))?;
    Ok(())
}

async fn migrate(settings: &Settings) -> Result<(), Failure> {
    with_database(settings, async |_: &Database, report: &Report| {
        let language = settings.language;
        if report.applied.is_empty() {
            println!(
                "{}",
                language.say(&CliText::SchemaUpToDate {
                    version: report.current
                })
            );
        } else {
            println!(
                "{}",
                language.say(&CliText::MigrationsApplied {
                    applied: &format!("{:?}", report.applied),
                    version: report.current,
                })
            );
        }
        Ok(())
    })
    .await
}
