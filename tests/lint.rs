//! `cargo xtask lint` and the lint's place in migrate-dev and migrate-deploy, against real
//! databases: a table filled past `[lint] large_table_rows`, an empty one, acknowledgements,
//! GitHub annotations, the deploy gate.

mod support;

use expect_test::expect;
use support::{stderr, text, Project, TestDb};

/// A project whose first migration (applied) creates `doctor` (filled with `rows` rows and
/// analysed) and `visit` (empty); "large" is 1,000 rows.
fn project_with_tables(rows: usize) -> Project {
    let p = Project::new();
    p.append("pgshift.toml", "\n[lint]\nlarge_table_rows = 1000\n");
    p.write(
        "migrations/1_base.sql",
        "CREATE TABLE doctor (id int PRIMARY KEY, name text, specialization text);\n\
         CREATE TABLE visit (id int PRIMARY KEY, doctor_id int);\n",
    );
    p.xtask(["migrate-dev"]).ok();
    p.db.sql(&format!(
        "INSERT INTO doctor SELECT g, 'dr ' || g FROM generate_series(1, {rows}) g; ANALYZE doctor; ANALYZE visit"
    ));
    p
}

const INDEXES: &str =
    "CREATE INDEX doctor_name ON doctor (name);\nCREATE INDEX visit_doctor ON visit (doctor_id);\n";

#[test]
fn a_large_table_blocks_an_empty_one_is_fine_and_without_env_both_warn() {
    let p = project_with_tables(5000);
    p.write("migrations/2_indexes.sql", INDEXES);

    let out = p.xtask(["lint", "--env", "local"]).output();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(
            "migrations/2_indexes.sql:1:1: error[require-concurrent-index-creation]: CREATE INDEX \
             without CONCURRENTLY blocks writes to doctor while the index builds (doctor on \
             local: 5,000 rows, "
        ),
        "{all}"
    );
    // visit is empty on the target: no risk, no finding.
    assert!(!all.contains("visit"), "{all}");
    assert!(all.contains("1 blocking"), "{all}");

    // Without a target, the files alone: both are warnings, exit 0.
    let out = p.xtask(["lint"]).ok();
    let all = text(&out);
    assert_eq!(
        all.matches("warning[require-concurrent-index-creation]")
            .count(),
        2,
        "{all}"
    );
    assert!(
        all.contains("table size unknown: --env NAME measures it"),
        "{all}"
    );

    // Never analysed: counted, no further than the threshold.
    p.db.sql("CREATE TABLE clinic (id int); INSERT INTO clinic SELECT generate_series(1, 3000)");
    p.write(
        "migrations/3_clinic.sql",
        "CREATE INDEX clinic_id ON clinic (id);\n",
    );
    let out = p
        .xtask(["lint", "--env", "local", "migrations/3_clinic.sql"])
        .output();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("(clinic on local: at least 1,000 rows, "),
        "{}",
        text(&out)
    );
}

#[test]
fn tables_created_by_a_pending_migration_take_no_risk() {
    let p = project_with_tables(5000);
    p.write(
        "migrations/2_room.sql",
        "CREATE TABLE room (id bigint, name text);\n",
    );
    p.write(
        "migrations/3_room_index.sql",
        "CREATE INDEX room_name ON room (name);\nALTER TABLE room ALTER COLUMN name SET NOT NULL;\n",
    );
    let out = p.xtask(["lint", "--env", "local"]).ok();
    assert!(
        text(&out).contains("lint: no findings in 2 files"),
        "{}",
        text(&out)
    );
    // --all judges each file on its own: room is not new for the third.
    let out = p.xtask(["lint", "--all"]).ok();
    assert!(
        text(&out).contains("warning[require-concurrent-index-creation]"),
        "{}",
        text(&out)
    );
}

