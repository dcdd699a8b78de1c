//! `cargo xtask deploy --prod`: the production pipeline (`pgshift::deploy`), one line per
//! step.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use pgshift::deploy::{self, DeployOptions, Outcome};

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// The `prod` environment: the same as `--env prod`.
    #[arg(long)]
    pub prod: bool,
    /// Run target, transport, preflight, backup and rehearsal; change nothing on the target.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip the backup (the report and the log say so; without it only `[deploy] rehearse =
    /// "schema"` rehearses).
    #[arg(long)]
    pub no_backup: bool,
    /// Skip the rehearsal on a copy.
    #[arg(long)]
    pub no_rehearse: bool,
    /// Run the application command even when no migration is pending.
    #[arg(long)]
    pub always_run_command: bool,
    /// Apply pending migrations older than the newest applied one.
    #[arg(long)]
    pub allow_out_of_order: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let target = ctx.target()?;
    // Off a terminal, consent is --yes or nothing: decided before any connection.
    let terminal = std::io::stdin().is_terminal();
    if target.protected && !args.dry_run && !ctx.yes && !terminal {
        return Err(pgshift::UsageError::Other(format!(
            "deploy to {} ({}), a protected environment, needs consent: run it on a terminal \
             to type the database name, or pass --yes",
            target.env,
            target.url.host_and_database()
        ))
        .into());
    }
    let local = ctx.local_target().ok();
    let options = DeployOptions {
        dry_run: args.dry_run,
        no_backup: args.no_backup,
        no_rehearse: args.no_rehearse,
        always_run_command: args.always_run_command,
        allow_out_of_order: args.allow_out_of_order,
    };
    let yes = ctx.yes;
    let mut consent = |request: &deploy::ConsentRequest<'_>| {
        if yes {
            return true;
        }
        let mut question = format!(
            "{} migration{} to deploy to {}, a protected environment:",
            request.pending.len(),
            if request.pending.len() == 1 { "" } else { "s" },
            request.env
        );
        for file in request.pending {
            question.push_str(&format!("\n  {file}"));
        }
        crate::context::database_name_typed_back(&question, request.database, "deploy")
            .unwrap_or(false)
    };
    let mut on_step = |step: &deploy::Step| {
        let mark = match step.outcome {
            Outcome::Ok => "ok",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "FAILED",
        };
        ctx.note(&format!(
            "{:<12} {mark:<8} {} ({:.0} ms)",
            step.name, step.detail, step.duration_ms
        ));
        for line in &step.lines {
            ctx.note(&format!("{:<21}{line}", ""));
        }
    };
    match deploy::deploy(
        &ctx.config,
        &target,
        local.as_ref(),
        &options,
        &mut consent,
        &mut on_step,
    )
    .await
    {
        Ok(report) => {
            if let Some(path) = &report.report_path {
                ctx.note(&format!("report: {}", path.display()));
            }
            ctx.emit(&report)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failed) => {
            if let Some(next) = &failed.report.next {
                eprintln!("next: {next}");
            }
            if let Some(path) = &failed.report.report_path {
                eprintln!("report: {}", path.display());
            }
            if ctx.json {
                let mut json = serde_json::to_value(&*failed.report)?;
                json["ok"] = serde_json::Value::Bool(false);
                json["error"] = serde_json::json!({
                    "message": failed.message,
                    "exit_code": if failed.usage { 2 } else { 1 },
                });
                println!("{}", serde_json::to_string_pretty(&json)?);
                eprintln!("error: {}", pgshift::target::redact(&failed.message));
                return Ok(ExitCode::from(if failed.usage { 2 } else { 1 }));
            }
            if failed.usage {
                return Err(pgshift::UsageError::Other(failed.message).into());
            }
            Err(anyhow::anyhow!(failed.message))
        }
    }
}
