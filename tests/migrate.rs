//! The migration commands against a real server: apply, status, failures, file errors,
//! transactions, no-transaction files, edits.

mod support;

use expect_test::expect;
use support::{stderr, text, Project};

/// The status table with times blanked and columns squeezed to two spaces, for snapshots.
fn status(p: &Project) -> String {
    let out = p.xtask(["migrate-status"]).stdout();
    out.lines()
        .map(|line| {
            let fields: Vec<&str> = line
                .split("  ")
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(|w| {
                    if w.ends_with(" UTC") && w.starts_with("20") {
                        "<time>"
                    } else if w.ends_with(" ms") && w.trim_end_matches(" ms").parse::<f64>().is_ok()
                    {
                        "<ms>"
                    } else {
                        w
                    }
                })
                .collect();
            let indent = if line.starts_with("  ") { "  " } else { "" };
            format!("{indent}{}", fields.join("  "))
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace(&p.db.name, "<db>")
        .replace(&support::cluster().port().to_string(), "<port>")
}

#[test]
fn dev_applies_in_order_and_status_tells_each_state() {
    let p = Project::new();
    p.write(
        "migrations/20260101000000_create_doctor.sql",
        "CREATE TABLE doctor (id bigint PRIMARY KEY, name text NOT NULL);\n",
    );
    p.write(
        "migrations/20260102000000_add_note.up.sql",
        "ALTER TABLE doctor ADD COLUMN note text;\nINSERT INTO doctor VALUES (1, 'semi;colon');\n",
    );
    p.write(
        "migrations/20260102000000_add_note.down.sql",
        "ALTER TABLE doctor DROP COLUMN note;\n",
    );
    expect![[r#"
        local (127.0.0.1:<port>/<db>)
          pending  20260101000000_create_doctor
          pending  20260102000000_add_note
        2 pending"#]]
    .assert_eq(&status(&p));
    let out = p.xtask(["migrate-status", "--exit-code"]).output();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));

    let out = p.xtask(["migrate-dev"]).ok();
    let err = stderr(&out);
    assert!(
        err.contains("applied 20260101000000_create_doctor ("),
        "{err}"
    );
    assert!(err.contains("applied 20260102000000_add_note ("), "{err}");
    assert!(
        err.contains("applied 2 migrations to local (127.0.0.1:"),
        "{err}"
    );
    assert_eq!(p.db.sql("SELECT name FROM doctor"), "semi;colon");
    // The history row as sqlx writes it: description from the file name, SHA-384, ns.
    assert_eq!(
        p.db.sql("SELECT version, description, success, encode(checksum, 'hex') = encode(sha384(convert_to(E'CREATE TABLE doctor (id bigint PRIMARY KEY, name text NOT NULL);\\n', 'UTF8')), 'hex'), execution_time > 0 FROM _sqlx_migrations ORDER BY version LIMIT 1"),
        "20260101000000|create doctor|t|t|t"
    );
    // Who applied it, from where.
    assert_eq!(
        p.db.sql("SELECT action, env, os_user IS NOT NULL, host IS NOT NULL FROM _pgshift_log ORDER BY id LIMIT 1"),
        "applied|local|t|t"
    );
    expect![[r#"
        local (127.0.0.1:<port>/<db>)
          applied  20260101000000_create_doctor  <time>  <ms>
          applied  20260102000000_add_note  <time>  <ms>
        2 applied"#]]
    .assert_eq(&status(&p));
    p.xtask(["migrate-status", "--exit-code"]).ok();

    let again = p.xtask(["migrate-dev"]).ok();
    assert!(
        stderr(&again).contains("nothing to apply to local"),
        "{}",
        text(&again)
    );
}

#[test]
fn failing_migration_names_file_line_statement_and_blocks_later_ones() {
    let p = Project::new();
    p.write("migrations/1_good.sql", "CREATE TABLE a (id int);\n");
    p.write(
        "migrations/2_bad.sql",
        "CREATE TABLE b (id int);\n\n-- the next statement fails at run time\nINSERT INTO b\n  SELECT id FROM missing_table;\nCREATE TABLE c (id int);\n",
    );
    p.write("migrations/3_later.sql", "CREATE TABLE d (id int);\n");
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("applied 1_good"), "{err}");
    assert!(
        err.contains("migration 2_bad.sql failed on local (127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.contains("at line 5: relation \"missing_table\" does not exist"),
        "{err}"
    );
    assert!(
        err.contains("statement: INSERT INTO b SELECT id FROM missing_table"),
        "{err}"
    );
    assert!(err.contains("nothing of it was applied"), "{err}");
    // Nothing of 2 (not even its first statement), nothing of 3.
    assert_eq!(p.db.sql("SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relname IN ('a','b','c','d')"), "a");
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "1");
    assert_eq!(
        p.db.sql("SELECT action, line, statement FROM _pgshift_log WHERE version = 2"),
        "failed|5|INSERT INTO b\n  SELECT id FROM missing_table"
    );
    expect![[r#"
        local (127.0.0.1:<port>/<db>)
          applied  1_good  <time>  <ms>
          failed  2_bad  line 5:  relation "missing_table" does not exist
          pending  3_later
        1 applied, 1 pending, 1 failed"#]]
    .assert_eq(&status(&p));
    let out = p.xtask(["migrate-status", "--exit-code"]).output();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));

    // Deploy refuses until resolved, naming the command that fixes it.
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("2_bad.sql failed"), "{err}");
    assert!(err.contains("migrate-resolve --rolled-back 2"), "{err}");

    // Local work retries it once fixed (the daemon's loop).
    p.write("migrations/2_bad.sql", "CREATE TABLE b (id int);\n");
    let out = p.xtask(["migrate-dev"]).ok();
    assert!(stderr(&out).contains("applied 2_bad"), "{}", text(&out));
    assert!(stderr(&out).contains("applied 3_later"), "{}", text(&out));
}

#[test]
fn syntax_error_line_comes_from_the_server_position() {
    let p = Project::new();
    p.write(
        "migrations/1_typo.sql",
        "CREATE TABLE a (id int);\nCREATE TABLE b (\n  id int,\n  name txet NOT NUL\n);\n",
    );
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(err.contains("1_typo.sql failed on local"), "{err}");
    assert!(
        err.contains("at line 4: syntax error at or near \"NUL\""),
        "{err}"
    );
    assert!(
        err.contains("statement: CREATE TABLE b ( id int, name txet NOT NUL )"),
        "{err}"
    );
    assert_eq!(
        p.db.sql("SELECT count(*) FROM pg_class WHERE relname = 'a'"),
        "0"
    );
}

#[test]
fn transactional_file_with_concurrently_is_rejected_before_anything_is_sent() {
    let p = Project::new();
    p.write("migrations/1_table.sql", "CREATE TABLE a (id int);\n");
    p.write(
        "migrations/2_index.sql",
        "CREATE TABLE b (id int);\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
    );
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    expect![[r#"
        error: 2_index.sql line 2: CREATE INDEX CONCURRENTLY cannot run inside a transaction, and this migration runs in one; make `-- no-transaction` the first line of the file (best with that statement alone in its migration); nothing was applied
    "#]]
    .assert_eq(&err);
    // Rejected before anything was sent: not even 1 is applied.
    assert_eq!(
        p.db.sql("SELECT count(*) FROM pg_class WHERE relname IN ('a', 'b')"),
        "0"
    );

    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(err.contains("CREATE INDEX CONCURRENTLY"), "{err}");
    p.write(
        "migrations/1_table.sql",
        "CREATE TABLE a (id int);\nCOMMIT;\n",
    );
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(
        err.contains("1_table.sql line 2: `COMMIT` controls the transaction"),
        "{err}"
    );
}

#[test]
fn no_transaction_files_run_statement_by_statement_and_record_partial_failures() {
    let p = Project::new();
    p.write("migrations/1_table.sql", "CREATE TABLE a (id int);\n");
    p.write(
        "migrations/2_index.sql",
        "-- no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
    );
    p.xtask(["migrate-dev"]).ok();
    assert_eq!(
        p.db.sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'a_id'::regclass"),
        "t"
    );
    assert_eq!(
        p.db.sql("SELECT success FROM _sqlx_migrations WHERE version = 2"),
        "t"
    );

    p.write(
        "migrations/3_partial.sql",
        "-- no-transaction\nCREATE TABLE c (id int);\nCREATE INDEX CONCURRENTLY c_x ON c (no_such_column);\n",
    );
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(err.contains("3_partial.sql failed on local"), "{err}");
    assert!(err.contains("at line 3"), "{err}");
    assert!(err.contains("no_such_column"), "{err}");
    assert!(err.contains("migrate-resolve --applied 3"), "{err}");
    // Part of it stayed, and both sqlx's table and pgshift's log say so.
    assert_eq!(
        p.db.sql("SELECT count(*) FROM pg_class WHERE relname = 'c'"),
        "1"
    );
    assert_eq!(
        p.db.sql("SELECT success FROM _sqlx_migrations WHERE version = 3"),
        "f"
    );
    assert_eq!(
        p.db.sql("SELECT partial FROM _pgshift_log WHERE version = 3 AND action = 'failed'"),
        "t"
    );
    let table = status(&p);
    assert!(table.contains("failed  3_partial  line 3:"), "{table}");
    assert!(table.contains("(possibly partial)"), "{table}");
    // Even local work stops on a possibly partial migration.
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(err.contains("3_partial.sql failed part-way"), "{err}");
}

#[test]
fn edited_applied_file_is_named_with_both_checksums_and_line_endings_get_their_own_hint() {
    let p = Project::new();
    p.write(
        "migrations/1_a.sql",
        "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n",
    );
    p.xtask(["migrate-dev"]).ok();
    p.write(
        "migrations/1_a.sql",
        "CREATE TABLE a (id int);\r\nCREATE TABLE b (id int);\r\n",
    );
    p.write("migrations/2_next.sql", "CREATE TABLE c (id int);\n");
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("nothing was applied to local"), "{err}");
    assert!(
        err.contains("1_a.sql was applied, then only its line endings changed (CRLF vs LF)"),
        "{err}"
    );
    assert!(err.contains("*.sql text eol=lf"), "{err}");
    assert_eq!(
        p.db.sql("SELECT count(*) FROM pg_class WHERE relname = 'c'"),
        "0"
    );
    assert!(
        status(&p).contains("modified  1_a  <time>  <ms>  only line endings changed (CRLF vs LF)")
    );

    p.write(
        "migrations/1_a.sql",
        "CREATE TABLE a (id bigint);\nCREATE TABLE b (id int);\n",
    );
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    let applied =
        p.db.sql("SELECT encode(checksum, 'hex') FROM _sqlx_migrations WHERE version = 1");
    let now = p.db.sql("SELECT encode(sha384(convert_to(E'CREATE TABLE a (id bigint);\\nCREATE TABLE b (id int);\\n', 'UTF8')), 'hex')");
    assert!(
        err.contains(&format!(
            "1_a.sql was edited after it was applied (checksum {} applied vs {} now)",
            &applied[..16],
            &now[..16]
        )),
        "{err}"
    );
    assert!(err.contains("migrate-reset"), "{err}");
    let out = p.xtask(["migrate-status", "--exit-code"]).output();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let json: serde_json::Value =
        serde_json::from_str(&p.xtask(["--json", "migrate-status"]).stdout()).unwrap();
    assert_eq!(json["migrations"][0]["state"], "modified");
    assert_eq!(json["migrations"][0]["applied_checksum"], applied);
    assert_eq!(json["migrations"][0]["file_checksum"], now);
}

#[test]
fn bad_file_names_are_reported_by_name() {
    let p = Project::new();
    p.write("migrations/1_ok.sql", "SELECT 1;\n");
    p.write("migrations/createusers.sql", "SELECT 1;\n");
    p.write("migrations/v2_users.sql", "SELECT 1;\n");
    p.write("migrations/3_one.sql", "SELECT 1;\n");
    p.write("migrations/3_two.sql", "SELECT 1;\n");
    p.write("migrations/4_pair.up.sql", "SELECT 1;\n");
    p.write("migrations/notes.txt", "not sql: ignored\n");
    let err = p.xtask(["migrate-status"]).fails_with(1);
    let err = err.replace(&p.dir.display().to_string(), "<project>");
    expect![[r#"
        error: the migrations folder <project>/migrations has 4 files it cannot use:
          createusers.sql: no `_` between version and name; expected <version>_<name>.sql (sqlx skips it silently)
          v2_users.sql: `v2` is not a version: expected digits such as a UTC timestamp YYYYMMDDHHMMSS
          3_one.sql, 3_two.sql: 2 files share version 3; each migration needs its own version
          4_pair.up.sql: an .up.sql without its .down.sql; add 4_pair.down.sql (or rename this file to 4_pair.sql)
        rename or remove them; migrations are named <version>_<name>.sql (or .up.sql + .down.sql), e.g. `cargo xtask migrate-new add_users`
    "#]]
    .assert_eq(&err);
    p.xtask(["migrate-dev"]).fails_with(1);
    assert_eq!(
        p.db.sql("SELECT to_regclass('_sqlx_migrations') IS NULL"),
        "t"
    );
}

#[test]
fn missing_and_out_of_order_migrations() {
    let p = Project::new();
    p.write("migrations/1_a.sql", "CREATE TABLE a ();\n");
    p.write("migrations/3_c.sql", "CREATE TABLE c ();\n");
    p.xtask(["migrate-deploy"]).ok();
    // A branch merge brings an older migration; another file disappears.
    p.write("migrations/2_b.sql", "CREATE TABLE b ();\n");
    std::fs::remove_file(p.path("migrations/1_a.sql")).unwrap();
    expect![[r#"
        local (127.0.0.1:<port>/<db>)
          missing  1_a  <time>  <ms>  file gone
          out-of-order  2_b
          applied  3_c  <time>  <ms>
        1 applied, 1 out-of-order, 1 missing"#]]
    .assert_eq(&status(&p));
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(
        err.contains("migration 1 (a) was applied but its file is gone"),
        "{err}"
    );
    assert!(
        err.contains("2_b.sql is pending but older than the newest applied migration 3"),
        "{err}"
    );
    p.write("migrations/1_a.sql", "CREATE TABLE a ();\n");
    p.xtask(["migrate-deploy"]).fails_with(1);
    p.xtask(["migrate-deploy", "--allow-out-of-order"]).ok();
    assert_eq!(
        p.db.sql("SELECT count(*) FROM pg_class WHERE relname = 'b'"),
        "1"
    );
}

#[test]
fn deploy_json_and_dry_run() {
    let p = Project::new();
    p.write("migrations/1_a.sql", "CREATE TABLE a ();\n");
    p.write(
        "migrations/2_b.sql",
        "-- no-transaction\nCREATE TABLE b ();\n",
    );
    let out = p.xtask(["migrate-deploy", "--dry-run"]).ok();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1_a.sql\n2_b.sql  (-- no-transaction)\n"
    );
    assert!(
        stderr(&out).contains("dry run: would apply 2 migration(s)"),
        "{}",
        text(&out)
    );
    assert_eq!(
        p.db.sql("SELECT to_regclass('_sqlx_migrations') IS NULL"),
        "t"
    );

    let json: serde_json::Value =
        serde_json::from_str(&p.xtask(["--json", "migrate-deploy"]).stdout()).unwrap();
    assert_eq!(json["env"], "local");
    assert_eq!(json["dry_run"], false);
    assert_eq!(json["already_applied"], 0);
    assert_eq!(json["applied"][0]["file"], "1_a.sql");
    assert_eq!(json["applied"][1]["description"], "b");
    assert!(json["applied"][1]["duration_ms"].as_f64().unwrap() > 0.0);
    let json: serde_json::Value =
        serde_json::from_str(&p.xtask(["--json", "migrate-status"]).stdout()).unwrap();
    assert_eq!(json["summary"]["applied"], 2);
    assert_eq!(json["migrations"][1]["state"], "applied");
    assert_eq!(json["migrations"][1]["file"], "2_b.sql");
}

#[test]
fn migrate_new_names_files_and_never_collides() {
    let p = Project::new();
    let first = p.xtask(["migrate-new", "add_users"]).stdout();
    let second = p.xtask(["migrate-new", "add_users"]).stdout();
    assert!(
        first.starts_with("migrations/20") && first.trim_end().ends_with("_add_users.sql"),
        "{first}"
    );
    assert_ne!(first, second);
    assert!(second.trim_end() > first.trim_end(), "{first} {second}");
    let pair = p
        .xtask(["migrate-new", "add_index", "--reversible"])
        .stdout();
    let lines: Vec<&str> = pair.lines().collect();
    assert!(
        lines[0].ends_with("_add_index.up.sql") && lines[1].ends_with("_add_index.down.sql"),
        "{pair}"
    );
    // The newest is a pair, so the next one is too, as sqlx-cli does.
    assert!(p
        .xtask(["migrate-new", "more"])
        .stdout()
        .contains(".up.sql"));
    assert!(p
        .xtask(["migrate-new", "single", "--simple"])
        .stdout()
        .trim_end()
        .ends_with("_single.sql"));
    let err = p.xtask(["migrate-new", "Add-Users"]).fails_with(2);
    assert!(err.contains("`Add-Users` is not a migration name"), "{err}");
    // The created files are still templates: migrate-dev waits for them rather than record
    // empty migrations that the next edit would turn into "edited after it was applied".
    let out = p.xtask(["migrate-dev"]).ok();
    assert!(
        support::stderr(&out).contains("is still the empty template `migrate-new` wrote"),
        "{}",
        support::text(&out)
    );
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "0");

    let out = p
        .xtask(["migrate-dev", "--name", "add_doctor", "--create-only"])
        .ok();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("_add_doctor"),
        "{}",
        text(&out)
    );
    p.xtask(["migrate-status", "--exit-code"]).fails_with(3);
}

#[test]
fn the_splitter_agrees_with_the_server_on_where_statements_end() {
    let p = Project::new();
    // Every construct that hides a semicolon, then a statement that fails at run time (no
    // position from the server): the error must name that statement and its line.
    p.write(
        "migrations/1_tricky.sql",
        "CREATE TABLE t (a text);\n\
         INSERT INTO t VALUES ('semi;colon'), (E'it\\'s;'), ($tag$ $$; $tag$);\n\
         /* a /* nested; */ comment; */\n\
         CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n\
         CREATE FUNCTION g() RETURNS text AS $$ SELECT 'x;y' $$ LANGUAGE sql;\n\
         -- a comment; with a semicolon\n\
         SELECT \"a;b\" FROM (SELECT 1 AS \"a;b\") s;\n\
         INSERT INTO t SELECT (1/0)::text;\n",
    );
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(err.contains("1_tricky.sql failed on local"), "{err}");
    assert!(err.contains("at line 8: division by zero"), "{err}");
    assert!(
        err.contains("statement: INSERT INTO t SELECT (1/0)::text"),
        "{err}"
    );
    assert_eq!(p.db.sql("SELECT to_regclass('t') IS NULL"), "t");
    p.write(
        "migrations/1_tricky.sql",
        &p.read("migrations/1_tricky.sql")
            .replace("(1/0)::text", "f()::text || g()"),
    );
    p.xtask(["migrate-dev"]).ok();
    assert_eq!(
        p.db.sql("SELECT string_agg(a, ' ' ORDER BY a) FROM t"),
        " $$;  2x;y it's; semi;colon"
    );
}

#[test]
fn a_syntax_error_in_a_later_migration_still_lets_the_earlier_ones_apply() {
    // Transactional migrations travel together in one message, which the server parses
    // whole before running any of it.
    let p = Project::new();
    p.write("migrations/1_good.sql", "CREATE TABLE good (id int);\n");
    p.write(
        "migrations/2_typo.sql",
        "CREATE TABLE typo (id int);\nCRATE TABLE x (id int);\n",
    );
    p.write("migrations/3_later.sql", "CREATE TABLE later (id int);\n");
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(err.contains("applied 1_good"), "{err}");
    assert!(
        err.contains("migration 2_typo.sql failed on local"),
        "{err}"
    );
    assert!(
        err.contains("at line 2: syntax error at or near \"CRATE\""),
        "{err}"
    );
    // No ROLLBACK was sent without a transaction to roll back.
    assert!(!err.contains("no transaction in progress"), "{err}");
    assert_eq!(
        p.db.sql("SELECT string_agg(version::text, ',') FROM _sqlx_migrations"),
        "1"
    );
    assert_eq!(
        p.db.sql("SELECT to_regclass('typo') IS NULL AND to_regclass('later') IS NULL"),
        "t"
    );
}
