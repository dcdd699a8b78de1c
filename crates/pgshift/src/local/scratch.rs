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
    /// The `postgres` role's password, for a cluster started with `start_secured`.
    password: Option<String>,
}

/// What makes a scratch cluster look like a production server: TLS with the given
/// certificate, and password authentication (scram-sha-256) for every TCP connection.
pub struct Secured<'a> {
    /// The server's certificate chain and private key, PEM.
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
    /// The CA whose client certificates the server accepts (`ssl_ca_file`). With it, role
    /// `CERT_ROLE` logs in with a client certificate (`cert` authentication) instead.
    pub client_ca_pem: Option<&'a str>,
    /// The `postgres` role's password.
    pub password: &'a str,
}

/// The role that a secured cluster with a client CA authenticates by certificate only.
pub const CERT_ROLE: &str = "pgshift_cert";

impl ScratchCluster {
    pub fn start() -> anyhow::Result<ScratchCluster> {
        Self::start_with(&[], |_| Ok(()))
    }

    /// A cluster that plays production: `ssl = on` with `secured`'s certificate, and a
    /// pg_hba.conf that asks every TCP connection for the password (TLS or not, so that a
    /// client can be caught connecting in plain text).
    pub fn start_secured(secured: &Secured<'_>) -> anyhow::Result<ScratchCluster> {
        let files = public_tempdir("pgshift-scratch-tls-")?;
        let server_user = crate::pgbin::ServerUser::current()?;
        let write = |name: &str, pem: &str, mode: u32| -> anyhow::Result<PathBuf> {
            let path = files.join(name);
            std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
            // The server refuses a key that others can read.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
            server_user.chown(&path)?;
            Ok(path)
        };
        let cert = write("server.crt", secured.cert_pem, 0o644)?;
        let key = write("server.key", secured.key_pem, 0o600)?;
        let mut settings = vec![
            ("ssl".to_string(), "on".to_string()),
            ("ssl_cert_file".to_string(), cert.display().to_string()),
            ("ssl_key_file".to_string(), key.display().to_string()),
        ];
        if let Some(ca) = secured.client_ca_pem {
            let ca = write("client-ca.crt", ca, 0o644)?;
            settings.push(("ssl_ca_file".to_string(), ca.display().to_string()));
        }
        let hba = |cluster: &EmbeddedCluster| -> anyhow::Result<()> {
            // The password first, while the server still trusts local TCP connections: sent
            // on psql's stdin, never in its argv.
            let mut script = format!(
                "ALTER ROLE postgres PASSWORD {};\n",
                crate::db::quote_literal(secured.password)
            );
            if secured.client_ca_pem.is_some() {
                script.push_str(&format!("CREATE ROLE {CERT_ROLE} LOGIN SUPERUSER;\n"));
            }
            let trusting = DbUrl::parse(&format!(
                "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
                cluster.port
            ))
            .expect("a valid URL");
            psql_stdin(&trusting, None, &script)?;
            let mut rules = String::new();
            if secured.client_ca_pem.is_some() {
                rules.push_str(&format!("hostssl all {CERT_ROLE} 127.0.0.1/32 cert\n"));
            }
            rules.push_str(
                "hostssl all all 127.0.0.1/32 scram-sha-256\n\
                 host    all all 127.0.0.1/32 scram-sha-256\n",
            );
            let path = cluster.data_dir().join("pg_hba.conf");
            std::fs::write(&path, rules).with_context(|| format!("writing {}", path.display()))?;
            psql_stdin(&trusting, None, "SELECT pg_reload_conf();\n")?;
            // The reload is a signal: wait until the server asks for the password.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while psql_stdin(&trusting, None, "SELECT 1;\n").is_ok() {
                if std::time::Instant::now() > deadline {
                    anyhow::bail!("the scratch cluster still trusts connections after a reload");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        };
        let mut scratch = Self::start_with(&settings, hba)?;
        scratch.password = Some(secured.password.to_string());
        Ok(scratch)
    }

    /// Starts a cluster with `extra` settings, then runs `ready` on it.
    fn start_with(
        extra: &[(String, String)],
        ready: impl Fn(&EmbeddedCluster) -> anyhow::Result<()>,
    ) -> anyhow::Result<ScratchCluster> {
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
            cluster.settings.extend_from_slice(extra);
            match cluster.start(Duration::from_secs(60)) {
                Ok(_) => {
                    ready(&cluster)?;
                    return Ok(ScratchCluster {
                        cluster,
                        password: None,
                    });
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

    /// The URL of `database` as `postgres` (with the password of a secured cluster).
    pub fn url(&self, database: &str) -> DbUrl {
        let user = match &self.password {
            Some(password) => format!("postgres:{}", crate::target::percent_encode(password)),
            None => "postgres".to_string(),
        };
        DbUrl::parse(&format!(
            "postgres://{user}@127.0.0.1:{}/{database}",
            self.port()
        ))
        .expect("a valid URL")
    }

    /// The `postgres` role's password, for a secured cluster.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }
}

/// Runs `script` through psql's stdin on `url` (the password, if any, in its environment).
fn psql_stdin(url: &DbUrl, password: Option<&str>, script: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let psql = crate::pgbin::PgBin::client("psql")?;
    let mut command = Command::new(psql);
    crate::pgbin::clean_env(&mut command)
        .args([
            "-X",
            "-q",
            "-w",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &url.without_password(),
        ])
        .env_remove("PGPASSWORD")
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let mut child = command.spawn().context("running psql")?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        anyhow::bail!(
            "psql failed: {}",
            crate::target::redact(String::from_utf8_lossy(&out.stderr).trim())
        );
    }
    Ok(())
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
