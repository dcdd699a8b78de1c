//! Configuration and target resolution through the real command: errors say what to do and
//! exit with 2; passwords never show.

mod support;

use support::Project;

#[test]
fn unknown_key_is_an_error_naming_file_and_key() {
    let p = Project::empty();
    p.write("pgshift.toml", "[local]\nbakend = \"docker\"\n");
    let err = p.xtask(["db", "status"]).fails_with(2);
    assert!(err.contains("pgshift.toml"), "{err}");
    assert!(err.contains("unknown field `bakend`"), "{err}");
    assert!(err.contains("backend"), "{err}");
}

#[test]
fn wrong_type_is_an_error_naming_what_was_expected() {
    let p = Project::empty();
    p.write("pgshift.toml", "[local]\nport = \"high\"\n");
    let err = p.xtask(["db", "status"]).fails_with(2);
    assert!(err.contains("port"), "{err}");
    assert!(err.contains("expected u16"), "{err}");

    p.write("pgshift.toml", "[local]\nbackend = \"podman\"\n");
    let err = p.xtask(["db", "status"]).fails_with(2);
    assert!(err.contains("unknown variant `podman`"), "{err}");
    assert!(err.contains("`embedded`"), "{err}");
}

#[test]
fn no_config_file_runs_on_defaults() {
    let p = Project::empty();
    let status: serde_json::Value =
        serde_json::from_str(&p.xtask(["db", "status", "--json"]).stdout()).unwrap();
    assert!(
        status["url"].as_str().unwrap().ends_with(":5433/app_dev"),
        "{status}"
    );
}

#[test]
fn unknown_env_lists_the_known_ones() {
    let p = Project::empty();
    p.write(
        "pgshift.toml",
        "[env.staging]\nurl_env = \"STAGING_DATABASE_URL\"\n",
    );
    let err = p.xtask(["db", "psql", "--env", "prdo"]).fails_with(2);
    assert!(err.contains("unknown environment `prdo`"), "{err}");
    assert!(err.contains("local, staging"), "{err}");
}

#[test]
fn remote_env_reads_only_the_process_variable() {
    let p = Project::empty();
    p.write(
        "pgshift.toml",
        "[env.prod]\nurl_env = \"PROD_DATABASE_URL\"\nprotected = true\n",
    );
    // A `.env` that sets the variable must not be read for a remote environment.
    p.write(".env", "PROD_DATABASE_URL=postgres://app:hunter2@127.0.0.1:1/prod\nDATABASE_URL=postgres://app:hunter2@127.0.0.1:1/local\n");
    let err = p
        .xtask(["db", "psql", "--env", "prod"])
        .env_remove("PROD_DATABASE_URL")
        .fails_with(2);
    assert!(
        err.contains("$PROD_DATABASE_URL, which is not set"),
        "{err}"
    );
    assert!(err.contains("never read from .env"), "{err}");
}

#[test]
fn local_env_reads_database_url_from_dotenv() {
    let p = Project::new();
    p.write(".env", &format!("DATABASE_URL={}\n", p.db.url()));
    p.db.sql("CREATE TABLE from_dotenv (n int)");
    let out = p
        .xtask([
            "db",
            "psql",
            "--",
            "-At",
            "-c",
            "SELECT count(*) FROM pg_class WHERE relname = 'from_dotenv'",
        ])
        .stdout();
    assert_eq!(out.trim(), "1");
}

