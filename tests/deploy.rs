//! `cargo xtask deploy --prod`, the whole pipeline, against the TLS + password cluster that
//! plays production, with the test's own cluster as the local server for the rehearsal.

mod support;

use support::prod::ProdProject;
use support::{stderr, text};

const COMMAND: &str = "[deploy]\ncommand = \"printf '%s %s %s' \\\"$PGSHIFT_ENV\\\" \\\"$PGSHIFT_VERSION\\\" \\\"${PROD_DATABASE_URL:-no-url}${DATABASE_URL:-}\\\" > deployed.txt\"\n";

fn project() -> ProdProject {
    let p = ProdProject::new();
    p.append("pgshift.toml", &format!("\n{COMMAND}"));
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    p.write("migrations/2_b.sql", "CREATE TABLE b (id int);\n");
    p
}

#[test]
fn a_deploy_backs_up_rehearses_applies_verifies_then_runs_the_application() {
    let p = project();
    let out = p.xtask_prod(["deploy", "--prod", "--yes", "--json"]).ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps: Vec<(&str, &str)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("target", "ok"),
            ("transport", "ok"),
            ("preflight", "ok"),
            ("lint", "ok"),
            ("consent", "ok"),
            ("backup", "ok"),
            ("rehearsal", "ok"),
            ("apply", "ok"),
            ("verify", "ok"),
            ("application", "ok"),
        ],
        "{}",
        text(&out)
    );
    assert_eq!(report["outcome"], "succeeded");
    assert_eq!(report["applied"].as_array().unwrap().len(), 2);
    assert_eq!(
        report["rehearsal"]["migrations"].as_array().unwrap().len(),
        2
    );
    assert!(std::path::Path::new(report["backup"].as_str().unwrap()).exists());
    // The application ran after the migrations (it saw version 2), without any URL.
    assert_eq!(p.read("deployed.txt"), "prod 2 no-url");
    assert_eq!(p.prod_sql("SELECT count(*) FROM _sqlx_migrations"), "2");
    // The deploy is on record in production: outcome, version, who.
    let logged = p.prod_sql(
        "SELECT version, error LIKE 'succeeded: 2 pending, 2 applied; backup %', os_user IS NOT NULL \
         FROM _pgshift_log WHERE action = 'deploy'",
    );
    assert_eq!(logged, "2|t|t");
    // The rehearsal's scratch database is gone (other tests' may be there meanwhile).
    assert_scratch_dropped(&p, &report);
    // The report on disk, and no password anywhere.
    let path = report["report_path"].as_str().unwrap();
    let written = std::fs::read_to_string(path).unwrap();
    let password = url::Url::parse(&p.url)
        .unwrap()
        .password()
        .unwrap()
        .to_string();
    let decoded = percent_decode(&password);
    for text in [written.as_str(), &text(&out)] {
        assert!(
            !text.contains(&password) && !text.contains(&decoded),
            "{text}"
        );
    }

    // Nothing pending: a success that does not run the application again.
    std::fs::remove_file(p.path("deployed.txt")).unwrap();
    let out = p.xtask_prod(["deploy", "--prod", "--yes"]).ok();
    assert!(stderr(&out).contains("nothing to apply"), "{}", text(&out));
    assert!(!p.path("deployed.txt").exists());
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_failing_rehearsal_leaves_production_untouched_and_the_application_undeployed() {
    let p = project();
    p.xtask_prod(["deploy", "--prod", "--yes"]).ok();
    std::fs::remove_file(p.path("deployed.txt")).unwrap();
    // Production holds a row the new constraint refuses; the local database does not.
    p.prod_sql("INSERT INTO a VALUES (-1)");
    p.write(
        "migrations/3_positive.sql",
        "ALTER TABLE a ADD CONSTRAINT a_positive CHECK (id > 0);\n",
    );
    let err = p.xtask_prod(["deploy", "--prod", "--yes"]).fails_with(1);
    assert!(err.contains("stopped at rehearsal"), "{err}");
    assert!(err.contains("production is untouched"), "{err}");
    assert!(err.contains("a_positive"), "{err}");
    assert_eq!(p.prod_sql("SELECT count(*) FROM _sqlx_migrations"), "2");
    assert_eq!(
        p.prod_sql("SELECT count(*) FROM _pgshift_log WHERE version = 3"),
        "0"
    );
    assert!(!p.path("deployed.txt").exists());
}

