//! `cargo xtask`: the pgshift command line. Parses arguments and calls into the `pgshift`
//! library; one module per command.

mod context;
mod db;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use context::Ctx;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "pgshift: the PostgreSQL schema workflow of this workspace",
    after_help = "Exit codes: 0 success; 1 failure; 2 usage or configuration error; \
                  migrate-status --exit-code: 3 pending, 4 failed/modified/missing.",
    version
)]
struct Cli {
    /// The environment to talk to: `local`, or an [env.NAME] of pgshift.toml.
    #[arg(long, global = true, default_value = "local", value_name = "NAME")]
    env: String,
    /// Machine-readable output on stdout (human text goes to stderr).
    #[arg(long, global = true)]
    json: bool,
    /// Answer yes to confirmations (non-interactive consent).
    #[arg(long, global = true)]
    yes: bool,
    /// Less output.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start, stop and inspect the local database.
    #[command(subcommand)]
    Db(db::DbCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    context::init_tracing(cli.quiet, cli.verbose);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        let ctx = Ctx::new(cli.env, cli.json, cli.yes, cli.quiet)?;
        match cli.command {
            Command::Db(command) => db::run(&ctx, command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => context::report(&error),
    }
}
