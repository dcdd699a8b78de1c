//! Concurrency and interruption against a real server: two deploys at once, the advisory
//! lock's timeout and holder, table-lock waits, no lock left behind, SIGKILL mid-migration.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{stderr, text, Project};

/// Advisory locks held in the project's database.
fn advisory_locks(p: &Project) -> String {
    p.db.sql(&format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = '{}')",
        p.db.name
    ))
}

/// Waits until `sql` returns `want` (at most 15 s).
fn wait_for(p: &Project, sql: &str, want: &str) {
    let started = Instant::now();
    loop {
        if p.db.sql(sql) == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "`{sql}` never returned {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pgshift_sessions(p: &Project) -> String {
    format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgshift' AND datname = '{}'",
        p.db.name
    )
}

#[test]
fn two_deploys_at_once_apply_each_migration_exactly_once() {
    let p = Project::new();
    for i in 1..=20 {
        p.write(
            &format!("migrations/{i}_t{i}.sql"),
            &format!("CREATE TABLE t{i} (id int);\nSELECT pg_sleep(0.02);\n"),
        );
    }
    let spawn = || {
        p.xtask(["migrate-deploy"])
            .command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    for out in &outs {
        assert!(out.status.success(), "{}", text(out));
    }
    let said: Vec<String> = outs.iter().map(stderr).collect();
    let applied_all = said
        .iter()
        .filter(|s| s.contains("applied 20 migrations"))
        .count();
    let found_done = said
        .iter()
        .filter(|s| {
            s.contains("nothing to apply to local") && s.contains("20 migrations already applied")
        })
        .count();
    assert_eq!((applied_all, found_done), (1, 1), "{said:#?}");
    assert!(
        said.iter()
            .any(|s| s.contains("waiting for the migration lock, held by pid")),
        "{said:#?}"
    );
    assert_eq!(
        p.db.sql("SELECT count(*), count(DISTINCT version) FROM _sqlx_migrations"),
        "20|20"
    );
    assert_eq!(
        p.db.sql("SELECT count(*) FROM _pgshift_log WHERE action = 'applied'"),
        "20"
    );
    assert_eq!(advisory_locks(&p), "0");
}

#[test]
fn lock_timeout_names_the_holder() {
    let p = Project::new();
    p.append("pgshift.toml", "[migrate]\nlock_timeout = \"1s\"\n");
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    let id = pgshift::migrations::lock::lock_id(&p.db.name);
    // A psql session holds the lock while the deploy runs.
    let psql = pgshift::pgbin::PgBin::client("psql").unwrap();
    let mut holder = std::process::Command::new(psql)
        .args([
            "-X",
            "-q",
            "-d",
            &format!("{}?application_name=release-script", p.db.url()),
        ])
        .arg("-c")
        .arg(format!("SELECT pg_advisory_lock({id})"))
        .arg("-c")
        .arg("SELECT pg_sleep(30)")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&p, &format!("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid::bigint = {}", id & 0xffff_ffff), "1");
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        err.contains("waiting for the migration lock of local (127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("held by pid "), "{err}");
    assert!(err.contains("(release-script)"), "{err}");
    assert!(err.contains("last query: SELECT pg_sleep(30)"), "{err}");
    assert!(err.contains("raise [migrate] lock_timeout"), "{err}");
    assert_eq!(p.db.sql("SELECT to_regclass('a') IS NULL"), "t");
}

#[test]
fn a_migration_blocked_by_a_table_lock_fails_within_session_lock_timeout() {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "[migrate]\nsession_lock_timeout = \"500ms\"\n",
    );
    p.write("migrations/1_t.sql", "CREATE TABLE t (id int);\n");
    p.xtask(["migrate-deploy"]).ok();
    // A migration that turns the timeout off does not turn it off for the next one.
    p.write(
        "migrations/2_no_timeouts.sql",
        "SET lock_timeout = 0;\nSET statement_timeout = 0;\n",
    );
    p.write(
        "migrations/3_alter.sql",
        "CREATE TABLE u (id int);\nALTER TABLE t ADD COLUMN x int;\n",
    );
    // Another session holds a conflicting lock on t, in an open transaction.
    let psql = pgshift::pgbin::PgBin::client("psql").unwrap();
    let mut holder = std::process::Command::new(psql)
        .args(["-X", "-q", "-d", &p.db.url()])
        .arg("-c")
        .arg("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE; SELECT pg_sleep(30); COMMIT;")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&p, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 't' AND l.granted", "1");
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        err.contains("migration 3_alter.sql failed on local"),
        "{err}"
    );
    assert!(err.contains("applied 2_no_timeouts"), "{err}");
    assert!(
        err.contains("at line 2: canceling statement due to lock timeout"),
        "{err}"
    );
    assert!(
        err.contains("it was waiting for a lock that another session holds"),
        "{err}"
    );
    assert!(err.contains("nothing of it was applied"), "{err}");
    assert_eq!(p.db.sql("SELECT to_regclass('u') IS NULL"), "t");
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "2");
    assert_eq!(advisory_locks(&p), "0");
}

