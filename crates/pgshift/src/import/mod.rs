//! `import`: another tool's migration history becomes pgshift's. The files become migrations
//! of `[paths] migrations` (unique, ordered versions; clean names; `-- no-transaction` where
//! pgshift's transaction would refuse the file), and, for an environment, the tool's history
//! table becomes `_sqlx_migrations` rows for the new files, so nothing is applied twice.
//!
//! Each tool is a module that reads its folder into `Source`s (in the tool's order) and its
//! history table into `Recorded` states; planning, writing and recording are shared.

mod baseline;
mod dbmate;
mod golang_migrate;
mod prisma;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use baseline::{baseline, BaselineReport};

use crate::config::Config;
use crate::migrations::files::{self, MigrationFile, NO_TRANSACTION};
use crate::migrations::history::{self, action, Actor, LogEntry};
use crate::migrations::{MigrateError, Session};
use crate::sql::{self, Kind};
use crate::target::Target;

/// The tools whose histories `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// Prisma Migrate: `<folder>/migration.sql`, `_prisma_migrations`.
    Prisma,
    /// golang-migrate: `N_name.up.sql`/`.down.sql`, `schema_migrations (version, dirty)`.
    GolangMigrate,
    /// dbmate: `<version>_name.sql` with `-- migrate:up`/`-- migrate:down` sections,
    /// `schema_migrations (version)`.
    Dbmate,
}

impl Tool {
    /// Where the tool keeps its migrations by default.
    pub fn default_folder(self) -> &'static str {
        match self {
            Tool::Prisma => "prisma/migrations",
            Tool::GolangMigrate => "migrations",
            Tool::Dbmate => "db/migrations",
        }
    }
}

/// A migration as the other tool has it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The tool's own name for it: the key of its history table (Prisma's folder name,
    /// golang-migrate's version).
    pub key: String,
    /// The name to derive the new file's name from.
    pub name: String,
    /// A version the tool's name carries (a timestamp or a number), if any.
    pub number: Option<i64>,
    /// The SQL, or `None` when the tool has no SQL for it (a Prisma folder of TypeScript).
    pub sql: Option<String>,
    /// The down SQL, for tools that have it.
    pub down: Option<String>,
    /// The file it was read from, for messages.
    pub origin: PathBuf,
}

/// A migration file `import` writes.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    /// The tool's name for the migration.
    pub source: String,
    pub version: i64,
    pub file: String,
    /// The `.down.sql` written beside it, if the tool had one.
    pub down_file: Option<String>,
    pub no_transaction: bool,
    /// False when the file already exists with this content (a second run).
    pub new: bool,
    #[serde(skip)]
    contents: String,
    #[serde(skip)]
    down_contents: Option<String>,
}

/// What the other tool's history table says of one migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Applied {
        duration_ns: i64,
    },
    /// Failed and not resolved: pgshift shows it failed and waits for `migrate-resolve`.
    Failed {
        error: String,
    },
    /// Failed, then marked rolled back: pending again.
    RolledBack {
        error: String,
    },
}

/// What `import` did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub tool: Tool,
    pub from: String,
    pub dry_run: bool,
    pub files: Vec<PlannedFile>,
    /// The tool's migrations that have no SQL (Prisma folders without migration.sql).
    pub without_sql: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryReport>,
}

/// What `import --env` recorded in that environment's database.
#[derive(Debug, Clone, Serialize, Default)]
pub struct HistoryReport {
    pub env: String,
    pub database: String,
    /// Recorded as applied by this run.
    pub recorded: Vec<i64>,
    /// Already recorded by an earlier run.
    pub already_recorded: Vec<i64>,
    /// Failed in the other tool and not resolved: recorded as failed.
    pub failed: Vec<i64>,
    /// Rolled back in the other tool: pending.
    pub rolled_back: Vec<i64>,
    /// Not applied in the other tool: pending, for `migrate-deploy`.
    pub pending: Vec<i64>,
}

