//! Restoring an archive: checked before anything is dropped (SHA-256 against its manifest,
//! `pg_restore --list`), then `pg_restore --clean --if-exists --no-owner --no-privileges`
//! in one transaction (with one job), then the database marked as the target's environment
//! (whatever marker the archive brought, or none) and the result counted.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::child::{self, Passfile};
use super::manifest::TableRows;
use super::{client_program, open, BackupError, Progress};
use crate::config::Config;
use crate::migrations::{history, marker};
use crate::target::{redact, DbUrl, Target, LOCAL_ENV};

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Restore into this database of the target's server instead of the target's own.
    pub database: Option<String>,
    /// pg_restore jobs; with more than 1 the restore is no longer one transaction.
    pub jobs: u32,
    /// The caller has the user's consent to overwrite a protected environment, or a
    /// database marked as one (`marked_target`).
    pub allow_protected: bool,
}

/// What the restored database holds.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub archive: PathBuf,
    pub env: String,
    pub database: String,
    /// The dumped environment, from the manifest.
    pub from_env: Option<String>,
    pub migration_version: Option<i64>,
    /// `(from, to)` when the marker named another environment and was rewritten.
    pub marker_rewritten: Option<(String, String)>,
    /// The restored database had no marker (an archive of an unmarked database) and was
    /// marked as the target's environment.
    pub marker_added: bool,
    pub tables: Vec<TableRows>,
    pub rows: i64,
    /// Whether every table's row count equals the manifest's (none without a manifest;
    /// `_pgshift_marker`'s is the restore's own).
    pub matches_manifest: Option<bool>,
}

/// Restores `archive` (an archive or its manifest) into `target`.
pub async fn restore(
    config: &Config,
    target: &Target,
    archive: &Path,
    options: &RestoreOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<RestoreReport, BackupError> {
    let url = restore_url(target, options.database.as_deref());
    let shown = url.host_and_database();
    if target.protected && !options.allow_protected {
        return Err(BackupError::Protected {
            env: target.env.clone(),
            database: shown,
        });
    }
    // The input first: nothing is dropped for an archive that is not sound. A pg_dump
    // archive made elsewhere (no manifest) is restored on pg_restore's word alone.
    let entry = match open(config, archive) {
        Ok(entry) => Some(entry),
        Err(BackupError::BadManifest { .. }) if !manifest_of(archive).exists() => None,
        Err(e) => return Err(e),
    };
    let archive_path = match &entry {
        Some(entry) => {
            let (sha256, _) = super::verify::sha256_of(&entry.archive_path)?;
            if sha256 != entry.manifest.sha256 {
                return Err(BackupError::ChecksumMismatch {
                    path: entry.archive_path.clone(),
                    expected: entry.manifest.sha256.clone(),
                    actual: sha256,
                });
            }
            entry.archive_path.clone()
        }
        None => archive.to_path_buf(),
    };
    let pg_restore = client_program("pg_restore")?;
    super::verify::toc_with(&pg_restore, &archive_path).await?;

    if let Some(marked) = marked_target(config, target, options.database.as_deref()).await? {
        if !options.allow_protected {
            return Err(BackupError::Marked {
                refusal: marked.refusal,
            });
        }
    }

    let passfile = Passfile::for_url(&url).map_err(|source| BackupError::Io {
        action: "writing the temporary passfile in",
        path: std::env::temp_dir(),
        error: source,
    })?;
    let mut command = child::command(&pg_restore, &passfile);
    command.args([
        "--no-password",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
    ]);
    let single = options.jobs <= 1;
    if single {
        command.arg("--single-transaction");
    } else {
        command.arg(format!("--jobs={}", options.jobs));
    }
    command
        .arg("--dbname")
        .arg(url.without_password())
        .arg(&archive_path);
    let database = url.database();
    progress(Progress::Restoring {
        database: &database,
    });
    let out = command.output().await.map_err(|source| BackupError::Io {
        action: "running",
        path: pg_restore.clone(),
        error: source,
    })?;
    if !out.status.success() {
        return Err(BackupError::RestoreFailed {
            database: shown,
            status: out.status.to_string(),
            stderr: redact(String::from_utf8_lossy(&out.stderr).trim()),
            consequence: if single {
                "the restore ran in one transaction, so the database is as it was"
            } else {
                "with --jobs the restore is not one transaction: the database may be half \
                 restored; run the restore again"
            },
        });
    }

    let db_error = |action: &'static str| {
        let database = shown.clone();
        move |e: sqlx::Error| BackupError::Database {
            action,
            database,
            reason: redact(&e.to_string()),
        }
    };
    let mut conn = crate::db::connect(&url).await?;
    let restored_marker = mark(&mut conn, &target.env)
        .await
        .map_err(db_error("marking the environment of"))?;
    let marker_added = restored_marker.is_none();
    let marker_rewritten = restored_marker
        .filter(|m| *m != target.env)
        .map(|m| (m, target.env.clone()));
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut conn)
        .await
        .map_err(db_error("reading the restored"))?;
    let (tables, migration_version, _) = super::dump::counts(&mut conn)
        .await
        .map_err(db_error("counting the rows of"))?;
    let _ = sqlx::raw_sql("COMMIT").execute(&mut conn).await;
    crate::db::close(conn).await;
    // The marker table's row is the one that the restore itself wrote.
    let matches_manifest = entry.as_ref().map(|e| {
        e.manifest.tables.iter().all(|t| {
            tables.iter().any(|r| {
                r.schema == t.schema
                    && r.table == t.table
                    && (r.rows == t.rows || t.table == "_pgshift_marker")
            })
        })
    });
    Ok(RestoreReport {
        archive: archive_path,
        env: target.env.clone(),
        database,
        from_env: entry.map(|e| e.manifest.env),
        migration_version,
        marker_rewritten,
        marker_added,
        rows: tables.iter().map(|t| t.rows).sum(),
        tables,
        matches_manifest,
    })
}

