//! Sending a migration file to the server: in one transaction with its history rows, or
//! statement by statement for `-- no-transaction` files; turning a server error into a
//! `MigrationFailure` that names the file, line and statement, and logging it.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::error::{MigrateError, MigrationFailure};
use super::files::MigrationFile;
use super::history::{action, Actor, LogEntry};
use super::session::{Session, CLEAN_SLATE_COMMANDS};
use super::trace::{StatementEffect, Tracer};
use crate::sql::{self, Kind, Statement};

/// The server-side duration of the current migration, in nanoseconds, from the start its
/// transaction records (`pgshift.started`). A migration that runs `RESET ALL` clears that
/// setting; then the duration counts from the start of the message (`statement_timestamp()`),
/// which is longer than the migration when it was sent with others, but never an error.
pub(crate) const ELAPSED_NS: &str = "((extract(epoch from pg_catalog.clock_timestamp()) \
     - coalesce(nullif(pg_catalog.current_setting('pgshift.started', true), '')::numeric, \
                extract(epoch from pg_catalog.statement_timestamp()))) * 1000000000)::bigint";

/// Opens a migration's transaction: BEGIN, a clean session (whatever the previous migration
/// changed in it, see `Session::clean_slate`), its start time, and the mark that tells the
/// guard it is still the same transaction.
fn opening(s: &Session) -> String {
    format!(
        "BEGIN;\n{};\nSELECT pg_catalog.set_config('pgshift.started', extract(epoch from pg_catalog.clock_timestamp())::text, true), {};\n",
        s.clean_slate(),
        super::lock::MARK_TRANSACTION
    )
}
const OPENING_COMMANDS: usize = 1 + CLEAN_SLATE_COMMANDS + 1;

/// Sent between a migration and its history rows: the rows are written as the user pgshift
/// connected as, whatever role the migration switched to (a migration may `SET ROLE` to the
/// tables' owner, who need not be allowed to write the history).
const BOOKKEEPING_PRELUDE: &str = "RESET SESSION AUTHORIZATION;\nRESET ROLE;\n";
const BOOKKEEPING_PRELUDE_COMMANDS: usize = 2;

/// SQLSTATEs the guard raises: the migration's transaction ended inside it (what ran before
/// the end is committed), or the session no longer holds the migration lock.
const TRANSACTION_ENDED: &str = "PGS02";
const LOCK_RELEASED: &str = "PGS01";

/// Sent after a migration's statements and before its history rows: fails the transaction
/// when what no static check can see happened while it ran (a `COMMIT` that ended the
/// transaction, a function or `DO` block that released the migration lock through dynamic
/// SQL). One command.
fn guard(s: &Session) -> String {
    let lock = s
        .lock_held_sql()
        .map(|held| {
            format!(
                "IF NOT {held} THEN RAISE EXCEPTION 'the migration lock was released while the \
                 migration ran' USING ERRCODE = '{LOCK_RELEASED}'; END IF;"
            )
        })
        .unwrap_or_default();
    format!(
        "DO $pgshift_guard$ BEGIN IF NOT {} THEN RAISE EXCEPTION 'the migration''s transaction \
         ended before the migration did' USING ERRCODE = '{TRANSACTION_ENDED}'; END IF; {lock} \
         END $pgshift_guard$;\n",
        super::lock::transaction_marked()
    )
}

/// A migration file (up or down) to run in its own transaction with its history statements.
pub(crate) struct TxJob<'a> {
    pub file: &'a MigrationFile,
    pub statements: &'a [Statement<'a>],
    /// The history statements, one command each, run in the same transaction.
    pub bookkeeping: Vec<String>,
    /// The history statement that marks the migration as possibly partial (`success =
    /// false`), for when its transaction ended part-way and what ran before is committed.
    pub partial: String,
}

/// Runs one migration file in one transaction with its bookkeeping: it commits whole or not
/// at all.
pub(crate) async fn in_transaction(
    s: &mut Session,
    job: TxJob<'_>,
    actor: &Actor,
) -> Result<Duration, MigrateError> {
    let (mut done, error) = in_transactions(s, std::slice::from_ref(&job), actor).await;
    match error {
        Some(e) => Err(e),
        None => Ok(done.pop().unwrap_or_default()),
    }
}