/// Why an import stopped. Nothing was written when it did.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}; pass the folder with --from", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Folder(String),
    #[error("{} already exists with other content than the import would write; move it away (or delete it if an earlier import wrote it), then run the import again", path.display())]
    Conflict { path: PathBuf },
    #[error("the history of {target} does not match the files, so nothing was recorded or written:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    History {
        target: String,
        problems: Vec<String>,
    },
    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

/// Reads `from`, plans the files, and (unless `dry_run`) writes them; with `target`, records
/// the tool's history there.
pub async fn import(
    config: &Config,
    tool: Tool,
    from: &Path,
    target: Option<&Target>,
    dry_run: bool,
) -> Result<ImportReport, ImportError> {
    let mut sources = match tool {
        Tool::Prisma => prisma::read_folder(from)?,
        Tool::GolangMigrate => golang_migrate::read_folder(from)?,
        Tool::Dbmate => dbmate::read_folder(from)?,
    };
    // Named relative to the project in the files' first line, as a reviewer reads them.
    for source in &mut sources {
        if let Ok(relative) = source.origin.strip_prefix(&config.root) {
            source.origin = relative.to_path_buf();
        }
    }
    let folder = &config.paths.migrations;
    let mut files = plan(&sources);
    let without_sql = sources
        .iter()
        .filter(|s| s.sql.is_none())
        .map(|s| s.key.clone())
        .collect();
    for file in &mut files {
        file.new = !same_contents(&folder.join(&file.file), &file.contents)?;
        if file.new {
            check_free(folder, file)?;
        }
    }
    let mut report = ImportReport {
        tool,
        from: from.display().to_string(),
        dry_run,
        files,
        without_sql,
        history: None,
    };
    // The history is read and checked before anything is written, so a mismatch stops the
    // import with nothing changed.
    let mut session = None;
    let mut recorded = Vec::new();
    if let Some(target) = target {
        let mut s = Session::open_locked(config, target, &mut |_| {}).await?;
        let read = match tool {
            Tool::Prisma => prisma::read_history(&mut s, &sources).await,
            Tool::GolangMigrate => golang_migrate::read_history(&mut s, &sources).await,
            Tool::Dbmate => dbmate::read_history(&mut s, &sources).await,
        };
        match read {
            Ok(states) => recorded = states,
            Err(problems) => {
                let target_name = s.target.clone();
                s.close().await;
                return Err(ImportError::History {
                    target: target_name,
                    problems,
                });
            }
        }
        session = Some(s);
    }
    if !dry_run {
        write_files(folder, &report.files)?;
    }
    if let (Some(mut s), Some(target)) = (session, target) {
        let result = if dry_run {
            Ok(dry_history(target, &s, &report.files, &recorded))
        } else {
            record_history(&mut s, target, folder, &report.files, &recorded).await
        };
        s.close().await;
        report.history = Some(result?);
    }
    Ok(report)
}

/// Versions, names and contents of the new files, in the tool's order. A version is the
/// number the tool's name carries when it is newer than the one before, else the one before
/// plus one: shared timestamps and names without one still get unique, ordered versions.
fn plan(sources: &[Source]) -> Vec<PlannedFile> {
    let mut files = Vec::new();
    let mut previous = 0i64;
    for source in sources {
        let Some(sql) = &source.sql else { continue };
        let version = source
            .number
            .filter(|&n| n > previous)
            .unwrap_or(previous + 1);
        previous = version;
        let name = clean_name(&source.name);
        let text = files::without_bom(sql.clone());
        let already = text.starts_with(NO_TRANSACTION);
        let no_transaction = already || needs_no_transaction(&text);
        let origin = source.origin.display();
        let contents = if already {
            let rest = &text[NO_TRANSACTION.len()..];
            format!("{NO_TRANSACTION}\n-- Imported from {origin}.{rest}")
        } else if no_transaction {
            format!("{NO_TRANSACTION}\n-- Imported from {origin}: it cannot run inside one transaction.\n{text}")
        } else {
            format!("-- Imported from {origin}.\n{text}")
        };
        let (file, down_file) = match &source.down {
            Some(_) => (
                format!("{version}_{name}.up.sql"),
                Some(format!("{version}_{name}.down.sql")),
            ),
            None => (format!("{version}_{name}.sql"), None),
        };
        files.push(PlannedFile {
            source: source.key.clone(),
            version,
            file,
            down_file,
            no_transaction,
            new: true,
            contents,
            down_contents: source.down.clone(),
        });
    }
    files
}

