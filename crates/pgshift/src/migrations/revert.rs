//! `migrate-down`: revert applied migrations with their `.down.sql` files, newest first, each
//! in a transaction with its history row removed in the same transaction. Every migration to
//! revert must have its down file before anything is reverted.

use std::time::Duration;

use serde::Serialize;

use super::apply::{preflight, require_local, AppliedMigration, Progress};
use super::error::MigrateError;
use super::execute;
use super::files::{self, MigrationFile};
use super::history::{self, action, Actor, LogEntry};
use super::marker;
use super::session::Session;
use crate::config::Config;
use crate::target::Target;

/// How far to go back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownTo {
    /// The newest N applied migrations.
    Steps(usize),
    /// Every applied migration newer than this version (0: all of them).
    Version(i64),
}

/// What `migrate-down` did.
#[derive(Debug, Clone, Serialize)]
pub struct RevertReport {
    pub env: String,
    pub database: String,
    /// Reverted, newest first.
    pub reverted: Vec<AppliedMigration>,
}

/// Reverts applied migrations of the local `target`, newest first.
pub async fn revert(
    config: &Config,
    target: &Target,
    to: DownTo,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<RevertReport, MigrateError> {
    const COMMAND: &str = "migrate-down";
    require_local(target, COMMAND)?;
    let files = files::discover(&config.paths.migrations)?;
    let mut s = Session::open_locked(config, target, progress).await?;
    let result = revert_locked(&mut s, config, target, to, &files, progress).await;
    s.close().await;
    result
}

async fn revert_locked(
    s: &mut Session,
    config: &Config,
    target: &Target,
    to: DownTo,
    files: &[MigrationFile],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<RevertReport, MigrateError> {
    let read = history::read(&mut s.conn, &s.schema).await;
    let history = s.check(read, "reading the migration history")?;
    marker::check_local(
        config,
        "migrate-down",
        &s.database,
        history.marker.as_deref(),
    )?;
    if let Some(failed) = history.applied.values().find(|a| !a.success) {
        return Err(MigrateError::Usage(format!(
            "migration {} is possibly partially applied; resolve it first with `cargo xtask migrate-resolve`",
            failed.version
        )));
    }
    let applied: Vec<_> = history.applied.values().rev().collect();
    let chosen: Vec<_> = match to {
        DownTo::Steps(n) => applied.iter().take(n).collect(),
        DownTo::Version(v) => {
            if v != 0 && !history.applied.contains_key(&v) {
                return Err(MigrateError::Usage(format!(
                    "--to {v}: no applied migration has version {v}; `cargo xtask migrate-status` lists them (--to 0 reverts all)"
                )));
            }
            applied.iter().take_while(|a| a.version > v).collect()
        }
    };
    // Every down file, read and checked, before anything is reverted.
    let mut downs = Vec::new();
    let mut without = Vec::new();
    for row in &chosen {
        let up = files.iter().find(|f| f.version == row.version);
        match up.and_then(|f| f.down.as_ref().map(|d| (f, d))) {
            Some((up, down)) => {
                let raw = std::fs::read_to_string(down).map_err(|source| MigrateError::Io {
                    path: down.clone(),
                    source,
                })?;
                let checksum = files::checksum(raw.as_bytes());
                let sql = files::without_bom(raw);
                downs.push(MigrationFile {
                    version: up.version,
                    description: up.description.clone(),
                    file_name: down
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    path: down.clone(),
                    down: None,
                    checksum,
                    no_tx: sql.starts_with(files::NO_TRANSACTION),
                    sql,
                });
            }
            None => without.push(match up {
                Some(f) => f.file_name.clone(),
                None => format!(
                    "{}_{} (file gone)",
                    row.version,
                    row.description.replace(' ', "_")
                ),
            }),
        }
    }
    if !without.is_empty() {
        return Err(MigrateError::NoDownFile { files: without });
    }
    let mut checked = Vec::new();
    for down in &downs {
        checked.push(preflight(down, s.standard_strings)?);
    }
    let actor = Actor::current(&target.env);
    let schema = s.schema.clone();
    let mut report = RevertReport {
        env: target.env.clone(),
        database: s.database.clone(),
        reverted: Vec::new(),
    };
    for (down, statements) in downs.iter().zip(&checked) {
        progress(Progress::Applying(down));
        let log = |ns: String| {
            LogEntry {
                version: down.version,
                file: &down.file_name,
                action: action::REVERTED,
                checksum: Some(&down.checksum),
                duration_ns: Some(ns),
                error: None,
                statement: None,
                line: None,
                partial: false,
            }
            .sql(&actor, &schema)
        };
        let forget = format!(
            "DELETE FROM {schema}._sqlx_migrations WHERE version = {}",
            down.version
        );
        let duration = if down.no_tx {
            let steps = execute::NoTxSteps {
                before: format!(
                    "UPDATE {schema}._sqlx_migrations SET success = false WHERE version = {}",
                    down.version
                ),
                after: &|elapsed: Duration| {
                    format!("{forget}; {}", log(elapsed.as_nanos().to_string()))
                },
                nothing_ran: format!(
                    "UPDATE {schema}._sqlx_migrations SET success = true WHERE version = {}",
                    down.version
                ),
            };
            execute::without_transaction(s, down, statements, &actor, &steps, None).await?
        } else {
            let job = execute::TxJob {
                file: down,
                statements,
                bookkeeping: vec![forget.clone(), log(execute::ELAPSED_NS.into())],
                partial: format!(
                    "UPDATE {schema}._sqlx_migrations SET success = false WHERE version = {}",
                    down.version
                ),
            };
            execute::in_transaction(s, job, &actor).await?
        };
        let reverted = AppliedMigration {
            version: down.version,
            description: down.description.clone(),
            file: down.file_name.clone(),
            duration,
        };
        progress(Progress::Applied(&reverted));
        report.reverted.push(reverted);
    }
    Ok(report)
}
