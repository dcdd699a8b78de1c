//! The schema diff's correctness corpus, a fast subset, on the harness's real cluster: for
//! every pair (A, B), `diff(A, B).script()` applied to a database in state A must give B's
//! catalog and `diff(B, B)` must be empty (`pgshift::diff::corpus`). The whole corpus is
//! `cargo xtask bench diff --corpus`.

mod support;

use pgshift::catalog;
use pgshift::diff::{self, corpus, Diff, Options};
use pgshift::target::DbUrl;
use support::{repo_root, TestDb};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn server() -> DbUrl {
    support::cluster().url("postgres")
}

/// `catalog::introspect` on one connection (codegen's and backup's path), where `read` uses
/// two.
fn read_on_one_connection(
    rt: &tokio::runtime::Runtime,
    url: &DbUrl,
    schemas: &[String],
) -> catalog::Catalog {
    rt.block_on(async {
        let mut conn = pgshift::db::connect(url).await?;
        anyhow::Ok(catalog::introspect(&mut conn, schemas).await?)
    })
    .unwrap()
}

/// The rows of `sql` run with `search_path = pg_catalog` (as the catalog reads), sorted.
fn server_rows(db: &TestDb, sql: &str) -> Vec<String> {
    let out = db.sql(&format!("SET search_path = pg_catalog; {sql}"));
    let mut rows: Vec<String> = out
        .lines()
        .filter(|l| !l.is_empty() && *l != "SET")
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}

