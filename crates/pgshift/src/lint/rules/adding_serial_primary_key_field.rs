//! `ADD PRIMARY KEY` (or a new column declared `PRIMARY KEY`) builds the key's unique index
//! under an ACCESS EXCLUSIVE lock: every query on the table waits for the whole build. squawk
//! names the rule after its most common case, a new serial key.

use pg_query::protobuf::ConstrType;
use pg_query::NodeEnum;

use super::{
    added_column, added_constraint, alter_cmds, alter_table, column_constraints, constr, Cx, Risk,
};

const RULE: &str = "adding-serial-primary-key-field";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let Some((a, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(a) {
        let location = if let Some(c) = added_constraint(cmd) {
            if !constr(c, ConstrType::ConstrPrimary) || !c.indexname.is_empty() {
                continue;
            }
            c.location
        } else if let Some(col) = added_column(cmd) {
            if !column_constraints(col).any(|c| constr(c, ConstrType::ConstrPrimary)) {
                continue;
            }
            col.location
        } else {
            continue;
        };
        cx.hit(
            RULE,
            location,
            Some(table.clone()),
            Risk::Lock,
            format!(
                "adding a primary key to {} builds its index under an ACCESS EXCLUSIVE lock",
                table.sql()
            ),
            "build the unique index first with `CREATE UNIQUE INDEX CONCURRENTLY` (in a \
             `-- no-transaction` migration), then `ALTER TABLE ... ADD PRIMARY KEY USING INDEX ...`"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn primary_keys_added() {
        let sql = "ALTER TABLE a ADD COLUMN id bigserial PRIMARY KEY; \
                   ALTER TABLE b ADD PRIMARY KEY (id); \
                   ALTER TABLE c ADD CONSTRAINT c_pkey PRIMARY KEY USING INDEX c_id; \
                   CREATE TABLE d (id bigint PRIMARY KEY)";
        let hits = rule_hits("adding-serial-primary-key-field", sql, false);
        assert_eq!(hits.len(), 2, "{hits:#?}");
        assert!(hits[1].contains("to b builds"), "{}", hits[1]);
    }
}