#[test]
fn acknowledged_findings_are_listed_and_do_not_block() {
    let p = project_with_tables(5000);
    p.write(
        "migrations/2_indexes.sql",
        "-- pgshift:allow require-concurrent-index-creation built in the nightly window\n\
         CREATE INDEX doctor_name ON doctor (name);\n\
         -- pgshift:allow ban-drop-column\n\
         ALTER TABLE doctor DROP COLUMN specialization;\n",
    );
    let out = p.xtask(["--json", "lint", "--env", "local"]).output();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["env"], "local");
    assert_eq!(json["files"][0], "migrations/2_indexes.sql");
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{json:#}");
    assert_eq!(findings[0]["rule"], "require-concurrent-index-creation");
    assert_eq!(findings[0]["severity"], "error");
    assert_eq!(findings[0]["rows"], 5000);
    assert_eq!(
        findings[0]["acknowledged"],
        serde_json::json!({"line": 1, "reason": "built in the nightly window"})
    );
    // An allow without a reason does not count, and says so.
    assert_eq!(findings[1]["rule"], "ban-drop-column");
    assert_eq!(findings[1]["severity"], "error");
    assert!(findings[1]["acknowledged"].is_null());
    assert!(
        findings[1]["help"]
            .as_str()
            .unwrap()
            .contains("on line 3 gives no reason"),
        "{json:#}"
    );
    assert_eq!(
        json["summary"],
        serde_json::json!({"errors": 2, "warnings": 0, "acknowledged": 1, "blocking": 1})
    );

    // With a reason (and squawk's own comment for another rule), nothing blocks.
    p.write(
        "migrations/2_indexes.sql",
        "-- pgshift:allow require-concurrent-index-creation built in the nightly window\n\
         CREATE INDEX doctor_name ON doctor (name);\n\
         -- squawk-ignore ban-drop-column\n\
         ALTER TABLE doctor DROP COLUMN specialization;\n",
    );
    let out = p.xtask(["lint", "--env", "local"]).ok();
    let all = text(&out);
    assert!(
        all.contains("= acknowledged on line 1: built in the nightly window"),
        "{all}"
    );
    assert!(
        all.contains("= acknowledged on line 3: -- squawk-ignore ban-drop-column"),
        "{all}"
    );
    assert!(
        all.contains("lint: 2 errors, 0 warnings in 1 file; 2 acknowledged"),
        "{all}"
    );
}

/// The squawk rules added beside the first ones, through the command: what pgshift would
/// refuse in a transactional migration blocks whatever the table, data loss is judged by the
/// target's rows, an index made in the pending run drops freely, advice on column types
/// stays on new tables, and squawk's ignore comment acknowledges them.
#[test]
fn more_squawk_rules_are_wired_with_the_project_context() {
    let p = project_with_tables(5000);
    p.write(
        "migrations/2_more.sql",
        "CREATE TABLE shift (id bigint GENERATED ALWAYS AS IDENTITY, starts timestamp);\n\
         CREATE INDEX shift_starts ON shift (starts);\n\
         DROP INDEX shift_starts;\n\
         DROP INDEX doctor_pkey_old;\n\
         CREATE INDEX CONCURRENTLY doctor_name ON doctor (name);\n\
         COMMIT;\n\
         TRUNCATE doctor CASCADE;\n\
         -- squawk-ignore ban-drop-not-null\n\
         ALTER TABLE doctor ALTER COLUMN name DROP NOT NULL;\n",
    );
    let out = p.xtask(["--json", "lint", "--env", "local"]).output();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<(String, u64, String, bool)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["severity"].as_str().unwrap().to_string(),
                !f["acknowledged"].is_null(),
            )
        })
        .collect();
    let has = |rule: &str, line: u64, severity: &str, acknowledged: bool| {
        found.contains(&(rule.into(), line, severity.into(), acknowledged))
    };
    assert!(
        has("prefer-timestamp-tz", 1, "warning", false),
        "{found:#?}"
    );
    assert!(
        has("require-concurrent-index-deletion", 4, "warning", false),
        "{found:#?}"
    );
    assert!(
        !found
            .iter()
            .any(|f| f.0 == "require-concurrent-index-deletion" && f.1 == 3),
        "{found:#?}"
    );
    assert!(
        has(
            "ban-concurrent-index-creation-in-transaction",
            5,
            "error",
            false
        ),
        "{found:#?}"
    );
    assert!(has("transaction-nesting", 6, "error", false), "{found:#?}");
    assert!(has("ban-truncate-cascade", 7, "error", false), "{found:#?}");
    assert!(has("ban-drop-not-null", 9, "warning", true), "{found:#?}");

    // In a `-- no-transaction` file CONCURRENTLY and COMMIT are what the file is for.
    p.write(
        "migrations/2_more.sql",
        "-- no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS doctor_name ON doctor (name);\n",
    );
    let out = p.xtask(["lint", "--env", "local"]).ok();
    assert!(
        text(&out).contains("lint: no findings in 1 file"),
        "{}",
        text(&out)
    );
}

