//! A throwaway cluster for tests and benchmarks: a temporary folder, a free port, durability
//! off, gone when the process that made it exits.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::local::EmbeddedCluster;
use crate::target::DbUrl;

/// A running throwaway cluster. It is stopped, and its folder removed, when this process
/// exits however it exits: a watchdog process waits for its stdin (our end of a pipe) to
/// close, which the kernel does when this process ends, even on a panic or a kill.
#[derive(Debug)]
pub struct ScratchCluster {
    pub cluster: EmbeddedCluster,
}

impl ScratchCluster {
    pub fn start() -> anyhow::Result<ScratchCluster> {
        let dir = public_tempdir("pgshift-scratch-")?;
        let data = dir.join("data");
        // Before the server starts: a kill during the start must not leave it running.
        spawn_watchdog(&data, Some(&dir))?;
        let mut last_error = None;
        for _ in 0..5 {
            let mut cluster = EmbeddedCluster::new(dir.clone(), free_port(), "postgres")?;
            for (name, value) in [
                ("fsync", "off"),
                ("synchronous_commit", "off"),
                ("full_page_writes", "off"),
                ("max_connections", "200"),
            ] {
                cluster.settings.push((name.into(), value.into()));
            }
            match cluster.start(Duration::from_secs(60)) {
                Ok(_) => return Ok(ScratchCluster { cluster }),
                // Another process may have taken the port between our check and the start.
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("tried at least once"))
    }

    pub fn port(&self) -> u16 {
        self.cluster.port
    }

    pub fn dir(&self) -> &PathBuf {
        &self.cluster.dir
    }

    pub fn url(&self, database: &str) -> DbUrl {
        DbUrl::parse(&format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.port()
        ))
        .expect("a valid URL")
    }
}

/// A port that nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or(55432)
}

/// A new temporary folder that the `postgres` system user can enter (tempfile makes 0700
/// folders, which it cannot when we are root). Not removed on drop: a watchdog or the
/// caller removes it.
pub fn public_tempdir(prefix: &str) -> anyhow::Result<PathBuf> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("creating a temporary folder")?
        .keep();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} reachable by the server user", dir.display()))?;
    Ok(dir)
}

/// Stops the server of `data_dir` (and removes `remove`, if given) when this process exits
/// however it exits, even by SIGKILL: a watchdog process waits for its stdin (our end of a
/// pipe, never written nor closed by us) to close, which the kernel does when we end. Call
/// it before starting the server; it copes with a server that never started. It stops the
/// server with SIGINT (fast shutdown), then SIGQUIT, then SIGKILL, a few seconds apart, and
/// signals only a process whose working folder is `data_dir` (a postmaster chdirs there).
pub fn spawn_watchdog(data_dir: &Path, remove: Option<&Path>) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let script = r#"
        cat >/dev/null
        data="$1"
        pid=""
        for _ in 1 2 3 4 5 6; do
            pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
            [ -n "$pid" ] && break
            # A pg_ctl start still running may write it in a moment.
            sleep 0.3
        done
        real=$(cd "$data" 2>/dev/null && pwd -P)
        ours() {
            [ -n "$pid" ] || return 1
            if [ -d /proc/self ]; then
                [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$real" ]
            else
                kill -0 "$pid" 2>/dev/null
            fi
        }
        for sig in INT QUIT KILL; do
            ours || break
            kill -"$sig" "$pid" 2>/dev/null
            for _ in $(seq 1 50); do ours || break; sleep 0.1; done
        done
        if [ -n "$2" ]; then rm -rf "$2"; fi
    "#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(data_dir)
        .arg(remove.map_or_else(Default::default, |p| p.as_os_str().to_owned()))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a Ctrl-C does not kill it before it has cleaned up.
        .process_group(0)
        .spawn()
        .context("spawning the watchdog of a test cluster")?;
    // Never written to and never closed by us: the pipe closes when this process exits.
    std::mem::forget(child.stdin.take());
    Ok(())
}
