//! `cargo xtask`: the pgshift command line. Parses arguments and calls into the `pgshift`
//! library; one module per command.

mod backup;
mod bench;
mod context;
mod db;
mod deploy;
mod doctor;
mod generate;
mod import;
mod lint;
mod migrate;
mod schema;
mod watch;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use context::{Ctx, EnvFlag, Flags, JsonFlag, LocalEnvFlag, YesFlag};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "pgshift: the PostgreSQL schema workflow of this workspace",
    after_help = "--env, --json and --yes work before or after the command's name, for the \
                  commands that take them (each command's --help lists its own).\n\
                  Exit codes: 0 success; 1 failure; 2 usage or configuration error; \
                  migrate-status --exit-code: 3 pending, 4 failed/modified/missing, 5 drift \
                  (--drift); migrate-diff --exit-code: 2 when the two states differ.\n\
                  Example: cargo xtask migrate-status --env staging",
    version
)]
struct Cli {
    /// The environment to talk to: `local`, or an [env.NAME] of pgshift.toml.
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// Machine-readable output on stdout (human text goes to stderr).
    #[arg(long)]
    json: bool,
    /// Answer yes to confirmations (non-interactive consent).
    #[arg(long)]
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
    Doctor {
        #[command(flatten)]
        args: doctor::Args,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Create an empty migration file (or an .up.sql/.down.sql pair).
    #[command(after_help = "Example: cargo xtask migrate-new add_doctor_fields")]
    MigrateNew {
        #[command(flatten)]
        args: migrate::NewArgs,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Apply pending migrations to the local database, then regenerate the bindings.
    #[command(after_help = "Example: cargo xtask migrate-dev --name add_doctor_fields")]
    MigrateDev {
        #[command(flatten)]
        args: migrate::DevArgs,
        #[command(flatten)]
        env: LocalEnvFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Applied, pending, failed, modified, missing and out-of-order migrations.
    MigrateStatus {
        #[command(flatten)]
        args: migrate::StatusArgs,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Apply pending migrations only: never creates, resets or generates.
    MigrateDeploy {
        #[command(flatten)]
        args: migrate::DeployArgs,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        yes: YesFlag,
    },
    /// Local only: drop and recreate the database, reapply every migration.
    #[command(after_help = "Example: cargo xtask migrate-reset --force")]
    MigrateReset {
        #[command(flatten)]
        args: migrate::ResetArgs,
        #[command(flatten)]
        env: LocalEnvFlag,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        yes: YesFlag,
    },
    /// Record the outcome of a failed migration after a manual repair.
    #[command(
        after_help = "Before --applied on another environment, the file's SQL is tried on the \
                      local database in a transaction that is rolled back; a warning says when \
                      it fails there or could not be tried.\n\
                      Example: cargo xtask migrate-resolve --env prod --rolled-back 20261125103000_add_doctor_fields"
    )]
    MigrateResolve {
        #[command(flatten)]
        args: migrate::ResolveArgs,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Revert applied migrations with their .down.sql files, newest first.
    #[command(after_help = "Example: cargo xtask migrate-down --steps 2")]
    MigrateDown {
        #[command(flatten)]
        args: migrate::DownArgs,
        #[command(flatten)]
        env: LocalEnvFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Compare two states of the schema (empty, migrations, schema, env:NAME, a URL): a
    /// summary of the changes with their hazards, or the SQL.
    MigrateDiff {
        #[command(flatten)]
        args: schema::DiffArgs,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The schema folder ([paths] schema): `schema pull` writes it from a database.
    #[command(subcommand)]
    Schema(schema::SchemaCommand),
    /// Review migrations for locks, rewrites, data loss and breaking changes (squawk's rules).
    Lint {
        #[command(flatten)]
        args: lint::Args,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Regenerate the typed Rust bindings from the target database (the local one unless --env).
    #[command(after_help = "Example: cargo xtask generate --check")]
    Generate {
        #[command(flatten)]
        args: generate::Args,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The production release: target, transport, preflight, lint, consent, backup, rehearsal on a
    /// copy, apply, verify, then the application's deploy.
    #[command(
        after_help = "Exit codes: 0 deployed (or nothing to do); 1 a step failed (the \
                  output says what state the target is in and what to run next); 2 usage, no \
                  consent, or insecure transport.\n\
                  Example: cargo xtask deploy --prod --yes"
    )]
    Deploy {
        #[command(flatten)]
        args: deploy::Args,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        yes: YesFlag,
    },
    /// Write one migration holding the schema of a database made without pgshift, and record
    /// it as applied there without running it.
    #[command(after_help = "Example: cargo xtask baseline --env prod --yes")]
    Baseline {
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        yes: YesFlag,
    },
    /// Import Prisma, golang-migrate or dbmate migrations (and, with --env, their history).
    #[command(
        after_help = "Example: cargo xtask import prisma --from prisma/migrations --env prod --yes"
    )]
    Import {
        #[command(flatten)]
        args: import::Args,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        yes: YesFlag,
    },
    /// A verified pg_dump archive of the target (the local database unless --env).
    Backup {
        #[command(flatten)]
        args: backup::BackupArgs,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List backups (age, size, migration, verified); `verify FILE`; `prune [--dry-run]`.
    Backups(backup::BackupsArgs),
    /// Restore a backup into the local database (or --env), checked before anything is dropped.
    Restore {
        #[command(flatten)]
        args: backup::RestoreArgs,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        yes: YesFlag,
    },
    /// Watch the migrations folder and keep the local database and bindings in sync.
    #[command(after_help = "Example: cargo xtask watch")]
    Watch {
        #[command(flatten)]
        args: watch::WatchArgs,
        #[command(flatten)]
        env: LocalEnvFlag,
    },
    /// `db up`, `migrate-dev`, then `watch`.
    #[command(after_help = "Example: cargo xtask dev")]
    Dev {
        #[command(flatten)]
        args: watch::WatchArgs,
        #[command(flatten)]
        env: LocalEnvFlag,
    },
    /// Run the watcher daemon in the background.
    #[command(subcommand)]
    Daemon(watch::DaemonCommand),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

impl Command {
    /// The `--env`, `--json` and `--yes` this command takes, as given after its name.
    fn flags(&self) -> Flags {
        let flags = Flags::default();
        match self {
            Command::Db(command) => command.flags(),
            Command::MigrateNew { json, .. } | Command::MigrateDiff { json, .. } => {
                flags.json(json)
            }
            Command::Schema(command) => command.flags(),
            Command::Doctor { env, json, .. }
            | Command::MigrateStatus { env, json, .. }
            | Command::MigrateResolve { env, json, .. }
            | Command::Generate { env, json, .. }
            | Command::Backup { env, json, .. }
            | Command::Lint { env, json, .. } => flags.env(env).json(json),
            Command::Backups(args) => args.flags(),
            Command::Restore { env, json, yes, .. } => flags.env(env).json(json).yes(yes),
            Command::MigrateDeploy { env, json, yes, .. }
            | Command::Import { env, json, yes, .. }
            | Command::Deploy { env, json, yes, .. }
            | Command::Baseline { env, json, yes } => flags.env(env).json(json).yes(yes),
            Command::MigrateDev { env, json, .. } | Command::MigrateDown { env, json, .. } => {
                flags.local_env(env).json(json)
            }
            Command::MigrateReset { env, json, yes, .. } => {
                flags.local_env(env).json(json).yes(yes)
            }
            Command::Watch { env, .. } | Command::Dev { env, .. } => flags.local_env(env),
            Command::Daemon(command) => command.flags(),
            Command::Bench(_) => flags,
        }
    }
}

/// `db up`, `migrate-status`: the subcommand names as typed.
fn command_name(matches: &clap::ArgMatches) -> String {
    let mut names = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        names.push(name.to_string());
        current = sub;
    }
    names.join(" ")
}

fn main() -> ExitCode {
    // Before any thread starts: pgshift's connections and children use only the URL that
    // target resolution decided, never libpq's PGHOST, PGUSER, PGOPTIONS...
    pgshift::target::clear_libpq_env();
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => return usage_error(error),
    };
    let name = command_name(&matches);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    match cli.command {
        // The daemon's log lines carry the time of each event.
        Command::Watch { .. } | Command::Dev { .. } | Command::Daemon(_) => {
            // -q and -v set the daemon's filter too (PGSHIFT_LOG wins), and reach a daemon
            // that `daemon start` runs through its environment.
            let filter = match (cli.quiet, cli.verbose) {
                (true, _) => Some("warn"),
                (false, 0) => None,
                (false, 1) => Some("info,pgshift=debug,pgshift_daemon=debug"),
                _ => Some("debug"),
            };
            if let Some(filter) = filter.filter(|_| std::env::var_os("PGSHIFT_LOG").is_none()) {
                // Single-threaded still: the runtime starts below.
                std::env::set_var("PGSHIFT_LOG", filter);
            }
            pgshift_daemon::init_logging()
        }
        _ => context::init_tracing(cli.quiet, cli.verbose),
    }
    // Whether --env was on the command line (before or after the command's name) rather
    // than defaulted to local.
    let env_explicit = cli.env.is_some() || matches!(cli.command.flags().env, Some(Some(_)));
    let before = context::Before {
        env: cli.env,
        json: cli.json,
        yes: cli.yes,
    };
    // A command that takes --json answers in JSON whatever it refuses; --json given to a
    // command that does not take it is refused without a document.
    let json_document =
        cli.command.flags().json.is_some() && before.json || cli.command.flags().json == Some(true);
    let (mut env, json, yes) = match context::merge(&name, before, cli.command.flags()) {
        Ok(flags) => flags,
        Err(error) => return context::report(&error, context::LOCAL, json_document),
    };
    // `deploy --prod` is `deploy --env prod`; with another --env it is a contradiction.
    let mut env_explicit = env_explicit;
    if let Command::Deploy { args, .. } = &cli.command {
        if args.prod {
            if env_explicit && env != "prod" {
                let error = anyhow::Error::from(pgshift::UsageError::Other(format!(
                    "--prod and --env {env} name different environments; give one of them"
                )));
                return context::report(&error, context::LOCAL, json_document);
            }
            env = "prod".into();
            env_explicit = true;
        }
    }
    // `migrate-diff --exit-code` keeps 2 for "they differ" alone (as Prisma): any error,
    // even one that is a usage error elsewhere (an unset URL variable), exits 1 there, so a
    // CI job never reads a missing secret as a difference.
    let diff_exit_code =
        matches!(&cli.command, Command::MigrateDiff { args, .. } if args.exit_code);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let quiet = cli.quiet;
    let result = runtime.block_on(async {
        // doctor reports a pgshift.toml that does not load as a failed check, so it runs
        // before the context (which needs the config) is built.
        let command = match cli.command {
            Command::Doctor { args, .. } => return doctor::run(json, &env, args).await,
            command => command,
        };
        let mut ctx = Ctx::new(env.clone(), json, yes, quiet)?;
        ctx.env_explicit = env_explicit;
        match command {
            Command::Db(command) => db::run(&ctx, command).await,
            Command::Doctor { .. } => unreachable!("doctor runs before the context"),
            Command::MigrateNew { args, .. } => migrate::new(&ctx, args).await,
            Command::MigrateDev { args, .. } => migrate::dev(&ctx, args).await,
            Command::MigrateStatus { args, .. } => migrate::status(&ctx, args).await,
            Command::MigrateDeploy { args, .. } => migrate::deploy(&ctx, args).await,
            Command::MigrateReset { args, .. } => migrate::reset(&ctx, args).await,
            Command::MigrateResolve { args, .. } => migrate::resolve(&ctx, args).await,
            Command::MigrateDown { args, .. } => migrate::down(&ctx, args).await,
            Command::MigrateDiff { args, .. } => schema::migrate_diff(&ctx, args).await,
            Command::Schema(command) => schema::run(&ctx, command).await,
            Command::Lint { args, .. } => lint::run(&ctx, args).await,
            Command::Generate { args, .. } => generate::run(&ctx, args).await,
            Command::Import { args, .. } => import::run(&ctx, args).await,
            Command::Baseline { .. } => import::baseline(&ctx).await,
            Command::Deploy { args, .. } => deploy::run(&ctx, args).await,
            Command::Backup { args, .. } => backup::backup(&ctx, args).await,
            Command::Backups(args) => backup::backups(&ctx, args).await,
            Command::Restore { args, .. } => backup::restore(&ctx, args).await,
            Command::Watch { args, .. } => watch::watch(&ctx, args).await,
            Command::Dev { args, .. } => watch::dev(&ctx, args).await,
            Command::Daemon(command) => watch::daemon(&ctx, command).await,
            Command::Bench(command) => bench::run(&ctx, command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) if diff_exit_code => {
            context::report(&error, &env, json);
            ExitCode::from(1)
        }
        Err(error) => context::report(&error, &env, json),
    }
}

/// clap's own errors (exit 2) and `--help`/`--version` (exit 0). A command line that asks
/// for --json gets the failure document too, unless --json itself is what clap refused.
fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let printed = error.print();
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        return if printed.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    let refused_json = matches!(
        error.get(ContextKind::InvalidArg),
        Some(ContextValue::String(arg)) if arg.starts_with("--json")
    );
    // `migrate-diff --exit-code` keeps 2 for "the states differ": a usage error is 1 there.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code =
        if args.iter().any(|a| a == "migrate-diff") && args.iter().any(|a| a == "--exit-code") {
            1
        } else {
            2
        };
    if args.iter().any(|arg| arg == "--json") && !refused_json {
        // The message up to clap's usage lines, as one line: "the following required
        // arguments were not provided: --to <TO>".
        let message = error.render().to_string();
        let text = message
            .lines()
            .take_while(|line| !line.starts_with("Usage:"))
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        context::emit_error(text.trim_start_matches("error: "), code);
    }
    ExitCode::from(code)
}
