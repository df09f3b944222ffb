//! `kinoyubot`: parses the command line, sets up logging and hands over to
//! [`kinoyubot::cli::execute`].

use std::process::ExitCode;

use clap::Parser as _;
use kinoyubot::cli::{Cli, execute};
use kinoyubot::config::Settings;

fn main() -> ExitCode {
    // `.env` fills in variables the environment does not set; flags win over both.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: .env: {e}");
        return ExitCode::from(2);
    }
    let mut cli = Cli::parse();
    // Secrets are never flags: the environment (with `.env`) or `NAME_FILE`.
    if let Err(e) = cli.settings.read_secrets(|name| std::env::var(name).ok()) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let settings = match Settings::from_args(cli.settings) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    kinoyubot::telemetry::init(&settings.rust_log, settings.log_format, std::io::stderr);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(execute(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}
