//! `CREATE INDEX` without `CONCURRENTLY` holds a SHARE lock on the table while it builds:
//! every INSERT, UPDATE and DELETE waits for the whole build.

use pg_query::NodeEnum;

use super::{own_no_transaction_file, Cx, Risk, TableRef};

const RULE: &str = "require-concurrent-index-creation";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let NodeEnum::IndexStmt(i) = node else {
        return;
    };
    if i.concurrent {
        return;
    }
    let Some(table) = i.relation.as_ref().map(TableRef::of) else {
        return;
    };
    cx.hit(
        RULE,
        -1,
        Some(table.clone()),
        Risk::Lock,
        format!(
            "CREATE INDEX without CONCURRENTLY blocks writes to {} while the index builds",
            table.sql()
        ),
        own_no_transaction_file(cx.state, "write `CREATE INDEX CONCURRENTLY`"),
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn plain_create_index() {
        let sql =
            "CREATE INDEX i ON doctor (name); CREATE UNIQUE INDEX CONCURRENTLY j ON doctor (email)";
        let hits = rule_hits("require-concurrent-index-creation", sql, false);
        assert_eq!(
            hits,
            ["require-concurrent-index-creation: CREATE INDEX without CONCURRENTLY blocks writes \
              to doctor while the index builds"]
        );
    }
}
