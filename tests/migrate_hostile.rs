//! Migrations written to slip past the engine: statements hidden from a hand-written lexer,
//! lock releases the parser cannot see, session settings that change how the next file is
//! read, errors that look like a lost connection, byte order marks. Each runs the real
//! command against a real server and checks what the database holds afterwards.

mod support;

use support::Project;

/// Hex of `text`'s bytes, for comparing a checksum with the server's own sha384().
fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn statements_a_lexer_could_miss_are_refused_before_anything_is_sent() {
    let p = Project::new();
    p.write("migrations/1_ok.sql", "CREATE TABLE ok (id int);\n");
    let cases = [
        (
            // A function named like a keyword, with a SQL-standard body.
            "CREATE FUNCTION begin() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\nCOMMIT;\nCREATE TABLE after_commit (id int);\n",
            "line 5: `COMMIT` controls the transaction",
        ),
        (
            "CREATE TABLE x (id int);\n/* a /* b */ c */ COMMIT;\n",
            "line 2: `COMMIT` controls the transaction",
        ),
        (
            "CREATE TABLE x (id int);\nSELECT \"pg_advisory_unlock_all\"();\n",
            "line 2: pg_advisory_unlock_all() would release the migration lock",
        ),
        (
            "CREATE TABLE x (id int);\nSELECT PG_CATALOG.Pg_Advisory_Unlock(1);\n",
            "line 2: pg_advisory_unlock() would release the migration lock",
        ),
        (
            "CREATE TABLE \"order\" (id int);\nCOPY \"order\" (id) FROM STDIN;\n1\n2\n\\.\n",
            "line 2: `COPY ... FROM STDIN` needs a client",
        ),
        (
            "CREATE TABLE \"order\" (id int);\nCOPY \"order\" (id) TO STDOUT;\n",
            "line 2: `COPY ... TO STDOUT` answers with a stream",
        ),
        (
            "-- no-transaction\nSET standard_conforming_strings = off;\nSELECT 1;\n",
            "line 2: changing standard_conforming_strings in a `-- no-transaction` file",
        ),
    ];
    for (sql, want) in cases {
        let path = p.write("migrations/2_hostile.sql", sql);
        let err = p.xtask(["migrate-deploy"]).fails_with(1);
        assert!(
            err.contains(&format!("2_hostile.sql {want}")),
            "{sql}\n{err}"
        );
        assert!(err.contains("nothing was applied"), "{err}");
        std::fs::remove_file(path).unwrap();
    }
    // Nothing was sent, not even the migration before them.
    assert_eq!(p.db.sql("SELECT to_regclass('ok') IS NULL"), "t");
    assert_eq!(p.db.sql("SELECT to_regclass('after_commit') IS NULL"), "t");
}

#[test]
fn a_lock_release_through_dynamic_sql_is_caught_when_it_runs() {
    let p = Project::new();
    // No parser sees this call: it is assembled at run time.
    let unlock = "DO $$ BEGIN EXECUTE 'SELECT pg_advisory_' || 'unlock_all()'; END $$;\n";
    p.write(
        "migrations/1_sneaky.sql",
        &format!("CREATE TABLE sneaky (id int);\n{unlock}"),
    );
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("it released the migration lock"), "{err}");
    assert!(err.contains("nothing of it was applied"), "{err}");
    // Rolled back whole, and recorded as a failure, not as applied.
    assert_eq!(p.db.sql("SELECT to_regclass('sneaky') IS NULL"), "t");
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "0");
    assert_eq!(
        p.db.sql("SELECT action, partial FROM _pgshift_log WHERE version = 1"),
        "failed|f"
    );

    // In a -- no-transaction file the statements before it are committed: recorded as
    // possibly partial, and nothing after it runs.
    std::fs::remove_file(p.path("migrations/1_sneaky.sql")).unwrap();
    p.write(
        "migrations/2_sneaky.sql",
        &format!("-- no-transaction\nCREATE TABLE before_unlock (id int);\n{unlock}CREATE TABLE after_unlock (id int);\n"),
    );
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(
        err.contains("the migration lock was released (another deploy could start now) after the statement at line 3"),
        "{err}"
    );
    assert_eq!(p.db.sql("SELECT to_regclass('before_unlock') IS NOT NULL AND to_regclass('after_unlock') IS NULL"), "t");
    assert_eq!(
        p.db.sql("SELECT success FROM _sqlx_migrations WHERE version = 2"),
        "f"
    );
    assert_eq!(
        p.db.sql("SELECT action, partial FROM _pgshift_log WHERE version = 2"),
        "failed|t"
    );
    let status = support::text(&p.xtask(["migrate-status"]).output());
    assert!(status.contains("2_sneaky"), "{status}");
    assert!(status.contains("partial"), "{status}");
}

