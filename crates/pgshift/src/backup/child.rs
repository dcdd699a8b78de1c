//! Running pg_dump and pg_restore: a cleaned environment (no inherited `PG*` variable can
//! redirect or change the dump, as `pgbin::clean_env` does for std commands), the password in a 0600 passfile named by `PGPASSFILE`
//! (never argv), and the child dies with us (`PR_SET_PDEATHSIG`), so a killed pgshift
//! does not leave a pg_dump writing on.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::target::DbUrl;

/// Variables a child keeps from our environment; every other one (`PGHOST`, `PGSERVICE`,
/// `PGPASSWORD`, the environments' URL variables...) is dropped.
const KEPT: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TZ",
    "LANG",
    "TMPDIR",
    "LD_LIBRARY_PATH",
    "DYLD_LIBRARY_PATH",
];

/// The password for a child, in a passfile that only we can read; removed on drop.
pub struct Passfile {
    _dir: Option<tempfile::TempDir>,
    path: Option<PathBuf>,
}

impl Passfile {
    /// No password at all (pg_restore --list reads only a file).
    pub fn none() -> Passfile {
        Passfile {
            _dir: None,
            path: None,
        }
    }

    /// A passfile for `url`'s password (none when the URL has no password).
    pub fn for_url(url: &DbUrl) -> std::io::Result<Passfile> {
        let Some(password) = url.password() else {
            return Ok(Passfile::none());
        };
        let dir = tempfile::Builder::new()
            .prefix("pgshift-pass")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        let path = dir.path().join("pgpass");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_0600()
            .open(&path)?;
        // pgpass format: host:port:database:user:password, `:` and `\` escaped.
        let escaped = password.replace('\\', "\\\\").replace(':', "\\:");
        writeln!(file, "*:*:*:*:{escaped}")?;
        file.sync_all()?;
        Ok(Passfile {
            _dir: Some(dir),
            path: Some(path),
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

/// Files only we can read: passfiles, archives, manifests.
pub(crate) trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// A command for a PostgreSQL client program with a cleaned environment, the password in
/// `passfile`, and `--no-password` semantics (libpq never prompts: stdin is null).
pub fn command(program: &Path, passfile: &Passfile) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    // Stricter than `pgbin::clean_env` (which drops the `PG*` variables): the environment
    // also holds the URL variables of the environments (`PROD_DATABASE_URL`...), passwords
    // included, which pg_dump has no use for. So the child starts empty and gets back only
    // what a program needs to run.
    command.env_clear();
    for (name, value) in std::env::vars_os() {
        let keep = name
            .to_str()
            .is_some_and(|name| KEPT.contains(&name) || name.starts_with("LC_"));
        if keep {
            command.env(name, value);
        }
    }
    command.env("PGAPPNAME", "pgshift");
    command.env("PGCONNECT_TIMEOUT", "10");
    match passfile.path() {
        Some(path) => command.env("PGPASSFILE", path),
        // No password: make sure no ~/.pgpass answers for it either.
        None => command.env("PGPASSFILE", "/dev/null"),
    };
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    command
}
