//! Typed bindings for the application schema.
