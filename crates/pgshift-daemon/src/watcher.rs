//! Watching the migrations folder: inotify (through notify) on the folder itself, because
//! editors save by writing a temporary file and renaming it over the original, and a watch
//! on a single file goes deaf after the first such save.
//!
//! Debouncing is ours rather than notify-debouncer-full's: that crate's debouncer thread
//! wakes up every tick even when nothing happens, and an idle daemon must use no CPU. Here
//! a timer is armed only while changes are waiting (see `Debounce`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A live watch; dropping it stops the watching.
pub struct FolderWatcher {
    _watcher: RecommendedWatcher,
    pub changes: mpsc::UnboundedReceiver<PathBuf>,
}

impl FolderWatcher {
    pub fn new(folder: &Path) -> anyhow::Result<FolderWatcher> {
        let (tx, changes) = mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                for path in event.paths {
                    if is_migration_file(&path) {
                        let _ = tx.send(path);
                    }
                }
            })
            .map_err(|e| watch_error(folder, e))?;
        watcher
            .watch(folder, RecursiveMode::NonRecursive)
            .map_err(|e| watch_error(folder, e))?;
        Ok(FolderWatcher {
            _watcher: watcher,
            changes,
        })
    }
}

fn watch_error(folder: &Path, error: notify::Error) -> anyhow::Error {
    match error.kind {
        notify::ErrorKind::MaxFilesWatch => anyhow::anyhow!(
            "cannot watch {}: the inotify watch limit is reached; raise it with \
             `sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=1024` \
             (add the same lines to /etc/sysctl.conf to keep them after a reboot)",
            folder.display()
        ),
        notify::ErrorKind::PathNotFound => anyhow::anyhow!(
            "cannot watch {}: the folder does not exist; create it, or set [paths] migrations in pgshift.toml",
            folder.display()
        ),
        _ => anyhow::anyhow!("cannot watch {}: {error}", folder.display()),
    }
}

/// Whether a changed path can be a migration: `<digits>_<name>.sql` (or `.up.sql` /
/// `.down.sql`). Editor swap, backup and temporary files (`.x.sql.swp`, `x.sql~`, `4913`,
/// `.#x.sql`, `x.sql.tmp`) do not end in `.sql` after a digit prefix and are ignored.
pub fn is_migration_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let Some(stem) = name.strip_suffix(".sql") else {
        return false;
    };
    let digits = stem.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && stem[digits..].starts_with('_')
}

/// Collects changes until the folder has been quiet for `quiet`.
pub struct Debounce {
    quiet: Duration,
    pending: BTreeSet<PathBuf>,
    deadline: Option<Instant>,
}

impl Debounce {
    pub fn new(quiet: Duration) -> Debounce {
        Debounce {
            quiet,
            pending: BTreeSet::new(),
            deadline: None,
        }
    }

    pub fn push(&mut self, path: PathBuf) {
        self.pending.insert(path);
        self.deadline = Some(Instant::now() + self.quiet);
    }

    /// The moment the pending changes are due, if any are pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn take(&mut self) -> BTreeSet<PathBuf> {
        self.deadline = None;
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::is_migration_file;
    use std::path::Path;

    #[test]
    fn recognises_migration_files_and_ignores_editor_litter() {
        for yes in [
            "20261125103000_add.sql",
            "1_x.up.sql",
            "20261125103000_add.down.sql",
        ] {
            assert!(is_migration_file(Path::new(yes)), "{yes}");
        }
        for no in [
            ".20261125103000_add.sql.swp",
            "20261125103000_add.sql~",
            "4913",
            ".#20261125103000_add.sql",
            "20261125103000_add.sql.tmp",
            "README.md",
            "add.sql",
            "_add.sql",
            "20261125103000add.sql",
        ] {
            assert!(!is_migration_file(Path::new(no)), "{no}");
        }
    }
}
