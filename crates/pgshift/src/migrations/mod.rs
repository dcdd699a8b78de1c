//! Migrations, compatible with sqlx 0.8: the files (`files`), statements read with PostgreSQL's parser (`crate::sql`),
//! the history tables (`history`), the lock (`lock`), the environment marker (`marker`),
//! applying (`apply`), where each migration stands (`status`), reverting (`revert`) and
//! recording manual repairs (`resolve`), what a deploy has not tried locally (`tested`). See ARCHITECTURE.md, "Migrations".

pub mod apply;
pub mod error;
pub mod files;
pub mod history;
pub mod lock;
pub mod marker;
pub mod new;
pub mod rehearse;
pub mod reset;
pub mod resolve;
pub mod revert;
pub mod status;
pub mod tested;
pub mod trace;

mod execute;
mod session;

pub(crate) use session::Session;

use serde::Serialize;

pub use apply::{
    apply_pending, apply_pending_traced, migrate_dev, migrate_dev_settled, AppliedMigration,
    ApplyOptions, ApplyReport, Mode, Progress, TracedMigration, WaitReason, Waiting,
};
pub use error::{EditedMigration, MigrateError, MigrationFailure, Problem};
pub use execute::TracedStatement;
pub use files::{FileErrors, FileProblem, MigrationFile};
pub use lock::LockHolder;
pub use status::{State, StatusRow, Summary};

use crate::config::Config;
use crate::target::Target;

/// `migrate-status`: every migration of the folder and of the history, and the marker.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub env: String,
    /// `host:port/database`.
    pub database: String,
    /// The environment recorded by `migrate-deploy --env NAME`, if any.
    pub marker: Option<String>,
    pub migrations: Vec<StatusRow>,
    pub summary: Summary,
}

/// Reads where each migration stands. Read-only: creates no table, takes no lock.
pub async fn read_status(config: &Config, target: &Target) -> Result<Status, MigrateError> {
    let files = files::discover(&config.paths.migrations)?;
    read_status_of(config, target, &files).await
}

/// `read_status` against files already read (a deploy's, as it planned them).
pub async fn read_status_of(
    config: &Config,
    target: &Target,
    files: &[MigrationFile],
) -> Result<Status, MigrateError> {
    let session = session::Session::open(config, target).await?;
    let mut session = session;
    let read = history::read(&mut session.conn, &session.schema).await;
    let history = session.check(read, "reading the migration history");
    let database = session.database.clone();
    session.close().await;
    let history = history?;
    let migrations = status::classify(files, &history);
    Ok(Status {
        env: target.env.clone(),
        database,
        marker: history.marker,
        summary: Summary::of(&migrations),
        migrations,
    })
}

/// Refuses, for a command meant for local work, a database that carries another
/// environment's marker. Read-only.
pub async fn check_local_marker(
    config: &Config,
    target: &Target,
    command: &str,
) -> Result<(), MigrateError> {
    apply::require_local(target, command)?;
    let mut session = session::Session::open(config, target).await?;
    let read = history::read(&mut session.conn, &session.schema).await;
    let history = session.check(read, "reading the environment marker");
    let database = session.database.clone();
    session.close().await;
    marker::check_local(config, command, &database, history?.marker.as_deref())
}
