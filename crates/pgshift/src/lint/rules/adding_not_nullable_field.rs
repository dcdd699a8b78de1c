//! `ALTER COLUMN ... SET NOT NULL` scans the whole table under ACCESS EXCLUSIVE (reads and
//! writes wait). The fix is the team guide's "make a field required" in steps, with the
//! `CHECK (...) NOT VALID` + `VALIDATE CONSTRAINT` form: since PostgreSQL 12 a validated
//! check lets `SET NOT NULL` skip the scan.

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::{alter_cmds, alter_table, is, Cx, Risk};

const RULE: &str = "adding-not-nullable-field";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let Some((alter, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(alter) {
        if !is(cmd, AlterTableType::AtSetNotNull) {
            continue;
        }
        let (t, c) = (table.sql(), cmd.name.as_str());
        cx.hit(
            RULE,
            -1,
            Some(table.clone()),
            Risk::Lock,
            format!(
                "SET NOT NULL on {t}.{c} scans every row of {t} under an ACCESS EXCLUSIVE lock \
                 (reads and writes wait)"
            ),
            format!(
                "make the field required in steps: (1) add it nullable with a default \
                 (`ALTER TABLE {t} ADD COLUMN {c} ... DEFAULT ...`) and deploy code that writes \
                 it; (2) backfill existing rows in batches (`UPDATE {t} SET {c} = ... WHERE {c} IS \
                 NULL`); (3) `ALTER TABLE {t} ADD CONSTRAINT {t}_{c}_not_null CHECK ({c} IS NOT \
                 NULL) NOT VALID;` then, in a later migration, `ALTER TABLE {t} VALIDATE \
                 CONSTRAINT {t}_{c}_not_null;` `ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;` \
                 (PostgreSQL 12+ uses the validated check and skips the scan) and `ALTER TABLE \
                 {t} DROP CONSTRAINT {t}_{c}_not_null;`"
            ),
        );
        cx.on_column(c);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn set_not_null_with_the_three_steps_as_help() {
        let hits = rule_hits(
            "adding-not-nullable-field",
            "ALTER TABLE doctor ALTER COLUMN specialization SET NOT NULL;\n\
             ALTER TABLE doctor ADD COLUMN a int NOT NULL DEFAULT 0;",
            false,
        );
        assert_eq!(
            hits,
            [
                "adding-not-nullable-field: SET NOT NULL on doctor.specialization scans every row \
              of doctor under an ACCESS EXCLUSIVE lock (reads and writes wait)"
            ]
        );
    }
}
