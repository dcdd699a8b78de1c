//! Applying pending migrations: plan, check every file before anything is sent, then apply
//! each in order under the migration lock.
//!
//! A transactional migration goes to the server as one message: `BEGIN`, the file, the
//! `_sqlx_migrations` row, the `_pgshift_log` row, `COMMIT`. The migration and its history
//! commit together or not at all, in one round trip (sqlx needs five). When a statement
//! fails, the number of statements the server completed before the error (or the error's
//! position) names the statement and its line in the file.

use std::time::Duration;

use serde::Serialize;

use super::error::{MigrateError, Problem};
use super::execute;
use super::files::{self, MigrationFile};
use super::history::{self, action, Actor, LogEntry};
use super::lock::LockHolder;
use super::marker;
use super::session::Session;
use super::status::{classify, State, StatusRow};
use super::trace::Tracer;
use crate::config::Config;
use crate::sql::{self, Kind, Statement};
use crate::target::Target;

/// Which command applies: what it may retry, and which marker rules hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `migrate-dev` and the daemon: local only; a failed transactional migration (nothing of
    /// it applied) is retried on every run, edited or not: retrying it is harmless (it fails
    /// the same way until its file or the database changes).
    Dev,
    /// `migrate-deploy`: any environment; records the marker; anything failed blocks until
    /// `migrate-resolve`.
    Deploy,
}

impl Mode {
    fn command(self) -> &'static str {
        match self {
            Mode::Dev => "migrate-dev",
            Mode::Deploy => "migrate-deploy",
        }
    }
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub mode: Mode,
    /// Apply pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Plan and check only; change nothing.
    pub dry_run: bool,
    /// The migration folder as the caller read it, instead of reading it again: a deploy
    /// rehearses and applies exactly the files its preflight planned and linted, whatever
    /// changes on disk meanwhile.
    pub files: Option<std::sync::Arc<[MigrationFile]>>,
    /// Lint the pending files (`migrate-deploy` refuses blocking findings); a deploy lints
    /// them once, in its preflight.
    pub lint: bool,
}

/// What happens while applying, for one line of output per event.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The lock is held by someone else; waiting (at most `[migrate] lock_timeout`).
    WaitingForLock(Option<&'a LockHolder>),
    /// About to send this migration (several transactional migrations may be sent in one
    /// message, so several of these can come before their `Applied`).
    Applying(&'a MigrationFile),
    /// Committed and recorded.
    Applied(&'a AppliedMigration),
}

/// A migration that was applied (or reverted).
#[derive(Debug, Clone, Serialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    pub file: String,
    #[serde(rename = "duration_ms", serialize_with = "as_millis")]
    pub duration: Duration,
}

/// A migration `--dry-run` would apply.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedMigration {
    pub version: i64,
    pub description: String,
    pub file: String,
    pub no_transaction: bool,
}

/// What an apply did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub env: String,
    /// `host:port/database`.
    pub database: String,
    pub dry_run: bool,
    /// Applied by this run, in order (empty for a dry run).
    pub applied: Vec<AppliedMigration>,
    /// What a dry run would apply, in order.
    pub would_apply: Vec<PlannedMigration>,
    /// Migrations that were applied before this run.
    pub already_applied: usize,
    /// The environment marker the database carries after the run.
    pub marker: Option<String>,
    /// Where `migrate-dev` stopped before a pending migration that is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// The lint's findings on the migrations to apply (`migrate-dev`: from the files alone,
    /// never blocking; `migrate-deploy`: against the target, which refuses blocking ones).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lint: Vec<crate::lint::Finding>,
}

/// A pending migration that `migrate-dev` (and the daemon) leaves alone for now, with every
/// migration after it: applying it would record a file that its next edit turns into an
/// "edited after it was applied" error.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub file: String,
    pub reason: WaitReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The file is still the empty template `migrate-new` wrote.
    NoSql,
    /// The file is still being written (the daemon saw it change a moment ago).
    BeingWritten,
    /// An applied migration's file is being written again (an editor saving the same text
    /// truncates it first): it is compared with its applied checksum once it has settled.
    Rewriting,
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.reason {
            WaitReason::NoSql => "is still the empty template `migrate-new` wrote",
            WaitReason::BeingWritten => "is still being written",
            WaitReason::Rewriting => {
                return write!(
                    f,
                    "{} was applied and is being written again: it is compared with what was \
                     applied once it settles; nothing is applied until then",
                    self.file
                )
            }
        };
        write!(f, "{} {why}: not applied, nor anything after it", self.file)
    }
}

