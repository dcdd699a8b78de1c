//! The docker backend: PostgreSQL in a Docker Compose service.
//!
//! Works with `docker compose` (the v2 plugin) and the standalone `docker-compose` (v1),
//! whichever is installed. pgshift waits for the service's healthcheck itself (v1 has no
//! `--wait`) and never pulls an image: an image that is not present locally fails before
//! `up`, with the `docker pull` to run.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use crate::config::{Config, Secret};
use crate::local::Started;
use crate::target::redact;

mod tools;

pub use tools::{
    compose_tool, docker_version, engine_answers, engine_version, probe_compose_tools, ComposeKind,
    ComposeTool, DockerUnavailable, ENGINE_TIMEOUT,
};
use tools::{first_line, output_within, wait_within};

/// The variables the compose file reads. The password reaches compose through its
/// environment only, never its argv (which every user sees in `ps`).
pub const PORT_VAR: &str = "PGSHIFT_PORT";
pub const USER_VAR: &str = "PGSHIFT_DB_USER";
pub const PASSWORD_VAR: &str = "PGSHIFT_DB_PASSWORD";
pub const DATABASE_VAR: &str = "PGSHIFT_DB_NAME";
/// Overrides the compose file's pinned image.
pub const IMAGE_VAR: &str = "PGSHIFT_POSTGRES_IMAGE";

/// The compose project of the local database.
#[derive(Clone)]
pub struct DockerCompose {
    pub compose_file: PathBuf,
    pub service: String,
    /// The compose project name, unique per pgshift project (see `project_name`).
    pub project: String,
    port: u16,
    user: String,
    password: Secret,
    database: String,
}

