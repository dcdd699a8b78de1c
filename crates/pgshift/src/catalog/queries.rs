//! The pg_catalog queries behind `introspect`: thirteen set-based queries (relations,
//! columns, constraints, indexes, enum and domain types, composite types, schemas,
//! extensions, sequences, functions, triggers, comments, operator classes) whatever the
//! size of the schema, assembled into the model in Rust, and a fourteenth for the few index
//! definitions only the server can print (`deparse_indexes`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Row};

use super::{
    Attribute, Catalog, Check, Column, ColumnType, Composite, Domain, Enum, ForeignKey, Identity,
    Index, Key, ReferentialAction, Table, TypeKind, View,
};

/// The relations of the requested schemas ($1), without the migration tooling's tables,
/// partitions (their parent stands for them) and extension members.
const RELATIONS: &str = r"
WITH rel AS (
    SELECT c.oid, n.nspname::text AS nspname, c.relname::text AS relname, c.relkind::text AS relkind
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY($1::text[])
      AND c.relkind IN ('r', 'p', 'v', 'm')
      AND NOT c.relispartition
      AND c.relname <> '_sqlx_migrations'
      AND c.relname NOT LIKE '\_pgshift\_%'
      AND NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_depend d
          WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
      )
)";

const RELATION_QUERY: &str = r"
SELECT r.nspname, r.relname, r.relkind, r.oid::int8 AS oid,
       CASE WHEN r.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(r.oid) END AS definition,
       CASE WHEN r.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(r.oid) END AS partition_key
FROM rel r";

/// A default cannot refer to a column, so it is deparsed without its relation (0): opening
/// the relation for each of them was a quarter of this query. A generation expression
/// refers to columns and is deparsed with it.
/// Array element resolution: an array type (category A) stands for its element type.
const COLUMN_QUERY: &str = r"
SELECT r.oid::int8 AS oid, a.attname::text AS attname, a.attnum::int4 AS attnum,
       a.atttypid::int8 AS type_oid, a.attcollation::int8 AS collation_oid,
       pg_catalog.quote_ident(a.attname) AS quoted,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS sql_type,
       en.nspname::text AS type_schema, e.typname::text AS type_name, e.typtype::text AS type_kind,
       CASE WHEN t.typcategory = 'A' AND t.typelem <> 0 THEN greatest(a.attndims::int4, 1) ELSE 0 END AS dims,
       NOT a.attnotnull AS nullable,
       CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, 0) END AS default_expr,
       CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END AS generated,
       a.attidentity::text AS identity,
       CASE WHEN a.attidentity <> '' THEN
         (SELECT ARRAY[sq.seqstart, sq.seqincrement, sq.seqmin, sq.seqmax, sq.seqcache, sq.seqcycle::int4::int8]
          FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_sequence sq ON sq.seqrelid = d.objid
          WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = a.attrelid
            AND d.refobjsubid = a.attnum AND d.classid = 'pg_catalog.pg_class'::regclass
            AND d.deptype = 'i') END AS identity_options,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
            THEN pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(col.collname) END AS collation
FROM rel r
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type e
  ON e.oid = CASE WHEN t.typcategory = 'A' AND t.typelem <> 0 THEN t.typelem ELSE t.oid END
JOIN pg_catalog.pg_namespace en ON en.oid = e.typnamespace
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_collation col ON col.oid = a.attcollation
LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = col.collnamespace
ORDER BY r.oid, a.attnum";

/// Primary key, unique and foreign key definitions are composed in Rust
/// (`compose_constraint`) from the parts read here; the server deparses checks, exclusions,
/// foreign keys into tables outside the schemas read, and `ON DELETE SET NULL (columns)`
/// (`{by_server}`). `pg_get_constraintdef` was 50 ms of this query's 90 for 4,900
/// constraints.
const CONSTRAINT_QUERY: &str = r"
SELECT co.conrelid::int8 AS relid, co.oid::int8 AS oid, co.conname::text AS conname, co.contype::text AS contype,
       co.conkey AS column_numbers,
       fn.nspname::text AS ref_schema, fc.relname::text AS ref_table,
       co.confrelid::int8 AS ref_relid, co.confkey AS ref_column_numbers,
       CASE WHEN fc.oid IS NOT NULL AND fc.oid NOT IN (SELECT oid FROM rel) THEN
           ARRAY(SELECT a.attname::text FROM unnest(co.confkey) WITH ORDINALITY k(n, i)
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.n
                 ORDER BY k.i) END AS ref_column_names,
       co.confupdtype::text AS on_update, co.confdeltype::text AS on_delete,
       co.condeferrable, co.condeferred, co.convalidated, co.confmatchtype::text AS match_type,
       CASE WHEN co.contype NOT IN ('p', 'u', 'f') OR {by_server}
                 OR (fc.oid IS NOT NULL AND fc.oid NOT IN (SELECT oid FROM rel))
            THEN pg_catalog.pg_get_constraintdef(co.oid) END AS definition,
       {nulls_not_distinct} AS nulls_not_distinct,
       ix.indkey::text AS index_numbers, ix.indnkeyatts::int4 AS index_key_count,
       pg_catalog.quote_ident(fn.nspname) || '.' || pg_catalog.quote_ident(fc.relname) AS quoted_ref_table
FROM rel r
JOIN pg_catalog.pg_constraint co ON co.conrelid = r.oid
LEFT JOIN pg_catalog.pg_class fc ON fc.oid = co.confrelid
LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
LEFT JOIN pg_catalog.pg_index ix ON ix.indexrelid = co.conindid AND co.contype IN ('p', 'u')
WHERE co.contype IN ('p', 'u', 'f', 'c', 'x')";

