//! The environment marker: a database deployed as prod stays prod whatever URL reaches it.

mod support;

use support::{text, Project};

fn project_with_envs() -> Project {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "\n[env.staging]\nurl_env = \"STAGING_URL\"\n\n[env.prod]\nurl_env = \"PROD_URL\"\nprotected = true\n",
    );
    p.write("migrations/1_a.up.sql", "CREATE TABLE a (id int);\n");
    p.write("migrations/1_a.down.sql", "DROP TABLE a;\n");
    p
}

#[test]
fn deploy_marks_the_database_and_local_work_refuses_it_whatever_the_url() {
    let p = project_with_envs();
    let url = p.db.url();
    let out = p
        .xtask(["--json", "--yes", "migrate-deploy", "--env", "prod"])
        .env("PROD_URL", &url)
        .ok();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["marker"], "prod", "{}", text(&out));
    assert_eq!(json["env"], "prod");
    assert_eq!(p.db.sql("SELECT env FROM _pgshift_marker"), "prod");
    p.db.sql("INSERT INTO a VALUES (1)");

    // A .env that points local work at the prod database.
    p.write(".env", &format!("DATABASE_URL={url}\n"));
    let where_ = format!("127.0.0.1:{}/{}", support::cluster().port(), p.db.name);
    for args in [
        vec!["migrate-dev"],
        vec!["migrate-reset", "--force"],
        vec!["migrate-down"],
        vec!["--env", "local", "migrate-dev"],
    ] {
        let err = p.xtask(&args).fails_with(1);
        assert!(
            err.contains(&format!("refuses {where_}: the database is marked as environment `prod`, which is protected")),
            "{args:?}: {err}"
        );
    }
    // Deploying to another environment a database marked prod is refused too.
    let err = p
        .xtask(["migrate-deploy", "--env", "staging"])
        .env("STAGING_URL", &url)
        .fails_with(1);
    assert!(
        err.contains("`migrate-deploy` for environment `staging` refuses"),
        "{err}"
    );
    assert!(err.contains("marked as environment `prod`"), "{err}");
    let err = p.xtask(["migrate-deploy"]).fails_with(1);
    assert!(
        err.contains("marked as environment `prod`, which is protected"),
        "{err}"
    );
    // Nothing was touched.
    assert_eq!(p.db.sql("SELECT count(*) FROM a"), "1");
    // Status reads it and says so; deploys to prod itself go on.
    let status = p
        .xtask(["migrate-status", "--env", "prod"])
        .env("PROD_URL", &url)
        .stdout();
    assert!(
        status.starts_with(&format!("prod ({where_}), marked as environment `prod`")),
        "{status}"
    );
    p.xtask(["--yes", "migrate-deploy", "--env", "prod"])
        .env("PROD_URL", &url)
        .ok();
}

