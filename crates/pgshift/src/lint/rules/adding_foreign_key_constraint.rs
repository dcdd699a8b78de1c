//! A foreign key added without `NOT VALID` checks every existing row while holding SHARE ROW
//! EXCLUSIVE on both tables: writes to either wait for the whole scan. Adding it `NOT VALID`
//! and running `VALIDATE CONSTRAINT` later (a weaker lock) avoids that.

use pg_query::protobuf::ConstrType;
use pg_query::NodeEnum;

use super::{
    added_column, added_constraint, alter_cmds, alter_table, column_constraints, constr, Cx, Risk,
    TableRef,
};

const RULE: &str = "adding-foreign-key-constraint";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let Some((alter, table)) = alter_table(node) else {
        return;
    };
    for cmd in alter_cmds(alter) {
        let found = if let Some(c) = added_constraint(cmd) {
            (constr(c, ConstrType::ConstrForeign) && !c.skip_validation).then_some(c)
        } else if let Some(col) = added_column(cmd) {
            column_constraints(col).find(|c| constr(c, ConstrType::ConstrForeign))
        } else {
            None
        };
        let Some(c) = found else {
            continue;
        };
        let referenced = c
            .pktable
            .as_ref()
            .map(|r| TableRef::of(r).sql())
            .unwrap_or_else(|| "the referenced table".into());
        cx.hit(
            RULE,
            c.location,
            Some(table.clone()),
            Risk::Lock,
            format!(
                "adding a foreign key from {} to {referenced} checks every row of {} while \
                 writes to both tables wait",
                table.sql(),
                table.sql()
            ),
            "add the constraint with NOT VALID, then `ALTER TABLE ... VALIDATE CONSTRAINT ...` \
             in a later migration (it takes a lock that lets writes through)"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn foreign_keys_without_not_valid() {
        let sql = "ALTER TABLE visit ADD CONSTRAINT visit_doctor_fk FOREIGN KEY (doctor_id) REFERENCES doctor (id);\n\
                   ALTER TABLE visit ADD COLUMN clinic_id int REFERENCES clinic (id);\n\
                   ALTER TABLE visit ADD CONSTRAINT fk2 FOREIGN KEY (doctor_id) REFERENCES doctor (id) NOT VALID;";
        let hits = rule_hits("adding-foreign-key-constraint", sql, false);
        assert_eq!(hits.len(), 2, "{hits:#?}");
        assert!(hits[0].contains("from visit to doctor"), "{}", hits[0]);
        assert!(hits[1].contains("to clinic"), "{}", hits[1]);
    }
}
