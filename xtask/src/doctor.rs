//! `cargo xtask doctor`: prints the library's checks, one line each, and fails when one
//! fails.

use std::process::ExitCode;

use anyhow::Result;
use pgshift::doctor::{self, Outcome};

#[derive(clap::Args)]
#[command(after_help = "\
With --env NAME (an [env.NAME] of pgshift.toml), checks that environment instead of the \
local database: its URL variable, the connection (reachability, TLS, authentication), \
whether TLS is in use and verified, and the local pg_dump against its server version. \
Docker and the server programs are only checked for local.

Exit codes: 0 no check failed (warnings allowed); 1 a check failed.

Example: PROD_DATABASE_URL='postgres://app:...@db.example.com/app?sslmode=verify-full' \
cargo xtask doctor --env prod")]
pub struct Args {}

/// Runs without a `Ctx`: a `pgshift.toml` that does not load is one of the things doctor
/// reports, not a reason to stop.
pub async fn run(json: bool, env: &str, _args: Args) -> Result<ExitCode> {
    let checks = doctor::run(&std::env::current_dir()?, env).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
        let colour = crate::context::colour(&std::io::stdout());
        for check in &checks {
            let (marker, code) = match check.status {
                Outcome::Ok => ("ok  ", 32),
                Outcome::Warn => ("warn", 33),
                Outcome::Fail => ("FAIL", 31),
            };
            let marker = crate::context::paint(colour, code, marker);
            let fix = check
                .fix
                .as_deref()
                .map(|fix| format!(" -- fix: {fix}"))
                .unwrap_or_default();
            println!("{marker}  {:<width$}  {}{fix}", check.check, check.detail);
        }
        let failed = checks.iter().filter(|c| c.status == Outcome::Fail).count();
        let warned = checks.iter().filter(|c| c.status == Outcome::Warn).count();
        eprintln!(
            "doctor: {} checks, {failed} failed, {warned} warnings",
            checks.len()
        );
    }
    Ok(if doctor::any_failed(&checks) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
