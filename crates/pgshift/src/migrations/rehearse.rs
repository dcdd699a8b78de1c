//! Trying a migration's SQL on a database in a transaction that is rolled back: before
//! `migrate-resolve --applied` records a file as applied elsewhere, whether that file's SQL
//! runs at all.

use serde::Serialize;

use super::files::MigrationFile;
use super::status::State;
use crate::config::Config;
use crate::target::Target;

/// What trying a migration on a database found.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Rehearsal {
    /// The SQL ran and was rolled back.
    Ran { database: String },
    /// The SQL failed (rolled back too).
    Failed { database: String, error: String },
    /// The migration is already applied there, so it ran there once.
    AlreadyApplied { database: String },
    /// It could not be tried: the reason.
    Skipped { reason: String },
}

/// Runs `file`'s SQL on `target` in a transaction that is always rolled back, with short
/// lock and statement timeouts so that it cannot hold up the database. Only when every
/// older migration is applied there (else the SQL would fail for want of them) and the
/// file runs in a transaction.
pub async fn rehearse(config: &Config, target: &Target, file: &MigrationFile) -> Rehearsal {
    let database = target.url.host_and_database();
    let status = match super::read_status(config, target).await {
        Ok(status) => status,
        Err(e) => {
            return Rehearsal::Skipped {
                reason: format!("{database} cannot be read: {e}"),
            }
        }
    };
    let this = status.migrations.iter().find(|r| r.version == file.version);
    if this.is_some_and(|r| matches!(r.state, State::Applied | State::Modified)) {
        return Rehearsal::AlreadyApplied { database };
    }
    let behind = status
        .migrations
        .iter()
        .filter(|r| r.version < file.version && !matches!(r.state, State::Applied))
        .count();
    if behind > 0 {
        return Rehearsal::Skipped {
            reason: format!(
                "{database} has {behind} older migration(s) not applied; run migrate-dev first"
            ),
        };
    }
    if file.no_tx {
        return Rehearsal::Skipped {
            reason: "it runs outside a transaction (-- no-transaction), so it cannot be tried \
                     and rolled back"
                .into(),
        };
    }
    let mut conn = match crate::db::connect(&target.url).await {
        Ok(conn) => conn,
        Err(e) => {
            return Rehearsal::Skipped {
                reason: format!("{database} is not reachable: {e}"),
            }
        }
    };
    let begin =
        sqlx::raw_sql("BEGIN; SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '60s'")
            .execute(&mut conn)
            .await;
    let ran = match begin {
        Ok(_) => sqlx::raw_sql(&file.sql).execute(&mut conn).await.map(drop),
        Err(e) => Err(e),
    };
    let rolled_back = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
    crate::db::close(conn).await;
    match (ran, rolled_back) {
        (Ok(()), Ok(_)) => Rehearsal::Ran { database },
        (Err(e), _) => Rehearsal::Failed {
            database,
            error: crate::target::redact(&e.to_string()),
        },
        (Ok(()), Err(e)) => Rehearsal::Skipped {
            reason: format!("rolling back on {database} failed: {e}"),
        },
    }
}
