//! `deploy`: the production release as a list of named steps, each reporting into one
//! `DeployReport`, so the output, the JSON report and the failure message come from the
//! same data. In order, stopping at the first failure: target, transport, preflight,
//! lint, consent, backup, rehearsal, apply, verify, application. The backup comes before the
//! rehearsal because the rehearsal runs on it: production-like data, every time.

mod rehearsal;
mod schema_dump;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::backup::{self, BackupOptions};
use crate::catalog::{self, Catalog};
use crate::config::{Config, Rehearse};
use crate::local::shadow::ShadowDatabase;
use crate::migrations::{self, AppliedMigration, ApplyOptions, MigrateError, Mode};
use crate::target::Target;

pub use rehearsal::{MigrationLock, RehearsalReport, RehearsedMigration};

/// How to deploy.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Steps up to the rehearsal; nothing changes on the target.
    pub dry_run: bool,
    pub no_backup: bool,
    pub no_rehearse: bool,
    /// Run the application command even when no migration is pending.
    pub always_run_command: bool,
    pub allow_out_of_order: bool,
}

/// One step's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    pub duration_ms: f64,
    /// More lines for a person (the rehearsal's per-migration locks); the JSON report has
    /// the same as data.
    #[serde(skip)]
    pub lines: Vec<String>,
    /// Where the step's time went outside pgshift: PostgreSQL's programs (`pg_dump`,
    /// `restore`) and the migrations' own statements (`migrations`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// A timed part of a step.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub name: &'static str,
    pub duration_ms: f64,
}

impl Part {
    fn new(name: &'static str, duration: Duration) -> Part {
        Part {
            name,
            duration_ms: (duration.as_secs_f64() * 1e6).round() / 1e3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Skipped,
    Failed,
}

/// Everything a deploy did, written to `<state>/deploys/` and printed by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub env: String,
    /// `host:port/database`, no password.
    pub database: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub steps: Vec<Step>,
    /// The migrations this deploy would apply (the plan), in order.
    pub pending: Vec<String>,
    /// The lint's findings on the pending files, against this target.
    pub lint: Vec<crate::lint::Finding>,
    pub applied: Vec<AppliedMigration>,
    /// The backup holding the state before the deploy.
    pub backup: Option<PathBuf>,
    pub rehearsal: Option<RehearsalReport>,
    /// `succeeded` or `failed`.
    pub outcome: &'static str,
    /// What production looks like now and the next command, when the deploy failed.
    pub next: Option<String>,
    /// Where this report was written.
    pub report_path: Option<PathBuf>,
    /// The project's git commit, when it is a git checkout.
    pub commit: Option<String>,
}

/// What the caller is asked before anything changes: `true` to go on.
pub struct ConsentRequest<'a> {
    pub env: &'a str,
    pub database: &'a str,
    pub pending: &'a [String],
}

/// Why a deploy stopped; the report says which step, and what state the target is in.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DeployFailed {
    pub message: String,
    pub report: Box<DeployReport>,
    /// A usage refusal (exit 2): no consent, insecure transport.
    pub usage: bool,
}

struct Pipeline<'a> {
    report: DeployReport,
    on_step: &'a mut dyn FnMut(&Step),
}

impl Pipeline<'_> {
    fn record(&mut self, name: &'static str, started: Instant, outcome: Outcome, detail: String) {
        self.record_with(name, started, outcome, detail, Vec::new(), Vec::new());
    }

    fn record_with(
        &mut self,
        name: &'static str,
        started: Instant,
        outcome: Outcome,
        detail: String,
        lines: Vec<String>,
        parts: Vec<Part>,
    ) {
        let step = Step {
            name,
            outcome,
            detail,
            duration_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            lines,
            parts,
        };
        (self.on_step)(&step);
        self.report.steps.push(step);
    }

    fn fail(
        mut self,
        config: &Config,
        name: &'static str,
        started: Instant,
        message: String,
        next: String,
        usage: bool,
    ) -> DeployFailed {
        self.record(name, started, Outcome::Failed, message.clone());
        self.report.outcome = "failed";
        self.report.next = Some(next);
        self.report.report_path = write_report(config, &self.report);
        DeployFailed {
            message: format!("deploy to {} stopped at {name}: {message}", self.report.env),
            report: Box::new(self.report),
            usage,
        }
    }
}

