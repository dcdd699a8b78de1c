//! `baseline`: a database whose schema was made without pgshift (by hand, or by a tool whose
//! history is gone) gets one migration holding that schema, recorded as applied there
//! without running it (Prisma's baselining). A fresh database runs it like any migration.

use std::path::PathBuf;

use chrono::Utc;
use serde::Serialize;

use super::ImportError;
use crate::backup::child::{self, Passfile};
use crate::config::Config;
use crate::migrations::files;
use crate::migrations::history::{self, action, Actor, LogEntry};
use crate::migrations::{MigrateError, Session};
use crate::target::{redact, Target};

/// What `baseline` wrote and recorded.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineReport {
    pub env: String,
    pub database: String,
    pub file: PathBuf,
    pub version: i64,
}

pub async fn baseline(config: &Config, target: &Target) -> Result<BaselineReport, ImportError> {
    let folder = &config.paths.migrations;
    if files::discover(folder).is_ok_and(|found| !found.is_empty()) {
        return Err(ImportError::Folder(format!(
            "{} already holds migrations; a baseline is the first migration of a history: \
             use it before writing others (or deploy the existing ones with `cargo xtask \
             migrate-deploy --env {}`)",
            folder.display(),
            target.env
        )));
    }
    let mut s = Session::open_locked(config, target, &mut |_| {}).await?;
    let result = baseline_locked(&mut s, config, target).await;
    s.close().await;
    result
}

async fn baseline_locked(
    s: &mut Session,
    config: &Config,
    target: &Target,
) -> Result<BaselineReport, ImportError> {
    let read = history::read(&mut s.conn, &s.schema).await;
    let existing = s.check(read, "reading the migration history")?;
    if !existing.applied.is_empty() {
        return Err(ImportError::Folder(format!(
            "{} already has a migration history ({} applied); a baseline is for a database \
             whose schema was made without one",
            s.target,
            existing.applied.len()
        )));
    }
    let schema_sql = dump_schema(target).await?;
    let now = Utc::now();
    let version: i64 = now
        .format("%Y%m%d%H%M%S")
        .to_string()
        .parse()
        .expect("digits");
    let text = format!(
        "-- Baseline of {} ({}) taken {}: its schema as pg_dump printed it.\n\
         -- Recorded as applied there without running; a fresh database runs it.\n\n{schema_sql}",
        target.env,
        s.database,
        now.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let folder = &config.paths.migrations;
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Io { path, source }
    };
    std::fs::create_dir_all(folder).map_err(io(folder))?;
    let path = folder.join(format!("{version}_baseline.sql"));
    let temp = folder.join(format!(".{version}_baseline.sql.writing"));
    std::fs::write(&temp, &text).map_err(io(&temp))?;
    std::fs::rename(&temp, &path).map_err(io(&path))?;
    // Recorded as the engine reads the file: sqlx's description and checksum.
    let found = files::discover(folder).map_err(MigrateError::from)?;
    let file = found
        .iter()
        .find(|f| f.version == version)
        .expect("just written");
    let created = history::ensure_tables(&mut s.conn, &s.schema).await;
    s.check(created, "creating the history tables")?;
    let actor = Actor::current(&target.env);
    let log = LogEntry {
        version,
        file: &file.file_name,
        action: action::RESOLVED_APPLIED,
        checksum: Some(&file.checksum),
        duration_ns: None,
        error: Some("baseline: recorded as applied without running"),
        statement: None,
        line: None,
        partial: false,
    }
    .sql(&actor, &s.schema);
    let sql = format!(
        "BEGIN; {}; {log}; COMMIT",
        history::sqlx_insert(
            &s.schema,
            version,
            &file.description,
            true,
            &file.checksum,
            "0"
        )
    );
    let done = sqlx::raw_sql(&sql).execute(&mut s.conn).await;
    s.check(done, "recording the baseline")?;
    Ok(BaselineReport {
        env: target.env.clone(),
        database: s.database.clone(),
        file: path,
        version,
    })
}

/// `pg_dump --schema-only` without owners and privileges, without the history tables;
/// the psql meta-commands recent pg_dump versions write around the script (`\restrict`)
/// are left out, since a migration is SQL only.
async fn dump_schema(target: &Target) -> Result<String, ImportError> {
    let failed = |message: String| ImportError::Folder(redact(&message));
    let program = crate::backup::client_program("pg_dump").map_err(|e| failed(e.to_string()))?;
    let passfile = Passfile::for_url(&target.url)
        .map_err(|e| failed(format!("writing the password file for pg_dump: {e}")))?;
    let mut command = child::command(&program, &passfile);
    command
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-table=_sqlx_migrations",
            "--exclude-table=_pgshift_*",
            "--dbname",
        ])
        .arg(target.url.without_password());
    let out = command
        .output()
        .await
        .map_err(|e| failed(format!("running pg_dump: {e}")))?;
    if !out.status.success() {
        return Err(failed(format!(
            "pg_dump --schema-only of {} failed: {}",
            target.url.host_and_database(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n")
}