/// Index definitions are composed in Rust (`compose_index`) from the parts this query reads,
/// rather than deparsed by `pg_get_indexdef` for each index, which looks up the default
/// operator class of every key column by scanning the method's operator classes: for 4,200
/// indexes that was 140 ms of this query's 190. The server deparses (`deparse_indexes`,
/// afterwards, in the same transaction) only the indexes whose text needs more than names
/// and flags: an expression, options (`WITH (...)`, operator class options), a partitioned
/// index (`ON ONLY`), and, decided in Rust, a collation other than the column's, or a key
/// column whose default operator class is made for another type (whether it is the
/// column's default then takes PostgreSQL's own resolution: `varchar` and `text_ops`,
/// enums, arrays, domains), unless a primary key or unique constraint owns the index (their
/// operator classes are the defaults by construction).
/// `{nulls_not_distinct}` is `i.indnullsnotdistinct` from PostgreSQL 15 on, `false` before;
/// `{by_server}` is `true` from `DEPARSED_FROM` on.
const INDEX_QUERY: &str = r"
SELECT i.indrelid::int8 AS relid, i.indexrelid::int8 AS oid, ic.relname::text AS index_name,
       i.indisunique, i.indisprimary, am.amname::text AS method,
       i.indkey::text AS key_numbers, i.indnkeyatts::int4 AS key_count,
       i.indclass::text AS opclasses, i.indcollation::text AS collations,
       i.indoption::text AS options,
       CASE WHEN 0 = ANY(i.indkey::int2[]) THEN
           ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k, true)
                 FROM generate_series(1, i.indnkeyatts::int4) k ORDER BY k) END AS deparsed_columns,
       pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS predicate,
       {by_server} OR 0 = ANY(i.indkey::int2[]) OR ic.reloptions IS NOT NULL OR ic.relkind <> 'i'
           OR i.indexrelid IN (SELECT a.attrelid FROM pg_catalog.pg_attribute a
                               WHERE a.attoptions IS NOT NULL) AS by_server,
       i.indexrelid IN (SELECT co.conindid FROM pg_catalog.pg_constraint co
                        WHERE co.contype IN ('p', 'u')) AS owned,
       {nulls_not_distinct} AS nulls_not_distinct,
       pg_catalog.quote_ident(ic.relname) AS quoted_name,
       pg_catalog.quote_ident(r.nspname) || '.' || pg_catalog.quote_ident(r.relname) AS quoted_table,
       pg_catalog.quote_ident(am.amname) AS quoted_method
FROM rel r
JOIN pg_catalog.pg_index i ON i.indrelid = r.oid
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam";

/// Every operator class (about 180), to name the indexes' non-default ones as
/// `pg_get_indexdef` does: unqualified in pg_catalog, else qualified.
const OPCLASS_QUERY: &str = r"
SELECT oc.oid::int8 AS oid, oc.opcdefault, oc.opcintype::int8 AS input_type,
       CASE WHEN n.nspname = 'pg_catalog' THEN pg_catalog.quote_ident(oc.opcname)
            ELSE pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(oc.opcname)
       END AS quoted
FROM pg_catalog.pg_opclass oc
JOIN pg_catalog.pg_namespace n ON n.oid = oc.opcnamespace";

/// Every enum and domain outside the system schemas; `introspect` keeps those of the
/// requested schemas and those the requested relations use.
const TYPE_QUERY: &str = r"
SELECT n.nspname::text AS nspname, t.typname::text AS typname, t.typtype::text AS typtype,
       ARRAY(SELECT l.enumlabel::text FROM pg_catalog.pg_enum l
             WHERE l.enumtypid = t.oid ORDER BY l.enumsortorder) AS labels,
       pg_catalog.format_type(t.typbasetype, t.typtypmod) AS base_sql,
       ben.nspname::text AS base_schema, be.typname::text AS base_name, be.typtype::text AS base_kind,
       CASE WHEN bt.typcategory = 'A' AND bt.typelem <> 0 THEN greatest(t.typndims, 1) ELSE 0 END AS base_dims,
       NOT t.typnotnull AS nullable, t.typdefault,
       ARRAY(SELECT c.conname::text FROM pg_catalog.pg_constraint c
             WHERE c.contypid = t.oid ORDER BY c.conname) AS check_names,
       ARRAY(SELECT pg_catalog.pg_get_constraintdef(c.oid) FROM pg_catalog.pg_constraint c
             WHERE c.contypid = t.oid ORDER BY c.conname) AS check_defs,
       pg_catalog.obj_description(t.oid, 'pg_type') AS comment
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_type be
  ON be.oid = CASE WHEN bt.typcategory = 'A' AND bt.typelem <> 0 THEN bt.typelem ELSE bt.oid END
LEFT JOIN pg_catalog.pg_namespace ben ON ben.oid = be.typnamespace
WHERE t.typtype IN ('e', 'd')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%'";

/// Every stand-alone composite type outside the system schemas, one row per attribute, in
/// attribute order; `introspect` keeps those of the requested schemas and those used.
const COMPOSITE_QUERY: &str = r"
SELECT n.nspname::text AS nspname, t.typname::text AS typname,
       pg_catalog.obj_description(t.oid, 'pg_type') AS comment,
       a.attname::text AS attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS sql_type,
       en.nspname::text AS type_schema, e.typname::text AS type_name, e.typtype::text AS type_kind,
       CASE WHEN at.typcategory = 'A' AND at.typelem <> 0 THEN greatest(a.attndims::int4, 1) ELSE 0 END AS dims,
       c.oid::int8 AS oid, a.attnum::int4 AS attnum
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
JOIN pg_catalog.pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
JOIN pg_catalog.pg_type e
  ON e.oid = CASE WHEN at.typcategory = 'A' AND at.typelem <> 0 THEN at.typelem ELSE at.oid END
JOIN pg_catalog.pg_namespace en ON en.oid = e.typnamespace
WHERE t.typtype = 'c'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%'
ORDER BY t.oid, a.attnum";

/// The comments on user relations, their columns and constraints, attached to the rows of
/// the other queries by oid. One scan of pg_description, not a subquery per row on its
/// index: for 1,000 tables those subqueries were a quarter of the server's work (40 ms of
/// the column query, 35 of the constraint query). Not a join either: right after a schema
/// is created pg_description has no statistics, and the planner, expecting one row, joined
/// it by a nested loop that compared every column with every comment (1 s of 1.1 s).
const COMMENT_QUERY: &str = r"
SELECT d.classoid = 'pg_catalog.pg_constraint'::regclass AS on_constraint,
       d.objoid::int8 AS oid, d.objsubid::int4 AS subid, d.description
FROM pg_catalog.pg_description d
WHERE d.classoid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_constraint'::regclass)
  AND d.objoid >= 16384";
// 16384: FirstNormalObjectId, below which are the system's own objects (and their comments).

/// The requested schemas ($1) that exist, with their comments.
const SCHEMA_QUERY: &str = r"
SELECT n.nspname::text AS name,
       (SELECT ds.description FROM pg_catalog.pg_description ds
        WHERE ds.objoid = n.oid AND ds.classoid = 'pg_catalog.pg_namespace'::regclass AND ds.objsubid = 0) AS comment
FROM pg_catalog.pg_namespace n
WHERE n.nspname = ANY($1::text[])";

const EXTENSION_QUERY: &str = r"
SELECT e.extname::text AS name, n.nspname::text AS schema
FROM pg_catalog.pg_extension e
JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname <> 'plpgsql'";

/// Sequences of the requested schemas ($1), without identity columns' own and extension
/// members; with the column that owns them, if any.
const SEQUENCE_QUERY: &str = r"
SELECT n.nspname::text AS nspname, c.relname::text AS relname,
       pg_catalog.format_type(s.seqtypid, NULL) AS data_type,
       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
       oc.relname::text AS owner_table, oa.attname::text AS owner_column, c.oid::int8 AS oid
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
LEFT JOIN pg_catalog.pg_depend d
  ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
 AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a'
