//! The watcher daemon.
