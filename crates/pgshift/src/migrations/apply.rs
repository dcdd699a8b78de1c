//! Applying pending migrations: plan, check every file before anything is sent, then apply
//! each in order under the migration lock.
//!
//! A transactional migration goes to the server as one message: `BEGIN`, the file, the
//! `_sqlx_migrations` row, the `_pgshift_log` row, `COMMIT`. The migration and its history
//! commit together or not at all, in one round trip (sqlx needs five). When a statement
//! fails, the number of statements the server completed before the error (or the error's
//! position) names the statement and its line in the file.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::error::{MigrateError, MigrationFailure, Problem};
use super::files::{self, MigrationFile};
use super::history::{self, action, Actor, LogEntry};
use super::lock::LockHolder;
use super::marker;
use super::session::Session;
use super::split::{self, Statement};
use super::status::{classify, State, StatusRow};
use crate::config::Config;
use crate::target::Target;

/// Which command applies: what it may retry, and which marker rules hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `migrate-dev` and the daemon: local only; a failed transactional migration (nothing of
    /// it applied) is simply retried once its file changed.
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
}

/// What happens while applying, for one line of output per event.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The lock is held by someone else; waiting (at most `[migrate] lock_timeout`).
    WaitingForLock(Option<&'a LockHolder>),
    /// About to send this migration.
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
    };
    apply_pending(config, target, &options, progress).await
}

/// Refuses a target that is not the local one (for commands meant for local work).
pub fn require_local(target: &Target, command: &str) -> Result<(), MigrateError> {
    if target.is_local() && !target.protected {
        Ok(())
    } else {
        Err(MigrateError::NotLocal {
            command: command.to_string(),
            env: target.env.clone(),
            database: target.url.host_and_database(),
        })
    }
}

