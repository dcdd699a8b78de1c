//! pgshift: a PostgreSQL schema workflow for Rust workspaces.
//!
//! The library does all the work; `xtask` and `pgshiftd` only parse arguments and call in
//! here. See ARCHITECTURE.md for the map.

pub mod backup;
pub mod catalog;
pub mod codegen;
pub mod config;
pub mod db;
pub mod deploy;
pub mod diff;
pub mod doctor;
pub mod import;
pub mod lint;
pub mod local;
pub mod migrations;
pub mod pgbin;
pub mod schema;
pub mod sql;
pub mod target;

use std::path::PathBuf;

/// A usage or configuration error: the user must change a flag, a file or the environment.
/// The command line exits with code 2 for these, 1 for every other failure.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("invalid {}: {message}", file.display())]
    Config { file: PathBuf, message: String },
    #[error("unknown environment `{env}`; known environments: {}; add an [env.{env}] table with url_env to pgshift.toml", known.join(", "))]
    UnknownEnv { env: String, known: Vec<String> },
    #[error("environment `{env}` reads its URL from ${var}, which is not set; export {var}=postgres://user:password@host:port/database (it is never read from .env)")]
    UnsetUrlEnv { env: String, var: String },
    #[error("invalid database URL in {origin}: {message}")]
    BadUrl { origin: String, message: String },
    #[error("`{command}` only runs against the local database, but the target is `{env}` ({database}); drop --env, or use migrate-deploy for remote databases")]
    NotLocal {
        command: String,
        env: String,
        database: String,
    },
    #[error("{0}")]
    Other(String),
}
