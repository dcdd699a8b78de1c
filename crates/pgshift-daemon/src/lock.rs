//! One daemon per project: an exclusive `flock` on `<state>/daemon.lock`. The kernel drops
//! the lock when the process dies, however it dies, so a crashed daemon never leaves the
//! project locked; the pid written inside is only for messages and `daemon stop`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Another daemon holds the project lock.
#[derive(Debug, thiserror::Error)]
#[error("another pgshift daemon (pid {pid}) already watches this project; stop it with `cargo xtask daemon stop`")]
pub struct AlreadyRunning {
    pub pid: String,
}

/// The held lock; released on drop or process exit.
#[derive(Debug)]
pub struct ProjectLock {
    _file: Flock<File>,
    pub path: PathBuf,
}

pub fn lock_path(state_dir: &Path) -> PathBuf {
    state_dir.join("daemon.lock")
}

impl ProjectLock {
    /// Takes the lock without waiting, and writes our pid into the file.
    pub fn acquire(state_dir: &Path) -> anyhow::Result<ProjectLock> {
        std::fs::create_dir_all(state_dir)?;
        let path = lock_path(state_dir);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        // `holder_pid` (run by `daemon status` or another `daemon start`) holds a shared
        // lock for an instant: try a few times before concluding that a daemon runs.
        let mut file = file;
        let mut attempts = 0;
        let mut file = loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(locked) => break locked,
                Err((back, Errno::EWOULDBLOCK)) if attempts < 5 => {
                    attempts += 1;
                    file = back;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err((_, Errno::EWOULDBLOCK)) => {
                    let pid = holder_pid(state_dir).unwrap_or_else(|| "unknown".into());
                    return Err(AlreadyRunning { pid }.into());
                }
                Err((_, errno)) => anyhow::bail!("cannot lock {}: {errno}", path.display()),
            }
        };
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(ProjectLock { _file: file, path })
    }
}

/// The pid of the daemon holding the lock, or `None` when no daemon runs.
pub fn holder_pid(state_dir: &Path) -> Option<String> {
    let path = lock_path(state_dir);
    let file = File::open(&path).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        // We could lock it: nobody holds it.
        Ok(_) => None,
        Err((mut file, _)) => {
            let mut text = String::new();
            file.read_to_string(&mut text).ok()?;
            Some(text.trim().to_string()).filter(|pid| !pid.is_empty())
        }
    }
}
