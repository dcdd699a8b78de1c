//! The environment marker: `migrate-deploy --env NAME` records NAME in the database
//! (`_pgshift_marker`), so that a database that is prod stays prod whatever URL reaches it.

use sqlx::PgConnection;

use super::error::MigrateError;
use super::history::{lit, Actor};
use crate::config::Config;
use crate::target::LOCAL_ENV;

/// Whether the environment a marker names is protected. A marker naming an environment
/// pgshift.toml does not know is treated as protected: refusing is the safe side.
pub fn is_protected(config: &Config, marker: &str) -> bool {
    config.env.get(marker).is_none_or(|env| env.protected)
}

/// For commands meant for local work: refuses a database marked with any environment but
/// `local`.
pub fn check_local(
    config: &Config,
    command: &str,
    database: &str,
    marker: Option<&str>,
) -> Result<(), MigrateError> {
    match marker {
        Some(marker) if marker != LOCAL_ENV => Err(MigrateError::Marked {
            command: command.to_string(),
            database: database.to_string(),
            marker: marker.to_string(),
            protected: is_protected(config, marker),
            env: LOCAL_ENV.to_string(),
        }),
        _ => Ok(()),
    }
}

/// For deploys: refuses a database marked with another environment than `env`.
pub fn check_env(
    config: &Config,
    command: &str,
    env: &str,
    database: &str,
    marker: Option<&str>,
) -> Result<(), MigrateError> {
    match marker {
        Some(marker) if marker != env => Err(MigrateError::Marked {
            command: command.to_string(),
            database: database.to_string(),
            marker: marker.to_string(),
            protected: env == LOCAL_ENV && is_protected(config, marker),
            env: env.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Records `actor.env` as the database's environment, unless it already has one.
pub async fn write(
    conn: &mut PgConnection,
    actor: &Actor,
    schema: &str,
) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(&format!(
        "INSERT INTO {schema}._pgshift_marker (env, os_user, host) VALUES ({}, {}, {}) ON CONFLICT DO NOTHING",
        lit(&actor.env),
        lit(&actor.os_user),
        lit(&actor.host)
    ))
    .execute(conn)
    .await?;
    Ok(())
}
