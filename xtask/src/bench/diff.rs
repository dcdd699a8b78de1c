//! `cargo xtask bench diff`: the schema diff's speed against migra, and with `--corpus` its
//! correctness corpus (`pgshift::diff::corpus`), both on a scratch cluster of their own.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use pgshift::diff::corpus;
use pgshift::local::ScratchCluster;

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Run the correctness corpus instead of the benchmark: every pair (A, B) must reach
    /// B's catalog from A with diff(A, B), and diff(B, B) must be empty.
    #[arg(long)]
    corpus: bool,
    /// The seed of the random pairs (the same seed gives the same pairs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many random pairs (corpus).
    #[arg(long, default_value_t = 300)]
    pairs: usize,
    /// Tables of the large generated schema (corpus: 200; bench: 1,000).
    #[arg(long)]
    tables: Option<usize>,
    /// Pairs checked at once (corpus).
    #[arg(long, default_value_t = 4)]
    jobs: usize,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    if args.corpus {
        return run_corpus(ctx, args).await;
    }
    anyhow::bail!("the benchmark is not written yet; run `cargo xtask bench diff --corpus`")
}

async fn run_corpus(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let root = &ctx.config.root;
    let migrations = root.join("migrations");
    let fixture_path = root.join("tests/fixtures/codegen/schema.sql");
    let fixture = std::fs::read_to_string(&fixture_path).ok();
    let pairs = corpus::corpus(
        migrations.is_dir().then_some(migrations.as_path()),
        fixture
            .as_deref()
            .map(|sql| (sql, &["public", "types"][..])),
        args.seed,
        args.pairs,
        args.tables.unwrap_or(200),
    )?;
    ctx.note(&format!(
        "starting a scratch cluster for {} pairs (seed {})",
        pairs.len(),
        args.seed
    ));
    let cluster = tokio::task::spawn_blocking(ScratchCluster::start).await??;
    let server = cluster.url("postgres");
    let started = Instant::now();
    let quiet = ctx.quiet || ctx.json;
    let outcomes = corpus::check(&server, pairs, args.jobs, |o| {
        if !quiet {
            match &o.failure {
                None => eprintln!(
                    "ok    {} ({} changes, {} ms)",
                    o.pair,
                    o.changes,
                    o.elapsed.as_millis()
                ),
                Some(why) => eprintln!("FAIL  {}\n{why}", o.pair),
            }
        }
    })
    .await?;
    let failed: Vec<&corpus::Outcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "seed": args.seed,
                "pairs": outcomes.len(),
                "failed": failed.len(),
                "seconds": started.elapsed().as_secs_f64(),
                "failures": failed,
            })
        );
    } else {
        for o in &failed {
            println!("FAIL  {}", o.pair);
            if let Some(why) = &o.failure {
                println!("{why}");
            }
            if let Some(script) = &o.script {
                println!("script:\n{script}\n");
            }
        }
        println!(
            "diff corpus: {} pairs, {} failed, seed {}, {:.1} s",
            outcomes.len(),
            failed.len(),
            args.seed,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
