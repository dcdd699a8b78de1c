//! Typed bindings end to end: the committed bindings of the example domain are fresh, they
//! round-trip real rows, and `cargo xtask generate` behaves (writes only on change, --check,
//! errors that name the column, overrides).

mod support;

use std::path::Path;

use pgshift::catalog::{self, Catalog};
use pgshift::codegen;
use pgshift::config::Codegen;
use pgshift::target::DbUrl;
use support::{repo_root, Project, TestDb};

/// Applies the `.up.sql` files of `migrations` to `db` with psql, in version order.
fn apply_migrations(db: &TestDb, migrations: &Path) {
    let mut files: Vec<_> = std::fs::read_dir(migrations)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".up.sql"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no migrations in {}",
        migrations.display()
    );
    let psql = pgshift::pgbin::PgBin::client("psql").unwrap();
    for file in files {
        let out = std::process::Command::new(&psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url(), "-f"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "applying {} failed:\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A fresh database with the repository's example migrations applied.
fn example_db() -> TestDb {
    let db = TestDb::new();
    apply_migrations(&db, &repo_root().join("migrations"));
    db
}

fn introspect(db: &TestDb, schemas: &[&str]) -> Catalog {
    let url = DbUrl::parse(&db.url()).unwrap();
    let schemas: Vec<String> = schemas.iter().map(|s| s.to_string()).collect();
    runtime().block_on(catalog::read(&url, &schemas)).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// rust-analyzer's `ensure_file_contents`: the committed bindings must equal what
/// `generate` makes from the example migrations. When they do not, the file is updated
/// and the test fails with the diff, so a rerun passes and the change shows in review.
#[test]
fn example_bindings_are_fresh() {
    let db = example_db();
    let code = codegen::render(&introspect(&db, &["public"]), &Codegen::default()).unwrap();
    let path = repo_root().join("crates/db-schema/src/generated.rs");
    let label = "crates/db-schema/src/generated.rs";
    if let Some(diff) = codegen::stale_diff(&path, label, &code).unwrap() {
        codegen::write_if_changed(&path, &code).unwrap();
        panic!(
            "\n{label} was stale and has been updated; review and commit it.\n\
             To regenerate it yourself: `cargo xtask migrate-dev` (or `cargo xtask generate` \
             once the local database has every migration), or rerun \
             `cargo test -p xtask --test codegen`.\n\n{diff}"
        );
    }
}

/// A project whose database has the example migrations applied (by psql, as the migration
/// engine is not part of these tests).
fn example_project() -> Project {
    let project = Project::new();
    for entry in std::fs::read_dir(repo_root().join("migrations")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            project.path("migrations").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    apply_migrations(&project.db, &project.path("migrations"));
    project
}

const BINDINGS: &str = "crates/db-schema/src/generated.rs";

fn stamp(path: &Path) -> (std::time::SystemTime, u64) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap();
    (meta.modified().unwrap(), meta.ino())
}

#[test]
fn generate_writes_once_and_check_catches_staleness() {
    let p = example_project();
    let out = p.xtask(["generate"]).ok();
    assert!(
        support::stderr(&out).contains("wrote crates/db-schema/src/generated.rs"),
        "{}",
        support::text(&out)
    );
    let first = p.read(BINDINGS);
    assert!(first.starts_with(codegen::HEADER), "{first}");
    assert!(first.contains("pub struct Doctor {"), "{first}");
    let before = stamp(&p.path(BINDINGS));

    // Same schema: the file is not touched, so cargo has nothing to rebuild.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = p.xtask(["generate"]).ok();
    assert!(
        support::stderr(&out).contains("unchanged"),
        "{}",
        support::text(&out)
    );
    assert_eq!(stamp(&p.path(BINDINGS)), before);
    p.xtask(["generate", "--check"]).ok();

    // A schema change (what migrate-dev applies) makes the file stale.
    p.db.sql("ALTER TABLE doctor ADD COLUMN phone_number text");
    let mut check = p.xtask(["generate", "--check"]);
    let out = check.output();
    assert_eq!(out.status.code(), Some(1), "{}", support::text(&out));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("--- a/crates/db-schema/src/generated.rs"),
        "{diff}"
    );
    assert!(
        diff.contains("+    pub phone_number: Option<String>,"),
        "{diff}"
    );
    let stderr = support::stderr(&out);
    assert!(
        stderr.contains("is stale") && stderr.contains("run `cargo xtask generate`"),
        "{stderr}"
    );
    assert_eq!(p.read(BINDINGS), first, "--check must not write");

    let out = p.xtask(["--json", "generate"]).ok();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changed"], true, "{json}");
    assert_eq!(json["tables"], 2, "{json}");
    assert_eq!(json["enums"], 1, "{json}");
    assert!(p
        .read(BINDINGS)
        .contains("pub phone_number: Option<String>,"));
    p.xtask(["generate", "--check"]).ok();
}

#[test]
fn unknown_type_names_the_column_and_an_override_maps_it() {
    let p = Project::new();
    p.db.sql("CREATE TABLE gadget (id int PRIMARY KEY, spec xml, tags xml[])");
    let err = p.xtask(["generate"]).fails_with(1);
    assert!(
        err.contains("no Rust type for column gadget.spec of type `xml`")
            && err.contains("[codegen.types]"),
        "{err}"
    );
    assert!(!p.path(BINDINGS).exists(), "nothing is written on error");

    p.append("pgshift.toml", "\n[codegen.types]\nxml = \"String\"\n");
    p.xtask(["generate"]).ok();
    let code = p.read(BINDINGS);
    assert!(code.contains("pub spec: Option<String>,"), "{code}");
    assert!(code.contains("pub tags: Option<Vec<String>>,"), "{code}");

    p.append("pgshift.toml", "int4 = \"not a type!\"\n");
    let err = p.xtask(["generate"]).fails_with(2);
    assert!(
        err.contains("pgshift.toml") && err.contains("[codegen.types] \"int4\" = \"not a type!\""),
        "{err}"
    );
}
