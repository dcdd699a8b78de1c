//! `ADD CONSTRAINT ... UNIQUE` (or `ADD COLUMN ... UNIQUE`) builds its index under ACCESS
//! EXCLUSIVE. Build the index `CONCURRENTLY` first, then `ADD CONSTRAINT ... UNIQUE USING
//! INDEX`, which only takes the lock for a moment.

use pg_query::protobuf::ConstrType;
use pg_query::NodeEnum;

use super::{
    added_column, added_constraint, alter_cmds, alter_table, column_constraints, constr, Cx, Risk,
};

const RULE: &str = "disallowed-unique-constraint";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let Some((alter, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(alter) {
        let found = if let Some(c) = added_constraint(cmd) {
            (constr(c, ConstrType::ConstrUnique) && c.indexname.is_empty()).then_some(c)
        } else if let Some(col) = added_column(cmd) {
            column_constraints(col).find(|c| constr(c, ConstrType::ConstrUnique))
        } else {
            None
        };
        let Some(c) = found else {
            continue;
        };
        cx.hit(
            RULE,
            c.location,
            Some(table.clone()),
            Risk::Lock,
            format!(
                "adding a UNIQUE constraint builds its index on {} under an ACCESS EXCLUSIVE lock",
                table.sql()
            ),
            "`CREATE UNIQUE INDEX CONCURRENTLY ...` in a `-- no-transaction` migration, then \
             `ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX ...`"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn unique_without_using_index() {
        let sql = "ALTER TABLE doctor ADD CONSTRAINT u UNIQUE (email);\n\
                   ALTER TABLE doctor ADD CONSTRAINT u2 UNIQUE USING INDEX doctor_email_idx;\n\
                   ALTER TABLE doctor ADD COLUMN code text UNIQUE;";
        assert_eq!(
            rule_hits("disallowed-unique-constraint", sql, false).len(),
            2
        );
    }
}
