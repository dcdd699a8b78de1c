//! `cargo xtask db ...`: the local database.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use pgshift::local::Started;
use pgshift::pgbin::PgBin;

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
    /// Open psql on the local database; arguments after `--` go to psql.
    Psql {
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
        DbCommand::Psql { args } => {
            let target = ctx.target()?;
            let psql = PgBin::client("psql")?;
            let options = target.url.connect_options();
            let mut command = std::process::Command::new(psql);
            // The connection goes through libpq's environment variables: a password in argv
            // would be visible to every user of the machine in `ps`.
            command
                .env("PGHOST", options.get_host())
                .env("PGPORT", options.get_port().to_string())
                .env("PGUSER", options.get_username())
                .env("PGDATABASE", target.url.database())
                .args(&args);
            if let Some(password) = target.url.password() {
                command.env("PGPASSWORD", password);
            }
            let status = command.status().context("running psql")?;
            return Ok(ExitCode::from(status.code().unwrap_or(1) as u8));
        }
        DbCommand::Logs { lines } => {
            println!("{}", backend.logs(lines)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
