//! What the database remembers: sqlx's `_sqlx_migrations` (created exactly as sqlx creates
//! it, rows written exactly as sqlx writes them) and pgshift's own `_pgshift_log` (every
//! attempt, failure, revert and resolution, with who, from which host, and the error).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// sqlx 0.8's DDL, verbatim (`sqlx-postgres/src/migrate.rs`, `ensure_migrations_table`).
pub const SQLX_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
);
"#;

/// pgshift's own log: it only grows.
pub const LOG_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS _pgshift_log (
    id BIGSERIAL PRIMARY KEY,
    version BIGINT NOT NULL,
    file TEXT NOT NULL,
    action TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    checksum BYTEA,
    duration_ns BIGINT,
    error TEXT,
    statement TEXT,
    line INT,
    partial BOOLEAN NOT NULL DEFAULT false,
    env TEXT NOT NULL,
    db_user TEXT NOT NULL DEFAULT current_user,
    os_user TEXT,
    host TEXT,
    pgshift_version TEXT
);
"#;

/// The environment marker: at most one row.
pub const MARKER_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS _pgshift_marker (
    only_one BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_one),
    env TEXT NOT NULL,
    set_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    db_user TEXT NOT NULL DEFAULT current_user,
    os_user TEXT,
    host TEXT
);
"#;

/// `_pgshift_log.action` values.
pub mod action {
    pub const APPLIED: &str = "applied";
    pub const FAILED: &str = "failed";
    pub const REVERTED: &str = "reverted";
    pub const RESOLVED_APPLIED: &str = "resolved-applied";
    pub const RESOLVED_ROLLED_BACK: &str = "resolved-rolled-back";
    /// A `deploy` run (its outcome in `error`); never read as a migration's state.
    pub const DEPLOY: &str = "deploy";
}

/// A row of `_sqlx_migrations`.
#[derive(Debug, Clone)]
pub struct AppliedRow {
    pub version: i64,
    pub description: String,
    pub installed_on: DateTime<Utc>,
    pub success: bool,
    pub checksum: Vec<u8>,
    /// Nanoseconds, as sqlx stores it (-1 when sqlx lost the update).
    pub execution_time: i64,
}

/// The latest failure of a migration that is not applied, from `_pgshift_log`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailureRow {
    pub version: i64,
    pub file: String,
    pub at: DateTime<Utc>,
    pub error: Option<String>,
    pub statement: Option<String>,
    pub line: Option<i32>,
    pub partial: bool,
}

/// Everything the database says about its migrations.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// `_sqlx_migrations`, by version.
    pub applied: BTreeMap<i64, AppliedRow>,
    /// Unresolved failures: versions whose latest log entry is a failure.
    pub failures: BTreeMap<i64, FailureRow>,
    /// The environment marker, if any, from any schema (`read_markers`, `one_marker`).
    pub marker: Option<String>,
}

/// Who runs pgshift, from where: recorded with every log entry.
#[derive(Debug, Clone)]
pub struct Actor {
    pub env: String,
    pub os_user: String,
    pub host: String,
}

impl Actor {
    pub fn current(env: &str) -> Actor {
        let os_user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Actor {
            env: env.to_string(),
            os_user,
            host,
        }
    }
}

/// An SQL string literal that means the same whatever `standard_conforming_strings` says.
pub fn lit(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// A bytea literal.
pub fn bytea(bytes: &[u8]) -> String {
    format!("pg_catalog.decode('{}', 'hex')", hex::encode(bytes))
}

fn opt_lit(text: Option<&str>) -> String {
    text.map_or_else(|| "NULL".to_string(), lit)
}

/// One `_pgshift_log` entry, as SQL to send (alone or inside a migration's transaction).
pub struct LogEntry<'a> {
    pub version: i64,
    pub file: &'a str,
    pub action: &'a str,
    pub checksum: Option<&'a [u8]>,
    /// SQL expression for the duration in nanoseconds.
    pub duration_ns: Option<String>,
    pub error: Option<&'a str>,
    pub statement: Option<&'a str>,
    pub line: Option<usize>,
    pub partial: bool,
}

