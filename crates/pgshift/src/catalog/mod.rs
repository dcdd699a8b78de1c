//! The live database's schema as a plain Rust model, read from pg_catalog.
//!
//! This is the model that code generation turns into Rust and that later work (schema
//! diff, drift detection, lint) compares, so it is complete for what it covers and
//! deterministic: every list is sorted by name (byte order, independent of the database's
//! collation) except columns, which keep their table order, and enum labels, which keep
//! their sort order. It holds names, never OIDs, so two databases with the same schema
//! give equal models.

mod queries;

use sqlx::PgConnection;

use crate::target::DbUrl;

/// The schema of one database: the relations of the introspected schemas (never the
/// migration tooling's `_sqlx_migrations` and `_pgshift_*` tables), and the enums and
/// domains they use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Catalog {
    /// The schemas that were introspected, in the order they were asked for.
    pub schemas: Vec<String>,
    /// Enums of the introspected schemas, plus those their columns use from elsewhere.
    pub enums: Vec<Enum>,
    /// Domains of the introspected schemas, plus those their columns use from elsewhere.
    pub domains: Vec<Domain>,
    /// Composite types (`CREATE TYPE ... AS (...)`) of the introspected schemas, plus those
    /// their columns use from elsewhere. Tables' own row types are not listed.
    pub composites: Vec<Composite>,
    /// Ordinary and partitioned tables (partitions themselves are not listed).
    pub tables: Vec<Table>,
    /// Views and materialized views.
    pub views: Vec<View>,
    /// The introspected schemas that exist, as objects (with their comments). The diff
    /// takes an empty list (a catalog built by hand) for an empty database's: `public`.
    pub namespaces: Vec<Schema>,
    /// Installed extensions (all of the database's but plpgsql: an extension is not inside
    /// one schema's reach), by name.
    pub extensions: Vec<Extension>,
    /// Sequences of the introspected schemas, standalone or owned by a column (`serial`);
    /// identity columns' sequences are part of their column and not listed.
    pub sequences: Vec<Sequence>,
    /// Functions and procedures of the introspected schemas (not aggregates, not extension
    /// members), by schema, name and identity arguments.
    pub functions: Vec<Function>,
    /// Triggers on the introspected relations (not internal ones such as foreign keys'),
    /// by schema, table and name.
    pub triggers: Vec<Trigger>,
}

/// A schema (namespace) as an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub name: String,
    pub comment: Option<String>,
}

/// An installed extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    /// The schema its objects are in.
    pub schema: String,
}

/// A sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub schema: String,
    pub name: String,
    /// `bigint`, `integer` or `smallint`.
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
    pub cache: i64,
    pub cycle: bool,
    /// The column that owns it (`OWNED BY`), as (table, column): the table is always in
    /// the sequence's schema.
    pub owned_by: Option<(String, String)>,
    pub comment: Option<String>,
}

/// A function or procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub schema: String,
    pub name: String,
    /// True for a procedure.
    pub procedure: bool,
    /// The arguments that identify it, as pg_get_function_identity_arguments prints them:
    /// `a integer, b text`.
    pub identity_arguments: String,
    /// The result type (pg_get_function_result); empty for a procedure.
    pub result: String,
    /// `CREATE OR REPLACE FUNCTION ...` as pg_get_functiondef prints it.
    pub definition: String,
    pub comment: Option<String>,
    /// The row type of a relation its arguments or result use (`f(p person)`, `RETURNS
    /// SETOF person`): it can only exist while that relation does.
    pub row_type: RowTypeUse,
}

/// Whose row type a function's signature uses, the strongest of its types: a view's (or
/// materialized view's) comes after a table's, as views are created after tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowTypeUse {
    /// Only scalar, enum, domain or composite (`CREATE TYPE ... AS`) types.
    #[default]
    None,
    /// A table's (or a foreign table's).
    Table,
    /// A view's or materialized view's.
    View,
}

/// A trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub schema: String,
    pub table: String,
    pub name: String,
    /// `CREATE TRIGGER ...` as pg_get_triggerdef prints it.
    pub definition: String,
    /// pg_trigger.tgenabled: `O` (origin, the default), `D` (disabled), `R`, `A`.
    pub enabled: String,
    pub comment: Option<String>,
}

/// A column's type. For an array this describes the element type, with `dims` > 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnType {
    /// The type as PostgreSQL prints it, with modifiers, qualified outside pg_catalog:
    /// `character varying(20)[]`, `public.consultation_type[]`.
    pub sql: String,
    /// The schema of the (element) type: `pg_catalog` for built-in types.
    pub schema: String,
    /// The (element) type's name in pg_type: `int4`, `varchar`, `consultation_type`.
    pub name: String,
    /// What kind of type the (element) type is.
    pub kind: TypeKind,
    /// Array dimensions: 0 for a scalar. PostgreSQL does not enforce declared dimensions;
    /// this is the declared number, at least 1 for any array.
    pub dims: u32,
}

