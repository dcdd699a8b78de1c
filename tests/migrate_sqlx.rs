//! Compatibility with sqlx 0.8's own `Migrator`, both ways, on the same folder and server:
//! history rows, checksums, descriptions and the advisory lock.

mod support;

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection};
use support::{text, Project};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A folder with every kind of file sqlx knows: plain, reversible pair, no-transaction, a
/// description with several words, CRLF line endings, dollar quotes. Plus the example app's
/// own migrations.
fn write_migrations(p: &Project) {
    for entry in std::fs::read_dir(support::repo_root().join("migrations")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), p.path("migrations").join(entry.file_name())).unwrap();
    }
    p.write(
        "migrations/20270101000000_plain_table.up.sql",
        "CREATE TABLE plain (id int);\n",
    );
    p.write(
        "migrations/20270101000000_plain_table.down.sql",
        "DROP TABLE plain;\n",
    );
    p.write(
        "migrations/20270102000000_crlf_and_function.up.sql",
        "CREATE FUNCTION one() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\r\nCREATE TABLE crlf (id int);\r\n",
    );
    p.write(
        "migrations/20270102000000_crlf_and_function.down.sql",
        "DROP TABLE crlf;\nDROP FUNCTION one();\n",
    );
    p.write(
        "migrations/20270103000000_concurrent_index.up.sql",
        "-- no-transaction\nCREATE INDEX CONCURRENTLY plain_id ON plain (id);\n",
    );
    p.write(
        "migrations/20270103000000_concurrent_index.down.sql",
        "DROP INDEX plain_id;\n",
    );
}

async fn sqlx_migrator(folder: &Path) -> Migrator {
    Migrator::new(folder)
        .await
        .expect("sqlx resolves the folder")
}

#[test]
fn pgshift_migrated_database_has_nothing_pending_for_sqlx() {
    let p = Project::new();
    write_migrations(&p);
    p.xtask(["migrate-deploy"]).ok();
    let before = p.db.sql("SELECT version, description, installed_on, success, encode(checksum, 'hex'), execution_time FROM _sqlx_migrations ORDER BY version");
    runtime().block_on(async {
        let migrator = sqlx_migrator(&p.path("migrations")).await;
        let mut conn = PgConnection::connect(&p.db.url()).await.unwrap();
        // sqlx's own view of each row: same description, same checksum.
        let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
            "SELECT version, description, checksum FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let ups: Vec<_> = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .collect();
        assert_eq!(rows.len(), ups.len());
        for (row, m) in rows.iter().zip(&ups) {
            assert_eq!(row.0, m.version);
            assert_eq!(row.1, m.description, "description of {}", m.version);
            assert_eq!(row.2, m.checksum.as_ref(), "checksum of {}", m.version);
        }
        // Nothing pending: run applies nothing and fails on nothing.
        migrator
            .run(&mut conn)
            .await
            .expect("sqlx accepts pgshift's history");
    });
    let after = p.db.sql("SELECT version, description, installed_on, success, encode(checksum, 'hex'), execution_time FROM _sqlx_migrations ORDER BY version");
    assert_eq!(before, after, "sqlx changed the history");
}

#[test]
fn sqlx_migrated_database_shows_all_applied_to_pgshift() {
    let p = Project::new();
    write_migrations(&p);
    runtime().block_on(async {
        let migrator = sqlx_migrator(&p.path("migrations")).await;
        let mut conn = PgConnection::connect(&p.db.url()).await.unwrap();
        migrator.run(&mut conn).await.unwrap();
    });
    let out = p.xtask(["migrate-status", "--exit-code"]).ok();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.trim_end().ends_with("\n6 applied"), "{}", text(&out));
    let out = p.xtask(["migrate-deploy"]).ok();
    assert!(
        support::stderr(&out).contains("nothing to apply to local"),
        "{}",
        text(&out)
    );
    // And pgshift keeps going where sqlx stopped.
    p.write(
        "migrations/20270104000000_next.sql",
        "CREATE TABLE next (id int);\n",
    );
    p.xtask(["migrate-deploy"]).ok();
    runtime().block_on(async {
        let migrator = sqlx_migrator(&p.path("migrations")).await;
        let mut conn = PgConnection::connect(&p.db.url()).await.unwrap();
        migrator.run(&mut conn).await.unwrap();
    });
}