/// Runs the pipeline against `target`. `local` is the local database (for the rehearsal's
/// scratch database and the "tested locally" check), `consent` is asked once the plan is
/// known, `on_step` sees each step as it ends. A deploy that got past preflight (the target
/// answered) leaves a `_pgshift_log` row with its outcome, who ran it from where, and the
/// project's git commit.
pub async fn deploy(
    config: &Config,
    target: &Target,
    local: Option<&Target>,
    options: &DeployOptions,
    consent: &mut dyn FnMut(&ConsentRequest<'_>) -> bool,
    on_step: &mut dyn FnMut(&Step),
) -> Result<DeployReport, DeployFailed> {
    let mut background = None;
    let result = run_pipeline(
        config,
        target,
        local,
        options,
        consent,
        on_step,
        &mut background,
    )
    .await;
    // The rehearsal's scratch database, dropped while production was deployed.
    if let Some(dropping) = background {
        let _ = dropping.join();
    }
    let report = match &result {
        Ok(report) => report,
        Err(failed) => &failed.report,
    };
    let reached = report
        .steps
        .iter()
        .any(|s| s.name == "preflight" && s.outcome == Outcome::Ok);
    if reached && !options.dry_run {
        if let Err(e) = log_deploy(target, report).await {
            tracing::warn!("could not record the deploy in _pgshift_log: {e}");
        }
    }
    result
}

/// Runs `job` on a thread of its own with a runtime of its own, so that it goes on while
/// production is deployed (reading a catalog is the client's work as much as the server's,
/// and this runtime has one thread). The deploy joins the thread before it returns.
fn on_thread<Job, Fut>(job: Job) -> std::thread::JoinHandle<()>
where
    Job: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::spawn(move || {
        // Without a runtime the job is dropped unrun: a scratch database it owns is dropped
        // by its `Drop`, and a result it owed is an error at the receiver.
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(job());
        }
    })
}

/// A catalog read on another thread.
type CatalogRead = oneshot::Receiver<Result<Catalog, String>>;

/// Reads the catalog of `url` on a thread (`on_thread`); `then` runs after, on that thread.
fn read_catalog_on_thread<Then, Fut>(
    url: crate::target::DbUrl,
    schemas: Vec<String>,
    then: Then,
) -> (std::thread::JoinHandle<()>, CatalogRead)
where
    Then: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (sender, receiver) = oneshot::channel();
    let thread = on_thread(move || async move {
        let read = catalog::read(&url, &schemas).await;
        let _ = sender.send(read.map_err(|e| format!("{e:#}")));
        then().await;
    });
    (thread, receiver)
}

/// The project's git commit, when it is a git checkout.
fn git_commit(config: &Config) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(&config.root)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

async fn log_deploy(target: &Target, report: &DeployReport) -> Result<(), sqlx::Error> {
    use crate::migrations::history::{self, action, Actor, LogEntry};
    let mut conn = match crate::db::connect(&target.url).await {
        Ok(conn) => conn,
        Err(e) => return Err(sqlx::Error::Protocol(e.to_string())),
    };
    let (schema, _) = history::locate(&mut conn).await?;
    let exists: bool = sqlx::query_scalar(&format!(
        "SELECT to_regclass({}) IS NOT NULL",
        history::lit(&format!("{schema}._pgshift_log"))
    ))
    .fetch_one(&mut conn)
    .await?;
    if exists {
        let failed_step = report.steps.iter().find(|s| s.outcome == Outcome::Failed);
        let summary = format!(
            "{}{}: {} pending, {} applied; backup {}; commit {}",
            report.outcome,
            failed_step.map_or(String::new(), |s| format!(" at {}", s.name)),
            report.pending.len(),
            report.applied.len(),
            report
                .backup
                .as_ref()
                .map_or("none".into(), |b| b.display().to_string()),
            report
                .commit
                .as_deref()
                .unwrap_or("unknown (not a git checkout)")
        );
        let version = report.applied.last().map_or(0, |m| m.version);
        let elapsed = (Utc::now() - report.started_at)
            .num_nanoseconds()
            .unwrap_or_default();
        let entry = LogEntry {
            version,
            file: "deploy",
            action: action::DEPLOY,
            checksum: None,
            duration_ns: Some(elapsed.to_string()),
            error: Some(&summary),
            statement: None,
            line: None,
            partial: false,
        }
        .sql(&Actor::current(&report.env), &schema);
        sqlx::raw_sql(&entry).execute(&mut conn).await?;
    }
    crate::db::close(conn).await;
    Ok(())
}

