//! `[deploy] rehearse = "schema"`: for a database too big to copy, the rehearsal starts from
//! the target's schema alone. `pg_dump --schema-only` (through `backup::child`: cleaned
//! environment, password in a passfile) on a snapshot exported by a connection that reads
//! the migration history in that same snapshot, so the copy's history is the dump's. The
//! schema is restored like a backup; the history rows are then written into the copy, so
//! the engine sees the same pending migrations as on the target.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::PgConnection;

use crate::backup::child::{self, Passfile};
use crate::migrations::history;
use crate::target::{redact, DbUrl, Target};

/// A `_sqlx_migrations` row: `version, description, installed_on, success, checksum (hex),
/// execution_time`.
type HistoryRow = (i64, String, String, bool, String, i64);

/// The history rows as text, for writing them elsewhere as they were.
#[derive(Debug, Default)]
pub(super) struct History {
    schema: String,
    rows: Vec<HistoryRow>,
}

/// Dumps the schema of `target` to `archive` (pg_dump's custom format) and reads its
/// migration history in the same snapshot.
pub(super) async fn dump(target: &Target, archive: &Path) -> anyhow::Result<History> {
    let database = target.url.host_and_database();
    let mut conn = crate::db::connect(&target.url).await?;
    let result = dump_in_snapshot(&mut conn, &target.url, archive).await;
    crate::db::close(conn).await;
    result.with_context(|| format!("dumping the schema of {database}"))
}

async fn dump_in_snapshot(
    conn: &mut PgConnection,
    url: &DbUrl,
    archive: &Path,
) -> anyhow::Result<History> {
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *conn)
        .await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_catalog.pg_export_snapshot()")
        .fetch_one(&mut *conn)
        .await?;
    let pg_dump = crate::backup::client_program("pg_dump")?;
    let passfile = Passfile::for_url(url).context("writing the temporary passfile")?;
    let mut command = child::command(&pg_dump, &passfile);
    command
        .args(["--no-password", "--schema-only", "--format=custom"])
        .arg(format!("--snapshot={snapshot}"))
        .arg("--file")
        .arg(archive)
        .arg("--dbname")
        .arg(url.without_password());
    let dumping = command.output();
    let (out, history) = tokio::join!(dumping, read_history(conn));
    let _ = sqlx::raw_sql("COMMIT").execute(&mut *conn).await;
    let out = out.with_context(|| format!("running {}", pg_dump.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "pg_dump --schema-only failed ({}): {}",
            out.status,
            redact(String::from_utf8_lossy(&out.stderr).trim())
        );
    }
    Ok(history?)
}

async fn read_history(conn: &mut PgConnection) -> Result<History, sqlx::Error> {
    let (schema, _) = history::locate(&mut *conn).await?;
    let exists: bool = sqlx::query_scalar(&format!(
        "SELECT pg_catalog.to_regclass({}) IS NOT NULL",
        history::lit(&format!("{schema}._sqlx_migrations"))
    ))
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Ok(History::default());
    }
    let rows = sqlx::query_as(&format!(
        "SELECT version, description, installed_on::text, success, \
                pg_catalog.encode(checksum, 'hex'), execution_time \
         FROM {schema}._sqlx_migrations ORDER BY version"
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(History { schema, rows })
}

/// Writes the history rows into the copy (whose schema has the empty table).
pub(super) async fn write_history(copy: &DbUrl, history: &History) -> anyhow::Result<()> {
    if history.rows.is_empty() {
        return Ok(());
    }
    let mut conn = crate::db::connect(copy).await?;
    let column = |f: fn(&HistoryRow) -> String| history.rows.iter().map(f).collect::<Vec<String>>();
    let written = sqlx::query(&format!(
        "INSERT INTO {}._sqlx_migrations \
           (version, description, installed_on, success, checksum, execution_time) \
         SELECT v::int8, d, i::timestamptz, s::bool, pg_catalog.decode(c, 'hex'), e::int8 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
           AS t(v, d, i, s, c, e)",
        history.schema
    ))
    .bind(column(|r| r.0.to_string()))
    .bind(column(|r| r.1.clone()))
    .bind(column(|r| r.2.clone()))
    .bind(column(|r| r.3.to_string()))
    .bind(column(|r| r.4.clone()))
    .bind(column(|r| r.5.to_string()))
    .execute(&mut conn)
    .await;
    crate::db::close(conn).await;
    written.context("writing the migration history into the copy")?;
    Ok(())
}

/// A folder for the schema archive, removed on drop.
pub(super) fn archive_dir() -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix("pgshift-schema")
        .tempdir()
        .context("making a temporary folder for the schema dump")?;
    let path = dir.path().join("schema.dump");
    Ok((dir, path))
}