#[test]
fn pgshift_and_sqlx_take_the_same_advisory_lock() {
    let p = Project::new();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    let id = pgshift::migrations::lock::lock_id(&p.db.name);
    runtime().block_on(async {
        let mut holder = PgConnection::connect(&p.db.url()).await.unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(id)
            .execute(&mut holder)
            .await
            .unwrap();
        // sqlx's Migrator waits for the lock pgshift computes for this database...
        let migrator = sqlx_migrator(&p.path("migrations")).await;
        let mut conn = PgConnection::connect(&p.db.url()).await.unwrap();
        let blocked =
            tokio::time::timeout(Duration::from_millis(1500), migrator.run(&mut conn)).await;
        assert!(blocked.is_err(), "sqlx did not wait for lock {id}");
        drop(conn);
        // ...and runs once it is released.
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(id)
            .execute(&mut holder)
            .await
            .unwrap();
        let mut conn = PgConnection::connect(&p.db.url()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), migrator.run(&mut conn))
            .await
            .expect("sqlx gets the lock once released")
            .unwrap();
    });
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "1");
}

/// What real sqlx projects ship: small integer versions, a comment-only file kept for the
/// order, a comment-only up file whose down file is empty, a description with dots and
/// hyphens, a README in the folder.
fn write_unusual_migrations(p: &Project) {
    p.write(
        "migrations/1_setup.sql",
        "CREATE TABLE setup (id int PRIMARY KEY);\n",
    );
    p.write(
        "migrations/2_kept_for_ordering.sql",
        "-- This version is kept so that later versions stay in order.\n-- It intentionally does nothing.\n",
    );
    p.write(
        "migrations/3_create_view.sql.up.sql",
        "CREATE VIEW setup_ids AS SELECT id FROM setup;\n",
    );
    p.write(
        "migrations/3_create_view.sql.down.sql",
        "DROP VIEW setup_ids;\n",
    );
    p.write(
        "migrations/4_data-fix.v2.up.sql",
        "-- Nothing to do going up: the down migration repairs.\n",
    );
    p.write("migrations/4_data-fix.v2.down.sql", "");
    p.write(
        "migrations/README.md",
        "# Migrations\nRun them with sqlx migrate run.\n",
    );
}

#[test]
fn a_history_sqlx_deploys_deploys_with_pgshift_with_the_same_rows() {
    let ours = Project::new();
    let theirs = Project::new();
    write_unusual_migrations(&ours);
    write_unusual_migrations(&theirs);
    ours.xtask(["migrate-deploy"]).ok();
    runtime().block_on(async {
        let migrator = sqlx_migrator(&theirs.path("migrations")).await;
        let mut conn = PgConnection::connect(&theirs.db.url()).await.unwrap();
        migrator.run(&mut conn).await.unwrap();
        // sqlx accepts pgshift's history as its own: nothing to run, nothing refused.
        let mut conn = PgConnection::connect(&ours.db.url()).await.unwrap();
        migrator
            .run(&mut conn)
            .await
            .expect("sqlx accepts pgshift's history");
    });
    let rows = "SELECT version, description, success, encode(checksum, 'hex') FROM _sqlx_migrations ORDER BY version";
    let (ours_rows, theirs_rows) = (ours.db.sql(rows), theirs.db.sql(rows));
    assert_eq!(ours_rows, theirs_rows);
    assert_eq!(ours_rows.lines().count(), 4, "{ours_rows}");
    assert!(ours_rows.contains("|create view.sql|"), "{ours_rows}");
    // pgshift sees sqlx's database as fully applied, and the reverse pair goes down too.
    let out = theirs.xtask(["migrate-status", "--exit-code"]).ok();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim_end()
            .ends_with("4 applied"),
        "{}",
        text(&out)
    );
    ours.xtask(["migrate-down"]).ok();
    assert_eq!(
        ours.db.sql("SELECT max(version) FROM _sqlx_migrations"),
        "3"
    );
}

#[test]
fn migrate_dev_waits_only_for_the_untouched_migrate_new_template() {
    let p = Project::new();
    p.write(
        "migrations/1_comment_only.sql",
        "-- Nothing here on purpose.\n",
    );
    p.xtask(["migrate-new", "next_step"]).ok();
    let out = p.xtask(["migrate-dev"]).ok();
    let err = support::stderr(&out);
    // The comment-only file is applied as sqlx would; the fresh template waits.
    assert!(err.contains("applied 1_comment_only"), "{err}");
    assert!(
        err.contains("next_step.sql is still the empty template"),
        "{err}"
    );
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "1");
}
