//! The errors of the migration engine, one variant per situation a caller (the CLI, the
//! daemon) handles differently. Every message names the file and the database and says
//! what to do next.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::files::FileErrors;
use super::lock::{one_line, LockHolder};
use crate::db::ConnectError;

/// A migration that PostgreSQL refused while it ran.
#[derive(Debug, Clone)]
pub struct MigrationFailure {
    pub version: i64,
    /// The file name, `20261125103000_add_doctor_fields.sql`.
    pub file: String,
    pub path: PathBuf,
    /// `env (host:port/database)`.
    pub target: String,
    /// 1-based line in the file where PostgreSQL points, else where the statement starts.
    pub line: Option<usize>,
    /// The statement that failed (whole, as in the file).
    pub statement: Option<String>,
    /// PostgreSQL's message, with its detail and hint.
    pub message: String,
    /// SQLSTATE, when the server sent one.
    pub code: Option<String>,
    /// It was waiting for a lock held by another session (`lock_timeout`).
    pub lock_wait: bool,
    /// A `-- no-transaction` migration stopped after some of its statements ran, or on a
    /// `CONCURRENTLY` statement (which leaves an INVALID index behind): the database may hold
    /// part of it, so its `success = false` row stays until `migrate-resolve`.
    pub partial: bool,
    /// The failing statement was a `CONCURRENTLY` one.
    pub concurrently: bool,
}

impl fmt::Display for MigrationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "migration {} failed on {}", self.file, self.target)?;
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(statement) = &self.statement {
            write!(f, "\n  statement: {}", one_line(statement, 200))?;
        }
        if self.lock_wait {
            write!(
                f,
                "\n  it was waiting for a lock that another session holds on a table it changes, \
                 longer than [migrate] session_lock_timeout allows"
            )?;
        }
        if self.concurrently {
            write!(
                f,
                "\nit runs outside a transaction (-- no-transaction): the statements before this one (if \
                 any) were applied, and a failed CONCURRENTLY statement may leave its index behind, INVALID \
                 (`\\d table` in psql shows it); drop such an index with `DROP INDEX CONCURRENTLY name`, fix \
                 the cause, then record the outcome with `cargo xtask migrate-resolve --rolled-back {v}` (to \
                 retry it) or `cargo xtask migrate-resolve --applied {v}`",
                v = self.version
            )
        } else if self.partial {
            write!(
                f,
                "\nit runs outside a transaction (-- no-transaction) and the statements before this one \
                 were applied; repair the database by hand, then record the outcome with \
                 `cargo xtask migrate-resolve --applied {v}` or `--rolled-back {v}`",
                v = self.version
            )
        } else {
            write!(
                f,
                "\nnothing of it was applied and later migrations were not attempted; fix {} and run again",
                self.path.display()
            )
        }
    }
}

/// An applied migration whose file changed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditedMigration {
    pub version: i64,
    pub file: String,
    /// Hex SHA-384 recorded when it was applied.
    pub applied_checksum: String,
    /// Hex SHA-384 of the file now.
    pub file_checksum: String,
    /// The only difference is the line endings (CRLF vs LF).
    pub line_endings_only: bool,
}

