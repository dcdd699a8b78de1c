//! `cargo xtask bench migrate`. (Being built.)

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {}

pub async fn run(_ctx: &Ctx, _args: Args) -> Result<ExitCode> {
    bail!("bench migrate is not built yet")
}
