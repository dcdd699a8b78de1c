//! `cargo xtask doctor`: one line per check, the fix for each problem, exit 1 on a failure.

mod support;

use support::{free_port, text, Project};

/// Runs `doctor` in `project` with `env`; returns the exit code and stdout.
fn doctor(project: &Project, env: &[(&str, &str)]) -> (i32, String) {
    let mut command = project.xtask(["doctor"]);
    for (key, value) in env {
        command = command.env(key, value);
    }
    let out = command.output();
    println!("{}", text(&out));
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// The line of check `what`: "<marker>  <what>  <detail>".
fn line<'a>(stdout: &'a str, what: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line[4..].trim_start().starts_with(&format!("{what}  ")))
        .unwrap_or_else(|| panic!("no `{what}` line in:\n{stdout}"))
}

const CHECKS: [&str; 10] = [
    "config",
    "psql",
    "pg_dump",
    "pg_restore",
    "docker",
    "docker compose",
    "docker engine",
    "server programs",
    "local database",
    "pg_dump version",
];

#[test]
fn healthy_project_passes() {
    let p = Project::new();
    let (code, stdout) = doctor(&p, &[]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(stdout.lines().count(), CHECKS.len(), "{stdout}");
    for what in CHECKS {
        let line = line(&stdout, what);
        // Docker is optional for an embedded project: present or a warning.
        let docker = what.starts_with("docker");
        assert!(
            line.starts_with("ok ") || (docker && line.starts_with("warn ")),
            "{line}"
        );
    }
    // The installed major version, whichever it is (the test cluster runs on it too).
    let major = pgshift::pgbin::PgBin::find()
        .unwrap()
        .major_version()
        .unwrap();
    assert!(
        line(&stdout, "pg_dump").contains(&format!("{major}.")),
        "{stdout}"
    );
    assert!(
        line(&stdout, "server programs").contains(&format!("PostgreSQL {major}")),
        "{stdout}"
    );
    let database = line(&stdout, "local database");
    assert!(database.contains(&format!("/{}", p.db.name)), "{database}");
    assert!(
        database.contains(&format!("PostgreSQL {major}.")),
        "{database}"
    );
    assert!(
        line(&stdout, "pg_dump version").contains(&format!(
            "pg_dump {major} can dump the PostgreSQL {major} server"
        )),
        "{stdout}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&p.xtask(["doctor", "--json"]).stdout()).unwrap();
    let checks = json.as_array().unwrap();
    assert_eq!(
        checks
            .iter()
            .map(|c| c["check"].as_str().unwrap())
            .collect::<Vec<_>>(),
        CHECKS
    );
    for check in checks {
        assert_ne!(check["status"], "fail", "{check}");
        assert!(check["detail"].is_string(), "{check}");
        // A fix for every problem, none for a passed check; the key is always there.
        if check["status"] == "ok" {
            assert!(check["fix"].is_null(), "{check}");
        } else {
            let fix = check["fix"].as_str().unwrap_or_default();
            assert!(
                !fix.is_empty(),
                "a {} without a fix: {check}",
                check["status"]
            );
        }
        assert!(check.as_object().unwrap().contains_key("fix"), "{check}");
    }
}

#[test]
fn missing_server_binaries_fail_with_the_fix() {
    let p = Project::new();
    let (code, stdout) = doctor(&p, &[("PGSHIFT_PG_BINDIR", "/nonexistent")]);
    assert_eq!(code, 1, "{stdout}");
    let line = line(&stdout, "server programs");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains("/nonexistent"), "{line}");
    // PGSHIFT_PG_BINDIR chose the folder: the fix is that setting, not an install.
    assert!(
        line.contains(
            "fix: PGSHIFT_PG_BINDIR=/nonexistent has no initdb/pg_ctl; fix it or unset it"
        ),
        "{line}"
    );
    assert!(!line.contains("apt-get install"), "{line}");
    // The database itself is still reachable: only the real problem fails.
    assert!(
        self::line(&stdout, "local database").starts_with("ok "),
        "{stdout}"
    );
}

#[test]
fn unreachable_database_fails_with_the_fix() {
    let p = Project::empty();
    let port = free_port();
    p.write(
        "pgshift.toml",
        &format!("[local]\nbackend = \"embedded\"\ndatabase = \"clinic\"\nport = {port}\n"),
    );
    let (code, stdout) = doctor(&p, &[]);
    assert_eq!(code, 1, "{stdout}");
    let database = line(&stdout, "local database");
    assert!(database.starts_with("FAIL "), "{database}");
    assert!(
        database.contains(&format!("127.0.0.1:{port}/clinic")),
        "{database}"
    );
    assert!(
        database.contains("fix: start it with `cargo xtask db up`"),
        "{database}"
    );
    let versions = line(&stdout, "pg_dump version");
    assert!(
        versions.starts_with("warn ") && versions.contains("not checked"),
        "{versions}"
    );
}

#[test]
fn bad_config_is_a_failed_check() {
    let p = Project::empty();
    p.write("pgshift.toml", "[local]\nprot = 5433\n");
    let (code, stdout) = doctor(&p, &[]);
    assert_eq!(code, 1, "{stdout}");
    let config = line(&stdout, "config");
    assert!(config.starts_with("FAIL "), "{config}");
    assert!(config.contains("pgshift.toml"), "{config}");
    assert!(config.contains("unknown field `prot`"), "{config}");
    assert!(config.contains("fix: "), "{config}");
    // The other checks still run.
    assert!(line(&stdout, "psql").starts_with("ok "), "{stdout}");
    assert!(
        line(&stdout, "local database").starts_with("warn "),
        "{stdout}"
    );
}

#[test]
fn toml_syntax_error_says_fix_the_syntax() {
    let p = Project::empty();
    p.write("pgshift.toml", "[local\nport = 5433\n");
    let (code, stdout) = doctor(&p, &[]);
    assert_eq!(code, 1, "{stdout}");
    let config = line(&stdout, "config");
    assert!(config.starts_with("FAIL "), "{config}");
    assert!(
        stdout.contains("fix the TOML syntax at the line shown"),
        "{stdout}"
    );
    assert!(!stdout.contains("correct the key named above"), "{stdout}");
}

/// Runs `doctor --env prod` in a project with a `prod` environment (protected) and a
/// `staging` one, with `vars` set; returns the exit code and stdout.
fn doctor_env(env: &str, vars: &[(&str, &str)]) -> (i32, String) {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "\n[env.prod]\nurl_env = \"PROD_DATABASE_URL\"\nprotected = true\n\n[env.staging]\nurl_env = \"STAGING_DATABASE_URL\"\n",
    );
    let mut command = p.xtask(["doctor", "--env", env]);
    for (key, value) in vars {
        command = command.env(key, value);
    }
    let out = command.output();
    let shown = text(&out);
    println!("{shown}");
    let prod = support::prod_cluster();
    assert!(!shown.contains(prod.password()), "{shown}");
    assert!(
        !shown.contains(&pgshift::target::percent_encode(prod.password())),
        "{shown}"
    );
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn doctor_env_checks_that_environments_connection_instead_of_the_local_one() {
    let prod = support::prod_cluster();
    let database = prod.create_database();
    let url = prod.verified_url(&database);
    let (code, stdout) = doctor_env("prod", &[("PROD_DATABASE_URL", &url)]);
    assert_eq!(code, 0, "{stdout}");
    let checks: Vec<&str> = stdout
        .lines()
        .map(|l| l[4..].trim_start().split("  ").next().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "config",
            "psql",
            "pg_dump",
            "pg_restore",
            "prod url",
            "prod database",
            "prod tls",
            "pg_dump version"
        ],
        "{stdout}"
    );
    let major = pgshift::pgbin::PgBin::find()
        .unwrap()
        .major_version()
        .unwrap();
    let url_line = line(&stdout, "prod url");
    assert!(
        url_line.contains(&format!(
            "$PROD_DATABASE_URL is set: postgres://postgres:***@localhost:{}/{database}?sslmode=verify-full",
            prod.port()
        )),
        "{url_line}"
    );
    assert!(url_line.contains("(protected)"), "{url_line}");
    let db_line = line(&stdout, "prod database");
    assert!(db_line.starts_with("ok "), "{db_line}");
    assert!(
        db_line.contains(&format!("PostgreSQL {major}.")) && db_line.contains("as `postgres`"),
        "{db_line}"
    );
    let tls = line(&stdout, "prod tls");
    assert!(tls.starts_with("ok "), "{tls}");
    assert!(
        tls.contains("TLSv1.") && tls.contains("certificate and host name are verified"),
        "{tls}"
    );
    assert!(
        line(&stdout, "pg_dump version").contains(&format!(
            "pg_dump {major} can dump the PostgreSQL {major} server"
        )),
        "{stdout}"
    );
}