#[test]
fn no_advisory_lock_is_left_after_a_failed_migration() {
    let p = Project::new();
    p.write("migrations/1_bad.sql", "SELECT 1/0;\n");
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("division by zero"), "{err}");
    wait_for(&p, &pgshift_sessions(&p), "0");
    assert_eq!(advisory_locks(&p), "0");
    // The next run is not blocked by anything left over.
    p.write("migrations/1_bad.sql", "SELECT 1;\n");
    p.xtask(["migrate-dev"]).ok();
}

#[test]
fn sigkill_mid_migration_leaves_it_whole_or_untouched_and_status_tells_the_truth() {
    let p = Project::new();
    p.write("migrations/1_first.sql", "CREATE TABLE first (id int);\n");
    p.write(
        "migrations/2_slow.sql",
        "CREATE TABLE slow (id int);\nSELECT pg_sleep(3);\nINSERT INTO slow VALUES (1);\n",
    );
    let mut child = p
        .xtask(["migrate-deploy"])
        .command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        &p,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND wait_event = 'PgSleep'",
            p.db.name
        ),
        "1",
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    // The server notices the client is gone; its session ends one way or the other.
    wait_for(&p, &pgshift_sessions(&p), "0");
    let table =
        p.db.sql("SELECT count(*) FROM pg_class WHERE relname = 'slow'");
    let recorded =
        p.db.sql("SELECT count(*) FROM _sqlx_migrations WHERE version = 2");
    let status = p.xtask(["migrate-status"]).stdout();
    eprintln!(
        "after SIGKILL the migration was {}",
        if table == "1" {
            "committed"
        } else {
            "rolled back"
        }
    );
    if table == "1" {
        assert_eq!(recorded, "1", "applied but not recorded");
        assert_eq!(p.db.sql("SELECT count(*) FROM slow"), "1");
        assert!(status.contains("applied       2_slow"), "{status}");
    } else {
        assert_eq!(recorded, "0", "recorded but not applied");
        assert!(status.contains("pending       2_slow"), "{status}");
    }
    assert!(status.contains("applied       1_first"), "{status}");
    assert_eq!(advisory_locks(&p), "0");
    p.xtask(["migrate-deploy"]).ok();
    assert_eq!(p.db.sql("SELECT count(*) FROM slow"), "1");
}

#[test]
fn statement_timeout_from_config_stops_a_long_migration() {
    let p = Project::new();
    p.append("pgshift.toml", "[migrate]\nstatement_timeout = \"300ms\"\n");
    p.write(
        "migrations/1_long.sql",
        "CREATE TABLE long (id int);\nSELECT pg_sleep(5);\n",
    );
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("1_long.sql failed on local"), "{err}");
    assert!(
        err.contains("at line 2: canceling statement due to statement timeout"),
        "{err}"
    );
    assert_eq!(p.db.sql("SELECT to_regclass('long') IS NULL"), "t");
}

#[test]
fn sigkill_mid_no_transaction_migration_is_reported_as_possibly_partial_to_pgshift_and_sqlx() {
    let p = Project::new();
    p.write(
        "migrations/1_backfill.sql",
        "-- no-transaction\nCREATE TABLE part (id int);\nSELECT pg_sleep(2);\nCREATE TABLE never (id int);\n",
    );
    let mut child = p
        .xtask(["migrate-deploy"])
        .command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        &p,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND wait_event = 'PgSleep'",
            p.db.name
        ),
        "1",
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    wait_for(&p, &pgshift_sessions(&p), "0");
    assert_eq!(
        p.db.sql("SELECT to_regclass('part') IS NOT NULL, to_regclass('never') IS NULL"),
        "t|t"
    );
    let status = p.xtask(["migrate-status"]).stdout();
    assert!(status.contains("failed        1_backfill"), "{status}");
    assert!(
        status.contains("the database may hold part of it  (possibly partial)"),
        "{status}"
    );
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("1_backfill.sql failed part-way"), "{err}");
    // sqlx's own Migrator refuses too: the version is dirty.
    let dirty = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let migrator = sqlx::migrate::Migrator::new(p.path("migrations"))
                .await
                .unwrap();
            let mut conn = sqlx::PgConnection::connect(&p.db.url()).await.unwrap();
            migrator.run(&mut conn).await
        });
    assert!(
        matches!(dirty, Err(sqlx::migrate::MigrateError::Dirty(1))),
        "{dirty:?}"
    );
}
