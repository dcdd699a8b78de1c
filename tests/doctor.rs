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
