//! `migrate-reset`: local only. Drops and recreates the database, then applies every
//! migration. The marker is checked first, so a `.env` pointing at a deployed database cannot
//! be wiped.

use super::apply::{apply_pending, require_local, ApplyOptions, ApplyReport, Mode, Progress};
use super::error::MigrateError;
use super::history;
use super::marker;
use crate::config::Config;
use crate::db::quote_ident;
use crate::target::Target;

/// Drops and recreates the local `target` database and applies every migration.
pub async fn reset(
    config: &Config,
    target: &Target,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ApplyReport, MigrateError> {
    check(config, target).await?;
    let database = target.url.database();
    let where_ = target.url.host_and_database();
    let maintenance = target.url.with_database("postgres");
    let mut conn = crate::db::connect(&maintenance).await?;
    let ident = quote_ident(&database);
    let dropped = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)"))
        .execute(&mut conn)
        .await;
    let created = match dropped {
        Ok(_) => sqlx::raw_sql(&format!("CREATE DATABASE {ident}"))
            .execute(&mut conn)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    crate::db::close(conn).await;
    created.map_err(|e| MigrateError::db(&where_, "dropping and recreating the database", e))?;
    let options = ApplyOptions {
        mode: Mode::Dev,
        allow_out_of_order: false,
        dry_run: false,
        files: None,
        lint: true,
    };
    apply_pending(config, target, &options, progress).await
}

/// What `reset` checks before it drops anything: local only, not a system database, the
/// files readable, no other environment's marker. Read-only; for a caller that asks for
/// consent or announces the drop only once the reset can go ahead.
pub async fn check(config: &Config, target: &Target) -> Result<(), MigrateError> {
    const COMMAND: &str = "migrate-reset";
    require_local(target, COMMAND)?;
    let database = target.url.database();
    let where_ = target.url.host_and_database();
    if ["postgres", "template0", "template1"].contains(&database.as_str()) {
        return Err(MigrateError::Usage(format!(
            "`{COMMAND}` will not drop the system database {where_}; point [local] database at the application's database"
        )));
    }
    // Fail early with the files' problems, before anything is dropped.
    super::files::discover(&config.paths.migrations)?;
    // The marker, when the database exists.
    match crate::db::connect(&target.url).await {
        Ok(mut conn) => {
            // Every schema's marker, whoever connects (`history::read_markers`).
            let read = history::read_markers(&mut conn).await;
            crate::db::close(conn).await;
            let markers = read.map_err(|e| MigrateError::db(&where_, "reading the marker", e))?;
            let marker = history::one_marker(markers);
            marker::check_local(config, COMMAND, &where_, marker.as_deref())?;
        }
        // Only a missing database has no marker to check; a missing role is an error.
        Err(e) if e.is_missing_database() => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
