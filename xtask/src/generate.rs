//! `cargo xtask generate [--check]`: typed Rust bindings from the target database's schema.

use std::process::ExitCode;

use std::path::Path;

use anyhow::Result;
use pgshift::codegen;
use pgshift::config::Config;
use pgshift::target::Target;

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Write nothing; exit 1 with a diff when the bindings file is stale.
    #[arg(long)]
    check: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let target = ctx.target()?;
    let config = &ctx.config;
    if args.check {
        let outcome = codegen::check(config, &target.url).await?;
        let path = shown(config, &outcome.path);
        if ctx.json {
            let json = serde_json::json!({
                "path": path,
                "stale": outcome.diff.is_some(),
                "diff": outcome.diff,
            });
            println!("{json}");
        }
        return Ok(match outcome.diff {
            None => {
                ctx.note(&format!("{path} is up to date with {}", target.url));
                ExitCode::SUCCESS
            }
            Some(diff) => {
                if !ctx.json {
                    print!("{diff}");
                }
                eprintln!(
                    "error: {path} is stale: it does not match the schema of {}; run `{}`",
                    target.url,
                    codegen::REGENERATE
                );
                ExitCode::from(1)
            }
        });
    }
    let outcome = regenerate(ctx, &target).await?;
    if ctx.json {
        let json = serde_json::json!({
            "path": shown(config, &outcome.path),
            "changed": outcome.changed,
            "tables": outcome.tables,
            "views": outcome.views,
            "enums": outcome.enums,
        });
        println!("{json}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Regenerates the bindings from `target` and says what happened; used by `generate` and
/// after every command that changes the local schema (migrate-dev, -reset, -down).
pub async fn regenerate(ctx: &Ctx, target: &Target) -> Result<codegen::GenerateOutcome> {
    let outcome = codegen::generate(&ctx.config, &target.url).await?;
    let what = if outcome.changed {
        "bindings updated"
    } else {
        "bindings unchanged"
    };
    ctx.note(&format!(
        "{what}: {} ({}, {}, {}, {} ms)",
        shown(&ctx.config, &outcome.path),
        counted(outcome.tables, "table"),
        counted(outcome.views, "view"),
        counted(outcome.enums, "enum"),
        (outcome.introspect_time + outcome.render_time).as_millis()
    ));
    Ok(outcome)
}

/// `1 table`, `2 tables`.
fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn shown(config: &Config, path: &Path) -> String {
    path.strip_prefix(&config.root)
        .unwrap_or(path)
        .display()
        .to_string()
}
