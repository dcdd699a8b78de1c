//! The local database: an embedded cluster or a Docker Compose service, chosen by
//! `[local] backend`. Both listen on 127.0.0.1 at `[local] port`.

pub mod docker;
pub mod embedded;
pub mod scratch;
pub mod shadow;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use sha2::Digest;

use crate::config::{BackendKind, Config};
use crate::target::{percent_encode, DbUrl};

pub use docker::DockerCompose;
pub use embedded::{EmbeddedCluster, Started};
pub use scratch::ScratchCluster;

/// The local backend in use.
#[derive(Debug, Clone)]
pub enum Backend {
    Embedded(EmbeddedCluster),
    Docker(DockerCompose),
}

/// What `db status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub backend: &'static str,
    pub running: bool,
    /// Redacted.
    pub url: String,
    pub server_version: Option<String>,
    /// The data folder (embedded) or volume (docker).
    pub data: String,
    pub port: u16,
}

impl Backend {
    /// The backend `[local] backend` names. For `auto`: the choice saved by the first
    /// `db up` (see `saved_auto_choice`), else docker when an engine answers, else embedded.
    /// The second value says which and why, for `auto` only.
    pub fn from_config(config: &Config) -> anyhow::Result<(Backend, Option<String>)> {
        let (kind, why) = match config.local.backend {
            BackendKind::Auto => match saved_auto_choice(config) {
                Some(kind) => (
                    kind,
                    format!(
                        "backend auto: using {kind} (chosen on first db up; delete {} to choose again)",
                        display_relative(config, &auto_choice_file(config))
                    ),
                ),
                None if docker::engine_answers() => (
                    BackendKind::Docker,
                    "backend auto: a Docker engine answers, using docker".to_string(),
                ),
                None => (
                    BackendKind::Embedded,
                    "backend auto: no Docker engine answers, using the embedded cluster"
                        .to_string(),
                ),
            },
            kind => return Ok((Backend::of_kind(config, kind)?, None)),
        };
        Ok((Backend::of_kind(config, kind)?, Some(why)))
    }

