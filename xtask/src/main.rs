//! `cargo xtask`: the pgshift command line. Parses arguments and calls into the `pgshift`
//! library; one module per command.

mod bench;
mod context;
mod db;
mod doctor;
mod generate;
mod migrate;
mod watch;

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use context::Ctx;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
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
    /// Check tools, versions, config and connectivity; say how to fix each problem.
    Doctor(doctor::Args),
    /// Create an empty migration file (or an .up.sql/.down.sql pair).
    MigrateNew(migrate::NewArgs),
    /// Apply pending migrations to the local database, then regenerate the bindings.
    MigrateDev(migrate::DevArgs),
    /// Applied, pending, failed, modified, missing and out-of-order migrations.
    MigrateStatus(migrate::StatusArgs),
    /// Apply pending migrations only: never creates, resets or generates.
    MigrateDeploy(migrate::DeployArgs),
    /// Local only: drop and recreate the database, reapply every migration.
    MigrateReset(migrate::ResetArgs),
    /// Record the outcome of a failed migration after a manual repair.
    MigrateResolve(migrate::ResolveArgs),
    /// Revert applied migrations with their .down.sql files, newest first.
    MigrateDown(migrate::DownArgs),
    /// Regenerate the typed Rust bindings from the target database (the local one unless --env).
    Generate(generate::Args),
    /// Watch the migrations folder and keep the local database and bindings in sync.
    Watch(watch::WatchArgs),
    /// `db up`, `migrate-dev`, then `watch`.
    Dev(watch::WatchArgs),
    /// Run the watcher daemon in the background.
    #[command(subcommand)]
    Daemon(watch::DaemonCommand),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let env_explicit = env_given(&matches);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        // The daemon's log lines carry the time of each event.
        Command::Watch(_) | Command::Dev(_) | Command::Daemon(_) => pgshift_daemon::init_logging(),
        _ => context::init_tracing(cli.quiet, cli.verbose),
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        // doctor reports a pgshift.toml that does not load as a failed check, so it runs
        // before the context (which needs the config) is built.
        let command = match cli.command {
            Command::Doctor(args) => return doctor::run(cli.json, &cli.env, args).await,
            command => command,
        };
        let mut ctx = Ctx::new(cli.env, cli.json, cli.yes, cli.quiet)?;
        ctx.env_explicit = env_explicit;
        match command {
            Command::Db(command) => db::run(&ctx, command).await,
            Command::Doctor(_) => unreachable!("doctor runs before the context"),
            Command::MigrateNew(args) => migrate::new(&ctx, args).await,
            Command::MigrateDev(args) => migrate::dev(&ctx, args).await,
            Command::MigrateStatus(args) => migrate::status(&ctx, args).await,
            Command::MigrateDeploy(args) => migrate::deploy(&ctx, args).await,
            Command::MigrateReset(args) => migrate::reset(&ctx, args).await,
            Command::MigrateResolve(args) => migrate::resolve(&ctx, args).await,
            Command::MigrateDown(args) => migrate::down(&ctx, args).await,
            Command::Generate(args) => generate::run(&ctx, args).await,
            Command::Watch(args) => watch::watch(&ctx, args).await,
            Command::Dev(args) => watch::dev(&ctx, args).await,
            Command::Daemon(command) => watch::daemon(&ctx, command).await,
            Command::Bench(command) => bench::run(&ctx, command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => context::report(&error),
    }
}

/// Whether `--env` was on the command line, before or after the subcommand (a global flag
/// is recorded in the matches of the command it followed).
fn env_given(matches: &clap::ArgMatches) -> bool {
    matches.value_source("env") == Some(ValueSource::CommandLine)
        || matches.subcommand().is_some_and(|(_, sub)| env_given(sub))
}
