//! Schema as code through the real binary: `migrate-diff` between sources, drift
//! (`migrate-status --drift`, and migrate-dev's warning before the bindings), `migrate-dev
//! --name` writing migrations from the schema folder, `schema pull`, and the shadow
//! databases all of these make on the local server (dropped every time).

mod support;

use support::prod::ProdProject;
use support::{stderr, text, Project};

const DOCTOR: &str = "CREATE TABLE doctor (\n  id bigint PRIMARY KEY,\n  name text NOT NULL\n);\n";

/// A project with a schema folder and one migration creating `doctor`.
fn project() -> Project {
    let p = Project::new();
    p.append("pgshift.toml", "\n[paths]\nschema = \"schema\"\n");
    p.write("migrations/1_create_doctor.sql", DOCTOR);
    p
}

/// The shadow databases on the test cluster whose process is gone: left behind. (Other
/// tests of this binary make theirs at the same time, with live pids.)
fn shadows(p: &Project) -> String {
    let names =
        p.db.sql("SELECT datname FROM pg_database WHERE datname LIKE 'pgshift\\_%'");
    names
        .lines()
        .filter(|name| {
            let pid = name.split('_').nth(2).unwrap_or("");
            pid != DEAD_PID && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Above the kernel's pid_max ceiling: a process that cannot be alive.
const DEAD_PID: &str = "4194305";

#[test]
fn migrate_diff_compares_sources_summary_script_json_and_exit_code() {
    let p = project();
    p.write(
        "schema/doctor.sql",
        "CREATE TABLE doctor (\n  id bigint PRIMARY KEY,\n  name text NOT NULL,\n  nickname text\n);\n",
    );

    // Different: a summary, exit 2 with --exit-code.
    let out = p
        .xtask([
            "migrate-diff",
            "--from",
            "migrations",
            "--to",
            "schema",
            "--exit-code",
        ])
        .output();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("migrations -> schema: 1 change\n"),
        "{all}"
    );
    assert!(stdout.contains("nickname"), "{all}");

    // The SQL.
    let script = p
        .xtask([
            "migrate-diff",
            "--from",
            "migrations",
            "--to",
            "schema",
            "--script",
        ])
        .stdout();
    assert!(script.contains("ALTER TABLE"), "{script}");
    assert!(script.contains("ADD COLUMN nickname text"), "{script}");

    // The same state: nothing, exit 0 even with --exit-code.
    let same = p
        .xtask([
            "migrate-diff",
            "--from",
            "migrations",
            "--to",
            "migrations",
            "--exit-code",
        ])
        .stdout();
    assert_eq!(same, "no difference between migrations and migrations\n");

    // From nothing, as JSON.
    let out = p
        .xtask([
            "migrate-diff",
            "--from",
            "empty",
            "--to",
            "schema",
            "--json",
        ])
        .ok();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["from"], "empty");
    assert_eq!(doc["to"], "schema");
    assert_eq!(doc["differs"], true);
    let changes = doc["changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c["object"]["kind"] == "table"
            && c["object"]["name"] == "doctor"
            && c["action"] == "create"),
        "{doc:#}"
    );
    assert!(
        doc["script"].as_str().unwrap().contains("CREATE TABLE"),
        "{doc:#}"
    );

    // With --exit-code, 2 means a difference and nothing else: an unset URL variable (a
    // usage error, 2, without the flag) exits 1.
    p.append(
        "pgshift.toml",
        "\n[env.prod]\nurl_env = \"PGSHIFT_DIFF_TEST_PROD_URL\"\n",
    );
    let err = p
        .xtask(["migrate-diff", "--from", "env:prod", "--to", "migrations"])
        .env_remove("PGSHIFT_DIFF_TEST_PROD_URL")
        .fails_with(2);
    assert!(err.contains("PGSHIFT_DIFF_TEST_PROD_URL"), "{err}");
    let err = p
        .xtask([
            "migrate-diff",
            "--from",
            "env:prod",
            "--to",
            "migrations",
            "--exit-code",
        ])
        .env_remove("PGSHIFT_DIFF_TEST_PROD_URL")
        .fails_with(1);
    assert!(err.contains("PGSHIFT_DIFF_TEST_PROD_URL"), "{err}");

    // A URL whose database does not exist: the hint is not the local database's.
    let missing =
        p.db.url()
            .replace(&format!("/{}", p.db.name), "/no_such_db");
    let out = p
        .xtask([
            "migrate-diff",
            "--from",
            missing.as_str(),
            "--to",
            "migrations",
        ])
        .output();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("create the database on that server, or fix the URL"),
        "{err}"
    );
    assert!(!err.contains("db up"), "{err}");

    // An unknown source is a usage error.
    let err = p
        .xtask(["migrate-diff", "--from", "nothing", "--to", "schema"])
        .fails_with(2);
    assert!(err.contains("`nothing` is not a source"), "{err}");
    // So is a missing or unknown argument; with --exit-code it is 1 too, and --json names
    // the missing argument.
    p.xtask(["migrate-diff", "--from", "schema"]).fails_with(2);
    p.xtask(["migrate-diff", "--from", "schema", "--exit-code"])
        .fails_with(1);
    p.xtask(["migrate-diff", "--exit-code", "--bogus"])
        .fails_with(1);
    let out = p
        .xtask(["migrate-diff", "--from", "schema", "--exit-code", "--json"])
        .output();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("not provided: --to <SOURCE>"), "{doc:#}");
    assert_eq!(doc["error"]["exit_code"], 1, "{doc:#}");
    assert_eq!(shadows(&p), "", "shadow databases left behind");
}

