//! `lint --trace`: the pending migrations applied for real, in a scratch database on the
//! local server where the history (the migrations the target has applied) was replayed
//! first, statement by statement inside each migration's transaction. After each statement
//! it records the locks this session holds on tables that existed before the migration
//! (`pg_locks` for `pg_backend_pid()`) and which of them were rewritten (their relfilenode
//! changed). Evidence, not a guess; the scratch database is dropped on every path.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::{Connection, PgConnection};

use crate::migrations::files::MigrationFile;
use crate::sql;
use crate::target::Target;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableLock {
    pub table: String,
    /// The strongest mode the migration's transaction holds on it after the statement.
    pub mode: String,
    /// This statement raised it to that mode (else an earlier statement of the migration did).
    pub newly: bool,
}

impl TraceStep {
    /// `took ACCESS EXCLUSIVE on doctor and rewrote it`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .locks
            .iter()
            .map(|l| {
                let verb = if l.newly { "took" } else { "holds" };
                let mut s = format!("{verb} {} on {}", mode_words(&l.mode), l.table);
                if self.rewrote.contains(&l.table) {
                    s.push_str(" and rewrote it");
                }
                s
            })
            .collect();
        for t in &self.rewrote {
            if !self.locks.iter().any(|l| &l.table == t) {
                parts.push(format!("rewrote {t}"));
            }
        }
        if parts.is_empty() {
            "no lock on an existing table, no rewrite".into()
        } else {
            parts.join(", ")
        }
    }
}

/// `AccessExclusiveLock` as `ACCESS EXCLUSIVE`.
pub fn mode_words(mode: &str) -> String {
    let base = mode.strip_suffix("Lock").unwrap_or(mode);
    let mut out = String::new();
    for (i, c) in base.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The rank of a table lock mode, weakest first.
pub fn mode_rank(mode: &str) -> usize {
    const ORDER: [&str; 8] = [
        "AccessShareLock",
        "RowShareLock",
        "RowExclusiveLock",
        "ShareUpdateExclusiveLock",
        "ShareLock",
        "ShareRowExclusiveLock",
        "ExclusiveLock",
        "AccessExclusiveLock",
    ];
    ORDER.iter().position(|m| *m == mode).unwrap_or(0)
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
    let server = local.url.host_and_database();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        TraceError(format!(
            "--trace: {what} on the local server ({server}): {e}; is the local database up \
             (`cargo xtask db up`) and may its user create databases?"
        ))
    };
    let mut admin = crate::db::connect(&local.url)
        .await
        .map_err(|e| fail("connecting", &e))?;
    let name = format!(
        "pgshift_trace_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .map_err(|e| fail("creating a scratch database", &e))?;
    let result = async {
        let mut conn = crate::db::connect(&local.url.with_database(&name))
            .await
            .map_err(|e| fail("connecting to the scratch database", &e))?;
        let result = replay_and_trace(&mut conn, root, applied, pending).await;
        let _ = conn.close().await;
        result
    }
    .await;
    let dropped = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    crate::db::close(admin).await;
    if let Err(e) = dropped {
        tracing::warn!("--trace: could not drop the scratch database {name}: {e}");
    }
    result
}

async fn replay_and_trace(
    conn: &mut PgConnection,
    root: &std::path::Path,
    applied: &[MigrationFile],
    pending: &[MigrationFile],
) -> Result<Vec<TraceStep>, TraceError> {
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
    let existing = relfilenodes(conn)
        .await
        .map_err(|e| TraceError(format!("--trace: reading the scratch database: {e}")))?;
    let mut steps = Vec::new();
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
        let before_migration = &existing;
        if !file.no_tx {
            sqlx::raw_sql("BEGIN")
                .execute(&mut *conn)
                .await
                .map_err(|e| failed(e, 1))?;
        }
        let mut held = locks(conn, before_migration)
            .await
            .map_err(|e| failed(e, 1))?;
        let mut nodes = relfilenodes(conn).await.map_err(|e| failed(e, 1))?;
        for statement in &statements {
            sqlx::raw_sql(statement.sql)
                .execute(&mut *conn)
                .await
                .map_err(|e| failed(e, statement.line))?;
            let now_held = locks(conn, before_migration)
                .await
                .map_err(|e| failed(e, statement.line))?;
            let now_nodes = relfilenodes(conn)
                .await
                .map_err(|e| failed(e, statement.line))?;
            // Locks add up in a transaction: a table this statement locked (a mode not held
            // before it) is reported with the strongest mode the migration now holds on it.
            let strongest_of = |set: &BTreeSet<(String, String)>, table: &str| {
                set.iter()
                    .filter(|(t, _)| t == table)
                    .map(|(_, m)| m.clone())
                    .max_by_key(|m| mode_rank(m))
            };
            let touched: BTreeSet<String> =
                now_held.difference(&held).map(|(t, _)| t.clone()).collect();
            let mut taken = Vec::new();
            for table in touched {
                let Some(mode) = strongest_of(&now_held, &table) else {
                    continue;
                };
                let before = strongest_of(&held, &table);
                taken.push(TableLock {
                    newly: before.is_none_or(|b| mode_rank(&b) < mode_rank(&mode)),
                    table,
                    mode,
                });
            }
            let rewrote: Vec<String> = nodes
                .iter()
                .filter(|(table, node)| {
                    before_migration.contains_key(*table)
                        && now_nodes.get(*table).is_some_and(|n| n != *node)
                })
                .map(|(table, _)| table.clone())
                .collect();
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
                locks: taken,
                rewrote,
            });
            held = now_held;
            nodes = now_nodes;
        }
        if !file.no_tx {
            sqlx::raw_sql("COMMIT")
                .execute(&mut *conn)
                .await
                .map_err(|e| failed(e, 1))?;
        }
    }
    Ok(steps)
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

/// Each user table's data file.
async fn relfilenodes(conn: &mut PgConnection) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.oid::regclass::text, c.relfilenode::int8 FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg_toast%'",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The table locks this session holds on tables of `existing`.
async fn locks(
    conn: &mut PgConnection,
    existing: &BTreeMap<String, i64>,
) -> Result<BTreeSet<(String, String)>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT l.relation::regclass::text, l.mode FROM pg_locks l \
         WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|(table, _)| existing.contains_key(table))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_words("AccessExclusiveLock"), "ACCESS EXCLUSIVE");
        assert_eq!(mode_words("ShareLock"), "SHARE");
        assert!(mode_rank("AccessExclusiveLock") > mode_rank("ShareLock"));
    }
}
