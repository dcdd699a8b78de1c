//! `cargo xtask bench diff`: the schema diff's speed against migra, and with `--corpus` its
//! correctness corpus (`pgshift::diff::corpus`), both on a scratch cluster of their own.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use pgshift::diff::corpus;
use pgshift::local::ScratchCluster;
use sqlx::{ConnectOptions, Connection};

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
    run_bench(ctx, args).await
}

/// The figures of one tool on one pair.
struct Timing {
    /// Median wall time of the runs.
    median: Duration,
    /// Whether its output, applied to a copy of the source, reached the target.
    reaches: Result<(), String>,
    statements: usize,
}

async fn run_bench(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let tables = args.tables.unwrap_or(1000).max(20);
    // Five: on a shared 2-core machine either tool's single runs move by half.
    let runs = 5;
    ctx.note("starting a scratch cluster");
    let cluster = tokio::task::spawn_blocking(ScratchCluster::start).await??;
    let admin = cluster.url("postgres");
    let base = corpus::saas::schema(tables);
    let mut changed = base.clone();
    changed.push_str(&corpus::saas::scattered_changes(tables, 100, args.seed));
    ctx.note(&format!(
        "creating the {tables}-table schema and its changed version"
    ));
    for (name, sql) in [
        ("bench_empty", ""),
        ("bench_big", &base[..]),
        ("bench_changed", &changed[..]),
    ] {
        exec(&admin, &format!("CREATE DATABASE {name}")).await?;
        if !sql.is_empty() {
            exec(&cluster.url(name), sql).await?;
        }
    }
    let schemas = vec!["app".to_string()];
    // A project whose catalog is the `app` schema, for `migrate-diff` as a user runs it.
    let project = tempfile::tempdir()?;
    std::fs::write(
        project.path().join("pgshift.toml"),
        "[codegen]\nschemas = [\"app\"]\n",
    )?;
    let migra = migra_command();
    let pairs = [
        (
            "empty -> 1,000 tables".replace("1,000", &tables.to_string()),
            "bench_empty",
            "bench_big",
        ),
        (
            format!("{tables} tables -> 100 scattered changes"),
            "bench_big",
            "bench_changed",
        ),
    ];
    let mut report = Vec::new();
    let mut copies = 0;
    for (label, from, to) in &pairs {
        let (from_url, to_url) = (cluster.url(from), cluster.url(to));
        ctx.note(&format!("{label}: pgshift"));
        // In-process: what the library costs (two catalog reads, the diff, the script).
        let mut library = Vec::new();
        let mut diff_only = Vec::new();
        let mut script = String::new();
        for _ in 0..runs {
            let started = Instant::now();
            let a = pgshift::catalog::read(&from_url, &schemas).await?;
            let b = pgshift::catalog::read(&to_url, &schemas).await?;
            let diffing = Instant::now();
            let d = pgshift::diff::diff(&a, &b, &pgshift::diff::Options::default());
            script = d.script();
            diff_only.push(diffing.elapsed());
            library.push(started.elapsed());
        }
        let diff_only = median(diff_only);
        // As a user runs it: the debug `cargo xtask migrate-diff ... --script` process.
        let mut process = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let out = std::process::Command::new(std::env::current_exe()?)
                .current_dir(project.path())
                .args([
                    "migrate-diff",
                    "--from",
                    from_url.expose(),
                    "--to",
                    to_url.expose(),
                    "--script",
                ])
                .output()?;
            process.push(started.elapsed());
            anyhow::ensure!(
                out.status.success() || out.status.code() == Some(2),
                "migrate-diff failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        copies += 1;
        let pgshift_reaches = reaches(
            &cluster,
            from,
            to,
            &format!("bench_copy_{copies}"),
            &script,
            &schemas,
        )
        .await?;
        let pgshift = Timing {
            median: median(process),
            reaches: pgshift_reaches,
            statements: script.matches(";\n").count(),
        };
        let library = median(library);
        let migra_timing = match &migra {
            Err(why) => Err(why.clone()),
            Ok(command) => {
                ctx.note(&format!("{label}: migra"));
                let mut times = Vec::new();
                let mut output = String::new();
                let mut failure = None;
                for _ in 0..runs {
                    let started = Instant::now();
                    // SQLAlchemy only knows the postgresql:// scheme.
                    let scheme = |u: &pgshift::target::DbUrl| {
                        u.expose().replacen("postgres://", "postgresql://", 1)
                    };
                    let out = std::process::Command::new(command)
                        .args(["--unsafe", "--schema", "app"])
                        .arg(scheme(&from_url))
                        .arg(scheme(&to_url))
                        .output()?;
                    times.push(started.elapsed());
                    // migra exits 2 when the databases differ.
                    if !(out.status.success() || out.status.code() == Some(2)) {
                        failure = Some(String::from_utf8_lossy(&out.stderr).into_owned());
                        break;
                    }
                    output = String::from_utf8_lossy(&out.stdout).into_owned();
                }
                match failure {
                    Some(why) => Err(format!(
                        "migra failed: {}",
                        why.lines().last().unwrap_or("")
                    )),
                    None => {
                        copies += 1;
                        let reached = reaches(
                            &cluster,
                            from,
                            to,
                            &format!("bench_copy_{copies}"),
                            &output,
                            &schemas,
                        )
                        .await?;
                        Ok(Timing {
                            median: median(times),
                            reaches: reached,
                            statements: output.matches(";\n").count(),
                        })
                    }
                }
            }
        };
        report.push((label.clone(), library, diff_only, pgshift, migra_timing));
    }

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if ctx.json {
        let rows: Vec<serde_json::Value> = report
            .iter()
            .map(|(label, library, diff_only, pgshift, migra)| {
                serde_json::json!({
                    "pair": label,
                    "pgshift_library_ms": ms(*library),
                    "pgshift_diff_only_ms": ms(*diff_only),
                    "pgshift_ms": ms(pgshift.median),
                    "pgshift_statements": pgshift.statements,
                    "pgshift_reaches_target": pgshift.reaches.is_ok(),
                    "pgshift_difference": pgshift.reaches.as_ref().err(),
                    "migra_ms": migra.as_ref().ok().map(|m| ms(m.median)),
                    "migra_statements": migra.as_ref().ok().map(|m| m.statements),
                    "migra_reaches_target": migra.as_ref().ok().map(|m| m.reaches.is_ok()),
                    "migra_difference": migra.as_ref().ok().and_then(|m| m.reaches.as_ref().err()),
                    "migra_skipped": migra.as_ref().err(),
                    "ratio": migra.as_ref().ok().map(|m| pgshift.median.as_secs_f64() / m.median.as_secs_f64()),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "tables": tables, "runs": runs, "pairs": rows })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "diff, {tables}-table schema, median of {runs} runs ({} build, 2 cores shared):",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    for (label, library, diff_only, pgshift, migra) in &report {
        println!("  {label}:");
        println!(
            "    pgshift migrate-diff --script {:>9.1} ms  (library: 2 catalog reads + diff {:.1} ms, of which diff + script {:.1} ms), {} statements, {}",
            ms(pgshift.median),
            ms(*library),
            ms(*diff_only),
            pgshift.statements,
            match &pgshift.reaches {
                Ok(()) => "reaches the target".to_string(),
                Err(why) => format!("DOES NOT reach the target: {why}"),
            }
        );
        match migra {
            Ok(m) => {
                println!(
                    "    migra                        {:>9.1} ms, {} statements, {}",
                    ms(m.median),
                    m.statements,
                    match &m.reaches {
                        Ok(()) => "reaches the target".to_string(),
                        Err(why) => format!("does not reach the target: {why}"),
                    }
                );
                println!(
                    "    ratio pgshift/migra {:.3} (target <= 0.2)",
                    pgshift.median.as_secs_f64() / m.median.as_secs_f64()
                );
            }
            Err(why) => println!("    migra: skipped ({why})"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn exec(url: &pgshift::target::DbUrl, sql: &str) -> Result<()> {
    let mut conn = url
        .connect_options()
        .log_slow_statements(tracing::log::LevelFilter::Off, Duration::ZERO)
        .connect()
        .await?;
    sqlx::raw_sql(sql).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Applies `script` to a copy of `from` and compares its catalog with `to`'s (table
/// column order aside): Ok, or what still differs.
async fn reaches(
    cluster: &ScratchCluster,
    from: &str,
    to: &str,
    copy: &str,
    script: &str,
    schemas: &[String],
) -> Result<Result<(), String>> {
    exec(
        &cluster.url("postgres"),
        &format!("CREATE DATABASE {copy} TEMPLATE {from}"),
    )
    .await?;
    let url = cluster.url(copy);
    if let Err(e) = exec(&url, &format!("BEGIN;\n{script}\nCOMMIT;")).await {
        return Ok(Err(format!("its script fails: {e}")));
    }
    let after = pgshift::catalog::read(&url, schemas).await?;
    let target = pgshift::catalog::read(&cluster.url(to), schemas).await?;
    if corpus::normalized(&after) == corpus::normalized(&target) {
        return Ok(Ok(()));
    }
    let rest = pgshift::diff::diff(&after, &target, &pgshift::diff::Options::default());
    let shown: Vec<String> = rest
        .changes
        .iter()
        .take(3)
        .map(|c| c.summary.clone())
        .collect();
    Ok(Err(format!(
        "{} differences left, e.g. {}",
        rest.changes.len(),
        shown.join("; ")
    )))
}

/// migra: $PGSHIFT_MIGRA, or `migra` on PATH, or the venv the README describes.
fn migra_command() -> std::result::Result<std::path::PathBuf, String> {
    let candidates = [
        std::env::var_os("PGSHIFT_MIGRA").map(std::path::PathBuf::from),
        Some(std::path::PathBuf::from("migra")),
    ];
    for candidate in candidates.into_iter().flatten() {
        let ok = std::process::Command::new(&candidate)
            .arg("--help")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(candidate);
        }
    }
    Err("migra not found: python3 -m venv /tmp/migra && /tmp/migra/bin/pip install migra psycopg2-binary 'sqlalchemy<2', then PGSHIFT_MIGRA=/tmp/migra/bin/migra".to_string())
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