async fn run_pipeline(
    config: &Config,
    target: &Target,
    local: Option<&Target>,
    options: &DeployOptions,
    consent: &mut dyn FnMut(&ConsentRequest<'_>) -> bool,
    on_step: &mut dyn FnMut(&Step),
    background: &mut Option<std::thread::JoinHandle<()>>,
) -> Result<DeployReport, DeployFailed> {
    let database = target.url.host_and_database();
    let mut p = Pipeline {
        report: DeployReport {
            env: target.env.clone(),
            database: database.clone(),
            dry_run: options.dry_run,
            started_at: Utc::now(),
            steps: Vec::new(),
            pending: Vec::new(),
            lint: Vec::new(),
            applied: Vec::new(),
            backup: None,
            rehearsal: None,
            outcome: "succeeded",
            next: None,
            report_path: None,
            commit: git_commit(config),
        },
        on_step,
    };
    let rerun = format!("cargo xtask deploy --env {}", target.env);

    // 1. Target: what the URL names, and that it is not the local database.
    let started = Instant::now();
    if target.is_local() {
        return Err(p.fail(
            config,
            "target",
            started,
            "deploy goes to a configured environment, not `local`".into(),
            "name it: `cargo xtask deploy --prod` (or --env staging)".into(),
            true,
        ));
    }
    p.record(
        "target",
        started,
        Outcome::Ok,
        format!("{} ({database})", target.env),
    );

    // 2. Transport: a protected database on another machine only over verified TLS.
    let started = Instant::now();
    let sslmode = sslmode(target);
    let remote = !target.is_on_this_machine();
    let require_tls = config
        .env
        .get(&target.env)
        .is_none_or(|env| env.require_tls);
    let secure = matches!(
        sslmode.as_deref(),
        Some("require" | "verify-ca" | "verify-full")
    );
    if target.protected && remote && require_tls && !secure {
        return Err(p.fail(
            config,
            "transport",
            started,
            format!(
                "{database} is on another machine and protected, but its URL has sslmode={}; \
                 nothing was sent",
                sslmode.as_deref().unwrap_or("prefer (the default)")
            ),
            "add `sslmode=verify-full` (with `sslrootcert=...`) to the URL, or set \
             `require_tls = false` under [env] in pgshift.toml to opt out"
                .into(),
            true,
        ));
    }
    p.record(
        "transport",
        started,
        Outcome::Ok,
        format!("sslmode={}", sslmode.as_deref().unwrap_or("prefer")),
    );

    // 3. Preflight: the plan, refused when anything is failed, edited, missing or out of
    // order, or a pending file fails the engine's checks; nothing changes. The folder is
    // read once: the rehearsal and the apply get these files, so production gets exactly
    // what was planned, linted and rehearsed, whatever changes on disk meanwhile.
    let started = Instant::now();
    let files: std::sync::Arc<[migrations::MigrationFile]> =
        match migrations::files::discover(&config.paths.migrations) {
            Ok(files) => files.into(),
            Err(e) => {
                let e = MigrateError::from(e);
                let next = next_for(&e, &target.env);
                return Err(p.fail(config, "preflight", started, e.to_string(), next, false));
            }
        };
    let plan_options = ApplyOptions {
        mode: Mode::Deploy,
        allow_out_of_order: options.allow_out_of_order,
        dry_run: true,
        files: Some(files.clone()),
        lint: true,
    };
    // The local history (for "test locally first") is read while the plan is made.
    let local_history = async {
        match local {
            Some(local) => {
                let read =
                    migrations::tested::LocalHistory::read(config, Ok(local.clone()), &files);
                Some(read.await)
            }
            None => None,
        }
    };
    let mut quiet = |_: migrations::Progress<'_>| {};
    let (plan, local_history) = tokio::join!(
        migrations::apply_pending(config, target, &plan_options, &mut quiet),
        local_history
    );
    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => {
            let next = next_for(&e, &target.env);
            return Err(p.fail(config, "preflight", started, e.to_string(), next, false));
        }
    };
    p.report.pending = plan.would_apply.iter().map(|m| m.file.clone()).collect();
    let mut detail = format!("{} pending", p.report.pending.len());
    if let Some(local_history) = local_history {
        let check = local_history.check(&plan.would_apply);
        if !check.not_applied_locally.is_empty() {
            detail.push_str(&format!(
                "; never applied to the local database: {}",
                check.not_applied_locally.join(", ")
            ));
        }
    }
    p.record("preflight", started, Outcome::Ok, detail);
    let nothing_pending = p.report.pending.is_empty();

    // The lint's review of the pending files against this target (table sizes included):
    // a blocking finding not acknowledged in its file stops the deploy.
    let started = Instant::now();
    let blocking: Vec<String> = plan
        .lint
        .iter()
        .filter(|f| f.blocks())
        .map(|f| format!("{}:{}: [{}] {}", f.file, f.line, f.rule, f.message))
        .collect();
    p.report.lint = plan.lint.clone();
    if !blocking.is_empty() {
        return Err(p.fail(
            config,
            "lint",
            started,
            format!("blocking findings: {}", blocking.join("; ")),
            "nothing was changed; fix the migrations, or acknowledge a finding with \
             `-- pgshift:allow RULE reason` on the line before the statement, then deploy again"
                .into(),
            false,
        ));
    }
    p.record(
        "lint",
        started,
        Outcome::Ok,
        format!("{} finding(s), none blocking", plan.lint.len()),
    );

    // 4. Consent, before anything is written.
    let started = Instant::now();
    if !options.dry_run && (target.protected && !nothing_pending) {
        let request = ConsentRequest {
            env: &target.env,
            database: &target.url.database(),
            pending: &p.report.pending,
        };
        if !consent(&request) {
            return Err(p.fail(
                config,
                "consent",
                started,
                "not given; nothing was changed".into(),
                format!("{rerun} on a terminal (type the database name), or add --yes"),
                true,
            ));
        }
        p.record("consent", started, Outcome::Ok, "given".into());
    } else {
        p.record("consent", started, Outcome::Skipped, "not needed".into());
    }

    if nothing_pending && !options.always_run_command {
        let started = Instant::now();
        p.record(
            "apply",
            started,
            Outcome::Skipped,
            "nothing to apply; the application step runs only with --always-run-command".into(),
        );
        p.report.report_path = write_report(config, &p.report);
        return Ok(p.report);
    }

    // 5. Backup: the state before, verified; the rehearsal runs on it. The rehearsal's
    // scratch database is made on the local server meanwhile.
    let mode = if options.no_rehearse {
        Rehearse::Off
    } else {
        config.deploy.rehearse
    };
    let rehearse_on = match (mode, local) {
        _ if nothing_pending => Err("nothing to apply"),
        (Rehearse::Off, _) => Err("off ([deploy] rehearse = \"off\" or --no-rehearse)"),
        (_, None) => Err("no local database to rehearse on"),
        (Rehearse::Full, _) if options.no_backup => Err("no backup to rehearse on (--no-backup)"),
        (_, Some(local)) => Ok(local),
    };
    let scratch = async {
        match rehearse_on {
            Ok(local) => Some(ShadowDatabase::create(&local.url, "rehearsal").await),
            Err(_) => None,
        }
    };
    let started = Instant::now();
    let backup = async {
        if options.no_backup || nothing_pending {
            return None;
        }
        let backup_options = BackupOptions {
            label: Some(format!("before deploy to {}", target.env)),
            ..BackupOptions::default()
        };
        // pg_dump's own time: from its start to the check of what it wrote.
        let (mut dump_started, mut dumped) = (None, None);
        let mut progress = |event: backup::Progress<'_>| match event {
            backup::Progress::Dumping { .. } => dump_started = Some(Instant::now()),
            backup::Progress::Verifying => dumped = dump_started.map(|t| t.elapsed()),
            _ => {}
        };
        let done = backup::backup(config, target, &backup_options, &mut progress).await;
        let parts: Vec<Part> = dumped
            .map(|d| Part::new("pg_dump", d))
            .into_iter()
            .collect();
        Some((done, parts))
    };
    let (backup, scratch) = tokio::join!(backup, scratch);
    match backup {
        None => {
            let why = if nothing_pending {
                "nothing to apply"
            } else {
                "--no-backup: this deploy has no backup of the state before it"
            };
            p.record("backup", started, Outcome::Skipped, why.into());
        }
        Some((Ok(done), parts)) => {
            let detail = format!(
                "{} (migration version {})",
                done.archive_path.display(),
                done.manifest
                    .migration_version
                    .map_or("none".into(), |v| v.to_string())
            );
            p.report.backup = Some(done.archive_path);
            p.record_with("backup", started, Outcome::Ok, detail, Vec::new(), parts);
        }
        Some((Err(e), _)) => {
            if let Some(Ok(scratch)) = scratch {
                scratch.drop().await;
            }
            return Err(p.fail(
                config,
                "backup",
                started,
                e.to_string(),
                format!("nothing was applied; fix the backup, then {rerun} (or add --no-backup)"),
                false,
            ));
        }
    }

    // 6. Rehearsal: the pending migrations on a copy, before production: the backup's data,
    // or the schema alone (dumped now) for databases too big to copy. The scratch database
    // is dropped in the background while production is deployed.
    let started = Instant::now();
    let mut rehearsed_catalog: Option<CatalogRead> = None;
    let source = match (mode, &p.report.backup) {
        (Rehearse::Schema, _) => Some(rehearsal::Source::Schema(target)),
        (_, Some(archive)) => Some(rehearsal::Source::Backup(archive)),
        _ => None,
    };
    match (rehearse_on, scratch, source) {
        (Err(why), _, _) => p.record("rehearsal", started, Outcome::Skipped, why.into()),
        (Ok(_), None, _) | (Ok(_), _, None) => p.record(
            "rehearsal",
            started,
            Outcome::Skipped,
            "nothing to rehearse on".into(),
        ),
        (Ok(local), Some(scratch), Some(source)) => {
            let rehearsed = match scratch {
                Ok(scratch) => {
                    let allow = options.allow_out_of_order;
                    let rehearsed =
                        rehearsal::rehearse(config, local, &scratch, source, &files, allow).await;
                    // The copy's schema (for verify) is read, and the copy dropped, while
                    // production is deployed.
                    if rehearsed.is_ok() {
                        let url = scratch.url().clone();
                        let schemas = config.codegen.schemas.clone();
                        let (thread, read) =
                            read_catalog_on_thread(url, schemas, move || scratch.drop());
                        *background = Some(thread);
                        rehearsed_catalog = Some(read);
                    } else {
                        *background = Some(on_thread(move || scratch.drop()));
                    }
                    rehearsed
                }
                Err(e) => Err(e),
            };
            match rehearsed {
                Ok(rehearsed) => {
                    let report = rehearsed.report;
                    let (detail, lines) = (report.summary(), report.lines());
                    p.report.rehearsal = Some(report);
                    let parts = rehearsed.parts;
                    p.record_with("rehearsal", started, Outcome::Ok, detail, lines, parts);
                }
                Err(e) => {
                    return Err(p.fail(
                        config,
                        "rehearsal",
                        started,
                        format!("{e:#}"),
                        format!(
                            "production is untouched; fix the migration (try it locally with \
                             `cargo xtask restore --latest --from {}` and `cargo xtask migrate-dev`), \
                             then {rerun}",
                            target.env
                        ),
                        false,
                    ))
                }
            }
        }
    }
    if options.dry_run {
        p.report.report_path = write_report(config, &p.report);
        return Ok(p.report);
    }

    // 7. Apply, retrying a migration that only timed out waiting for a table lock (it
    // rolled back whole, so trying again is safe).
    let started = Instant::now();
    // Linted in preflight, with the same files.
    let apply_options = ApplyOptions {
        dry_run: false,
        lint: false,
        ..plan_options
    };
    let mut attempt = 0;
    loop {
        match migrations::apply_pending(config, target, &apply_options, &mut |_| {}).await {
            Ok(done) => {
                p.report.applied.extend(done.applied);
                break;
            }
            Err(MigrateError::Failed(f)) if f.lock_wait && attempt < config.deploy.lock_retries => {
                attempt += 1;
                let pause = Duration::from_millis(500 << attempt.min(5));
                let line = format!(
                    "{} timed out waiting for a table lock and was rolled back whole; retry {attempt} of {} in {:.1} s",
                    f.file,
                    config.deploy.lock_retries,
                    pause.as_secs_f64()
                );
                (p.on_step)(&Step {
                    name: "apply",
                    outcome: Outcome::Ok,
                    detail: line,
                    duration_ms: 0.0,
                    lines: Vec::new(),
                    parts: Vec::new(),
                });
                // The failure was logged; a resolution lets the retry go on.
                let resolved = migrations::resolve::resolve(
                    config,
                    target,
                    f.version,
                    migrations::resolve::Resolution::RolledBack,
                    &mut |_| {},
                )
                .await;
                if let Err(e) = resolved {
                    let next = next_for(&e, &target.env);
                    return Err(p.fail(config, "apply", started, e.to_string(), next, false));
                }
                tokio::time::sleep(pause).await;
            }
            Err(e) => {
                let backup = p
                    .report
                    .backup
                    .as_ref()
                    .map_or("no backup was taken".to_string(), |b| {
                        format!("the state before is in {}", b.display())
                    });
                let next = format!("{}; {backup}", next_for(&e, &target.env));
                return Err(p.fail(config, "apply", started, e.to_string(), next, false));
            }
        }
    }
    let applied = p.report.applied.len();
    let migrations = p.report.applied.iter().map(|m| m.duration).sum();
    p.record_with(
        "apply",
        started,
        Outcome::Ok,
        format!("{applied} applied"),
        Vec::new(),
        vec![Part::new("migrations", migrations)],
    );

    // 8. Verify: nothing left pending or failed, and the schema is the rehearsal's.
    let started = Instant::now();
    let verified = verify(config, target, rehearsed_catalog).await;
    let version = match verified {
        Ok((detail, version)) => {
            p.record("verify", started, Outcome::Ok, detail);
            version
        }
        Err(problem) => {
            return Err(p.fail(
                config,
                "verify",
                started,
                problem,
                format!(
                    "the migrations are applied; the application was not deployed. Look at \
                     `cargo xtask migrate-status --env {}`, then deploy the application by hand",
                    target.env
                ),
                false,
            ))
        }
    };

    // 9. Application: only after every migration applied and verified.
    let started = Instant::now();
    match &config.deploy.command {
        None => p.record(
            "application",
            started,
            Outcome::Skipped,
            "no [deploy] command".into(),
        ),
        Some(command) => match run_application(config, target, command, version).await {
            Ok(()) => p.record("application", started, Outcome::Ok, command.clone()),
            Err(message) => {
                return Err(p.fail(
                    config,
                    "application",
                    started,
                    message,
                    format!(
                        "the migrations are applied and verified; rerun the application's \
                             deploy (`{command}`)"
                    ),
                    false,
                ))
            }
        },
    }
    p.report.report_path = write_report(config, &p.report);
    Ok(p.report)
}

