//! `DETACH PARTITION` without `CONCURRENTLY` takes an ACCESS EXCLUSIVE lock on the parent
//! table (PostgreSQL 14 and later can detach under SHARE UPDATE EXCLUSIVE).

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::{alter_cmds, alter_table, is, own_no_transaction_file, Cx, Risk};

const RULE: &str = "require-concurrent-partition-detach";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    if cx.postgres_version < 14 {
        return;
    }
    let Some((a, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(a) {
        if !is(cmd, AlterTableType::AtDetachPartition) {
            continue;
        }
        let concurrent = matches!(
            cmd.def.as_ref().and_then(|d| d.node.as_ref()),
            Some(NodeEnum::PartitionCmd(p)) if p.concurrent
        );
        if concurrent {
            continue;
        }
        cx.hit(
            RULE,
            -1,
            Some(table.clone()),
            Risk::Lock,
            format!(
                "DETACH PARTITION without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on {}",
                table.sql()
            ),
            own_no_transaction_file(cx.state, "write `DETACH PARTITION ... CONCURRENTLY`"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn detach() {
        let sql = "ALTER TABLE m DETACH PARTITION m_2020; \
                   ALTER TABLE m DETACH PARTITION m_2021 CONCURRENTLY";
        let hits = rule_hits("require-concurrent-partition-detach", sql, false);
        assert_eq!(hits.len(), 1, "{hits:#?}");
        assert!(hits[0].contains("lock on m"), "{}", hits[0]);
    }
}
