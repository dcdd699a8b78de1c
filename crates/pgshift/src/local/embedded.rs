//! The embedded backend: a private cluster made with the installed `initdb` and `pg_ctl`,
//! its data in a git-ignored folder of the workspace, listening on 127.0.0.1 only.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::local::check_port_free;
use crate::pgbin::{run, PgBin, ServerUser};

/// One cluster: a folder with `data/` and `server.log`.
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    pub dir: PathBuf,
    pub port: u16,
    pub user: String,
    bin: Option<PgBin>,
    server_user: ServerUser,
    /// Extra `-c name=value` settings for the server (tests turn fsync off).
    pub settings: Vec<(String, String)>,
}

/// What `start` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    Started,
    AlreadyRunning,
}

impl EmbeddedCluster {
    /// A cluster in `dir`. Finding the server programs is deferred to the first command that
    /// needs them, so `db status` works on a machine without them.
    pub fn new(dir: PathBuf, port: u16, user: &str) -> anyhow::Result<EmbeddedCluster> {
        Ok(EmbeddedCluster {
            bin: PgBin::find_for_cluster(&dir.join("data")).ok(),
            dir,
            port,
            user: user.to_string(),
            server_user: ServerUser::current()?,
            settings: Vec::new(),
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn bin(&self) -> anyhow::Result<&PgBin> {
        match &self.bin {
            Some(bin) => Ok(bin),
            None => Err(PgBin::find_for_cluster(&self.data_dir())
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("the PostgreSQL programs vanished; run again"))),
        }
    }

    /// Whether `data/` holds a made cluster. initdb writes `PG_VERSION` first and
    /// `global/pg_control` late, so both are looked for.
    pub fn is_initialized(&self) -> bool {
        let data = self.data_dir();
        data.join("PG_VERSION").is_file() && data.join("global/pg_control").is_file()
    }

    /// Where initdb builds a new cluster before it is renamed to `data/`, so that an
    /// interrupted initdb never leaves a `data/` that looks made.
    pub fn initdb_dir(&self) -> PathBuf {
        self.dir.join("data.initdb-tmp")
    }

    /// Creates the cluster if it does not exist yet. Returns true when it did.
    pub fn init(&self) -> anyhow::Result<bool> {
        if self.is_initialized() {
            return Ok(false);
        }
        let data = self.data_dir();
        if data.exists() {
            // Not ours to delete: it may hold data that a repair can save.
            bail!(
                "{} is not a complete PostgreSQL cluster (PG_VERSION or global/pg_control is \
                 missing), maybe from an initdb that was interrupted; move it away, or delete \
                 it with `cargo xtask db down --volumes`, then run `cargo xtask db up` again",
                data.display()
            );
        }
        let bin = self.bin()?;
        if let Some(parent) = self.dir.parent().filter(|parent| !parent.exists()) {
            // 0755 whatever the umask: the server user must be able to pass through it.
            std::fs::create_dir_all(parent)
                .and_then(|()| {
                    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))
                })
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        self.server_user.check_reachable(&self.dir)?;
        self.server_user.chown(&self.dir)?;
        let tmp = self.initdb_dir();
        if tmp.exists() {
            // Left by an interrupted initdb: initdb refuses a non-empty folder.
            std::fs::remove_dir_all(&tmp)
                .with_context(|| format!("removing the incomplete cluster in {}", tmp.display()))?;
        }
        run(
            self.server_user
                .command(bin.program("initdb"))
                .current_dir(&self.dir)
                .arg("--pgdata")
                .arg(&tmp)
                .args([
                    "--username",
                    &self.user,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--no-sync",
                ])
                // Collation C (byte order, which for UTF-8 is code point order: the order
                // C.UTF-8 gave, on every system); character classes C.UTF-8 where the system
                // has it, so upper(), lower(), ILIKE and regex classes know non-ASCII letters.
                .arg("--locale=C")
                .arg(format!("--lc-ctype={}", ctype_locale())),
            "initdb",
        )?;
        std::fs::rename(&tmp, &data)
            .with_context(|| format!("renaming {} to {}", tmp.display(), data.display()))?;
        Ok(true)
    }

    /// Whether the server of this cluster is running: see `server_pid`.
    pub fn is_running(&self) -> bool {
        self.server_pid().is_some()
    }

    /// The pid of this cluster's postmaster when it is running: the pid in
    /// `postmaster.pid` is alive AND is a server of this data folder. A crash leaves the
    /// file behind and the kernel may give its pid to any other process (`pg_ctl status`
    /// only asks `kill(pid, 0)`, which says yes for those), so the process's working folder
    /// is checked too: the postmaster chdirs into its data folder. Where there is no
    /// `/proc`, a TCP connection to the port the file records stands in for that check.
    /// This is the only place that decides liveness; `start`, `stop` and `status` use it.
    pub fn server_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        let mut lines = text.lines();
        let pid: i32 = lines.next()?.trim().parse().ok().filter(|&p| p > 0)?;
        let alive = match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
            Ok(()) => true,
            Err(errno) => errno == nix::errno::Errno::EPERM,
        };
        if !alive {
            return None;
        }
        if Path::new("/proc/self").exists() {
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
            let data = std::fs::canonicalize(self.data_dir()).ok()?;
            return (cwd == data).then_some(pid);
        }
        let port: u16 = text.lines().nth(3)?.trim().parse().ok()?;
        std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(1),
        )
        .ok()
        .map(|_| pid)
    }

    /// Starts the server (creating the cluster first if needed) and waits until it accepts
    /// connections.
    pub fn start(&self, timeout: Duration) -> anyhow::Result<Started> {
        self.init()?;
        if self.is_running() {
            return Ok(Started::AlreadyRunning);
        }
        check_port_free(self.port)?;
        self.remove_stale_pid_file()?;
        let bin = self.bin()?;
        let mut options = format!(
            "-c port={} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            self.port
        );
        for (name, value) in &self.settings {
            options.push_str(&format!(" -c {name}={value}"));
        }
        let out = self
            .server_user
            .command(bin.program("pg_ctl"))
            .current_dir(&self.dir)
            .arg("start")
            .arg("--pgdata")
            .arg(self.data_dir())
            .arg("--log")
            .arg(self.log_file())
            .args(["--wait", "--timeout", &timeout.as_secs().max(1).to_string()])
            .args(["-o", &options])
            .output()
            .context("running pg_ctl start")?;
        if !out.status.success() {
            bail!(
                "the embedded PostgreSQL server did not start: {}\nlast lines of {}:\n{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                self.log_file().display(),
                tail(&self.log_file(), 10)
            );
        }
        Ok(Started::Started)
    }

    /// Stops the server (fast shutdown: open sessions are rolled back). Returns false when
    /// it was not running.
    pub fn stop(&self) -> anyhow::Result<bool> {
        if !self.is_running() {
            // Never pg_ctl stop here: it would signal whatever process now has the pid.
            self.remove_stale_pid_file()?;
            return Ok(false);
        }
        let bin = self.bin()?;
        run(
            self.server_user
                .command(bin.program("pg_ctl"))
                .current_dir(&self.dir)
                .arg("stop")
                .arg("--pgdata")
                .arg(self.data_dir())
                .args(["--mode", "fast", "--wait"]),
            "pg_ctl stop",
        )?;
        Ok(true)
    }

    /// A crash (a killed server, a power cut) leaves `postmaster.pid` behind. The server
    /// ignores it when its pid is gone, but not when the pid was reused by another process
    /// it may signal; so remove it whenever `server_pid` says no server of ours runs.
    fn remove_stale_pid_file(&self) -> anyhow::Result<()> {
        let pid_file = self.data_dir().join("postmaster.pid");
        if !pid_file.exists() || self.server_pid().is_some() {
            return Ok(());
        }
        tracing::info!("removing the stale postmaster.pid left by a server that is gone");
        match std::fs::remove_file(&pid_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing stale {}", pid_file.display()))
            }
            _ => Ok(()),
        }
    }
}

/// `C.UTF-8` when the system has that locale (glibc systems; it is what the cluster used
/// before), else `C` (macOS has no C.UTF-8, and initdb fails on a locale that is missing).
fn ctype_locale() -> &'static str {
    let listed = std::process::Command::new("locale")
        .arg("-a")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let has_c_utf8 = listed.lines().any(|name| {
        name.trim().eq_ignore_ascii_case("C.UTF-8") || name.trim().eq_ignore_ascii_case("C.utf8")
    });
    if has_c_utf8 {
        "C.UTF-8"
    } else {
        "C"
    }
}

/// The last `lines` lines of a text file, or a note that it cannot be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
