//! `BEGIN`, `COMMIT` or `ROLLBACK` in a migration that pgshift already runs in a transaction:
//! the migration would no longer be all or nothing (pgshift refuses it before sending it).
//! A `-- no-transaction` file may manage its own transactions.

use pg_query::protobuf::TransactionStmtKind;
use pg_query::NodeEnum;

use super::{Cx, Risk};

const RULE: &str = "transaction-nesting";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    if cx.state.no_transaction {
        return;
    }
    let NodeEnum::TransactionStmt(t) = node else {
        return;
    };
    use TransactionStmtKind::*;
    let what = match TransactionStmtKind::try_from(t.kind) {
        Ok(TransStmtBegin) => "BEGIN",
        Ok(TransStmtStart) => "START TRANSACTION",
        Ok(TransStmtCommit) => "COMMIT",
        Ok(TransStmtRollback) => "ROLLBACK",
        Ok(TransStmtPrepare) => "PREPARE TRANSACTION",
        Ok(TransStmtCommitPrepared) => "COMMIT PREPARED",
        Ok(TransStmtRollbackPrepared) => "ROLLBACK PREPARED",
        _ => return,
    };
    cx.hit(
        RULE,
        -1,
        None,
        Risk::Fails,
        format!(
            "`{what}` controls the transaction, but pgshift already runs this migration in one \
             (all or nothing): it is refused"
        ),
        "remove it (pgshift begins and commits the migration's transaction), or make \
         `-- no-transaction` the first line of the file"
            .into(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn transaction_control_in_a_transactional_file_only() {
        let sql = "BEGIN; CREATE TABLE a (id bigint); SAVEPOINT s; COMMIT";
        let hits = rule_hits("transaction-nesting", sql, false);
        assert_eq!(hits.len(), 2, "{hits:#?}");
        assert!(hits[1].contains("`COMMIT`"), "{}", hits[1]);
        assert!(rule_hits("transaction-nesting", sql, true).is_empty());
    }
}