/// Runs several migrations, each in its own transaction with its bookkeeping, in one message
/// (one round trip for all of them). The server stops at the first error: the migrations
/// before it are committed, it is rolled back, the later ones are not attempted. Returns the
/// server-side duration of each committed migration, and the failure if one failed.
pub(crate) async fn in_transactions(
    s: &mut Session,
    jobs: &[TxJob<'_>],
    actor: &Actor,
) -> (Vec<Duration>, Option<MigrateError>) {
    // The server reads a whole message before it runs any of it, with the session's settings
    // as they are when the message arrives. The previous migration may have changed them
    // (`standard_conforming_strings` changes what a string literal is), so the session is
    // reset in a message of its own first: the files are read as `sql::statements` read them.
    let reset = sqlx::raw_sql(&s.clean_slate()).execute(&mut s.conn).await;
    if let Err(e) = reset {
        return (
            Vec::new(),
            Some(MigrateError::db(&s.target, "resetting the session", e)),
        );
    }
    // Where each file sits in the message, and the index of its first command.
    let mut message = String::new();
    let mut spans = Vec::with_capacity(jobs.len());
    let mut commands = 0;
    for job in jobs {
        message.push_str(&opening(s));
        let sql_at = message.len();
        message.push_str(&job.file.sql);
        // The newline before `;` ends a `--` comment on the file's last line.
        message.push_str("\n;\n");
        message.push_str(BOOKKEEPING_PRELUDE);
        message.push_str(&guard(s));
        for statement in &job.bookkeeping {
            message.push_str(statement);
            message.push_str(";\n");
        }
        message.push_str(&format!(
            "SELECT {ELAPSED_NS} AS pgshift_elapsed_ns;\nCOMMIT;\n"
        ));
        let count = OPENING_COMMANDS
            + job.statements.len()
            + BOOKKEEPING_PRELUDE_COMMANDS
            + 1
            + job.bookkeeping.len()
            + 2;
        spans.push((sql_at, commands, count));
        commands += count;
    }
    let (completed, durations, result) = run_counting(s, &message).await;
    let Err(error) = result else {
        return (durations, None);
    };
    if connection_lost(s, &error).await {
        // Not the migration's fault, and not known to have failed: the server may have
        // committed more than it told us before the connection went. No failure is
        // recorded; only the migrations whose COMMIT completed are reported applied.
        let committed = spans
            .iter()
            .take_while(|&&(_, first, count)| completed >= first + count)
            .count();
        let durations = durations.into_iter().take(committed).collect();
        let unknown: Vec<&str> = jobs[committed..]
            .iter()
            .map(|j| j.file.file_name.as_str())
            .collect();
        let lost = MigrateError::ConnectionLost {
            target: s.target.clone(),
            action: format!("applying {}", unknown.join(", ")),
            message: format!(
                "{}; the migrations reported applied are committed, these may or may not be; run \
                 `cargo xtask migrate-status` to see where each stands, then run again",
                crate::target::redact(&error.to_string())
            ),
        };
        return (durations, Some(lost));
    }
    let info = ServerError::from(&error);
    let position = info.position.and_then(|p| char_to_byte(&message, p));
    // The migration that failed: the one whose text holds the error's position, else the one
    // whose commands include the one that failed.
    let failed = position
        .and_then(|at| {
            jobs.iter().zip(&spans).position(|(job, &(sql_at, _, _))| {
                (sql_at..sql_at + job.file.sql.len()).contains(&at)
            })
        })
        .or_else(|| {
            spans
                .iter()
                .position(|&(_, first, count)| completed < first + count)
        })
        .unwrap_or(jobs.len() - 1);
    rollback_if_open(s).await;
    let mut durations: Vec<Duration> = durations.into_iter().take(failed).collect();
    if completed == 0 && failed > 0 {
        // The server refused the whole message (a syntax error is found before anything
        // runs): the migrations before the bad one still go, on their own.
        let (done, error) = Box::pin(in_transactions(s, &jobs[..failed], actor)).await;
        if error.is_some() {
            return (done, error);
        }
        durations = done;
    }
    let (job, (sql_at, first, _)) = (&jobs[failed], spans[failed]);
    let (file, statements) = (job.file, job.statements);
    let guard_at = first + OPENING_COMMANDS + statements.len() + BOOKKEEPING_PRELUDE_COMMANDS;
    if completed == guard_at {
        let ended = info.code.as_deref() == Some(TRANSACTION_ENDED);
        let lock = info.code.as_deref() == Some(LOCK_RELEASED);
        if ended || lock {
            return (
                durations,
                Some(guard_failure(s, job, actor, info, ended).await),
            );
        }
    }
    // Where in the file: the server's position if it gave one, else the statement it was on.
    let in_file = completed.checked_sub(first + OPENING_COMMANDS);
    let located = position
        .and_then(|b| b.checked_sub(sql_at))
        .filter(|&off| off < file.sql.len())
        .map(|off| {
            let st = statements.iter().rev().find(|st| st.start <= off);
            (sql::line_of(&file.sql, off), st)
        })
        .or_else(|| {
            let st = statements.get(in_file?)?;
            Some((st.line, Some(st)))
        });
    let (line, statement) = match located {
        Some((line, st)) => (Some(line), st.map(Statement::text)),
        None => (None, None),
    };
    let message = if located.is_none() && in_file.is_some_and(|i| i >= statements.len()) {
        format!("recording it in the history failed: {}", info.message)
    } else {
        info.message.clone()
    };
    let failure = fail(s, file, actor, message, info, line, statement, false).await;
    (durations, Some(failure))
}

/// A statement of a migration run on its own, and what it did to the tables that existed
/// before the migration (`trace::Tracer`).
#[derive(Debug, Clone, Serialize)]
pub struct TracedStatement {
    /// 1-based line of its first token in the file.
    pub line: usize,
    /// Its first line of text.
    pub statement: String,
    #[serde(rename = "duration_ms", serialize_with = "super::apply::as_millis")]
    pub duration: Duration,
    #[serde(flatten)]
    pub effect: StatementEffect,
}

impl TracedStatement {
    fn of(st: &Statement<'_>, duration: Duration, effect: StatementEffect) -> TracedStatement {
        TracedStatement {
            line: st.line,
            statement: st.sql.lines().next().unwrap_or("").trim().to_string(),
            duration,
            effect,
        }
    }
}

/// `in_transaction`, one statement per message with `Tracer` reading what each did. The
/// opening, the guard and the history rows are the same; a file whose statements cannot be
/// sent one by one as they were read (the parser refused it, or it changes
/// `standard_conforming_strings`, which changes how the server reads the next message) goes
/// whole, traced as one step. Returns the migration's server-side duration and the steps.
pub(crate) async fn in_transaction_traced(
    s: &mut Session,
    job: TxJob<'_>,
    actor: &Actor,
    tracer: &mut Option<Tracer>,
) -> Result<(Duration, Vec<TracedStatement>), MigrateError> {
    // The opening resets the session (`clean_slate`) before the first statement arrives: each
    // statement is a message of its own, read with the settings as they are then.
    let opened = sqlx::raw_sql(&opening(s)).execute(&mut s.conn).await;
    s.check(opened, "opening the migration's transaction")?;
    let file = job.file;
    let whole;
    let statements = match job.statements.first() {
        Some(first)
            if job
                .statements
                .iter()
                .any(|st| matches!(st.kind, Kind::Unparsed | Kind::SetsStandardStrings)) =>
        {
            whole = [Statement {
                sql: &file.sql[first.start..],
                ..first.clone()
            }];
            &whole[..]
        }
        _ => job.statements,
    };
    let tracer = match follow(s, tracer).await {
        Ok(tracer) => tracer,
        Err(e) => {
            rollback_if_open(s).await;
            return Err(e);
        }
    };
    let mut steps = Vec::with_capacity(statements.len());
    for st in statements {
        let started = Instant::now();
        let sent = sqlx::raw_sql(st.sql).execute(&mut s.conn).await;
        let duration = started.elapsed();
        let error = match sent {
            Ok(_) => match tracer.after_statement(&mut s.conn).await {
                Ok(effect) => {
                    steps.push(TracedStatement::of(st, duration, effect));
                    continue;
                }
                Err(e) => {
                    rollback_if_open(s).await;
                    return Err(MigrateError::db(
                        &s.target,
                        &format!(
                            "reading the locks after line {} of {}",
                            st.line, file.file_name
                        ),
                        e,
                    ));
                }
            },
            Err(error) => error,
        };
        if connection_lost(s, &error).await {
            return Err(MigrateError::ConnectionLost {
                target: s.target.clone(),
                action: format!("applying {}", file.file_name),
                message: format!(
                    "{}; it went during the statement at line {}, inside the migration's \
                     transaction, which did not commit",
                    crate::target::redact(&error.to_string()),
                    st.line
                ),
            });
        }
        rollback_if_open(s).await;
        let info = ServerError::from(&error);
        let line = located(file, st, &info);
        let message = info.message.clone();
        let failure = fail(
            s,
            file,
            actor,
            message,
            info,
            Some(line),
            Some(st.text()),
            false,
        );
        return Err(failure.await);
    }
    let mut ending = format!("\n;\n{BOOKKEEPING_PRELUDE}{}", guard(s));
    for statement in &job.bookkeeping {
        ending.push_str(statement);
        ending.push_str(";\n");
    }
    ending.push_str(&format!(
        "SELECT {ELAPSED_NS} AS pgshift_elapsed_ns;\nCOMMIT;\n"
    ));
    let (completed, mut durations, result) = run_counting(s, &ending).await;
    let Err(error) = result else {
        return Ok((durations.pop().unwrap_or_default(), steps));
    };
    if connection_lost(s, &error).await {
        return Err(MigrateError::ConnectionLost {
            target: s.target.clone(),
            action: format!("recording {} in the history", file.file_name),
            message: format!(
                "{}; it may or may not be committed; run `cargo xtask migrate-status` to see",
                crate::target::redact(&error.to_string())
            ),
        });
    }
    let info = ServerError::from(&error);
    rollback_if_open(s).await;
    let guarded = matches!(
        info.code.as_deref(),
        Some(TRANSACTION_ENDED | LOCK_RELEASED)
    );
    if completed == BOOKKEEPING_PRELUDE_COMMANDS && guarded {
        let ended = info.code.as_deref() == Some(TRANSACTION_ENDED);
        return Err(guard_failure(s, &job, actor, info, ended).await);
    }
    let message = format!("recording it in the history failed: {}", info.message);
    Err(fail(s, file, actor, message, info, None, None, false).await)
}

/// The tracer for the migration about to run on `s`: started on the first, carried on for
/// the next ones (`Tracer::next_migration`: not every table read again).
async fn follow<'t>(
    s: &mut Session,
    tracer: &'t mut Option<Tracer>,
) -> Result<&'t mut Tracer, MigrateError> {
    match tracer {
        Some(tracer) => {
            let read = tracer.next_migration(&mut s.conn).await;
            s.check(read, "reading the tables and their locks")?;
            Ok(tracer)
        }
        None => {
            let started = Tracer::start(&mut s.conn, None).await;
            let started = s.check(started, "reading the tables and their locks")?;
            Ok(tracer.insert(started))
        }
    }
}

