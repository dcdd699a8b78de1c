//! A `CHECK` constraint added without `NOT VALID` checks every row under ACCESS EXCLUSIVE.
//! Added `NOT VALID` and validated in the same transaction, the `ADD`'s lock is still held
//! while `VALIDATE` scans, which is no better; a `-- no-transaction` migration commits each
//! statement on its own, so there it is fine. (Foreign keys are adding-foreign-key-constraint.)

use pg_query::protobuf::{AlterTableType, ConstrType};
use pg_query::NodeEnum;

use super::{added_constraint, alter_cmds, alter_table, constr, is, Cx, Risk};

const RULE: &str = "constraint-missing-not-valid";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let Some((alter, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(alter) {
        if let Some(c) = added_constraint(cmd) {
            if constr(c, ConstrType::ConstrCheck) && !c.skip_validation {
                cx.hit(
                    RULE,
                    c.location,
                    Some(table.clone()),
                    Risk::Lock,
                    format!(
                        "adding CHECK constraint {} checks every row of {} under an ACCESS \
                         EXCLUSIVE lock",
                        if c.conname.is_empty() {
                            "(unnamed)"
                        } else {
                            &c.conname
                        },
                        table.sql()
                    ),
                    "add it with NOT VALID, then `VALIDATE CONSTRAINT` in a later migration \
                     (validation takes a lock that lets reads and writes through)"
                        .into(),
                );
            }
        }
        if is(cmd, AlterTableType::AtValidateConstraint)
            && !cx.state.no_transaction
            && cx
                .state
                .not_valid
                .contains(&(table.name.clone(), cmd.name.clone()))
        {
            cx.hit(
                RULE,
                -1,
                Some(table.clone()),
                Risk::Lock,
                format!(
                    "validating {} in the same transaction that added it NOT VALID keeps the \
                     ACCESS EXCLUSIVE lock on {} during the scan",
                    cmd.name,
                    table.sql()
                ),
                "move `VALIDATE CONSTRAINT` to a later migration".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn checks_without_not_valid_and_validation_in_the_same_transaction() {
        let sql = "ALTER TABLE doctor ADD CONSTRAINT age_ok CHECK (age > 0);\n\
                   ALTER TABLE doctor ADD CONSTRAINT c2 CHECK (age < 200) NOT VALID;\n\
                   ALTER TABLE doctor VALIDATE CONSTRAINT c2;";
        let hits = rule_hits("constraint-missing-not-valid", sql, false);
        assert_eq!(hits.len(), 2, "{hits:#?}");
        assert!(hits[0].contains("age_ok"), "{}", hits[0]);
        assert!(hits[1].contains("same transaction"), "{}", hits[1]);
        // Each statement of a -- no-transaction migration commits on its own.
        assert_eq!(
            rule_hits("constraint-missing-not-valid", sql, true).len(),
            1
        );
    }
}
