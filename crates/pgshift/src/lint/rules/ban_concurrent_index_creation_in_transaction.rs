//! `CREATE INDEX CONCURRENTLY` (and `DROP INDEX CONCURRENTLY`) cannot run inside a
//! transaction block, and pgshift runs every migration in one unless its first line is
//! `-- no-transaction`: the migration would fail (pgshift refuses it before sending it).

use pg_query::NodeEnum;

use super::{Cx, Risk, TableRef};

const RULE: &str = "ban-concurrent-index-creation-in-transaction";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    if cx.state.no_transaction {
        return;
    }
    let (what, table) = match node {
        NodeEnum::IndexStmt(i) if i.concurrent => (
            "CREATE INDEX CONCURRENTLY",
            i.relation.as_ref().map(TableRef::of),
        ),
        NodeEnum::DropStmt(d) if d.concurrent => ("DROP INDEX CONCURRENTLY", None),
        _ => return,
    };
    cx.hit(
        RULE,
        -1,
        table,
        Risk::Fails,
        format!("{what} cannot run inside a transaction, and this migration runs in one: it fails"),
        format!(
            "move it to a migration of its own whose first line is `-- no-transaction` \
             (pgshift refuses {what} in a transactional migration)"
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn concurrently_in_a_transactional_file_only() {
        let sql = "CREATE INDEX CONCURRENTLY i ON a (x); DROP INDEX CONCURRENTLY j";
        let hits = rule_hits("ban-concurrent-index-creation-in-transaction", sql, false);
        assert_eq!(hits.len(), 2, "{hits:#?}");
        assert!(hits[0].contains("CREATE INDEX CONCURRENTLY cannot run"));
        assert!(rule_hits("ban-concurrent-index-creation-in-transaction", sql, true).is_empty());
    }
}