pub(crate) fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// `migrate-dev`'s apply step, for the CLI and the daemon: refuses a target that is not
/// local or that carries another environment's marker, takes the lock, applies every pending
/// migration, records failures.
pub async fn migrate_dev(
    config: &Config,
    target: &Target,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ApplyReport, MigrateError> {
    let options = ApplyOptions {
        mode: Mode::Dev,
        allow_out_of_order: false,
        dry_run: false,
        files: None,
        lint: true,
    };
    apply_pending(config, target, &options, progress).await
}

/// `migrate_dev` for the daemon: also stops before the first pending migration whose file
/// `settled` says is still being written, and applies nothing while an applied migration's
/// file that differs from its history is still being written (it is not judged "edited"
/// from a file read mid-write).
pub async fn migrate_dev_settled(
    config: &Config,
    target: &Target,
    settled: &(dyn Fn(&std::path::Path) -> bool + Sync),
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ApplyReport, MigrateError> {
    let options = ApplyOptions {
        mode: Mode::Dev,
        allow_out_of_order: false,
        dry_run: false,
        files: None,
        lint: true,
    };
    apply_with(config, target, &options, settled, progress, None).await
}

/// Refuses a target that is not local (`Target::require_local`), as a `MigrateError`.
pub(crate) fn require_local(target: &Target, command: &str) -> Result<(), MigrateError> {
    target
        .require_local(command)
        .map_err(MigrateError::NotLocal)
}

/// Applies the pending migrations of `[paths] migrations` to `target`.
pub async fn apply_pending(
    config: &Config,
    target: &Target,
    options: &ApplyOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ApplyReport, MigrateError> {
    apply_with(config, target, options, &|_| true, progress, None).await
}

/// A migration applied statement by statement, with what each statement did to the tables
/// that existed before the migration.
#[derive(Debug, Clone, Serialize)]
pub struct TracedMigration {
    pub file: String,
    /// Runs outside a transaction: each statement committed on its own, so its locks were
    /// released before they could be read (rewrites are still seen).
    pub no_transaction: bool,
    pub statements: Vec<execute::TracedStatement>,
}

/// `apply_pending`, each migration's statements sent one by one (inside its transaction,
/// with the same guard and history rows) and followed by `trace::Tracer`: for the deploy's
/// rehearsal, which wants each statement's locks and rewrites. Slower than `apply_pending`
/// (one migration per message, a query after each statement).
pub async fn apply_pending_traced(
    config: &Config,
    target: &Target,
    options: &ApplyOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(ApplyReport, Vec<TracedMigration>), MigrateError> {
    let mut traces = Vec::new();
    let report = apply_with(
        config,
        target,
        options,
        &|_| true,
        progress,
        Some(&mut traces),
    )
    .await?;
    Ok((report, traces))
}

async fn apply_with(
    config: &Config,
    target: &Target,
    options: &ApplyOptions,
    settled: &(dyn Fn(&std::path::Path) -> bool + Sync),
    progress: &mut dyn FnMut(Progress<'_>),
    traces: Option<&mut Vec<TracedMigration>>,
) -> Result<ApplyReport, MigrateError> {
    if options.mode == Mode::Dev {
        require_local(target, Mode::Dev.command())?;
    }
    let files = match &options.files {
        Some(files) => files.clone(),
        None => files::discover(&config.paths.migrations)?.into(),
    };
    // A dry run changes nothing, so it does not queue behind a running migration.
    let mut session = if options.dry_run {
        Session::open(config, target).await?
    } else {
        Session::open_locked(config, target, progress).await?
    };
    let result = apply_locked(
        &mut session,
        config,
        target,
        options,
        &files,
        settled,
        progress,
        traces,
    )
    .await;
    session.close().await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn apply_locked(
    s: &mut Session,
    config: &Config,
    target: &Target,
    options: &ApplyOptions,
    files: &[MigrationFile],
    settled: &(dyn Fn(&std::path::Path) -> bool + Sync),
    progress: &mut dyn FnMut(Progress<'_>),
    mut traces: Option<&mut Vec<TracedMigration>>,
) -> Result<ApplyReport, MigrateError> {
    let actor = Actor::current(&target.env);
    if !options.dry_run {
        let created = history::ensure_tables(&mut s.conn, &s.schema).await;
        s.check(created, "creating the history tables")?;
    }
    let read = history::read(&mut s.conn, &s.schema).await;
    let mut history = s.check(read, "reading the migration history")?;
    let command = options.mode.command();
    match options.mode {
        Mode::Dev => marker::check_local(config, command, &s.database, history.marker.as_deref())?,
        Mode::Deploy => marker::check_env(
            config,
            command,
            &target.env,
            &s.database,
            history.marker.as_deref(),
        )?,
    }
    if options.mode == Mode::Deploy
        && !target.is_local()
        && history.marker.is_none()
        && !options.dry_run
    {
        let written = marker::write(&mut s.conn, &actor, &s.schema).await;
        s.check(written, "recording the environment marker")?;
        history.marker = Some(target.env.clone());
    }
    let rows = classify(files, &history);
    let rewriting = match options.mode {
        Mode::Dev => rewriting(&rows, files, settled),
        Mode::Deploy => None,
    };
    let (mut pending, problems) = plan(&rows, files, options);
    if rewriting.is_some() {
        pending.clear();
    } else if !problems.is_empty() {
        return Err(MigrateError::Blocked {
            target: s.target.clone(),
            problems,
        });
    }
    let mut checked = Vec::with_capacity(pending.len());
    let mut waiting = rewriting;
    for file in &pending {
        let wait = |reason| {
            Some(Waiting {
                file: file.file_name.clone(),
                reason,
            })
        };
        if options.mode == Mode::Dev && (!settled(&file.path) || changed_since_read(file)) {
            waiting = wait(WaitReason::BeingWritten);
            break;
        }
        let statements = preflight(file, s.standard_strings)?;
        // Applying the file `migrate-new` just made would record it empty, and writing it
        // later would make it "edited after it was applied". Any other file without SQL (a
        // version kept for the order, an up file whose down file does the work) is applied
        // and recorded, as sqlx does.
        if options.mode == Mode::Dev
            && statements.is_empty()
            && super::new::is_untouched_template(file.name_without_version(), &file.sql)
        {
            waiting = wait(WaitReason::NoSql);
            break;
        }
        checked.push(statements);
    }
    pending.truncate(checked.len());
    let lint = if options.lint {
        lint_pending(s, config, target, options, &pending).await?
    } else {
        Vec::new()
    };
    let mut report = ApplyReport {
        env: target.env.clone(),
        database: s.database.clone(),
        dry_run: options.dry_run,
        applied: Vec::new(),
        would_apply: Vec::new(),
        already_applied: rows.iter().filter(|r| r.state == State::Applied).count(),
        marker: history.marker.clone(),
        waiting,
        lint,
    };
    if options.dry_run {
        report.would_apply = pending
            .iter()
            .map(|f| PlannedMigration {
                version: f.version,
                description: f.description.clone(),
                file: f.file_name.clone(),
                no_transaction: f.no_tx,
            })
            .collect();
        return Ok(report);
    }
    let mut next = 0;
    let mut tracer = None;
    while next < pending.len() {
        let file = pending[next];
        if let Some(traces) = traces.as_deref_mut() {
            progress(Progress::Applying(file));
            let mut statements = Vec::new();
            let duration = if file.no_tx {
                let trace = Some((&mut statements, &mut tracer));
                apply_without_transaction(s, file, &checked[next], &actor, trace).await?
            } else {
                let job = tx_job(file, &checked[next], &actor, &s.schema);
                let (duration, traced) =
                    execute::in_transaction_traced(s, job, &actor, &mut tracer).await?;
                statements = traced;
                duration
            };
            traces.push(TracedMigration {
                file: file.file_name.clone(),
                no_transaction: file.no_tx,
                statements,
            });
            applied(&mut report, file, duration, progress);
            next += 1;
            continue;
        }
        if file.no_tx {
            progress(Progress::Applying(file));
            let duration = apply_without_transaction(s, file, &checked[next], &actor, None).await?;
            applied(&mut report, file, duration, progress);
            next += 1;
            continue;
        }
        // Consecutive transactional migrations go to the server in one message, each in its
        // own transaction: one round trip for many. Bounded, so that progress lines keep
        // coming and a message stays a reasonable size.
        let mut end = next;
        let mut bytes = 0;
        while end < pending.len()
            && !pending[end].no_tx
            && end - next < BATCH_MIGRATIONS
            && (end == next || bytes + pending[end].sql.len() <= BATCH_BYTES)
        {
            bytes += pending[end].sql.len();
            end += 1;
        }
        let jobs: Vec<execute::TxJob> = (next..end)
            .map(|i| tx_job(pending[i], &checked[i], &actor, &s.schema))
            .collect();
        for job in &jobs {
            progress(Progress::Applying(job.file));
        }
        let (durations, error) = execute::in_transactions(s, &jobs, &actor).await;
        for (file, duration) in pending[next..end].iter().zip(durations) {
            applied(&mut report, file, duration, progress);
        }
        if let Some(error) = error {
            return Err(error);
        }
        next = end;
    }
    Ok(report)
}

/// The lint of the migrations about to be applied: from the files alone for `migrate-dev`
/// (never blocking), against the target's tables for `migrate-deploy`, which refuses
/// unacknowledged blocking findings before anything is sent.
async fn lint_pending(
    s: &mut Session,
    config: &Config,
    target: &Target,
    options: &ApplyOptions,
    pending: &[&MigrationFile],
) -> Result<Vec<crate::lint::Finding>, MigrateError> {
    use crate::lint::{self, Scope, Source};
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let sources: Vec<Source> = pending
        .iter()
        .map(|f| Source::of(f, &config.root))
        .collect();
    // A file the parser refuses is the engine's to report: the migrations before it are
    // applied, and it fails with the server's own message and position.
    let without_syntax = |mut findings: Vec<lint::Finding>| {
        findings.retain(|f| f.rule != lint::SYNTAX_ERROR);
        findings
    };
    match options.mode {
        Mode::Dev => Ok(without_syntax(lint::lint_static(
            &sources,
            config,
            Scope::Run,
        ))),
        Mode::Deploy => {
            let linted =
                lint::lint_against(&mut s.conn, &target.env, &sources, config, Scope::Run).await;
            let findings =
                without_syntax(s.check(linted, "measuring the tables the migrations touch")?);
            if !options.dry_run && lint::any_blocking(&findings) {
                return Err(MigrateError::LintBlocked {
                    target: s.target.clone(),
                    findings,
                });
            }
            Ok(findings)
        }
    }
}

/// The first applied migration whose file differs from its history but is not settled:
/// still being written (`settled` says so), or no longer what was read a moment ago. An
/// editor that saves the same text again truncates the file first; read then, it looks
/// edited.
fn rewriting(
    rows: &[StatusRow],
    files: &[MigrationFile],
    settled: &(dyn Fn(&std::path::Path) -> bool + Sync),
) -> Option<Waiting> {
    let file = rows
        .iter()
        .filter(|row| row.state == State::Modified)
        .filter_map(|row| files.iter().find(|f| f.version == row.version))
        .find(|f| !settled(&f.path) || changed_since_read(f))?;
    Some(Waiting {
        file: file.file_name.clone(),
        reason: WaitReason::Rewriting,
    })
}

/// Whether the file on disk is no longer what discovery read: it was being written then,
/// even if the watch says it has settled since (the lock wait can be long).
fn changed_since_read(file: &MigrationFile) -> bool {
    std::fs::read(&file.path).map_or(true, |now| files::checksum(&now) != file.checksum)
}

/// How many transactional migrations (and bytes of SQL) go in one message at most.
const BATCH_MIGRATIONS: usize = 50;
const BATCH_BYTES: usize = 1 << 20;

fn applied(
    report: &mut ApplyReport,
    file: &MigrationFile,
    duration: Duration,
    progress: &mut dyn FnMut(Progress<'_>),
) {
    let applied = AppliedMigration {
        version: file.version,
        description: file.description.clone(),
        file: file.file_name.clone(),
        duration,
    };
    progress(Progress::Applied(&applied));
    report.applied.push(applied);
}

/// The migrations to apply, in order, or what stops them.
pub(crate) fn plan<'f>(
    rows: &[StatusRow],
    files: &'f [MigrationFile],
    options: &ApplyOptions,
) -> (Vec<&'f MigrationFile>, Vec<Problem>) {
    let mut pending = Vec::new();
    let mut problems = Vec::new();
    let newest_applied = rows
        .iter()
        .filter(|r| matches!(r.state, State::Applied | State::Modified | State::Missing))
        .map(|r| r.version)
        .max()
        .unwrap_or(0);
    let file_of = |version: i64| files.iter().find(|f| f.version == version);
    for row in rows {
        let file_name = row.file.clone().unwrap_or_else(|| row.name());
        match row.state {
            State::Applied => {}
            State::Pending => pending.extend(file_of(row.version)),
            State::OutOfOrder if options.allow_out_of_order => pending.extend(file_of(row.version)),
            State::OutOfOrder => problems.push(Problem::OutOfOrder {
                version: row.version,
                file: file_name,
                newest_applied,
            }),
            State::Modified => problems.push(Problem::Edited(super::error::EditedMigration {
                version: row.version,
                file: file_name,
                applied_checksum: row.applied_checksum.clone().unwrap_or_default(),
                file_checksum: row.file_checksum.clone().unwrap_or_default(),
                line_endings_only: row.line_endings_only,
            })),
            State::Missing => problems.push(Problem::Missing {
                version: row.version,
                description: row.description.clone(),
            }),
            State::Failed => {
                let error = row.error.as_ref();
                let partial = error.is_some_and(|e| e.partial);
                // In local work a failed transactional migration left nothing behind: retry it
                // (the daemon's loop: save, fail, fix, save).
                if options.mode == Mode::Dev && !partial && file_of(row.version).is_some() {
                    pending.extend(file_of(row.version));
                } else {
                    problems.push(Problem::Failed {
                        version: row.version,
                        file: file_name,
                        error: error.map(|e| e.message.clone()).unwrap_or_default(),
                        partial,
                    });
                }
            }
        }
    }
    (pending, problems)
}

/// Checks a migration before anything is sent, with PostgreSQL's own parser (`sql`): it
/// parses (no psql meta-command, no `COPY FROM STDIN` data), copies nothing to or from the
/// client, releases no lock; a transactional one holds nothing that cannot run in a
/// transaction or that ends the transaction itself; a `-- no-transaction` one, whose
/// statements go one by one, does not change how the next ones are read.
/// `standard_strings` is the session's default `standard_conforming_strings`.
pub fn preflight(
    file: &MigrationFile,
    standard_strings: bool,
) -> Result<Vec<Statement<'_>>, MigrateError> {
    let rejected = |line: usize, reason: String| MigrateError::Rejected {
        version: file.version,
        file: file.file_name.clone(),
        line,
        reason,
    };
    let statements = match sql::statements(&file.sql, standard_strings) {
        Ok(statements) => statements,
        // The server refuses the same text before running any of it, and says exactly where:
        // the file goes as one piece, and its failure is recorded like any other. (Should the
        // server's grammar accept what this parser's refuses, the guard after the migration
        // still catches a COMMIT or a released lock.)
        Err(e) if e.syntax => sql::unparsed(&file.sql),
        Err(e) => return Err(rejected(e.line, e.message)),
    };
    for st in &statements {
        if let Some(what) = st.releases_lock {
            return Err(rejected(
                st.line,
                format!(
                    "{what} would release the migration lock that this session holds, letting another \
                     deploy start halfway through this one; remove it (pgshift releases the lock itself)"
                ),
            ));
        }
        let refusal = match &st.kind {
            Kind::CopyFromStdin => Some(sql::COPY_FROM_STDIN.to_string()),
            Kind::CopyToStdout => Some(
                "`COPY ... TO STDOUT` answers with a stream of rows that only psql knows how to \
                 read; a migration cannot return data: remove it, or COPY TO a file on the server"
                    .to_string(),
            ),
            Kind::SetsStandardStrings if file.no_tx => Some(format!(
                "changing standard_conforming_strings in a `{}` file changes how the server reads \
                 the statements after it, which are sent one by one: set it in a migration of its \
                 own, or drop the `{}` line",
                files::NO_TRANSACTION,
                files::NO_TRANSACTION
            )),
            Kind::NoTransaction(what) if !file.no_tx => Some(format!(
                "{what} cannot run inside a transaction, and this migration runs in one; make \
                 `{}` the first line of the file (best with that statement alone in its migration)",
                files::NO_TRANSACTION
            )),
            Kind::TransactionControl(what) if !file.no_tx => Some(format!(
                "`{what}` controls the transaction, but pgshift runs each migration in one transaction \
                 (all or nothing); remove it, or make `{}` the first line of the file",
                files::NO_TRANSACTION
            )),
            _ => None,
        };
        if let Some(reason) = refusal {
            return Err(rejected(st.line, reason));
        }
    }
    Ok(statements)
}

/// A transactional migration with its history rows.
fn tx_job<'a>(
    file: &'a MigrationFile,
    statements: &'a [Statement<'a>],
    actor: &Actor,
    schema: &str,
) -> execute::TxJob<'a> {
    execute::TxJob {
        file,
        statements,
        bookkeeping: applied_bookkeeping(file, actor, schema),
        partial: unfinished_row(file, schema),
    }
}

/// The `_sqlx_migrations` row of a migration that may be partly applied (`success = false`).
fn unfinished_row(file: &MigrationFile, schema: &str) -> String {
    history::sqlx_insert(
        schema,
        file.version,
        &file.description,
        false,
        &file.checksum,
        "-1",
    )
}

/// The history rows of a transactional migration, written in its transaction.
fn applied_bookkeeping(file: &MigrationFile, actor: &Actor, schema: &str) -> Vec<String> {
    vec![
        history::sqlx_insert(
            schema,
            file.version,
            &file.description,
            true,
            &file.checksum,
            execute::ELAPSED_NS,
        ),
        applied_log(file, execute::ELAPSED_NS.into()).sql(actor, schema),
    ]
}

async fn apply_without_transaction(
    s: &mut Session,
    file: &MigrationFile,
    statements: &[Statement<'_>],
    actor: &Actor,
    trace: Option<(&mut Vec<execute::TracedStatement>, &mut Option<Tracer>)>,
) -> Result<Duration, MigrateError> {
    // A row with success = false first: if the process dies part-way, the database says so,
    // and sqlx's own Migrator refuses to go on (it reports the version as dirty).
    let schema = &s.schema.clone();
    let steps = execute::NoTxSteps {
        before: unfinished_row(file, schema),
        after: &|elapsed: Duration| {
            format!(
                "UPDATE {schema}._sqlx_migrations SET success = true, execution_time = {ns} WHERE version = {v}; {log}",
                ns = elapsed.as_nanos(),
                v = file.version,
                log = applied_log(file, elapsed.as_nanos().to_string()).sql(actor, schema)
            )
        },
        nothing_ran: format!(
            "DELETE FROM {schema}._sqlx_migrations WHERE version = {} AND NOT success",
            file.version
        ),
    };
    execute::without_transaction(s, file, statements, actor, &steps, trace).await
}

fn applied_log(file: &MigrationFile, duration_ns: String) -> LogEntry<'_> {
    LogEntry {
        version: file.version,
        file: &file.file_name,
        action: action::APPLIED,
        checksum: Some(&file.checksum),
        duration_ns: Some(duration_ns),
        error: None,
        statement: None,
        line: None,
        partial: false,
    }
}
