//! `DROP COLUMN` loses the column's data for good, and the code still running (or the
//! generated bindings) may read it.

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::{alter_cmds, alter_table, is, Cx, Risk};

const RULE: &str = "ban-drop-column";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let Some((alter, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(alter) {
        if !is(cmd, AlterTableType::AtDropColumn) {
            continue;
        }
        cx.hit(
            RULE,
            -1,
            Some(table.clone()),
            Risk::DataLoss,
            format!(
                "dropping {}.{} loses its data, and code that still reads it breaks",
                table.sql(),
                cmd.name
            ),
            format!(
                "export the data or take a backup first (`\\copy (SELECT id, {} FROM {}) TO \
                 '...'`); deploy code that no longer reads the column before this migration",
                cmd.name,
                table.sql()
            ),
        );
        cx.on_column(&cmd.name);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn drop_column() {
        let hits = rule_hits(
            "ban-drop-column",
            "ALTER TABLE doctor DROP COLUMN specialization, ADD COLUMN x int",
            false,
        );
        assert_eq!(
            hits,
            [
                "ban-drop-column: dropping doctor.specialization loses its data, and code that \
              still reads it breaks"
            ]
        );
    }
}
