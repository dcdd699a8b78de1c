//! Deploying to production: a shell `DATABASE_URL` is never silently replaced by the local
//! database, a protected environment asks for consent, and migrations that the local
//! database never ran are named. Against the TLS cluster of `support::prod`.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::prod::ProdProject;
use support::{prod_cluster, stderr, text, Project};

/// A project with a protected `prod` environment on a fresh database of the prod cluster,
/// whose URL (fully verified TLS) is returned; migrations `1_a` and `2_b`.
fn prod_project() -> (ProdProject, String, String) {
    let p = ProdProject::new();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    p.write("migrations/2_b.sql", "CREATE TABLE b (id int);\n");
    let (database, url) = (p.database.clone(), p.url.clone());
    (p, database, url)
}

fn prod_tables(database: &str) -> String {
    prod_cluster().sql(
        database,
        "SELECT count(*) FROM pg_tables WHERE tablename IN ('a', 'b')",
    )
}

fn local_has_history(p: &Project) -> bool {
    p.db.sql("SELECT to_regclass('_sqlx_migrations') IS NOT NULL") == "t"
}

fn assert_no_password(out: &str) {
    let password = prod_cluster().password();
    assert!(!out.contains(password), "{out}");
    assert!(
        !out.contains(&pgshift::target::percent_encode(password)),
        "{out}"
    );
}