impl fmt::Debug for DockerCompose {
    // By hand, so that the password never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerCompose")
            .field("compose_file", &self.compose_file)
            .field("service", &self.service)
            .field("project", &self.project)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The compose project name of the pgshift project at `root`: readable, and unique per
/// project folder, so that two projects (or parallel tests) never share a container.
pub fn project_name(root: &std::path::Path) -> String {
    let folder: String = root
        .file_name()
        .map(|name| name.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(24)
        .collect();
    let hash = hex::encode(Sha256::digest(root.as_os_str().as_encoded_bytes()));
    format!("pgshift-{folder}-{}", &hash[..8])
}

impl DockerCompose {
    pub fn new(config: &Config) -> DockerCompose {
        let local = &config.local;
        DockerCompose {
            compose_file: local.compose_file.clone(),
            service: local.compose_service.clone(),
            project: project_name(&config.root),
            port: local.port,
            user: local.user.clone(),
            password: local.password.clone(),
            database: local.database.clone(),
        }
    }

    /// Starts the service unless it runs, and waits until its healthcheck passes.
    pub fn up(&self, timeout: Duration) -> anyhow::Result<Started> {
        let tool = self.ready()?;
        if self.is_running() {
            self.wait_healthy(timeout)?;
            return Ok(Started::AlreadyRunning);
        }
        // The same check and message as the embedded backend: compose's own error for a
        // taken port names neither the port nor the key to change.
        crate::local::check_port_free(self.port)?;
        let image = self.image(&tool)?;
        let present = output_within(
            Command::new("docker")
                .args(["image", "inspect", "--format", "{{.Id}}"])
                .arg(&image),
            ENGINE_TIMEOUT,
        )?
        .status
        .success();
        if !present {
            bail!(
                "the image {image} of service {} in {} is not present locally, and pgshift never pulls \
                 images itself; run `docker pull {image}`, or set {IMAGE_VAR} to an image you have",
                self.service,
                self.compose_file.display()
            );
        }
        let mut up = self.compose(&tool);
        // No `--pull never`: older v2 releases and v1 lack it, and with the image present
        // neither version pulls anyway.
        up.args(["up", "-d"]).arg(&self.service);
        self.run(&mut up, "starting the container")?;
        self.wait_healthy(timeout)?;
        Ok(Started::Started)
    }

    /// Stops and removes this service's container; `volumes` also removes the volumes it
    /// mounted that belong to this compose project. Other services of the compose file, and
    /// their volumes, are left alone (`compose down` would remove them all). Returns false
    /// when it was not running.
    pub fn down(&self, volumes: bool) -> anyhow::Result<bool> {
        let tool = self.ready()?;
        let was_running = self.is_running();
        let named_volumes = if volumes {
            self.service_volumes(&tool)?
        } else {
            Vec::new()
        };
        let mut rm = self.compose(&tool);
        // -s stops first; -v also removes the container's anonymous volumes.
        rm.args(["rm", "-s", "-f"]);
        if volumes {
            rm.arg("-v");
        }
        rm.arg(&self.service);
        self.run(&mut rm, "removing the container")?;
        if self.project_containers()?.is_empty() {
            // Nothing else of this project is left: `down` removes its network too.
            self.run(
                self.compose(&tool).arg("down"),
                "removing the compose network",
            )?;
        }
        for volume in named_volumes {
            crate::pgbin::run(
                Command::new("docker").args(["volume", "rm", &volume]),
                &format!("removing docker volume {volume}"),
            )?;
        }
        Ok(was_running)
    }

    /// The id of this service's container when it runs (for `docker exec`).
    pub fn running_container(&self) -> Option<String> {
        self.container()
            .ok()
            .flatten()
            .filter(|id| inspect(id, "{{.State.Running}}").is_ok_and(|r| r == "true"))
    }

    pub fn is_running(&self) -> bool {
        self.container()
            .ok()
            .flatten()
            .and_then(|id| inspect(&id, "{{.State.Running}}").ok())
            .is_some_and(|running| running == "true")
    }

    /// The last `lines` lines of the container's log.
    pub fn logs(&self, lines: usize) -> anyhow::Result<String> {
        engine_version(ENGINE_TIMEOUT)?;
        let Some(id) = self.container()? else {
            bail!(
                "no container for service {} of compose project {} yet; start it with `cargo xtask db up`",
                self.service,
                self.project
            );
        };
        container_log(&id, lines)
    }

    /// The data volume: its name when the container exists.
    pub fn volume_description(&self) -> String {
        let volumes = self
            .container()
            .ok()
            .flatten()
            .and_then(|id| {
                inspect(
                    &id,
                    "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}",
                )
                .ok()
            })
            .filter(|names| !names.is_empty());
        match volumes {
            Some(names) => format!(
                "docker volume {}",
                names.split_whitespace().collect::<Vec<_>>().join(", ")
            ),
            None => format!("docker volumes of compose project {}", self.project),
        }
    }

    /// Checks the compose file, docker, the engine and compose, in the order a user fixes
    /// them.
    fn ready(&self) -> anyhow::Result<ComposeTool> {
        if !self.compose_file.is_file() {
            bail!(
                "compose file {} not found; create it, or point [local] compose_file in pgshift.toml at yours",
                self.compose_file.display()
            );
        }
        engine_version(ENGINE_TIMEOUT)?;
        compose_tool()
    }

    /// A compose command on this project, with the config passed through the environment.
    fn compose(&self, tool: &ComposeTool) -> Command {
        let mut command = tool.command();
        command
            .arg("-f")
            .arg(&self.compose_file)
            .arg("-p")
            .arg(&self.project)
            .env(PORT_VAR, self.port.to_string())
            .env(USER_VAR, &self.user)
            .env(PASSWORD_VAR, self.password.expose())
            .env(DATABASE_VAR, &self.database)
            .stdin(Stdio::null());
        command
    }

    fn run(&self, command: &mut Command, what: &str) -> anyhow::Result<Output> {
        crate::pgbin::run(
            command,
            &format!(
                "{what} (compose project {}, file {})",
                self.project,
                self.compose_file.display()
            ),
        )
    }

    /// The image of the service, as compose resolves it (with `PGSHIFT_POSTGRES_IMAGE`).
    fn image(&self, tool: &ComposeTool) -> anyhow::Result<String> {
        let out = self.run(self.compose(tool).arg("config"), "reading the compose file")?;
        let yaml = String::from_utf8_lossy(&out.stdout);
        service_image(&yaml, &self.service).with_context(|| {
            format!(
                "service {} in {} has no `image:`; name the service that runs PostgreSQL in \
                 [local] compose_service, and give it an image",
                self.service,
                self.compose_file.display()
            )
        })
    }

    /// The named volumes of this service that belong to this compose project: those its
    /// container mounts, and (for a container already removed by `db down`) those carrying
    /// this project's label and a volume key that the service lists in the compose file.
    /// A volume shared with another project, or made by hand, is not ours to delete.
    fn service_volumes(&self, tool: &ComposeTool) -> anyhow::Result<Vec<String>> {
        let mut candidates: Vec<String> = match self.container()? {
            Some(id) => inspect(
                &id,
                "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}",
            )?
            .split_whitespace()
            .map(String::from)
            .collect(),
            None => Vec::new(),
        };
        let out = self.run(self.compose(tool).arg("config"), "reading the compose file")?;
        for key in service_volume_keys(&String::from_utf8_lossy(&out.stdout), &self.service) {
            let listed = output_within(
                Command::new("docker").args([
                    "volume",
                    "ls",
                    "-q",
                    "--filter",
                    &format!("label=com.docker.compose.project={}", self.project),
                    "--filter",
                    &format!("label=com.docker.compose.volume={key}"),
                ]),
                ENGINE_TIMEOUT,
            )?;
            candidates.extend(
                String::from_utf8_lossy(&listed.stdout)
                    .split_whitespace()
                    .map(String::from),
            );
        }
        candidates.sort();
        candidates.dedup();
        let mut ours = Vec::new();
        for volume in candidates {
            let owner = output_within(
                Command::new("docker").args([
                    "volume",
                    "inspect",
                    "--format",
                    "{{index .Labels \"com.docker.compose.project\"}}",
                    &volume,
                ]),
                ENGINE_TIMEOUT,
            )?;
            if String::from_utf8_lossy(&owner.stdout).trim() == self.project {
                ours.push(volume);
            }
        }
        Ok(ours)
    }

    /// The ids of every container of this compose project, any service.
    fn project_containers(&self) -> anyhow::Result<Vec<String>> {
        self.containers(&[format!("label=com.docker.compose.project={}", self.project)])
    }

    /// The id of the service's container, running or not.
    fn container(&self) -> anyhow::Result<Option<String>> {
        // The labels that both compose versions put on their containers: one `docker ps`
        // instead of a compose start-up (v1 is a Python program) on every status check.
        let ids = self.containers(&[
            format!("label=com.docker.compose.project={}", self.project),
            format!("label=com.docker.compose.service={}", self.service),
            // Not the containers of `compose run`.
            "label=com.docker.compose.oneoff=False".to_string(),
        ])?;
        Ok(ids.into_iter().next())
    }

    /// `docker ps -a -q` with these `--filter`s.
    fn containers(&self, filters: &[String]) -> anyhow::Result<Vec<String>> {
        let mut command = Command::new("docker");
        command.args(["ps", "-a", "-q"]);
        for filter in filters {
            command.args(["--filter", filter]);
        }
        let out = output_within(&mut command, ENGINE_TIMEOUT)?;
        if !out.status.success() {
            bail!(
                "docker ps failed: {}",
                first_line(&String::from_utf8_lossy(&out.stderr))
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect())
    }

    /// Waits until the container's healthcheck passes; fails with the log's tail when the
    /// container exits, turns unhealthy, or is not healthy within `timeout`.
    fn wait_healthy(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let id = self.container()?.with_context(|| {
                format!(
                    "compose started no container for service {} (project {})",
                    self.service, self.project
                )
            })?;
            let state = inspect(
                &id,
                "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}",
            )?;
            let mut words = state.split_whitespace();
            let (status, health, code) = (
                words.next().unwrap_or(""),
                words.next().unwrap_or(""),
                words.next().unwrap_or(""),
            );
            let problem = match (status, health) {
                // Without a healthcheck, `ensure_database` retries its connection instead.
                ("running", "healthy" | "none") => return Ok(()),
                ("exited" | "dead", _) => format!("exited with code {code}"),
                (_, "unhealthy") => "is unhealthy (its pg_isready healthcheck keeps failing)".to_string(),
                _ if Instant::now() >= deadline => format!(
                    "is not healthy after {} s ([local] start_timeout; state {status}, health {health})",
                    timeout.as_secs()
                ),
                _ => {
                    std::thread::sleep(Duration::from_millis(250));
                    continue;
                }
            };
            let log = container_log(&id, 20).unwrap_or_else(|e| format!("(no log: {e:#})"));
            bail!(
                "the container of service {} (compose project {}) {problem}; last log lines:\n{log}\n\
                 see `cargo xtask db logs`, fix the cause, then `cargo xtask db down` and `cargo xtask db up`",
                self.service,
                self.project
            );
        }
    }
}

/// `docker inspect --format`, trimmed.
fn inspect(id: &str, format: &str) -> anyhow::Result<String> {
    let out = output_within(
        Command::new("docker").args(["inspect", "--format", format, id]),
        ENGINE_TIMEOUT,
    )?;
    if !out.status.success() {
        bail!(
            "docker inspect {id} failed: {}",
            first_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The last `lines` lines of a container's log, stdout and stderr interleaved as written.
fn container_log(id: &str, lines: usize) -> anyhow::Result<String> {
    use std::io::{Read, Seek};
    // One file for both streams keeps the order the container wrote them in.
    let mut file = tempfile::tempfile().context("creating a temporary file")?;
    let mut command = Command::new("docker");
    command
        .args(["logs", "--tail", &lines.to_string(), id])
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file.try_clone()?);
    let child = command.spawn().context("running docker logs")?;
    let status = wait_within(child, &command, ENGINE_TIMEOUT * 4)?.status;
    let mut text = String::new();
    file.rewind()?;
    file.read_to_string(&mut text)?;
    if !status.success() {
        bail!("docker logs {id} failed: {}", first_line(&text));
    }
    Ok(redact(text.trim_end()))
}

/// The `image:` of `service` in the output of `compose config` (YAML with two-space
/// indentation in both versions): a line scan, to spare a YAML parser for one value.
fn service_image(yaml: &str, service: &str) -> Option<String> {
    let mut in_services = false;
    let mut in_service = false;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match indent {
            0 => {
                in_services = text == "services:";
                in_service = false;
            }
            2 if in_services => {
                let name = text
                    .trim_end_matches(':')
                    .trim_matches(|c| c == '"' || c == '\'');
                in_service = name == service;
            }
            4 if in_service => {
                if let Some(image) = text.strip_prefix("image:") {
                    return Some(
                        image
                            .trim()
                            .trim_matches(|c| c == '"' || c == '\'')
                            .to_string(),
                    );
                }
            }
            _ => {}
        }
    }
    None
}

/// The keys (as under the top-level `volumes:`) of the named volumes that `service` mounts,
/// from `compose config` output: v1's short syntax (`- pgdata:/var/lib/...:rw`) and v2's
/// long one (`- type: volume` then `source: pgdata`). Bind mounts are skipped.
fn service_volume_keys(yaml: &str, service: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let (mut in_services, mut in_service, mut in_volumes) = (false, false, false);
    let mut long_type = String::new();
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if indent == 0 {
            in_services = text == "services:";
            in_service = false;
            in_volumes = false;
            continue;
        }
        if indent == 2 && in_services {
            let name = text
                .trim_end_matches(':')
                .trim_matches(|c| c == '"' || c == '\'');
            in_service = name == service;
            in_volumes = false;
            continue;
        }
        if !in_service {
            continue;
        }
        if indent == 4 && !text.starts_with('-') {
            in_volumes = text == "volumes:";
            continue;
        }
        if !in_volumes {
            continue;
        }
        let unquote = |v: &str| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
        if let Some(item) = text.strip_prefix("- ") {
            if let Some(kind) = item.strip_prefix("type:") {
                long_type = unquote(kind);
            } else {
                long_type.clear();
                let source = unquote(item.split(':').next().unwrap_or(""));
                if !source.is_empty() && !source.starts_with(['/', '.', '~', '$']) {
                    keys.push(source);
                }
            }
        } else if let Some(source) = text.strip_prefix("source:") {
            if long_type == "volume" {
                keys.push(unquote(source));
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_service_volume_keys_in_compose_config() {
        let v1 = "services:\n  cache:\n    volumes:\n    - cachedata:/c:rw\n  db:\n    image: x\n    volumes:\n    - pgdata:/var/lib/postgresql/data:rw\n    - /etc/hosts:/h:ro\n    - ./init:/docker-entrypoint-initdb.d:ro\nvolumes:\n  pgdata: {}\n";
        assert_eq!(super::service_volume_keys(v1, "db"), ["pgdata"]);
        let v2 = "name: p\nservices:\n  db:\n    image: x\n    volumes:\n      - type: volume\n        source: pgdata\n        target: /var/lib/postgresql/data\n        volume: {}\n      - type: bind\n        source: /etc/hosts\n        target: /h\n    ports:\n      - mode: ingress\n  cache:\n    volumes:\n      - type: volume\n        source: cachedata\nvolumes:\n  pgdata:\n    name: p_pgdata\n";
        assert_eq!(super::service_volume_keys(v2, "db"), ["pgdata"]);
        assert_eq!(super::service_volume_keys(v2, "cache"), ["cachedata"]);
    }

    use super::*;

    #[test]
    fn finds_the_service_image_in_compose_config() {
        let yaml = "services:\n  cache:\n    image: redis:7\n  db:\n    environment:\n      POSTGRES_DB: app\n    image: \"postgres:16.4\"\n    ports:\n    - 127.0.0.1:5433:5432/tcp\nvolumes:\n  pgdata: {}\n";
        assert_eq!(service_image(yaml, "db").as_deref(), Some("postgres:16.4"));
        assert_eq!(service_image(yaml, "cache").as_deref(), Some("redis:7"));
        assert_eq!(service_image(yaml, "web"), None);
    }

    #[test]
    fn project_names_differ_per_folder() {
        let a = project_name(std::path::Path::new("/home/me/Clinic App"));
        let b = project_name(std::path::Path::new("/home/you/Clinic App"));
        assert!(a.starts_with("pgshift-clinicapp-"), "{a}");
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }
}
