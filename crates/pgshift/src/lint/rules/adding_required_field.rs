//! `ADD COLUMN ... NOT NULL` without a default fails on a table that has rows ("column
//! contains null values"): it only works on an empty table.

use pg_query::protobuf::ConstrType;
use pg_query::NodeEnum;

use super::{added_column, alter_cmds, alter_table, column_constraints, constr, Cx, Risk};

const RULE: &str = "adding-required-field";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let Some((alter, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(alter) {
        let Some(col) = added_column(cmd) else {
            continue;
        };
        let has = |t| column_constraints(col).any(|c| constr(c, t));
        let filled = has(ConstrType::ConstrDefault)
            || has(ConstrType::ConstrGenerated)
            || has(ConstrType::ConstrIdentity);
        if has(ConstrType::ConstrNotnull) && !filled {
            cx.hit(
                RULE,
                col.location,
                Some(table.clone()),
                Risk::FailsIfPopulated,
                format!(
                    "ADD COLUMN {} NOT NULL without a default fails if {} has rows",
                    col.colname,
                    table.sql()
                ),
                "add the column nullable, backfill it, then make it NOT NULL (see \
                 adding-not-nullable-field), or give it a constant DEFAULT"
                    .into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn not_null_without_default() {
        let sql = "ALTER TABLE doctor ADD COLUMN a int NOT NULL;\n\
                   ALTER TABLE doctor ADD COLUMN b int NOT NULL DEFAULT 1;\n\
                   ALTER TABLE doctor ADD COLUMN c int GENERATED ALWAYS AS IDENTITY NOT NULL;";
        let hits = rule_hits("adding-required-field", sql, false);
        assert_eq!(hits.len(), 1, "{hits:#?}");
        assert!(hits[0].contains("ADD COLUMN a NOT NULL"), "{}", hits[0]);
    }
}