#[test]
fn a_bad_schema_file_names_its_file_and_line_and_leaves_no_shadow_database() {
    let p = project();
    p.write("schema/01_doctor.sql", DOCTOR);
    // The statement that starts on line 4 refers to a column that no file defines.
    p.write(
        "schema/02_index.sql",
        "-- Indexes.\r\n\r\nCREATE INDEX doctor_name ON doctor (name);\r\nCREATE INDEX doctor_age ON doctor\r\n  (age);\r\n",
    );
    let err = p
        .xtask(["migrate-diff", "--from", "migrations", "--to", "schema"])
        .fails_with(1);
    assert!(
        err.contains("schema/02_index.sql:4: column \"age\" does not exist; fix the schema folder"),
        "{err}"
    );
    // Where the server points inside a statement, that line.
    p.write(
        "schema/02_index.sql",
        "CREATE TABLE visit (\n  id bigint,\n  kind visit_kind\n);\n",
    );
    let err = p
        .xtask(["migrate-diff", "--from", "migrations", "--to", "schema"])
        .fails_with(1);
    assert!(
        err.contains("schema/02_index.sql:3: type \"visit_kind\" does not exist"),
        "{err}"
    );
    // A syntax error, found before any database is made.
    p.write(
        "schema/02_index.sql",
        "\u{feff}CREATE INDEX doctor_name ON doctor (name);\nCREATE TABLE x (;\n",
    );
    let err = p
        .xtask(["migrate-diff", "--from", "empty", "--to", "schema"])
        .fails_with(2);
    assert!(err.contains("schema/02_index.sql:2: "), "{err}");
    assert_eq!(shadows(&p), "", "shadow databases left behind");
}

#[test]
fn statements_that_reach_past_the_scratch_database_or_are_not_definitions_are_refused() {
    let p = project();
    p.write("schema/01_doctor.sql", DOCTOR);
    let database = p.db.name.clone();
    for (statement, says) in [
        (
            format!("DROP DATABASE {database}"),
            "DROP DATABASE acts on the server outside the database",
        ),
        (
            "CREATE DATABASE evil".into(),
            "CREATE DATABASE acts on the server",
        ),
        (
            format!("ALTER DATABASE {database} SET work_mem = '1MB'"),
            "ALTER DATABASE acts on the server",
        ),
        (
            format!("COMMENT ON DATABASE {database} IS 'x'"),
            "this COMMENT acts on the server",
        ),
        (
            format!("GRANT ALL ON DATABASE {database} TO PUBLIC"),
            "this GRANT acts on the server",
        ),
        (
            "ALTER SYSTEM SET work_mem = '64MB'".into(),
            "ALTER SYSTEM acts on the server",
        ),
        (
            "CREATE ROLE evil_role".into(),
            "CREATE ROLE acts on the server",
        ),
        (
            "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p".into(),
            "a subscription statement",
        ),
        (
            "COPY (SELECT 1) TO PROGRAM 'id > /tmp/pwned'".into(),
            "COPY is not a definition",
        ),
        (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity".into(),
            "SELECT is not a definition",
        ),
        (
            "INSERT INTO doctor VALUES (1, 'x')".into(),
            "INSERT is not a definition",
        ),
        (
            "DO $$ BEGIN PERFORM 1; END $$".into(),
            "DO is not a definition",
        ),
        (
            "CREATE TABLE copied AS SELECT * FROM doctor".into(),
            "CREATE TABLE ... AS",
        ),
        (
            "CREATE EVENT TRIGGER e ON ddl_command_end EXECUTE FUNCTION f()".into(),
            "an event trigger",
        ),
    ] {
        p.write("schema/05.sql", &format!("-- one more\n{statement};\n"));
        let err = p
            .xtask(["migrate-diff", "--from", "empty", "--to", "schema"])
            .fails_with(2);
        assert!(
            err.contains(&format!("schema/05.sql:2: {says}")),
            "{statement}: {err}"
        );
    }
    // Nothing reached the server; the database is still there, untouched.
    assert_eq!(
        p.db.sql("SELECT count(*) FROM pg_database WHERE datname = 'evil'"),
        "0"
    );
    assert_eq!(
        p.db.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'evil_role'"),
        "0"
    );
    assert_eq!(
        p.db.sql("SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database()"),
        ""
    );
    // pg_dump's preamble and its SET lines are fine.
    p.write(
        "schema/05.sql",
        "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\
         CREATE MATERIALIZED VIEW public.names AS SELECT name FROM public.doctor WITH NO DATA;\n",
    );
    p.xtask(["migrate-diff", "--from", "empty", "--to", "schema"])
        .ok();
    assert_eq!(shadows(&p), "", "shadow databases left behind");
}

