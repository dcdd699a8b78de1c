//! Typed bindings end to end: the committed bindings of the example domain are fresh, they
//! round-trip real rows, and `cargo xtask generate` behaves (writes only on change, --check,
//! errors that name the column, overrides).

mod support;

use std::path::Path;

use pgshift::catalog::{self, Catalog};
use pgshift::codegen;
use pgshift::config::{Codegen, Config, DateTimeCrate};
use pgshift::migrations;
use pgshift::target::{DbUrl, Target, UrlSource};
use support::{repo_root, Project, TestDb};

/// Applies the migrations of `folder` to `db` with the migration engine.
fn apply_migrations(db: &TestDb, folder: &Path) {
    let mut config = Config::default();
    config.paths.migrations = folder.to_path_buf();
    let target = Target {
        env: "local".into(),
        url: DbUrl::parse(&db.url()).unwrap(),
        source: UrlSource::LocalBackend,
        protected: false,
    };
    let report = runtime()
        .block_on(migrations::migrate_dev(&config, &target, &mut |_| {}))
        .unwrap_or_else(|e| panic!("applying {}: {e}", folder.display()));
    assert!(
        !report.applied.is_empty(),
        "no migrations in {}",
        folder.display()
    );
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
    // The repository's own configuration, exactly as `cargo xtask generate` reads it.
    let config = Config::discover(repo_root()).unwrap();
    let db = example_db();
    let schemas: Vec<&str> = config.codegen.schemas.iter().map(String::as_str).collect();
    let code = codegen::render(&introspect(&db, &schemas), &config.codegen).unwrap();
    let path = config.paths.bindings.clone();
    let label = path
        .strip_prefix(&config.root)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let label = label.as_str();
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

/// A project with the example migrations, applied by `cargo xtask migrate-dev` (which also
/// writes the project's bindings).
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
    project.xtask(["migrate-dev"]).ok();
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
    // migrate-dev wrote the bindings; remove them so that generate writes them anew.
    std::fs::remove_file(p.path(BINDINGS)).unwrap();
    let out = p.xtask(["generate"]).ok();
    assert!(
        support::stderr(&out).contains("bindings updated: crates/db-schema/src/generated.rs"),
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
    // Left out of the struct with a warning per column and a note in the struct's docs.
    let out = p.xtask(["generate", "--json"]).ok();
    let err = support::stderr(&out);
    assert!(
        err.contains("warning: column gadget.spec (`xml`) left out of the bindings: no Rust type; map \"xml\" under [codegen.types]")
            && err.contains("warning: column gadget.tags (`xml[]`) left out"),
        "{err}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["skipped"][0]["column"], "gadget.spec", "{json}");
    let code = p.read(BINDINGS);
    assert!(
        code.contains("/// - `spec` (`xml`): no Rust type"),
        "{code}"
    );
    assert!(
        code.contains("pub struct Gadget {\n    pub id: i32,\n}"),
        "{code}"
    );
    // strict makes it the error it was, and writes nothing.
    std::fs::remove_file(p.path(BINDINGS)).unwrap();
    p.append("pgshift.toml", "\n[codegen]\nstrict = true\n");
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

#[test]
fn a_missing_schema_is_an_error_not_empty_bindings() {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "\n[codegen]\nschemas = [\"public\", \"billing\"]\n",
    );
    let err = p.xtask(["generate"]).fails_with(1);
    assert!(
        err.contains("schema billing of [codegen] schemas does not exist in postgres://"),
        "{err}"
    );
    p.db.sql("CREATE SCHEMA billing; CREATE TABLE billing.invoice (id int PRIMARY KEY)");
    p.xtask(["generate"]).ok();
    assert!(p.read(BINDINGS).contains("pub struct BillingInvoice {"));
}

/// The catalog model of the example domain, as a reviewed snapshot: the keys, the foreign
/// key's action, the checks, the indexes, the enum's labels in order, the comments.
#[test]
fn example_catalog_is_complete_and_deterministic() {
    let db = example_db();
    let catalog = introspect(&db, &["public"]);
    expect_test::expect_file!["fixtures/codegen/example_catalog.txt"]
        .assert_eq(&format!("{catalog:#?}\n"));
    // Another database with the same migrations (other OIDs, other creation times) and a
    // search_path without public (which changes how PostgreSQL prints names) gives the
    // same model.
    let other = example_db();
    other.sql(&format!(
        "ALTER DATABASE {} SET search_path = \"$user\"",
        other.name
    ));
    assert_eq!(introspect(&other, &["public"]), catalog);
}

fn fixture_db() -> TestDb {
    let db = TestDb::new();
    let path = repo_root().join("tests/fixtures/codegen/schema.sql");
    let sql = std::fs::read_to_string(&path).unwrap();
    let url = DbUrl::parse(&db.url()).unwrap();
    runtime().block_on(async {
        let mut conn = pgshift::db::connect(&url).await.unwrap();
        sqlx::raw_sql(&sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        pgshift::db::close(conn).await;
    });
    db
}

fn options(datetime: DateTimeCrate, serde: bool) -> Codegen {
    Codegen {
        datetime,
        serde,
        ..Codegen::default()
    }
}

/// Every mapped type and every awkward name, generated with both date-time crates, with
/// and without serde, with and without nullable array elements. The outputs are reviewed snapshots (UPDATE_EXPECT=1 rewrites them);
/// crates/db-schema/tests/fixture_bindings.rs compiles them and round-trips rows.
#[test]
fn fixture_bindings_match_the_reviewed_snapshots() {
    let db = fixture_db();
    let all = introspect(&db, &["public", "types"]);
    let chrono = codegen::render(&all, &options(DateTimeCrate::Chrono, false)).unwrap();
    expect_test::expect_file!["fixtures/codegen/bindings_chrono.rs"].assert_eq(&chrono);
    // Tables are named before enums: the table "Mood" keeps `Mood`, the enum `mood` yields.
    assert!(
        chrono.contains("pub struct Mood {") && chrono.contains("pub enum MoodEnum {"),
        "{chrono}"
    );

    let public = introspect(&db, &["public"]);
    let time = codegen::render(&public, &options(DateTimeCrate::Time, true)).unwrap();
    expect_test::expect_file!["fixtures/codegen/bindings_time_serde.rs"].assert_eq(&time);

    // Every schema with time and without serde (serde rejects `money` of the types
    // schema), arrays with nullable elements.
    let time_nullable = Codegen {
        nullable_array_elements: true,
        ..options(DateTimeCrate::Time, false)
    };
    let time = codegen::render(&all, &time_nullable).unwrap();
    expect_test::expect_file!["fixtures/codegen/bindings_time.rs"].assert_eq(&time);
    assert!(
        time.contains("pub c_int4_array: Vec<Option<i32>>,")
            && time.contains("pub moods: Vec<Option<MoodEnum>>,"),
        "{time}"
    );

    // Rendering is a pure function of the catalog.
    assert_eq!(
        codegen::render(&all, &options(DateTimeCrate::Chrono, false)).unwrap(),
        chrono
    );

    // With serde, columns whose types have no serde support are left out; strict refuses.
    let serde = codegen::render_bindings(&all, &options(DateTimeCrate::Chrono, true)).unwrap();
    assert!(
        serde
            .skipped
            .iter()
            .any(|s| s.column == "types.every_type.c_money"),
        "{:?}",
        serde.skipped
    );
    let strict = Codegen {
        strict: true,
        ..options(DateTimeCrate::Chrono, true)
    };
    let types_only = introspect(&db, &["types"]);
    let err = codegen::render(&types_only, &strict)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("column every_type.c_money of type `money` maps to sqlx::postgres::types::PgMoney, which does not implement serde's traits"),
        "{err}"
    );
}

#[test]
fn fixture_catalog_describes_types_keys_and_views() {
    let db = fixture_db();
    let catalog = introspect(&db, &["public", "types"]);
    let names: Vec<String> = catalog
        .tables
        .iter()
        .map(|t| format!("{}.{}", t.schema, t.name))
        .collect();
    assert_eq!(
        names,
        [
            "public.Mood",
            "public.Order Items",
            "public.article",
            "public.measurement",
            "public.option",
            "public.order",
            "types.every_type"
        ],
        "bookkeeping tables and partitions are left out; order is byte order"
    );
    // Composite types with their attributes in order; the partitioned table is marked.
    let composites: Vec<String> = catalog
        .composites
        .iter()
        .map(|c| {
            let attributes: Vec<String> = c
                .attributes
                .iter()
                .map(|a| format!("{} {}", a.name, a.ty.sql))
                .collect();
            format!("{}({})", c.name, attributes.join(", "))
        })
        .collect();
    assert_eq!(
        composites,
        [
            "address(street text, city text, zip text)",
            "contact(name text, mood public.mood, home public.address, phones text[])",
            "odd_shape(label text, doc tsvector)"
        ]
    );
    assert!(
        catalog
            .find_table("public", "measurement")
            .unwrap()
            .partitioned
    );
    let enums: Vec<(&str, &[String])> = catalog
        .enums
        .iter()
        .map(|e| (e.name.as_str(), e.labels.as_slice()))
        .collect();
    assert_eq!(
        format!("{enums:?}"),
        r#"[("Priority", ["low", "high"]), ("mood", ["sad", "ok", "very happy", "Mixed-Up", "Sad"]), ("user", ["guest", "member"])]"#
    );

    let every = catalog.find_table("types", "every_type").unwrap();
    let column = |name: &str| every.columns.iter().find(|c| c.name == name).unwrap();
    assert_eq!(every.columns.first().unwrap().name, "id");
    assert_eq!(every.columns.last().unwrap().name, "c_generated");
    assert_eq!(column("id").identity, Some(catalog::Identity::Always));
    assert_eq!(
        column("c_generated").generated.as_deref(),
        Some("(c_int4 * 2)")
    );
    assert_eq!(column("c_generated").default, None);
    assert_eq!(
        column("c_serial").default.as_deref(),
        Some("nextval('types.every_type_c_serial_seq'::regclass)")
    );
    let ty = &column("c_mood_array").ty;
    assert_eq!(
        (ty.name.as_str(), ty.kind, ty.dims, ty.sql.as_str()),
        ("mood", catalog::TypeKind::Enum, 1, "public.mood[]")
    );
    let ty = &column("c_varchar").ty;
    assert_eq!(
        (ty.name.as_str(), ty.dims, ty.sql.as_str()),
        ("varchar", 0, "character varying(20)")
    );
    assert!(!column("c_positive").nullable && column("c_rating").nullable);
    let rating = catalog.find_domain("public", "rating").unwrap();
    assert_eq!(
        (rating.base.name.as_str(), rating.base.kind),
        ("positive_int", catalog::TypeKind::Domain)
    );
    assert_eq!(
        rating.checks[0].definition,
        "CHECK (((VALUE)::integer <= 5))"
    );
    let counts = catalog.find_domain("public", "small_counts").unwrap();
    assert_eq!((counts.base.name.as_str(), counts.base.dims), ("int2", 1));
    assert_eq!(every.checks[0].definition, "CHECK ((c_int4 < 1000))");
    let partial = every
        .indexes
        .iter()
        .find(|i| i.name == "every_type_text_partial")
        .unwrap();
    assert_eq!(partial.columns, ["lower(c_text)", "c_int4"]);
    assert_eq!(partial.predicate.as_deref(), Some("c_bool"));
    assert_eq!(
        every
            .indexes
            .iter()
            .find(|i| i.name == "every_type_jsonb")
            .unwrap()
            .method,
        "gin"
    );

    let order = catalog.find_table("public", "order").unwrap();
    let fk = &order.foreign_keys[0];
    assert_eq!(
        (
            fk.columns.as_slice(),
            fk.referenced_table.as_str(),
            fk.referenced_columns.as_slice(),
            fk.on_delete
        ),
        (
            &["item_id".to_string()][..],
            "Order Items",
            &["ID".to_string()][..],
            catalog::ReferentialAction::SetNull
        )
    );
    assert_eq!(order.uniques[0].columns, ["item_id", "note"]);

    let views: Vec<(&str, bool)> = catalog
        .views
        .iter()
        .map(|v| (v.name.as_str(), v.materialized))
        .collect();
    assert_eq!(
        views,
        [
            ("Mood Counts", true),
            ("article_search", false),
            ("order_summary", false)
        ]
    );
    let summary = &catalog.views[2];
    assert_eq!(summary.comment.as_deref(), Some("Orders with their item"));
    let columns: Vec<&str> = summary.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(columns, ["id", "type", "mood", "total"]);
    assert!(summary.columns.iter().all(|c| c.nullable));
    assert_eq!(catalog.views[0].indexes[0].name, "mood_counts_mood");

    // Only the configured schemas, plus the types their columns use.
    let public_only = introspect(&db, &["types"]);
    assert_eq!(public_only.tables.len(), 1);
    assert!(public_only.find_enum("public", "mood").is_some());
    assert!(public_only.find_enum("public", "Priority").is_none());
}

#[test]
fn migrate_dev_updates_the_bindings_when_a_migration_adds_a_column() {
    let p = example_project();
    let before = p.read(BINDINGS);
    assert!(before.contains("pub struct Doctor"), "{before}");
    assert!(!before.contains("pub phone:"), "{before}");
    p.write(
        "migrations/20261120100000_add_doctor_phone.sql",
        "ALTER TABLE doctor ADD COLUMN phone text;\n",
    );
    let out = p.xtask(["migrate-dev"]).ok();
    assert!(
        support::stderr(&out).contains("bindings updated"),
        "{}",
        support::text(&out)
    );
    let after = p.read(BINDINGS);
    assert!(after.contains("pub phone: Option<String>"), "{after}");
    // Nothing new to apply: the bindings are left alone.
    let stamp_before = stamp(&p.path(BINDINGS));
    let out = p.xtask(["migrate-dev"]).ok();
    assert!(
        support::stderr(&out).contains("bindings unchanged"),
        "{}",
        support::text(&out)
    );
    assert_eq!(stamp(&p.path(BINDINGS)), stamp_before);
}

/// `sql_ident` (the enums' `type_name`, which sqlx matches against the server's own
/// spelling) quotes exactly what the server's `quote_ident` quotes.
#[test]
fn sql_ident_quotes_as_the_server_does() {
    let db = TestDb::new();
    let names = [
        "plain",
        "with$dollar",
        "_under",
        "Mixed",
        "2fa",
        "order",
        "user",
        "int",
        "café",
        "a\"b",
        "has space",
        "value",
    ];
    let url = DbUrl::parse(&db.url()).unwrap();
    let server: Vec<String> = runtime().block_on(async {
        let mut conn = pgshift::db::connect(&url).await.unwrap();
        let quoted = sqlx::query_scalar("SELECT quote_ident(n) FROM unnest($1::text[]) n")
            .bind(names)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        pgshift::db::close(conn).await;
        quoted
    });
    let ours: Vec<String> = names.iter().map(|n| codegen::names::sql_ident(n)).collect();
    assert_eq!(ours, server);
}

/// An array of a domain reaches the client as the domain's array type, which sqlx will
/// not decode into `Vec<base>`: generation refuses it and says what to do instead.
#[test]
fn an_array_of_a_domain_is_an_error_that_says_what_to_do() {
    let p = Project::new();
    p.db.sql(
        "CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0); \
         CREATE DOMAIN rating AS positive_int CHECK (VALUE <= 5); \
         CREATE TABLE review (id int PRIMARY KEY, score positive_int, scores rating[])",
    );
    p.append("pgshift.toml", "\n[codegen]\nstrict = true\n");
    let err = p.xtask(["generate"]).fails_with(1);
    assert!(
        err.contains("column review.scores of type `public.rating[]` is an array of a domain")
            && err.contains("`column::integer[]`")
            && err.contains("map \"rating\" under [codegen.types]"),
        "{err}"
    );
    assert!(!p.path(BINDINGS).exists(), "nothing is written on error");

    // What the error rules out does fail at runtime: sqlx refuses the row.
    let url = DbUrl::parse(&p.db.url()).unwrap();
    runtime().block_on(async {
        let mut conn = pgshift::db::connect(&url).await.unwrap();
        let refused = sqlx::query_scalar::<_, Vec<i32>>("SELECT '{1,2}'::rating[]")
            .fetch_one(&mut conn)
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains("not compatible"), "{refused}");
        // The cast the error suggests reads fine.
        let cast: Vec<i32> = sqlx::query_scalar("SELECT '{1,2}'::rating[]::integer[]")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(cast, [1, 2]);
        pgshift::db::close(conn).await;
    });

    // A scalar domain is fine (PostgreSQL reports its base type); an override maps the
    // array's domain to a type of the user's.
    p.append(
        "pgshift.toml",
        "\n[codegen.types]\nrating = \"my_types::Rating\"\n",
    );
    p.xtask(["generate"]).ok();
    let code = p.read(BINDINGS);
    assert!(code.contains("pub score: Option<i32>,"), "{code}");
    assert!(
        code.contains("pub scores: Option<Vec<my_types::Rating>>,"),
        "{code}"
    );
}

#[test]
fn a_partitioned_table_is_one_struct_unless_partitions_are_asked_for() {
    let p = Project::new();
    p.db.sql(
        "CREATE TABLE reading (id bigint NOT NULL, taken_on date NOT NULL) PARTITION BY RANGE (taken_on); \
         CREATE TABLE reading_2026 PARTITION OF reading FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
    );
    p.xtask(["generate"]).ok();
    let code = p.read(BINDINGS);
    assert!(code.contains("pub struct Reading {"), "{code}");
    assert!(!code.contains("Reading2026"), "{code}");
    p.append("pgshift.toml", "\n[codegen]\npartitions = true\n");
    p.xtask(["generate"]).ok();
    let code = p.read(BINDINGS);
    assert!(code.contains("pub struct Reading {"), "{code}");
    assert!(code.contains("/// A partition of reading.\n"), "{code}");
    assert!(code.contains("pub struct Reading2026 {\n    pub id: i64,\n    pub taken_on: sqlx::types::chrono::NaiveDate,\n}"), "{code}");
}