#[test]
fn without_a_terminal_or_yes_nothing_is_done_and_an_unset_url_is_named() {
    let p = project();
    let err = p.xtask_prod(["deploy", "--prod"]).fails_with(2);
    assert!(err.contains("needs consent"), "{err}");
    assert_eq!(
        p.prod_sql("SELECT to_regclass('_sqlx_migrations') IS NULL"),
        "t"
    );
    assert!(!p.path(".pgshift/backups").exists());
    // A stale .env pointing at the local database never stands in for production.
    let err = p
        .xtask(["deploy", "--prod", "--yes"])
        .env_remove("PROD_DATABASE_URL")
        .fails_with(2);
    assert!(err.contains("PROD_DATABASE_URL"), "{err}");
    assert_eq!(
        p.db.sql("SELECT to_regclass('_sqlx_migrations') IS NULL"),
        "t"
    );
}

#[test]
fn a_blocking_lint_finding_stops_the_deploy_until_it_is_acknowledged() {
    let p = project();
    p.xtask_prod(["deploy", "--prod", "--yes"]).ok();
    p.prod_sql("INSERT INTO b VALUES (1)");
    p.write("migrations/3_drop.sql", "ALTER TABLE b DROP COLUMN id;\n");
    let err = p.xtask_prod(["deploy", "--prod", "--yes"]).fails_with(1);
    assert!(err.contains("stopped at lint"), "{err}");
    assert!(err.contains("ban-drop-column"), "{err}");
    assert_eq!(p.prod_sql("SELECT count(*) FROM _sqlx_migrations"), "2");
    p.write(
        "migrations/3_drop.sql",
        "-- pgshift:allow ban-drop-column the ids moved to table a last release\nALTER TABLE b DROP COLUMN id;\n",
    );
    p.xtask_prod(["deploy", "--prod", "--yes"]).ok();
    assert_eq!(p.prod_sql("SELECT count(*) FROM _sqlx_migrations"), "3");
}

/// The `xtask deploy ...` arguments a CI or Kubernetes file runs.
fn deploy_command_in(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(support::repo_root().join(file)).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("xtask deploy"))
        .unwrap_or_else(|| panic!("{file} runs no `xtask deploy`"));
    let from = line.find("xtask deploy").unwrap() + "xtask ".len();
    line[from..]
        .trim_end_matches(['"', ']', ' '])
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// The GitHub Actions workflow and the Kubernetes Job run the same command line, and that
/// command line deploys (without a terminal) against a real server.
#[test]
fn the_ci_and_kubernetes_files_run_a_deploy_that_works() {
    let actions = deploy_command_in("docs/ci/deploy.yml");
    let job = deploy_command_in("docs/k8s/deploy-job.yaml");
    assert_eq!(actions, job);
    assert_eq!(actions, ["deploy", "--prod", "--yes", "--json"]);
    for file in ["docs/ci/deploy.yml", "docs/k8s/deploy-job.yaml"] {
        let text = std::fs::read_to_string(support::repo_root().join(file)).unwrap();
        assert!(text.contains("PROD_DATABASE_URL"), "{file}");
        assert!(
            text.contains("db up"),
            "{file}: the rehearsal needs a local server"
        );
    }
    let p = project();
    let out = p.xtask_prod(&actions).ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "succeeded", "{}", text(&out));
}

