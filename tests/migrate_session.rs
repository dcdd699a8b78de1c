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

/// Counts the advisory locks held in the project's database.
fn advisory_locks_query(p: &Project) -> String {
    format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = '{}')",
        p.db.name
    )
}

fn advisory_locks(p: &Project) -> String {
    p.db.sql(&advisory_locks_query(p))
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

#[test]
fn session_state_set_by_a_migration_does_not_leak_into_the_next_or_the_history() {
    let p = Project::new();
    p.db.sql("DROP ROLE IF EXISTS pgshift_weak; CREATE ROLE pgshift_weak; CREATE SCHEMA s2");
    p.write(
        "migrations/1_path.sql",
        "SET search_path = s2;\nCREATE TABLE in_s2 (id int);\n",
    );
    p.write(
        "migrations/2_after_path.sql",
        "CREATE TABLE in_public (id int);\n",
    );
    p.write(
        "migrations/3_role.sql",
        "CREATE TABLE before_role (id int);\nSET ROLE pgshift_weak;\nSET standard_conforming_strings = off;\n",
    );
    p.write(
        "migrations/4_after_role.sql",
        "CREATE TABLE after_role (id int, note text DEFAULT 'C:\\');\n",
    );
    p.write(
        "migrations/5_reset_all.sql",
        "CREATE TABLE reset_all (id int);\nRESET ALL;\n",
    );
    // Sent together as one batch, and one by one: the same outcome.
    p.xtask(["migrate-dev"]).ok();
    let tables = "SELECT string_agg(schemaname || '.' || tablename || ':' || tableowner, ' ' ORDER BY tablename) \
                  FROM pg_tables WHERE tablename IN ('in_s2', 'in_public', 'before_role', 'after_role', 'reset_all')";
    let owner = p.db.sql("SELECT current_user");
    assert_eq!(
        p.db.sql(tables),
        format!("public.after_role:{owner} public.before_role:{owner} public.in_public:{owner} s2.in_s2:{owner} public.reset_all:{owner}")
    );
    assert_eq!(
        p.db.sql("SELECT string_agg(version::text || success::text, ',' ORDER BY version) FROM public._sqlx_migrations"),
        "1true,2true,3true,4true,5true"
    );
    assert_eq!(
        p.db.sql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 's2' AND tablename LIKE '\\_%'"
        ),
        "0"
    );
    assert_eq!(
        p.db.sql(
            "SELECT string_agg(db_user, ',') FROM (SELECT DISTINCT db_user FROM _pgshift_log) u"
        ),
        owner
    );
    // standard_conforming_strings was on again for migration 4: 'C:\' is a whole string.
    assert_eq!(
        p.db.sql("SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'after_role'::regclass"),
        "'C:\\'::text"
    );
    let status = p.xtask(["migrate-status"]).stdout();
    assert!(status.contains("5 applied"), "{status}");
}

#[test]
fn a_connection_lost_mid_batch_is_not_a_failed_migration_and_leaves_no_lock() {
    let p = Project::new();
    for i in 1..=3 {
        p.write(
            &format!("migrations/{i}_sleep{i}.sql"),
            &format!("CREATE TABLE sleep{i} (id int);\nSELECT pg_sleep(2);\n"),
        );
    }
    let child = p
        .xtask(["migrate-deploy"])
        .command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While the second migration sleeps (the first is committed), cut its connection.
    let started = Instant::now();
    loop {
        let sleeping = p.db.try_sql(&format!(
            "SELECT (SELECT count(*) FROM _sqlx_migrations) || '/' || count(*) FROM pg_stat_activity \
             WHERE datname = '{}' AND application_name = 'pgshift' AND wait_event = 'PgSleep'",
            p.db.name
        ));
        if sleeping.as_deref() == Ok("1/1") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{sleeping:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    p.db.sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'pgshift'",
        p.db.name
    ));
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the connection was lost"), "{err}");
    assert!(err.contains("2_sleep2.sql, 3_sleep3.sql"), "{err}");
    assert!(err.contains("migrate-status"), "{err}");
    assert!(!err.contains("nothing of it was applied"), "{err}");
    assert!(err.contains("applied 1_sleep1"), "{err}");
    // Nothing recorded as failed; status tells the truth; the lock went with the session.
    assert_eq!(
        p.db.sql("SELECT count(*) FROM _pgshift_log WHERE action = 'failed'"),
        "0"
    );
    let status = p.xtask(["migrate-status"]).stdout();
    assert!(status.contains("1 applied, 2 pending"), "{status}");
    wait_for(&p, &advisory_locks_query(&p), "0");
    p.xtask(["migrate-deploy"]).ok();
    assert_eq!(
        p.db.sql("SELECT count(*) FROM _sqlx_migrations WHERE success"),
        "3"
    );
}