/// pg_type.typtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TypeKind {
    Base,
    Composite,
    Domain,
    Enum,
    Pseudo,
    Range,
    Multirange,
}

/// A column of a table or view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    /// False when the column is declared NOT NULL. View columns are always nullable here:
    /// PostgreSQL does not track nullability through a view's query.
    pub nullable: bool,
    /// The default expression, as PostgreSQL prints it (not for generated columns).
    pub default: Option<String>,
    /// Whether this is an identity column.
    pub identity: Option<Identity>,
    /// An identity column's sequence options (`START WITH 100 INCREMENT BY 10`).
    pub identity_options: Option<IdentityOptions>,
    /// The expression of a generated (stored) column.
    pub generated: Option<String>,
    /// The collation when it is not the type's default, qualified: `pg_catalog."C"`.
    pub collation: Option<String>,
    pub comment: Option<String>,
}

/// `GENERATED ALWAYS AS IDENTITY` or `GENERATED BY DEFAULT AS IDENTITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    Always,
    ByDefault,
}

/// The options of an identity column's sequence, as pg_sequence holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityOptions {
    pub start: i64,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
    pub cache: i64,
    pub cycle: bool,
}

impl IdentityOptions {
    /// What `GENERATED ... AS IDENTITY` without options gives a column of type `ty`
    /// (`int2`, `int4` or `int8`).
    pub fn default_for(ty: &str) -> IdentityOptions {
        let max_value = match ty {
            "int2" => i16::MAX as i64,
            "int4" => i32::MAX as i64,
            _ => i64::MAX,
        };
        IdentityOptions {
            start: 1,
            increment: 1,
            min_value: 1,
            max_value,
            cache: 1,
            cycle: false,
        }
    }
}

/// An ordinary or partitioned table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// True for a partitioned table (its partitions are not listed separately).
    pub partitioned: bool,
    /// The partition key of a partitioned table, as pg_get_partkeydef prints it:
    /// `RANGE (created_at)`.
    pub partition_key: Option<String>,
    /// Columns in table order.
    pub columns: Vec<Column>,
    pub primary_key: Option<Key>,
    /// Unique constraints (unique indexes that are not constraints are in `indexes`).
    pub uniques: Vec<Key>,
    pub foreign_keys: Vec<ForeignKey>,
    pub checks: Vec<Check>,
    /// Exclusion constraints, by their definition.
    pub exclusions: Vec<Check>,
    /// Every index, including those behind primary key and unique constraints.
    pub indexes: Vec<Index>,
    pub comment: Option<String>,
}

/// A view or materialized view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub schema: String,
    pub name: String,
    pub materialized: bool,
    /// Columns in the view's order; all nullable.
    pub columns: Vec<Column>,
    /// The view's query as PostgreSQL prints it.
    pub definition: String,
    /// Indexes (materialized views only).
    pub indexes: Vec<Index>,
    pub comment: Option<String>,
}

/// A primary key or unique constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub columns: Vec<String>,
    /// The full definition: `UNIQUE (email)`, `PRIMARY KEY (id)`, with any options.
    pub definition: String,
    pub comment: Option<String>,
}

/// A foreign key constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub referenced_schema: String,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
    pub on_update: ReferentialAction,
    pub on_delete: ReferentialAction,
    pub deferrable: bool,
    pub initially_deferred: bool,
    /// The full definition as PostgreSQL prints it.
    pub definition: String,
    pub comment: Option<String>,
}

/// What a foreign key does when the referenced row changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferentialAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl ReferentialAction {
    /// As `ON DELETE ...` names it; `None` for the default, NO ACTION, which PostgreSQL
    /// leaves out when it prints a foreign key.
    pub fn sql(self) -> Option<&'static str> {
        match self {
            ReferentialAction::NoAction => None,
            ReferentialAction::Restrict => Some("RESTRICT"),
            ReferentialAction::Cascade => Some("CASCADE"),
            ReferentialAction::SetNull => Some("SET NULL"),
            ReferentialAction::SetDefault => Some("SET DEFAULT"),
        }
    }
}

/// A check (or exclusion) constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    /// As PostgreSQL prints it: `CHECK ((start_time < end_time))`.
    pub definition: String,
    pub comment: Option<String>,
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    pub primary: bool,
    /// The access method: `btree`, `gin`, ...
    pub method: String,
    /// Key columns, or their expressions, in order.
    pub columns: Vec<String>,
    /// The WHERE clause of a partial index.
    pub predicate: Option<String>,
    /// `CREATE INDEX ...` as PostgreSQL prints it.
    pub definition: String,
    pub comment: Option<String>,
}

/// An enum type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enum {
    pub schema: String,
    pub name: String,
    /// Labels in their sort order.
    pub labels: Vec<String>,
    pub comment: Option<String>,
}