LEFT JOIN pg_catalog.pg_class oc ON oc.oid = d.refobjid
LEFT JOIN pg_catalog.pg_attribute oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid
WHERE c.relkind = 'S' AND n.nspname = ANY($1::text[])
  AND c.relname NOT LIKE '\_pgshift\_%'
  AND (oc.relname IS NULL OR (oc.relname <> '_sqlx_migrations' AND oc.relname NOT LIKE '\_pgshift\_%'))
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend x
      WHERE x.classid = 'pg_catalog.pg_class'::regclass AND x.objid = c.oid AND x.deptype IN ('i', 'e')
  )";

/// Functions and procedures of the requested schemas ($1), without extension members.
const FUNCTION_QUERY: &str = r"
SELECT n.nspname::text AS nspname, p.proname::text AS proname, p.prokind::text AS prokind,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS arguments,
       CASE WHEN p.prokind = 'p' THEN '' ELSE pg_catalog.pg_get_function_result(p.oid) END AS result,
       pg_catalog.pg_get_functiondef(p.oid) AS definition,
       (SELECT ds.description FROM pg_catalog.pg_description ds
        WHERE ds.objoid = p.oid AND ds.classoid = 'pg_catalog.pg_proc'::regclass AND ds.objsubid = 0) AS comment,
       (SELECT max(CASE WHEN c.relkind IN ('v', 'm') THEN 2 ELSE 1 END)
        FROM pg_catalog.pg_type t
        JOIN pg_catalog.pg_class c ON c.oid = t.typrelid AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
        WHERE t.oid IN (SELECT u.t FROM unnest(p.proargtypes::oid[] || p.proallargtypes || p.prorettype) u(t)
                        UNION SELECT a.typelem FROM pg_catalog.pg_type a
                        WHERE a.oid = ANY(p.proargtypes::oid[] || p.proallargtypes || p.prorettype))) AS row_type
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY($1::text[]) AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend x
      WHERE x.classid = 'pg_catalog.pg_proc'::regclass AND x.objid = p.oid AND x.deptype = 'e'
  )";

const TRIGGER_QUERY: &str = r"
SELECT r.nspname, r.relname, t.tgname::text AS tgname,
       pg_catalog.pg_get_triggerdef(t.oid) AS definition, t.tgenabled::text AS enabled,
       (SELECT ds.description FROM pg_catalog.pg_description ds
        WHERE ds.objoid = t.oid AND ds.classoid = 'pg_catalog.pg_trigger'::regclass AND ds.objsubid = 0) AS comment
FROM rel r
JOIN pg_catalog.pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal AND t.tgparentid = 0";

type RelKey = (String, String);

/// A relation's oid: what the rows of columns, constraints and indexes find it by (an
/// integer to hash, not two names to decode and compare for each of ~25,000 rows).
type RelOid = i64;

/// Where the model keeps a relation read by the relations query.
#[derive(Clone, Copy)]
enum Place {
    Table(usize),
    View(usize),
}

/// A relation's columns indexed by column number.
type Numbered = Vec<Option<Attnum>>;

/// A column as the constraints and indexes that name it by number need it.
#[derive(Debug, Clone)]
struct Attnum {
    name: String,
    /// As quote_ident prints it.
    quoted: String,
    type_oid: i64,
    collation_oid: i64,
}

/// The server versions from which on the server deparses every index and constraint:
/// `compose_index` and `compose_constraint` reproduce what the versions before print, and
/// a newer one may print more.
const DEPARSED_FROM: u32 = 180_000;

/// The queries, each run once per read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    Relations,
    Columns,
    Constraints,
    Indexes,
    Types,
    Composites,
    Schemas,
    Extensions,
    Sequences,
    Functions,
    Triggers,
    Comments,
    Opclasses,
}

impl Query {
    /// The query's text for a server of version `version` (`server_version_num`).
    fn sql(self, version: u32) -> String {
        let on_relations = |sql: &str| format!("{RELATIONS}\n{sql}");
        match self {
            Query::Relations => on_relations(RELATION_QUERY),
            Query::Columns => on_relations(COLUMN_QUERY),
            Query::Constraints => on_relations(
                &CONSTRAINT_QUERY
                    .replace(
                        "{by_server}",
                        if version >= DEPARSED_FROM {
                            "true"
                        } else if version >= 150_000 {
                            "co.confdelsetcols IS NOT NULL"
                        } else {
                            "false"
                        },
                    )
                    .replace(
                        "{nulls_not_distinct}",
                        if version >= 150_000 {
                            "coalesce(ix.indnullsnotdistinct, false)"
                        } else {
                            "false"
                        },
                    ),
            ),
            Query::Indexes => on_relations(
                &INDEX_QUERY
                    .replace(
                        "{nulls_not_distinct}",
                        if version >= 150_000 {
                            "i.indnullsnotdistinct"
                        } else {
                            "false"
                        },
                    )
                    .replace(
                        "{by_server}",
                        if version >= DEPARSED_FROM {
                            "true"
                        } else {
                            "false"
                        },
                    ),
            ),
            Query::Triggers => on_relations(TRIGGER_QUERY),
            Query::Types => TYPE_QUERY.into(),
            Query::Composites => COMPOSITE_QUERY.into(),
            Query::Schemas => SCHEMA_QUERY.into(),
            Query::Extensions => EXTENSION_QUERY.into(),
            Query::Sequences => SEQUENCE_QUERY.into(),
            Query::Functions => FUNCTION_QUERY.into(),
            Query::Comments => COMMENT_QUERY.into(),
            Query::Opclasses => OPCLASS_QUERY.into(),
        }
    }

    /// Whether the query takes the requested schemas as `$1`.
    fn takes_schemas(self) -> bool {
        !matches!(
            self,
            Query::Types
                | Query::Composites
                | Query::Extensions
                | Query::Comments
                | Query::Opclasses
        )
    }
}

/// The two halves of a read, of about equal cost on a large schema (for 1,000 tables about
/// 100 ms of server time each: the columns with their defaults in the first; constraints
/// and indexes in the second), which `introspect_in_parallel` runs on two connections
/// sharing one snapshot.
const FIRST_HALF: [Query; 9] = [
    Query::Columns,
    Query::Comments,
    Query::Opclasses,
    Query::Relations,
    Query::Types,
    Query::Composites,
    Query::Schemas,
    Query::Extensions,
    Query::Triggers,
];
const SECOND_HALF: [Query; 4] = [
    Query::Constraints,
    Query::Indexes,
    Query::Sequences,
    Query::Functions,
];