/// Marks the restored database as `env`, whatever the archive brought: every
/// `_pgshift_marker` (one restored from an unmarked database is empty and replaced the
/// target's), or a new one in the history's schema when there is none. In one transaction;
/// returns the marker the database had after pg_restore.
async fn mark(conn: &mut sqlx::PgConnection, env: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
    let marked = async {
        let before = history::one_marker(history::read_markers(conn).await?);
        let mut schemas: Vec<String> = history::marker_schemas(conn)
            .await?
            .iter()
            .map(|s| crate::db::quote_ident(s))
            .collect();
        if schemas.is_empty() {
            let (schema, _) = history::locate(conn).await?;
            sqlx::raw_sql(
                &history::MARKER_TABLE.replace("EXISTS _", &format!("EXISTS {schema}._")),
            )
            .execute(&mut *conn)
            .await?;
            schemas.push(schema);
        }
        let actor = history::Actor::current(env);
        for schema in &schemas {
            sqlx::raw_sql(&format!("DELETE FROM {schema}._pgshift_marker"))
                .execute(&mut *conn)
                .await?;
            marker::write(conn, &actor, schema).await?;
        }
        Ok(before)
    }
    .await;
    match marked {
        Ok(before) => {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
            Ok(before)
        }
        Err(e) => {
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

/// The database a restore replaces: the target's, or `database` on the target's server.
fn restore_url(target: &Target, database: Option<&str>) -> DbUrl {
    match database {
        Some(name) => target.url.with_database(name),
        None => target.url.clone(),
    }
}

/// A database marked as another environment that is protected (or that pgshift.toml does
/// not know, as `migrate-reset` treats it): replacing it needs the consent a protected
/// target needs.
#[derive(Debug, Clone)]
pub struct MarkedTarget {
    /// The environment the database's `_pgshift_marker` names.
    pub marker: String,
    /// Why a command for local work or another environment would refuse it.
    pub refusal: String,
}

/// Reads the marker of the database a restore into `target` (`database` on its server, when
/// given) would replace. Read-only; a missing database is `MissingDatabase`.
pub async fn marked_target(
    config: &Config,
    target: &Target,
    database: Option<&str>,
) -> Result<Option<MarkedTarget>, BackupError> {
    let url = restore_url(target, database);
    let shown = url.host_and_database();
    let mut conn = match crate::db::connect(&url).await {
        Ok(conn) => conn,
        Err(e) if e.is_missing_database() => {
            let options = url.connect_options();
            return Err(BackupError::MissingDatabase {
                database: url.database(),
                host: format!("{}:{}", options.get_host(), options.get_port()),
            });
        }
        Err(e) => return Err(e.into()),
    };
    // Every schema's marker, whoever connects, as `migrate-reset` reads it.
    let read = history::read_markers(&mut conn).await;
    crate::db::close(conn).await;
    let markers = read.map_err(|e| BackupError::Database {
        action: "reading the environment marker of",
        database: shown.clone(),
        reason: redact(&e.to_string()),
    })?;
    let Some(marker) = history::one_marker(markers) else {
        return Ok(None);
    };
    if marker == LOCAL_ENV || !marker::is_protected(config, &marker) {
        return Ok(None);
    }
    Ok(
        marker::check_env(config, "restore", &target.env, &shown, Some(&marker))
            .err()
            .map(|refusal| MarkedTarget {
                marker,
                refusal: refusal.to_string(),
            }),
    )
}

fn manifest_of(archive: &Path) -> PathBuf {
    if archive
        .to_string_lossy()
        .ends_with(super::manifest::MANIFEST_SUFFIX)
    {
        archive.to_path_buf()
    } else {
        super::manifest::manifest_path(archive)
    }
}