impl LogEntry<'_> {
    /// `schema`: where the history lives (`locate`), quoted.
    pub fn sql(&self, actor: &Actor, schema: &str) -> String {
        format!(
            "INSERT INTO {schema}._pgshift_log (version, file, action, checksum, duration_ns, error, statement, line, \
             partial, env, os_user, host, pgshift_version) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            self.version,
            lit(self.file),
            lit(self.action),
            self.checksum.map_or_else(|| "NULL".into(), bytea),
            self.duration_ns.as_deref().unwrap_or("NULL"),
            opt_lit(self.error),
            opt_lit(self.statement),
            self.line.map_or_else(|| "NULL".into(), |l| l.to_string()),
            self.partial,
            lit(&actor.env),
            lit(&actor.os_user),
            lit(&actor.host),
            lit(env!("CARGO_PKG_VERSION")),
        )
    }
}

/// The `_sqlx_migrations` insert, as sqlx writes it (execution time in nanoseconds).
pub fn sqlx_insert(
    schema: &str,
    version: i64,
    description: &str,
    success: bool,
    checksum: &[u8],
    execution_ns: &str,
) -> String {
    format!(
        "INSERT INTO {schema}._sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({version}, {}, {success}, {}, {execution_ns})",
        lit(description),
        bytea(checksum)
    )
}

/// Where the history lives, as a quoted schema name, and whether the session's
/// `standard_conforming_strings` is on. Decided from the catalog, the same way whoever
/// connects: the schema that holds `_sqlx_migrations` (whatever the connecting role's
/// `search_path`); when no schema holds one yet, the search path's first schema (where
/// sqlx would create it, so the first run decides for everyone after); when several do, an
/// error naming them (`MigrateError::Usage` at the caller): which is this project's cannot
/// be told. Every bookkeeping statement names it, so a migration that changes the
/// `search_path` cannot send the history elsewhere.
pub async fn locate(conn: &mut PgConnection) -> Result<(String, bool), sqlx::Error> {
    let (schemas, current, standard): (Vec<String>, Option<String>, bool) = sqlx::query_as(
        "SELECT ARRAY(SELECT n.nspname::text FROM pg_catalog.pg_class c \
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                   WHERE c.relname = '_sqlx_migrations' AND c.relkind IN ('r', 'p') \
                     AND n.nspname !~ '^pg_temp_' ORDER BY 1), \
                pg_catalog.current_schema()::text, \
                pg_catalog.current_setting('standard_conforming_strings') = 'on'",
    )
    .fetch_one(conn)
    .await?;
    let schema = match schemas.as_slice() {
        [one] => one.clone(),
        [] => current.unwrap_or_else(|| "public".to_string()),
        several => {
            return Err(sqlx::Error::Configuration(
                format!(
                "the database holds a migration history (_sqlx_migrations) in several schemas ({}), \
                 so pgshift cannot tell which is this project's; drop the stale ones (DROP TABLE \
                 schema._sqlx_migrations) so that one is left",
                several.join(", ")
            )
                .into(),
            ))
        }
    };
    Ok((crate::db::quote_ident(&schema), standard))
}