#[test]
fn a_shell_database_url_makes_migrate_deploy_without_env_refuse() {
    let (p, database, url) = prod_project();
    for args in [vec!["migrate-deploy"], vec!["--yes", "migrate-deploy"]] {
        let err = p
            .xtask(&args)
            .env("DATABASE_URL", &url)
            .env("PROD_DATABASE_URL", &url)
            .fails_with(2);
        let local = format!("127.0.0.1:{}/{}", support::cluster().port(), p.db.name);
        assert!(
            err.contains(&format!(
                "DATABASE_URL in your shell (postgres://postgres:***@localhost:{}/{database}?sslmode=verify-full",
                prod_cluster().port()
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "is ignored, and `migrate-deploy` without --env would apply to local ({local}); \
                 for production use --env prod with PROD_DATABASE_URL"
            )),
            "{err}"
        );
        assert_no_password(&err);
    }
    // Nothing was applied anywhere.
    assert!(!local_has_history(&p));
    assert_eq!(prod_tables(&database), "0");

    // An explicit --env, before or after the command, deploys where it says, with a warning.
    let out = p
        .xtask(["--env", "local", "migrate-deploy"])
        .env("DATABASE_URL", &url)
        .ok();
    let err = stderr(&out);
    assert!(
        err.contains("warning: DATABASE_URL in your shell (postgres://postgres:***@localhost"),
        "{err}"
    );
    assert!(
        err.contains("is ignored; this command targets local (127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.find("warning: DATABASE_URL") < err.find("applied 2 migrations"),
        "the warning comes first: {err}"
    );
    assert_no_password(&err);
    assert!(local_has_history(&p));
    let out = p
        .xtask(["migrate-deploy", "--env", "local"])
        .env("DATABASE_URL", &url)
        .ok();
    assert!(
        stderr(&out).contains("nothing to apply to local"),
        "{}",
        text(&out)
    );
    assert_eq!(prod_tables(&database), "0");
}

#[test]
fn other_commands_say_the_shell_database_url_is_ignored() {
    let (p, _database, url) = prod_project();
    let out = p.xtask(["migrate-status"]).env("DATABASE_URL", &url).ok();
    let err = stderr(&out);
    assert!(
        err.starts_with("warning: DATABASE_URL in your shell (postgres://postgres:***@localhost"),
        "{err}"
    );
    assert!(
        err.contains("for production use --env prod with PROD_DATABASE_URL"),
        "{err}"
    );
    assert_no_password(&text(&out));

    // A value that is not a URL is not shown (it may be a secret).
    let out = p
        .xtask(["migrate-status"])
        .env("DATABASE_URL", "mysql://root:hunter2@db/x")
        .ok();
    let err = stderr(&out);
    assert!(
        err.contains("DATABASE_URL in your shell (not a valid PostgreSQL URL) is ignored"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    // Naming the database the command uses anyway: nothing to say, and deploy goes on.
    let out = p
        .xtask(["migrate-deploy"])
        .env("DATABASE_URL", p.db.url())
        .ok();
    assert!(!stderr(&out).contains("DATABASE_URL"), "{}", text(&out));
    assert!(local_has_history(&p));

    // Targeting prod with a shell DATABASE_URL for another database: said, no hint needed.
    let out = p
        .xtask(["--yes", "migrate-status", "--env", "prod"])
        .env("DATABASE_URL", p.db.url())
        .env("PROD_DATABASE_URL", &url)
        .ok();
    let err = stderr(&out);
    assert!(
        err.contains("is ignored; this command targets prod (localhost:"),
        "{err}"
    );
    assert!(!err.contains("for production use"), "{err}");
}

#[test]
fn a_protected_deploy_off_a_terminal_needs_yes_and_asks_before_connecting() {
    let (p, database, url) = prod_project();
    // TEST-NET-1 never answers: a connection attempt would take the 10 s timeout.
    let started = Instant::now();
    let err = p
        .xtask(["migrate-deploy", "--env", "prod"])
        .env(
            "PROD_DATABASE_URL",
            "postgres://app:s3cret@192.0.2.1:5432/app",
        )
        .fails_with(2);
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert!(
        err.contains("`migrate-deploy` to prod (192.0.2.1:5432/app), a protected environment, needs consent: run it on a terminal to type the database name, or pass --yes"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");

    let err = p
        .xtask(["migrate-deploy", "--env", "prod"])
        .env("PROD_DATABASE_URL", &url)
        .fails_with(2);
    assert!(err.contains("needs consent"), "{err}");
    assert_eq!(prod_tables(&database), "0");
    // A dry run changes nothing, so it needs no consent.
    let out = p
        .xtask(["migrate-deploy", "--env", "prod", "--dry-run"])
        .env("PROD_DATABASE_URL", &url)
        .ok();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1_a.sql\n2_b.sql\n");
    assert_eq!(prod_tables(&database), "0");

    let out = p
        .xtask(["migrate-deploy", "--env", "prod", "--yes"])
        .env("PROD_DATABASE_URL", &url)
        .ok();
    assert!(
        stderr(&out).contains("applied 2 migrations to prod"),
        "{}",
        text(&out)
    );
    assert_eq!(prod_tables(&database), "2");
}

/// Runs `xtask ARGS` under `script`, which gives it a pseudo-terminal, typing `input`.
fn on_a_terminal(p: &Project, args: &str, url: &str, input: &str) -> (i32, String) {
    let command = format!("'{}' {args}", env!("CARGO_BIN_EXE_xtask"));
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(&p.dir)
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .env("PROD_DATABASE_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = text(&out);
    println!("{shown}");
    (out.status.code().unwrap_or(-1), shown)
}

#[test]
fn on_a_terminal_a_protected_deploy_wants_the_database_name_typed_back() {
    let (p, database, url) = prod_project();
    let (code, shown) = on_a_terminal(&p, "migrate-deploy --env prod", &url, "prod\n");
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains("2 migrations to apply to prod (localhost:"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "Type the database name `{database}` to apply them"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "nothing was applied: the name typed is not `{database}`"
        )),
        "{shown}"
    );
    assert_eq!(prod_tables(&database), "0");

    let (code, shown) = on_a_terminal(
        &p,
        "migrate-deploy --env prod",
        &url,
        &format!("{database}\n"),
    );
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("applied 2 migrations to prod"), "{shown}");
    assert_no_password(&shown);
    assert_eq!(prod_tables(&database), "2");
}

#[test]
fn a_protected_deploy_names_migrations_the_local_database_never_ran() {
    let (p, database, url) = prod_project();
    // 1_a is tested locally, 2_b is not.
    std::fs::rename(p.path("migrations/2_b.sql"), p.path("2_b.sql")).unwrap();
    p.xtask(["migrate-dev"]).ok();
    std::fs::rename(p.path("2_b.sql"), p.path("migrations/2_b.sql")).unwrap();

    let out = p
        .xtask(["--json", "--yes", "migrate-deploy", "--env", "prod"])
        .env("PROD_DATABASE_URL", &url)
        .ok();
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "warning: 1 migration about to be deployed to prod was never applied to the local database (127.0.0.1:{}/{}) as it is now: 2_b.sql; test migrations locally first",
            support::cluster().port(),
            p.db.name
        )),
        "{err}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["applied"].as_array().unwrap().len(), 2, "{json}");
    let check = &json["local_check"];
    assert_eq!(check["reachable"], true, "{json}");
    assert_eq!(check["not_applied_locally"], serde_json::json!(["2_b.sql"]));
    assert_eq!(
        check["database"],
        format!("127.0.0.1:{}/{}", support::cluster().port(), p.db.name)
    );
    assert_eq!(prod_tables(&database), "2");

    // Tested first: said so, nothing to warn about.
    p.xtask(["migrate-dev"]).ok();
    p.write("migrations/3_c.sql", "CREATE TABLE c (id int);\n");
    p.xtask(["migrate-dev"]).ok();
    let out = p
        .xtask(["--json", "--yes", "migrate-deploy", "--env", "prod"])
        .env("PROD_DATABASE_URL", &url)
        .ok();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["local_check"]["not_applied_locally"],
        serde_json::json!([])
    );
    assert!(
        stderr(&out).contains("every migration to deploy was applied to the local database"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_protected_deploy_says_when_the_local_database_cannot_be_checked() {
    let (p, database, url) = prod_project();
    let closed = support::free_port();
    p.write(
        ".env",
        &format!("DATABASE_URL=postgres://postgres@127.0.0.1:{closed}/nothing\n"),
    );
    let out = p
        .xtask([
            "--json",
            "--yes",
            "migrate-deploy",
            "--env",
            "prod",
            "--dry-run",
        ])
        .env("PROD_DATABASE_URL", &url)
        .ok();
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "note: cannot tell whether the migrations to deploy were tested locally: the local database (127.0.0.1:{closed}/nothing) could not be read: cannot connect"
        )),
        "{err}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["local_check"]["reachable"], false, "{json}");
    assert!(json["local_check"]["error"]
        .as_str()
        .unwrap()
        .contains("cannot connect"));
    assert_eq!(json["would_apply"].as_array().unwrap().len(), 2);
    assert_eq!(prod_tables(&database), "0");
}

#[test]
fn with_a_shell_database_url_and_no_local_database_migrate_deploy_still_names_the_variable() {
    let (p, database, url) = prod_project();
    // No .env, and the project's own embedded cluster was never started.
    std::fs::remove_file(p.path(".env")).unwrap();
    let err = p
        .xtask(["migrate-deploy"])
        .env("DATABASE_URL", &url)
        .fails_with(2);
    assert!(
        err.contains("DATABASE_URL in your shell (postgres://postgres:***@localhost"),
        "{err}"
    );
    // Refused before anything tries the local database (which would say "db up").
    assert!(
        err.contains(
            "is ignored, and `migrate-deploy` without --env would apply to local (127.0.0.1:"
        ),
        "{err}"
    );
    assert!(!err.contains("db up"), "{err}");
    assert!(
        err.contains("for production use --env prod with PROD_DATABASE_URL"),
        "{err}"
    );
    assert_no_password(&err);

    // A local target that does not even resolve: the variable is still what is named.
    p.write(".env", "DATABASE_URL=postgres://u@127.0.0.1/${X}\n");
    let err = p
        .xtask(["migrate-deploy"])
        .env("DATABASE_URL", &url)
        .fails_with(2);
    assert!(
        err.contains("DATABASE_URL in your shell (postgres://postgres:***@localhost"),
        "{err}"
    );
    assert!(
        err.contains("without --env targets the local database, which is not usable either (invalid database URL in DATABASE_URL in"),
        "{err}"
    );
    assert!(
        err.contains("for production use --env prod with PROD_DATABASE_URL"),
        "{err}"
    );
    assert_no_password(&err);
    assert_eq!(prod_tables(&database), "0");
}

#[test]
fn a_shell_database_url_spelling_the_local_host_differently_is_the_same_database() {
    let (p, _database, _url) = prod_project();
    let same = p.db.url().replace("127.0.0.1", "localhost");
    let out = p.xtask(["migrate-deploy"]).env("DATABASE_URL", &same).ok();
    assert!(!stderr(&out).contains("DATABASE_URL"), "{}", text(&out));
}
