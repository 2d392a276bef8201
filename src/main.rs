use std::process::ExitCode;

use clap::Parser;
use storefront::cli::{self, Cli, Command};
use storefront::config::Settings;
use storefront::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    telemetry::init();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("storefront: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let command = args.command.unwrap_or(Command::Serve { demo: false });
    match cli::run(command, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("storefront: {err}");
            ExitCode::FAILURE
        }
    }
}
