//! `ALTER COLUMN ... TYPE` takes ACCESS EXCLUSIVE and, unless the change is binary-compatible
//! (`varchar(n)` to a larger `n` or to `text`, a wider `numeric` precision), rewrites the
//! table and rebuilds its indexes while everything waits.

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::{alter_cmds, alter_table, is, Cx, Risk};

const RULE: &str = "changing-column-type";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let Some((alter, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(alter) {
        if !is(cmd, AlterTableType::AtAlterColumnType) {
            continue;
        }
        let location = match cmd.def.as_ref().and_then(|d| d.node.as_ref()) {
            Some(NodeEnum::ColumnDef(c)) => c.location,
            _ => -1,
        };
        cx.hit(
            RULE,
            location,
            Some(table.clone()),
            Risk::Lock,
            format!(
                "changing the type of {}.{} takes an ACCESS EXCLUSIVE lock and, unless the \
                 change is binary-compatible, rewrites the table and its indexes",
                table.sql(),
                cmd.name
            ),
            "add a column of the new type, write both from the code, backfill in batches, then \
             switch reads and drop the old column; widening varchar(n) or going to text does \
             not rewrite"
                .into(),
        );
        cx.on_column(&cmd.name);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn type_changes() {
        let hits = rule_hits(
            "changing-column-type",
            "ALTER TABLE doctor ALTER COLUMN name TYPE varchar(20), ALTER COLUMN age SET DATA TYPE bigint",
            false,
        );
        assert_eq!(hits.len(), 2, "{hits:#?}");
        assert!(hits[1].contains("doctor.age"), "{}", hits[1]);
    }
}
