//! `cargo xtask generate [--check]`: typed Rust bindings from the target database's schema.

use std::process::ExitCode;

use anyhow::Result;
use pgshift::codegen;

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
    let shown = |path: &std::path::Path| {
        path.strip_prefix(&config.root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    if args.check {
        let outcome = codegen::check(config, &target.url).await?;
        let path = shown(&outcome.path);
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
    let outcome = codegen::generate(config, &target.url).await?;
    let path = shown(&outcome.path);
    if ctx.json {
        let json = serde_json::json!({
            "path": path,
            "changed": outcome.changed,
            "tables": outcome.tables,
            "views": outcome.views,
            "enums": outcome.enums,
        });
        println!("{json}");
    }
    let what = if outcome.changed {
        "wrote"
    } else {
        "unchanged"
    };
    ctx.note(&format!(
        "{what} {path}: {} tables, {} views, {} enums from {} ({} ms)",
        outcome.tables,
        outcome.views,
        outcome.enums,
        target.url,
        (outcome.introspect_time + outcome.render_time).as_millis()
    ));
    Ok(ExitCode::SUCCESS)
}