#[test]
fn files_in_any_order_load_and_a_bom_and_crlf_are_fine() {
    let p = project();
    // Foreign keys point at a table of a later file and of an earlier one, in a subfolder;
    // CRLF line ends and a byte order mark.
    p.write(
        "schema/a_visit.sql",
        "\u{feff}CREATE TABLE visit (\r\n  id bigint PRIMARY KEY,\r\n  doctor_id bigint REFERENCES doctor (id)\r\n);\r\n",
    );
    p.write("schema/b_doctor.sql", DOCTOR);
    p.write(
        "schema/c_more/clinic.sql",
        "CREATE TABLE clinic (id bigint PRIMARY KEY, head bigint REFERENCES doctor (id));\n",
    );
    let out = p
        .xtask([
            "migrate-diff",
            "--from",
            "migrations",
            "--to",
            "schema",
            "--json",
        ])
        .ok();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let created: Vec<String> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "create")
        .map(|c| {
            format!(
                "{} {}",
                c["object"]["kind"].as_str().unwrap(),
                c["object"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert!(created.contains(&"table visit".to_string()), "{doc:#}");
    assert!(created.contains(&"table clinic".to_string()), "{doc:#}");
    assert!(!created.contains(&"table doctor".to_string()), "{doc:#}");
}

#[test]
fn a_column_added_by_hand_is_drift_and_migrate_dev_warns_before_the_bindings() {
    let p = project();
    p.xtask(["migrate-dev"]).ok();
    let clean = p.xtask(["migrate-status", "--drift"]).stdout();
    assert!(
        clean.contains("no drift: local (") && clean.contains("matches its 1 applied migration\n"),
        "{clean}"
    );

    // The story: a column added with ALTER TABLE went silently into the bindings.
    p.db.sql("ALTER TABLE doctor ADD COLUMN nickname text");
    let out = p
        .xtask(["migrate-status", "--drift", "--exit-code"])
        .output();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(5), "{all}");
    assert!(
        all.contains("column doctor.nickname exists in local but not in the migrations"),
        "{all}"
    );

    let out = p.xtask(["migrate-status", "--drift", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let drift = &doc["drift"];
    assert_eq!(drift["env"], "local");
    assert_eq!(drift["migrations"], 1);
    assert_eq!(drift["differences"][0]["action"], "create");
    assert_eq!(drift["differences"][0]["object"]["kind"], "column");
    assert_eq!(drift["differences"][0]["object"]["name"], "nickname");
    assert_eq!(
        drift["differences"][0]["message"],
        "column doctor.nickname exists in local but not in the migrations"
    );

    // migrate-dev says so before it regenerates the bindings (which still follow the database).
    let out = p.xtask(["migrate-dev"]).ok();
    let err = stderr(&out);
    let warned = err
        .find("warning: the local database (")
        .unwrap_or_else(|| panic!("no drift warning:\n{err}"));
    assert!(
        err.contains("column doctor.nickname exists in local but not in the migrations"),
        "{err}"
    );
    let regenerated = err
        .find("bindings updated")
        .or(err.find("bindings unchanged"))
        .unwrap();
    assert!(warned < regenerated, "{err}");

    // A migration that adds it ends the drift.
    p.db.sql("ALTER TABLE doctor DROP COLUMN nickname");
    p.write(
        "migrations/2_nickname.sql",
        "ALTER TABLE doctor ADD COLUMN nickname text;\n",
    );
    let out = p.xtask(["migrate-dev", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["drift"]["differences"],
        serde_json::json!([]),
        "{doc:#}"
    );
    assert!(!stderr(&out).contains("drifted"), "{}", stderr(&out));
    assert_eq!(shadows(&p), "", "shadow databases left behind");
}

#[test]
fn migrate_dev_writes_the_migration_from_the_schema_folder() {
    let p = project();
    p.xtask(["migrate-dev"]).ok();
    p.write(
        "schema/doctor.sql",
        "CREATE TABLE doctor (\n  id bigint PRIMARY KEY,\n  name text NOT NULL,\n  nickname text\n);\n\
         CREATE INDEX doctor_name ON doctor (name);\n",
    );

    // --create-only: written, linted, not applied.
    let out = p
        .xtask(["migrate-dev", "--name", "add_nickname", "--create-only"])
        .ok();
    let file = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        file.starts_with("migrations/") && file.ends_with("_add_nickname.sql"),
        "{}",
        text(&out)
    );
    let sql = p.read(&file);
    assert!(sql.starts_with("-- Changes:\n"), "{sql}");
    assert!(sql.contains("ADD COLUMN nickname text"), "{sql}");
    assert!(sql.contains("CREATE INDEX doctor_name"), "{sql}");
    // The lint ran on it: an index on an existing table without CONCURRENTLY.
    assert!(
        stderr(&out).contains("require-concurrent-index-creation"),
        "{}",
        text(&out)
    );
    assert_eq!(
        p.db.sql("SELECT count(*) FROM information_schema.columns WHERE column_name = 'nickname'"),
        "0"
    );

    // Applied by the next migrate-dev, bindings follow.
    p.xtask(["migrate-dev"]).ok();
    assert_eq!(
        p.db.sql("SELECT count(*) FROM information_schema.columns WHERE column_name = 'nickname'"),
        "1"
    );
    assert!(p
        .read("crates/db-schema/src/generated.rs")
        .contains("nickname"));

    // Nothing left to do: said, nothing written.
    let before = std::fs::read_dir(p.path("migrations")).unwrap().count();
    let out = p.xtask(["migrate-dev", "--name", "again", "--json"]).ok();
    assert!(
        stderr(&out).contains(
            "no difference between the schema folder and the migrations: no migration written"
        ),
        "{}",
        text(&out)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["changes"], serde_json::json!([]), "{doc:#}");
    assert!(doc.get("created").is_none(), "{doc:#}");
    assert_eq!(
        std::fs::read_dir(p.path("migrations")).unwrap().count(),
        before
    );

    // --concurrently: the index in a no-transaction migration, applied at once.
    p.append(
        "schema/doctor.sql",
        "CREATE INDEX doctor_nickname ON doctor (nickname);\n",
    );
    let out = p
        .xtask([
            "migrate-dev",
            "--name",
            "index_nickname",
            "--concurrently",
            "--json",
        ])
        .ok();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = doc["created"][0].as_str().unwrap().to_string();
    let sql = p.read(&file);
    assert!(sql.starts_with("-- no-transaction\n-- Changes:\n"), "{sql}");
    assert!(sql.contains("CREATE INDEX CONCURRENTLY"), "{sql}");
    assert_eq!(
        doc["applied"][0]["file"],
        file.trim_start_matches("migrations/"),
        "{doc:#}"
    );
    assert_eq!(shadows(&p), "", "shadow databases left behind");
}

#[test]
fn migrate_dev_without_a_schema_folder_still_creates_an_empty_migration() {
    let p = Project::new();
    let out = p
        .xtask(["migrate-dev", "--name", "by_hand", "--create-only"])
        .ok();
    let file = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(p.read(&file).starts_with("-- by_hand: created "), "{file}");
    let err = p
        .xtask(["migrate-diff", "--from", "migrations", "--to", "schema"])
        .fails_with(2);
    assert!(
        err.contains("this project has no schema folder; add `schema = \"schema\"` under [paths]"),
        "{err}"
    );
}

#[test]
fn schema_pull_writes_a_folder_that_matches_the_migrations() {
    let p = project();
    p.write(
        "migrations/2_more.sql",
        "CREATE TYPE visit_kind AS ENUM ('in_person', 'video');\n\
         CREATE TABLE visit (id bigint PRIMARY KEY, doctor_id bigint NOT NULL REFERENCES doctor (id), \
         kind visit_kind NOT NULL DEFAULT 'video', touched_at timestamptz);\n\
         CREATE INDEX visit_doctor ON visit (doctor_id);\n\
         CREATE TABLE billing_note (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, visit_id bigint UNIQUE REFERENCES visit (id) ON DELETE CASCADE);\n\
         CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched_at := now(); RETURN NEW; END $$;\n\
         CREATE TRIGGER visit_touch BEFORE UPDATE ON visit FOR EACH ROW EXECUTE FUNCTION touch();\n\
         CREATE VIEW doctor_visits AS SELECT d.name, count(v.id) AS visits FROM doctor d LEFT JOIN visit v ON v.doctor_id = d.id GROUP BY d.name;\n\
         CREATE TABLE \".hidden\" (id int);\nCREATE TABLE \"../../pwn\" (id int);\n",
    );
    p.xtask(["migrate-dev"]).ok();

    let out = p.xtask(["schema", "pull", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.contains(&"schema/03_tables/doctor.sql"), "{doc:#}");
    assert!(files.contains(&"schema/03_tables/visit.sql"), "{doc:#}");
    assert!(
        files.contains(&"schema/03_tables/billing_note.sql"),
        "{doc:#}"
    );
    assert!(p
        .read("schema/03_tables/visit.sql")
        .contains("CREATE INDEX visit_doctor"));
    // Names that would make hidden files (which the loader skips) or paths.
    assert!(files.contains(&"schema/03_tables/_.hidden.sql"), "{doc:#}");
    assert!(
        files.contains(&"schema/03_tables/_.._.._pwn.sql"),
        "{doc:#}"
    );

    // The folder it wrote is the migrations' schema.
    let out = p
        .xtask([
            "migrate-diff",
            "--from",
            "schema",
            "--to",
            "migrations",
            "--exit-code",
        ])
        .output();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Not over a folder that holds something, unless --force.
    let err = p.xtask(["schema", "pull"]).fails_with(2);
    assert!(err.contains("is not empty; pass --force"), "{err}");
    p.write("schema/03_tables/gone.sql", "CREATE TABLE gone (id int);\n");
    // --force replaces the folder's own .sql files and follows no link out of it.
    p.write("elsewhere/keep.sql", "CREATE TABLE keep (id int);\n");
    std::os::unix::fs::symlink(p.path("elsewhere"), p.path("schema/linked")).unwrap();
    p.xtask(["schema", "pull", "--force"]).ok();
    assert!(!p.path("schema/03_tables/gone.sql").exists());
    assert!(p.path("elsewhere/keep.sql").exists());
    assert!(p.path("migrations/2_more.sql").exists());
}

#[test]
fn a_schema_folder_that_is_the_project_or_holds_the_migrations_is_refused() {
    let p = Project::new();
    p.write("migrations/1_create_doctor.sql", DOCTOR);
    p.write("keep_root.sql", "SELECT 1;\n");
    for (schema, names) in [
        (".", "is the project folder"),
        ("./sub/..", "is the project folder"),
        ("migrations", "overlaps [paths] migrations"),
        ("migrations/schema", "overlaps [paths] migrations"),
        (".pgshift", "overlaps [paths] state"),
    ] {
        let config = p.read("pgshift.toml");
        p.append(
            "pgshift.toml",
            &format!("\n[paths]\nschema = \"{schema}\"\n"),
        );
        for args in [
            &["schema", "pull", "--force"][..],
            &["migrate-diff", "--from", "schema", "--to", "empty"],
        ] {
            let err = p.xtask(args).fails_with(2);
            assert!(err.contains(names), "{schema}: {err}");
            assert!(err.contains("use a folder of its own"), "{schema}: {err}");
        }
        p.write("pgshift.toml", &config);
    }
    assert!(p.path("migrations/1_create_doctor.sql").exists());
    assert!(p.path("keep_root.sql").exists());
}

#[test]
fn env_sources_read_a_protected_environment_without_changing_it() {
    let p = ProdProject::new();
    p.append("pgshift.toml", "\n[paths]\nschema = \"schema\"\n");
    p.write("migrations/1_create_doctor.sql", DOCTOR);
    p.xtask_prod(["migrate-deploy", "--env", "prod", "--yes"])
        .ok();
    // Someone changed production by hand; and from now on any write there would fail.
    p.prod_sql("ALTER TABLE doctor ADD COLUMN nickname text");
    p.prod_sql(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on",
        p.database
    ));
    let before = p.prod_sql(
        "SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY table_name, column_name) \
         FROM information_schema.columns WHERE table_schema = 'public'",
    );

    let out = p
        .xtask_prod([
            "migrate-diff",
            "--from",
            "env:prod",
            "--to",
            "migrations",
            "--exit-code",
        ])
        .output();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("nickname"), "{all}");
    assert!(
        !all.contains(&p.url),
        "the URL with its password was printed:\n{all}"
    );

    let out = p
        .xtask_prod(["migrate-status", "--env", "prod", "--drift"])
        .ok();
    let all = text(&out);
    assert!(
        all.contains("column doctor.nickname exists in prod but not in the migrations"),
        "{all}"
    );

    let after = p.prod_sql(
        "SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY table_name, column_name) \
         FROM information_schema.columns WHERE table_schema = 'public'",
    );
    assert_eq!(before, after);
    // No shadow database was made on production's server.
    assert_eq!(
        p.prod_sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'pgshift\\_%'"),
        "0"
    );
    // A URL as a source: read the same way, shown redacted.
    let out = p
        .xtask([
            "migrate-diff",
            "--from",
            &p.url,
            "--to",
            "env:prod",
            "--json",
        ])
        .env("PROD_DATABASE_URL", &p.url)
        .ok();
    let all = text(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["differs"], false, "{all}");
    assert!(doc["from"].as_str().unwrap().contains(":***@"), "{all}");
    assert!(
        !all.contains(support::prod::prod_cluster().password()),
        "{all}"
    );
    // An unknown environment is a usage error.
    let err = p
        .xtask([
            "migrate-diff",
            "--from",
            "env:staging",
            "--to",
            "migrations",
        ])
        .fails_with(2);
    assert!(err.contains("unknown environment `staging`"), "{err}");
}

#[test]
fn a_shadow_database_left_by_a_dead_process_is_dropped() {
    let p = project();
    let leftover = format!("pgshift_schema_{DEAD_PID}_1");
    p.db.sql(&format!("CREATE DATABASE {leftover}"));
    p.xtask(["migrate-diff", "--from", "migrations", "--to", "empty"])
        .ok();
    assert_eq!(
        p.db.sql(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{leftover}'"
        )),
        "0"
    );
}

#[test]
fn the_daemon_warns_about_drift_before_it_regenerates_the_bindings() {
    use std::io::{BufRead, BufReader};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let p = project();
    p.xtask(["migrate-dev"]).ok();
    p.db.sql("ALTER TABLE doctor ADD COLUMN nickname text");
    let mut command = p.xtask(["watch"]).command;
    command.stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("spawn xtask watch");
    let log = Arc::new(Mutex::new(String::new()));
    let stream = child.stderr.take().unwrap();
    let collected = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut log = collected.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = log.lock().unwrap().clone();
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {needle:?}; daemon log:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("watching");
    p.write(
        "migrations/2_visit.sql",
        "CREATE TABLE visit (id bigint PRIMARY KEY);\n",
    );
    let text = wait_for("synced 1 migration");
    let _ = child.kill();
    let _ = child.wait();
    let warned = text
        .find("column doctor.nickname exists in local but not in the migrations")
        .unwrap_or_else(|| panic!("no drift warning:\n{text}"));
    assert!(text.contains("has drifted from its migrations"), "{text}");
    assert!(warned < text.find("bindings updated").unwrap(), "{text}");
}

#[test]
fn a_rename_comment_already_done_by_a_migration_changes_nothing() {
    let p = project();
    p.write(
        "migrations/2_rename.sql",
        "ALTER TABLE doctor RENAME COLUMN name TO full_name;\n",
    );
    // The comment stays in the schema file after the migration that renamed.
    p.write(
        "schema/doctor.sql",
        "CREATE TABLE doctor (\n  id bigint PRIMARY KEY,\n  -- pgshift:renamed from=name\n  full_name text NOT NULL\n);\n",
    );
    let out = p
        .xtask([
            "migrate-diff",
            "--from",
            "migrations",
            "--to",
            "schema",
            "--exit-code",
        ])
        .output();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // One misplaced is an error that names its line.
    p.write(
        "schema/doctor.sql",
        "CREATE TABLE doctor (\n  id bigint PRIMARY KEY,\n  full_name text NOT NULL\n);\n-- pgshift:renamed from=name\n",
    );
    let err = p
        .xtask(["migrate-diff", "--from", "migrations", "--to", "schema"])
        .fails_with(2);
    assert!(
        err.contains("schema/doctor.sql:5: nothing follows this `-- pgshift:renamed` comment"),
        "{err}"
    );
}

#[test]
fn rename_comments_become_renames_in_the_diff() {
    let p = project();
    p.xtask(["migrate-dev"]).ok();
    p.db.sql("INSERT INTO doctor VALUES (1, 'Dr Who')");
    // The primary key keeps its name, so only the table and the column are renamed.
    p.write(
        "schema/doctor.sql",
        "-- pgshift:renamed from=doctor\nCREATE TABLE physician (\n  id bigint CONSTRAINT doctor_pkey PRIMARY KEY,\n  -- pgshift:renamed from=name\n  full_name text NOT NULL\n);\n",
    );
    let script = p
        .xtask([
            "migrate-diff",
            "--from",
            "migrations",
            "--to",
            "schema",
            "--script",
        ])
        .stdout();
    assert!(script.contains("RENAME TO physician"), "{script}");
    assert!(
        script.contains("RENAME COLUMN name TO full_name"),
        "{script}"
    );
    assert!(!script.contains("DROP"), "{script}");
    // migrate-dev writes and applies it: the row is still there.
    p.xtask(["migrate-dev", "--name", "rename_doctor"]).ok();
    assert_eq!(p.db.sql("SELECT full_name FROM physician"), "Dr Who");
    let out = p
        .xtask([
            "migrate-diff",
            "--from",
            "migrations",
            "--to",
            "schema",
            "--exit-code",
        ])
        .output();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Without the comments, a drop and a create, flagged.
    p.write(
        "schema/doctor.sql",
        "CREATE TABLE physician (\n  id bigint CONSTRAINT doctor_pkey PRIMARY KEY,\n  name text NOT NULL\n);\n",
    );
    let out = p
        .xtask(["migrate-diff", "--from", "migrations", "--to", "schema"])
        .stdout();
    assert!(out.contains("possible rename"), "{out}");
}

#[test]
fn a_rename_comment_that_cannot_be_done_is_an_error_never_a_drop() {
    let p = Project::new();
    p.append("pgshift.toml", "\n[paths]\nschema = \"schema\"\n");
    p.write(
        "migrations/1_tables.sql",
        "CREATE TABLE \"Mixed\" (id int PRIMARY KEY, \"Old Name\" text);\n\
         CREATE TABLE \"Tàble Ñame\" (id int PRIMARY KEY);\nCREATE TABLE a (id int);\n",
    );
    let diff = |p: &Project| p.xtask(["migrate-diff", "--from", "migrations", "--to", "schema"]);
    for (schema, says) in [
        // Folded to `mixed`, which does not exist; the hint shows the quoted name.
        (
            "-- pgshift:renamed from=Mixed\nCREATE TABLE \"Mixed2\" (id int PRIMARY KEY, \"Old Name\" text);\n",
            "schema/s.sql:1: `-- pgshift:renamed from=mixed`: there is no table public.mixed to rename; a name is folded to lower case unless it is quoted: write from=\"Mixed\"",
        ),
        (
            "-- pgshift:renamed from=a\nCREATE TABLE \"Mixed\" (id int PRIMARY KEY, \"Old Name\" text);\nCREATE TABLE \"Tàble Ñame\" (id int PRIMARY KEY);\n",
            "both public.a and \"Mixed\" already exist",
        ),
        (
            "CREATE TABLE \"Mixed\" (id int PRIMARY KEY, \"Old Name\" text);\nCREATE TABLE a (id int);\n-- pgshift:renamed from=a\nCREATE TABLE b (id int);\n",
            "the schema folder still defines table public.a",
        ),
        (
            "CREATE TABLE \"Mixed\" (\n  id int PRIMARY KEY,\n  -- pgshift:renamed from=nope\n  n text\n);\n",
            "schema/s.sql:3: `-- pgshift:renamed from=nope`: table \"Mixed\" has no column nope to rename",
        ),
        (
            "-- pgshift:renamd from=a\nCREATE TABLE b (id int);\n",
            "schema/s.sql:1: `-- pgshift:renamd` is not a pgshift comment",
        ),
        (
            "-- pgshift:renamed from=\"Mixed\"\nCREATE TABLE m1 (id int);\n-- pgshift:renamed from=\"Mixed\"\nCREATE TABLE m2 (id int);\n",
            "schema/s.sql:3: `-- pgshift:renamed from=\"Mixed\"`: schema/s.sql:1 renames the same one",
        ),
    ] {
        // The comment is checked before the diff: the rest of the file does not matter.
        p.write("schema/s.sql", schema);
        let err = diff(&p).fails_with(2);
        assert!(err.contains(says), "{schema}\n{err}");
    }
    // Names with capitals and spaces are renamed when quoted.
    p.write(
        "schema/s.sql",
        "-- pgshift:renamed from=\"Mixed\"\nCREATE TABLE \"Mixed2\" (\n  id int PRIMARY KEY,\n  -- pgshift:renamed from=\"Old Name\"  -- was this\n  \"New Name\" text\n);\n\
         -- pgshift:renamed from=\"Tàble Ñame\"\nCREATE TABLE \"Other Ñame\" (id int PRIMARY KEY);\nCREATE TABLE a (id int);\n",
    );
    let script = p
        .xtask([
            "migrate-diff",
            "--from",
            "migrations",
            "--to",
            "schema",
            "--script",
        ])
        .stdout();
    assert!(
        script.contains("ALTER TABLE public.\"Mixed\" RENAME TO \"Mixed2\""),
        "{script}"
    );
    assert!(
        script.contains("RENAME COLUMN \"Old Name\" TO \"New Name\""),
        "{script}"
    );
    assert!(script.contains("RENAME TO \"Other Ñame\""), "{script}");
    assert!(!script.contains("DROP TABLE"), "{script}");
}

#[test]
fn a_generated_migration_that_does_not_work_is_not_written_but_a_draft_can_be() {
    let p = project();
    // A domain over an enum whose value is removed: the enum is recreated, and the diff does
    // not yet rebuild a domain built on it (README: not covered), so the script fails.
    p.write(
        "migrations/2_mood.sql",
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\nCREATE DOMAIN cheerful AS mood CHECK (VALUE <> 'sad');\nCREATE TABLE note (id int PRIMARY KEY, m cheerful);\n",
    );
    p.xtask(["migrate-dev"]).ok();
    p.write("schema/doctor.sql", DOCTOR);
    p.write(
        "schema/mood.sql",
        "CREATE TYPE mood AS ENUM ('sad', 'happy');\nCREATE DOMAIN cheerful AS mood CHECK (VALUE <> 'sad');\nCREATE TABLE note (id int PRIMARY KEY, m cheerful);\n",
    );
    let files = |p: &Project| {
        let mut names: Vec<String> = std::fs::read_dir(p.path("migrations"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = files(&p);
    let err = p.xtask(["migrate-dev", "--name", "drop_ok"]).fails_with(1);
    assert!(
        err.contains("does not work on the migrations' state (rehearsed on a shadow database), so nothing was written or applied"),
        "{err}"
    );
    assert!(err.contains("the script fails: "), "{err}");
    assert!(err.contains("--create-only` writes the draft"), "{err}");
    assert_eq!(files(&p), before, "a file was written");
    assert_eq!(
        p.db.sql("SELECT count(*) FROM pg_enum WHERE enumlabel = 'ok'"),
        "1"
    );
    // As a draft, for review, it is written and says so, on top and in --json.
    let out = p
        .xtask([
            "migrate-dev",
            "--name",
            "drop_ok",
            "--create-only",
            "--json",
        ])
        .ok();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["rehearsal_failed"]
            .as_str()
            .unwrap()
            .starts_with("the script fails: "),
        "{doc:#}"
    );
    let file = doc["created"][0].as_str().unwrap();
    let draft = p.read(file);
    assert!(
        draft.starts_with("-- pgshift: DRAFT: rehearsed on the migrations' state"),
        "{draft}"
    );
    assert!(stderr(&out).contains("is a draft"), "{}", stderr(&out));
    assert_eq!(shadows(&p), "", "shadow databases left behind");
}

#[test]
fn a_folder_of_up_down_pairs_gets_a_generated_pair_that_migrate_down_reverts() {
    let p = Project::new();
    p.append("pgshift.toml", "\n[paths]\nschema = \"schema\"\n");
    p.write("migrations/1_create_doctor.up.sql", DOCTOR);
    p.write(
        "migrations/1_create_doctor.down.sql",
        "DROP TABLE doctor;\n",
    );
    p.xtask(["migrate-dev"]).ok();
    p.db.sql("INSERT INTO doctor VALUES (1, 'Dr Who')");
    p.write(
        "schema/doctor.sql",
        "-- pgshift:renamed from=doctor\nCREATE TABLE physician (\n  id bigint CONSTRAINT doctor_pkey PRIMARY KEY,\n  -- pgshift:renamed from=name\n  full_name text NOT NULL,\n  room int\n);\n",
    );
    let out = p
        .xtask(["migrate-dev", "--name", "physician", "--json"])
        .ok();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let created: Vec<&str> = doc["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(created.len(), 2, "{doc:#}");
    assert!(created[0].ends_with("_physician.up.sql"), "{doc:#}");
    assert!(created[1].ends_with("_physician.down.sql"), "{doc:#}");
    let down = p.read(created[1]);
    assert!(down.contains("RENAME TO doctor"), "{down}");
    assert!(down.contains("RENAME COLUMN full_name TO name"), "{down}");
    assert!(down.contains("DROP COLUMN room"), "{down}");
    assert_eq!(p.db.sql("SELECT full_name FROM physician"), "Dr Who");
    // Down, and the rows are still there under the old names; up again.
    p.xtask(["migrate-down"]).ok();
    assert_eq!(p.db.sql("SELECT name FROM doctor"), "Dr Who");
    p.xtask(["migrate-dev"]).ok();
    assert_eq!(p.db.sql("SELECT full_name FROM physician"), "Dr Who");
    assert_eq!(shadows(&p), "", "shadow databases left behind");
}

#[test]
fn what_the_folder_defines_that_no_comparison_reads_is_named() {
    let p = project();
    p.write("schema/doctor.sql", DOCTOR);
    p.write(
        "schema/audit.sql",
        "CREATE SCHEMA audit;\nCREATE TABLE audit.log (id int);\n\
         CREATE TABLE event (at date NOT NULL) PARTITION BY RANGE (at);\n\
         CREATE TABLE event_2026 PARTITION OF event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n",
    );
    let out = p
        .xtask(["migrate-diff", "--from", "migrations", "--to", "schema"])
        .ok();
    let err = stderr(&out);
    assert!(
        err.contains("defines objects in audit outside [codegen] schemas (public)"),
        "{err}"
    );
    assert!(
        err.contains("defines 1 partition (public.event_2026): partitions are not compared"),
        "{err}"
    );
}

#[test]
fn a_files_settings_hold_for_that_file_alone_even_when_a_statement_is_retried() {
    let p = project();
    p.append(
        "pgshift.toml",
        "\n[codegen]\nschemas = [\"public\", \"billing\"]\n",
    );
    // invoice's foreign key waits for doctor (a later file): retried, it still lands in
    // billing; the later file's unqualified names are public's, not billing's.
    p.write(
        "schema/a_billing.sql",
        "CREATE SCHEMA billing;\nSET search_path = billing -- for this file\n;\n\
         CREATE TABLE invoice (id int PRIMARY KEY, doctor_id bigint REFERENCES public.doctor (id));\n",
    );
    p.write("schema/b_doctor.sql", DOCTOR);
    let script = p
        .xtask([
            "migrate-diff",
            "--from",
            "empty",
            "--to",
            "schema",
            "--script",
        ])
        .stdout();
    assert!(script.contains("CREATE TABLE billing.invoice"), "{script}");
    assert!(script.contains("CREATE TABLE public.doctor"), "{script}");
    assert!(!script.contains("billing.doctor"), "{script}");
}
