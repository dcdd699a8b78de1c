//! Views and materialized views.

use super::plan::{Context, Plan};

pub(super) fn diff_views(_ctx: &Context, _plan: &mut Plan) {}
