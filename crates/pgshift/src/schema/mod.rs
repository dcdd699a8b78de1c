//! Schema as code: the schema folder (`[paths] schema`, plain `.sql` files holding the
//! desired schema) and the other states a schema can be compared in (`Source`: empty, the
//! migrations, the schema folder, an environment, a URL), each read into a `Catalog`.
//!
//! `folder` reads the folder's files and their `-- pgshift:renamed` comments, `load` runs
//! them in a shadow database (`local::shadow`), `source` turns every source into a catalog
//! (the migrations are replayed by the migration engine, never psql).

pub mod drift;
pub mod folder;
pub mod load;
pub mod plan;
pub mod pull;
pub mod source;

pub use source::{read, Context, SchemaState, Source};
