//! A statement that waits for a table lock with no `lock_timeout` queues every later query
//! on that table behind it. squawk asks for `SET lock_timeout` (and `statement_timeout`) in
//! the file; pgshift sets `lock_timeout` in every migration session from `[migrate]
//! session_lock_timeout`, so the rule is satisfied by configuration unless that is 0.
//! `statement_timeout` is not asked for: a long backfill must be allowed to finish.

use pg_query::NodeEnum;

use super::{Cx, Risk};

const RULE: &str = "require-timeout-settings";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    if cx.session_lock_timeout || cx.state.lock_timeout_set || cx.state.timeout_reported {
        return;
    }
    let locks = matches!(
        node,
        NodeEnum::AlterTableStmt(_)
            | NodeEnum::IndexStmt(_)
            | NodeEnum::DropStmt(_)
            | NodeEnum::RenameStmt(_)
            | NodeEnum::TruncateStmt(_)
            | NodeEnum::CreateTrigStmt(_)
    );
    if !locks {
        return;
    }
    cx.hit(
        RULE,
        -1,
        None,
        Risk::Advice,
        "this statement waits for a table lock with no lock_timeout: while it waits, every \
         query on the table queues behind it ([migrate] session_lock_timeout is 0 and the file \
         sets no lock_timeout)"
            .into(),
        "set [migrate] session_lock_timeout in pgshift.toml (e.g. \"10s\"), or start the file \
         with `SET lock_timeout = '10s';`"
            .into(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::hits_with;

    #[test]
    fn satisfied_by_the_session_or_the_file() {
        let sql = "ALTER TABLE doctor ADD COLUMN x int; ALTER TABLE doctor ADD COLUMN y int";
        let rule = |h: &Vec<String>| {
            h.iter()
                .filter(|h| h.starts_with("require-timeout-settings"))
                .count()
        };
        assert_eq!(rule(&hits_with(sql, false, 15, true)), 0);
        // Once per file.
        assert_eq!(rule(&hits_with(sql, false, 15, false)), 1);
        let set = format!("SET lock_timeout = '5s'; {sql}");
        assert_eq!(rule(&hits_with(&set, false, 15, false)), 0);
    }
}
