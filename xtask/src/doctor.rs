//! `cargo xtask doctor`. (Being built: issue 2.)

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {}

pub async fn run(_ctx: &Ctx, _args: Args) -> Result<ExitCode> {
    bail!("doctor is not built yet")
}
