//! `ALTER TABLE ... ADD COLUMN ... DEFAULT expr`: since PostgreSQL 11 a non-volatile default
//! is stored in the catalog and nothing is rewritten; a volatile one (`random()`,
//! `gen_random_uuid()`, `clock_timestamp()`, a serial's `nextval`) or a stored generated
//! column rewrites the whole table under ACCESS EXCLUSIVE. Before 11, any default rewrites.

use pg_query::protobuf::{ConstrType, Node};
use pg_query::NodeEnum;

use super::{added_column, alter_cmds, alter_table, column_constraints, constr, Cx, Risk};

const RULE: &str = "adding-field-with-default";

/// Functions whose value is fixed for the statement (stable or immutable) and that show up
/// in defaults; anything else called in a default is treated as volatile.
const NON_VOLATILE: &[&str] = &[
    "now",
    "current_timestamp",
    "transaction_timestamp",
    "statement_timestamp",
    "current_date",
    "lower",
    "upper",
    "coalesce",
    "jsonb_build_object",
    "json_build_object",
    "jsonb_build_array",
    "array",
    "make_interval",
    "to_jsonb",
];

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let Some((alter, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(alter) {
        let Some(col) = added_column(cmd) else {
            continue;
        };
        let serial = col
            .type_name
            .as_ref()
            .and_then(|t| t.names.last())
            .and_then(|n| match &n.node {
                Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .is_some_and(|t| {
                matches!(
                    t,
                    "serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8"
                )
            });
        let why = if serial {
            Some("a serial column's default (nextval) is volatile".to_string())
        } else {
            column_constraints(col).find_map(|c| {
                if constr(c, ConstrType::ConstrGenerated) {
                    return Some("a stored generated column is computed for every row".into());
                }
                if !constr(c, ConstrType::ConstrDefault) {
                    return None;
                }
                if cx.postgres_version < 11 {
                    return Some(format!(
                        "before PostgreSQL 11 (assumed: {}) every default is written into every row",
                        cx.postgres_version
                    ));
                }
                let expr = c.raw_expr.as_deref()?;
                volatile_call(expr).map(|f| format!("its default calls {f}(), which is volatile"))
            })
        };
        if let Some(why) = why {
            cx.hit(
                RULE,
                col.location,
                Some(table.clone()),
                Risk::Lock,
                format!(
                    "ADD COLUMN {} rewrites {} under an ACCESS EXCLUSIVE lock: {why}",
                    col.colname,
                    table.sql()
                ),
                "add the column without the default (or with a constant one), set the default \
                 with ALTER COLUMN ... SET DEFAULT, then backfill existing rows in batches"
                    .into(),
            );
        }
    }
}

/// The first function call in `expr` that is not known to be non-volatile.
fn volatile_call(expr: &Node) -> Option<String> {
    match expr.node.as_ref()? {
        NodeEnum::FuncCall(f) => {
            let name = f
                .funcname
                .last()
                .and_then(|n| match &n.node {
                    Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            if !NON_VOLATILE.contains(&name.as_str()) {
                return Some(name);
            }
            f.args.iter().find_map(volatile_call)
        }
        NodeEnum::TypeCast(t) => t.arg.as_deref().and_then(volatile_call),
        NodeEnum::AExpr(a) => a
            .lexpr
            .as_deref()
            .and_then(volatile_call)
            .or_else(|| a.rexpr.as_deref().and_then(volatile_call)),
        NodeEnum::CoalesceExpr(c) => c.args.iter().find_map(volatile_call),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{hits_with, rule_hits};

    #[test]
    fn volatile_defaults_and_generated_columns_rewrite() {
        let sql = "ALTER TABLE doctor ADD COLUMN token uuid DEFAULT gen_random_uuid();\n\
                   ALTER TABLE doctor ADD COLUMN n bigserial;\n\
                   ALTER TABLE doctor ADD COLUMN t int GENERATED ALWAYS AS (a + 1) STORED;";
        let hits = rule_hits("adding-field-with-default", sql, false);
        assert_eq!(hits.len(), 3, "{hits:#?}");
        assert!(hits[0].contains("gen_random_uuid()"), "{}", hits[0]);
    }

    #[test]
    fn constant_and_stable_defaults_are_fine_since_11() {
        let sql = "ALTER TABLE doctor ADD COLUMN a int DEFAULT 10;\n\
                   ALTER TABLE doctor ADD COLUMN b text DEFAULT 'x'::text;\n\
                   ALTER TABLE doctor ADD COLUMN c timestamptz DEFAULT now();\n\
                   ALTER TABLE doctor ADD COLUMN d timestamptz DEFAULT CURRENT_TIMESTAMP;";
        assert!(rule_hits("adding-field-with-default", sql, false).is_empty());
        let old = hits_with(
            "ALTER TABLE doctor ADD COLUMN a bigint DEFAULT 10",
            false,
            10,
            true,
        );
        assert_eq!(old.len(), 1, "{old:#?}");
        assert!(old[0].contains("before PostgreSQL 11"), "{}", old[0]);
    }
}