#[test]
fn passwords_never_show_in_errors() {
    let p = Project::empty();
    p.write(
        "pgshift.toml",
        "[env.staging]\nurl_env = \"STAGING_DATABASE_URL\"\n",
    );
    let out = p
        .xtask(["db", "psql", "--env", "staging", "--", "-c", "select 1"])
        .env(
            "STAGING_DATABASE_URL",
            "mysql://app:hunter2@127.0.0.1:1/staging",
        )
        .output();
    assert_eq!(out.status.code(), Some(2), "{}", support::text(&out));
    let all = support::text(&out);
    assert!(all.contains("mysql://app:***@127.0.0.1:1/staging"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
}

#[test]
fn dotenv_database_url_may_not_expand_variables() {
    let p = Project::new();
    p.write(
        "pgshift.toml",
        "[env.prod]\nurl_env = \"PROD_DATABASE_URL\"\n",
    );
    p.write(".env", "DATABASE_URL=${PROD_DATABASE_URL}\n");
    // dotenvy would expand this to the (here harmless) test database: it must be refused.
    let err = p
        .xtask(["db", "psql", "--", "-c", "select 1"])
        .env("PROD_DATABASE_URL", p.db.url())
        .fails_with(2);
    assert!(err.contains("DATABASE_URL in"), "{err}");
    assert!(err.contains("contains `$`"), "{err}");
    assert!(err.contains("%24"), "{err}");
}

#[test]
fn dotenv_database_url_may_not_name_a_remote_database() {
    let p = Project::empty();
    p.write(
        "pgshift.toml",
        "[env.staging]\nurl_env = \"STAGING_DATABASE_URL\"\n[env.prod]\nurl_env = \"PROD_DATABASE_URL\"\n",
    );
    p.write(
        ".env",
        "DATABASE_URL=postgres://me:hunter2@DB.example.com:6543/shop\n",
    );
    let err = p
        .xtask(["db", "psql", "--", "-c", "select 1"])
        .env(
            "STAGING_DATABASE_URL",
            "postgres://app:x@db.example.com:6543/shop_staging",
        )
        .env(
            "PROD_DATABASE_URL",
            "postgres://app:y@db.example.com:6543/shop",
        )
        .fails_with(2);
    assert!(err.contains("environment `prod`"), "{err}");
    assert!(err.contains("$PROD_DATABASE_URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn dotenv_syntax_error_names_the_line_but_never_shows_it() {
    let p = Project::empty();
    p.write(
        ".env",
        "A=1\nAPI_TOKEN hunter2\nDATABASE_URL=postgres://a@h/d\n",
    );
    let err = p
        .xtask(["db", "psql", "--", "-c", "select 1"])
        .fails_with(2);
    assert!(err.contains(".env"), "{err}");
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn special_character_passwords_are_encoded_and_never_shown() {
    let p = Project::empty();
    let password = "hunter2/?#@:% x";
    p.write(
        "pgshift.toml",
        &format!(
            "[local]\nbackend = \"docker\"\ndatabase = \"my db\"\npassword = {}\n",
            toml_string(password)
        ),
    );
    let shown = p.xtask(["db", "url"]).stdout();
    assert_eq!(
        shown.trim(),
        "postgres://postgres:***@127.0.0.1:5433/my%20db"
    );

    let revealed = p.xtask(["db", "url", "--reveal"]).stdout();
    let url = pgshift::target::DbUrl::parse(revealed.trim()).unwrap();
    assert_eq!(url.password().as_deref(), Some(password));
    assert_eq!(url.database(), "my db");

    let status = p.xtask(["db", "status", "--json"]).output();
    assert!(
        !support::text(&status).contains("hunter2"),
        "{}",
        support::text(&status)
    );
}

fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn db_commands_other_than_psql_refuse_a_remote_env() {
    let p = Project::empty();
    p.write(
        "pgshift.toml",
        "[env.staging]\nurl_env = \"STAGING_DATABASE_URL\"\n",
    );
    for command in [
        vec!["db", "up"],
        vec!["db", "down"],
        vec!["db", "status"],
        vec!["db", "url"],
        vec!["db", "logs"],
    ] {
        let err = p
            .xtask(command.iter().chain(&["--env", "staging"]))
            .env("STAGING_DATABASE_URL", "postgres://a:b@127.0.0.1:1/s")
            .fails_with(2);
        assert!(err.contains("local database only"), "{command:?}: {err}");
        assert!(err.contains("--env staging"), "{command:?}: {err}");
    }
}

#[test]
fn psql_on_a_protected_env_needs_yes() {
    let p = Project::new();
    p.write(
        "pgshift.toml",
        "[env.prod]\nurl_env = \"PROD_DATABASE_URL\"\nprotected = true\n",
    );
    let err = p
        .xtask(["db", "psql", "--env", "prod", "--", "-At", "-c", "SELECT 1"])
        .env("PROD_DATABASE_URL", p.db.url())
        .fails_with(2);
    assert!(err.contains("`prod`"), "{err}");
    assert!(err.contains("protected"), "{err}");
    assert!(err.contains("--yes"), "{err}");
    let out = p
        .xtask([
            "db", "psql", "--env", "prod", "--yes", "--", "-At", "-c", "SELECT 1",
        ])
        .env("PROD_DATABASE_URL", p.db.url())
        .stdout();
    assert_eq!(out.trim(), "1");
}

#[test]
fn psql_keeps_url_parameters_and_exit_code() {
    let p = Project::new();
    p.write(
        ".env",
        &format!(
            "DATABASE_URL={}?application_name=from_the_url\n",
            p.db.url()
        ),
    );
    let out = p
        .xtask([
            "db",
            "psql",
            "--",
            "-At",
            "-c",
            "SELECT current_setting('application_name')",
        ])
        .stdout();
    assert_eq!(out.trim(), "from_the_url");
    // psql's own exit code: 3 for an error in a script run with ON_ERROR_STOP.
    p.write("fail.sql", "SELECT 1/0;\n");
    let script = p.path("fail.sql");
    p.xtask(["db", "psql", "--", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&script)
        .fails_with(3);
}

#[test]
fn unreachable_server_hints_fit_the_host() {
    let p = Project::empty();
    p.write(
        "pgshift.toml",
        "[env.staging]\nurl_env = \"STAGING_DATABASE_URL\"\n",
    );
    // Nothing listens on port 1 of this machine: the hint names the address and mentions
    // the local database without claiming that this is it.
    let err = p
        .xtask(["migrate-status", "--env", "staging"])
        .env(
            "STAGING_DATABASE_URL",
            "postgres://app:hunter2@127.0.0.1:1/staging",
        )
        .fails_with(1);
    assert!(
        err.contains("is the server at 127.0.0.1:1 running?"),
        "{err}"
    );
    assert!(
        err.contains("for the local database: `cargo xtask db up`"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    // A host that does not resolve: check the URL, not `db up`.
    let err = p
        .xtask(["migrate-status", "--env", "staging"])
        .env(
            "STAGING_DATABASE_URL",
            "postgres://app:hunter2@nowhere.invalid:5432/staging",
        )
        .fails_with(1);
    assert!(
        err.contains("check the host and port in the URL and that this machine can reach it"),
        "{err}"
    );
    assert!(!err.contains("db up"), "{err}");
}