/// Applies the pending migrations of `[paths] migrations` to `target`.
pub async fn apply_pending(
    config: &Config,
    target: &Target,
    options: &ApplyOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ApplyReport, MigrateError> {
    if options.mode == Mode::Dev {
        require_local(target, Mode::Dev.command())?;
    }
    let files = files::discover(&config.paths.migrations)?;
    let mut session = Session::open(config, target).await?;
    if !options.dry_run {
        let locked = session
            .lock(config.migrate.lock_timeout, &mut |holder| {
                progress(Progress::WaitingForLock(holder))
            })
            .await;
        if let Err(e) = locked {
            session.close().await;
            return Err(e);
        }
    }
    let result = apply_locked(&mut session, config, target, options, &files, progress).await;
    session.close().await;
    result
}

async fn apply_locked(
    s: &mut Session,
    config: &Config,
    target: &Target,
    options: &ApplyOptions,
    files: &[MigrationFile],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ApplyReport, MigrateError> {
    let actor = Actor::current(&target.env);
    if !options.dry_run {
        let created = history::ensure_tables(&mut s.conn).await;
        s.check(created, "creating the history tables")?;
    }
    let read = history::read(&mut s.conn).await;
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
        let written = marker::write(&mut s.conn, &actor).await;
        s.check(written, "recording the environment marker")?;
        history.marker = Some(target.env.clone());
    }
    let rows = classify(files, &history);
    let (pending, problems) = plan(&rows, files, options);
    if !problems.is_empty() {
        return Err(MigrateError::Blocked {
            target: s.target.clone(),
            problems,
        });
    }
    let mut checked = Vec::with_capacity(pending.len());
    for file in &pending {
        checked.push(preflight(file)?);
    }
    let mut report = ApplyReport {
        env: target.env.clone(),
        database: s.database.clone(),
        dry_run: options.dry_run,
        applied: Vec::new(),
        would_apply: Vec::new(),
        already_applied: rows.iter().filter(|r| r.state == State::Applied).count(),
        marker: history.marker.clone(),
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
    for (file, statements) in pending.iter().zip(&checked) {
        progress(Progress::Applying(file));
        let duration = if file.no_tx {
            apply_without_transaction(s, file, statements, &actor).await?
        } else {
            apply_in_transaction(s, file, statements, &actor).await?
        };
        let applied = AppliedMigration {
            version: file.version,
            description: file.description.clone(),
            file: file.file_name.clone(),
            duration,
        };
        progress(Progress::Applied(&applied));
        report.applied.push(applied);
    }
    Ok(report)
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

/// Checks a migration before anything is sent: it splits cleanly, and a transactional one
/// holds nothing that cannot run in a transaction or that controls the transaction itself.
pub fn preflight(file: &MigrationFile) -> Result<Vec<Statement<'_>>, MigrateError> {
    let rejected = |line: usize, reason: String| MigrateError::Rejected {
        version: file.version,
        file: file.file_name.clone(),
        line,
        reason,
    };
    let statements = split::split(&file.sql).map_err(|u| rejected(u.line, u.to_string()))?;
    if file.no_tx {
        return Ok(statements);
    }
    for st in &statements {
        if let Some(what) = split::needs_no_transaction(st.sql) {
            return Err(rejected(
                st.line,
                format!(
                    "{what} cannot run inside a transaction, and this migration runs in one; make \
                     `{}` the first line of the file (best with that statement alone in its migration)",
                    files::NO_TRANSACTION
                ),
            ));
        }
        if let Some(what) = split::controls_transaction(st.sql) {
            return Err(rejected(
                st.line,
                format!(
                    "`{what}` controls the transaction, but pgshift runs each migration in one transaction \
                     (all or nothing); remove it, or make `{}` the first line of the file",
                    files::NO_TRANSACTION
                ),
            ));
        }
    }
    Ok(statements)
}

/// The server-side duration of the message so far, in nanoseconds (statement_timestamp() is
/// when the server received the message).
const ELAPSED_NS: &str =
    "(extract(epoch from clock_timestamp() - statement_timestamp()) * 1000000000)::bigint";
const BEGIN: &str = "BEGIN;\n";

async fn apply_in_transaction(
    s: &mut Session,
    file: &MigrationFile,
    statements: &[Statement<'_>],
    actor: &Actor,
) -> Result<Duration, MigrateError> {
    let record = history::sqlx_insert(
        file.version,
        &file.description,
        true,
        &file.checksum,
        ELAPSED_NS,
    );
    let log = LogEntry {
        version: file.version,
        file: &file.file_name,
        action: action::APPLIED,
        checksum: Some(&file.checksum),
        duration_ns: Some(ELAPSED_NS.into()),
        error: None,
        statement: None,
        line: None,
        partial: false,
    }
    .sql(actor);
    // The newline before `;` ends a `--` comment on the file's last line.
    let batch = format!("{BEGIN}{}\n;\n{record};\n{log};\nCOMMIT", file.sql);
    let started = Instant::now();
    let (completed, result) = run_counting(s, &batch).await;
    let Err(error) = result else {
        return Ok(started.elapsed());
    };
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut s.conn).await;
    let info = ServerError::from(&error);
    // Where in the file: the server's position if it gave one, else the statement it was on
    // (the BEGIN is the first completed command).
    let located = info
        .position
        .and_then(|p| char_to_byte(&batch, p))
        .and_then(|b| b.checked_sub(BEGIN.len()))
        .filter(|&off| off < file.sql.len())
        .map(|off| {
            let st = statements.iter().rev().find(|st| st.start <= off);
            (split::line_of(&file.sql, off), st)
        })
        .or_else(|| {
            let st = statements.get(completed.checked_sub(1)?)?;
            Some((st.line, Some(st)))
        });
    let (line, statement) = match located {
        Some((line, st)) => (Some(line), st.map(|st| st.text(&file.sql))),
        None => (None, None),
    };
    let message = if located.is_none() && completed > statements.len() {
        format!("recording it in _sqlx_migrations failed: {}", info.message)
    } else {
        info.message.clone()
    };
    Err(fail(s, file, actor, message, info, line, statement, false).await)
}

async fn apply_without_transaction(
    s: &mut Session,
    file: &MigrationFile,
    statements: &[Statement<'_>],
    actor: &Actor,
) -> Result<Duration, MigrateError> {
    // A row with success = false first: if the process dies part-way, the database says so,
    // and sqlx's own Migrator refuses to go on (it reports the version as dirty).
    let started = Instant::now();
    let mark = history::sqlx_insert(file.version, &file.description, false, &file.checksum, "-1");
    let marked = sqlx::raw_sql(&mark).execute(&mut s.conn).await;
    s.check(
        marked,
        "recording the start of a -- no-transaction migration",
    )?;
    for (i, st) in statements.iter().enumerate() {
        let Err(error) = sqlx::raw_sql(st.sql).execute(&mut s.conn).await else {
            continue;
        };
        let info = ServerError::from(&error);
        let sent_at = st.sql.as_ptr() as usize - file.sql.as_ptr() as usize;
        let line = info
            .position
            .and_then(|p| char_to_byte(st.sql, p))
            .map_or(st.line, |b| split::line_of(&file.sql, sent_at + b));
        let partial = i > 0;
        if !partial {
            // Its first statement failed, so nothing of it ran: no trace in sqlx's table.
            let _ = sqlx::raw_sql(&format!(
                "DELETE FROM _sqlx_migrations WHERE version = {} AND NOT success",
                file.version
            ))
            .execute(&mut s.conn)
            .await;
        }
        let message = info.message.clone();
        return Err(fail(
            s,
            file,
            actor,
            message,
            info,
            Some(line),
            Some(st.text(&file.sql)),
            partial,
        )
        .await);
    }
    let elapsed = started.elapsed();
    let log = LogEntry {
        version: file.version,
        file: &file.file_name,
        action: action::APPLIED,
        checksum: Some(&file.checksum),
        duration_ns: Some(elapsed.as_nanos().to_string()),
        error: None,
        statement: None,
        line: None,
        partial: false,
    }
    .sql(actor);
    let done = sqlx::raw_sql(&format!(
        "BEGIN; UPDATE _sqlx_migrations SET success = true, execution_time = {} WHERE version = {}; {log}; COMMIT",
        elapsed.as_nanos(),
        file.version
    ))
    .execute(&mut s.conn)
    .await;
    s.check(done, "recording a -- no-transaction migration as applied")?;
    Ok(elapsed)
}

/// Records a failure in `_pgshift_log` and builds the error.
#[allow(clippy::too_many_arguments)]
async fn fail(
    s: &mut Session,
    file: &MigrationFile,
    actor: &Actor,
    message: String,
    info: ServerError,
    line: Option<usize>,
    statement: Option<String>,
    partial: bool,
) -> MigrateError {
    let log = LogEntry {
        version: file.version,
        file: &file.file_name,
        action: action::FAILED,
        checksum: Some(&file.checksum),
        duration_ns: None,
        error: Some(&message),
        statement: statement.as_deref(),
        line,
        partial,
    }
    .sql(actor);
    if let Err(e) = sqlx::raw_sql(&log).execute(&mut s.conn).await {
        tracing::warn!(
            "could not record the failure of {} in _pgshift_log: {e}",
            file.file_name
        );
    }
    MigrateError::Failed(Box::new(MigrationFailure {
        version: file.version,
        file: file.file_name.clone(),
        path: file.path.clone(),
        target: s.target.clone(),
        line,
        statement,
        lock_wait: info.code.as_deref() == Some("55P03"),
        message,
        code: info.code,
        partial,
    }))
}

/// Sends a multi-statement message; returns how many commands completed, and the outcome.
async fn run_counting(s: &mut Session, sql: &str) -> (usize, Result<(), sqlx::Error>) {
    let mut stream = sqlx::raw_sql(sql).execute_many(&mut s.conn);
    let mut completed = 0;
    loop {
        let next =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx)).await;
        match next {
            None => return (completed, Ok(())),
            Some(Ok(_)) => completed += 1,
            Some(Err(e)) => return (completed, Err(e)),
        }
    }
}

/// What the server said, flattened for messages.
pub(crate) struct ServerError {
    pub message: String,
    pub code: Option<String>,
    /// 1-based character position in the text sent.
    pub position: Option<usize>,
}

impl From<&sqlx::Error> for ServerError {
    fn from(e: &sqlx::Error) -> ServerError {
        use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
        let Some(pg) = e
            .as_database_error()
            .and_then(|d| d.try_downcast_ref::<PgDatabaseError>())
        else {
            return ServerError {
                message: crate::target::redact(&e.to_string()),
                code: None,
                position: None,
            };
        };
        let mut message = pg.message().to_string();
        if let Some(detail) = pg.detail() {
            message.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = pg.hint() {
            message.push_str(&format!("; hint: {hint}"));
        }
        ServerError {
            message,
            code: Some(pg.code().to_string()),
            position: match pg.position() {
                Some(PgErrorPosition::Original(p)) => Some(p),
                _ => None,
            },
        }
    }
}

fn char_to_byte(text: &str, position: usize) -> Option<usize> {
    text.char_indices()
        .nth(position.checked_sub(1)?)
        .map(|(b, _)| b)
}
