//! Schemas, extensions and sequences.

use super::plan::{Context, Plan};

pub(super) fn diff_schemas_and_extensions(_ctx: &Context, _plan: &mut Plan) {}

pub(super) fn diff_sequences(_ctx: &Context, _plan: &mut Plan) {}
