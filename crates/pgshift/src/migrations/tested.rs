//! "Test migrations locally first": which of the migrations a deploy is about to apply the
//! local database has not applied, as they are now.

use serde::Serialize;

use std::collections::HashSet;

use super::apply::PlannedMigration;
use super::files::{discover, MigrationFile};
use super::{read_status_of, MigrateError, State};
use crate::config::Config;
use crate::target::{redact, Target};

/// What the local database says about the migrations a deploy would apply.
#[derive(Debug, Clone, Serialize)]
pub struct LocalCheck {
    /// `host:port/database` of the local database, when it could be resolved.
    pub database: Option<String>,
    /// Whether the local migration history could be read.
    pub reachable: bool,
    /// The files about to be deployed that the local database has not applied, or applied
    /// with other contents, in deploy order. Empty when the local database was not reachable.
    pub not_applied_locally: Vec<String>,
    /// Why the local database could not be checked.
    pub error: Option<String>,
}

/// Compares `planned` with the history of the local database (`local`, as `--env local`
/// resolves it). Never fails: an unreachable local database is reported in the result.
pub async fn check_tested_locally(
    config: &Config,
    local: anyhow::Result<Target>,
    planned: &[PlannedMigration],
) -> LocalCheck {
    match discover(&config.paths.migrations) {
        Ok(files) => LocalHistory::read(config, local, &files)
            .await
            .check(planned),
        Err(e) => LocalHistory {
            database: local.ok().map(|t| t.url.host_and_database()),
            read: Err(redact(&MigrateError::from(e).to_string())),
        }
        .check(planned),
    }
}

/// The local database's history, read against the migration files (so that one read can run
/// while the plan it is compared with is made).
#[derive(Debug)]
pub struct LocalHistory {
    database: Option<String>,
    /// The versions it applied as they are now, or why it could not be read.
    read: Result<HashSet<i64>, String>,
}

impl LocalHistory {
    /// Reads the history of `local` against `files`. Never fails: an unreachable local
    /// database is reported by `check`.
    pub async fn read(
        config: &Config,
        local: anyhow::Result<Target>,
        files: &[MigrationFile],
    ) -> LocalHistory {
        let target = match local {
            Ok(target) => target,
            Err(e) => {
                return LocalHistory {
                    database: None,
                    read: Err(redact(&format!("{e:#}"))),
                }
            }
        };
        let read = read_status_of(config, &target, files)
            .await
            .map(|status| {
                status
                    .migrations
                    .iter()
                    .filter(|row| row.state == State::Applied)
                    .map(|row| row.version)
                    .collect()
            })
            .map_err(|e| redact(&e.to_string()));
        LocalHistory {
            database: Some(target.url.host_and_database()),
            read,
        }
    }

    /// Which of `planned` the local database has not applied as they are now.
    pub fn check(self, planned: &[PlannedMigration]) -> LocalCheck {
        match self.read {
            Ok(tested) => LocalCheck {
                database: self.database,
                reachable: true,
                not_applied_locally: planned
                    .iter()
                    .filter(|m| !tested.contains(&m.version))
                    .map(|m| m.file.clone())
                    .collect(),
                error: None,
            },
            Err(error) => LocalCheck {
                database: self.database,
                reachable: false,
                not_applied_locally: Vec::new(),
                error: Some(error),
            },
        }
    }
}
