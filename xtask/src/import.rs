//! `cargo xtask import TOOL`: another tool's migrations (and, with --env, its history)
//! become pgshift's.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use pgshift::import::{self, Tool};

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// The tool whose history to import.
    #[arg(value_enum)]
    pub tool: ToolArg,
    /// The tool's migrations folder (default: prisma/migrations for Prisma, migrations for
    /// golang-migrate, db/migrations for dbmate), relative to the project root.
    #[arg(long, value_name = "FOLDER")]
    pub from: Option<PathBuf>,
    /// Print what would be written and recorded; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ToolArg {
    Prisma,
    GolangMigrate,
    Dbmate,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let tool = match args.tool {
        ToolArg::Prisma => Tool::Prisma,
        ToolArg::GolangMigrate => Tool::GolangMigrate,
        ToolArg::Dbmate => Tool::Dbmate,
    };
    let from = ctx
        .config
        .root
        .join(args.from.unwrap_or_else(|| tool.default_folder().into()));
    // The history is recorded only in an environment named on the command line: a plain
    // `import` writes files and touches no database.
    let target = if ctx.env_explicit {
        let target = ctx.target()?;
        if target.protected && !args.dry_run && !ctx.yes {
            return Err(pgshift::UsageError::Other(format!(
                "environment `{}` is protected: importing writes its history tables; run again with --yes (or --dry-run to see what would be recorded)",
                target.env
            ))
            .into());
        }
        Some(target)
    } else {
        None
    };
    let report = import::import(&ctx.config, tool, &from, target.as_ref(), args.dry_run).await?;
    let verb = if args.dry_run { "would write" } else { "wrote" };
    for file in &report.files {
        let what = if file.new { verb } else { "unchanged" };
        let no_tx = if file.no_transaction {
            " (-- no-transaction)"
        } else {
            ""
        };
        ctx.note(&format!("{what} {}{no_tx}  <- {}", file.file, file.source));
    }
    for folder in &report.without_sql {
        ctx.note(&format!(
            "skipped {folder}: it has no SQL (a data migration in code?); port it by hand if it must run again"
        ));
    }
    if let Some(history) = &report.history {
        let recorded = if args.dry_run {
            "would record"
        } else {
            "recorded"
        };
        ctx.note(&format!(
            "{} ({}): {recorded} {} as applied, {} already recorded, {} failed, {} rolled back, {} pending",
            history.env,
            history.database,
            history.recorded.len(),
            history.already_recorded.len(),
            history.failed.len(),
            history.rolled_back.len(),
            history.pending.len()
        ));
    }
    ctx.emit(&report)?;
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask baseline [--env NAME]`: one migration holding the schema of a database
/// made without pgshift, recorded as applied there.
pub async fn baseline(ctx: &Ctx) -> Result<ExitCode> {
    let target = ctx.target()?;
    if target.protected && !ctx.yes {
        return Err(pgshift::UsageError::Other(format!(
            "environment `{}` is protected: a baseline writes its history tables; run again with --yes",
            target.env
        ))
        .into());
    }
    let report = import::baseline(&ctx.config, &target).await?;
    ctx.note(&format!(
        "wrote {} and recorded it as applied in {} ({}) without running it",
        report.file.display(),
        report.env,
        report.database
    ));
    ctx.emit(&report)?;
    Ok(ExitCode::SUCCESS)
}