/// The URL's `sslmode`, if it names one.
fn sslmode(target: &Target) -> Option<String> {
    let url = url::Url::parse(target.url.expose()).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "sslmode")
        .map(|(_, v)| v.into_owned())
}

/// The next command for an engine error, carrying the environment.
fn next_for(error: &MigrateError, env: &str) -> String {
    match error {
        MigrateError::Failed(f) => format!(
            "nothing of {} was applied unless it says partial; fix it, then `cargo xtask \
             migrate-resolve --env {env} --rolled-back {}` and deploy again",
            f.file, f.version
        ),
        _ => format!("fix what the error names, then `cargo xtask deploy --env {env}`"),
    }
}

/// Verify's checks; with the detail, the latest applied migration (for the application).
async fn verify(
    config: &Config,
    target: &Target,
    rehearsed: Option<CatalogRead>,
) -> Result<(String, Option<i64>), String> {
    // Production's schema is read on a thread while its status is read here.
    let reading = rehearsed.as_ref().map(|_| {
        let (url, schemas) = (target.url.clone(), config.codegen.schemas.clone());
        read_catalog_on_thread(url, schemas, || async {})
    });
    let status = migrations::read_status(config, target)
        .await
        .map_err(|e| e.to_string())?;
    let version = status
        .migrations
        .iter()
        .filter(|m| m.state == migrations::State::Applied)
        .map(|m| m.version)
        .max();
    let summary = &status.summary;
    if summary.has_problems() || summary.pending > 0 {
        let unclean: Vec<String> = status
            .migrations
            .iter()
            .filter(|m| m.state != migrations::State::Applied)
            .map(|m| {
                let name = m.file.clone().unwrap_or_else(|| m.version.to_string());
                let why = match m.state {
                    migrations::State::Modified => {
                        " (its file changed on disk after the deploy read it)"
                    }
                    _ => "",
                };
                format!("{name} {}{why}", m.state.label())
            })
            .collect();
        return Err(format!(
            "after applying, status is not clean: {}",
            unclean.join(", ")
        ));
    }
    let (Some(rehearsed), Some((thread, actual))) = (rehearsed, reading) else {
        let detail = "status clean (no rehearsal to compare the schema with)";
        return Ok((detail.into(), version));
    };
    let gone = |what: &str| format!("reading {what}'s schema: the thread reading it ended first");
    let expected = rehearsed
        .await
        .map_err(|_| gone("the rehearsal"))?
        .map_err(|e| format!("reading the rehearsal's schema: {e}"))?;
    let actual = actual.await.map_err(|_| gone("production"))??;
    let _ = thread.join();
    let drift: Vec<String> =
        crate::schema::drift::compare(&target.env, "the rehearsal", &expected, &actual)
            .into_iter()
            .map(|d| d.message)
            .collect();
    if drift.is_empty() {
        Ok((
            "status clean; schema equals the rehearsal's".into(),
            version,
        ))
    } else {
        Err(format!(
            "the schema differs from the rehearsal's (drift): {}",
            drift.join("; ")
        ))
    }
}