/// The line in `file` of a server error raised by statement `st`, sent alone.
fn located(file: &MigrationFile, st: &Statement<'_>, info: &ServerError) -> usize {
    let sent_at = st.sql.as_ptr() as usize - file.sql.as_ptr() as usize;
    info.position
        .and_then(|p| char_to_byte(st.sql, p))
        .map_or(st.line, |b| sql::line_of(&file.sql, sent_at + b))
}

/// The history statements around a `-- no-transaction` file.
pub(crate) struct NoTxSteps<'a> {
    /// Sent first: marks the migration as in progress.
    pub before: String,
    /// Sent after the last statement, with the elapsed time: records success.
    pub after: &'a dyn Fn(Duration) -> String,
    /// Sent when the first statement fails (so nothing ran): undoes `before`.
    pub nothing_ran: String,
}

/// Runs a `-- no-transaction` file statement by statement, each in its own implicit
/// transaction (so CREATE INDEX CONCURRENTLY works).
pub(crate) async fn without_transaction(
    s: &mut Session,
    file: &MigrationFile,
    statements: &[Statement<'_>],
    actor: &Actor,
    steps: &NoTxSteps<'_>,
    mut trace: Option<(&mut Vec<TracedStatement>, &mut Option<Tracer>)>,
) -> Result<Duration, MigrateError> {
    let started = Instant::now();
    let before = format!("{}; {}", s.clean_slate(), steps.before);
    let marked = sqlx::raw_sql(&before).execute(&mut s.conn).await;
    s.check(
        marked,
        "recording the start of a -- no-transaction migration",
    )?;
    // A file the parser refused goes whole: the server refuses it before running any of it.
    let whole;
    let statements = match statements.first() {
        Some(first) if first.kind == Kind::Unparsed => {
            whole = [Statement {
                sql: &file.sql[first.start..],
                ..first.clone()
            }];
            &whole[..]
        }
        _ => statements,
    };
    // Traced, each statement's locks are gone by the time they could be read (it committed
    // on its own); its rewrites are not.
    let mut traced = match trace.as_mut() {
        Some((steps, tracer)) => Some((&mut **steps, follow(s, tracer).await?)),
        None => None,
    };
    for (i, st) in statements.iter().enumerate() {
        let sent_at = Instant::now();
        let sent = sqlx::raw_sql(st.sql).execute(&mut s.conn).await;
        let duration = sent_at.elapsed();
        let error = match sent {
            Ok(_) => match after_statement(s).await {
                Ok(None) => {
                    if let Some((steps, tracer)) = traced.as_mut() {
                        let effect = tracer.after_statement(&mut s.conn).await;
                        let effect = s.check(effect, "reading the tables and their locks")?;
                        steps.push(TracedStatement::of(st, duration, effect));
                    }
                    continue;
                }
                // What ran is committed; what comes next would run unguarded or be read
                // differently from how it was checked: stop here, truthfully.
                Ok(Some(why)) => {
                    rollback_if_open(s).await;
                    let message = format!(
                        "{why} after the statement at line {}; the statements up to it ran and \
                         are committed, the rest did not run",
                        st.line
                    );
                    let info = ServerError {
                        message: message.clone(),
                        code: None,
                        position: None,
                    };
                    return Err(fail(
                        s,
                        file,
                        actor,
                        message,
                        info,
                        Some(st.line),
                        Some(st.text()),
                        true,
                    )
                    .await);
                }
                Err(error) => error,
            },
            Err(error) => error,
        };
        if connection_lost(s, &error).await {
            return Err(MigrateError::ConnectionLost {
                target: s.target.clone(),
                action: format!("applying {} (-- no-transaction)", file.file_name),
                message: format!(
                    "{}; it went during the statement at line {} (which may or may not have run), after the ones before it; run \
                     `cargo xtask migrate-status` (it shows it as possibly partial), repair by hand, \
                     then record the outcome with `cargo xtask migrate-resolve`",
                    crate::target::redact(&error.to_string()),
                    st.line
                ),
            });
        }
        // A statement that failed inside a BEGIN of the file's own leaves the transaction
        // aborted, which would refuse the history rows.
        rollback_if_open(s).await;
        let info = ServerError::from(&error);
        let line = located(file, st, &info);
        // A failed CONCURRENTLY statement is not rolled back whole: the server leaves the
        // index it was building behind, INVALID. Retrying would then fail forever with
        // "already exists", so the failure is kept as possibly partial (the `false` row
        // stays) and the message says how to clean up.
        let concurrently =
            matches!(st.kind, Kind::NoTransaction(what) if what.contains("CONCURRENTLY"));
        let partial = i > 0 || concurrently;
        if !partial {
            let _ = sqlx::raw_sql(&steps.nothing_ran).execute(&mut s.conn).await;
        }
        let message = info.message.clone();
        let statement = Some(st.text());
        let mut failure = fail(
            s,
            file,
            actor,
            message,
            info,
            Some(line),
            statement,
            partial,
        )
        .await;
        if let MigrateError::Failed(f) = &mut failure {
            f.concurrently = concurrently;
        }
        return Err(failure);
    }
    let elapsed = started.elapsed();
    let done = sqlx::raw_sql(&format!(
        "BEGIN; {BOOKKEEPING_PRELUDE} {}; COMMIT",
        (steps.after)(elapsed)
    ))
    .execute(&mut s.conn)
    .await;
    s.check(done, "recording a -- no-transaction migration")?;
    Ok(elapsed)
}

/// Checked after each statement of a `-- no-transaction` file, whose statements go one by
/// one: the session still holds the migration lock, and still reads strings as the file was
/// read (`standard_conforming_strings`). Returns why to stop, if it must.
async fn after_statement(s: &mut Session) -> Result<Option<String>, sqlx::Error> {
    let held = s.lock_held_sql().unwrap_or_else(|| "true".into());
    let (held, standard): (bool, bool) = sqlx::query_as(&format!(
        "SELECT {held}, pg_catalog.current_setting('standard_conforming_strings') = 'on'"
    ))
    .fetch_one(&mut s.conn)
    .await?;
    Ok(if !held {
        Some("the migration lock was released (another deploy could start now)".into())
    } else if standard != s.standard_strings {
        Some(
            "standard_conforming_strings changed, so the server would read the next statements' \
             strings differently from how pgshift checked them"
                .into(),
        )
    } else {
        None
    })
}

/// The guard refused to record a migration: its transaction ended inside it (`ended`: what
/// ran before the end is committed, so the migration is recorded as possibly partial, with
/// its `success = false` row, and blocks later ones until `migrate-resolve`), or it released
/// the migration lock (its transaction is rolled back: nothing of it was applied).
async fn guard_failure(
    s: &mut Session,
    job: &TxJob<'_>,
    actor: &Actor,
    info: ServerError,
    ended: bool,
) -> MigrateError {
    let message = if ended {
        "its transaction ended before the migration did (a COMMIT or ROLLBACK that ran inside \
         it): the statements before that point are committed, the ones after it ran in their own \
         transactions and the last ones were rolled back; repair by hand, then record the \
         outcome with `cargo xtask migrate-resolve`"
            .to_string()
    } else {
        "it released the migration lock (pg_advisory_unlock or pg_advisory_unlock_all, called \
         from a function or dynamic SQL), so another deploy could have started alongside it; \
         nothing of it was applied (its transaction was rolled back): remove the call"
            .to_string()
    };
    if ended {
        let marked = sqlx::raw_sql(&format!("{BOOKKEEPING_PRELUDE} {}", job.partial))
            .execute(&mut s.conn)
            .await;
        if let Err(e) = marked {
            tracing::warn!(
                "could not mark {} as possibly partial in _sqlx_migrations: {e}",
                job.file.file_name
            );
        }
    }
    fail(s, job.file, actor, message, info, None, None, ended).await
}

/// Rolls back the transaction the session is in, if it is in one (an aborted migration, or
/// a `BEGIN` of a `-- no-transaction` file's own).
async fn rollback_if_open(s: &mut Session) {
    // sqlx only counts the transactions it began itself, so the server is asked: an aborted
    // transaction refuses the query, an open one began before this statement did. (A ROLLBACK
    // sent outside a transaction would earn a "no transaction in progress" warning.)
    // The simple protocol: with the extended one, the transaction starts at Parse and the
    // statement at Execute.
    use sqlx::Row;
    let open = sqlx::raw_sql(
        "SELECT pg_catalog.transaction_timestamp() <> pg_catalog.statement_timestamp()",
    )
    .fetch_one(&mut s.conn)
    .await
    .and_then(|row| row.try_get::<bool, _>(0));
    if open.unwrap_or(true) {
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut s.conn).await;
    }
}

