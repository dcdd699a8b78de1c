//! The command line's own promises, driven through the real binary: one JSON document on
//! stdout for every command that takes --json (also on failure), hints that carry the
//! command's --env, checks before announcements, --help that lists only what a command
//! takes, migrate-resolve's names and rehearsal, and colour only on a terminal.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::{stderr, text, EmbeddedProject, Project, TestDb};

/// The one JSON document on stdout (serde_json refuses anything after it), with `ok`
/// matching the exit status.
fn document(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", text(out)));
    assert_eq!(
        json["ok"],
        Value::Bool(out.status.success()),
        "{}",
        text(out)
    );
    if !out.status.success() {
        let message = json["error"]["message"].as_str().unwrap();
        assert!(stderr(out).contains(message), "{}", text(out));
        assert_eq!(
            json["error"]["exit_code"].as_i64(),
            out.status.code().map(i64::from),
            "{}",
            text(out)
        );
    }
    json
}

/// A project whose `staging` environment is another database of the shared cluster.
fn project_with_staging() -> (Project, TestDb) {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "\n[env.staging]\nurl_env = \"STAGING_URL\"\n",
    );
    (p, TestDb::new())
}

#[test]
fn migrate_commands_print_one_json_document_on_success_and_failure() {
    let p = Project::new();
    let out = p
        .xtask(["migrate-new", "create_a", "--reversible", "--json"])
        .ok();
    let json = document(&out);
    assert_eq!(json["reversible"], true);
    let files: Vec<String> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(files.len(), 2, "{json}");
    p.write(&files[0], "CREATE TABLE a (id int);\n");
    p.write(&files[1], "DROP TABLE a;\n");

    let json = document(&p.xtask(["migrate-dev", "--json"]).ok());
    assert_eq!(json["applied"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["bindings"]["tables"], 1, "{json}");
    let json = document(&p.xtask(["--json", "migrate-status"]).ok());
    assert_eq!(json["summary"]["applied"], 1, "{json}");
    let json = document(&p.xtask(["generate", "--json"]).ok());
    assert_eq!(json["changed"], false, "{json}");
    let json = document(&p.xtask(["generate", "--check", "--json"]).ok());
    assert_eq!(json["stale"], false, "{json}");
    let json = document(&p.xtask(["migrate-down", "--json"]).ok());
    assert_eq!(json["reverted"].as_array().unwrap().len(), 1, "{json}");
    let json = document(&p.xtask(["migrate-reset", "--force", "--json"]).ok());
    assert_eq!(json["applied"].as_array().unwrap().len(), 1, "{json}");
    let json = document(
        &p.xtask(["migrate-dev", "--name", "add_b", "--create-only", "--json"])
            .ok(),
    );
    assert_eq!(json["created"].as_array().unwrap().len(), 2, "{json}");

    // Failures: still one document, with the error and what was known.
    let out = p
        .xtask(["migrate-resolve", "--applied", "1", "--json"])
        .output();
    let json = document(&out);
    assert_eq!(json["env"], "local", "{json}");
    let out = p.xtask(["migrate-new", "Bad Name", "--json"]).output();
    assert_eq!(document(&out)["error"]["exit_code"], 2);
    let out = p
        .xtask(["migrate-status", "--json", "--no-such-flag"])
        .output();
    assert!(document(&out)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--no-such-flag"));
    let out = p.xtask(["migrate-reset", "--json"]).output();
    assert_eq!(document(&out)["error"]["exit_code"], 2, "{}", text(&out));

    // A command that does not take --json refuses it with exit 2 and prints nothing.
    for args in [
        vec!["db", "psql", "--json"],
        vec!["--json", "db", "psql"],
        vec!["watch", "--json"],
        vec!["--json", "dev"],
    ] {
        let out = p.xtask(&args).output();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out));
    }
}

