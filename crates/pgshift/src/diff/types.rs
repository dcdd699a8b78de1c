//! Enums, domains and composite types.

use super::plan::{Context, Plan};

pub(super) fn diff_types(_ctx: &Context, _plan: &mut Plan) {}
