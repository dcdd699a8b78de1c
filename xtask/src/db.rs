//! `cargo xtask db ...`: the local database.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use pgshift::local::Started;
use pgshift::pgbin::PgBin;
use pgshift::target::LOCAL_ENV;
use pgshift::UsageError;

use crate::context::Ctx;

#[derive(Subcommand)]
pub enum DbCommand {
    /// Start the local database (creating it on first use) and print its URL.
    Up,
    /// Stop the local database; its data is kept.
    Down {
        /// Also delete the data (the docker volume, or the embedded cluster's folder).
        #[arg(long)]
        volumes: bool,
    },
    /// Backend, state, URL (redacted), server version and data location.
    Status,
    /// Print the local database URL (password redacted unless --reveal).
    Url {
        /// Print the password too, for scripts.
        #[arg(long)]
        reveal: bool,
    },
    /// Open psql on the target database (the local one unless --env); arguments after `--` go to psql.
    Psql {
        /// Arguments passed to psql as they are (after `--`), e.g. `-c "select 1"`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print the last lines of the server log.
    Logs {
        /// How many lines.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
    },
}

pub async fn run(ctx: &Ctx, command: DbCommand) -> Result<ExitCode> {
    let command = match command {
        DbCommand::Psql { args } => return psql(ctx, args),
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
        DbCommand::Up => {
            let started = backend.up(config).await?;
            let url = backend.url(config);
            match started {
                Started::Started => {
                    ctx.note(&format!("local database ({}) started", backend.name()))
                }
                Started::AlreadyRunning => ctx.note(&format!(
                    "local database ({}) is already running",
                    backend.name()
                )),
            }
            println!("{url}");
        }
        DbCommand::Down { volumes } => {
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
        }
        DbCommand::Status => {
            let status = backend.status(config).await;
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&status)?);
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
        DbCommand::Url { reveal } => {
            let url = backend.url(config);
            println!(
                "{}",
                if reveal {
                    url.expose().to_string()
                } else {
                    url.to_string()
                }
            );
        }
        DbCommand::Psql { .. } => unreachable!("handled above"),
        DbCommand::Logs { lines } => {
            println!("{}", backend.logs(lines)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl DbCommand {
    fn name(&self) -> &'static str {
        match self {
            DbCommand::Up => "up",
            DbCommand::Down { .. } => "down",
            DbCommand::Status => "status",
            DbCommand::Url { .. } => "url",
            DbCommand::Psql { .. } => "psql",
            DbCommand::Logs { .. } => "logs",
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
    command
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