    /// The backend of `kind` (`Auto` is taken as embedded: decide it with `from_config`).
    pub fn of_kind(config: &Config, kind: BackendKind) -> anyhow::Result<Backend> {
        Ok(match kind {
            BackendKind::Docker => Backend::Docker(DockerCompose::new(config)),
            BackendKind::Embedded | BackendKind::Auto => Backend::Embedded(EmbeddedCluster::new(
                embedded_dir(config)?,
                config.local.port,
                &config.local.user,
            )?),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded(_) => "embedded",
            Backend::Docker(_) => "docker",
        }
    }

    /// The URL of the application database on this backend. User, password and database
    /// are percent-encoded, so any character in them is safe.
    pub fn url(&self, config: &Config) -> DbUrl {
        let local = &config.local;
        let user = percent_encode(&local.user);
        let userinfo = match self {
            Backend::Embedded(_) => user,
            Backend::Docker(_) => format!("{user}:{}", percent_encode(local.password.expose())),
        };
        DbUrl::parse(&format!(
            "postgres://{userinfo}@127.0.0.1:{}/{}",
            local.port,
            percent_encode(&local.database)
        ))
        .expect("a URL whose parts are percent-encoded")
    }

    /// The URL of this backend's database for a command that connects to it, refusing a
    /// port that another server answers on: a second checkout of the project with the same
    /// `[local] port` must not have its database migrated, reset or read as if it were ours.
    /// When nothing listens, the URL is returned and connecting says to run `db up`.
    pub fn serving_url(&self, config: &Config) -> anyhow::Result<DbUrl> {
        if self.is_running() || port_is_free(config.local.port) {
            return Ok(self.url(config));
        }
        let ours = match self {
            Backend::Embedded(cluster) => {
                format!("the embedded cluster in {}", cluster.data_dir().display())
            }
            Backend::Docker(compose) => format!("the docker compose project {}", compose.project),
        };
        anyhow::bail!(
            "port {} on 127.0.0.1 is answered by a server that is not this project's local database \
             ({ours}, which is not running), perhaps another checkout's; stop that server, or give \
             this project its own [local] port in pgshift.toml, then `cargo xtask db up`",
            config.local.port
        )
    }

    pub fn is_running(&self) -> bool {
        match self {
            Backend::Embedded(cluster) => cluster.is_running(),
            Backend::Docker(compose) => compose.is_running(),
        }
    }

    /// Starts the server, waits until it accepts connections, and creates the application
    /// database if it does not exist yet.
    pub async fn up(&self, config: &Config) -> anyhow::Result<Started> {
        let timeout = config.local.start_timeout;
        let started = match self {
            Backend::Embedded(cluster) => cluster.start(timeout)?,
            Backend::Docker(compose) => compose.up(timeout)?,
        };
        ensure_database(&self.url(config), timeout).await?;
        if config.local.backend == BackendKind::Auto && saved_auto_choice(config).is_none() {
            save_auto_choice(config, self)?;
        }
        Ok(started)
    }

    /// Stops the server; `volumes` also removes the data (docker only). Returns false when
    /// it was not running.
    pub fn down(&self, volumes: bool) -> anyhow::Result<bool> {
        match self {
            Backend::Embedded(cluster) => {
                let stopped = cluster.stop()?;
                if volumes {
                    std::fs::remove_dir_all(&cluster.dir)
                        .or_else(|e| {
                            if e.kind() == std::io::ErrorKind::NotFound {
                                Ok(())
                            } else {
                                Err(e)
                            }
                        })
                        .with_context(|| format!("removing {}", cluster.dir.display()))?;
                }
                Ok(stopped)
            }
            Backend::Docker(compose) => compose.down(volumes),
        }
    }

    /// The last `lines` lines of the server log.
    pub fn logs(&self, lines: usize) -> anyhow::Result<String> {
        match self {
            Backend::Embedded(cluster) => {
                let log = cluster.log_file();
                if !log.exists() {
                    anyhow::bail!(
                        "no server log yet at {}; start the database with `cargo xtask db up`",
                        log.display()
                    );
                }
                Ok(embedded::tail(&log, lines))
            }
            Backend::Docker(compose) => compose.logs(lines),
        }
    }

    pub async fn status(&self, config: &Config) -> Status {
        let running = self.is_running();
        let url = self.url(config);
        let server_version = if running {
            server_version(&url).await.ok()
        } else {
            None
        };
        Status {
            backend: self.name(),
            running,
            url: url.to_string(),
            server_version,
            data: match self {
                Backend::Embedded(cluster) => cluster.data_dir().display().to_string(),
                Backend::Docker(compose) => compose.volume_description(),
            },
            port: config.local.port,
        }
    }
}

/// Where system-wide embedded clusters live when the project's own state folder is out of
/// the server user's reach.
pub const SYSTEM_CLUSTERS_DIR: &str = "/var/lib/pgshift";

/// The folder of the embedded cluster: `<state>/embedded`, except when we run as root and
/// the `postgres` user cannot reach it (a clone in /root, which is 0700): then
/// `/var/lib/pgshift/<project folder>-<8 hex of sha256(project path)>`, unique per checkout.
pub fn embedded_dir(config: &Config) -> anyhow::Result<PathBuf> {
    let dir = config.embedded_dir();
    let server_user = crate::pgbin::ServerUser::current()?;
    if server_user.switch_to.is_none() || server_user.check_reachable(&dir).is_ok() {
        return Ok(dir);
    }
    let folder = config.root.file_name().map_or_else(
        || "project".into(),
        |name| name.to_string_lossy().into_owned(),
    );
    let hash = hex::encode(sha2::Sha256::digest(
        config.root.as_os_str().as_encoded_bytes(),
    ));
    let relocated = PathBuf::from(SYSTEM_CLUSTERS_DIR).join(format!("{folder}-{}", &hash[..8]));
    if !relocated.exists() {
        // Said once: from the first `db up` on, the folder exists.
        tracing::info!(
            "the postgres user cannot reach {}, so the embedded cluster lives in {}",
            dir.display(),
            relocated.display()
        );
    }
    Ok(relocated)
}

/// Where `auto`'s first choice is kept: `<state>/backend`.
pub fn auto_choice_file(config: &Config) -> PathBuf {
    config.paths.state.join("backend")
}

/// The backend `auto` chose on the first `db up`, so that later commands (and a Docker
/// engine started later) do not switch to another, empty, database.
pub fn saved_auto_choice(config: &Config) -> Option<BackendKind> {
    match std::fs::read_to_string(auto_choice_file(config))
        .ok()?
        .trim()
    {
        "docker" => Some(BackendKind::Docker),
        "embedded" => Some(BackendKind::Embedded),
        _ => None,
    }
}

fn save_auto_choice(config: &Config, backend: &Backend) -> anyhow::Result<()> {
    let file = auto_choice_file(config);
    std::fs::create_dir_all(&config.paths.state)
        .and_then(|()| std::fs::write(&file, format!("{}\n", backend.name())))
        .with_context(|| format!("saving the backend auto chose in {}", file.display()))
}

/// Forgets `auto`'s choice (`db down --volumes`: the data it protected is gone).
pub fn forget_auto_choice(config: &Config) -> anyhow::Result<()> {
    let file = auto_choice_file(config);
    match std::fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", file.display()))
        }
        _ => Ok(()),
    }
}

