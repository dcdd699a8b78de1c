//! What the target database says about the tables a migration touches: rows (`reltuples`,
//! or a count bounded by the large-table threshold when the table was never analysed) and
//! size (`pg_total_relation_size`), and the server's major version.

use sqlx::PgConnection;

use super::rules::TableRef;

/// A table's size on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSize {
    pub rows: i64,
    pub bytes: i64,
    /// `rows` is a lower bound (a count stopped at the large-table threshold).
    pub at_least: bool,
}

/// The target's answers, for `super::judge`.
#[derive(Debug, Clone)]
pub struct TargetFacts {
    /// The environment's name, for messages.
    pub env: String,
    pub postgres_version: u32,
    sizes: Vec<(TableRef, TableSize)>,
}

impl TargetFacts {
    /// The size of `table`, when the target has it.
    pub fn size(&self, table: &TableRef) -> Option<TableSize> {
        self.sizes.iter().find(|(t, _)| t == table).map(|(_, s)| *s)
    }
}

/// The server's major version (15 for 15.4).
pub async fn server_major_version(conn: &mut PgConnection) -> Result<u32, sqlx::Error> {
    let num: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut *conn)
        .await?;
    Ok((num / 10000) as u32)
}

/// Sizes of `tables` on the database of `conn` (names resolved with its search_path, as the
/// migration would). Tables it does not have are left out.
pub async fn target_facts(
    conn: &mut PgConnection,
    env: &str,
    postgres_version: u32,
    tables: &[TableRef],
    large_table_rows: u64,
) -> Result<TargetFacts, sqlx::Error> {
    let names: Vec<String> = tables.iter().map(TableRef::sql).collect();
    let rows: Vec<(String, f64, i64)> = sqlx::query_as(
        "SELECT t.name, c.reltuples::float8, pg_total_relation_size(c.oid)::int8 \
         FROM unnest($1::text[]) AS t(name) JOIN pg_class c ON c.oid = to_regclass(t.name)",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    let mut sizes = Vec::new();
    for (name, reltuples, bytes) in rows {
        let Some(table) = tables.iter().find(|t| t.sql() == name) else {
            continue;
        };
        // Never analysed (-1): count, but no further than what makes it large.
        let (rows, at_least) = if reltuples < 0.0 {
            let limit = large_table_rows.min(i64::MAX as u64) as i64;
            let count: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM (SELECT 1 FROM {name} LIMIT {limit}) s"
            ))
            .fetch_one(&mut *conn)
            .await?;
            (count, count >= limit)
        } else {
            (reltuples.round() as i64, false)
        };
        sizes.push((
            table.clone(),
            TableSize {
                rows,
                bytes,
                at_least,
            },
        ));
    }
    Ok(TargetFacts {
        env: env.to_string(),
        postgres_version,
        sizes,
    })
}
