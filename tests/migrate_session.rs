//! What a migration can do to the session it runs in, and what pgshift does about it:
//! failed CONCURRENTLY statements, session state leaking into the next migration or the
//! bookkeeping, a connection lost mid-batch, statements that would release the lock.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{stderr, Project};

/// Waits until `sql` returns `want` (at most 15 s).
fn wait_for(p: &Project, sql: &str, want: &str) {
    let started = Instant::now();
    while p.db.sql(sql) != want {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "`{sql}` never returned {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Advisory locks held in the project's database.
fn advisory_locks(p: &Project) -> String {
    p.db.sql(&format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = '{}')",
        p.db.name
    ))
}

#[test]
fn a_failed_create_index_concurrently_stays_dirty_until_resolved() {
    let p = Project::new();
    p.write(
        "migrations/1_data.sql",
        "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1), (1);\n",
    );
    p.write(
        "migrations/2_index.sql",
        "-- no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY t_id ON t (id);\n",
    );
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(err.contains("could not create unique index"), "{err}");
    assert!(err.contains("INVALID"), "{err}");
    assert!(err.contains("DROP INDEX CONCURRENTLY"), "{err}");
    assert!(err.contains("migrate-resolve --rolled-back 2"), "{err}");
    assert!(!err.contains("nothing of it was applied"), "{err}");
    // The server left the index behind, invalid; the dirty row says so.
    assert_eq!(
        p.db.sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass"),
        "f"
    );
    assert_eq!(
        p.db.sql("SELECT success FROM _sqlx_migrations WHERE version = 2"),
        "f"
    );
    // migrate-dev does not retry it into "already exists": it is blocked until resolved.
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(err.contains("2_index.sql failed part-way"), "{err}");
    assert!(!err.contains("already exists"), "{err}");
    let status = p.xtask(["migrate-status"]).stdout();
    assert!(status.contains("(possibly partial)"), "{status}");
    // The repair the message describes works.
    p.db.sql("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t)");
    p.db.sql("DROP INDEX CONCURRENTLY t_id");
    p.xtask(["migrate-resolve", "--rolled-back", "2"]).ok();
    p.xtask(["migrate-dev"]).ok();
    assert_eq!(
        p.db.sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass"),
        "t"
    );
}