/// Whether pgshift's one transaction per migration would refuse the file: a statement that
/// cannot run in a transaction (`CREATE INDEX CONCURRENTLY`), or the file's own
/// `BEGIN`/`COMMIT`. A file the parser refuses is left transactional: the server will say.
fn needs_no_transaction(text: &str) -> bool {
    sql::statements(text, true).is_ok_and(|statements| {
        statements.iter().any(|st| {
            matches!(
                st.kind,
                Kind::NoTransaction(_) | Kind::TransactionControl(_)
            )
        })
    })
}

/// `Add Users-Table.v2` -> `add_users_table_v2`: lowercase words of letters and digits
/// joined by single underscores, as `migrate-new` names them.
fn clean_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_string();
    if out.is_empty() {
        "migration".into()
    } else {
        out
    }
}

fn same_contents(path: &Path, contents: &str) -> Result<bool, ImportError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes == contents.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ImportError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A new file may not overwrite a file, nor take a version another migration has.
fn check_free(folder: &Path, file: &PlannedFile) -> Result<(), ImportError> {
    let path = folder.join(&file.file);
    if path.exists() {
        return Err(ImportError::Conflict { path });
    }
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let same_version = name
            .split_once('_')
            .is_some_and(|(v, _)| v.parse::<i64>() == Ok(file.version));
        if same_version && Some(&name) != file.down_file.as_ref() {
            return Err(ImportError::Conflict {
                path: folder.join(name),
            });
        }
    }
    Ok(())
}

fn write_files(folder: &Path, planned: &[PlannedFile]) -> Result<(), ImportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Io { path, source }
    };
    std::fs::create_dir_all(folder).map_err(io(folder))?;
    for file in planned.iter().filter(|f| f.new) {
        let mut writes = vec![(&file.file, &file.contents)];
        if let (Some(name), Some(text)) = (&file.down_file, &file.down_contents) {
            writes.push((name, text));
        }
        for (name, text) in writes {
            // Written beside, then renamed: a watching daemon never reads half a file.
            let path = folder.join(name);
            let temp = folder.join(format!(".{name}.importing"));
            std::fs::write(&temp, text).map_err(io(&temp))?;
            std::fs::rename(&temp, &path).map_err(io(&path))?;
        }
    }
    Ok(())
}

fn state_of<'a>(recorded: &'a [(String, Recorded)], key: &str) -> Option<&'a Recorded> {
    recorded.iter().find(|(k, _)| k == key).map(|(_, r)| r)
}

fn dry_history(
    target: &Target,
    s: &Session,
    planned: &[PlannedFile],
    recorded: &[(String, Recorded)],
) -> HistoryReport {
    let mut report = HistoryReport {
        env: target.env.clone(),
        database: s.database.clone(),
        ..HistoryReport::default()
    };
    for file in planned {
        match state_of(recorded, &file.source) {
            Some(Recorded::Applied { .. }) => report.recorded.push(file.version),
            Some(Recorded::Failed { .. }) => report.failed.push(file.version),
            Some(Recorded::RolledBack { .. }) => report.rolled_back.push(file.version),
            None => report.pending.push(file.version),
        }
    }
    report
}