/// Whether an error means the connection is gone, decided by the connection: an I/O or
/// protocol error, or a server error after which the server no longer answers. A migration
/// that raises SQLSTATE 08006 itself (or a dblink, postgres_fdw error passed on) is a failed
/// migration, recorded as such.
async fn connection_lost(s: &mut Session, error: &sqlx::Error) -> bool {
    use sqlx::Connection;
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(_) => !matches!(
            tokio::time::timeout(Duration::from_secs(10), s.conn.ping()).await,
            Ok(Ok(()))
        ),
        _ => false,
    }
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
    .sql(actor, &s.schema);
    // After a -- no-transaction file, whatever it changed in the session is still there.
    let log = format!("{BOOKKEEPING_PRELUDE} {log}");
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
        concurrently: false,
    }))
}

/// Sends a multi-statement message; returns how many commands completed, the
/// `pgshift_elapsed_ns` values it returned, and the outcome.
async fn run_counting(
    s: &mut Session,
    sql: &str,
) -> (usize, Vec<Duration>, Result<(), sqlx::Error>) {
    use sqlx::{Either, Row};
    let mut stream = sqlx::raw_sql(sql).fetch_many(&mut s.conn);
    let mut completed = 0;
    let mut durations = Vec::new();
    loop {
        let next =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx)).await;
        match next {
            None => return (completed, durations, Ok(())),
            Some(Ok(Either::Left(_))) => completed += 1,
            Some(Ok(Either::Right(row))) => {
                // Rows of the migration's own SELECTs are ignored.
                if let Ok(ns) = row.try_get::<i64, _>("pgshift_elapsed_ns") {
                    durations.push(Duration::from_nanos(ns.max(0) as u64));
                }
            }
            Some(Err(e)) => return (completed, durations, Err(e)),
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
