//! `ALTER COLUMN ... DROP NOT NULL`: the column may now hold NULL, which code that reads it
//! as always present does not expect (the generated field becomes an `Option`).

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::{alter_cmds, alter_table, is, Cx, Risk};

const RULE: &str = "ban-drop-not-null";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let Some((a, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(a) {
        if !is(cmd, AlterTableType::AtDropNotNull) {
            continue;
        }
        cx.hit(
            RULE,
            -1,
            Some(table.clone()),
            Risk::Breaking,
            format!(
                "dropping NOT NULL on {}.{} lets it hold NULL, which code that reads it as always \
                 present does not expect",
                table.sql(),
                cmd.name
            ),
            "update the code that reads the column (its generated field becomes an Option) \
             before NULLs can appear"
                .into(),
        );
        cx.on_column(&cmd.name);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn drop_not_null() {
        let sql =
            "ALTER TABLE doctor ALTER COLUMN name DROP NOT NULL, ALTER COLUMN age SET NOT NULL";
        let hits = rule_hits("ban-drop-not-null", sql, false);
        assert_eq!(hits.len(), 1, "{hits:#?}");
        assert!(hits[0].contains("doctor.name"), "{}", hits[0]);
    }
}