#[test]
fn local_only_commands_refuse_remote_targets_whatever_the_flags() {
    let p = project_with_envs();
    let url = p.db.url();
    for args in [
        vec!["migrate-dev", "--env", "staging"],
        vec!["migrate-reset", "--env", "staging", "--force"],
        vec!["migrate-down", "--env", "staging"],
        vec!["--yes", "migrate-reset", "--env", "prod", "--force"],
    ] {
        let err = p
            .xtask(&args)
            .env("STAGING_URL", &url)
            .env("PROD_URL", &url)
            .fails_with(2);
        assert!(
            err.contains("only runs against the local database"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        p.db.sql("SELECT to_regclass('_sqlx_migrations') IS NULL"),
        "t"
    );
}

#[test]
fn a_staging_database_is_not_local_either() {
    let p = project_with_envs();
    let url = p.db.url();
    p.xtask(["migrate-deploy", "--env", "staging"])
        .env("STAGING_URL", &url)
        .ok();
    p.write(".env", &format!("DATABASE_URL={url}\n"));
    let err = p.xtask(["migrate-dev"]).fails_with(1);
    assert!(
        err.contains("`migrate-dev` for environment `local` refuses"),
        "{err}"
    );
    assert!(
        err.contains("marked as environment `staging`; use --env staging"),
        "{err}"
    );
}

#[test]
fn local_only_commands_refuse_a_dotenv_url_on_another_machine_before_connecting() {
    let p = Project::new();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    // TEST-NET-1: never reachable, so a connection attempt would show as a connect error
    // (after a timeout) instead of this refusal.
    p.write(".env", "DATABASE_URL=postgres://app@192.0.2.1:5432/x\n");
    for args in [
        vec!["migrate-dev"],
        vec!["migrate-reset", "--force"],
        vec!["migrate-down"],
    ] {
        let started = std::time::Instant::now();
        let err = p.xtask(&args).fails_with(2);
        assert!(
            err.contains(
                "DATABASE_URL in .env points at 192.0.2.1:5432/x, which is not on this machine"
            ),
            "{args:?}: {err}"
        );
        assert!(err.contains("remove it to use the local backend"), "{err}");
        assert!(!err.contains("cannot connect"), "{args:?}: {err}");
        eprintln!("{args:?} refused in {:?}", started.elapsed());
    }
    // A URL on this machine is accepted.
    p.write(".env", &format!("DATABASE_URL={}\n", p.db.url()));
    p.xtask(["migrate-dev"]).ok();
}

#[test]
fn dotenv_errors_read_as_one_sentence() {
    let p = project_with_envs();
    p.write(".env", "DATABASE_URL=postgres://u@127.0.0.1/${X}\n");
    let err = p.xtask(["migrate-status"]).fails_with(2);
    assert!(err.contains("the value contains `$`"), "{err}");
    assert!(!err.contains("  "), "{err}");
    let url = p.db.url();
    p.write(".env", &format!("DATABASE_URL={url}\n"));
    let err = p
        .xtask(["migrate-status"])
        .env("STAGING_URL", &url)
        .fails_with(2);
    assert!(
        err.contains("the database of environment `staging`"),
        "{err}"
    );
    assert!(!err.contains("  "), "{err}");
}

/// A database deployed by a role with its own schema keeps its history and marker there;
/// whoever connects (here `postgres`, whose search_path does not see that schema) finds
/// both: the marker protects it and the history is the same one.
#[test]
fn a_marker_in_a_role_schema_protects_the_database_whoever_connects() {
    let p = project_with_envs();
    let role = format!("appsvc_{}", p.db.name);
    p.db.sql(&format!(
        "CREATE ROLE {role} LOGIN; CREATE SCHEMA AUTHORIZATION {role}; \
         GRANT CONNECT ON DATABASE {} TO {role}",
        p.db.name
    ));
    let port = support::cluster().port();
    let as_role = format!("postgres://{role}@127.0.0.1:{port}/{}", p.db.name);
    p.xtask(["migrate-deploy", "--env", "prod", "--yes"])
        .env("PROD_URL", &as_role)
        .ok();
    // Where the role's search_path put them, and nowhere else.
    assert_eq!(
        p.db.sql(&format!(
            "SELECT (SELECT env FROM {role}._pgshift_marker), \
                    to_regclass('{role}._sqlx_migrations') IS NOT NULL, \
                    to_regclass('public._sqlx_migrations') IS NULL, \
                    to_regclass('public._pgshift_marker') IS NULL"
        )),
        "prod|t|t|t"
    );
    p.db.sql(&format!("INSERT INTO {role}.a VALUES (1)"));

    // Local work connecting as postgres (the .env of Project::new) sees the marker.
    let where_ = format!("127.0.0.1:{port}/{}", p.db.name);
    let status = p.xtask(["migrate-status"]).stdout();
    assert!(status.contains("marked as environment `prod`"), "{status}");
    // ... and the same history: the migration is applied, not pending.
    assert!(status.contains("1 applied"), "{status}");
    assert!(!status.contains("pending"), "{status}");
    for args in [
        vec!["migrate-reset", "--force"],
        vec!["migrate-dev"],
        vec!["migrate-down"],
    ] {
        let err = p.xtask(&args).fails_with(1);
        assert!(
            err.contains(&format!(
                "refuses {where_}: the database is marked as environment `prod`, which is protected"
            )),
            "{args:?}: {err}"
        );
    }
    // Nothing was dropped, and no second history was started in postgres's schema.
    assert_eq!(p.db.sql(&format!("SELECT count(*) FROM {role}.a")), "1");
    assert_eq!(
        p.db.sql("SELECT to_regclass('public._sqlx_migrations') IS NULL"),
        "t"
    );
    // A deploy as postgres finds the role's history: nothing to apply, no second history.
    let url = p.db.url();
    p.xtask(["migrate-deploy", "--env", "prod", "--yes"])
        .env("PROD_URL", &url)
        .ok();
    assert_eq!(
        p.db.sql(&format!(
            "SELECT (SELECT count(*) FROM {role}._sqlx_migrations), \
                    to_regclass('public._sqlx_migrations') IS NULL"
        )),
        "1|t"
    );
    p.db.sql(&format!("DROP OWNED BY {role} CASCADE"));
    p.db.sql(&format!("DROP ROLE {role}"));
}

/// "On this machine" is decided on parsed addresses: a name that merely starts like a
/// loopback address is another machine, refused before any connection; the loopback's
/// other spellings are this machine.
#[test]
fn this_machine_is_decided_by_parsed_address_not_by_prefix() {
    let p = Project::new();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    for host in [
        "127.prod.example.invalid",
        "localhost.example.invalid",
        "127.0.0.1.example.invalid",
        "[::2]",
    ] {
        p.write(
            ".env",
            &format!("DATABASE_URL=postgres://app:pw@{host}:5432/x\n"),
        );
        let err = p.xtask(["migrate-reset", "--force"]).fails_with(2);
        assert!(
            err.contains("which is not on this machine"),
            "{host}: {err}"
        );
        assert!(!err.contains("cannot connect"), "{host}: {err}");
    }
    // Other spellings of the loopback reach the test server and are accepted.
    let port = support::cluster().port();
    for host in ["127.1", "LOCALHOST", "2130706433", "127.0.0.1"] {
        p.write(
            ".env",
            &format!(
                "DATABASE_URL=postgres://postgres@{host}:{port}/{}\n",
                p.db.name
            ),
        );
        p.xtask(["migrate-reset", "--force"]).ok();
    }
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "1");
}

/// `.env` may not name a configured remote's database, however the host is spelled.
#[test]
fn dotenv_naming_a_remote_by_another_spelling_is_refused() {
    let p = project_with_envs();
    let port = support::cluster().port();
    let db = &p.db.name;
    let remote = format!("postgres://app:x@127.0.0.1:{port}/{db}");
    for dotenv in [
        format!("postgres://postgres@localhost:{port}/{db}"),
        format!("postgres://postgres@LOCALHOST:{port}/{db}"),
        format!("postgres://postgres@127.1:{port}/{db}"),
        format!("postgres://postgres@[::1]:{port}/{db}"),
        format!("postgres://postgres@127.0.0.1:{port}/{db}?sslmode=disable"),
        format!("postgres:///{db}?host=localhost&port={port}&user=postgres"),
    ] {
        p.write(".env", &format!("DATABASE_URL={dotenv}\n"));
        let err = p
            .xtask(["migrate-status"])
            .env("STAGING_URL", &remote)
            .fails_with(2);
        assert!(
            err.contains("the database of environment `staging`"),
            "{dotenv}: {err}"
        );
    }
    // A default port is the port 5432 spelled out.
    p.write(".env", "DATABASE_URL=postgres://me@Db.Example.com./shop\n");
    let err = p
        .xtask(["migrate-status"])
        .env("PROD_URL", "postgres://app:y@db.example.com:5432/shop")
        .fails_with(2);
    assert!(err.contains("the database of environment `prod`"), "{err}");
}