/// Each query's rows, in the order asked.
type Fetched = Vec<(Query, Vec<PgRow>)>;

async fn fetch(
    conn: &mut PgConnection,
    queries: &[Query],
    schemas: &[String],
) -> Result<Fetched, sqlx::Error> {
    let mut out = Vec::with_capacity(queries.len());
    let version = conn.server_version_num().unwrap_or(0);
    for &query in queries {
        let sql = query.sql(version);
        let mut q = sqlx::query(&sql);
        if query.takes_schemas() {
            q = q.bind(schemas);
        }
        out.push((query, q.fetch_all(&mut *conn).await?));
    }
    Ok(out)
}

/// What every read's transaction is, after its BEGIN: one snapshot, read only, names printed
/// schema-qualified.
const READ_TRANSACTION: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";
const PG_CATALOG_NAMES: &str = "SET LOCAL search_path = pg_catalog";

pub(super) async fn introspect(
    conn: &mut PgConnection,
    schemas: &[String],
) -> Result<Catalog, sqlx::Error> {
    // One snapshot for all queries, so a concurrent migration cannot make them disagree;
    // and search_path = pg_catalog, so that every name PostgreSQL prints (types, defaults,
    // constraint and view definitions) is schema-qualified the same way whatever the
    // role's search_path: two databases with the same schema give the same text.
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(&format!("{READ_TRANSACTION}; {PG_CATALOG_NAMES}"))
        .execute(&mut *tx)
        .await?;
    let catalog = introspect_in_transaction(&mut tx, schemas).await?;
    tx.commit().await?;
    Ok(catalog)
}

/// `introspect` inside the caller's open REPEATABLE READ transaction (a backup reads the
/// catalog in the snapshot pg_dump dumps). Sets `search_path` for the rest of it.
pub(super) async fn introspect_in_transaction(
    tx: &mut PgConnection,
    schemas: &[String],
) -> Result<Catalog, sqlx::Error> {
    sqlx::raw_sql(PG_CATALOG_NAMES).execute(&mut *tx).await?;
    let mut fetched = fetch(&mut *tx, &FIRST_HALF, schemas).await?;
    fetched.extend(fetch(&mut *tx, &SECOND_HALF, schemas).await?);
    let (mut catalog, by_server) = assemble(fetched, schemas)?;
    deparse_indexes(&mut *tx, &mut catalog, by_server).await?;
    Ok(catalog)
}

