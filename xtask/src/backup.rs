//! `cargo xtask backup`, `backups [verify FILE | prune]` and `restore`: thin wrappers over
//! `pgshift::backup`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use pgshift::backup::{self, BackupOptions, Progress, RestoreOptions};
use pgshift::UsageError;

use crate::context::{self, Ctx, EnvFlag, Flags, JsonFlag};

#[derive(clap::Args)]
#[command(after_help = "\
Writes `<env>-<database>-<UTC time>-v<migration>.dump` and its `.json` manifest under \
[backup] dir (default .pgshift/backups/<env>/). The backup counts only once the archive \
is verified (pg_restore --list names every table, sha256) and the manifest written; \
retention ([backup] keep_last, keep_days) runs after that.

Exit codes: 0 verified backup written; 1 failure (nothing that counts as a backup is left); \
2 usage.

Example: cargo xtask backup --env prod --label before-release")]
pub struct BackupArgs {
    /// A note stored in the manifest.
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    /// pg_dump jobs; more than 1 writes a directory-format archive dumped in parallel.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Never delete this backup when pruning.
    #[arg(long)]
    pub keep: bool,
    /// How to verify before the backup counts: `list` (pg_restore --list names every
    /// table, sha256), or `restore` (also restore into a scratch database on the local
    /// server and compare the schema and every row count; dropped after).
    #[arg(long, value_enum, default_value = "list", value_name = "HOW")]
    pub verify: Verify,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verify {
    List,
    Restore,
}

#[derive(clap::Args)]
#[command(after_help = "Example: cargo xtask backups --env prod")]
pub struct BackupsArgs {
    #[command(subcommand)]
    pub action: Option<BackupsAction>,
    /// Only this environment's backups (default: every environment).
    #[command(flatten)]
    pub env: EnvFlag,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Subcommand)]