fn display_relative(config: &Config, path: &std::path::Path) -> String {
    path.strip_prefix(&config.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Fails, naming the port and the key that sets it, when something listens on
/// 127.0.0.1:`port` already.
pub fn check_port_free(port: u16) -> anyhow::Result<()> {
    if port_is_free(port) {
        return Ok(());
    }
    anyhow::bail!(
        "port {port} on 127.0.0.1 is already in use by another program; stop it, or choose \
         another port with [local] port in pgshift.toml"
    )
}

/// Resolves `env` (see `target::resolve`), asking `backend` for the local database's URL
/// only when it is needed, and only if that backend's own server answers on its port (see
/// `Backend::serving_url`). Backend errors keep their kind (exit 1), not a usage error.
pub fn resolve_target(
    config: &Config,
    env: &str,
    backend: impl FnOnce() -> anyhow::Result<Backend>,
) -> anyhow::Result<crate::target::Target> {
    let mut backend_error = None;
    let resolved = crate::target::resolve(config, env, || {
        backend()
            .and_then(|backend| backend.serving_url(config))
            .map_err(|e| {
                let message = format!("{e:#}");
                backend_error = Some(e);
                crate::UsageError::Other(message)
            })
    });
    match (resolved, backend_error) {
        (Ok(target), _) => Ok(target),
        (Err(_), Some(backend_error)) => Err(backend_error),
        (Err(e), None) => Err(e.into()),
    }
}

/// Whether nothing listens on 127.0.0.1:`port`.
pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `SHOW server_version` on `url`.
pub async fn server_version(url: &DbUrl) -> anyhow::Result<String> {
    let mut conn = crate::db::connect(url).await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await?;
    Ok(version)
}

/// Creates `url`'s database unless it exists, connecting to the `postgres` maintenance
/// database. Retries while the server is still starting (a container reports healthy a
/// moment before it accepts TCP connections on some engines), and only then.
pub async fn ensure_database(url: &DbUrl, timeout: Duration) -> anyhow::Result<()> {
    let database = url.database();
    let admin = url.with_database("postgres");
    let deadline = std::time::Instant::now() + timeout;
    let mut conn = loop {
        match crate::db::connect(&admin).await {
            Ok(conn) => break conn,
            // Only what waiting can cure: a wrong password or a missing role fails at once.
            Err(e) if e.is_transient() && std::time::Instant::now() < deadline => {
                tracing::debug!("waiting for the server: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        sqlx::query(&format!(
            "CREATE DATABASE {}",
            crate::db::quote_ident(&database)
        ))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating database {database}"))?;
    }
    Ok(())
}
