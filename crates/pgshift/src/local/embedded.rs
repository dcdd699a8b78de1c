//! The embedded backend: a private cluster made with the installed `initdb` and `pg_ctl`,
//! its data in a git-ignored folder of the workspace, listening on 127.0.0.1 only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::local::port_is_free;
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
            dir,
            port,
            user: user.to_string(),
            bin: PgBin::find().ok(),
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
            None => Err(PgBin::find().unwrap_err().into()),
        }
    }

    pub fn is_initialized(&self) -> bool {
        self.data_dir().join("PG_VERSION").is_file()
    }

    /// Creates the cluster if it does not exist yet. Returns true when it did.
    pub fn init(&self) -> anyhow::Result<bool> {
        if self.is_initialized() {
            return Ok(false);
        }
        let bin = self.bin()?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        self.server_user.check_reachable(&self.dir)?;
        self.server_user.chown(&self.dir)?;
        let data = self.data_dir();
        if data.exists() {
            // A half-made cluster from an interrupted initdb: initdb refuses a non-empty folder.
            std::fs::remove_dir_all(&data).with_context(|| {
                format!("removing the incomplete cluster in {}", data.display())
            })?;
        }
        run(
            self.server_user
                .command(bin.program("initdb"))
                .current_dir(&self.dir)
                .arg("--pgdata")
                .arg(&data)
                .args([
                    "--username",
                    &self.user,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                ])
                .args(["--locale", "C.UTF-8", "--no-sync"]),
            "initdb",
        )?;
        Ok(true)
    }

    /// Whether the server of this cluster is running, from `pg_ctl status`.
    pub fn is_running(&self) -> bool {
        let Ok(bin) = self.bin() else { return false };
        if !self.is_initialized() {
            return false;
        }
        self.server_user
            .command(bin.program("pg_ctl"))
            .current_dir(&self.dir)
            .arg("status")
            .arg("--pgdata")
            .arg(self.data_dir())
            .output()
            .is_ok_and(|out| out.status.success())
    }

    /// Starts the server (creating the cluster first if needed) and waits until it accepts
    /// connections.
    pub fn start(&self, timeout: Duration) -> anyhow::Result<Started> {
        self.init()?;
        if self.is_running() {
            return Ok(Started::AlreadyRunning);
        }
        if !port_is_free(self.port) {
            bail!(
                "port {} on 127.0.0.1 is already in use by another program; stop it, or choose \
                 another port with [local] port in pgshift.toml",
                self.port
            );
        }
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
    /// ignores it when its pid is gone, but not when the pid was reused by another process,
    /// or belongs to a process it may not signal; so remove it when that pid is not a
    /// postgres process.
    fn remove_stale_pid_file(&self) -> anyhow::Result<()> {
        let pid_file = self.data_dir().join("postmaster.pid");
        let Ok(text) = std::fs::read_to_string(&pid_file) else {
            return Ok(());
        };
        let pid = text.lines().next().unwrap_or("").trim();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "postgres" {
            tracing::info!(
                "removing the stale postmaster.pid left by a server that is gone (pid {pid})"
            );
            std::fs::remove_file(&pid_file)
                .with_context(|| format!("removing stale {}", pid_file.display()))?;
        }
        Ok(())
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