#[test]
fn each_migration_is_read_with_the_sessions_default_strings() {
    // 1 turns standard_conforming_strings off for the rest of the session; 51 (in the next
    // message: 50 migrations go in one) must still be read with it on, as it is written.
    let p = Project::new();
    p.write(
        "migrations/1_off.sql",
        "CREATE TABLE paths (p text);\nSET standard_conforming_strings = off;\n",
    );
    for v in 2..=50 {
        p.write(&format!("migrations/{v}_filler.sql"), "SELECT 1;\n");
    }
    p.write(
        "migrations/51_path.sql",
        "INSERT INTO paths VALUES ('C:\\new\\table');\n",
    );
    p.xtask(["migrate-deploy"]).ok();
    assert_eq!(p.db.sql("SELECT p FROM paths"), "C:\\new\\table");
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "51");
}

#[test]
fn an_error_that_names_a_connection_class_is_a_failed_migration_when_the_connection_lives() {
    let p = Project::new();
    p.write(
        "migrations/1_remote.sql",
        "CREATE TABLE remote (id int);\nDO $$ BEGIN RAISE EXCEPTION 'the remote server went away' USING ERRCODE = '08006'; END $$;\n",
    );
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("migration 1_remote.sql failed"), "{err}");
    assert!(err.contains("the remote server went away"), "{err}");
    assert!(!err.contains("connection"), "{err}");
    assert_eq!(
        p.db.sql("SELECT action FROM _pgshift_log WHERE version = 1"),
        "failed"
    );
    // The same in a -- no-transaction file, and the admin-shutdown class.
    std::fs::remove_file(p.path("migrations/1_remote.sql")).unwrap();
    p.write(
        "migrations/2_remote.sql",
        "-- no-transaction\nDO $$ BEGIN RAISE EXCEPTION 'shutting down, says the fdw' USING ERRCODE = '57P01'; END $$;\n",
    );
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("migration 2_remote.sql failed"), "{err}");
    assert_eq!(
        p.db.sql("SELECT action FROM _pgshift_log WHERE version = 2"),
        "failed"
    );
}

#[test]
fn a_byte_order_mark_is_read_as_psql_reads_it_and_checksummed_as_sqlx_does() {
    let p = Project::new();
    p.write(
        "migrations/1_table.sql",
        "\u{feff}CREATE TABLE t (id int);\n",
    );
    let concurrently = "\u{feff}-- no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n";
    p.write("migrations/2_index.sql", concurrently);
    p.xtask(["migrate-deploy"]).ok();
    assert_eq!(
        p.db.sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass"),
        "t"
    );
    assert_eq!(
        p.db.sql(&format!(
            "SELECT checksum = sha384(decode('{}', 'hex')) FROM _sqlx_migrations WHERE version = 2",
            hex(concurrently)
        )),
        "t"
    );
    // Status sees the files as unchanged.
    let status = support::text(&p.xtask(["migrate-status"]).output());
    assert!(status.contains("2 applied"), "{status}");
}

#[test]
fn a_failure_inside_a_no_transaction_files_own_transaction_is_recorded() {
    let p = Project::new();
    p.write(
        "migrations/1_block.sql",
        "-- no-transaction\nBEGIN;\nCREATE TABLE inside (id int);\nSELECT 1 / 0;\nCOMMIT;\n",
    );
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("division by zero"), "{err}");
    assert_eq!(
        p.db.sql("SELECT action, line FROM _pgshift_log WHERE version = 1"),
        "failed|4"
    );
    // Its BEGIN was rolled back: the table is not there, the session is usable.
    assert_eq!(p.db.sql("SELECT to_regclass('inside') IS NULL"), "t");
}
