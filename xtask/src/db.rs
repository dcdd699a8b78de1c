//! `cargo xtask db ...`: the local database.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use pgshift::local::Started;
use pgshift::pgbin::PgBin;
use pgshift::target::LOCAL_ENV;
use pgshift::UsageError;

use crate::context::{Ctx, EnvFlag, Flags, JsonFlag, LocalEnvFlag, YesFlag};

#[derive(Subcommand)]
pub enum DbCommand {
    /// Start the local database (creating it on first use) and print its URL.
    #[command(after_help = "Example: cargo xtask db up")]
    Up {
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        env: LocalEnvFlag,
    },
    /// Stop the local database; its data is kept.
    #[command(after_help = "Example: cargo xtask db down --volumes")]
    Down {
        /// Also delete the data (the docker volume, or the embedded cluster's folder).
        #[arg(long)]
        volumes: bool,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        env: LocalEnvFlag,
    },
    /// Backend, state, URL (redacted), server version and data location.
    #[command(after_help = "Example: cargo xtask db status --json")]
    Status {
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        env: LocalEnvFlag,
    },
    /// Print the local database URL (password redacted unless --reveal).
    #[command(after_help = "Example: cargo xtask db url --reveal")]
    Url {
        /// Print the password too, for scripts.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        env: LocalEnvFlag,
    },
    /// Open psql on the target database (the local one unless --env); arguments after `--` go to psql.
    #[command(after_help = "Example: cargo xtask db psql --env staging -- -c 'select 1'")]
    Psql {
        #[command(flatten)]
        env: EnvFlag,
        /// Open psql on a protected environment.
        #[command(flatten)]
        yes: YesFlag,
        /// Refused: psql's output is psql's (kept so that `--json` is not passed to psql).
        #[arg(long, hide = true)]
        json: bool,
        /// Arguments passed to psql as they are (after `--`), e.g. `-c "select 1"`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print the last lines of the server log.
    #[command(after_help = "Example: cargo xtask db logs -n 200")]
    Logs {
        /// How many lines.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        env: LocalEnvFlag,
    },
}

pub async fn run(ctx: &Ctx, command: DbCommand) -> Result<ExitCode> {
    let command =
        match command {
            DbCommand::Psql { json: true, .. } => return Err(UsageError::Other(
                "`db psql` does not take --json; drop it (psql's own output is printed as it is)"
                    .into(),
            )
            .into()),
            DbCommand::Psql { args, .. } => return psql(ctx, args),
            command => command,
        };
    if ctx.env != LOCAL_ENV {
        return Err(UsageError::Other(format!(
            "`db {}` manages the local database only, but --env {} was given; drop --env (only \
             `db psql` opens other environments)",
            command.name(),
            ctx.env
        ))
        .into());
    }
    let backend = ctx.backend()?;
    let config = &ctx.config;
    match command {
        DbCommand::Up { .. } => {
            let started = backend.up(config).await?;
            let url = backend.url(config);
            let started = match started {
                Started::Started => {
                    ctx.note(&format!("local database ({}) started", backend.name()));
                    true
                }
                Started::AlreadyRunning => {
                    ctx.note(&format!(
                        "local database ({}) is already running",
                        backend.name()
                    ));
                    false
                }
            };
            if ctx.json {
                ctx.emit(&serde_json::json!({
                    "backend": backend.name(),
                    "started": started,
                    "url": url.to_string(),
                }))?;
            } else {
                println!("{url}");
            }
        }
        DbCommand::Down { volumes, .. } => {
            let stopped = backend.down(volumes)?;
            if volumes {
                pgshift::local::forget_auto_choice(config)?;
            }
            let what = if stopped {
                "stopped"
            } else {
                "was not running"
            };
            ctx.note(&format!("local database ({}) {what}", backend.name()));
            if volumes {
                ctx.note("its data was deleted");
            }
            ctx.emit(&serde_json::json!({
                "backend": backend.name(),
                "stopped": stopped,
                "data_deleted": volumes,
            }))?;
        }
        DbCommand::Status { .. } => {
            let status = backend.status(config).await;
            if ctx.json {
                ctx.emit(&status)?;
            } else {
                println!("backend:  {}", status.backend);
                println!("running:  {}", if status.running { "yes" } else { "no" });
                println!("url:      {}", status.url);
                println!(
                    "version:  {}",
                    status.server_version.as_deref().unwrap_or("-")
                );
                println!("data:     {}", status.data);
            }
        }
        DbCommand::Url { reveal, .. } => {
            let url = backend.url(config);
            let url = if reveal {
                url.expose().to_string()
            } else {
                url.to_string()
            };
            if ctx.json {
                ctx.emit(&serde_json::json!({ "url": url }))?;
            } else {
                println!("{url}");
            }
        }
        DbCommand::Psql { .. } => unreachable!("handled above"),
        DbCommand::Logs { lines, .. } => {
            let log = backend.logs(lines)?;
            if ctx.json {
                ctx.emit(&serde_json::json!({
                    "backend": backend.name(),
                    "lines": log.lines().collect::<Vec<_>>(),
                }))?;
            } else {
                println!("{log}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl DbCommand {
    fn name(&self) -> &'static str {
        match self {
            DbCommand::Up { .. } => "up",
            DbCommand::Down { .. } => "down",
            DbCommand::Status { .. } => "status",
            DbCommand::Url { .. } => "url",
            DbCommand::Psql { .. } => "psql",
            DbCommand::Logs { .. } => "logs",
        }
    }

    /// The `--env`, `--json` and `--yes` this command takes.
    pub fn flags(&self) -> Flags {
        let flags = Flags::default();
        match self {
            DbCommand::Up { json, env }
            | DbCommand::Down { json, env, .. }
            | DbCommand::Status { json, env }
            | DbCommand::Url { json, env, .. }
            | DbCommand::Logs { json, env, .. } => flags.local_env(env).json(json),
            DbCommand::Psql { env, yes, .. } => flags.env(env).yes(yes),
        }
    }
}

/// Replaces this process with psql on the target, so that Ctrl-C reaches psql alone and
/// its exit code is ours. The URL goes in argv without its password (parameters such as
/// `sslmode` kept); the password goes in `PGPASSWORD`, which other users cannot read.
fn psql(ctx: &Ctx, args: Vec<String>) -> Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let target = ctx.target()?;
    if target.protected && !ctx.yes {
        return Err(UsageError::Other(format!(
            "environment `{}` ({}) is protected; pass --yes to open psql on it",
            target.env,
            target.url.host_and_database()
        ))
        .into());
    }
    let psql = PgBin::client("psql")?;
    let mut command = std::process::Command::new(&psql);
    // No PGHOST, PGSERVICE, PGOPTIONS... of ours: psql connects where the target says.
    pgshift::pgbin::clean_env(&mut command)
        .arg("-d")
        .arg(target.url.without_password())
        .args(&args)
        .env_remove("PGPASSWORD");
    if let Some(password) = target.url.password() {
        command.env("PGPASSWORD", password);
    }
    let error = command.exec();
    Err(error).with_context(|| format!("running {}", psql.display()))
}