/// The environment markers of the database, from `_pgshift_marker` in EVERY schema (not
/// only the history's, nor only those the connecting role's `search_path` sees): a database
/// deployed by a role with its own schema is marked for whoever connects. Distinct values,
/// sorted; a table the role cannot read is an error, never "no marker".
pub async fn read_markers(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    let schemas = marker_schemas(conn).await?;
    if schemas.is_empty() {
        return Ok(Vec::new());
    }
    let union = schemas
        .iter()
        .map(|schema| {
            format!(
                "SELECT env::text FROM {}._pgshift_marker",
                crate::db::quote_ident(schema)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ");
    sqlx::query_scalar(&format!("SELECT env FROM ({union}) m ORDER BY 1"))
        .fetch_all(&mut *conn)
        .await
}

/// The schemas that hold a `_pgshift_marker`, sorted.
pub async fn marker_schemas(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT n.nspname::text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname = '_pgshift_marker' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
           AND n.nspname !~ '^pg_temp_' ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
}

/// The one marker value of `read_markers`: when schemas disagree, all of them joined
/// (`local, prod`), a name no environment has, so local work and every deploy refuse it.
pub fn one_marker(markers: Vec<String>) -> Option<String> {
    match markers.len() {
        0 => None,
        1 => markers.into_iter().next(),
        _ => Some(markers.join(", ")),
    }
}

/// Creates `_sqlx_migrations` (exactly as sqlx does) and pgshift's tables when missing, in
/// `schema`.
pub async fn ensure_tables(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    let ddl = format!("{SQLX_TABLE}{LOG_TABLE}{MARKER_TABLE}")
        .replace("EXISTS _", &format!("EXISTS {schema}._"));
    sqlx::raw_sql(&ddl).execute(conn).await?;
    Ok(())
}

/// Reads the history without creating anything: a database never migrated has none.
pub async fn read(conn: &mut PgConnection, schema: &str) -> Result<History, sqlx::Error> {
    let exists = |table: &str| {
        format!(
            "to_regclass({}) IS NOT NULL",
            lit(&format!("{schema}.{table}"))
        )
    };
    let (has_sqlx, has_log): (bool, bool) = sqlx::query_as(&format!(
        "SELECT {}, {}",
        exists("_sqlx_migrations"),
        exists("_pgshift_log"),
    ))
    .fetch_one(&mut *conn)
    .await?;
    let mut history = History::default();
    if has_sqlx {
        // One row of arrays rather than a row per migration: decoding 1,000 rows costs tens
        // of milliseconds in a debug build, which is how users run `cargo xtask`.
        type Columns = (
            Option<Vec<i64>>,
            Option<Vec<String>>,
            Option<Vec<DateTime<Utc>>>,
            Option<Vec<bool>>,
            Option<Vec<Vec<u8>>>,
            Option<Vec<i64>>,
        );
        let (versions, descriptions, installed, success, checksums, times): Columns =
            sqlx::query_as(&format!(
                "SELECT array_agg(version ORDER BY version), array_agg(description ORDER BY version), \
                        array_agg(installed_on ORDER BY version), array_agg(success ORDER BY version), \
                        array_agg(checksum ORDER BY version), array_agg(execution_time ORDER BY version) \
                 FROM {schema}._sqlx_migrations",
            ))
            .fetch_one(&mut *conn)
            .await?;
        let rows = versions
            .unwrap_or_default()
            .into_iter()
            .zip(descriptions.unwrap_or_default())
            .zip(installed.unwrap_or_default())
            .zip(success.unwrap_or_default())
            .zip(checksums.unwrap_or_default())
            .zip(times.unwrap_or_default());
        history.applied = rows
            .map(
                |(
                    ((((version, description), installed_on), success), checksum),
                    execution_time,
                )| {
                    let row = AppliedRow {
                        version,
                        description,
                        installed_on,
                        success,
                        checksum,
                        execution_time,
                    };
                    (version, row)
                },
            )
            .collect();
    }
    if has_log {
        let rows: Vec<FailureRow> = sqlx::query_as(&format!(
            "SELECT version, file, at, error, statement, line, partial FROM ( \
               SELECT DISTINCT ON (version) * FROM {schema}._pgshift_log \
               WHERE action IN ('applied', 'failed', 'reverted', 'resolved-applied', 'resolved-rolled-back') \
               ORDER BY version, id DESC) latest \
             WHERE action = 'failed'",
        ))
        .fetch_all(&mut *conn)
        .await?;
        history.failures = rows
            .into_iter()
            .filter(|f| history.applied.get(&f.version).is_none_or(|a| !a.success))
            .map(|f| (f.version, f))
            .collect();
    }
    history.marker = one_marker(read_markers(conn).await?);
    Ok(history)
}