/// Something in the history that stops migrations from being applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Edited(EditedMigration),
    /// Applied, but its file is gone.
    Missing {
        version: i64,
        description: String,
    },
    /// Failed earlier and not resolved.
    Failed {
        version: i64,
        file: String,
        error: String,
        partial: bool,
    },
    /// Pending but older than the newest applied migration.
    OutOfOrder {
        version: i64,
        file: String,
        newest_applied: i64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Edited(e) if e.line_endings_only => write!(
                f,
                "{} was applied, then only its line endings changed (CRLF vs LF), which changes its \
                 checksum ({} applied vs {} now); restore the original line endings, e.g. add \
                 `*.sql text eol=lf` to .gitattributes and check the file out again",
                e.file,
                short(&e.applied_checksum),
                short(&e.file_checksum)
            ),
            Problem::Edited(e) => write!(
                f,
                "{} was edited after it was applied (checksum {} applied vs {} now); revert the edit and \
                 put the change in a new migration (`cargo xtask migrate-new NAME`), or on a local \
                 database run `cargo xtask migrate-reset`",
                e.file,
                short(&e.applied_checksum),
                short(&e.file_checksum)
            ),
            Problem::Missing {
                version,
                description,
            } => write!(
                f,
                "migration {version} ({description}) was applied but its file is gone from the folder; \
                 restore the file (e.g. from git)"
            ),
            Problem::Failed {
                version,
                file,
                error,
                partial,
            } => {
                write!(f, "{file} failed")?;
                if *partial {
                    write!(f, " part-way (it runs outside a transaction)")?;
                }
                write!(
                    f,
                    ": {}; after fixing, record the outcome with `cargo xtask migrate-resolve --rolled-back {version}` \
                     (retry it) or `--applied {version}` (you applied it by hand)",
                    one_line(error, 200)
                )
            }
            Problem::OutOfOrder {
                version: _,
                file,
                newest_applied,
            } => write!(
                f,
                "{file} is pending but older than the newest applied migration {newest_applied} (a branch \
                 merge?); give it a newer version (rename the file), or pass --allow-out-of-order"
            ),
        }
    }
}

/// The first 16 hex digits of a checksum, enough to tell two apart in a message.
fn short(hex: &str) -> &str {
    &hex[..hex.len().min(16)]
}

