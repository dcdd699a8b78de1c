//! `cargo xtask lint`: which migrations, which target; the library lints, this prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use pgshift::lint::{self, render, Scope, Source};
use pgshift::UsageError;

use crate::context::Ctx;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col: severity[rule]: message`, the statement, `help:`.
    Human,
    /// GitHub Actions workflow annotations (`::error file=...`).
    Github,
}

#[derive(clap::Args)]
#[command(after_help = "\
Which migrations: FILE... as named; --all every migration of the folder, each on its own; \
otherwise (--pending) the migrations the target (--env, default local) has not applied, in \
order, where a table created by one is new for the next.

Target: with an explicit --env NAME (local included), each table a statement touches is \
measured on that database (reltuples, pg_total_relation_size): a locking statement on an \
empty table is fine, on a table of at least [lint] large_table_rows rows it is an error \
(blocking). Without --env the files alone are judged, as PostgreSQL [lint] postgres_version.

Acknowledge a finding with `-- pgshift:allow RULE reason` on the line before the statement \
(a reason is required); squawk's `-- squawk-ignore RULE` and `-- squawk-ignore-file` work too. \
Acknowledged findings are listed, and never block.

Exit codes: 0 no findings or only warnings and acknowledged errors; 1 a blocking finding (or \
a failure); 2 usage: a file that cannot be read, a bad flag.

Example: cargo xtask lint --env staging")]
pub struct Args {
    /// Migration files to lint (default: the target's pending migrations).
    pub files: Vec<PathBuf>,
    /// Lint the migrations the target has not applied (the default without FILE).
    #[arg(long, conflicts_with_all = ["files", "all"])]
    pub pending: bool,
    /// Lint every migration of the folder, each judged on its own.
    #[arg(long, conflicts_with = "files")]
    pub all: bool,
    /// Apply the pending migrations in a scratch database on the local server (the target's
    /// history replayed first) and record each statement's locks and rewrites.
    #[arg(long, conflicts_with_all = ["files", "all"])]
    pub trace: bool,
    /// Output format (--json prints the JSON report instead).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let config = &ctx.config;
    let pending = args.files.is_empty() && !args.all;
    // Resolved once: the pending migrations and the measures come from the same database.
    let target = if pending || ctx.env_explicit {
        Some(ctx.target()?)
    } else {
        None
    };
    let mut steps = None;
    let (sources, scope) = if !args.files.is_empty() {
        let mut sources = Vec::new();
        for path in &args.files {
            let shown = path.display().to_string();
            let source = Source::read(path, &shown).map_err(|e| {
                UsageError::Other(format!(
                    "cannot read {shown}: {e}; name a migration file, or run `cargo xtask lint` \
                     for the pending migrations"
                ))
            })?;
            sources.push(source);
        }
        (sources, Scope::EachFile)
    } else if args.all {
        let files = pgshift::migrations::files::discover(&config.paths.migrations)?;
        let sources = files.iter().map(|f| Source::of(f, &config.root)).collect();
        (sources, Scope::EachFile)
    } else {
        let target = target.as_ref().expect("resolved above");
        let (applied, pending) = lint::partition(config, target).await?;
        if args.trace {
            let local = ctx.local_target()?;
            steps = Some(lint::trace::trace(&local, &config.root, &applied, &pending).await?);
        }
        let sources = pending
            .iter()
            .map(|f| Source::of(f, &config.root))
            .collect();
        (sources, Scope::Run)
    };
    let (mut findings, env) = match target.filter(|_| ctx.env_explicit) {
        Some(target) => {
            let findings = lint::lint_on_target(config, &target, &sources, scope).await?;
            (findings, Some(target.env))
        }
        None => (lint::lint_static(&sources, config, scope), None),
    };
    if let Some(steps) = &steps {
        lint::apply_trace(&mut findings, steps);
    }
    let files = sources.iter().map(|s| s.file.clone()).collect();
    let mut report = render::Report::new(env, files, findings);
    report.trace = steps;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        match args.format {
            Format::Human => print!("{}", render::human(&report)),
            Format::Github => {
                print!("{}", render::github(&report));
                ctx.note(&render::summary_line(&report));
            }
        }
    }
    Ok(if report.summary.blocking > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
