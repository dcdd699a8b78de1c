//! Unit tests of the diff on hand-built catalogs; the correctness corpus (tests/diff.rs,
//! `cargo xtask diff-corpus`) checks the SQL against a real server.

use super::*;
use crate::catalog::{Column, ColumnType, Index, Key, Table, TypeKind};

fn ty(sql: &str, name: &str) -> ColumnType {
    ColumnType {
        sql: sql.to_string(),
        schema: "pg_catalog".to_string(),
        name: name.to_string(),
        kind: TypeKind::Base,
        dims: 0,
    }
}

fn column(name: &str, sql: &str, pg: &str, nullable: bool) -> Column {
    Column {
        name: name.to_string(),
        ty: ty(sql, pg),
        nullable,
        default: None,
        identity: None,
        identity_options: None,
        generated: None,
        collation: None,
        comment: None,
    }
}

fn table(name: &str, columns: Vec<Column>) -> Table {
    Table {
        schema: "public".to_string(),
        name: name.to_string(),
        partitioned: false,
        partition_key: None,
        columns,
        primary_key: None,
        uniques: Vec::new(),
        foreign_keys: Vec::new(),
        checks: Vec::new(),
        exclusions: Vec::new(),
        indexes: Vec::new(),
        comment: None,
    }
}

fn catalog(tables: Vec<Table>) -> Catalog {
    Catalog {
        schemas: vec!["public".to_string()],
        tables,
        ..Catalog::default()
    }
}

fn doctor() -> Table {
    let mut t = table(
        "doctor",
        vec![
            column("id", "bigint", "int8", false),
            column("name", "text", "text", false),
        ],
    );
    t.primary_key = Some(Key {
        name: "doctor_pkey".to_string(),
        columns: vec!["id".to_string()],
        definition: "PRIMARY KEY (id)".to_string(),
        comment: None,
    });
    t.indexes.push(Index {
        name: "doctor_pkey".to_string(),
        unique: true,
        primary: true,
        method: "btree".to_string(),
        columns: vec!["id".to_string()],
        predicate: None,
        definition: "CREATE UNIQUE INDEX doctor_pkey ON public.doctor USING btree (id)".to_string(),
        comment: None,
    });
    t
}

#[test]
fn same_catalog_is_empty() {
    let c = catalog(vec![doctor()]);
    let d = diff(&c, &c, &Options::default());
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(d.script(), "");
    assert_eq!(d.header(), "");
}

#[test]
fn create_table_then_its_key() {
    let d = diff(
        &catalog(vec![]),
        &catalog(vec![doctor()]),
        &Options::default(),
    );
    assert_eq!(
        d.script(),
        "CREATE TABLE public.doctor (\n    id bigint NOT NULL,\n    name text NOT NULL\n);\n\n\
         ALTER TABLE public.doctor ADD CONSTRAINT doctor_pkey PRIMARY KEY (id);\n"
    );
    assert_eq!(d.changes[0].action, Action::Create);
    assert_eq!(d.changes[0].object.to_string(), "table public.doctor");
}

#[test]
fn drop_and_add_same_type_is_a_possible_rename() {
    let mut to = doctor();
    to.columns[1].name = "full_name".to_string();
    let d = diff(
        &catalog(vec![doctor()]),
        &catalog(vec![to]),
        &Options::default(),
    );
    let kinds: Vec<_> = d.hazards().map(|(_, h)| h.kind).collect();
    assert!(kinds.contains(&HazardKind::DataLoss), "{kinds:?}");
    assert!(kinds.contains(&HazardKind::PossibleRename), "{kinds:?}");
    assert!(
        d.header()
            .contains("possible rename (column public.doctor.full_name)"),
        "{}",
        d.header()
    );
}

#[test]
fn set_not_null_goes_through_a_validated_check() {
    let mut from = doctor();
    from.columns[1].nullable = true;
    let d = diff(
        &catalog(vec![from]),
        &catalog(vec![doctor()]),
        &Options::default(),
    );
    assert_eq!(
        d.script(),
        "ALTER TABLE public.doctor ADD CONSTRAINT doctor_name_not_null CHECK (name IS NOT NULL) NOT VALID;\n\
         ALTER TABLE public.doctor VALIDATE CONSTRAINT doctor_name_not_null;\n\
         ALTER TABLE public.doctor ALTER COLUMN name SET NOT NULL;\n\
         ALTER TABLE public.doctor DROP CONSTRAINT doctor_name_not_null;\n"
    );
}

#[test]
fn concurrently_makes_a_no_transaction_script() {
    let mut to = doctor();
    to.indexes.push(Index {
        name: "doctor_name_idx".to_string(),
        unique: false,
        primary: false,
        method: "btree".to_string(),
        columns: vec!["name".to_string()],
        predicate: None,
        definition: "CREATE INDEX doctor_name_idx ON public.doctor USING btree (name)".to_string(),
        comment: None,
    });
    let options = Options {
        concurrently: true,
        ..Options::default()
    };
    let d = diff(&catalog(vec![doctor()]), &catalog(vec![to]), &options);
    assert!(d.no_transaction());
    assert_eq!(
        d.script(),
        "-- no-transaction\n\nCREATE INDEX CONCURRENTLY doctor_name_idx ON public.doctor USING btree (name);\n"
    );
    assert!(d
        .migration()
        .starts_with("-- no-transaction\n-- Changes:\n"));
}

#[test]
fn quoting() {
    assert_eq!(quote_ident("user"), "\"user\"");
    assert_eq!(quote_ident("Doctor"), "\"Doctor\"");
    assert_eq!(quote_ident("doctor_2"), "doctor_2");
    assert_eq!(quote_literal("it's"), "'it''s'");
}
