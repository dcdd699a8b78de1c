//! Watching the migrations folder: inotify (through notify) on the folder itself, because
//! editors save by writing a temporary file and renaming it over the original, and a watch
//! on a single file goes deaf after the first such save.
//!
//! Debouncing is ours rather than notify-debouncer-full's: that crate's debouncer thread
//! wakes up every tick even when nothing happens, and an idle daemon must use no CPU. Here
//! a timer is armed only while changes are waiting (see `Debounce`).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the watch saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A migration file changed.
    File(PathBuf),
    /// Events were lost (the kernel queue overflowed): look at everything.
    Rescan,
    /// The migrations folder itself was removed or moved away: the watch is gone with it.
    FolderGone,
}

/// A live watch; dropping it stops the watching.
pub struct FolderWatcher {
    _watcher: RecommendedWatcher,
    pub changes: mpsc::UnboundedReceiver<Change>,
    /// Files being written, updated by notify's thread as events arrive, so that a sync in
    /// progress sees a write that began after it started.
    pub writes: Arc<Writes>,
}

impl FolderWatcher {
    pub fn new(folder: &Path, quiet: Duration) -> anyhow::Result<FolderWatcher> {
        let (tx, changes) = mpsc::unbounded_channel();
        let writes = Arc::new(Writes::new(quiet));
        let seen = Arc::clone(&writes);
        let root = folder.to_path_buf();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let event = match event {
                    Ok(event) => event,
                    Err(_) => {
                        let _ = tx.send(Change::Rescan);
                        return;
                    }
                };
                if event.need_rescan() {
                    let _ = tx.send(Change::Rescan);
                    return;
                }
                if matches!(
                    event.kind,
                    EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From))
                ) && event.paths.iter().any(|p| p == &root)
                {
                    let _ = tx.send(Change::FolderGone);
                    return;
                }
                for (i, path) in event.paths.iter().enumerate() {
                    if !is_migration_file(path) {
                        continue;
                    }
                    match event.kind {
                        // Reads (including the daemon's own) and opens say nothing about content.
                        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                            seen.closed(path)
                        }
                        EventKind::Access(_) => continue,
                        // A rename brings a complete file to its name: the editor's atomic save.
                        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => seen.closed(path),
                        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if i == 1 => {
                            seen.closed(path)
                        }
                        EventKind::Modify(ModifyKind::Name(_)) | EventKind::Remove(_) => {
                            seen.forget(path)
                        }
                        EventKind::Create(_) | EventKind::Modify(_) => seen.writing(path),
                        _ => continue,
                    }
                    let _ = tx.send(Change::File(path.clone()));
                }
            })
            .map_err(|e| watch_error(folder, e))?;
        watcher
            .watch(folder, RecursiveMode::NonRecursive)
            .map_err(|e| watch_error(folder, e))?;
        Ok(FolderWatcher {
            _watcher: watcher,
            changes,
            writes,
        })
    }
}

/// Which migration files are being written. A file is settled once it has been closed
/// after writing (or renamed into place) and left alone for the quiet period. A file held
/// open for writing counts as settled only after `STILL_OPEN` without a change, for writers
/// that keep it open and are simply done.
pub struct Writes {
    quiet: Duration,
    files: Mutex<HashMap<PathBuf, Write>>,
}

#[derive(Clone, Copy)]
struct Write {
    last_change: Instant,
    open: bool,
}

/// How long a file that was written but not closed must be left alone to count as done.
pub const STILL_OPEN: Duration = Duration::from_secs(3);

impl Writes {
    fn new(quiet: Duration) -> Writes {
        Writes {
            quiet,
            files: Mutex::new(HashMap::new()),
        }
    }

    fn writing(&self, path: &Path) {
        self.set(path, true);
    }

    fn closed(&self, path: &Path) {
        self.set(path, false);
    }

    fn set(&self, path: &Path, open: bool) {
        let mut files = self.files.lock().expect("not poisoned");
        files.insert(
            path.to_path_buf(),
            Write {
                last_change: Instant::now(),
                open,
            },
        );
    }

    fn forget(&self, path: &Path) {
        self.files.lock().expect("not poisoned").remove(path);
    }

    fn settles_at(&self, write: &Write) -> Instant {
        write.last_change + if write.open { STILL_OPEN } else { self.quiet }
    }

    /// Whether `path` is complete as far as the watch can tell.
    pub fn settled(&self, path: &Path) -> bool {
        let files = self.files.lock().expect("not poisoned");
        files
            .get(path)
            .is_none_or(|w| self.settles_at(w) <= Instant::now())
    }

    /// When the last file still being written will have settled, if any is; forgets the
    /// files that have.
    pub fn next_settle(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut files = self.files.lock().expect("not poisoned");
        files.retain(|_, w| w.last_change + STILL_OPEN > now);
        files
            .values()
            .map(|w| self.settles_at(w))
            .filter(|at| *at > now)
            .max()
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
/// A name that is not UTF-8 counts by its lossy form, so that the sync reports it (the
/// engine refuses such a name) instead of the daemon ignoring it.
pub fn is_migration_file(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
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

    /// Acts again at `at` at the latest (a file still being written will have settled).
    pub fn recheck_at(&mut self, at: Instant) {
        self.deadline = Some(self.deadline.map_or(at, |d| d.min(at)));
    }

    pub fn quiet(&self) -> Duration {
        self.quiet
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
