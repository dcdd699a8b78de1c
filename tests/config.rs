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
    assert!(err.contains("expected a TCP port from 1 to 65535"), "{err}");

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
    assert!(all.contains("$STAGING_DATABASE_URL"), "{all}");
    assert!(all.contains("it starts with `mysql://`"), "{all}");
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
    // Nothing listens on port 1 of this machine: the hint names the address and the
    // environment; `db up` starts the local database, not staging's, so it is not offered.
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
        err.contains("check the URL of environment `staging`"),
        "{err}"
    );
    assert!(!err.contains("db up"), "{err}");
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

#[test]
fn out_of_range_values_are_refused_at_load_naming_key_and_range() {
    let p = Project::new();
    // Each would pass as TOML, then break every command with a server error (or wait
    // forever, or overflow).
    for (toml, key, range) in [
        (
            "[migrate]\nstatement_timeout = \"100000000h\"\n",
            "[migrate] statement_timeout = \"100000000h\" is out of range",
            "from \"0\" to \"2147483647ms\"",
        ),
        (
            "[migrate]\nstatement_timeout = \"25d\"\n",
            "statement_timeout",
            "invalid duration",
        ),
        (
            "[migrate]\nsession_lock_timeout = \"600h\"\n",
            "[migrate] session_lock_timeout = \"600h\" is out of range",
            "from \"0\" to \"2147483647ms\"",
        ),
        (
            "[migrate]\nlock_timeout = \"2000h\"\n",
            "[migrate] lock_timeout = \"2000h\" is out of range",
            "from \"0\" to \"24h\"",
        ),
        (
            "[migrate]\nlock_timeout = -5\n",
            "lock_timeout",
            "cannot be negative",
        ),
        (
            "[local]\nstart_timeout = \"0s\"\n",
            "[local] start_timeout = \"0\" is out of range",
            "from \"1s\" to \"24h\"",
        ),
        (
            "[local]\nport = 70000\n",
            "port",
            "port 70000 is out of range: use a TCP port from 1 to 65535",
        ),
        (
            "[local]\nport = 0\n",
            "port",
            "port 0 is out of range: use a TCP port from 1 to 65535",
        ),
    ] {
        let config = p.read("pgshift.toml");
        // `[local]` keys go into the project's own `[local]` table (a second one is a TOML
        // error), replacing its port when the key is the port.
        let edited = match toml.strip_prefix("[local]\n") {
            Some(line) => config
                .lines()
                .filter(|l| !(line.starts_with("port") && l.starts_with("port")))
                .map(|l| match l {
                    "[local]" => format!("[local]\n{}", line.trim_end()),
                    l => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            None => format!("{config}\n{toml}"),
        };
        p.write("pgshift.toml", &edited);
        for command in [
            &["migrate-status"][..],
            &["migrate-deploy"],
            &["db", "status"],
        ] {
            let err = p.xtask(command).fails_with(2);
            assert!(err.contains("pgshift.toml"), "{toml} {command:?}: {err}");
            assert!(err.contains(key), "{toml} {command:?}: {err}");
            assert!(err.contains(range), "{toml} {command:?}: {err}");
        }
        p.write("pgshift.toml", &config);
    }
    assert_eq!(
        p.db.sql("SELECT to_regclass('_sqlx_migrations') IS NULL"),
        "t"
    );
    // The largest value PostgreSQL takes is accepted, and the server agrees.
    p.append(
        "pgshift.toml",
        "\n[migrate]\nstatement_timeout = \"2147483647ms\"\nsession_lock_timeout = \"596h\"\n",
    );
    p.write("migrations/1_t.sql", "CREATE TABLE t (id int);\n");
    p.xtask(["migrate-deploy"]).ok();
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "1");
}

/// libpq's variables never fill in what a URL leaves out, for pgshift's connections nor for
/// psql: with `.env` naming no host and no user, exported PGHOST, PGHOSTADDR, PGUSER,
/// PGDATABASE, PGOPTIONS, PGSSLMODE and PGSERVICE would each send the command elsewhere or
/// break it.
#[test]
fn libpq_environment_variables_never_redirect_or_change_a_connection() {
    let p = Project::new();
    let os_user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .name;
    // The URL leaves the user out: libpq's default is the operating system user.
    p.db.sql(&format!(
        "DO $$ BEGIN CREATE ROLE \"{os_user}\" LOGIN SUPERUSER; \
         EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    ));
    let port = support::cluster().port();
    p.write(
        ".env",
        &format!("DATABASE_URL=postgres:///{}?port={port}\n", p.db.name),
    );
    p.write("migrations/1_t.sql", "CREATE TABLE t (id int);\n");
    let hostile = [
        // Nothing listens there: honoured, these fail the connection.
        ("PGHOST", "127.0.0.2".to_string()),
        ("PGHOSTADDR", "127.0.0.2".to_string()),
        ("PGPORT", "1".to_string()),
        ("PGUSER", "no_such_role".to_string()),
        ("PGDATABASE", "no_such_database".to_string()),
        ("PGPASSWORD", "not-the-password".to_string()),
        // The server has no TLS: honoured, this fails the connection.
        ("PGSSLMODE", "require".to_string()),
        // Honoured, the migration's CREATE TABLE fails.
        (
            "PGOPTIONS",
            "-c default_transaction_read_only=on".to_string(),
        ),
        // Honoured, psql fails (no such service).
        ("PGSERVICE", "no_such_service".to_string()),
        ("PGAPPNAME", "from_the_environment".to_string()),
        ("PGCONNECT_TIMEOUT", "1".to_string()),
    ];
    let with_env = |mut command: support::TestCommand| {
        for (name, value) in &hostile {
            command = command.env(name, value);
        }
        command
    };
    with_env(p.xtask(["migrate-dev"])).ok();
    assert_eq!(
        p.db.sql("SELECT db_user FROM _pgshift_log"),
        os_user,
        "connected as the OS user, not PGUSER"
    );
    assert_eq!(p.db.sql("SELECT to_regclass('t') IS NOT NULL"), "t");

    // psql gets the same target and none of those variables.
    let out = with_env(p.xtask([
        "db",
        "psql",
        "--",
        "-X",
        "-At",
        "-c",
        "SELECT current_user, current_database(), current_setting('application_name'), \
         current_setting('default_transaction_read_only')",
    ]))
    .stdout();
    assert_eq!(
        out.trim(),
        format!("{os_user}|{}|psql|off", p.db.name),
        "psql's session"
    );
    let env = with_env(p.xtask(["db", "psql", "--", "-X", "-c", "\\! env"])).stdout();
    // PGLOCALEDIR and PGSYSCONFDIR are set by psql itself at start-up
    // (`set_pglocale_pgservice`), to its own compiled-in folders.
    let pg: Vec<&str> = env
        .lines()
        .filter(|l| l.starts_with("PG") && !l.starts_with("PGSHIFT"))
        .filter(|l| !l.starts_with("PGLOCALEDIR=") && !l.starts_with("PGSYSCONFDIR="))
        .collect();
    assert!(pg.is_empty(), "psql's environment holds {pg:?}");
}

/// The "no variable expansion in .env" rule holds whatever the syntax: `export` with a tab,
/// a quoted value over two lines, `$X` without braces, an empty expansion.
#[test]
fn dotenv_expansion_is_refused_whatever_the_syntax() {
    let p = Project::new();
    let url = p.db.url();
    let (base, name) = url.rsplit_once('/').unwrap();
    for dotenv in [
        format!("export\tDATABASE_URL={base}/${{DB_NAME}}\n"),
        format!("export   DATABASE_URL={base}/$DB_NAME\n"),
        format!("DATABASE_URL=\"{base}/\n${{DB_NAME}}\"\n"),
        format!("DATABASE_URL=\"{base}/${{DB_NAME}}\"\n"),
        format!("  DATABASE_URL = {url}${{EMPTY}}\n"),
        format!("OTHER=1\nDATABASE_URL={base}/${{DB_NAME}} # comment\n"),
    ] {
        p.write(".env", &dotenv);
        let err = p
            .xtask(["db", "psql", "--", "-c", "select 1"])
            .env("DB_NAME", name)
            .env("EMPTY", "")
            .fails_with(2);
        assert!(err.contains("contains `$`"), "{dotenv:?}: {err}");
    }
    // A `$` inside single quotes expands nothing: it is part of the value.
    p.write(
        ".env",
        &format!("DATABASE_URL='{url}?application_name=a$b'\n"),
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
    assert_eq!(out.trim(), "a$b");
}

/// Errors name the line the entry starts on (not one more), and a UTF-8 byte order mark is
/// skipped as other dotenv tools skip it.
#[test]
fn dotenv_lines_are_counted_right_and_a_bom_is_accepted() {
    let p = Project::new();
    let url = p.db.url();
    p.write(
        ".env",
        "\u{feff}A=1\n# comment\nB=\"two\nlines\"\nAPI_TOKEN hunter2\nC=3\n",
    );
    let err = p
        .xtask(["db", "psql", "--", "-c", "select 1"])
        .fails_with(2);
    assert!(err.contains("cannot parse line 5"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    p.write(".env", "A=1\n\nDATABASE_URL=mysql://u@h/db\n");
    let err = p
        .xtask(["db", "psql", "--", "-c", "select 1"])
        .fails_with(2);
    assert!(err.contains(".env (line 3)"), "{err}");
    p.write(".env", &format!("\u{feff}DATABASE_URL={url}\n"));
    let out = p
        .xtask(["db", "psql", "--", "-At", "-c", "SELECT 1"])
        .stdout();
    assert_eq!(out.trim(), "1");
}

/// Every spelling of a password in a URL stays hidden in what the real commands print:
/// errors, `--json` errors, and doctor.
#[test]
fn password_spellings_never_show_in_command_output() {
    let p = Project::empty();
    p.write(
        "pgshift.toml",
        "[env.staging]\nurl_env = \"STAGING_DATABASE_URL\"\n",
    );
    let secret = "Sekr1tPw";
    let urls = [
        format!("postgres://u:{secret}@127.0.0.1:1/db"),
        format!("postgres://u:{secret} two@127.0.0.1:1/db"),
        format!("postgres://u:a {secret}@b@127.0.0.1:1/db"),
        format!("postgres:/u:{secret}@127.0.0.1:1/db"),
        format!("postgresql:u:{secret}@127.0.0.1:1/db"),
        format!("postgres:///u:{secret}@127.0.0.1:1/db"),
        format!("postgres://u@127.0.0.1:1/db?pass%77ord={secret}"),
        format!("postgres://u@127.0.0.1:1/db?password={secret}"),
        format!("postgres://u@127.0.0.1:1/db?sslpassword={secret}"),
        format!("postgres://u@127.0.0.1:1/db?sslmode=disable&%70assword={secret}&x=1"),
        format!("postgres://u:{secret}#x@127.0.0.1:1/db"),
        format!("postgres://u:12?{secret}@127.0.0.1:1/db"),
        format!("mysql://u:{secret}@127.0.0.1:1/db"),
        format!("u:{secret}@127.0.0.1:1/db"),
    ];
    let mut runs = 0;
    for url in &urls {
        for args in [
            vec!["migrate-status", "--env", "staging"],
            vec!["--json", "migrate-status", "--env", "staging"],
            vec!["db", "psql", "--env", "staging", "--", "-c", "select 1"],
        ] {
            let out = p.xtask(&args).env("STAGING_DATABASE_URL", url).output();
            let all = support::text(&out);
            assert!(!out.status.success(), "{url} {args:?}: {all}");
            assert!(!all.contains(secret), "{url} {args:?}: {all}");
            // It got as far as the URL (not stopped by a usage error).
            assert!(
                ["staging", "127.0.0.1"]
                    .iter()
                    .any(|w| all.to_lowercase().contains(w)),
                "{url} {args:?}: {all}"
            );
            runs += 1;
        }
        // Single quotes: the value as is, spaces included.
        p.write(".env", &format!("DATABASE_URL='{url}'\n"));
        for args in [
            vec!["doctor"],
            vec!["--json", "doctor"],
            vec!["migrate-dev"],
        ] {
            let out = p.xtask(&args).output();
            let all = support::text(&out);
            assert!(!all.contains(secret), "{url} {args:?}: {all}");
            assert!(
                ["DATABASE_URL", "127.0.0.1"]
                    .iter()
                    .any(|w| all.contains(w)),
                "{url} {args:?}: {all}"
            );
            runs += 1;
        }
    }
    eprintln!("{runs} runs");
}

/// `db psql` with the password given as a URL parameter: psql gets it in PGPASSWORD, and
/// its argv (read back from /proc by a shell psql starts) holds no password.
#[test]
fn psql_gets_a_parameter_password_in_its_environment_not_its_argv() {
    let p = Project::new();
    let secret = "Sekr1t-param-pw";
    p.write(
        ".env",
        &format!(
            "DATABASE_URL={}?password={secret}&sslmode=disable\n",
            p.db.url()
        ),
    );
    let out = p
        .xtask([
            "db",
            "psql",
            "--",
            "-X",
            "-c",
            "\\! printf '%s|' \"$PGPASSWORD\"; tr '\\0' ' ' < /proc/$PPID/cmdline",
        ])
        .stdout();
    let (password, argv) = out.split_once('|').unwrap();
    assert_eq!(password, secret, "{out}");
    assert!(argv.contains("psql"), "{out}");
    assert!(argv.contains("sslmode=disable"), "{out}");
    assert!(!argv.contains(secret), "{out}");
    assert!(!argv.contains("password"), "{out}");
}
