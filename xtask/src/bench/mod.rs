//! `cargo xtask bench ...`: benchmarks that print figures. Each runs against a scratch
//! cluster it starts itself (`pgshift::local::ScratchCluster`).

mod backup;
mod codegen;
mod deploy;
mod diff;
mod import;
mod lint;
mod migrate;
mod watch;

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use crate::context::Ctx;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Apply 1,000 migrations with pgshift and with sqlx's Migrator; migrate-status time.
    Migrate(migrate::Args),
    /// Introspect and generate bindings for a 1,000-table schema.
    Codegen(codegen::Args),
    /// Daemon latency from file write to applied + bindings rewritten; idle footprint.
    Watch(watch::Args),
    /// The static lint over 1,000 realistic migrations (library, process, squawk when
    /// installed); --trace of the last 50 on top of replaying the rest.
    Lint(lint::Args),
    /// `import prisma --env` of a 1,000-folder Prisma history, as a process.
    Import(import::Args),
    /// Schema diff of a 1,000-table schema against migra; `--corpus` runs the diff's
    /// correctness corpus instead.
    Diff(diff::Args),
    /// `deploy --env prod` with 1,000 applied and 50 pending migrations on a ~200 MB database:
    /// each step's time and the pipeline's own overhead.
    Deploy(deploy::Args),
    /// pgshift `backup`/`restore` against raw pg_dump/pg_restore on a ~1 GB database
    /// (`--scale 1` for a quick run), single-job and `--jobs 2`.
    Backup(backup::Args),
}

pub async fn run(ctx: &Ctx, command: BenchCommand) -> Result<ExitCode> {
    match command {
        BenchCommand::Migrate(args) => migrate::run(ctx, args).await,
        BenchCommand::Codegen(args) => codegen::run(ctx, args).await,
        BenchCommand::Watch(args) => watch::run(ctx, args).await,
        BenchCommand::Lint(args) => lint::run(ctx, args).await,
        BenchCommand::Import(args) => import::run(ctx, args).await,
        BenchCommand::Diff(args) => diff::run(ctx, args).await,
        BenchCommand::Deploy(args) => deploy::run(ctx, args).await,
        BenchCommand::Backup(args) => backup::run(ctx, args).await,
    }
}