/// Runs `pairs` through the judge and fails with every failing pair's reason and script.
fn check(pairs: Vec<corpus::Pair>) {
    let count = pairs.len();
    let outcomes = runtime()
        .block_on(corpus::check(&server(), pairs, 3, |_| {}))
        .unwrap_or_else(|e| panic!("the corpus did not run: {e:#}"));
    assert_eq!(outcomes.len(), count, "every pair must be judged");
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.failure.as_ref().map(|why| {
                format!(
                    "{}\n{why}\nscript:\n{}",
                    o.pair,
                    o.script.as_deref().unwrap_or("")
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {count} pairs fail:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn example_migrations_consecutive_states() {
    let pairs = corpus::migration_pairs(&repo_root().join("migrations")).unwrap();
    assert!(pairs.len() >= 6, "{} pairs", pairs.len());
    check(pairs);
}

#[test]
fn codegen_fixture_and_random_base_from_and_to_empty() {
    let fixture =
        std::fs::read_to_string(repo_root().join("tests/fixtures/codegen/schema.sql")).unwrap();
    let mut pairs = corpus::from_and_to_empty("codegen fixture", &["public", "types"], &fixture);
    pairs.extend(corpus::from_and_to_empty(
        "random base",
        corpus::edits::SCHEMAS,
        corpus::edits::BASE,
    ));
    check(pairs);
}

/// 40 seeded random edits of every object kind, done and undone.
#[test]
fn random_edits_seed_7() {
    check(corpus::edits::random_pairs(7, 40));
}

/// A 60-table generated SaaS schema from empty, with 100 scattered changes, and back.
#[test]
fn large_generated_schema() {
    check(corpus::large_pairs(60, 100, 3));
}

/// The judge is not blind: a script missing one change leaves the database short of B.
#[test]
fn judge_catches_a_script_missing_a_change() {
    let a = TestDb::new();
    let b = TestDb::new();
    a.sql("CREATE TABLE t (id integer PRIMARY KEY)");
    b.sql("CREATE TABLE t (id integer PRIMARY KEY, note text); CREATE INDEX t_note ON t (note)");
    let (url_a, url_b) = (
        DbUrl::parse(&a.url()).unwrap(),
        DbUrl::parse(&b.url()).unwrap(),
    );
    let schemas = vec!["public".to_string()];
    let rt = runtime();
    let from = rt.block_on(catalog::read(&url_a, &schemas)).unwrap();
    let to = rt.block_on(catalog::read(&url_b, &schemas)).unwrap();
    let full = diff::diff(&from, &to, &Options::default());
    assert_eq!(full.changes.len(), 2, "{}", full.header());
    let short = Diff {
        changes: full.changes[..1].to_vec(),
    };
    rt.block_on(corpus::apply(&url_a, &short)).unwrap();
    let after = rt.block_on(catalog::read(&url_a, &schemas)).unwrap();
    assert_ne!(corpus::normalized(&after), corpus::normalized(&to));
    let rest = diff::diff(&after, &to, &Options::default());
    assert_eq!(rest.changes.len(), 1, "{}", rest.header());
    assert!(
        rest.script().starts_with("CREATE INDEX t_note"),
        "{}",
        rest.script()
    );
}

/// A table renamed in a schema file is created there under its new name, so its key,
/// constraints, indexes and serial sequence carry the new name too (`physician_pkey`),
/// while the renamed table keeps the old ones (`doctor_pkey`). They are renamed with it:
/// nothing is dropped (a dropped primary key would take the referencing foreign key with
/// it, and a drop planned before the table's rename fails on the new name).
#[test]
fn a_renamed_tables_default_named_objects_are_renamed_with_it() {
    let table = |name: &str| {
        format!(
            "CREATE TABLE {name} (id serial PRIMARY KEY, email text UNIQUE, \
               boss integer REFERENCES {name}(id), age integer CHECK (age > 0)); \
             CREATE INDEX {name}_age_idx ON {name} (age); \
             CREATE TABLE visit_{name} (id integer PRIMARY KEY, \
               who integer NOT NULL REFERENCES {name}(id));"
        )
    };
    let a = TestDb::new();
    let b = TestDb::new();
    a.sql(&table("doctor"));
    a.sql("INSERT INTO doctor (email, age) VALUES ('a@example.com', 40)");
    b.sql(&table("physician"));
    b.sql("ALTER TABLE visit_physician RENAME TO visit_doctor");
    b.sql("ALTER TABLE visit_doctor RENAME CONSTRAINT visit_physician_pkey TO visit_doctor_pkey");
    b.sql("ALTER TABLE visit_doctor RENAME CONSTRAINT visit_physician_who_fkey TO visit_doctor_who_fkey");
    let (url_a, url_b) = (
        DbUrl::parse(&a.url()).unwrap(),
        DbUrl::parse(&b.url()).unwrap(),
    );
    let schemas = vec!["public".to_string()];
    let rt = runtime();
    let from = rt.block_on(catalog::read(&url_a, &schemas)).unwrap();
    let to = rt.block_on(catalog::read(&url_b, &schemas)).unwrap();
    let options = Options {
        renames: vec![diff::Rename {
            kind: diff::ObjectKind::Table,
            schema: "public".into(),
            table: None,
            from: "doctor".into(),
            to: "physician".into(),
        }],
        ..Options::default()
    };
    let planned = diff::diff(&from, &to, &options);
    let script = planned.script();
    assert!(!script.contains("DROP"), "nothing is dropped:\n{script}");
    for renamed in [
        "RENAME CONSTRAINT doctor_pkey TO physician_pkey",
        "RENAME CONSTRAINT doctor_email_key TO physician_email_key",
        "RENAME CONSTRAINT doctor_boss_fkey TO physician_boss_fkey",
        "RENAME CONSTRAINT doctor_age_check TO physician_age_check",
        "ALTER INDEX public.doctor_age_idx RENAME TO physician_age_idx",
        "ALTER SEQUENCE public.doctor_id_seq RENAME TO physician_id_seq",
    ] {
        assert!(script.contains(renamed), "{renamed} missing:\n{script}");
    }
    rt.block_on(corpus::apply(&url_a, &planned))
        .unwrap_or_else(|e| panic!("the script fails: {e:#}\n{script}"));
    let after = rt.block_on(catalog::read(&url_a, &schemas)).unwrap();
    assert_eq!(
        corpus::normalized(&after),
        corpus::normalized(&to),
        "the script does not reach the target:\n{script}"
    );
    assert_eq!(a.sql("SELECT count(*) FROM physician").trim(), "1");
}

/// `catalog::read` runs its queries on two connections sharing one exported snapshot. It
/// reads what one connection reads (`introspect`, codegen's path), and a role allowed a
/// single connection still gets the whole catalog (the read falls back to one connection).
#[test]
fn catalog_read_on_two_connections_equals_one_and_works_with_one_allowed() {
    let db = TestDb::new();
    db.sql(&corpus::saas::schema(30));
    db.sql(
        "DROP ROLE IF EXISTS pgshift_one_connection; \
         CREATE ROLE pgshift_one_connection LOGIN CONNECTION LIMIT 1",
    );
    let url = DbUrl::parse(&db.url()).unwrap();
    let mut limited = url::Url::parse(&db.url()).unwrap();
    limited.set_username("pgshift_one_connection").unwrap();
    let limited = DbUrl::parse(limited.as_str()).unwrap();
    let schemas = vec!["app".to_string()];
    let rt = runtime();
    let two = rt.block_on(catalog::read(&url, &schemas)).unwrap();
    assert_eq!(two.tables.len(), 30, "the generated schema's tables");
    assert!(two.tables.iter().any(|t| !t.foreign_keys.is_empty()));
    assert!(two.tables.iter().any(|t| !t.indexes.is_empty()));
    let one = read_on_one_connection(&rt, &url, &schemas);
    let parallel = rt
        .block_on(async {
            let mut first = pgshift::db::connect(&url).await?;
            let mut second = pgshift::db::connect(&url).await?;
            anyhow::Ok(catalog::introspect_in_parallel(&mut first, &mut second, &schemas).await?)
        })
        .unwrap_or_else(|e| panic!("the two-connection read itself: {e:#}"));
    assert_eq!(parallel, one, "two connections read what one reads");
    assert_eq!(two, one, "read gives the same");
    let fallback = rt
        .block_on(catalog::read(&limited, &schemas))
        .unwrap_or_else(|e| panic!("a role allowed one connection: {e:#}"));
    assert_eq!(fallback, one, "the one-connection fallback reads the same");
}

/// The catalog names the columns of keys, foreign keys and indexes from their numbers
/// (the server deparses only expression columns, and a referenced table outside the schemas
/// read): checked against PostgreSQL's own naming, column by column, on names that need
/// quoting, expressions, INCLUDE columns, a dropped column and a foreign key into another
/// schema.
#[test]
fn key_and_index_columns_are_named_as_postgresql_names_them() {
    let db = TestDb::new();
    db.sql(
        r#"CREATE SCHEMA other;
        CREATE TABLE other.country (code text, "Region" text, PRIMARY KEY (code, "Region"));
        CREATE TABLE "Order" (
            gone integer,
            id integer GENERATED ALWAYS AS IDENTITY,
            "user" text NOT NULL,
            "Total Amount" numeric,
            email text,
            country text, region text,
            PRIMARY KEY (id),
            UNIQUE ("user", "Total Amount"),
            FOREIGN KEY (country, region) REFERENCES other.country (code, "Region"),
            CHECK ("Total Amount" >= 0 AND "user" <> '')
        );
        ALTER TABLE "Order" DROP COLUMN gone;
        CREATE TABLE line (order_id integer REFERENCES "Order" (id), "select" integer,
                           PRIMARY KEY (order_id, "select"));
        CREATE INDEX order_email ON "Order" (lower(email), "user") INCLUDE (country);
        CREATE INDEX order_keyword ON "Order" ("user" DESC, "Total Amount") WHERE email IS NOT NULL;
        CREATE UNIQUE INDEX line_plain ON line ("select", order_id);"#,
    );
    let url = DbUrl::parse(&db.url()).unwrap();
    let schemas = vec!["public".to_string()];
    let read = runtime().block_on(catalog::read(&url, &schemas)).unwrap();

    // PostgreSQL's names: one line per index, `name|col1,col2`; per constraint likewise.
    let indexes = db.sql(
        "SELECT ic.relname, array_to_string(ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) \
           FROM generate_series(1, i.indnkeyatts::int4) k ORDER BY k), ',') \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace \
         ORDER BY 1",
    );
    let constraints = db.sql(
        "SELECT co.conname, \
           array_to_string(ARRAY(SELECT a.attname FROM unnest(co.conkey) WITH ORDINALITY k(n, i) \
             JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.n ORDER BY k.i), ','), \
           array_to_string(ARRAY(SELECT a.attname FROM unnest(co.confkey) WITH ORDINALITY k(n, i) \
             JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.n ORDER BY k.i), ',') \
         FROM pg_constraint co WHERE co.connamespace = 'public'::regnamespace ORDER BY 1",
    );
    let mut ours_indexes = Vec::new();
    let mut ours_constraints = Vec::new();
    for table in &read.tables {
        for index in &table.indexes {
            ours_indexes.push(format!("{}|{}", index.name, index.columns.join(",")));
        }
        for key in table.primary_key.iter().chain(&table.uniques) {
            ours_constraints.push(format!("{}|{}|", key.name, key.columns.join(",")));
        }
        for fk in &table.foreign_keys {
            ours_constraints.push(format!(
                "{}|{}|{}",
                fk.name,
                fk.columns.join(","),
                fk.referenced_columns.join(",")
            ));
        }
    }
    ours_indexes.sort();
    let theirs: Vec<&str> = indexes.lines().collect();
    assert_eq!(ours_indexes, theirs, "index columns");
    assert!(
        theirs.iter().any(|l| l.contains("lower(email)"))
            && theirs.iter().any(|l| l.contains("\"Total Amount\"")),
        "the fixture has an expression and a quoted name: {theirs:?}"
    );
    ours_constraints.sort();
    let theirs: Vec<&str> = constraints
        .lines()
        .filter(|l| !l.contains("_check|"))
        .collect();
    assert_eq!(ours_constraints, theirs, "key and foreign key columns");
    assert!(
        theirs.iter().any(|l| l.ends_with("|code,Region")),
        "a foreign key into the other schema: {theirs:?}"
    );
}

/// Comments are read by one query and attached by oid: every kind the model carries lands
/// on its own object (a relation, a column, an index, each kind of constraint, a sequence, a
/// composite type's attribute), on both read paths, and nothing lands on an object without
/// one.
#[test]
fn every_kind_of_comment_lands_on_its_object() {
    let db = TestDb::new();
    db.sql(
        r#"CREATE TYPE money_amount AS (amount numeric, "Currency" text);
        CREATE SEQUENCE invoice_number;
        CREATE TABLE "Invoice" (
            id integer PRIMARY KEY,
            "number" integer UNIQUE DEFAULT nextval('invoice_number'),
            total money_amount,
            parent integer REFERENCES "Invoice" (id),
            CONSTRAINT positive CHECK (id > 0)
        );
        CREATE INDEX invoice_parent ON "Invoice" (parent);
        CREATE VIEW open_invoice AS SELECT id, total FROM "Invoice";
        CREATE TABLE plain (id integer PRIMARY KEY, note text);
        COMMENT ON TABLE "Invoice" IS 'table';
        COMMENT ON COLUMN "Invoice"."number" IS 'column, it''s quoted';
        COMMENT ON INDEX invoice_parent IS 'index';
        COMMENT ON CONSTRAINT "Invoice_pkey" ON "Invoice" IS 'primary key';
        COMMENT ON CONSTRAINT "Invoice_number_key" ON "Invoice" IS 'unique';
        COMMENT ON CONSTRAINT "Invoice_parent_fkey" ON "Invoice" IS 'foreign key';
        COMMENT ON CONSTRAINT positive ON "Invoice" IS 'check';
        COMMENT ON SEQUENCE invoice_number IS 'sequence';
        COMMENT ON VIEW open_invoice IS 'view';
        COMMENT ON COLUMN open_invoice.total IS 'view column';
        COMMENT ON COLUMN money_amount."Currency" IS 'attribute';"#,
    );
    let url = DbUrl::parse(&db.url()).unwrap();
    let schemas = vec!["public".to_string()];
    let rt = runtime();
    let read = rt.block_on(catalog::read(&url, &schemas)).unwrap();
    let one = read_on_one_connection(&rt, &url, &schemas);
    assert_eq!(read, one, "both read paths");

    let mut found: Vec<String> = Vec::new();
    let mut note = |what: String, comment: &Option<String>| {
        found.push(format!("{what}: {}", comment.as_deref().unwrap_or("-")));
    };
    for t in &read.tables {
        note(format!("table {}", t.name), &t.comment);
        for c in &t.columns {
            note(format!("column {}.{}", t.name, c.name), &c.comment);
        }
        for i in &t.indexes {
            note(format!("index {}", i.name), &i.comment);
        }
        for k in t.primary_key.iter().chain(&t.uniques) {
            note(format!("key {}", k.name), &k.comment);
        }
        for f in &t.foreign_keys {
            note(format!("foreign key {}", f.name), &f.comment);
        }
        for c in &t.checks {
            note(format!("check {}", c.name), &c.comment);
        }
    }
    for v in &read.views {
        note(format!("view {}", v.name), &v.comment);
        for c in &v.columns {
            note(format!("column {}.{}", v.name, c.name), &c.comment);
        }
    }
    for s in &read.sequences {
        note(format!("sequence {}", s.name), &s.comment);
    }
    for c in &read.composites {
        note(format!("type {}", c.name), &c.comment);
        for a in &c.attributes {
            note(format!("attribute {}.{}", c.name, a.name), &a.comment);
        }
    }
    found.sort();
    let expected = [
        "attribute money_amount.Currency: attribute",
        "attribute money_amount.amount: -",
        "check positive: check",
        "column Invoice.id: -",
        "column Invoice.number: column, it's quoted",
        "column Invoice.parent: -",
        "column Invoice.total: -",
        "column open_invoice.id: -",
        "column open_invoice.total: view column",
        "column plain.id: -",
        "column plain.note: -",
        "foreign key Invoice_parent_fkey: foreign key",
        "index Invoice_number_key: -",
        "index Invoice_pkey: -",
        "index invoice_parent: index",
        "index plain_pkey: -",
        "key Invoice_number_key: unique",
        "key Invoice_pkey: primary key",
        "key plain_pkey: -",
        "sequence invoice_number: sequence",
        "table Invoice: table",
        "table plain: -",
        "type money_amount: -",
        "view open_invoice: view",
    ];
    assert_eq!(found, expected);
}

/// Index definitions are composed from their parts unless the server must deparse them:
/// either way each is what `pg_get_indexdef` prints, on every kind an application has
/// (orderings, INCLUDE, partial, operator classes in and outside pg_catalog, methods,
/// constraint-owned indexes, names that need quoting) and on those the server keeps
/// (expressions, options, collations, varchar, enum and array columns, partitioned tables).
#[test]
fn index_definitions_are_what_postgresql_prints() {
    let db = TestDb::new();
    db.sql(
        r#"CREATE EXTENSION pg_trgm;
        CREATE SCHEMA other;
        CREATE TYPE mood AS ENUM ('sad', 'happy');
        CREATE TABLE "Order" (
            id bigint GENERATED ALWAYS AS IDENTITY,
            "select" integer NOT NULL,
            code varchar(20) UNIQUE,
            name text,
            email text,
            tags text[],
            doc jsonb,
            feeling mood,
            body tsvector,
            placed timestamptz,
            PRIMARY KEY (id) INCLUDE ("select"),
            UNIQUE NULLS NOT DISTINCT (email, name)
        );
        CREATE INDEX order_plain ON "Order" (placed);
        CREATE INDEX "Order Two" ON "Order" ("select", name);
        CREATE UNIQUE INDEX order_unique ON "Order" (name, placed);
        CREATE INDEX order_desc ON "Order" (placed DESC, name DESC NULLS LAST, "select" NULLS FIRST);
        CREATE INDEX order_desc_first ON "Order" (placed DESC NULLS FIRST, name ASC NULLS LAST);
        CREATE INDEX order_include ON "Order" (name) INCLUDE (email, placed);
        CREATE INDEX order_partial ON "Order" (email) WHERE email IS NOT NULL AND "select" > 3;
        CREATE INDEX order_pattern ON "Order" (name text_pattern_ops, email);
        CREATE INDEX order_varchar ON "Order" (code);
        CREATE INDEX order_varchar_pattern ON "Order" (code varchar_pattern_ops);
        CREATE INDEX order_enum ON "Order" (feeling);
        CREATE INDEX order_tags ON "Order" USING gin (tags);
        CREATE INDEX order_doc ON "Order" USING gin (doc);
        CREATE INDEX order_doc_path ON "Order" USING gin (doc jsonb_path_ops);
        CREATE INDEX order_trgm ON "Order" USING gin (name public.gin_trgm_ops);
        CREATE INDEX order_trgm_siglen ON "Order" USING gist (name public.gist_trgm_ops (siglen = 32));
        CREATE INDEX order_body ON "Order" USING gist (body);
        CREATE INDEX order_hash ON "Order" USING hash (email);
        CREATE INDEX order_brin ON "Order" USING brin (placed);
        CREATE INDEX order_expr ON "Order" (lower(email), "select");
        CREATE INDEX order_collate ON "Order" (name COLLATE "C");
        CREATE INDEX order_fill ON "Order" (placed) WITH (fillfactor = 70);
        CREATE TABLE other.event (at timestamptz, kind text, PRIMARY KEY (at, kind))
            PARTITION BY RANGE (at);
        CREATE INDEX event_kind ON other.event (kind);
        CREATE TABLE other.plain ("Key" text PRIMARY KEY, n int);
        CREATE UNIQUE INDEX plain_n ON other.plain (n DESC) WHERE n > 0;"#,
    );
    let url = DbUrl::parse(&db.url()).unwrap();
    let schemas = vec!["public".to_string(), "other".to_string()];
    let rt = runtime();
    let read = rt.block_on(catalog::read(&url, &schemas)).unwrap();
    // The one-connection path deparses the server's share of the indexes too.
    assert_eq!(
        read,
        read_on_one_connection(&rt, &url, &schemas),
        "both read paths"
    );
    let mut ours: Vec<String> = read
        .tables
        .iter()
        .flat_map(|t| t.indexes.iter())
        .map(|i| format!("{}|{}", i.name, i.definition))
        .collect();
    ours.sort();
    let theirs = server_rows(
        &db,
        "SELECT ic.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i \
         JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid \
         WHERE c.relnamespace IN ('public'::regnamespace, 'other'::regnamespace)",
    );
    assert_eq!(ours, theirs);
    assert_eq!(theirs.len(), 29, "every index of the fixture: {theirs:#?}");
}

/// Primary key, unique and foreign key definitions are composed from their parts (checks and
/// a few others are deparsed by the server): each is what `pg_get_constraintdef` prints.
#[test]
fn constraint_definitions_are_what_postgresql_prints() {
    let db = TestDb::new();
    db.sql(
        r#"CREATE SCHEMA other;
        CREATE SCHEMA outside;
        CREATE TABLE outside.region (code text PRIMARY KEY, "Name" text UNIQUE);
        CREATE TABLE other.country ("Code" text, "select" int, PRIMARY KEY ("Code", "select"));
        CREATE TABLE "Order" (
            id bigint GENERATED ALWAYS AS IDENTITY,
            "user" text NOT NULL,
            parent bigint,
            country text, n int,
            region text REFERENCES outside.region (code) ON DELETE SET NULL,
            region_name text,
            a int, b int,
            CONSTRAINT "Order pk" PRIMARY KEY (id) INCLUDE ("user"),
            UNIQUE NULLS NOT DISTINCT (a, b),
            UNIQUE ("user") DEFERRABLE INITIALLY DEFERRED,
            CONSTRAINT order_late UNIQUE (a) DEFERRABLE,
            FOREIGN KEY (parent) REFERENCES "Order" (id) ON UPDATE CASCADE ON DELETE RESTRICT,
            FOREIGN KEY (country, n) REFERENCES other.country ("Code", "select") MATCH FULL
                ON DELETE SET DEFAULT DEFERRABLE,
            CONSTRAINT order_set_null FOREIGN KEY (country, n) REFERENCES other.country
                ON DELETE SET NULL (n),
            CONSTRAINT order_named_ref FOREIGN KEY (region_name) REFERENCES outside.region ("Name"),
            CHECK (a > 0)
        );
        ALTER TABLE "Order" ADD CONSTRAINT order_unchecked FOREIGN KEY (b)
            REFERENCES "Order" (id) NOT VALID;
        CREATE TABLE other.line (id int PRIMARY KEY, order_id bigint NOT NULL
            REFERENCES public."Order" ON DELETE CASCADE);"#,
    );
    let url = DbUrl::parse(&db.url()).unwrap();
    let schemas = vec!["public".to_string(), "other".to_string()];
    let read = runtime().block_on(catalog::read(&url, &schemas)).unwrap();
    let mut ours: Vec<String> = Vec::new();
    for t in &read.tables {
        for k in t.primary_key.iter().chain(&t.uniques) {
            ours.push(format!("{}|{}", k.name, k.definition));
        }
        for f in &t.foreign_keys {
            ours.push(format!("{}|{}", f.name, f.definition));
        }
        for c in &t.checks {
            ours.push(format!("{}|{}", c.name, c.definition));
        }
    }
    ours.sort();
    let theirs = server_rows(
        &db,
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE connamespace IN ('public'::regnamespace, 'other'::regnamespace) \
           AND contype IN ('p', 'u', 'f', 'c')",
    );
    assert_eq!(ours, theirs);
    assert_eq!(
        theirs.len(),
        14,
        "every constraint of the fixture: {theirs:#?}"
    );
}

/// The diff from `a` to `b`, each SQL loaded into a database of its own.
fn diff_of(a: &str, b: &str) -> Diff {
    let (da, db) = (TestDb::new(), TestDb::new());
    da.sql(a);
    db.sql(b);
    let schemas = vec!["public".to_string()];
    let rt = runtime();
    let from = rt
        .block_on(catalog::read(&DbUrl::parse(&da.url()).unwrap(), &schemas))
        .unwrap();
    let to = rt
        .block_on(catalog::read(&DbUrl::parse(&db.url()).unwrap(), &schemas))
        .unwrap();
    diff::diff(&from, &to, &Options::default())
}

#[test]
fn dropping_an_attribute_of_a_composite_type_is_data_loss() {
    let d = diff_of(
        "CREATE TYPE addr AS (street text, zip varchar(5), extra int);",
        "CREATE TYPE addr AS (street text, zip varchar(5));",
    );
    assert!(
        d.script().contains("DROP ATTRIBUTE extra"),
        "{}",
        d.script()
    );
    let lost: Vec<&str> = d
        .hazards()
        .filter(|(_, h)| h.kind == diff::HazardKind::DataLoss)
        .map(|(_, h)| h.message.as_str())
        .collect();
    assert_eq!(
        lost,
        ["attribute extra of composite type public.addr is dropped, and with it its value in every column of that type"]
    );
}

#[test]
fn functions_over_row_types_come_after_their_relations_and_go_before_them() {
    // From empty, functions would be created before the tables whose row type they take or
    // return ("type public.person does not exist"); to empty, dropped after them.
    check(corpus::from_and_to_empty(
        "row types",
        &["public"],
        "CREATE TABLE person (id int PRIMARY KEY, first text, last text);\n\
         CREATE FUNCTION full_name(p person) RETURNS text LANGUAGE sql AS $$ SELECT p.first || ' ' || p.last $$;\n\
         CREATE FUNCTION people() RETURNS SETOF person LANGUAGE sql AS $$ SELECT * FROM person $$;\n\
         CREATE FUNCTION firsts(ps person[]) RETURNS int LANGUAGE sql AS $$ SELECT cardinality(ps) $$;\n\
         CREATE VIEW named AS SELECT id, full_name(p) AS name FROM person p;\n\
         CREATE FUNCTION named_rows() RETURNS SETOF named LANGUAGE sql AS $$ SELECT * FROM named $$;\n\
         CREATE FUNCTION plain(x int) RETURNS int LANGUAGE sql AS $$ SELECT x $$;\n\
         CREATE TABLE counter (n int DEFAULT plain(1));\n",
    ));
}

#[test]
fn identity_options_are_compared_created_and_altered() {
    let pair = |name: &str, from: &str, to: &str| corpus::Pair {
        name: name.to_string(),
        schemas: vec!["public".to_string()],
        from_sql: from.to_string(),
        to_sql: to.to_string(),
        renames: Vec::new(),
        regenerate: None,
    };
    let plain = "CREATE TABLE t (id int GENERATED BY DEFAULT AS IDENTITY, n int);";
    let options = "CREATE TABLE t (id int GENERATED BY DEFAULT AS IDENTITY \
                   (START WITH 100 INCREMENT BY 10 MAXVALUE 100000 CACHE 5 CYCLE), \
                   n int GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START WITH 0));";
    let bigger = "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 7), \
                  n int GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START WITH 0));";
    let mut pairs = corpus::from_and_to_empty("identity options", &["public"], options);
    pairs.extend([
        pair("identity options: set", plain, options),
        pair("identity options: reset", options, plain),
        pair("identity options: type, kind and options", options, bigger),
    ]);
    check(pairs);
    // Options that differ are a change (before, two such states compared equal).
    let d = diff_of(plain, options);
    assert!(
        d.script()
            .contains("SET START WITH 100 SET INCREMENT BY 10"),
        "{}",
        d.script()
    );
}

#[test]
fn a_generated_column_is_dropped_before_a_column_it_reads_changes_type() {
    check(vec![corpus::Pair {
        name: "generated column over a column whose type changes".into(),
        schemas: vec!["public".into()],
        from_sql: "CREATE TABLE item (id int PRIMARY KEY, price int, qty int, \
                   total int GENERATED ALWAYS AS (price * qty) STORED);"
            .into(),
        to_sql: "CREATE TABLE item (id int PRIMARY KEY, price bigint, qty int, \
                 total bigint GENERATED ALWAYS AS (price * qty) STORED);"
            .into(),
        renames: Vec::new(),
        regenerate: None,
    }]);
}

#[test]
fn a_unique_index_on_an_existing_table_may_fail() {
    let d = diff_of(
        "CREATE TABLE t (email text);",
        "CREATE TABLE t (email text); CREATE UNIQUE INDEX t_email ON t (email);",
    );
    let may_fail: Vec<&str> = d
        .hazards()
        .filter(|(_, h)| h.kind == diff::HazardKind::MayFail)
        .map(|(_, h)| h.message.as_str())
        .collect();
    assert_eq!(
        may_fail,
        ["unique index t_email fails if existing rows of public.t hold duplicates"]
    );
    // On a table created with it, nothing can fail.
    let d = diff_of(
        "",
        "CREATE TABLE t (email text); CREATE UNIQUE INDEX t_email ON t (email);",
    );
    assert_eq!(d.hazards().count(), 0, "{}", d.header());
}

#[test]
fn a_default_calling_a_function_recreated_is_dropped_around_it() {
    check(vec![corpus::Pair {
        name: "function result type changes under a column default".into(),
        schemas: vec!["public".into()],
        from_sql: "CREATE FUNCTION now_utc() RETURNS timestamp LANGUAGE sql AS $$ SELECT now() AT TIME ZONE 'utc' $$;\n\
                   CREATE TABLE event (id int, \"createdAt\" timestamp DEFAULT now_utc());"
            .into(),
        to_sql: "CREATE FUNCTION now_utc() RETURNS timestamptz LANGUAGE sql AS $$ SELECT now() $$;\n\
                 CREATE TABLE event (id int, \"createdAt\" timestamp DEFAULT now_utc());"
            .into(),
        renames: Vec::new(),
        regenerate: None,
    }]);
}
