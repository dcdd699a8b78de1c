//! `cargo xtask generate [--check]`: typed Rust bindings from the target database's schema.

use std::process::ExitCode;

use std::path::Path;

use anyhow::Result;
use pgshift::codegen;
use pgshift::config::Config;
use pgshift::target::Target;

use crate::context::{self, Ctx};

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
        context::keep("path", path.clone().into());
        context::keep("stale", outcome.diff.is_some().into());
        context::keep("diff", outcome.diff.clone().into());
        return match outcome.diff {
            None => {
                ctx.note(&format!("{path} is up to date with {}", target.url));
                ctx.emit(&serde_json::json!({ "path": path, "stale": false, "diff": null }))?;
                Ok(ExitCode::SUCCESS)
            }
            Some(diff) => {
                if !ctx.json {
                    print!("{diff}");
                }
                Err(anyhow::anyhow!(
                    "{path} is stale: it does not match the schema of {}; run `{}`",
                    target.url,
                    ctx.command(codegen::REGENERATE.trim_start_matches("cargo xtask "))
                ))
            }
        };
    }
    let outcome = regenerate(ctx, &target).await?;
    ctx.emit(&bindings(ctx, &outcome))?;
    Ok(ExitCode::SUCCESS)
}

/// The bindings part of a JSON document: `{"path", "changed", "tables", "views", "enums",
/// "composites", "skipped": [{"column", "sql_type", "reason"}]}`.
pub fn bindings(ctx: &Ctx, outcome: &codegen::GenerateOutcome) -> serde_json::Value {
    serde_json::json!({
        "path": shown(&ctx.config, &outcome.path),
        "changed": outcome.changed,
        "tables": outcome.tables,
        "views": outcome.views,
        "enums": outcome.enums,
        "composites": outcome.composites,
        "skipped": outcome.skipped.iter().map(|s| serde_json::json!({
            "column": s.column,
            "sql_type": s.sql_type,
            "reason": s.reason,
        })).collect::<Vec<_>>(),
    })
}

/// Regenerates the bindings from `target` and says what happened; used by `generate` and
/// after every command that changes the local schema (migrate-dev, -reset, -down).
pub async fn regenerate(ctx: &Ctx, target: &Target) -> Result<codegen::GenerateOutcome> {
    let outcome = codegen::generate(&ctx.config, &target.url).await?;
    for skipped in &outcome.skipped {
        eprintln!(
            "warning: column {} (`{}`) left out of the bindings: {}",
            skipped.column, skipped.sql_type, skipped.reason
        );
    }
    let what = if outcome.changed {
        "bindings updated"
    } else {
        "bindings unchanged"
    };
    ctx.note(&format!(
        "{what}: {} ({}, {}, {}{}, {} ms)",
        shown(&ctx.config, &outcome.path),
        counted(outcome.tables, "table"),
        counted(outcome.views, "view"),
        counted(outcome.enums, "enum"),
        if outcome.composites > 0 {
            format!(", {}", counted(outcome.composites, "composite type"))
        } else {
            String::new()
        },
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