#[test]
fn github_annotations() {
    let p = project_with_tables(5000);
    p.write(
        "migrations/2_indexes.sql",
        "-- pgshift:allow ban-drop-column exported to s3 first\nALTER TABLE doctor DROP COLUMN name;\nCREATE INDEX doctor_name ON doctor (name);\n",
    );
    let out = p
        .xtask(["lint", "--env", "local", "--format", "github"])
        .output();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(
            "::notice file=migrations/2_indexes.sql,line=2,col=1,title=ban-drop-column::dropping doctor.name loses its data"
        ),
        "{stdout}"
    );
    assert!(
        lines[0].contains("%0Aacknowledged on line 1: exported to s3 first"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with(
            "::error file=migrations/2_indexes.sql,line=3,col=1,title=require-concurrent-index-creation::"
        ),
        "{stdout}"
    );
    assert!(
        lines[1].contains("%0Ahelp: write `CREATE INDEX CONCURRENTLY`"),
        "{stdout}"
    );
}

#[test]
fn deploy_refuses_unacknowledged_blocking_findings_and_dev_only_prints_them() {
    let p = Project::new();
    let staging = TestDb::new();
    p.append(
        "pgshift.toml",
        "\n[env.staging]\nurl_env = \"STAGING_URL\"\n\n[lint]\nlarge_table_rows = 1000\n",
    );
    p.write(
        "migrations/1_base.sql",
        "CREATE TABLE doctor (id int PRIMARY KEY, name text);\n",
    );
    let deploy = |p: &Project| {
        p.xtask(["migrate-deploy", "--env", "staging"])
            .env("STAGING_URL", staging.url())
    };
    deploy(&p).ok();
    p.xtask(["migrate-dev"]).ok();
    staging.sql("INSERT INTO doctor SELECT g FROM generate_series(1, 2000) g; ANALYZE doctor");
    p.write(
        "migrations/2_index.sql",
        "CREATE INDEX doctor_name ON doctor (name);\n",
    );

    // Locally the table is empty and the lint never blocks: printed, applied.
    let out = p.xtask(["migrate-dev"]).ok();
    assert!(
        stderr(&out).contains("warning[require-concurrent-index-creation]"),
        "{}",
        text(&out)
    );
    assert!(stderr(&out).contains("applied 2_index"), "{}", text(&out));

    let err = deploy(&p).fails_with(1);
    assert!(
        err.contains("refusing to deploy to staging (127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.contains("migrations/2_index.sql:1:1: error[require-concurrent-index-creation]"),
        "{err}"
    );
    assert!(err.contains("doctor on staging: 2,000 rows"), "{err}");
    assert!(err.contains("`-- pgshift:allow RULE reason`"), "{err}");
    assert_eq!(
        staging.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'doctor_name'"),
        "0"
    );
    assert_eq!(staging.sql("SELECT count(*) FROM _sqlx_migrations"), "1");

    // Acknowledged: deployed, the finding still printed.
    p.write(
        "migrations/2_index.sql",
        "-- pgshift:allow require-concurrent-index-creation 2,000 rows index in a second\nCREATE INDEX doctor_name ON doctor (name);\n",
    );
    let out = deploy(&p).ok();
    assert!(
        stderr(&out).contains("= acknowledged on line 1: 2,000 rows index in a second"),
        "{}",
        text(&out)
    );
    assert_eq!(
        staging.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'doctor_name'"),
        "1"
    );
}

#[test]
fn project_context_config_and_usage() {
    let p = Project::new();
    // The session's lock_timeout satisfies require-timeout-settings; turned off, it is asked for.
    p.write(
        "migrations/1_a.sql",
        "ALTER TABLE doctor RENAME COLUMN name TO full_name;\n",
    );
    let out = p.xtask(["lint", "--all"]).ok();
    assert!(
        !text(&out).contains("require-timeout-settings"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("warning[renaming-column]"),
        "{}",
        text(&out)
    );
    p.append(
        "pgshift.toml",
        "\n[migrate]\nsession_lock_timeout = 0\n\n[lint.rules]\nrenaming-column = \"off\"\n",
    );
    let out = p.xtask(["lint", "--all"]).ok();
    assert!(
        text(&out).contains("warning[require-timeout-settings]"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("renaming-column"), "{}", text(&out));

    // A -- no-transaction file commits statement by statement: robustness matters, validating
    // in the same file does not hold the lock.
    p.write(
        "migrations/2_nt.sql",
        "-- no-transaction\nSET lock_timeout = '5s';\nALTER TABLE doctor ADD CONSTRAINT c CHECK (id > 0) NOT VALID;\nALTER TABLE doctor VALIDATE CONSTRAINT c;\nCREATE INDEX CONCURRENTLY doctor_id ON doctor (id);\n",
    );
    let out = p.xtask(["lint", "migrations/2_nt.sql"]).ok();
    let all = text(&out);
    assert!(
        all.contains("2_nt.sql:5:1: warning[prefer-robust-stmts]"),
        "{all}"
    );
    assert!(!all.contains("constraint-missing-not-valid"), "{all}");
    assert!(!all.contains("require-timeout-settings"), "{all}");

    // Usage errors exit 2.
    let err = p.xtask(["lint", "migrations/nope.sql"]).fails_with(2);
    assert!(err.contains("cannot read migrations/nope.sql"), "{err}");
    p.xtask(["lint", "--all", "migrations/2_nt.sql"])
        .fails_with(2);
    p.append("pgshift.toml", "ban-drop-colum = \"warning\"\n");
    let err = p.xtask(["lint", "--all"]).fails_with(2);
    assert!(
        err.contains("[lint.rules] names an unknown rule `ban-drop-colum`"),
        "{err}"
    );
}

#[test]
fn human_output_of_a_representative_file() {
    let p = Project::empty();
    p.write(
        "migrations/5_doctor_changes.sql",
        "CREATE TABLE clinic (id bigint PRIMARY KEY, name text);\n\
         CREATE INDEX clinic_name ON clinic (name);\n\
         \n\
         ALTER TABLE doctor ADD COLUMN clinic_id bigint REFERENCES clinic (id);\n\
         ALTER TABLE doctor ALTER COLUMN specialization SET NOT NULL;\n\
         -- pgshift:allow ban-drop-column exported to the archive on 2026-12-01\n\
         ALTER TABLE doctor DROP COLUMN legacy_code;\n\
         ALTER TABLE doctor\n    ALTER COLUMN name TYPE varchar(200);\n\
         ALTER TABLE visit ADD CONSTRAINT visit_positive CHECK (id > 0);\n",
    );
    let out = p.xtask(["lint", "migrations/5_doctor_changes.sql"]).ok();
    expect![[r#"
        migrations/5_doctor_changes.sql:4:48: warning[adding-foreign-key-constraint]: adding a foreign key from doctor to clinic checks every row of doctor while writes to both tables wait (table size unknown: --env NAME measures it)
          |
        4 | ALTER TABLE doctor ADD COLUMN clinic_id bigint REFERENCES clinic (id);
          |
          = help: add the constraint with NOT VALID, then `ALTER TABLE ... VALIDATE CONSTRAINT ...` in a later migration (it takes a lock that lets writes through)

        migrations/5_doctor_changes.sql:5:1: warning[adding-not-nullable-field]: SET NOT NULL on doctor.specialization scans every row of doctor under an ACCESS EXCLUSIVE lock (reads and writes wait) (table size unknown: --env NAME measures it)
          |
        5 | ALTER TABLE doctor ALTER COLUMN specialization SET NOT NULL;
          |
          = help: make the field required in steps: (1) add it nullable with a default (`ALTER TABLE doctor ADD COLUMN specialization ... DEFAULT ...`) and deploy code that writes it; (2) backfill existing rows in batches (`UPDATE doctor SET specialization = ... WHERE specialization IS NULL`); (3) `ALTER TABLE doctor ADD CONSTRAINT doctor_specialization_not_null CHECK (specialization IS NOT NULL) NOT VALID;` then, in a later migration, `ALTER TABLE doctor VALIDATE CONSTRAINT doctor_specialization_not_null;` `ALTER TABLE doctor ALTER COLUMN specialization SET NOT NULL;` (PostgreSQL 12+ uses the validated check and skips the scan) and `ALTER TABLE doctor DROP CONSTRAINT doctor_specialization_not_null;`

        migrations/5_doctor_changes.sql:7:1: warning[ban-drop-column]: dropping doctor.legacy_code loses its data, and code that still reads it breaks (table size unknown: --env NAME measures it)
          |
        7 | ALTER TABLE doctor DROP COLUMN legacy_code;
          |
          = help: export the data or take a backup first (`\copy (SELECT id, legacy_code FROM doctor) TO '...'`); deploy code that no longer reads the column before this migration
          = acknowledged on line 6: exported to the archive on 2026-12-01

        migrations/5_doctor_changes.sql:9:18: warning[changing-column-type]: changing the type of doctor.name takes an ACCESS EXCLUSIVE lock and, unless the change is binary-compatible, rewrites the table and its indexes (table size unknown: --env NAME measures it)
           |
         8 | ALTER TABLE doctor
         9 |     ALTER COLUMN name TYPE varchar(200);
           |
           = help: add a column of the new type, write both from the code, backfill in batches, then switch reads and drop the old column; widening varchar(n) or going to text does not rewrite

        migrations/5_doctor_changes.sql:9:18: warning[prefer-text-field]: doctor.name is varchar with a length limit; changing the limit later takes an ACCESS EXCLUSIVE lock (lowering it rewrites the table)
           |
         8 | ALTER TABLE doctor
         9 |     ALTER COLUMN name TYPE varchar(200);
           |
           = help: use `text`, with `CHECK (char_length(col) <= n)` if the limit matters (a new CHECK can be added NOT VALID and validated without blocking)

        migrations/5_doctor_changes.sql:10:23: warning[constraint-missing-not-valid]: adding CHECK constraint visit_positive checks every row of visit under an ACCESS EXCLUSIVE lock (table size unknown: --env NAME measures it)
           |
        10 | ALTER TABLE visit ADD CONSTRAINT visit_positive CHECK (id > 0);
           |
           = help: add it with NOT VALID, then `VALIDATE CONSTRAINT` in a later migration (validation takes a lock that lets reads and writes through)

        lint: 0 errors, 6 warnings in 1 file; 1 acknowledged
    "#]]
    .assert_eq(&String::from_utf8_lossy(&out.stdout));
}

#[test]
fn trace_shows_what_rewrote_and_what_did_not() {
    let p = Project::new();
    p.write(
        "migrations/1_base.sql",
        "CREATE TABLE doctor (id int PRIMARY KEY, name varchar(10), age int);\n",
    );
    p.xtask(["migrate-dev"]).ok();
    p.write(
        "migrations/2_types.sql",
        "ALTER TABLE doctor ALTER COLUMN name TYPE varchar(20);\n\
         ALTER TABLE doctor ALTER COLUMN age TYPE bigint;\n\
         ALTER TABLE doctor ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;\n\
         CREATE TABLE room (id int);\n\
         ALTER TABLE room ALTER COLUMN id TYPE bigint;\n",
    );
    let out = p.xtask(["lint", "--trace"]).ok();
    let all = text(&out);
    assert!(
        all.contains(
            "migrations/2_types.sql:1:33: warning[changing-column-type]: changing the type of \
             doctor.name takes an ACCESS EXCLUSIVE lock"
        ),
        "{all}"
    );
    assert!(
        all.contains("changes type (traced: took ACCESS EXCLUSIVE on doctor; no rewrite)"),
        "{all}"
    );
    // The lock was taken by line 1, in the same transaction: held, and now a rewrite.
    assert!(
        all.contains("(traced: holds ACCESS EXCLUSIVE on doctor and rewrote it)"),
        "{all}"
    );
    // Nothing flags an identity column statically; the trace saw the rewrite.
    assert!(
        all.contains(
            "migrations/2_types.sql:3:1: warning[table-rewrite]: traced: holds ACCESS EXCLUSIVE \
             on doctor and rewrote it"
        ),
        "{all}"
    );
    // room is created by the pending migration: no risk, nothing traced on it.
    assert!(
        all.contains(
            "  migrations/2_types.sql:5: ALTER TABLE room ALTER COLUMN id TYPE bigint: no lock on \
             an existing table, no rewrite"
        ),
        "{all}"
    );
    let out = p.xtask(["lint", "--trace", "--json"]).ok();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["trace"][1]["rewrote"], serde_json::json!(["doctor"]));
    assert_eq!(
        json["trace"][1]["locks"],
        serde_json::json!([{"table": "doctor", "mode": "AccessExclusiveLock", "newly": false}])
    );
    // The scratch databases are gone, and the local database was not touched.
    assert_eq!(
        p.db.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'pgshift_trace_%'"),
        "0"
    );
    assert_eq!(p.db.sql("SELECT to_regclass('room') IS NULL"), "t");
}

/// The trace reads only the locked tables' data files while a migration's transaction holds
/// its locks; a statement that committed on its own (`-- no-transaction`) or a `ROLLBACK TO
/// SAVEPOINT` that released locks makes it read every table, so no rewrite goes unseen or
/// is reported twice.
#[test]
fn trace_sees_rewrites_outside_a_transaction_and_after_a_savepoint_rollback() {
    let p = Project::new();
    p.write(
        "migrations/1_base.sql",
        "CREATE TABLE doctor (id int, age int);\nCREATE TABLE nurse (id int, age int);\n",
    );
    p.xtask(["migrate-dev"]).ok();
    p.write(
        "migrations/2_savepoint.sql",
        "SAVEPOINT s;\n\
         ALTER TABLE doctor ALTER COLUMN age TYPE bigint;\n\
         ROLLBACK TO SAVEPOINT s;\n\
         ALTER TABLE doctor ADD COLUMN note text;\n",
    );
    p.write(
        "migrations/3_alone.sql",
        "-- no-transaction\n\
         ALTER TABLE nurse ALTER COLUMN age TYPE bigint;\n\
         CREATE INDEX CONCURRENTLY IF NOT EXISTS nurse_age ON nurse (age);\n",
    );
    let out = p.xtask(["lint", "--trace", "--json"]).ok();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let step = |file: &str, line: u64| {
        json["trace"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["file"] == file && s["line"] == line)
            .unwrap_or_else(|| panic!("no step {file}:{line} in {json:#}"))
            .clone()
    };
    let savepoint = "migrations/2_savepoint.sql";
    assert_eq!(step(savepoint, 2)["rewrote"], serde_json::json!(["doctor"]));
    // After the rollback the table has its old data file again, and the next statement's
    // lock comes with no rewrite.
    let after = step(savepoint, 4);
    assert_eq!(
        after["locks"],
        serde_json::json!([{"table": "doctor", "mode": "AccessExclusiveLock", "newly": true}]),
        "{json:#}"
    );
    assert_eq!(after["rewrote"], serde_json::json!([]), "{json:#}");
    // On its own, the statement's lock is gone when it is read; the rewrite is not.
    let alone = step("migrations/3_alone.sql", 2);
    assert_eq!(alone["rewrote"], serde_json::json!(["nurse"]), "{json:#}");
    assert_eq!(
        step("migrations/3_alone.sql", 3)["rewrote"],
        serde_json::json!([]),
        "{json:#}"
    );
}

#[test]
fn a_dropped_column_names_the_rust_code_that_reads_it() {
    let p = project_with_tables(10);
    p.write(
        "src/api/doctor.rs",
        "use db_schema::Doctor;\n\npub fn label(d: &Doctor) -> String {\n    d.specialization.clone().unwrap_or_default()\n}\n",
    );
    p.write(
        "migrations/2_drop.sql",
        "ALTER TABLE doctor DROP COLUMN specialization;\n",
    );
    let out = p.xtask(["lint", "--env", "local"]).output();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(
            "error[ban-drop-column]: dropping doctor.specialization loses its data, and code that \
             still reads it breaks (doctor on local: 10 rows, "
        ),
        "{all}"
    );
    assert!(
        all.contains(
            "; doctor.specialization is named by src/api/doctor.rs:4; the generated field \
             Doctor::specialization (crates/db-schema/src/generated.rs:"
        ),
        "{all}"
    );
    assert!(all.contains(") disappears"), "{all}");
    assert!(
        all.contains("export the data or take a backup first"),
        "{all}"
    );
}