#[test]
fn statements_the_server_cannot_take_or_that_release_the_lock_are_refused_before_sending() {
    let p = Project::new();
    p.write("migrations/1_ok.sql", "CREATE TABLE ok (id int);\n");
    let cases = [
        (
            "2_unlock.sql",
            "CREATE TABLE x (id int);\nSELECT pg_advisory_unlock_all();\n",
            "line 2: pg_advisory_unlock_all() would release the migration lock",
        ),
        (
            "2_unlock.sql",
            "-- no-transaction\nSELECT 1;\nSELECT pg_advisory_unlock(42);\n",
            "line 3: pg_advisory_unlock() would release the migration lock",
        ),
        (
            "2_unlock.sql",
            "-- no-transaction\nDISCARD ALL;\n",
            "line 2: DISCARD ALL would release the migration lock",
        ),
        (
            "2_meta.sql",
            "CREATE TABLE x (id int);\n\\i other.sql\n",
            "line 2: `\\i` is a psql meta-command, not SQL",
        ),
        (
            "2_copy.sql",
            "CREATE TABLE x (a text);\nCOPY x (a) FROM stdin;\nit's\n\\.\n",
            "line 2: `COPY ... FROM STDIN` needs a client",
        ),
    ];
    for (file, sql, want) in cases {
        let path = p.write(&format!("migrations/{file}"), sql);
        let err = p.xtask(["migrate-dev"]).fails_with(1);
        assert!(err.contains(&format!("{file} {want}")), "{err}");
        assert!(err.contains("nothing was applied"), "{err}");
        std::fs::remove_file(path).unwrap();
    }
    // Nothing was sent: not even the first migration, checked with the others.
    assert_eq!(p.db.sql("SELECT to_regclass('ok') IS NULL"), "t");
    p.xtask(["migrate-dev"]).ok();
}

#[test]
fn the_splitter_follows_the_servers_standard_conforming_strings() {
    let p = Project::new();
    p.db.sql(&format!(
        "ALTER DATABASE \"{}\" SET standard_conforming_strings = off",
        p.db.name
    ));
    // With it off, \' escapes a quote, so the semicolon is inside the string.
    p.write(
        "migrations/1_escapes.sql",
        "CREATE TABLE t (a text);\nINSERT INTO t VALUES ('it\\'s; fine');\n",
    );
    p.xtask(["migrate-dev"]).ok();
    assert_eq!(p.db.sql("SELECT a FROM t"), "it's; fine");
}

#[test]
fn the_lock_is_released_after_a_lock_timeout_and_after_a_blocked_refusal() {
    let p = Project::new();
    p.append("pgshift.toml", "\n[migrate]\nlock_timeout = \"300ms\"\n");
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    // Someone else holds the lock (sqlx's id for this database), long enough to time out.
    let mut holder = std::process::Command::new(pgshift::pgbin::PgBin::client("psql").unwrap())
        .args([
            "-X",
            "-q",
            "-d",
            &p.db.url(),
            "-c",
            &format!(
                "SELECT pg_advisory_lock({}); SELECT pg_sleep(3)",
                pgshift::migrations::lock::lock_id(&p.db.name)
            ),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&p, &advisory_locks_query(&p), "1");
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(err.contains("waiting for the migration lock"), "{err}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    wait_for(&p, &advisory_locks_query(&p), "0");
    // Blocked: an applied file edited. The refusal leaves no lock either.
    p.xtask(["migrate-dev"]).ok();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id bigint);\n");
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(err.contains("was edited after it was applied"), "{err}");
    assert_eq!(advisory_locks(&p), "0");
}

#[test]
fn a_slow_batch_is_not_printed_by_the_driver() {
    let p = Project::new();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    p.write(
        "migrations/2_slow.sql",
        "-- secret-looking-body-marker\nSELECT pg_sleep(1.2);\n",
    );
    let out = p.xtask(["migrate-dev"]).ok();
    let err = stderr(&out);
    assert!(!err.contains("secret-looking-body-marker"), "{err}");
    assert!(!err.contains("slow statement"), "{err}");
    assert!(err.contains("applied 2_slow"), "{err}");
}