/// Writes the `_sqlx_migrations` rows (sqlx's description and checksum of the new files,
/// read back as the engine reads them) and the `_pgshift_log` entries, in one transaction.
async fn record_history(
    s: &mut Session,
    target: &Target,
    folder: &Path,
    planned: &[PlannedFile],
    recorded: &[(String, Recorded)],
) -> Result<HistoryReport, ImportError> {
    let found = files::discover(folder).map_err(MigrateError::from)?;
    let file_of =
        |version: i64| -> Option<&MigrationFile> { found.iter().find(|f| f.version == version) };
    let created = history::ensure_tables(&mut s.conn, &s.schema).await;
    s.check(created, "creating the history tables")?;
    let read = history::read(&mut s.conn, &s.schema).await;
    let existing = s.check(read, "reading the migration history")?;
    let actor = Actor::current(&target.env);
    let mut report = HistoryReport {
        env: target.env.clone(),
        database: s.database.clone(),
        ..HistoryReport::default()
    };
    let mut statements = Vec::new();
    let mut problems = Vec::new();
    for planned_file in planned {
        let Some(file) = file_of(planned_file.version) else {
            continue;
        };
        let state = state_of(recorded, &planned_file.source);
        if let Some(row) = existing.applied.get(&file.version) {
            if row.checksum != file.checksum {
                problems.push(format!(
                    "version {} is recorded in _sqlx_migrations with another checksum than {}",
                    file.version, file.file_name
                ));
            } else {
                report.already_recorded.push(file.version);
            }
            continue;
        }
        let log = |action: &'static str, error: Option<&str>| {
            LogEntry {
                version: file.version,
                file: &file.file_name,
                action,
                checksum: Some(&file.checksum),
                duration_ns: None,
                error,
                statement: None,
                line: None,
                partial: false,
            }
            .sql(&actor, &s.schema)
        };
        match state {
            Some(Recorded::Applied { duration_ns }) => {
                statements.push(history::sqlx_insert(
                    &s.schema,
                    file.version,
                    &file.description,
                    true,
                    &file.checksum,
                    &duration_ns.to_string(),
                ));
                report.recorded.push(file.version);
            }
            Some(Recorded::Failed { error }) => {
                if !existing.failures.contains_key(&file.version) {
                    statements.push(log(action::FAILED, Some(error)));
                }
                report.failed.push(file.version);
            }
            Some(Recorded::RolledBack { error }) => {
                if !existing.failures.contains_key(&file.version) {
                    statements.push(log(action::FAILED, Some(error)));
                    statements.push(log(action::RESOLVED_ROLLED_BACK, None));
                }
                report.rolled_back.push(file.version);
            }
            None => report.pending.push(file.version),
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::History {
            target: s.target.clone(),
            problems,
        });
    }
    if !statements.is_empty() {
        let sql = format!("BEGIN; {}; COMMIT", statements.join(";\n"));
        let done = sqlx::raw_sql(&sql).execute(&mut s.conn).await;
        s.check(done, "recording the imported history")?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(key: &str, number: Option<i64>, sql: Option<&str>) -> Source {
        Source {
            key: key.into(),
            name: key.into(),
            number,
            sql: sql.map(Into::into),
            down: None,
            origin: PathBuf::from(key),
        }
    }

    #[test]
    fn versions_are_unique_and_ordered_whatever_the_names() {
        let sources = [
            source("01_init", None, Some("select 1")),
            source("a", Some(20210101000000), Some("select 1")),
            source("b", Some(20210101000000), Some("select 1")),
            source("ts", None, None),
            source("c", Some(20200101000000), Some("select 1")),
            source("d", Some(20220101000000), Some("select 1")),
        ];
        let versions: Vec<i64> = plan(&sources).iter().map(|f| f.version).collect();
        assert_eq!(
            versions,
            [
                1,
                20210101000000,
                20210101000001,
                20210101000002,
                20220101000000
            ]
        );
    }

    #[test]
    fn names_and_transactions() {
        assert_eq!(clean_name("Add Users-Table.v2"), "add_users_table_v2");
        assert_eq!(clean_name("__"), "migration");
        assert!(needs_no_transaction(
            "CREATE INDEX CONCURRENTLY i ON t (a);"
        ));
        assert!(needs_no_transaction(
            "BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;"
        ));
        assert!(!needs_no_transaction(
            "-- CreateTable\nCREATE TABLE \"User\" (id int);"
        ));
    }
}
