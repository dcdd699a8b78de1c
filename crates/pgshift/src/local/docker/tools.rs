//! Finding Docker and compose, and whether the engine answers: what `auto`, `doctor` and
//! the docker backend ask before running anything.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::pgbin::which;

/// How long `docker info` may take before the engine counts as not answering: a hung engine
/// must not hang `auto`, `db status` or `doctor`.
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(4);

/// Which compose is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeKind {
    /// `docker compose`, the CLI plugin.
    V2,
    /// The standalone `docker-compose` program.
    V1,
}

/// An installed compose and its version.
#[derive(Debug, Clone)]
pub struct ComposeTool {
    pub kind: ComposeKind,
    /// As the tool prints it, e.g. `1.29.2` or `v2.24.5`.
    pub version: String,
}

impl ComposeTool {
    /// The command line that runs it: `docker compose` or `docker-compose`.
    pub fn invocation(&self) -> &'static str {
        match self.kind {
            ComposeKind::V2 => "docker compose",
            ComposeKind::V1 => "docker-compose",
        }
    }

    pub(super) fn command(&self) -> Command {
        match self.kind {
            ComposeKind::V2 => {
                let mut command = Command::new("docker");
                command.arg("compose");
                command
            }
            ComposeKind::V1 => Command::new("docker-compose"),
        }
    }
}

/// Docker cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DockerUnavailable {
    #[error("docker is not installed (no `docker` on PATH); install Docker (https://docs.docker.com/engine/install/), or set `backend = \"embedded\"` in pgshift.toml")]
    NotInstalled,
    #[error("the Docker engine does not answer ({reason}); start it (`systemctl start docker`, or open Docker Desktop), check that you may use it (the `docker` group), or set `backend = \"embedded\"` in pgshift.toml")]
    NoAnswer { reason: String },
}

/// `docker --version`, or why there is none.
pub fn docker_version() -> Result<String, DockerUnavailable> {
    if which("docker").is_none() {
        return Err(DockerUnavailable::NotInstalled);
    }
    let out = output_within(Command::new("docker").arg("--version"), ENGINE_TIMEOUT)
        .map_err(|_| DockerUnavailable::NotInstalled)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// How long `compose version` may take. Longer than `ENGINE_TIMEOUT`: `docker-compose` v1
/// is a Python program whose start alone took 2.8 s on a busy 2-core machine, and a slow
/// answer must not read as "not installed".
pub const COMPOSE_PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Every compose that is installed, v2 first, and why an installed one was left out (its
/// `version` gave no answer in time).
pub fn probe_compose_tools() -> (Vec<ComposeTool>, Vec<String>) {
    let mut tools = Vec::new();
    let mut problems = Vec::new();
    let probes = [
        (ComposeKind::V2, which("docker").is_some()),
        (ComposeKind::V1, which("docker-compose").is_some()),
    ];
    for (kind, present) in probes {
        if !present {
            continue;
        }
        let mut tool = ComposeTool {
            kind,
            version: String::new(),
        };
        let mut command = tool.command();
        command.args(["version", "--short"]);
        match output_within(&mut command, COMPOSE_PROBE_TIMEOUT) {
            // `docker compose` without the plugin fails at once: v2 is simply not there.
            Ok(out) if out.status.success() => {
                tool.version = String::from_utf8_lossy(&out.stdout).trim().to_string();
                tools.push(tool);
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    (tools, problems)
}

/// The compose pgshift uses: `docker compose` when the plugin is installed, else
/// `docker-compose`.
pub fn compose_tool() -> anyhow::Result<ComposeTool> {
    let (tools, problems) = probe_compose_tools();
    if let Some(tool) = tools.into_iter().next() {
        return Ok(tool);
    }
    if !problems.is_empty() {
        bail!(
            "compose is installed but did not answer: {}; the machine may be overloaded, try \
             again, or run the command by hand to see what it waits for",
            problems.join("; ")
        );
    }
    bail!(
        "neither `docker compose` (v2) nor `docker-compose` (v1) is installed; install the compose \
         plugin (https://docs.docker.com/compose/install/; Debian/Ubuntu: `apt-get install \
         docker-compose-plugin` from Docker's repository, or `apt-get install docker-compose`)"
    )
}

/// The Docker engine's version, if `docker info` answers within `timeout`.
pub fn engine_version(timeout: Duration) -> Result<String, DockerUnavailable> {
    docker_version()?;
    let out = output_within(
        Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]),
        timeout,
    )
    .map_err(|e| DockerUnavailable::NoAnswer {
        reason: format!("{e:#}"),
    })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || version.is_empty() {
        return Err(DockerUnavailable::NoAnswer {
            reason: format!(
                "`docker info`: {}",
                first_line(&String::from_utf8_lossy(&out.stderr))
            ),
        });
    }
    Ok(version)
}

/// Whether `docker info` answers within a few seconds.
pub fn engine_answers() -> bool {
    engine_version(ENGINE_TIMEOUT).is_ok()
}

/// Runs a command, killing it if it has not finished within `timeout`. For programs with
/// short output (a full pipe would stall them until the timeout).
pub fn output_within(command: &mut Command, timeout: Duration) -> anyhow::Result<Output> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {:?}", command.get_program()))?;
    wait_within(child, command, timeout)
}

/// Waits for `child` (spawned from `command`), killing it after `timeout`.
pub fn wait_within(
    mut child: Child,
    command: &Command,
    timeout: Duration,
) -> anyhow::Result<Output> {
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "`{} {}` gave no answer within {} s",
                command.get_program().to_string_lossy(),
                command
                    .get_args()
                    .next()
                    .map_or_else(String::new, |a| a.to_string_lossy().into_owned()),
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("no message")
}
