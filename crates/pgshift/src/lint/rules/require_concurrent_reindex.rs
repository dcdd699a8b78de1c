//! `REINDEX` without `CONCURRENTLY` blocks writes to the table (and reads that would use the
//! index) while it rebuilds.

use pg_query::protobuf::ReindexObjectType;
use pg_query::NodeEnum;

use super::{own_no_transaction_file, Cx, Risk, TableRef};

const RULE: &str = "require-concurrent-reindex";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let NodeEnum::ReindexStmt(r) = node else {
        return;
    };
    let concurrently = r
        .params
        .iter()
        .any(|p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"));
    if concurrently {
        return;
    }
    let table = (r.kind == ReindexObjectType::ReindexObjectTable as i32)
        .then(|| r.relation.as_ref().map(TableRef::of))
        .flatten();
    cx.hit(
        RULE,
        -1,
        table,
        Risk::Lock,
        "REINDEX without CONCURRENTLY blocks writes to the table while the index rebuilds".into(),
        own_no_transaction_file(cx.state, "write `REINDEX ... CONCURRENTLY`"),
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn reindex() {
        let hits = rule_hits("require-concurrent-reindex", "REINDEX TABLE a", false);
        assert_eq!(hits.len(), 1, "{hits:#?}");
        assert!(rule_hits(
            "require-concurrent-reindex",
            "REINDEX INDEX CONCURRENTLY i",
            true
        )
        .is_empty());
    }
}