pub enum BackupsAction {
    /// Re-check a backup: the archive's sha256 against its manifest and its table of contents.
    #[command(
        after_help = "Exit codes: 0 good; 1 damaged, changed, not an archive, or without \
                            its manifest.\n\nExample: cargo xtask backups verify \
                            .pgshift/backups/prod/prod-app-20261203T031500123Z-v20261201120000.dump"
    )]
    Verify {
        /// The archive or its .json manifest.
        file: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Apply retention ([backup] keep_last, keep_days, keep); every environment unless --env.
    #[command(after_help = "Example: cargo xtask backups prune --dry-run")]
    Prune {
        /// Say what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
}

impl BackupsArgs {
    /// The `--env` and `--json` given after `backups` or after its action.
    pub fn flags(&self) -> Flags {
        let flags = Flags::default();
        let json = |after: &JsonFlag| JsonFlag {
            json: after.json || self.json.json,
        };
        match &self.action {
            None => flags.env(&self.env).json(&self.json),
            Some(BackupsAction::Verify { json: after, .. }) => flags.json(&json(after)),
            Some(BackupsAction::Prune {
                env, json: after, ..
            }) => {
                let env = EnvFlag {
                    env: env.env.clone().or_else(|| self.env.env.clone()),
                };
                flags.env(&env).json(&json(after))
            }
        }
    }
}

#[derive(clap::Args)]
#[command(after_help = "\
Restores into the target (--env, default local) with pg_restore --clean --if-exists \
--no-owner --no-privileges, in one transaction unless --jobs > 1. The archive is checked \
first (sha256 against its manifest, pg_restore --list): a bad archive changes nothing. The \
restored database is marked as the target's environment, whatever marker the archive \
carried (a prod backup restored locally) or none. A protected target, or a database marked \
as a protected (or unknown) environment other than the target's, needs --yes, and on a \
terminal the database name typed back.

Example (test with production-like data): cargo xtask restore --latest --from prod
Example: cargo xtask restore .pgshift/backups/local/local-app_dev-20261203T031500123Z-v3.dump

Exit codes: 0 restored; 1 failure or consent not given on the terminal; 2 usage: no \
consent off a terminal, FILE and --latest both or neither.")]
pub struct RestoreArgs {
    /// The archive or its .json manifest.
    pub file: Option<PathBuf>,
    /// The newest verified backup of --from (default: the target's environment).
    #[arg(long)]
    pub latest: bool,
    /// With --latest: the environment whose backups to look in.
    #[arg(long, value_name = "ENV", requires = "latest")]
    pub from: Option<String>,
    /// Restore into this database of the target's server instead.
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// pg_restore jobs (not one transaction when more than 1).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
}

pub async fn backup(ctx: &Ctx, args: BackupArgs) -> Result<ExitCode> {
    let target = ctx.target()?;
    context::keep("env", target.env.clone().into());
    context::keep("database", target.url.host_and_database().into());
    let verify_restore = match args.verify {
        Verify::List => None,
        Verify::Restore => Some(ctx.local_target()?.url),
    };
    let options = BackupOptions {
        label: args.label,
        jobs: args.jobs,
        keep: args.keep,
        verify_restore,
    };
    ctx.note(&format!(
        "backing up {} ({}) with pg_dump",
        target.env,
        target.url.host_and_database()
    ));
    let mut printer = ProgressPrinter::new(ctx);
    let result = backup::backup(&ctx.config, &target, &options, &mut |p| printer.show(p)).await;
    printer.finish();
    // The leftovers removed (`report.cleaned`) were said by the library's log, as they are
    // under deploy and the daemon.
    let report = result?;
    let m = &report.manifest;
    if m.restore_verified {
        ctx.note("restored into a scratch database: the schema and every row count are as dumped");
    }
    ctx.note(&format!(
        "verified backup of {} written: {} ({}, {}, {}, migration {}, sha256 {})",
        m.env,
        report.archive_path.display(),
        bytes(m.size_bytes),
        counted(m.tables.len() as u64, "table"),
        counted(m.total_rows() as u64, "row"),
        version(m.migration_version),
        &m.sha256[..12]
    ));
    for path in &report.pruned {
        ctx.note(&format!("pruned {}", path.display()));
    }
    future_dated(ctx, &report.future_dated);
    damaged(ctx, &report.damaged, "retention did not count it as good");
    if ctx.json {
        ctx.emit(&report)?;
    } else {
        println!("{}", report.archive_path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn backups(ctx: &Ctx, args: BackupsArgs) -> Result<ExitCode> {
    let env = ctx.env_explicit.then_some(ctx.env.as_str());
    // Only a known environment names a backup folder: `--env /tmp/other` is no folder of
    // [backup] dir.
    if let Some(env) = env {
        if env != pgshift::target::LOCAL_ENV && !ctx.config.env.contains_key(env) {
            return Err(UsageError::UnknownEnv {
                env: env.to_string(),
                known: std::iter::once(pgshift::target::LOCAL_ENV.to_string())
                    .chain(ctx.config.env.keys().cloned())
                    .collect(),
            }
            .into());
        }
    }
    match args.action {
        None => {
            let entries = backup::list(&ctx.config, env)?;
            if ctx.json {
                ctx.emit(&serde_json::json!({ "backups": entries }))?;
                return Ok(ExitCode::SUCCESS);
            }
            if entries.is_empty() {
                ctx.note(&format!(
                    "no backups in {}; make one with `cargo xtask backup`",
                    match env {
                        Some(env) => ctx.config.backup_dir(env),
                        None => ctx.config.backup_root(),
                    }
                    .display()
                ));
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<8} {:>8} {:>10} {:>16} {:<9} ARCHIVE",
                "ENV", "AGE", "SIZE", "MIGRATION", "VERIFIED"
            );
            let now = chrono::Utc::now();
            for e in &entries {
                let verified = match &e.problem {
                    None => "yes".to_string(),
                    Some(problem) => format!("NO ({problem})"),
                };
                println!(
                    "{:<8} {:>8} {:>10} {:>16} {:<9} {}{}",
                    e.manifest.env,
                    age(now - e.manifest.started_at),
                    bytes(e.manifest.size_bytes),
                    version(e.manifest.migration_version),
                    verified,
                    e.archive_path.display(),
                    if e.kept { "  (kept)" } else { "" }
                );
            }
        }
        Some(BackupsAction::Verify { file, .. }) => {
            // A mismatch or a missing table is an error (exit 1) naming what is wrong.
            let verification = backup::verify(&ctx.config, &file).await?;
            ctx.emit(&verification)?;
            ctx.note(&format!(
                "{} is good: sha256 matches the manifest, the table of contents ({} entries) names every table",
                file.display(),
                verification.toc_entries
            ));
        }
        Some(BackupsAction::Prune { dry_run, .. }) => {
            let backup::retention::Pruning {
                pruned,
                future_dated: future,
                damaged: bad,
            } = backup::retention::prune(&ctx.config, env, dry_run, None)?;
            ctx.emit(&serde_json::json!({
                "dry_run": dry_run,
                "pruned": pruned,
                "future_dated": future,
                "damaged": bad,
            }))?;
            future_dated(ctx, &future);
            damaged(ctx, &bad, "retention did not count it as good");
            if !ctx.config.backup.prunes() {
                ctx.note("no retention configured ([backup] keep_last or keep_days): every backup is kept");
            }
            let verb = if dry_run { "would delete" } else { "deleted" };
            for entry in &pruned {
                ctx.note(&format!("{verb} {}", entry.archive_path.display()));
            }
            if pruned.is_empty() {
                ctx.note("nothing to prune");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(ctx: &Ctx, args: RestoreArgs) -> Result<ExitCode> {
    let file = match (&args.file, args.latest) {
        (Some(file), false) => file.clone(),
        (None, true) => {
            let from = args.from.as_deref().unwrap_or(&ctx.env);
            if from != pgshift::target::LOCAL_ENV && !ctx.config.env.contains_key(from) {
                return Err(UsageError::Other(format!(
                    "unknown environment `{from}` for --from; known environments: local{}",
                    ctx.config
                        .env
                        .keys()
                        .map(|k| format!(", {k}"))
                        .collect::<String>()
                ))
                .into());
            }
            let (latest, skipped) = backup::latest(&ctx.config, from)?;
            damaged(ctx, &skipped, "skipped for the newest intact backup");
            latest.archive_path
        }
        (Some(_), true) => {
            return Err(UsageError::Other(
                "give either FILE or --latest, not both".to_string(),
            )
            .into())
        }
        (None, false) => {
            return Err(UsageError::Other(
                "say what to restore: FILE (an archive `cargo xtask backups` lists) or --latest [--from ENV]"
                    .to_string(),
            )
            .into())
        }
    };
    let target = ctx.target()?;
    context::keep("env", target.env.clone().into());
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| target.url.database());
    let shown = format!(
        "{} ({})",
        target.env,
        target.url.with_database(&database).host_and_database()
    );
    // The database's own marker counts as much as the environment's setting: a `.env` or
    // --database that reaches a database marked prod gets prod's protection.
    let marked = backup::marked_target(&ctx.config, &target, args.database.as_deref()).await?;
    let consent_needed = target.protected || marked.is_some();
    if consent_needed && !ctx.yes {
        if !std::io::stdin().is_terminal() {
            return Err(UsageError::Other(match &marked {
                Some(marked) => backup::BackupError::Marked {
                    refusal: marked.refusal.clone(),
                }
                .to_string(),
                None => format!(
                    "`restore` into {shown}, a protected environment, drops and replaces what \
                     it holds and needs consent: run it on a terminal to type the database \
                     name, or pass --yes"
                ),
            })
            .into());
        }
        let what = match &marked {
            Some(marked) => format!("marked as protected environment `{}`", marked.marker),
            None => "a protected environment".to_string(),
        };
        let question = format!(
            "restore {} into {shown}, {what}, replacing what it holds?",
            file.display()
        );
        if !crate::context::database_name_typed_back(&question, &database, "go on")? {
            // An error, so that --json still prints its one document.
            anyhow::bail!("nothing was restored: the name typed is not `{database}`");
        }
    }
    let options = RestoreOptions {
        database: args.database,
        jobs: args.jobs,
        allow_protected: consent_needed,
    };
    context::keep(
        "database",
        target
            .url
            .with_database(&database)
            .host_and_database()
            .into(),
    );
    ctx.note(&format!("restoring {} into {shown}", file.display()));
    let mut printer = ProgressPrinter::new(ctx);
    let result = backup::restore(&ctx.config, &target, &file, &options, &mut |p| {
        printer.show(p)
    })
    .await;
    printer.finish();
    let report = result?;
    if let Some((from, to)) = &report.marker_rewritten {
        ctx.note(&format!(
            "the restored database was marked `{from}`; it is now marked `{to}`"
        ));
    }
    if report.marker_added {
        ctx.note(&format!(
            "the archive carried no environment marker; the restored database is now marked `{}`",
            report.env
        ));
    }
    if ctx.json {
        ctx.emit(&report)?;
    } else {
        println!(
            "restored into {shown}: migration {}, {}, {}{}",
            version(report.migration_version),
            counted(report.tables.len() as u64, "table"),
            counted(report.rows as u64, "row"),
            match report.matches_manifest {
                Some(true) => " (every table's row count matches the manifest)",
                Some(false) =>
                    " (row counts differ from the manifest: the target had other tables or rows)",
                None => "",
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Says which backups were found damaged, and what was done about it.
fn damaged(ctx: &Ctx, entries: &[backup::Entry], done: &str) {
    for entry in entries {
        ctx.note(&format!(
            "warning: {}: {}; {done} (delete it and its .json manifest once looked at)",
            entry.archive_path.display(),
            entry.problem.as_deref().unwrap_or("damaged")
        ));
    }
}

/// Says which backups are dated in the future: retention counts them as the newest.
fn future_dated(ctx: &Ctx, archives: &[PathBuf]) {
    for path in archives {
        ctx.note(&format!(
            "warning: {} is dated in the future (a wrong clock where it was made, or an edited \
             manifest); retention counts it as the newest and keeps it; delete it or fix its \
             manifest's started_at if it is not",
            path.display()
        ));
    }
}

/// Progress: an indicatif bar (bytes written, elapsed time) on a terminal; start and end
/// lines otherwise (and under --json, whose stdout stays clean).
struct ProgressPrinter {
    live: bool,
    quiet: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressPrinter {
    fn new(ctx: &Ctx) -> ProgressPrinter {
        ProgressPrinter {
            live: std::io::stderr().is_terminal() && !ctx.json,
            quiet: ctx.quiet,
            bar: None,
        }
    }

    fn show(&mut self, progress: Progress<'_>) {
        if self.quiet {
            return;
        }
        match progress {
            Progress::Written { bytes, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(bytes);
                }
            }
            Progress::Dumping { database, .. } => {
                eprintln!("pg_dump of {database} started");
                if self.live {
                    let bar = indicatif::ProgressBar::new_spinner();
                    if let Ok(style) = indicatif::ProgressStyle::with_template(
                        "{spinner} {bytes} written, {elapsed}",
                    ) {
                        bar.set_style(style);
                    }
                    bar.enable_steady_tick(Duration::from_millis(200));
                    self.bar = Some(bar);
                }
            }
            Progress::Verifying => {
                self.finish();
                eprintln!("pg_dump done; verifying the archive");
            }
            Progress::Pruned { .. } => {}
            Progress::Restoring { database } => eprintln!("pg_restore into {database} started"),
            Progress::ScratchDropped { database } => eprintln!(
                "dropped {database}, the scratch database of a `backup --verify=restore` \
                 whose process is gone"
            ),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// "1 table", "2 tables".
fn counted(n: u64, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

fn version(v: Option<i64>) -> String {
    v.map_or_else(|| "none".to_string(), |v| v.to_string())
}

fn age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}min", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
