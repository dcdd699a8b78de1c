//! migrate-reset, migrate-down and migrate-resolve against a real server.

mod support;

use support::{stderr, text, Project};

fn tables(p: &Project, names: &[&str]) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    p.db.sql(&format!(
        "SELECT coalesce(string_agg(relname, ',' ORDER BY relname), '') FROM pg_class WHERE relkind = 'r' AND relname IN ({})",
        list.join(",")
    ))
}

fn pair(p: &Project, version: u32, table: &str) {
    p.write(
        &format!("migrations/{version}_{table}.up.sql"),
        &format!("CREATE TABLE {table} (id int);\n"),
    );
    p.write(
        &format!("migrations/{version}_{table}.down.sql"),
        &format!("DROP TABLE {table};\n"),
    );
}

#[test]
fn reset_drops_recreates_and_reapplies_and_needs_consent_off_a_terminal() {
    let p = Project::new();
    pair(&p, 1, "a");
    p.xtask(["migrate-dev"]).ok();
    p.db.sql("INSERT INTO a VALUES (42); CREATE TABLE stray (id int)");
    let err = p.xtask(["migrate-reset"]).fails_with(2);
    assert!(err.contains("pass --force (or --yes)"), "{err}");
    assert_eq!(p.db.sql("SELECT count(*) FROM a"), "1");

    let out = p.xtask(["migrate-reset", "--force"]).ok();
    let err = stderr(&out);
    let dropping = err.find("dropping and recreating 127.0.0.1:");
    let applied = err.find("applied 1_a (");
    assert!(dropping.is_some() && applied.is_some(), "{}", text(&out));
    // In the order it happens: the drop, then the migrations.
    assert!(dropping < applied, "{}", text(&out));
    assert_eq!(p.db.sql("SELECT count(*) FROM a"), "0");
    assert_eq!(tables(&p, &["a", "stray"]), "a");
    p.xtask(["--yes", "migrate-reset"]).ok();
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "1");
}

#[test]
fn down_reverts_newest_first_and_checks_every_down_file_first() {
    let p = Project::new();
    p.write("migrations/1_base.sql", "CREATE TABLE base (id int);\n");
    pair(&p, 2, "b");
    pair(&p, 3, "c");
    pair(&p, 4, "d");
    p.xtask(["migrate-dev"]).ok();

    let out = p.xtask(["migrate-down"]).ok();
    assert!(stderr(&out).contains("reverted 4_d ("), "{}", text(&out));
    assert_eq!(tables(&p, &["b", "c", "d"]), "b,c");
    assert_eq!(
        p.db.sql("SELECT string_agg(version::text, ',' ORDER BY version) FROM _sqlx_migrations"),
        "1,2,3"
    );
    assert_eq!(
        p.db.sql(
            "SELECT action, file FROM _pgshift_log WHERE version = 4 ORDER BY id DESC LIMIT 1"
        ),
        "reverted|4_d.down.sql"
    );

    // 1 has no down file: nothing is reverted, not even 3 and 2.
    let err = p.xtask(["migrate-down", "--to", "0"]).fails_with(1);
    assert!(
        err.contains("cannot revert 1_base.sql: no .down.sql file; nothing was reverted"),
        "{err}"
    );
    assert_eq!(tables(&p, &["b", "c"]), "b,c");

    // A failing down file reverts nothing of itself.
    p.write(
        "migrations/3_c.down.sql",
        "DROP TABLE c;\nDROP TABLE no_such_table;\n",
    );
    let err = p.xtask(["migrate-down"]).fails_with(1);
    assert!(
        err.contains("migration 3_c.down.sql failed on local"),
        "{err}"
    );
    assert!(
        err.contains("at line 2: table \"no_such_table\" does not exist"),
        "{err}"
    );
    assert_eq!(tables(&p, &["c"]), "c");
    assert_eq!(
        p.db.sql("SELECT count(*) FROM _sqlx_migrations WHERE version = 3"),
        "1"
    );
    pair(&p, 3, "c");

    let out = p.xtask(["migrate-down", "--steps", "2"]).ok();
    let said = stderr(&out);
    assert!(
        said.find("reverted 3_c").unwrap() < said.find("reverted 2_b").unwrap(),
        "{said}"
    );
    assert_eq!(tables(&p, &["b", "c"]), "");
    let err = p.xtask(["migrate-down", "--to", "7"]).fails_with(2);
    assert!(err.contains("no applied migration has version 7"), "{err}");
    // Reverted migrations are pending again.
    p.xtask(["migrate-dev"]).ok();
    assert_eq!(tables(&p, &["b", "c", "d"]), "b,c,d");
}

