//! `cargo xtask migrate-*`. (Being built: issue 3.)

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct NewArgs {}

pub async fn new(_ctx: &Ctx, _args: NewArgs) -> Result<ExitCode> {
    bail!("migrate-new is not built yet")
}

#[derive(clap::Args)]
pub struct DevArgs {}

pub async fn dev(_ctx: &Ctx, _args: DevArgs) -> Result<ExitCode> {
    bail!("migrate-dev is not built yet")
}

#[derive(clap::Args)]
pub struct StatusArgs {}

pub async fn status(_ctx: &Ctx, _args: StatusArgs) -> Result<ExitCode> {
    bail!("migrate-status is not built yet")
}

#[derive(clap::Args)]
pub struct DeployArgs {}

pub async fn deploy(_ctx: &Ctx, _args: DeployArgs) -> Result<ExitCode> {
    bail!("migrate-deploy is not built yet")
}

#[derive(clap::Args)]
pub struct ResetArgs {}

pub async fn reset(_ctx: &Ctx, _args: ResetArgs) -> Result<ExitCode> {
    bail!("migrate-reset is not built yet")
}

#[derive(clap::Args)]
pub struct ResolveArgs {}

pub async fn resolve(_ctx: &Ctx, _args: ResolveArgs) -> Result<ExitCode> {
    bail!("migrate-resolve is not built yet")
}

#[derive(clap::Args)]
pub struct DownArgs {}

pub async fn down(_ctx: &Ctx, _args: DownArgs) -> Result<ExitCode> {
    bail!("migrate-down is not built yet")
}