/// Runs the application's deploy through `sh -c`, output streamed. It gets `PGSHIFT_ENV`
/// and `PGSHIFT_VERSION`; the target's URL (and so its password) only with
/// `[deploy] pass_database_url`: the variables that hold URLs are removed otherwise.
async fn run_application(
    config: &Config,
    target: &Target,
    command: &str,
    version: Option<i64>,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new("sh");
    child
        .arg("-c")
        .arg(command)
        .current_dir(&config.root)
        .env("PGSHIFT_ENV", &target.env)
        .env(
            "PGSHIFT_VERSION",
            version.map(|v| v.to_string()).unwrap_or_default(),
        )
        .env_remove("DATABASE_URL")
        .env_remove("PGPASSWORD");
    for env in config.env.values() {
        child.env_remove(&env.url_env);
    }
    if config.deploy.pass_database_url {
        child.env("DATABASE_URL", target.url.expose());
    }
    let status = child
        .status()
        .await
        .map_err(|e| format!("cannot run `sh -c {command}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{command}` exited with {status}"))
    }
}

/// Writes the report to `<state>/deploys/<UTC time>-<env>.json`; a failure to write it is
/// logged, never fatal (the deploy's outcome does not depend on it).
fn write_report(config: &Config, report: &DeployReport) -> Option<PathBuf> {
    let dir = config.paths.state.join("deploys");
    let path = dir.join(format!(
        "{}-{}.json",
        report.started_at.format("%Y%m%dT%H%M%SZ"),
        report.env
    ));
    let text = serde_json::to_string_pretty(report).ok()?;
    let written = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, text));
    match written {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!("could not write the deploy report {}: {e}", path.display());
            None
        }
    }
}
