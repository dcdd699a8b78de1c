//! `migrate-resolve`: after a failed migration was repaired by hand, record what the database
//! now holds. Only for a failed migration; the log keeps the whole story.

use super::apply::Progress;
use super::error::MigrateError;
use super::files;
use super::history::{self, action, Actor, LogEntry};
use super::marker;
use super::session::Session;
use super::status::{classify, State};
use crate::config::Config;
use crate::target::Target;

/// What the person who repaired the database says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The migration's changes are in the database now (applied by hand): record it applied.
    Applied,
    /// Its changes are not in the database (undone by hand, or never made): it is pending
    /// again and will be retried.
    RolledBack,
}

/// Records `resolution` for the failed migration `version` on `target`.
pub async fn resolve(
    config: &Config,
    target: &Target,
    version: i64,
    resolution: Resolution,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), MigrateError> {
    let files = files::discover(&config.paths.migrations)?;
    let mut s = Session::open_locked(config, target, progress).await?;
    let result = resolve_locked(&mut s, config, target, &files, version, resolution).await;
    s.close().await;
    result
}

async fn resolve_locked(
    s: &mut Session,
    config: &Config,
    target: &Target,
    files: &[files::MigrationFile],
    version: i64,
    resolution: Resolution,
) -> Result<(), MigrateError> {
    let read = history::read(&mut s.conn, &s.schema).await;
    let history = s.check(read, "reading the migration history")?;
    marker::check_env(
        config,
        "migrate-resolve",
        &target.env,
        &s.database,
        history.marker.as_deref(),
    )?;
    let rows = classify(files, &history);
    let Some(row) = rows.iter().find(|r| r.version == version) else {
        return Err(MigrateError::Usage(format!(
            "no migration has version {version} in the folder or in the history of {}",
            s.target
        )));
    };
    if row.state != State::Failed {
        return Err(MigrateError::Usage(format!(
            "migration {} is {}, not failed; migrate-resolve only records the outcome of a failed migration",
            row.name(),
            row.state.label()
        )));
    }
    let file = files.iter().find(|f| f.version == version);
    let actor = Actor::current(&target.env);
    let file_name = row.file.clone().unwrap_or_else(|| row.name());
    let log = |what: &str| {
        LogEntry {
            version,
            file: &file_name,
            action: what,
            checksum: file.map(|f| f.checksum.as_slice()),
            duration_ns: None,
            error: None,
            statement: None,
            line: None,
            partial: false,
        }
        .sql(&actor, &s.schema)
    };
    let sql = match resolution {
        Resolution::Applied => {
            let Some(file) = file else {
                return Err(MigrateError::Usage(format!(
                    "--applied {version} records the file's checksum, but the file of migration {version} is gone; restore it first"
                )));
            };
            format!(
                "BEGIN; {insert} ON CONFLICT (version) DO UPDATE SET success = true, checksum = EXCLUDED.checksum, \
                 description = EXCLUDED.description, installed_on = now(), execution_time = 0; {log}; COMMIT",
                insert = history::sqlx_insert(&s.schema, version, &file.description, true, &file.checksum, "0"),
                log = log(action::RESOLVED_APPLIED)
            )
        }
        Resolution::RolledBack => format!(
            "BEGIN; DELETE FROM {schema}._sqlx_migrations WHERE version = {version} AND NOT success; {}; COMMIT",
            log(action::RESOLVED_ROLLED_BACK),
            schema = s.schema
        ),
    };
    let done = sqlx::raw_sql(&sql).execute(&mut s.conn).await;
    s.check(done, "recording the resolution")?;
    Ok(())
}