#[test]
fn a_dry_run_rehearses_and_changes_nothing_on_production() {
    let p = project();
    let out = p
        .xtask_prod(["deploy", "--prod", "--dry-run", "--json"])
        .ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "target",
            "transport",
            "preflight",
            "lint",
            "consent",
            "backup",
            "rehearsal"
        ],
        "{}",
        text(&out)
    );
    assert_eq!(
        report["rehearsal"]["migrations"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        p.prod_sql("SELECT to_regclass('_sqlx_migrations') IS NULL"),
        "t"
    );
    assert!(!p.path("deployed.txt").exists());
    // Preflight names what the local database never applied ("test locally first").
    let preflight = |report: &serde_json::Value| -> String {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "preflight")
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        preflight(&report),
        "2 pending; never applied to the local database: 1_a.sql, 2_b.sql"
    );
    std::fs::rename(p.path("migrations/2_b.sql"), p.path("2_b.sql")).unwrap();
    p.xtask(["migrate-dev"]).ok();
    std::fs::rename(p.path("2_b.sql"), p.path("migrations/2_b.sql")).unwrap();
    let out = p
        .xtask_prod(["deploy", "--prod", "--dry-run", "--json"])
        .ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        preflight(&report),
        "2 pending; never applied to the local database: 2_b.sql"
    );
}

/// A migration that times out waiting for a table lock held in production is rolled back
/// whole, and tried again until the lock is released.
#[test]
fn a_table_lock_in_production_makes_the_deploy_retry_until_it_is_released() {
    let p = project();
    p.append(
        "pgshift.toml",
        "\n[migrate]\nsession_lock_timeout = \"200ms\"\n",
    );
    p.xtask_prod(["deploy", "--prod", "--yes"]).ok();
    p.write(
        "migrations/3_column.sql",
        "ALTER TABLE a ADD COLUMN note text;\n",
    );
    let database = p.database.clone();
    let holder = std::thread::spawn(move || {
        support::prod_cluster().sql(
            &database,
            "BEGIN; LOCK TABLE a IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2.5); COMMIT;",
        )
    });
    // Let the holder take the lock before the deploy starts.
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Without a backup (which would queue behind the lock itself), straight to apply.
    let out = p
        .xtask_prod(["deploy", "--prod", "--yes", "--no-backup"])
        .ok();
    holder.join().unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("3_column.sql timed out waiting for a table lock and was rolled back whole; retry 1 of 3"),
        "{err}"
    );
    assert_eq!(p.prod_sql("SELECT count(*) FROM _sqlx_migrations"), "3");
    assert_eq!(
        p.prod_sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'a' AND column_name = 'note'"),
        "1"
    );
}

