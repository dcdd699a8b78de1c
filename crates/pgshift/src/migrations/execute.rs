//! Sending a migration file to the server: in one transaction with its history rows, or
//! statement by statement for `-- no-transaction` files; turning a server error into a
//! `MigrationFailure` that names the file, line and statement, and logging it.

use std::time::{Duration, Instant};

use super::error::{MigrateError, MigrationFailure};
use super::files::MigrationFile;
use super::history::{action, Actor, LogEntry};
use super::session::Session;
use super::split::{self, Statement};

/// The server-side duration of the message so far, in nanoseconds (statement_timestamp() is
/// when the server received the message).
pub(crate) const ELAPSED_NS: &str =
    "(extract(epoch from clock_timestamp() - statement_timestamp()) * 1000000000)::bigint";

/// Runs a migration file (up or down) in one transaction with `bookkeeping` (the history
/// statements), all in one message: it commits whole or not at all.
pub(crate) async fn in_transaction(
    s: &mut Session,
    file: &MigrationFile,
    statements: &[Statement<'_>],
    actor: &Actor,
    bookkeeping: &str,
) -> Result<Duration, MigrateError> {
    // The newline before `;` ends a `--` comment on the file's last line.
    // BEGIN and the session's two timeouts come first: three commands before the file.
    let prefix = format!("BEGIN;\n{};\n", s.timeouts);
    const PREFIX_COMMANDS: usize = 3;
    let batch = format!("{prefix}{}\n;\n{bookkeeping};\nCOMMIT", file.sql);
    let started = Instant::now();
    let (completed, result) = run_counting(s, &batch).await;
    let Err(error) = result else {
        return Ok(started.elapsed());
    };
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut s.conn).await;
    let info = ServerError::from(&error);
    // Where in the file: the server's position if it gave one, else the statement it was on
    // (the prefix's commands complete first).
    let located = info
        .position
        .and_then(|p| char_to_byte(&batch, p))
        .and_then(|b| b.checked_sub(prefix.len()))
        .filter(|&off| off < file.sql.len())
        .map(|off| {
            let st = statements.iter().rev().find(|st| st.start <= off);
            (split::line_of(&file.sql, off), st)
        })
        .or_else(|| {
            let st = statements.get(completed.checked_sub(PREFIX_COMMANDS)?)?;
            Some((st.line, Some(st)))
        });
    let (line, statement) = match located {
        Some((line, st)) => (Some(line), st.map(|st| st.text(&file.sql))),
        None => (None, None),
    };
    let message = if located.is_none() && completed >= PREFIX_COMMANDS + statements.len() {
        format!("recording it in the history failed: {}", info.message)
    } else {
        info.message.clone()
    };
    Err(fail(s, file, actor, message, info, line, statement, false).await)
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
) -> Result<Duration, MigrateError> {
    let started = Instant::now();
    let before = format!("{}; {}", s.timeouts, steps.before);
    let marked = sqlx::raw_sql(&before).execute(&mut s.conn).await;
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
            let _ = sqlx::raw_sql(&steps.nothing_ran).execute(&mut s.conn).await;
        }
        let message = info.message.clone();
        let statement = Some(st.text(&file.sql));
        return Err(fail(
            s,
            file,
            actor,
            message,
            info,
            Some(line),
            statement,
            partial,
        )
        .await);
    }
    let elapsed = started.elapsed();
    let done = sqlx::raw_sql(&format!("BEGIN; {}; COMMIT", (steps.after)(elapsed)))
        .execute(&mut s.conn)
        .await;
    s.check(done, "recording a -- no-transaction migration")?;
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