/// A domain type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub schema: String,
    pub name: String,
    /// The underlying type (itself possibly a domain or an array).
    pub base: ColumnType,
    /// False when the domain is declared NOT NULL.
    pub nullable: bool,
    pub default: Option<String>,
    pub checks: Vec<Check>,
    pub comment: Option<String>,
}

/// A composite type: named attributes in order, each of any type (including enums, domains,
/// arrays and other composites). Attributes cannot be declared NOT NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composite {
    pub schema: String,
    pub name: String,
    pub attributes: Vec<Attribute>,
    pub comment: Option<String>,
}

/// An attribute of a composite type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub ty: ColumnType,
    pub comment: Option<String>,
}

impl Catalog {
    /// The composite type `schema.name`, if the catalog has it.
    pub fn find_composite(&self, schema: &str, name: &str) -> Option<&Composite> {
        self.composites
            .iter()
            .find(|c| c.schema == schema && c.name == name)
    }

    /// The enum `schema.name`, if the catalog has it.
    pub fn find_enum(&self, schema: &str, name: &str) -> Option<&Enum> {
        self.enums
            .iter()
            .find(|e| e.schema == schema && e.name == name)
    }

    /// The domain `schema.name`, if the catalog has it.
    pub fn find_domain(&self, schema: &str, name: &str) -> Option<&Domain> {
        self.domains
            .iter()
            .find(|d| d.schema == schema && d.name == name)
    }

    /// The view or materialized view `schema.name`, if the catalog has it.
    pub fn find_view(&self, schema: &str, name: &str) -> Option<&View> {
        self.views
            .iter()
            .find(|v| v.schema == schema && v.name == name)
    }

    /// The table `schema.name`, if the catalog has it.
    pub fn find_table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == name)
    }
}

/// Reads the catalog of `schemas` through an open connection, with a fixed handful of
/// set-based queries whatever the number of tables, in one read-only transaction. Names
/// in printed SQL (types, defaults, definitions) are schema-qualified unless they are in
/// pg_catalog: `public.consultation_type[]`. The connection must not be inside a
/// transaction.
pub async fn introspect(
    conn: &mut PgConnection,
    schemas: &[String],
) -> Result<Catalog, sqlx::Error> {
    queries::introspect(conn, schemas).await
}

/// `introspect` inside the connection's open REPEATABLE READ transaction, whose snapshot
/// it reads; sets `search_path = pg_catalog` until that transaction ends.
pub async fn introspect_in_transaction(
    conn: &mut PgConnection,
    schemas: &[String],
) -> Result<Catalog, sqlx::Error> {
    queries::introspect_in_transaction(conn, schemas).await
}

/// `introspect` on two connections at once, sharing the first one's snapshot (what `read`
/// does when it may open two). Neither connection may be in a transaction.
pub async fn introspect_in_parallel(
    first: &mut PgConnection,
    second: &mut PgConnection,
    schemas: &[String],
) -> Result<Catalog, sqlx::Error> {
    queries::introspect_in_parallel(first, second, schemas).await
}

/// Connects to `url` and reads the catalog of `schemas`, on two connections sharing one
/// snapshot (half the wall time on a large schema: the server deparses definitions on two
/// cores); on one when a second connection or the snapshot export is refused (a full
/// `max_connections`, a standby).
pub async fn read(url: &DbUrl, schemas: &[String]) -> anyhow::Result<Catalog> {
    // Either connection may be the one refused (they race for the role's last slot).
    let (mut first, second) = match tokio::join!(crate::db::connect(url), crate::db::connect(url)) {
        (Ok(first), second) => (first, second),
        (Err(refused), Ok(second)) => (second, Err(refused)),
        // Both refused can be one free slot counted twice (each starting backend counts
        // the other against the role's connection limit): one alone may still get it.
        (Err(refused), Err(_)) => (crate::db::connect(url).await?, Err(refused)),
    };
    let catalog = match second {
        Ok(mut second) => {
            let parallel = queries::introspect_in_parallel(&mut first, &mut second, schemas).await;
            crate::db::close(second).await;
            match parallel {
                Ok(catalog) => Ok(catalog),
                Err(e) => {
                    tracing::debug!(
                        "reading the catalog on two connections failed ({e}); reading on one"
                    );
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut first).await;
                    introspect(&mut first, schemas).await
                }
            }
        }
        Err(e) => {
            tracing::debug!("no second connection for the catalog read ({e}); reading on one");
            introspect(&mut first, schemas).await
        }
    }
    .map_err(|e| read_error(url, &e))?;
    crate::db::close(first).await;
    Ok(catalog)
}

/// The error for a failed catalog read of `url`, redacted (a server error can echo a
/// connection string).
pub(crate) fn read_error(url: &DbUrl, e: &sqlx::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot read the schema of {url}: {}",
        crate::target::redact(&e.to_string())
    )
}