/// The rehearsal applies each migration statement by statement and reports, per migration,
/// its duration, the locks it took on tables that existed before it, and its rewrites.
#[test]
fn the_rehearsal_reports_each_migrations_locks_on_existing_tables_and_rewrites() {
    let p = project();
    p.xtask_prod(["deploy", "--prod", "--yes"]).ok();
    p.prod_sql("INSERT INTO a SELECT generate_series(1, 100)");
    p.write(
        "migrations/3_widen.sql",
        "ALTER TABLE a ALTER COLUMN id TYPE bigint;\n",
    );
    p.write("migrations/4_new.sql", "CREATE TABLE c (id int);\n");
    p.write(
        "migrations/5_index.sql",
        "-- no-transaction\nCREATE INDEX CONCURRENTLY b_id ON b (id);\n",
    );
    let out = p
        .xtask_prod(["deploy", "--prod", "--dry-run", "--json"])
        .ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rehearsal = &report["rehearsal"];
    assert_eq!(rehearsal["mode"], "full", "{}", text(&out));
    assert_eq!(rehearsal["rows"], 100);
    let migrations = rehearsal["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 3, "{}", text(&out));

    let widen = &migrations[0];
    assert_eq!(widen["file"], "3_widen.sql");
    assert_eq!(
        widen["locks"],
        serde_json::json!([{"table": "a", "mode": "AccessExclusiveLock"}])
    );
    assert_eq!(widen["rewrote"], serde_json::json!(["a"]));
    assert!(widen["duration_ms"].as_f64().unwrap() > 0.0);
    let statement = &widen["statements"][0];
    assert_eq!(statement["line"], 1);
    assert_eq!(statement["locks"][0]["newly"], true);
    assert_eq!(statement["rewrote"], serde_json::json!(["a"]));

    // A new table: no lock on any table that existed before the migration.
    let new = &migrations[1];
    assert_eq!(new["file"], "4_new.sql");
    assert_eq!(new["locks"], serde_json::json!([]));
    assert_eq!(new["rewrote"], serde_json::json!([]));

    let index = &migrations[2];
    assert_eq!(index["no_transaction"], true);
    assert_eq!(index["rewrote"], serde_json::json!([]));
    assert_eq!(rehearsal["rewritten"], serde_json::json!(["a"]));

    // The same for a person: a line per migration under the rehearsal step.
    let out = p.xtask_prod(["deploy", "--prod", "--dry-run"]).ok();
    let err = stderr(&out);
    assert!(
        err.contains("3_widen.sql") && err.contains("ACCESS EXCLUSIVE on a (rewritten)"),
        "{err}"
    );
    assert!(
        err.contains("4_new.sql") && err.contains("no lock on an existing table, no rewrite"),
        "{err}"
    );
    assert!(
        err.contains("locks not observable (-- no-transaction"),
        "{err}"
    );
    // Production is as it was.
    assert_eq!(p.prod_sql("SELECT count(*) FROM _sqlx_migrations"), "2");
    assert_eq!(p.prod_sql("SELECT to_regclass('c') IS NULL"), "t");
}

/// `[deploy] rehearse = "schema"`: the target's schema alone (no rows) is the copy, the
/// history comes with it so exactly the pending migrations run there, and verify still
/// compares production with the rehearsal's catalog. It needs no backup.
#[test]
fn a_schema_rehearsal_runs_on_the_schema_alone_and_production_is_verified_against_it() {
    let p = project();
    p.append("pgshift.toml", "rehearse = \"schema\"\n");
    p.xtask_prod(["deploy", "--prod", "--yes"]).ok();
    p.prod_sql("INSERT INTO a SELECT generate_series(1, 500)");
    p.write(
        "migrations/3_column.sql",
        "ALTER TABLE a ADD COLUMN note text;\nCREATE INDEX a_note ON a (note);\n",
    );
    let out = p
        .xtask_prod(["deploy", "--prod", "--yes", "--no-backup", "--json"])
        .ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let step = |name: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(step("rehearsal")["outcome"], "ok", "{}", text(&out));
    assert!(
        step("rehearsal")["detail"]
            .as_str()
            .unwrap()
            .contains("schema-only copy (no rows)"),
        "{}",
        text(&out)
    );
    assert_eq!(step("backup")["outcome"], "skipped");
    assert_eq!(step("verify")["outcome"], "ok");
    assert_eq!(
        step("verify")["detail"],
        "status clean; schema equals the rehearsal's"
    );
    let rehearsal = &report["rehearsal"];
    assert_eq!(rehearsal["mode"], "schema");
    // The copy had the tables and the history, and not one row of them.
    assert_eq!(rehearsal["rows"], 0);
    let migrations = rehearsal["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 1, "only the pending migration ran");
    assert_eq!(migrations[0]["file"], "3_column.sql");
    assert_eq!(
        migrations[0]["locks"],
        serde_json::json!([{"table": "a", "mode": "AccessExclusiveLock"}])
    );
    assert_eq!(p.prod_sql("SELECT count(*) FROM a"), "500");
    assert_eq!(p.prod_sql("SELECT count(*) FROM _sqlx_migrations"), "3");
    assert_scratch_dropped(&p, &report);
}

fn assert_scratch_dropped(p: &ProdProject, report: &serde_json::Value) {
    let name = report["rehearsal"]["database"].as_str().unwrap();
    assert!(name.starts_with("pgshift_rehearsal_"), "{name}");
    assert_eq!(
        p.db.sql(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        )),
        "0"
    );
}

/// `cargo xtask bench deploy`, tiny: the real pipeline runs and the overhead is printed.
#[test]
fn bench_deploy_prints_each_step_and_the_overhead() {
    let p = support::Project::new();
    let out = p
        .xtask([
            "bench",
            "deploy",
            "--applied",
            "5",
            "--pending",
            "2",
            "--scale",
            "0",
            "--runs",
            "1",
        ])
        .ok();
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    for step in ["preflight", "backup", "rehearsal", "apply", "verify"] {
        assert!(printed.contains(&format!("  {step} ")), "{}", text(&out));
    }
    assert!(printed.contains("(pg_dump "), "{printed}");
    assert!(printed.contains("(restore "), "{printed}");
    assert!(
        printed.contains("pipeline overhead, best of 1:"),
        "{printed}"
    );
}

/// Verify compares production's catalog with the rehearsal's, object by object: a migration
/// that does something else in production than on the copy (here: a table made only
/// outside pgshift's scratch databases) fails the deploy before the application, naming
/// the table.
#[test]
fn verify_names_the_objects_where_production_differs_from_the_rehearsal() {
    let p = project();
    p.write(
        "migrations/3_c.sql",
        "DO $$ BEGIN IF current_database() NOT LIKE 'pgshift\\_%' THEN \
         EXECUTE 'CREATE TABLE only_in_prod (id int)'; END IF; END $$;\n",
    );
    let out = p
        .xtask_prod(["deploy", "--prod", "--yes", "--json"])
        .output();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verify = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "verify")
        .unwrap_or_else(|| panic!("no verify step: {report:#}"));
    assert_eq!(verify["outcome"], "failed", "{report:#}");
    let said = verify.to_string();
    assert!(
        said.contains("table only_in_prod exists in prod but not in the rehearsal"),
        "{said}"
    );
    assert!(
        !p.path("deployed.txt").exists(),
        "the application must not run"
    );
}