/// Why a migration command stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database could not be reached: not a problem with the migrations.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Files of the migrations folder that cannot be used (names, duplicates, pairs).
    #[error(transparent)]
    Files(#[from] FileErrors),
    /// A migration that PostgreSQL refused.
    #[error("{0}")]
    Failed(Box<MigrationFailure>),
    /// Edited, missing, failed or out-of-order migrations: nothing was applied.
    #[error("{}", blocked(target, problems))]
    Blocked {
        target: String,
        problems: Vec<Problem>,
    },
    /// A file refused before anything was sent: a statement that cannot run in a transaction,
    /// one that controls the transaction, or an unterminated quote or comment.
    #[error("{file} line {line}: {reason}; nothing was applied")]
    Rejected {
        version: i64,
        file: String,
        line: usize,
        reason: String,
    },
    /// A command meant for the local database was pointed elsewhere (see
    /// `Target::require_local`).
    #[error(transparent)]
    NotLocal(crate::UsageError),
    /// The database carries the marker of another environment (a protected one, or not the
    /// one this command runs for).
    #[error("{}", marked(command, database, marker, *protected, env))]
    Marked {
        command: String,
        /// `host:port/database`.
        database: String,
        /// The environment recorded in the database by `migrate-deploy --env NAME`.
        marker: String,
        /// `[env.MARKER] protected = true`, or an environment pgshift.toml does not know.
        protected: bool,
        /// The environment the command runs for.
        env: String,
    },
    /// Another session kept the migration lock for longer than `[migrate] lock_timeout`.
    #[error("{}", lock_timeout(database, *waited, holder.as_deref()))]
    LockTimeout {
        database: String,
        waited: Duration,
        holder: Option<Box<LockHolder>>,
    },
    /// `migrate-deploy`: the lint found blocking findings that the migrations do not
    /// acknowledge; nothing was applied.
    #[error("{}", lint_blocked(target, findings))]
    LintBlocked {
        target: String,
        findings: Vec<crate::lint::Finding>,
    },
    /// A command that needs a failed migration (`migrate-resolve`) or an applied one.
    #[error("{0}")]
    Usage(String),
    /// Reverting needs `.down.sql` files that some migrations do not have.
    #[error("cannot revert {}: no .down.sql file; nothing was reverted; revert by hand with a new migration, or use `cargo xtask migrate-reset` on a local database", .files.join(", "))]
    NoDownFile { files: Vec<String> },
    /// Any other database error (the connection dropped mid-way, a permission).
    #[error("{action} on {target}: {message}")]
    Database {
        target: String,
        action: String,
        message: String,
    },
    /// The connection dropped, or the server is shutting down or starting up: the
    /// database went away, not a problem with the migrations. Nothing half-applied: a
    /// transaction the server did not commit is rolled back.
    #[error("{action} on {target}: the connection was lost: {message}")]
    ConnectionLost {
        target: String,
        action: String,
        message: String,
    },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn blocked(target: &str, problems: &[Problem]) -> String {
    let mut text = format!("nothing was applied to {target}:");
    for p in problems {
        text.push_str("\n  ");
        text.push_str(&p.to_string());
    }
    text
}

fn marked(command: &str, database: &str, marker: &str, protected: bool, env: &str) -> String {
    if protected {
        format!(
            "`{command}` refuses {database}: the database is marked as environment `{marker}`, which is \
             protected; check DATABASE_URL in .env and --env, and point local work at the local database"
        )
    } else {
        format!(
            "`{command}` for environment `{env}` refuses {database}: the database is marked as environment \
             `{marker}`; use --env {marker}, or check the URL in .env and the environment variables"
        )
    }
}

fn lock_timeout(database: &str, waited: Duration, holder: Option<&LockHolder>) -> String {
    let who = match holder {
        Some(h) => format!("held by {h}"),
        None => "held by a session that has gone since".into(),
    };
    format!(
        "gave up after {:.1} s waiting for the migration lock of {database}, {who}; another migration \
         (pgshift, or an application running sqlx::migrate!) is running: wait for it, or raise \
         [migrate] lock_timeout",
        waited.as_secs_f64()
    )
}

impl MigrateError {
    /// Whether `e` means the connection is gone (or going): the server did not refuse a
    /// statement, it stopped talking.
    pub(crate) fn is_lost(e: &sqlx::Error) -> bool {
        // 57P01-03: admin/crash shutdown, cannot connect now; class 08: connection exceptions.
        match e {
            sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
            _ => false,
        }
    }

    pub(crate) fn db(target: &str, action: &str, e: sqlx::Error) -> MigrateError {
        if MigrateError::is_lost(&e) {
            return MigrateError::ConnectionLost {
                target: target.to_string(),
                action: action.to_string(),
                message: crate::target::redact(&e.to_string()),
            };
        }
        MigrateError::Database {
            target: target.to_string(),
            action: action.to_string(),
            message: crate::target::redact(&e.to_string()),
        }
    }

    /// The database could not be reached or went away: try again later, the migrations
    /// are not the problem.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            MigrateError::Connect(_) | MigrateError::ConnectionLost { .. }
        )
    }

    /// The edited migrations, when that is what stopped the command.
    pub fn edited(&self) -> Vec<&EditedMigration> {
        match self {
            MigrateError::Blocked { problems, .. } => problems
                .iter()
                .filter_map(|p| match p {
                    Problem::Edited(e) => Some(e),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn lint_blocked(target: &str, findings: &[crate::lint::Finding]) -> String {
    let blocking: Vec<&crate::lint::Finding> = findings.iter().filter(|f| f.blocks()).collect();
    let mut out = format!(
        "refusing to deploy to {target}: the lint found {} blocking finding{} that no migration \
         acknowledges; nothing was applied:",
        blocking.len(),
        if blocking.len() == 1 { "" } else { "s" }
    );
    for f in blocking {
        out.push_str(&format!(
            "\n  {}:{}:{}: error[{}]: {}",
            f.file, f.line, f.col, f.rule, f.message
        ));
    }
    out.push_str(
        "\nfix the migration, or acknowledge each finding with `-- pgshift:allow RULE reason` on \
         the line before its statement (before the migration is applied anywhere: the comment is \
         part of its checksum); `cargo xtask lint --env ENV` shows the details",
    );
    out
}
