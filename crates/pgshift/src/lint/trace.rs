//! `lint --trace`: the pending migrations applied for real, in a scratch database on the
//! local server where the history (the migrations the target has applied) was replayed
//! first, statement by statement inside each migration's transaction. After each statement
//! it records the locks this session holds on tables that existed before the migration
//! (`pg_locks` for `pg_backend_pid()`) and which of them were rewritten (their relfilenode
//! changed), through `migrations::trace::Tracer`, which the deploy's rehearsal uses too.
//! Evidence, not a guess; the scratch database is dropped on every path.

use std::collections::BTreeSet;

use serde::Serialize;
use sqlx::{Connection, PgConnection};

use crate::migrations::files::MigrationFile;
use crate::migrations::trace::{tables, Tracer};
use crate::sql;
use crate::target::Target;

pub use crate::migrations::trace::{mode_rank, mode_words, StatementEffect, TableLock};

/// What one statement of a pending migration did to the tables that existed before it.
#[derive(Debug, Clone, Serialize)]
pub struct TraceStep {
    /// The migration, relative to the project root.
    pub file: String,
    /// The statement's first line.
    pub line: usize,
    /// The statement's first line of text.
    pub statement: String,
    /// The tables it locked (a mode the migration did not hold before it) among those the
    /// history made, each with the strongest mode held after it, as PostgreSQL names it
    /// (`AccessExclusiveLock`).
    pub locks: Vec<TableLock>,
    /// Tables whose data files it replaced: rewritten.
    pub rewrote: Vec<String>,
}

impl TraceStep {
    /// `took ACCESS EXCLUSIVE on doctor and rewrote it`.
    pub fn summary(&self) -> String {
        StatementEffect {
            locks: self.locks.clone(),
            rewrote: self.rewrote.clone(),
        }
        .summary()
    }
}

/// A trace that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TraceError(pub String);

/// Replays `applied` then traces `pending` in a scratch database on the server of `local`.
pub async fn trace(
    local: &Target,
    root: &std::path::Path,
    applied: &[MigrationFile],
    pending: &[MigrationFile],
) -> Result<Vec<TraceStep>, TraceError> {
    Ok(trace_timed(local, root, applied, pending).await?.steps)
}

/// A trace and how long its phases took (`cargo xtask bench lint`).
#[derive(Debug)]
pub struct Timed {
    pub steps: Vec<TraceStep>,
    /// Creating the scratch database and replaying the history in it.
    pub replay: std::time::Duration,
    /// Tracing the pending migrations, after the replay.
    pub traced: std::time::Duration,
}

/// [`trace`], with the time of each phase.
pub async fn trace_timed(
    local: &Target,
    root: &std::path::Path,
    applied: &[MigrationFile],
    pending: &[MigrationFile],
) -> Result<Timed, TraceError> {
    let started = std::time::Instant::now();
    let server = local.url.host_and_database();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        TraceError(format!(
            "--trace: {what} on the local server ({server}): {e}; is the local database up \
             (`cargo xtask db up`) and may its user create databases?"
        ))
    };
    let shadow = crate::local::shadow::ShadowDatabase::create(&local.url, "trace")
        .await
        .map_err(|e| TraceError(format!("--trace: {e:#}")))?;
    let result = async {
        let mut conn = crate::db::connect(shadow.url())
            .await
            .map_err(|e| fail("connecting to the scratch database", &e))?;
        let result = replay_and_trace(&mut conn, root, applied, pending, started).await;
        let _ = conn.close().await;
        result
    }
    .await;
    shadow.drop().await;
    result
}

async fn replay_and_trace(
    conn: &mut PgConnection,
    root: &std::path::Path,
    applied: &[MigrationFile],
    pending: &[MigrationFile],
    started: std::time::Instant,
) -> Result<Timed, TraceError> {
    for file in applied {
        run_file(conn, file).await.map_err(|e| {
            TraceError(format!(
                "--trace: replaying the history, {} failed in the scratch database: {e}; \
                 lint without --trace",
                file.file_name
            ))
        })?;
    }
    // Tables the history made: those the target has. Tables a pending migration creates
    // take no risk, as for the static lint.
    let existing: BTreeSet<String> = tables(conn)
        .await
        .map_err(|e| TraceError(format!("--trace: reading the scratch database: {e}")))?
        .into_keys()
        .collect();
    let replay = started.elapsed();
    let mut steps = Vec::new();
    let mut tracer: Option<Tracer> = None;
    for file in pending {
        let shown = file
            .path
            .strip_prefix(root)
            .unwrap_or(&file.path)
            .display()
            .to_string();
        let failed = |e: sqlx::Error, line: usize| {
            TraceError(format!(
                "--trace: {shown} line {line} failed in the scratch database: {e}; fix it (`cargo \
                 xtask migrate-dev` says the same)"
            ))
        };
        let statements = sql::statements(&file.sql, true)
            .map_err(|e| TraceError(format!("--trace: {shown}: {e}")))?;
        if !file.no_tx {
            sqlx::raw_sql("BEGIN")
                .execute(&mut *conn)
                .await
                .map_err(|e| failed(e, 1))?;
        }
        let tracer = match tracer.as_mut() {
            Some(tracer) => {
                tracer
                    .next_migration(conn)
                    .await
                    .map_err(|e| failed(e, 1))?;
                tracer
            }
            None => {
                let started = Tracer::start(conn, Some(existing.clone())).await;
                tracer.insert(started.map_err(|e| failed(e, 1))?)
            }
        };
        for statement in &statements {
            sqlx::raw_sql(statement.sql)
                .execute(&mut *conn)
                .await
                .map_err(|e| failed(e, statement.line))?;
            let effect = tracer
                .after_statement(conn)
                .await
                .map_err(|e| failed(e, statement.line))?;
            steps.push(TraceStep {
                file: shown.clone(),
                line: statement.line,
                statement: statement
                    .sql
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
                locks: effect.locks,
                rewrote: effect.rewrote,
            });
        }
        if !file.no_tx {
            sqlx::raw_sql("COMMIT")
                .execute(&mut *conn)
                .await
                .map_err(|e| failed(e, 1))?;
        }
    }
    Ok(Timed {
        steps,
        replay,
        traced: started.elapsed() - replay,
    })
}

/// Runs a replayed migration as the engine would: one transaction, or statement by
/// statement for `-- no-transaction`.
async fn run_file(conn: &mut PgConnection, file: &MigrationFile) -> Result<(), sqlx::Error> {
    if !file.no_tx {
        sqlx::raw_sql(&format!("BEGIN;\n{}\n;COMMIT", file.sql))
            .execute(&mut *conn)
            .await?;
        return Ok(());
    }
    let statements = sql::statements(&file.sql, true).unwrap_or_default();
    for statement in statements {
        sqlx::raw_sql(statement.sql).execute(&mut *conn).await?;
    }
    Ok(())
}