#[test]
fn doctor_env_judges_tls_by_what_the_session_got() {
    let prod = support::prod_cluster();
    let database = prod.create_database();
    // Plain text to a protected environment fails; encrypted but unverified warns.
    let plain = prod.url("127.0.0.1", &database, "sslmode=disable");
    let (code, stdout) = doctor_env("prod", &[("PROD_DATABASE_URL", &plain)]);
    assert_eq!(code, 1, "{stdout}");
    let tls = line(&stdout, "prod tls");
    assert!(tls.starts_with("FAIL "), "{tls}");
    assert!(tls.contains("not encrypted: sslmode=disable"), "{tls}");
    assert!(
        tls.contains("fix: enable TLS on the server, and add sslmode=verify-full"),
        "{tls}"
    );
    assert!(
        line(&stdout, "prod database").starts_with("ok "),
        "{stdout}"
    );

    let unverified = prod.url("127.0.0.1", &database, "sslmode=require");
    let (code, stdout) = doctor_env("staging", &[("STAGING_DATABASE_URL", &unverified)]);
    assert_eq!(code, 0, "{stdout}");
    let tls = line(&stdout, "staging tls");
    assert!(tls.starts_with("warn "), "{tls}");
    assert!(
        tls.contains("but the server's certificate is not verified (sslmode=require)"),
        "{tls}"
    );
    // Plain text elsewhere than a protected environment is a warning.
    let (code, stdout) = doctor_env("staging", &[("STAGING_DATABASE_URL", &plain)]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        line(&stdout, "staging tls").starts_with("warn "),
        "{stdout}"
    );
}