#[test]
fn resolve_records_the_outcome_of_a_failed_migration_only() {
    let p = Project::new();
    p.write("migrations/1_ok.sql", "CREATE TABLE ok (id int);\n");
    p.write(
        "migrations/2_bad.sql",
        "CREATE TABLE bad (id int);\nSELECT 1/0;\n",
    );
    p.xtask(["migrate-deploy"]).fails_with(1);

    let err = p.xtask(["migrate-resolve", "--applied", "1"]).fails_with(2);
    assert!(
        err.contains("migration 1_ok is applied, not failed"),
        "{err}"
    );
    let err = p
        .xtask(["migrate-resolve", "--rolled-back", "9"])
        .fails_with(2);
    assert!(err.contains("no migration has version 9"), "{err}");
    p.xtask(["migrate-resolve"]).fails_with(2);

    // Rolled back: pending again, retried by the next deploy once fixed.
    let out = p.xtask(["migrate-resolve", "--rolled-back", "2"]).ok();
    assert!(
        stderr(&out).contains("recorded migration 2 as rolled back on local"),
        "{}",
        text(&out)
    );
    assert!(p
        .xtask(["migrate-status"])
        .stdout()
        .contains("pending       2_bad"));
    p.write("migrations/2_bad.sql", "CREATE TABLE bad (id int);\n");
    p.xtask(["migrate-deploy"]).ok();
    assert_eq!(
        p.db.sql("SELECT string_agg(action, ',' ORDER BY id) FROM _pgshift_log WHERE version = 2"),
        "failed,resolved-rolled-back,applied"
    );

    // Applied by hand after a partial no-transaction failure.
    p.write("migrations/3_index.sql", "-- no-transaction\nCREATE TABLE idx (id int);\nCREATE INDEX CONCURRENTLY idx_x ON idx (x);\n");
    p.xtask(["migrate-deploy"]).fails_with(1);
    p.db.sql("ALTER TABLE idx ADD COLUMN x int; CREATE INDEX idx_x ON idx (x)");
    p.xtask(["migrate-resolve", "--applied", "3"]).ok();
    p.xtask(["migrate-status", "--exit-code"]).ok();
    assert_eq!(
        p.db.sql("SELECT success FROM _sqlx_migrations WHERE version = 3"),
        "t"
    );
    assert_eq!(
        p.db.sql("SELECT string_agg(action, ',' ORDER BY id) FROM _pgshift_log WHERE version = 3"),
        "failed,resolved-applied"
    );
}

#[test]
fn reset_creates_a_database_that_does_not_exist_yet() {
    let p = Project::new();
    pair(&p, 1, "a");
    // The project's database is gone (3D000): nothing to check the marker of, reset makes it.
    support::psql(
        &p.db.url().replace(&format!("/{}", p.db.name), "/postgres"),
        &format!("DROP DATABASE \"{}\"", p.db.name),
    );
    p.xtask(["migrate-reset", "--force"]).ok();
    assert_eq!(tables(&p, &["a"]), "a");
}

#[test]
fn down_steps_zero_is_a_usage_error() {
    let p = Project::new();
    pair(&p, 1, "a");
    p.xtask(["migrate-dev"]).ok();
    let err = p.xtask(["migrate-down", "--steps", "0"]).fails_with(2);
    assert!(err.contains("--steps"), "{err}");
    assert_eq!(tables(&p, &["a"]), "a");
}
