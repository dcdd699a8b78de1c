//! `cargo xtask generate`. (Being built: issue 4.)

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {}

pub async fn run(_ctx: &Ctx, _args: Args) -> Result<ExitCode> {
    bail!("generate is not built yet")
}
