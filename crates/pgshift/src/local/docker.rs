//! The docker backend: PostgreSQL in a Docker Compose service.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::config::Config;
use crate::local::Started;

/// The compose project of the local database.
#[derive(Debug, Clone)]
pub struct DockerCompose {
    pub compose_file: PathBuf,
    pub service: String,
}

/// Whether `docker info` answers within a few seconds.
pub fn engine_answers() -> bool {
    false
}

impl DockerCompose {
    pub fn new(config: &Config) -> DockerCompose {
        DockerCompose {
            compose_file: config.local.compose_file.clone(),
            service: config.local.compose_service.clone(),
        }
    }

    pub fn up(&self, _timeout: Duration) -> anyhow::Result<Started> {
        bail!("the docker backend is not built yet")
    }

    pub fn down(&self, _volumes: bool) -> anyhow::Result<bool> {
        bail!("the docker backend is not built yet")
    }

    pub fn is_running(&self) -> bool {
        false
    }

    pub fn logs(&self, _lines: usize) -> anyhow::Result<String> {
        bail!("the docker backend is not built yet")
    }

    pub fn volume_description(&self) -> String {
        format!("docker volume of {}", self.service)
    }
}
