//! `cargo xtask bench watch`. (Being built.)

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {}

pub async fn run(_ctx: &Ctx, _args: Args) -> Result<ExitCode> {
    bail!("bench watch is not built yet")
}