#[test]
fn a_failed_deploy_reports_what_it_applied_and_hints_with_its_env() {
    let (p, staging) = project_with_staging();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    p.write("migrations/2_b.sql", "CREATE TABLE b (id int);\n");
    // Outside a transaction, its first statement applied: repaired by hand, then resolved.
    p.write(
        "migrations/3_c.sql",
        "-- no-transaction\nCREATE TABLE c (id int);\nALTER TABLE nope ADD COLUMN x int;\n",
    );
    let out = p
        .xtask(["migrate-deploy", "--env", "staging", "--json"])
        .env("STAGING_URL", staging.url())
        .output();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json = document(&out);
    assert_eq!(json["env"], "staging", "{json}");
    let applied: Vec<&str> = json["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["file"].as_str().unwrap())
        .collect();
    assert_eq!(applied, ["1_a.sql", "2_b.sql"], "{json}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("3_c.sql"), "{message}");
    assert!(
        message.contains("`cargo xtask migrate-resolve --env staging --applied 3`"),
        "{message}"
    );
    assert!(
        !message.contains("`cargo xtask migrate-resolve --applied"),
        "{message}"
    );
    // The next deploy is blocked by the failure, with the same kind of hint.
    let err = p
        .xtask(["migrate-deploy", "--env", "staging"])
        .env("STAGING_URL", staging.url())
        .fails_with(1);
    assert!(
        err.contains("`cargo xtask migrate-resolve --env staging --rolled-back 3`"),
        "{err}"
    );

    // The name migrate-status prints (and with .sql) works; a wrong name is refused.
    let err = p
        .xtask([
            "migrate-resolve",
            "--env",
            "staging",
            "--rolled-back",
            "3_other",
        ])
        .env("STAGING_URL", staging.url())
        .fails_with(2);
    assert!(err.contains("3_c.sql"), "{err}");
    let out = p
        .xtask([
            "migrate-resolve",
            "--env",
            "staging",
            "--rolled-back",
            "3_c.sql",
            "--json",
        ])
        .env("STAGING_URL", staging.url())
        .ok();
    let json = document(&out);
    assert_eq!(json["resolution"], "rolled_back", "{json}");
    assert_eq!(json["file"], "3_c.sql", "{json}");

    // generate against staging: its hint regenerates from staging too.
    let out = p
        .xtask(["generate", "--env", "staging", "--check", "--json"])
        .env("STAGING_URL", staging.url())
        .output();
    let json = document(&out);
    assert_eq!(json["stale"], true, "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`cargo xtask generate --env staging`"),
        "{json}"
    );

    // A missing database of another environment: no `db up`, which starts the local one.
    let url = staging.url().replace(&staging.name, "no_such_database");
    let err = p
        .xtask(["migrate-status", "--env", "staging"])
        .env("STAGING_URL", &url)
        .fails_with(1);
    assert!(!err.contains("db up"), "{err}");
    assert!(err.contains("environment `staging`"), "{err}");
}

#[test]
fn resolve_applied_tries_the_file_on_the_local_database() {
    let (p, staging) = project_with_staging();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    p.write("migrations/2_b.sql", "ALTER TABLE nope ADD COLUMN x int;\n");
    p.xtask(["migrate-dev"]).fails_with(1);
    p.xtask(["migrate-deploy", "--env", "staging"])
        .env("STAGING_URL", staging.url())
        .fails_with(1);
    // Repaired by hand on staging, but the file still does not run.
    let out = p
        .xtask([
            "migrate-resolve",
            "--env",
            "staging",
            "--applied",
            "2_b",
            "--json",
        ])
        .env("STAGING_URL", staging.url())
        .ok();
    let json = document(&out);
    assert_eq!(json["rehearsal"]["outcome"], "failed", "{json}");
    assert!(
        stderr(&out).contains("2_b.sql does not run on the local database"),
        "{}",
        text(&out)
    );
    assert_eq!(p.db.sql("SELECT to_regclass('a') IS NULL"), "f");

    // A file that runs is tried and rolled back: nothing is left behind locally.
    let staging2 = TestDb::new();
    p.write("migrations/2_b.sql", "CREATE TABLE b (id int);\n");
    p.xtask(["migrate-resolve", "--rolled-back", "2"]).ok();
    p.write(
        "migrations/2_b.sql",
        "CREATE TABLE b (id int); SELECT 1/0;\n",
    );
    p.xtask(["migrate-deploy", "--env", "staging"])
        .env("STAGING_URL", staging2.url())
        .fails_with(1);
    p.write("migrations/2_b.sql", "CREATE TABLE b (id int);\n");
    let out = p
        .xtask([
            "migrate-resolve",
            "--env",
            "staging",
            "--applied",
            "2_b.sql",
            "--json",
        ])
        .env("STAGING_URL", staging2.url())
        .output();
    // The file changed after the failure: whatever resolve says of that, the rehearsal ran.
    let json = document(&out);
    assert_eq!(json["rehearsal"]["outcome"], "ran", "{json}");
    assert_eq!(p.db.sql("SELECT to_regclass('b') IS NULL"), "t");
}

#[test]
fn reset_refuses_before_it_announces_the_drop() {
    let (p, staging) = project_with_staging();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    // The local database deployed as staging carries staging's marker.
    p.xtask(["migrate-deploy", "--env", "staging"])
        .env("STAGING_URL", p.db.url())
        .ok();
    drop(staging);
    let out = p.xtask(["migrate-reset", "--force"]).output();
    assert!(!out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("staging"), "{err}");
    assert!(!err.contains("dropping and recreating"), "{err}");
    assert_eq!(p.db.sql("SELECT to_regclass('a') IS NULL"), "f");
}

#[test]
fn help_lists_only_the_flags_a_command_takes_and_an_example() {
    let p = Project::empty();
    let help = |args: &[&str]| -> String {
        let out = p.xtask(args.iter().chain(&["--help"])).ok();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    for command in [
        &["db", "up"][..],
        &["db", "down"],
        &["db", "status"],
        &["db", "url"],
        &["db", "logs"],
        &["migrate-new"],
        &["migrate-dev"],
        &["migrate-down"],
        &["watch"],
        &["dev"],
        &["daemon", "start"],
        &["daemon", "stop"],
        &["daemon", "status"],
    ] {
        let help = help(command);
        assert!(!help.contains("--env"), "{command:?}:\n{help}");
        assert!(help.contains("Example: "), "{command:?}:\n{help}");
    }
    for command in [
        &["migrate-status"][..],
        &["migrate-deploy"],
        &["migrate-resolve"],
        &["generate"],
        &["lint"],
        &["db", "psql"],
    ] {
        let help = help(command);
        assert!(help.contains("--env <NAME>"), "{command:?}:\n{help}");
        assert!(help.contains("Example: "), "{command:?}:\n{help}");
    }
    for command in [&["db", "psql"][..], &["watch"], &["dev"]] {
        assert!(!help(command).contains("--json"), "{command:?}");
    }
    for command in [&["db", "up"][..], &["migrate-status"], &["generate"]] {
        assert!(!help(command).contains("--yes"), "{command:?}");
    }
    assert!(help(&["doctor"]).contains("Example: "));
    // The local-only commands still take `--env local`, and refuse another one saying why.
    let err = p.xtask(["db", "status", "--env", "staging"]).fails_with(2);
    assert!(err.contains("manages the local database only"), "{err}");
    // --env or --json before a command that does not take it is refused.
    let err = p
        .xtask(["--env", "staging", "migrate-new", "x"])
        .fails_with(2);
    assert!(err.contains("`migrate-new` does not take --env"), "{err}");
    let err = p.xtask(["--json", "bench", "migrate"]).fails_with(2);
    assert!(
        err.contains("`bench migrate` does not take --json"),
        "{err}"
    );
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let p = Project::new();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    p.write("migrations/2_b.sql", "CREATE TABLE b (id int);\n");
    p.xtask(["migrate-deploy"]).ok();
    std::fs::remove_file(p.path("migrations/2_b.sql")).unwrap();
    p.write("migrations/3_c.sql", "CREATE TABLE c (id int);\n");
    // Redirected stdout and stderr, debug logs on: no escape code anywhere.
    let out = p
        .xtask(["-vv", "migrate-status"])
        .env_remove("NO_COLOR")
        .ok();
    assert!(!out.stderr.contains(&0x1b), "{}", text(&out));
    assert!(!out.stdout.contains(&0x1b), "{}", text(&out));
    assert!(stderr(&out).contains("DEBUG"), "{}", text(&out));

    // On a terminal (script(1) gives the command one): applied green, pending yellow,
    // missing red; with NO_COLOR, none.
    let on_terminal_run = |args: &str, no_color: Option<&str>| -> Output {
        let mut command = Command::new("script");
        command
            .args([
                "-qec",
                &format!("{} {args}", env!("CARGO_BIN_EXE_xtask")),
                "/dev/null",
            ])
            .current_dir(&p.dir)
            .env_remove("NO_COLOR")
            .env_remove("DATABASE_URL");
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        command.output().expect("script(1)")
    };
    let on_terminal = |no_color: Option<&str>| -> String {
        let out = on_terminal_run("migrate-status", no_color);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let coloured = on_terminal(None);
    assert!(coloured.contains("\x1b[32mapplied"), "{coloured:?}");
    assert!(coloured.contains("\x1b[33mpending"), "{coloured:?}");
    assert!(coloured.contains("\x1b[31mmissing"), "{coloured:?}");
    let plain = on_terminal(Some("1"));
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(plain.contains("applied"), "{plain:?}");
    // doctor's ok, warn and FAIL too (whatever this machine's checks find).
    let doctor = on_terminal_run("doctor", None);
    let doctor = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.contains("\x1b[32mok"), "{doctor:?}");
    let doctor = on_terminal_run("doctor", Some("1"));
    assert!(!doctor.stdout.contains(&0x1b), "{}", text(&doctor));
}

#[test]
fn db_commands_print_one_json_document() {
    let p = EmbeddedProject::new();
    // No server yet: no log to show, a failure document.
    let out = p.xtask(["db", "logs", "--json"]).output();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(document(&out)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no server log yet"));
    let json = document(&p.xtask(["db", "up", "--json"]).ok());
    assert_eq!(json["started"], true, "{json}");
    assert_eq!(json["backend"], "embedded", "{json}");
    let json = document(&p.xtask(["--json", "db", "up"]).ok());
    assert_eq!(json["started"], false, "{json}");
    let json = document(&p.xtask(["db", "url", "--json"]).ok());
    assert!(
        json["url"].as_str().unwrap().starts_with("postgres://"),
        "{json}"
    );
    let json = document(&p.xtask(["db", "status", "--json"]).ok());
    assert_eq!(json["running"], true, "{json}");
    let json = document(&p.xtask(["db", "logs", "-n", "5", "--json"]).ok());
    assert!(!json["lines"].as_array().unwrap().is_empty(), "{json}");
    let json = document(&p.xtask(["daemon", "status", "--json"]).ok());
    assert_eq!(json["running"], false, "{json}");
    let json = document(&p.xtask(["daemon", "stop", "--json"]).ok());
    assert_eq!(json["stopped"], false, "{json}");
    let json = document(&p.xtask(["db", "down", "--json"]).ok());
    assert_eq!(json["stopped"], true, "{json}");
    // Another environment is refused, in JSON too.
    let out = p.xtask(["db", "up", "--env", "prod", "--json"]).output();
    assert_eq!(document(&out)["error"]["exit_code"], 2);
}

#[test]
fn dev_names_itself_when_it_refuses() {
    let (p, staging) = project_with_staging();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    // The local database, deployed as staging, carries staging's marker.
    p.xtask(["migrate-deploy", "--env", "staging"])
        .env("STAGING_URL", p.db.url())
        .ok();
    drop(staging);
    let err = p.xtask(["dev"]).fails_with(1);
    assert!(err.contains("`dev`"), "{err}");
    assert!(!err.contains("`watch`"), "{err}");

    // A .env that points local work at another machine.
    p.write(
        ".env",
        "DATABASE_URL=postgres://app@db.example.com:5432/app\n",
    );
    let err = p.xtask(["dev"]).fails_with(2);
    assert!(
        err.contains("`dev` only works on a database on this machine"),
        "{err}"
    );
}