/// A migration edited on disk while the deploy runs (here while its apply waits for a
/// table lock) does not reach production: the deploy applies the files it planned, linted
/// and rehearsed, and verify names the file that changed.
#[test]
fn a_file_edited_during_the_deploy_is_not_what_production_gets() {
    let p = project();
    p.append(
        "pgshift.toml",
        "\n[migrate]\nsession_lock_timeout = \"200ms\"\n",
    );
    p.xtask_prod(["deploy", "--prod", "--yes"]).ok();
    p.write(
        "migrations/3_column.sql",
        "ALTER TABLE a ADD COLUMN planned text;\n",
    );
    let database = p.database.clone();
    let holder = std::thread::spawn(move || {
        support::prod_cluster().sql(
            &database,
            "BEGIN; LOCK TABLE a IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;",
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Once the deploy waits for the lock (its plan is made), the file is edited.
    let (database, folder) = (p.database.clone(), p.dir.join("migrations"));
    let editor = std::thread::spawn(move || {
        for _ in 0..500 {
            let waiting = support::prod_cluster().sql(
                &database,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND datname = current_database()",
            );
            if waiting.trim() != "0" {
                std::fs::write(
                    folder.join("3_column.sql"),
                    "ALTER TABLE a ADD COLUMN edited_meanwhile text;\n",
                )
                .unwrap();
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    });
    let err = p
        .xtask_prod(["deploy", "--prod", "--yes", "--no-backup"])
        .fails_with(1);
    holder.join().unwrap();
    assert!(
        editor.join().unwrap(),
        "the deploy never waited for the lock"
    );
    let columns = p.prod_sql(
        "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns \
         WHERE table_name = 'a'",
    );
    assert_eq!(columns, "id,planned", "production got the planned file");
    assert!(
        err.contains("stopped at verify")
            && err.contains(
                "3_column.sql modified (its file changed on disk after the deploy read it)"
            ),
        "{err}"
    );
}