#[test]
fn doctor_env_names_what_is_wrong_with_the_connection() {
    let prod = support::prod_cluster();
    let database = prod.create_database();

    let (code, stdout) = doctor_env("prod", &[]);
    assert_eq!(code, 1, "{stdout}");
    let url_line = line(&stdout, "prod url");
    assert!(url_line.starts_with("FAIL "), "{url_line}");
    assert!(
        url_line.contains("$PROD_DATABASE_URL, which is not set"),
        "{url_line}"
    );
    assert!(
        url_line.contains("fix: export PROD_DATABASE_URL="),
        "{url_line}"
    );
    assert!(
        line(&stdout, "prod database").starts_with("warn "),
        "{stdout}"
    );

    let wrong_password = prod
        .verified_url(&database)
        .replace(&pgshift::target::percent_encode(prod.password()), "nope");
    let (code, stdout) = doctor_env("prod", &[("PROD_DATABASE_URL", &wrong_password)]);
    assert_eq!(code, 1, "{stdout}");
    let db_line = line(&stdout, "prod database");
    assert!(db_line.starts_with("FAIL "), "{db_line}");
    assert!(
        db_line.contains("password authentication failed"),
        "{db_line}"
    );
    assert!(
        db_line.contains("fix: check the user name and password in $PROD_DATABASE_URL"),
        "{db_line}"
    );
    assert!(line(&stdout, "prod tls").starts_with("warn "), "{stdout}");
    assert!(
        line(&stdout, "pg_dump version").contains("not checked: the prod database does not answer"),
        "{stdout}"
    );

    let wrong_host = prod.url(
        "127.0.0.1",
        &database,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            prod.ca_file().display()
        ),
    );
    let (code, stdout) = doctor_env("prod", &[("PROD_DATABASE_URL", &wrong_host)]);
    assert_eq!(code, 1, "{stdout}");
    let db_line = line(&stdout, "prod database");
    assert!(
        db_line.contains("not valid for the host name 127.0.0.1"),
        "{db_line}"
    );

    let (code, stdout) = doctor_env("qa", &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        line(&stdout, "qa url").contains("unknown environment `qa`"),
        "{stdout}"
    );
}

#[test]
fn another_checkouts_server_on_our_port_fails_the_local_database_check() {
    // The test cluster answers on this port, and it is not this project's embedded
    // cluster (which is not running): the migrate commands refuse it, so doctor must too.
    let port = support::cluster().port();
    let p = Project::empty();
    p.write(
        "pgshift.toml",
        &format!("[local]\nbackend = \"embedded\"\ndatabase = \"postgres\"\nport = {port}\n"),
    );
    let err = p.xtask(["migrate-status"]).fails_with(1);
    assert!(err.contains("not this project's local database"), "{err}");
    let (code, stdout) = doctor(&p, &[]);
    assert_eq!(code, 1, "{stdout}");
    let database = line(&stdout, "local database");
    assert!(database.starts_with("FAIL "), "{database}");
    assert!(
        database.contains(&format!("port {port} on 127.0.0.1 is answered by a server that is not this project's local database")),
        "{database}"
    );
    assert!(
        database.contains(
            "fix: stop the server on that port, or give this project its own [local] port"
        ),
        "{database}"
    );
    assert!(!database.contains("answers: PostgreSQL"), "{database}");
}
