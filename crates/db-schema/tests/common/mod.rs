//! What the db-schema tests share: a scratch cluster with a fresh database, filled with
//! the example migrations (through the migration engine, as `migrate-dev` applies them)
//! or with an SQL file (through sqlx, no psql).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use pgshift::config::Config;
use pgshift::local::ScratchCluster;
use pgshift::target::{DbUrl, Target, UrlSource};
use sqlx::{Connection, PgConnection};

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch cluster with an empty database `name`, and that database's URL. The cluster
/// stops when the returned value is dropped.
pub async fn scratch_database(name: &str) -> (ScratchCluster, DbUrl) {
    let cluster = ScratchCluster::start().unwrap();
    let mut conn = PgConnection::connect(cluster.url("postgres").expose())
        .await
        .unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let url = cluster.url(name);
    (cluster, url)
}

/// A database with the repository's example migrations, applied by the migration engine.
pub async fn example_database() -> (ScratchCluster, DbUrl) {
    let (cluster, url) = scratch_database("clinic").await;
    let mut config = Config::default();
    config.paths.migrations = repo_root().join("migrations");
    let target = Target {
        env: "local".into(),
        url: url.clone(),
        source: UrlSource::LocalBackend,
        protected: false,
    };
    let report = pgshift::migrations::migrate_dev(&config, &target, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("applying the example migrations: {e}"));
    assert!(!report.applied.is_empty(), "no example migrations");
    (cluster, url)
}

/// A database holding the codegen fixture (tests/fixtures/codegen/schema.sql).
pub async fn fixture_database() -> (ScratchCluster, DbUrl) {
    let (cluster, url) = scratch_database("fixture").await;
    let path = repo_root().join("tests/fixtures/codegen/schema.sql");
    let sql = std::fs::read_to_string(&path).unwrap();
    let mut conn = PgConnection::connect(url.expose()).await.unwrap();
    sqlx::raw_sql(&sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    conn.close().await.unwrap();
    (cluster, url)
}
