//! Typed bindings for the application schema: one struct per table and view, one enum per
//! PostgreSQL enum, with table and column name constants.
//!
//! `generated.rs` is written by `cargo xtask generate` (and by `migrate-dev` and the
//! daemon) from the local database's catalog; never edit it by hand. A test in `tests/`
//! fails when it is stale.

// prettyplease formats it; rustfmt would format it differently and make it look stale.
#[rustfmt::skip]
mod generated;

pub use generated::*;
