//! `cargo xtask watch | dev | daemon`. (Being built: issue 5.)

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct WatchArgs {}

#[derive(Subcommand)]
pub enum DaemonCommand {
    /// Start the daemon in the background.
    Start,
    /// Stop the background daemon.
    Stop,
    /// Pid, uptime, last event and last error of the background daemon.
    Status,
}

pub async fn watch(_ctx: &Ctx, _args: WatchArgs) -> Result<ExitCode> {
    bail!("watch is not built yet")
}

pub async fn dev(_ctx: &Ctx, _args: WatchArgs) -> Result<ExitCode> {
    bail!("dev is not built yet")
}

pub async fn daemon(_ctx: &Ctx, _command: DaemonCommand) -> Result<ExitCode> {
    bail!("daemon is not built yet")
}
