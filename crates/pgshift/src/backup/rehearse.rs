//! `backup --verify=restore`: the archive restored into a scratch database on the local
//! server, whose catalog model and row counts must equal what was dumped (both read in
//! pg_dump's snapshot); the scratch database is dropped afterwards, whatever happened: an
//! error, SIGINT or SIGTERM (listened for while it exists). It is a shadow database
//! (`local::shadow`, `pgshift_verify_<pid>_<nanos>`), so one left by a killed process is
//! dropped by the next one made on that server.

use std::path::Path;

use tokio::signal::unix::{signal, SignalKind};

use super::child::{self, Passfile};
use super::dump::Dumped;
use super::{client_program, BackupError, Progress};
use crate::local::shadow::ShadowDatabase;
use crate::target::{redact, DbUrl};

/// Restores `archive` into a scratch database of `local`'s server and compares.
pub(super) async fn check(
    archive: &Path,
    dumped: &Dumped,
    local: &DbUrl,
    jobs: u32,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), BackupError> {
    let server = local.host_and_database();
    let failed = |reason: String| BackupError::RestoreCheck {
        server: server.clone(),
        reason,
    };
    // Before the database exists, so that no signal finds it without a listener. Once
    // listened for, the signals no longer end the process: the backup ends with an error.
    let listen = |kind: SignalKind| {
        signal(kind).map_err(|e| failed(format!("cannot listen for signals: {e}")))
    };
    let (mut interrupt, mut terminate) = (
        listen(SignalKind::interrupt())?,
        listen(SignalKind::terminate())?,
    );
    let scratch = ShadowDatabase::create(local, "verify")
        .await
        .map_err(|e| failed(format!("cannot create a scratch database: {e:#}")))?;
    for database in scratch.leftovers_dropped() {
        progress(Progress::ScratchDropped { database });
    }
    let result = tokio::select! {
        result = restore_and_compare(archive, dumped, scratch.url(), jobs) => result.map_err(failed),
        _ = interrupt.recv() => Err(BackupError::Interrupted { signal: "SIGINT" }),
        _ = terminate.recv() => Err(BackupError::Interrupted { signal: "SIGTERM" }),
    };
    scratch.drop().await;
    result
}

async fn restore_and_compare(
    archive: &Path,
    dumped: &Dumped,
    url: &DbUrl,
    jobs: u32,
) -> Result<(), String> {
    let pg_restore = client_program("pg_restore").map_err(|e| e.to_string())?;
    let passfile = Passfile::for_url(url).map_err(|e| format!("cannot write a passfile: {e}"))?;
    let mut command = child::command(&pg_restore, &passfile);
    command.args([
        "--no-password",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
    ]);
    if jobs > 1 {
        command.arg(format!("--jobs={jobs}"));
    }
    let out = command
        .arg("--dbname")
        .arg(url.without_password())
        .arg(archive)
        .output()
        .await
        .map_err(|e| format!("cannot run pg_restore: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pg_restore failed: {}",
            redact(String::from_utf8_lossy(&out.stderr).trim())
        ));
    }
    let mut conn = crate::db::connect(url).await.map_err(|e| e.to_string())?;
    let sql_error = |e: sqlx::Error| redact(&e.to_string());
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut conn)
        .await
        .map_err(sql_error)?;
    let (tables, _, _) = super::dump::counts(&mut conn).await.map_err(sql_error)?;
    let catalog = match &dumped.catalog {
        Some((schemas, _)) => Some(
            crate::catalog::introspect_in_transaction(&mut conn, schemas)
                .await
                .map_err(sql_error)?,
        ),
        None => None,
    };
    let _ = sqlx::raw_sql("COMMIT").execute(&mut conn).await;
    crate::db::close(conn).await;
    let differing: Vec<String> = dumped
        .tables
        .iter()
        .filter(|t| !tables.contains(t))
        .map(|t| {
            let restored = tables
                .iter()
                .find(|r| r.schema == t.schema && r.table == t.table)
                .map_or_else(|| "missing".to_string(), |r| r.rows.to_string());
            format!(
                "{}.{} ({} rows dumped, {restored} restored)",
                t.schema, t.table, t.rows
            )
        })
        .collect();
    if !differing.is_empty() {
        return Err(format!("row counts differ: {}", differing.join(", ")));
    }
    if let (Some((_, dumped)), Some(restored)) = (&dumped.catalog, &catalog) {
        if dumped != restored {
            let names = |c: &crate::catalog::Catalog| -> Vec<String> {
                c.tables
                    .iter()
                    .map(|t| format!("{}.{}", t.schema, t.name))
                    .collect()
            };
            let differ: Vec<String> = dumped
                .tables
                .iter()
                .filter(|t| !restored.tables.contains(t))
                .map(|t| format!("{}.{}", t.schema, t.name))
                .collect();
            return Err(format!(
                "the restored schema differs from the dumped one (tables {:?} vs {:?}; differing: {})",
                names(dumped),
                names(restored),
                if differ.is_empty() {
                    "views or types".to_string()
                } else {
                    differ.join(", ")
                }
            ));
        }
    }
    Ok(())
}