/// `introspect` on two connections at once: `first` exports its snapshot and `second`
/// imports it (as pg_dump's parallel workers do), so both halves read the same state
/// while the server deparses on two cores. The connections must not be in a transaction.
pub(super) async fn introspect_in_parallel(
    first: &mut PgConnection,
    second: &mut PgConnection,
    schemas: &[String],
) -> Result<Catalog, sqlx::Error> {
    sqlx::raw_sql(&format!("BEGIN; {READ_TRANSACTION}; {PG_CATALOG_NAMES}"))
        .execute(&mut *first)
        .await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_catalog.pg_export_snapshot()")
        .fetch_one(&mut *first)
        .await?;
    // The isolation level first: PostgreSQL imports a snapshot only into a REPEATABLE READ
    // transaction, before its first query.
    sqlx::raw_sql(&format!(
        "BEGIN; {READ_TRANSACTION}; SET TRANSACTION SNAPSHOT '{snapshot}'; {PG_CATALOG_NAMES}"
    ))
    .execute(&mut *second)
    .await?;
    let (a, b) = tokio::join!(
        fetch(&mut *first, &FIRST_HALF, schemas),
        fetch(&mut *second, &SECOND_HALF, schemas)
    );
    let assembled = match (a, b) {
        (Ok(mut fetched), Ok(b)) => {
            fetched.extend(b);
            // On a thread of its own: a read of another database running beside this one
            // (`migrate-diff`'s two sides) goes on meanwhile.
            let schemas = schemas.to_vec();
            let assembled = tokio::task::spawn_blocking(move || assemble(fetched, &schemas))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            match assembled {
                Ok((mut catalog, by_server)) => {
                    deparse_indexes(&mut *second, &mut catalog, by_server)
                        .await
                        .map(|()| catalog)
                }
                Err(e) => Err(e),
            }
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    sqlx::raw_sql("COMMIT").execute(&mut *second).await?;
    sqlx::raw_sql("COMMIT").execute(&mut *first).await?;
    assembled
}

/// An index whose definition the server deparses (`INDEX_QUERY` says which).
struct ByServer {
    oid: i64,
    table: RelKey,
    name: String,
}

/// Fills in the definitions of `by_server` with `pg_get_indexdef`, in the read's transaction.
async fn deparse_indexes(
    conn: &mut PgConnection,
    catalog: &mut Catalog,
    by_server: Vec<ByServer>,
) -> Result<(), sqlx::Error> {
    if by_server.is_empty() {
        return Ok(());
    }
    let oids: Vec<i64> = by_server.iter().map(|i| i.oid).collect();
    let rows: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT o, pg_catalog.pg_get_indexdef(o::oid) FROM unnest($1::int8[]) AS o")
            .bind(&oids)
            .fetch_all(&mut *conn)
            .await?;
    let deparsed: HashMap<i64, String> = rows
        .into_iter()
        .filter_map(|(oid, def)| Some((oid, def?)))
        .collect();
    let mut wanted: HashMap<(&str, &str, &str), &str> = HashMap::new();
    for index in &by_server {
        if let Some(def) = deparsed.get(&index.oid) {
            wanted.insert((&index.table.0, &index.table.1, &index.name), def);
        }
    }
    let tables = catalog
        .tables
        .iter_mut()
        .map(|t| (&t.schema, &t.name, &mut t.indexes));
    let views = catalog
        .views
        .iter_mut()
        .map(|v| (&v.schema, &v.name, &mut v.indexes));
    for (schema, name, indexes) in tables.chain(views) {
        for index in indexes.iter_mut() {
            if let Some(def) = wanted.get(&(schema.as_str(), name.as_str(), index.name.as_str())) {
                index.definition = (*def).to_string();
            }
        }
    }
    Ok(())
}

/// Builds the model from the queries' rows; the indexes whose definitions the server must
/// deparse are returned beside it, their definitions left empty.
fn assemble(
    mut fetched: Fetched,
    schemas: &[String],
) -> Result<(Catalog, Vec<ByServer>), sqlx::Error> {
    let mut rows = |which: Query| -> Vec<PgRow> {
        fetched
            .iter()
            .position(|(q, _)| *q == which)
            .map(|i| std::mem::take(&mut fetched[i].1))
            .unwrap_or_default()
    };
    let relations = rows(Query::Relations);
    let columns = rows(Query::Columns);
    let constraints = rows(Query::Constraints);
    let indexes = rows(Query::Indexes);
    let types = rows(Query::Types);
    let composite_rows = rows(Query::Composites);
    let schema_rows = rows(Query::Schemas);
    let extension_rows = rows(Query::Extensions);
    let sequence_rows = rows(Query::Sequences);
    let function_rows = rows(Query::Functions);
    let trigger_rows = rows(Query::Triggers);
    let comments = Comments::of(&rows(Query::Comments))?;
    let opclasses = Opclasses::of(&rows(Query::Opclasses))?;
    let mut by_server = Vec::new();

    let mut tables: Vec<Table> = Vec::with_capacity(relations.len());
    let mut views: Vec<View> = Vec::new();
    let mut places: HashMap<RelOid, Place> = HashMap::with_capacity(relations.len());
    for row in &relations {
        let schema: String = row.try_get("nspname")?;
        let name: String = row.try_get("relname")?;
        let kind: String = row.try_get("relkind")?;
        let comment = comments.on_relation(row, 0)?;
        let oid: RelOid = row.try_get("oid")?;
        if kind == "v" || kind == "m" {
            let definition: Option<String> = row.try_get("definition")?;
            places.insert(oid, Place::View(views.len()));
            views.push(View {
                schema,
                name,
                materialized: kind == "m",
                columns: Vec::new(),
                definition: definition.unwrap_or_default(),
                indexes: Vec::new(),
                comment,
            });
        } else {
            places.insert(oid, Place::Table(tables.len()));
            tables.push(Table {
                schema,
                name,
                partitioned: kind == "p",
                partition_key: row.try_get("partition_key")?,
                columns: Vec::new(),
                primary_key: None,
                uniques: Vec::new(),
                foreign_keys: Vec::new(),
                checks: Vec::new(),
                exclusions: Vec::new(),
                indexes: Vec::new(),
                comment,
            });
        }
    }

    // Each relation's column names by number, plain and as quote_ident prints them: the
    // constraints' and indexes' columns are read as numbers and named here, which costs the
    // server half as much as naming them in subqueries per row.
    let mut attributes: HashMap<RelOid, Numbered> = HashMap::with_capacity(relations.len());
    for row in &columns {
        let oid: RelOid = row.try_get("oid")?;
        let attnum: i32 = row.try_get("attnum")?;
        let number = attnum.max(0) as usize;
        let name: String = row.try_get("attname")?;
        let numbered = attributes.entry(oid).or_default();
        if numbered.len() <= number {
            numbered.resize(number + 1, None);
        }
        numbered[number] = Some(Attnum {
            name: name.clone(),
            quoted: row.try_get("quoted")?,
            type_oid: row.try_get("type_oid")?,
            collation_oid: row.try_get("collation_oid")?,
        });
        let identity: String = row.try_get("identity")?;
        let mut column = Column {
            name,
            ty: ColumnType {
                sql: row.try_get("sql_type")?,
                schema: row.try_get("type_schema")?,
                name: row.try_get("type_name")?,
                kind: type_kind(&row.try_get::<String, _>("type_kind")?),
                dims: row.try_get::<i32, _>("dims")?.max(0) as u32,
            },
            nullable: row.try_get("nullable")?,
            default: row.try_get("default_expr")?,
            identity: match identity.as_str() {
                "a" => Some(Identity::Always),
                "d" => Some(Identity::ByDefault),
                _ => None,
            },
            identity_options: match row.try_get::<Option<Vec<i64>>, _>("identity_options")? {
                Some(o) if o.len() == 6 => Some(super::IdentityOptions {
                    start: o[0],
                    increment: o[1],
                    min_value: o[2],
                    max_value: o[3],
                    cache: o[4],
                    cycle: o[5] != 0,
                }),
                _ => None,
            },
            generated: row.try_get("generated")?,
            collation: row.try_get("collation")?,
            comment: comments.on_relation(row, attnum)?,
        };
        match places.get(&oid) {
            Some(&Place::Table(at)) => tables[at].columns.push(column),
            Some(&Place::View(at)) => {
                column.nullable = true;
                views[at].columns.push(column);
            }
            None => {}
        }
    }

    for row in &constraints {
        let relid: RelOid = row.try_get("relid")?;
        let Some(&Place::Table(at)) = places.get(&relid) else {
            continue;
        };
        let table = &mut tables[at];
        let name: String = row.try_get("conname")?;
        let numbers: Option<Vec<i16>> = row.try_get("column_numbers")?;
        let numbers = numbers.unwrap_or_default();
        let columns = names(&attributes, relid, &numbers, false);
        let definition = match row.try_get::<Option<String>, _>("definition")? {
            Some(deparsed) => deparsed,
            None => compose_constraint(row, &attributes, relid, &numbers)?,
        };
        let comment = comments.on_constraint(row)?;
        match row.try_get::<String, _>("contype")?.as_str() {
            "p" => {
                table.primary_key = Some(Key {
                    name,
                    columns,
                    definition,
                    comment,
                })
            }
            "u" => table.uniques.push(Key {
                name,
                columns,
                definition,
                comment,
            }),
            "f" => table.foreign_keys.push(ForeignKey {
                name,
                columns,
                referenced_schema: row
                    .try_get::<Option<String>, _>("ref_schema")?
                    .unwrap_or_default(),
                referenced_table: row
                    .try_get::<Option<String>, _>("ref_table")?
                    .unwrap_or_default(),
                // Named by the query only when the referenced table is not one of those read.
                referenced_columns: match row.try_get("ref_column_names")? {
                    Some(named) => named,
                    None => {
                        let numbers: Option<Vec<i16>> = row.try_get("ref_column_numbers")?;
                        let referenced = row.try_get("ref_relid")?;
                        names(&attributes, referenced, &numbers.unwrap_or_default(), false)
                    }
                },
                on_update: action(&row.try_get::<String, _>("on_update")?),
                on_delete: action(&row.try_get::<String, _>("on_delete")?),
                deferrable: row.try_get("condeferrable")?,
                initially_deferred: row.try_get("condeferred")?,
                definition,
                comment,
            }),
            "c" => table.checks.push(Check {
                name,
                definition,
                comment,
            }),
            _ => table.exclusions.push(Check {
                name,
                definition,
                comment,
            }),
        }
    }

    for row in &indexes {
        let relid: RelOid = row.try_get("relid")?;
        // An int2vector (indexed from 0, which sqlx refuses as an array): its text, `1 3`.
        let numbers: Vec<i16> = vector(&row.try_get::<String, _>("key_numbers")?);
        let key_count = (row.try_get::<i32, _>("key_count")?.max(0) as usize).min(numbers.len());
        let predicate: Option<String> = row.try_get("predicate")?;
        let unique: bool = row.try_get("indisunique")?;
        // Deparsed by the server only when a key column is an expression.
        let columns = match row.try_get("deparsed_columns")? {
            Some(deparsed) => deparsed,
            None => names(&attributes, relid, &numbers[..key_count], true),
        };
        let name: String = row.try_get("index_name")?;
        let suffixes = if row.try_get("by_server")? {
            None
        } else {
            key_suffixes(
                row,
                &numbers[..key_count],
                attributes.get(&relid),
                &opclasses,
            )?
        };
        let definition = match suffixes {
            Some(suffixes) => compose_index(&ComposedIndex {
                unique,
                name: row.try_get("quoted_name")?,
                table: row.try_get("quoted_table")?,
                method: row.try_get("quoted_method")?,
                keys: &columns,
                suffixes: &suffixes,
                included: &names(&attributes, relid, &numbers[key_count..], true),
                nulls_not_distinct: row.try_get("nulls_not_distinct")?,
                predicate: predicate.as_deref(),
            }),
            None => {
                let (schema, table) = match places.get(&relid) {
                    Some(&Place::Table(at)) => (&tables[at].schema, &tables[at].name),
                    Some(&Place::View(at)) => (&views[at].schema, &views[at].name),
                    None => continue,
                };
                by_server.push(ByServer {
                    oid: row.try_get("oid")?,
                    table: (schema.clone(), table.clone()),
                    name: name.clone(),
                });
                String::new()
            }
        };
        let index = Index {
            name,
            unique,
            primary: row.try_get("indisprimary")?,
            method: row.try_get("method")?,
            columns,
            predicate,
            definition,
            comment: comments.on_relation(row, 0)?,
        };
        match places.get(&relid) {
            Some(&Place::Table(at)) => tables[at].indexes.push(index),
            Some(&Place::View(at)) => views[at].indexes.push(index),
            None => {}
        }
    }

    let mut enums = Vec::new();
    let mut domains = Vec::new();
    for row in &types {
        let schema: String = row.try_get("nspname")?;
        let name: String = row.try_get("typname")?;
        let comment: Option<String> = row.try_get("comment")?;
        if row.try_get::<String, _>("typtype")? == "e" {
            enums.push(Enum {
                schema,
                name,
                labels: row.try_get("labels")?,
                comment,
            });
        } else {
            let names: Vec<String> = row.try_get("check_names")?;
            let defs: Vec<String> = row.try_get("check_defs")?;
            domains.push(Domain {
                schema,
                name,
                base: ColumnType {
                    sql: row.try_get("base_sql")?,
                    schema: row.try_get("base_schema")?,
                    name: row.try_get("base_name")?,
                    kind: type_kind(&row.try_get::<String, _>("base_kind")?),
                    dims: row.try_get::<i32, _>("base_dims")?.max(0) as u32,
                },
                nullable: row.try_get("nullable")?,
                default: row.try_get("typdefault")?,
                checks: names
                    .into_iter()
                    .zip(defs)
                    .map(|(name, definition)| Check {
                        name,
                        definition,
                        comment: None,
                    })
                    .collect(),
                comment,
            });
        }
    }

    let mut composites: BTreeMap<RelKey, Composite> = BTreeMap::new();
    for row in &composite_rows {
        let (schema, name): RelKey = (row.try_get("nspname")?, row.try_get("typname")?);
        let attribute = Attribute {
            name: row.try_get("attname")?,
            ty: ColumnType {
                sql: row.try_get("sql_type")?,
                schema: row.try_get("type_schema")?,
                name: row.try_get("type_name")?,
                kind: type_kind(&row.try_get::<String, _>("type_kind")?),
                dims: row.try_get::<i32, _>("dims")?.max(0) as u32,
            },
            comment: comments.on_relation(row, row.try_get("attnum")?)?,
        };
        let comment: Option<String> = row.try_get("comment")?;
        composites
            .entry((schema.clone(), name.clone()))
            .or_insert_with(|| Composite {
                schema,
                name,
                attributes: Vec::new(),
                comment,
            })
            .attributes
            .push(attribute);
    }

    let mut catalog = Catalog {
        schemas: schemas.to_vec(),
        enums,
        domains,
        composites: composites.into_values().collect(),
        tables,
        views,
        namespaces: Vec::new(),
        extensions: Vec::new(),
        sequences: Vec::new(),
        functions: Vec::new(),
        triggers: Vec::new(),
    };
    for row in &schema_rows {
        catalog.namespaces.push(super::Schema {
            name: row.try_get("name")?,
            comment: row.try_get("comment")?,
        });
    }
    for row in &extension_rows {
        catalog.extensions.push(super::Extension {
            name: row.try_get("name")?,
            schema: row.try_get("schema")?,
        });
    }
    for row in &sequence_rows {
        let owner_table: Option<String> = row.try_get("owner_table")?;
        let owner_column: Option<String> = row.try_get("owner_column")?;
        catalog.sequences.push(super::Sequence {
            schema: row.try_get("nspname")?,
            name: row.try_get("relname")?,
            data_type: row.try_get("data_type")?,
            start: row.try_get("seqstart")?,
            increment: row.try_get("seqincrement")?,
            min_value: row.try_get("seqmin")?,
            max_value: row.try_get("seqmax")?,
            cache: row.try_get("seqcache")?,
            cycle: row.try_get("seqcycle")?,
            owned_by: owner_table.zip(owner_column),
            comment: comments.on_relation(row, 0)?,
        });
    }
    for row in &function_rows {
        catalog.functions.push(super::Function {
            schema: row.try_get("nspname")?,
            name: row.try_get("proname")?,
            procedure: row.try_get::<String, _>("prokind")? == "p",
            identity_arguments: row.try_get("arguments")?,
            result: row
                .try_get::<Option<String>, _>("result")?
                .unwrap_or_default(),
            definition: row.try_get("definition")?,
            comment: row.try_get("comment")?,
            row_type: match row.try_get::<Option<i32>, _>("row_type")? {
                Some(2) => super::RowTypeUse::View,
                Some(_) => super::RowTypeUse::Table,
                None => super::RowTypeUse::None,
            },
        });
    }
    for row in &trigger_rows {
        catalog.triggers.push(super::Trigger {
            schema: row.try_get("nspname")?,
            table: row.try_get("relname")?,
            name: row.try_get("tgname")?,
            definition: row.try_get("definition")?,
            enabled: row.try_get("enabled")?,
            comment: row.try_get("comment")?,
        });
    }
    keep_used_types(&mut catalog);
    sort(&mut catalog);
    Ok((catalog, by_server))
}

/// What `pg_get_constraintdef` prints for the primary key, unique or foreign key constraint
/// of `row` (of table `table`, its columns numbered `numbers`), every name quoted:
/// `PRIMARY KEY (id) INCLUDE (x)`, `UNIQUE NULLS NOT DISTINCT (a, b)`,
/// `FOREIGN KEY (a) REFERENCES s.t(b) MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL`, then
/// `DEFERRABLE`, `INITIALLY DEFERRED`, `NOT VALID`.
fn compose_constraint(
    row: &PgRow,
    attributes: &HashMap<RelOid, Numbered>,
    table: RelOid,
    numbers: &[i16],
) -> Result<String, sqlx::Error> {
    let columns = names(attributes, table, numbers, true).join(", ");
    let mut sql = match row.try_get::<String, _>("contype")?.as_str() {
        "f" => {
            let referenced: RelOid = row.try_get("ref_relid")?;
            let ref_numbers: Option<Vec<i16>> = row.try_get("ref_column_numbers")?;
            let mut sql = format!(
                "FOREIGN KEY ({columns}) REFERENCES {}({})",
                row.try_get::<Option<String>, _>("quoted_ref_table")?
                    .unwrap_or_default(),
                names(
                    attributes,
                    referenced,
                    &ref_numbers.unwrap_or_default(),
                    true
                )
                .join(", ")
            );
            match row.try_get::<String, _>("match_type")?.as_str() {
                "f" => sql.push_str(" MATCH FULL"),
                "p" => sql.push_str(" MATCH PARTIAL"),
                _ => {}
            }
            for (clause, column) in [(" ON UPDATE ", "on_update"), (" ON DELETE ", "on_delete")] {
                if let Some(action) = action(&row.try_get::<String, _>(column)?).sql() {
                    sql.push_str(clause);
                    sql.push_str(action);
                }
            }
            sql
        }
        kind => {
            let mut sql = String::from(if kind == "p" {
                "PRIMARY KEY "
            } else {
                "UNIQUE "
            });
            if row.try_get("nulls_not_distinct")? {
                sql.push_str("NULLS NOT DISTINCT ");
            }
            sql.push_str(&format!("({columns})"));
            let index: Vec<i16> = vector(
                &row.try_get::<Option<String>, _>("index_numbers")?
                    .unwrap_or_default(),
            );
            let key_count = row
                .try_get::<Option<i32>, _>("index_key_count")?
                .unwrap_or(0);
            let included = index.get(key_count.max(0) as usize..).unwrap_or_default();
            if !included.is_empty() {
                let included = names(attributes, table, included, true);
                sql.push_str(&format!(" INCLUDE ({})", included.join(", ")));
            }
            sql
        }
    };
    if row.try_get("condeferrable")? {
        sql.push_str(" DEFERRABLE");
    }
    if row.try_get("condeferred")? {
        sql.push_str(" INITIALLY DEFERRED");
    }
    if !row.try_get::<bool, _>("convalidated")? {
        sql.push_str(" NOT VALID");
    }
    Ok(sql)
}

/// The operator classes of `OPCLASS_QUERY`, by oid.
struct Opclasses(HashMap<i64, Opclass>);

struct Opclass {
    default: bool,
    input_type: i64,
    /// Its name as `pg_get_indexdef` prints it.
    quoted: String,
}

impl Opclasses {
    fn of(rows: &[PgRow]) -> Result<Opclasses, sqlx::Error> {
        let mut map = HashMap::with_capacity(rows.len());
        for row in rows {
            let opclass = Opclass {
                default: row.try_get("opcdefault")?,
                input_type: row.try_get("input_type")?,
                quoted: row.try_get("quoted")?,
            };
            map.insert(row.try_get("oid")?, opclass);
        }
        Ok(Opclasses(map))
    }
}

/// The numbers in the text of an oidvector or int2vector (`1978 3124`).
fn vector<T: std::str::FromStr>(text: &str) -> Vec<T> {
    text.split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// For each key column of the index in `row` (numbered `numbers` in its table's columns
/// `columns`), what `pg_get_indexdef` prints after its name: the operator class when it is
/// not the column's default, then the order (`DESC`, `NULLS FIRST`). `None` when that
/// cannot be told without the server: a collation other than the column's, or a default
/// operator class made for another type than the column's (unless a primary key or unique
/// constraint owns the index: theirs are the defaults by construction).
fn key_suffixes(
    row: &PgRow,
    numbers: &[i16],
    columns: Option<&Numbered>,
    opclasses: &Opclasses,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    let classes: Vec<i64> = vector(&row.try_get::<String, _>("opclasses")?);
    let collations: Vec<i64> = vector(&row.try_get::<String, _>("collations")?);
    let options: Vec<i16> = vector(&row.try_get::<String, _>("options")?);
    let owned: bool = row.try_get("owned")?;
    let mut suffixes = Vec::with_capacity(numbers.len());
    for (k, number) in numbers.iter().enumerate() {
        let column = columns
            .and_then(|c| c.get(usize::try_from(*number).ok()?))
            .and_then(Option::as_ref);
        let (Some(column), Some(class), Some(&collation), Some(&option)) = (
            column,
            classes.get(k).and_then(|oid| opclasses.0.get(oid)),
            collations.get(k),
            options.get(k),
        ) else {
            return Ok(None);
        };
        if collation != 0 && collation != column.collation_oid {
            return Ok(None);
        }
        let mut suffix = String::new();
        if !class.default {
            suffix.push(' ');
            suffix.push_str(&class.quoted);
        } else if class.input_type != column.type_oid && !owned {
            return Ok(None);
        }
        // INDOPTION_DESC (1), INDOPTION_NULLS_FIRST (2); set only by ordered methods.
        match (option & 1 != 0, option & 2 != 0) {
            (true, true) => suffix.push_str(" DESC"),
            (true, false) => suffix.push_str(" DESC NULLS LAST"),
            (false, true) => suffix.push_str(" NULLS FIRST"),
            (false, false) => {}
        }
        suffixes.push(suffix);
    }
    Ok(Some(suffixes))
}

/// What `pg_get_indexdef` prints for an index of plain columns, every name quoted.
struct ComposedIndex<'a> {
    unique: bool,
    name: String,
    /// `schema.table`.
    table: String,
    method: String,
    keys: &'a [String],
    /// For each key column: its operator class when not the default, then its order.
    suffixes: &'a [String],
    included: &'a [String],
    nulls_not_distinct: bool,
    predicate: Option<&'a str>,
}

/// `CREATE UNIQUE INDEX name ON schema.table USING btree (a, b DESC) INCLUDE (c) WHERE ...`,
/// as PostgreSQL's `pg_get_indexdef` prints it (with search_path = pg_catalog).
fn compose_index(index: &ComposedIndex<'_>) -> String {
    let mut sql = format!(
        "CREATE {}INDEX {} ON {} USING {} (",
        if index.unique { "UNIQUE " } else { "" },
        index.name,
        index.table,
        index.method
    );
    for (i, key) in index.keys.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(key);
        sql.push_str(index.suffixes.get(i).map_or("", String::as_str));
    }
    if !index.included.is_empty() {
        sql.push_str(") INCLUDE (");
        sql.push_str(&index.included.join(", "));
    }
    sql.push(')');
    if index.nulls_not_distinct {
        sql.push_str(" NULLS NOT DISTINCT");
    }
    if let Some(predicate) = index.predicate {
        sql.push_str(" WHERE ");
        sql.push_str(predicate);
    }
    sql
}

/// The comments of `COMMENT_QUERY`, by object.
struct Comments(HashMap<(bool, i64, i32), String>);

impl Comments {
    fn of(rows: &[PgRow]) -> Result<Comments, sqlx::Error> {
        let mut map = HashMap::with_capacity(rows.len());
        for row in rows {
            let key = (
                row.try_get("on_constraint")?,
                row.try_get("oid")?,
                row.try_get("subid")?,
            );
            map.insert(key, row.try_get("description")?);
        }
        Ok(Comments(map))
    }

    /// The comment on the relation of `row` (its `oid`), or on its column `subid` (> 0).
    fn on_relation(&self, row: &PgRow, subid: i32) -> Result<Option<String>, sqlx::Error> {
        Ok(self.0.get(&(false, row.try_get("oid")?, subid)).cloned())
    }

    /// The comment on the constraint of `row` (its `oid`).
    fn on_constraint(&self, row: &PgRow) -> Result<Option<String>, sqlx::Error> {
        Ok(self.0.get(&(true, row.try_get("oid")?, 0)).cloned())
    }
}

/// The names of columns `numbers` of relation `rel` (quoted as `quote_ident` quotes them when
/// `quoted`), in order; a number with no column (0, an expression) is left out.
fn names(
    attributes: &HashMap<RelOid, Numbered>,
    rel: RelOid,
    numbers: &[i16],
    quoted: bool,
) -> Vec<String> {
    let Some(numbered) = attributes.get(&rel) else {
        return Vec::new();
    };
    numbers
        .iter()
        .filter_map(|&n| numbered.get(usize::try_from(n).ok()?)?.as_ref())
        .map(|a| {
            if quoted {
                a.quoted.clone()
            } else {
                a.name.clone()
            }
        })
        .collect()
}

fn type_kind(typtype: &str) -> TypeKind {
    match typtype {
        "c" => TypeKind::Composite,
        "d" => TypeKind::Domain,
        "e" => TypeKind::Enum,
        "p" => TypeKind::Pseudo,
        "r" => TypeKind::Range,
        "m" => TypeKind::Multirange,
        _ => TypeKind::Base,
    }
}

fn action(code: &str) -> ReferentialAction {
    match code {
        "r" => ReferentialAction::Restrict,
        "c" => ReferentialAction::Cascade,
        "n" => ReferentialAction::SetNull,
        "d" => ReferentialAction::SetDefault,
        _ => ReferentialAction::NoAction,
    }
}

/// Keeps the enums, domains and composites of the requested schemas, plus those that a kept
/// relation, domain or composite uses from another schema (transitively).
fn keep_used_types(catalog: &mut Catalog) {
    // Borrowed while collecting (one entry per column of every table would otherwise be
    // two allocations); owned once the few distinct names are known.
    let mut used: BTreeSet<(&str, &str)> = BTreeSet::new();
    let columns = catalog
        .tables
        .iter()
        .flat_map(|t| &t.columns)
        .chain(catalog.views.iter().flat_map(|v| &v.columns));
    for column in columns {
        used.insert((&column.ty.schema, &column.ty.name));
    }
    for domain in &catalog.domains {
        if catalog.schemas.contains(&domain.schema) {
            used.insert((&domain.base.schema, &domain.base.name));
        }
    }
    for composite in &catalog.composites {
        if catalog.schemas.contains(&composite.schema) {
            used.extend(
                composite
                    .attributes
                    .iter()
                    .map(|a| (a.ty.schema.as_str(), a.ty.name.as_str())),
            );
        }
    }
    // Domains over domains, composites of composites: follow until nothing new turns up.
    loop {
        let before = used.len();
        for domain in &catalog.domains {
            if used.contains(&(domain.schema.as_str(), domain.name.as_str())) {
                used.insert((&domain.base.schema, &domain.base.name));
            }
        }
        for composite in &catalog.composites {
            if used.contains(&(composite.schema.as_str(), composite.name.as_str())) {
                for a in &composite.attributes {
                    used.insert((&a.ty.schema, &a.ty.name));
                }
            }
        }
        if used.len() == before {
            break;
        }
    }
    let used: BTreeSet<(String, String)> = used
        .into_iter()
        .map(|(schema, name)| (schema.to_string(), name.to_string()))
        .collect();
    let keep = |schema: &String, name: &String| {
        catalog.schemas.contains(schema) || used.contains(&(schema.clone(), name.clone()))
    };
    let enums = std::mem::take(&mut catalog.enums);
    catalog.enums = enums
        .into_iter()
        .filter(|e| keep(&e.schema, &e.name))
        .collect();
    let domains = std::mem::take(&mut catalog.domains);
    catalog.domains = domains
        .into_iter()
        .filter(|d| keep(&d.schema, &d.name))
        .collect();
    let composites = std::mem::take(&mut catalog.composites);
    catalog.composites = composites
        .into_iter()
        .filter(|c| keep(&c.schema, &c.name))
        .collect();
}

/// Byte-order sorting, so the model does not depend on the database's collation or on
/// the order rows came back in.
fn sort(catalog: &mut Catalog) {
    catalog
        .enums
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    catalog
        .domains
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    catalog
        .composites
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    catalog
        .tables
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    catalog
        .views
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    for table in &mut catalog.tables {
        table.uniques.sort_by(|a, b| a.name.cmp(&b.name));
        table.foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
        table.checks.sort_by(|a, b| a.name.cmp(&b.name));
        table.exclusions.sort_by(|a, b| a.name.cmp(&b.name));
        table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    }
    for view in &mut catalog.views {
        view.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    }
    catalog.namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    catalog.extensions.sort_by(|a, b| a.name.cmp(&b.name));
    catalog
        .sequences
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    catalog.functions.sort_by(|a, b| {
        (&a.schema, &a.name, &a.identity_arguments).cmp(&(
            &b.schema,
            &b.name,
            &b.identity_arguments,
        ))
    });
    catalog
        .triggers
        .sort_by(|a, b| (&a.schema, &a.table, &a.name).cmp(&(&b.schema, &b.table, &b.name)));
}
