//! Where each migration stands: the folder compared with the database's history. Pure
//! functions over `files` and `history`, shared by `migrate-status`, the apply planner and
//! the daemon.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::files::{differs_only_in_line_endings, MigrationFile};
use super::history::History;

/// The state of one migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Applied,
    Pending,
    /// Failed and not resolved (`migrate-resolve`); possibly partial for `-- no-transaction`.
    Failed,
    /// Applied, but the file changed since (checksum differs).
    Modified,
    /// Applied, but the file is gone from the folder.
    Missing,
    /// Pending, but older than the newest applied migration (a branch merge).
    OutOfOrder,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Failed => "failed",
            State::Modified => "modified",
            State::Missing => "missing",
            State::OutOfOrder => "out-of-order",
        }
    }
}

/// The stored error of a failed migration.
#[derive(Debug, Clone, Serialize)]
pub struct FailureInfo {
    pub message: String,
    pub statement: Option<String>,
    pub line: Option<i32>,
    /// A `-- no-transaction` migration that stopped after some statements ran.
    pub partial: bool,
    pub at: Option<DateTime<Utc>>,
}

/// One line of `migrate-status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    pub version: i64,
    pub description: String,
    /// The file that applies it, when it is in the folder.
    pub file: Option<String>,
    pub state: State,
    pub installed_on: Option<DateTime<Utc>>,
    /// As stored by whoever applied it (sqlx stores -1 when it lost the update).
    pub execution_ms: Option<f64>,
    pub error: Option<FailureInfo>,
    /// Hex SHA-384, for modified migrations.
    pub applied_checksum: Option<String>,
    pub file_checksum: Option<String>,
    /// A modified file whose only change is its line endings.
    pub line_endings_only: bool,
}

impl StatusRow {
    /// `20261101090000_create_doctor`, or version and description for a missing file.
    pub fn name(&self) -> String {
        match &self.file {
            Some(file) => file
                .strip_suffix(".up.sql")
                .or_else(|| file.strip_suffix(".sql"))
                .unwrap_or(file)
                .to_string(),
            None => format!("{}_{}", self.version, self.description.replace(' ', "_")),
        }
    }
}

/// Counts per state.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub applied: usize,
    pub pending: usize,
    pub failed: usize,
    pub modified: usize,
    pub missing: usize,
    pub out_of_order: usize,
}

impl Summary {
    pub fn of(rows: &[StatusRow]) -> Summary {
        let mut s = Summary::default();
        for row in rows {
            *match row.state {
                State::Applied => &mut s.applied,
                State::Pending => &mut s.pending,
                State::Failed => &mut s.failed,
                State::Modified => &mut s.modified,
                State::Missing => &mut s.missing,
                State::OutOfOrder => &mut s.out_of_order,
            } += 1;
        }
        s
    }

    /// `3 applied, 1 pending` (zero counts left out).
    pub fn line(&self) -> String {
        let parts: Vec<String> = [
            (self.applied, "applied"),
            (self.pending, "pending"),
            (self.out_of_order, "out-of-order"),
            (self.failed, "failed"),
            (self.modified, "modified"),
            (self.missing, "missing"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            "no migrations".into()
        } else {
            parts.join(", ")
        }
    }

    /// Whether anything needs a person: failed, modified or missing.
    pub fn has_problems(&self) -> bool {
        self.failed + self.modified + self.missing > 0
    }
}

/// Compares the folder with the history: one row per version, in version order.
pub fn classify(files: &[MigrationFile], history: &History) -> Vec<StatusRow> {
    let newest_applied = history
        .applied
        .values()
        .filter(|a| a.success)
        .map(|a| a.version)
        .max();
    let mut rows = Vec::new();
    let mut file_iter = files.iter().peekable();
    let mut applied_iter = history.applied.values().peekable();
    loop {
        // Merge the two version-ordered lists.
        let next_file = file_iter.peek().map(|f| f.version);
        let next_applied = applied_iter.peek().map(|a| a.version);
        let version = match (next_file, next_applied) {
            (None, None) => break,
            (Some(f), None) => f,
            (None, Some(a)) => a,
            (Some(f), Some(a)) => f.min(a),
        };
        let file = file_iter.next_if(|f| f.version == version);
        let applied = applied_iter.next_if(|a| a.version == version);
        let failure = history.failures.get(&version);
        let mut row = StatusRow {
            version,
            description: file
                .map(|f| f.description.clone())
                .or_else(|| applied.map(|a| a.description.clone()))
                .unwrap_or_default(),
            file: file.map(|f| f.file_name.clone()),
            state: State::Pending,
            installed_on: None,
            execution_ms: None,
            error: None,
            applied_checksum: None,
            file_checksum: None,
            line_endings_only: false,
        };
        match (file, applied) {
            (_, Some(a)) if !a.success => {
                row.state = State::Failed;
                row.error = Some(match failure {
                    Some(f) => failure_info(f),
                    None => FailureInfo {
                        message: "interrupted or failed while running outside a transaction; \
                                  the database may hold part of it"
                            .into(),
                        statement: None,
                        line: None,
                        partial: true,
                        at: Some(a.installed_on),
                    },
                });
            }
            (None, Some(a)) => {
                row.state = State::Missing;
                row.installed_on = Some(a.installed_on);
                row.execution_ms = Some(a.execution_time as f64 / 1e6);
            }
            (Some(f), Some(a)) => {
                row.installed_on = Some(a.installed_on);
                row.execution_ms = Some(a.execution_time as f64 / 1e6);
                if f.checksum == a.checksum {
                    row.state = State::Applied;
                } else {
                    row.state = State::Modified;
                    row.applied_checksum = Some(hex::encode(&a.checksum));
                    row.file_checksum = Some(hex::encode(&f.checksum));
                    row.line_endings_only = differs_only_in_line_endings(&f.sql, &a.checksum);
                }
            }
            (_, None) => {
                if let Some(f) = failure {
                    row.state = State::Failed;
                    row.error = Some(failure_info(f));
                } else if newest_applied.is_some_and(|newest| version < newest) {
                    row.state = State::OutOfOrder;
                }
            }
        }
        rows.push(row);
    }
    rows
}

fn failure_info(f: &super::history::FailureRow) -> FailureInfo {
    FailureInfo {
        message: f.error.clone().unwrap_or_default(),
        statement: f.statement.clone(),
        line: f.line,
        partial: f.partial,
        at: Some(f.at),
    }
}
