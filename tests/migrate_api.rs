//! The library API the daemon calls (`migrate_dev`, `read_status`): the report, the progress
//! events, and error variants a caller can branch on.

mod support;

use pgshift::config::Config;
use pgshift::migrations::{self, MigrateError, Progress, State};
use pgshift::target::{DbUrl, Target, UrlSource};
use support::Project;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn local(url: &str) -> Target {
    Target {
        env: "local".into(),
        url: DbUrl::parse(url).unwrap(),
        source: UrlSource::LocalBackend,
        protected: false,
    }
}

#[test]
fn migrate_dev_reports_each_migration_and_errors_by_kind() {
    let p = Project::new();
    let config = Config::load(&p.dir).unwrap();
    let target = local(&p.db.url());
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    p.write("migrations/2_b.up.sql", "CREATE TABLE b (id int);\n");
    p.write("migrations/2_b.down.sql", "DROP TABLE b;\n");
    let rt = runtime();

    let mut events = Vec::new();
    let report = rt
        .block_on(migrations::migrate_dev(&config, &target, &mut |e| {
            events.push(match e {
                Progress::Applying(f) => format!("applying {}", f.file_name),
                Progress::Applied(m) => format!("applied {} {}", m.version, m.file),
                Progress::WaitingForLock(_) => "waiting".into(),
            })
        }))
        .unwrap();
    // Both transactional, so they go in one message: both are announced, then both applied.
    assert_eq!(
        events,
        [
            "applying 1_a.sql",
            "applying 2_b.up.sql",
            "applied 1 1_a.sql",
            "applied 2 2_b.up.sql"
        ]
    );
    assert_eq!(report.applied.len(), 2);
    assert_eq!(report.applied[1].description, "b");

    // A failing migration: file, line, statement, server message.
    p.write(
        "migrations/3_c.sql",
        "CREATE TABLE c (id int);\nALTER TABLE nope ADD COLUMN x int;\n",
    );
    match rt.block_on(migrations::migrate_dev(&config, &target, &mut |_| {})) {
        Err(MigrateError::Failed(f)) => {
            assert_eq!(
                (f.version, f.file.as_str(), f.line),
                (3, "3_c.sql", Some(2))
            );
            assert_eq!(
                f.statement.as_deref(),
                Some("ALTER TABLE nope ADD COLUMN x int")
            );
            assert_eq!(f.message, "relation \"nope\" does not exist");
            assert_eq!(f.code.as_deref(), Some("42P01"));
            assert!(!f.partial && !f.lock_wait);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    std::fs::remove_file(p.path("migrations/3_c.sql")).unwrap();

    // An edited applied migration, line endings only.
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\r\n");
    match rt.block_on(migrations::migrate_dev(&config, &target, &mut |_| {})) {
        Err(e @ MigrateError::Blocked { .. }) => {
            let edited = e.edited();
            assert_eq!(edited.len(), 1);
            assert_eq!(edited[0].file, "1_a.sql");
            assert!(edited[0].line_endings_only);
            assert_ne!(edited[0].applied_checksum, edited[0].file_checksum);
        }
        other => panic!("expected Blocked, got {other:?}"),
    }
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");

    let status = rt
        .block_on(migrations::read_status(&config, &target))
        .unwrap();
    let states: Vec<State> = status.migrations.iter().map(|r| r.state).collect();
    assert_eq!(states, [State::Applied, State::Applied]);

    // Bad file names.
    p.write("migrations/oops.sql", "");
    match rt.block_on(migrations::migrate_dev(&config, &target, &mut |_| {})) {
        Err(MigrateError::Files(f)) => assert_eq!(f.problems[0].file, "oops.sql"),
        other => panic!("expected Files, got {other:?}"),
    }
    std::fs::remove_file(p.path("migrations/oops.sql")).unwrap();

    // Unreachable database: a connection error, not a migration problem.
    let down = local(&format!(
        "postgres://postgres@127.0.0.1:{}/x",
        support::free_port()
    ));
    match rt.block_on(migrations::migrate_dev(&config, &down, &mut |_| {})) {
        Err(MigrateError::Connect(e)) => {
            assert!(e.to_string().contains("cannot connect to"), "{e}")
        }
        other => panic!("expected Connect, got {other:?}"),
    }

    // Not local.
    let mut remote = target.clone();
    remote.env = "staging".into();
    assert!(matches!(
        rt.block_on(migrations::migrate_dev(&config, &remote, &mut |_| {})),
        Err(MigrateError::NotLocal { .. })
    ));
}

#[test]
fn migrate_dev_refuses_a_marked_database_and_a_held_lock() {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "[migrate]\nlock_timeout = \"300ms\"\n\n[env.prod]\nurl_env = \"P\"\nprotected = true\n",
    );
    let config = Config::load(&p.dir).unwrap();
    let target = local(&p.db.url());
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    let rt = runtime();

    // Held lock: LockTimeout with the holder.
    let id = pgshift::migrations::lock::lock_id(&p.db.name);
    rt.block_on(async {
        use sqlx::Connection;
        let mut holder = sqlx::PgConnection::connect(&p.db.url()).await.unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(id)
            .execute(&mut holder)
            .await
            .unwrap();
        let mut waited = false;
        let result = migrations::migrate_dev(&config, &target, &mut |e| {
            waited |= matches!(e, Progress::WaitingForLock(Some(_)))
        })
        .await;
        match result {
            Err(MigrateError::LockTimeout {
                holder: Some(h), ..
            }) => {
                assert!(h.query.contains("pg_advisory_lock"), "{h:?}")
            }
            other => panic!("expected LockTimeout, got {other:?}"),
        }
        assert!(waited);
    });

    p.db.sql("CREATE TABLE _pgshift_marker (only_one boolean PRIMARY KEY DEFAULT true, env text NOT NULL, set_at timestamptz NOT NULL DEFAULT now(), db_user text NOT NULL DEFAULT current_user, os_user text, host text); INSERT INTO _pgshift_marker (env) VALUES ('prod')");
    match rt.block_on(migrations::migrate_dev(&config, &target, &mut |_| {})) {
        Err(MigrateError::Marked {
            marker, protected, ..
        }) => {
            assert_eq!(marker, "prod");
            assert!(protected);
        }
        other => panic!("expected Marked, got {other:?}"),
    }
    assert_eq!(p.db.sql("SELECT to_regclass('a') IS NULL"), "t");
}
