//! A throwaway cluster for tests and benchmarks: a temporary folder, a free port, durability
//! off, gone when the process that made it exits.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
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
        let dir = tempfile::Builder::new()
            .prefix("pgshift-scratch-")
            .tempdir()
            .context("creating a temporary folder")?
            .keep();
        // tempfile makes 0700 folders, which the postgres user cannot enter when we are root.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
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
                Ok(_) => {
                    spawn_watchdog(&cluster)?;
                    return Ok(ScratchCluster { cluster });
                }
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

fn spawn_watchdog(cluster: &EmbeddedCluster) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let script = r#"
        cat >/dev/null
        pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
        if [ -n "$pid" ]; then
            kill -INT "$pid" 2>/dev/null
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -rf "$2"
    "#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(cluster.data_dir())
        .arg(&cluster.dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a Ctrl-C does not kill it before it has cleaned up.
        .process_group(0)
        .spawn()
        .context("spawning the scratch cluster's watchdog")?;
    // Never written to and never closed by us: the pipe closes when this process exits.
    std::mem::forget(child.stdin.take());
    Ok(())
}
