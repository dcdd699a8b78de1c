//! Functions, procedures and triggers.

use super::plan::{Context, Plan};

pub(super) fn diff_functions(_ctx: &Context, _plan: &mut Plan) {}

pub(super) fn diff_triggers(_ctx: &Context, _plan: &mut Plan) {}
