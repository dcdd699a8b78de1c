//! "Test migrations locally first": which of the migrations a deploy is about to apply the
//! local database has not applied, as they are now.

use serde::Serialize;

use super::apply::PlannedMigration;
use super::{read_status, State};
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
    let target = match local {
        Ok(target) => target,
        Err(e) => {
            return LocalCheck {
                database: None,
                reachable: false,
                not_applied_locally: Vec::new(),
                error: Some(redact(&format!("{e:#}"))),
            }
        }
    };
    let database = Some(target.url.host_and_database());
    match read_status(config, &target).await {
        Ok(status) => {
            let tested: std::collections::HashSet<i64> = status
                .migrations
                .iter()
                .filter(|row| row.state == State::Applied)
                .map(|row| row.version)
                .collect();
            LocalCheck {
                database,
                reachable: true,
                not_applied_locally: planned
                    .iter()
                    .filter(|m| !tested.contains(&m.version))
                    .map(|m| m.file.clone())
                    .collect(),
                error: None,
            }
        }
        Err(e) => LocalCheck {
            database,
            reachable: false,
            not_applied_locally: Vec::new(),
            error: Some(redact(&e.to_string())),
        },
    }
}
