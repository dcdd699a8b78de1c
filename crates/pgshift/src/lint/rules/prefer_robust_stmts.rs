//! In a `-- no-transaction` migration each statement commits on its own, so a failure half
//! way leaves the first statements applied; the retry then fails on them ("already exists")
//! unless they are written to be run twice. A failed `CREATE INDEX CONCURRENTLY` also leaves
//! an INVALID index behind. A transactional migration is all or nothing: the rule is quiet.

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::{added_column, alter_cmds, alter_table, is, Cx, Risk, TableRef};

const RULE: &str = "prefer-robust-stmts";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    if !cx.state.no_transaction {
        return;
    }
    let (what, table, help) = match node {
        NodeEnum::IndexStmt(i) if !i.if_not_exists => (
            "CREATE INDEX without IF NOT EXISTS",
            i.relation.as_ref().map(TableRef::of),
            "write `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, and precede it with `DROP INDEX \
             CONCURRENTLY IF EXISTS` so that an INVALID index left by a failed attempt is rebuilt",
        ),
        NodeEnum::CreateStmt(c) if !c.if_not_exists => (
            "CREATE TABLE without IF NOT EXISTS",
            c.relation.as_ref().map(TableRef::of),
            "write `CREATE TABLE IF NOT EXISTS`",
        ),
        NodeEnum::DropStmt(d) if !d.missing_ok => {
            ("DROP without IF EXISTS", None, "write `DROP ... IF EXISTS`")
        }
        _ => match alter_table(node) {
            Some((alter, table)) => {
                let fragile = alter_cmds(alter).any(|cmd| {
                    (added_column(cmd).is_some() || is(cmd, AlterTableType::AtDropColumn))
                        && !cmd.missing_ok
                });
                if !fragile {
                    return;
                }
                (
                    "ADD/DROP COLUMN without IF [NOT] EXISTS",
                    Some(table),
                    "write `ADD COLUMN IF NOT EXISTS` / `DROP COLUMN IF EXISTS`",
                )
            }
            None => return,
        },
    };
    cx.hit(
        RULE,
        -1,
        table,
        Risk::Advice,
        format!(
            "{what} in a -- no-transaction migration: if a later statement fails, the retry \
             fails on this one"
        ),
        help.into(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn only_in_no_transaction_files() {
        let sql = "CREATE INDEX CONCURRENTLY i ON doctor (name);\n\
                   CREATE INDEX CONCURRENTLY IF NOT EXISTS j ON doctor (name);\n\
                   ALTER TABLE doctor ADD COLUMN IF NOT EXISTS x int;\n\
                   DROP INDEX CONCURRENTLY k;";
        let hits = rule_hits("prefer-robust-stmts", sql, true);
        assert_eq!(hits.len(), 2, "{hits:#?}");
        assert!(rule_hits("prefer-robust-stmts", "CREATE INDEX i ON t (a)", false).is_empty());
    }
}
