//! The migrations folder as it really is on disk: a missing folder, a dangling symlink, a
//! file name that is not UTF-8, and `migrate-new` at the end of the timestamp range. Each
//! is driven through the real commands against a real database.

mod support;

use std::os::unix::ffi::OsStrExt;

use support::Project;

fn no_history(p: &Project) -> bool {
    p.db.sql("SELECT to_regclass('_sqlx_migrations') IS NULL") == "t"
}

#[test]
fn migrate_new_refuses_a_version_past_the_last_timestamp() {
    let p = Project::new();
    p.write(
        "migrations/99991231235959_last.sql",
        "CREATE TABLE last (id int);\n",
    );
    let err = p.xtask(["migrate-new", "after_last"]).fails_with(2);
    assert!(err.contains("99991231235959"), "{err}");
    assert!(err.contains("last UTC timestamp"), "{err}");
    assert!(err.contains("no migration was created"), "{err}");
    assert!(err.contains("99991231235960_after_last.sql"), "{err}");
    let names: Vec<String> = std::fs::read_dir(p.path("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["99991231235959_last.sql"]);
    // The folder is still one the engine accepts.
    p.xtask(["migrate-deploy"]).ok();
    // A version named by hand as the message says is one the engine takes too.
    p.write(
        "migrations/99991231235960_after_last.sql",
        "CREATE TABLE after_last (id int);\n",
    );
    p.xtask(["migrate-deploy"]).ok();
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "2");
}

#[test]
fn a_dangling_symlink_named_like_a_migration_is_an_error_naming_it() {
    let p = Project::new();
    p.write(
        "migrations/20260101000000_first.sql",
        "CREATE TABLE first (id int);\n",
    );
    std::os::unix::fs::symlink(
        p.path("shared/20260101000001_gone.sql"),
        p.path("migrations/20260101000001_gone.sql"),
    )
    .unwrap();
    for command in ["migrate-status", "migrate-deploy", "migrate-dev"] {
        let err = p.xtask([command]).fails_with(1);
        assert!(err.contains("20260101000001_gone.sql"), "{command}: {err}");
        assert!(err.contains("a symbolic link to"), "{command}: {err}");
        assert!(
            err.contains("shared/20260101000001_gone.sql"),
            "{command}: {err}"
        );
        assert!(err.contains("or remove it"), "{command}: {err}");
    }
    assert!(no_history(&p));
    // Once the link leads to a file, it is a migration like any other.
    p.write(
        "shared/20260101000001_gone.sql",
        "CREATE TABLE linked (id int);\n",
    );
    p.xtask(["migrate-deploy"]).ok();
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "2");
}

#[test]
fn a_file_name_that_is_not_utf8_is_reported_as_such() {
    let p = Project::new();
    let name = std::ffi::OsStr::from_bytes(b"20260101000000_caf\xe9.sql");
    std::fs::write(
        p.path("migrations").join(name),
        "CREATE TABLE cafe (id int);\n",
    )
    .unwrap();
    for command in ["migrate-status", "migrate-deploy"] {
        let err = p.xtask([command]).fails_with(1);
        assert!(
            err.contains("20260101000000_caf\u{fffd}.sql"),
            "{command}: {err}"
        );
        assert!(err.contains("not valid UTF-8"), "{command}: {err}");
        assert!(err.contains("rename it"), "{command}: {err}");
        assert!(!err.contains("No such file"), "{command}: {err}");
    }
    assert!(no_history(&p));
}

#[test]
fn a_missing_migrations_folder_is_an_error_for_every_command_but_migrate_new() {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "\n[paths]\nmigrations = \"db/migrations\"\n",
    );
    p.db.sql("CREATE TABLE precious (id int)");
    let folder = p.path("db/migrations").display().to_string();
    for args in [
        &["migrate-status"][..],
        &["migrate-deploy"],
        &["migrate-deploy", "--dry-run"],
        &["migrate-dev"],
        &["migrate-down"],
        &["migrate-reset", "--force"],
        &["migrate-resolve", "--applied", "1"],
    ] {
        let out = p.xtask(args).output();
        let err = support::stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded: {err}");
        assert!(
            err.contains(&format!("the migrations folder {folder} does not exist")),
            "{args:?}: {err}"
        );
        assert!(err.contains("[paths] migrations"), "{args:?}: {err}");
        assert!(err.contains("migrate-new"), "{args:?}: {err}");
        assert!(!err.contains("nothing to apply"), "{args:?}: {err}");
    }
    // Nothing was created, and the reset dropped nothing.
    assert!(no_history(&p));
    assert_eq!(p.db.sql("SELECT count(*) FROM precious"), "0");
    // `migrate-new` makes the folder; then everything works.
    let created = p.xtask(["migrate-new", "first"]).stdout();
    assert!(created.starts_with("db/migrations/"), "{created}");
    p.write(created.trim(), "CREATE TABLE first (id int);\n");
    p.xtask(["migrate-deploy"]).ok();
    assert_eq!(p.db.sql("SELECT count(*) FROM _sqlx_migrations"), "1");
}
