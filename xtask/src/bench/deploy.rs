//! `cargo xtask bench deploy`: the real `deploy --env prod --yes --json` process against a
//! production-sized database: a scratch cluster plays production (pgbench's tables at
//! `--scale`, about 200 MB at 13, plus the tables of `--applied` migrations already applied),
//! another the local server the rehearsal restores onto. Prints each
//! step's time and the pipeline's own overhead: the process's wall time minus pg_dump, the
//! rehearsal's restore and the migrations' own statements (the report's `parts`).

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use pgshift::config::Config;
use pgshift::local::ScratchCluster;
use pgshift::migrations::{self, ApplyOptions, Mode};
use pgshift::target::{Target, UrlSource};

use super::migrate::children_cpu;
use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Migrations production has already applied.
    #[arg(long, default_value_t = 1000)]
    applied: usize,
    /// Migrations the deploy applies.
    #[arg(long, default_value_t = 50)]
    pending: usize,
    /// pgbench scale of production's data (`pgbench -i -s N`: 13 is about 200 MB); 0 for none.
    #[arg(long, default_value_t = 13)]
    scale: u32,
    /// Deploys measured, each to a fresh copy of production.
    #[arg(long, default_value_t = 2)]
    runs: usize,
}

/// A table the history made, then changed by a pending migration.
fn applied_migration(i: usize) -> String {
    format!(
        "CREATE TABLE bench_{i} (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n"
    )
}

/// Pending migrations of the usual kinds, on tables the history made.
fn pending_migration(i: usize, applied: usize) -> String {
    let t = applied.saturating_sub(i).max(1);
    match i % 4 {
        0 => format!("ALTER TABLE bench_{t} ADD COLUMN note_{i} text;\n"),
        1 => format!("CREATE TABLE new_{i} (id bigint PRIMARY KEY, bench_id bigint);\n"),
        2 => format!("CREATE INDEX bench_{t}_name_{i} ON bench_{t} (name);\n"),
        _ => format!(
            "ALTER TABLE bench_{t} ADD COLUMN flag_{i} boolean NOT NULL DEFAULT false;\nCOMMENT ON TABLE bench_{t} IS 'changed by {i}';\n"
        ),
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    ensure!(
        args.applied > 0 && args.runs > 0,
        "--applied and --runs must be at least 1"
    );
    ctx.note("starting two scratch clusters (production, and the local server)...");
    let cluster = ScratchCluster::start()?;
    let local_cluster = ScratchCluster::start()?;
    let project = tempfile::Builder::new()
        .prefix("pgshift-bench-deploy-")
        .tempdir()?;
    let dir = project.path();
    let folder = dir.join("migrations");
    std::fs::create_dir_all(&folder)?;
    let file = |i: usize| folder.join(format!("{:014}_m{i}.sql", 20270101000000u64 + i as u64));
    for i in 1..=args.applied {
        std::fs::write(file(i), applied_migration(i))?;
    }
    std::fs::write(
        dir.join("pgshift.toml"),
        "[env.prod]\nurl_env = \"PROD_DATABASE_URL\"\nprotected = true\n\n[deploy]\ncommand = \"true\"\n",
    )?;
    std::fs::write(
        dir.join(".env"),
        format!(
            "DATABASE_URL=postgres://postgres@127.0.0.1:{}/local\n",
            local_cluster.port()
        ),
    )?;
    let mut admin = pgshift::db::connect(&cluster.url("postgres")).await?;
    sqlx::raw_sql("CREATE DATABASE base")
        .execute(&mut admin)
        .await?;
    let mut local_admin = pgshift::db::connect(&local_cluster.url("postgres")).await?;
    sqlx::raw_sql("CREATE DATABASE local")
        .execute(&mut local_admin)
        .await?;
    pgshift::db::close(local_admin).await;
    if args.scale > 0 {
        ctx.note(&format!(
            "pgbench -i -s {} (production's data)...",
            args.scale
        ));
        pgbench(&cluster, args.scale)?;
    }
    // Production's history, as `migrate-deploy --env prod` leaves it (marker included).
    let mut config = Config::load(dir)?;
    config.paths.migrations = folder.clone();
    let target = |env: &str, db: &str| Target {
        env: env.into(),
        url: if env == "local" {
            local_cluster.url(db)
        } else {
            cluster.url(db)
        },
        source: UrlSource::LocalBackend,
        protected: false,
    };
    let options = ApplyOptions {
        mode: Mode::Deploy,
        allow_out_of_order: false,
        dry_run: false,
        files: None,
        lint: true,
    };
    ctx.note(&format!("applying {} migrations...", args.applied));
    migrations::apply_pending(&config, &target("prod", "base"), &options, &mut |_| {}).await?;
    for i in 1..=args.pending {
        std::fs::write(file(args.applied + i), pending_migration(i, args.applied))?;
    }
    // The local database ran everything (the guide's "test locally first").
    migrations::apply_pending(&config, &target("local", "local"), &options, &mut |_| {}).await?;
    let size: String = sqlx::query_scalar("SELECT pg_size_pretty(pg_database_size('base'))")
        .fetch_one(&mut admin)
        .await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut admin)
        .await?;
    println!(
        "bench deploy: {} applied + {} pending migrations, production {size} (pgbench -s {} and \
         {} tables), PostgreSQL {version} scratch clusters, {} build",
        args.applied,
        args.pending,
        args.scale,
        args.applied,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    let mut overheads = Vec::new();
    for run in 1..=args.runs {
        let db = format!("prod_{run}");
        // Production at rest: its copy written out before the deploy starts.
        sqlx::raw_sql(&format!("CREATE DATABASE {db} TEMPLATE base"))
            .execute(&mut admin)
            .await?;
        sqlx::raw_sql("CHECKPOINT").execute(&mut admin).await?;
        let url = format!("postgres://postgres@127.0.0.1:{}/{db}", cluster.port());
        let (wall, cpu, report) = deploy(dir, &url)?;
        overheads.push(print_run(run, wall, cpu, &report, args.pending)?);
        sqlx::raw_sql(&format!("DROP DATABASE {db}"))
            .execute(&mut admin)
            .await?;
        // Each run's backup is 100+ MB: keep the disk as it was.
        let _ = std::fs::remove_dir_all(dir.join(".pgshift/backups"));
    }
    let best = overheads.iter().copied().min().unwrap_or_default();
    println!(
        "pipeline overhead, best of {}: {} ms (target < 1000 ms)",
        args.runs,
        best.as_millis()
    );
    pgshift::db::close(admin).await;
    drop(project);
    drop(cluster);
    drop(local_cluster);
    Ok(ExitCode::SUCCESS)
}

/// `pgbench -i -s SCALE` on database `base`, as the server's programs are found.
fn pgbench(cluster: &ScratchCluster, scale: u32) -> Result<()> {
    let program = pgshift::pgbin::PgBin::client("pgbench")
        .context("finding pgbench (beside the PostgreSQL server programs)")?;
    let mut command = Command::new(&program);
    pgshift::pgbin::clean_env(&mut command)
        .args([
            "-i",
            "-q",
            "-s",
            &scale.to_string(),
            "-h",
            "127.0.0.1",
            "-p",
        ])
        .arg(cluster.port().to_string())
        .args(["-U", "postgres", "base"])
        .stdout(Stdio::null());
    let out = command.output().context("running pgbench")?;
    ensure!(
        out.status.success(),
        "pgbench -i failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs `xtask deploy --env prod --yes --json` in `dir` with production at `url`; returns
/// its wall time, CPU time (itself and its children: pg_dump, pg_restore) and report.
fn deploy(dir: &Path, url: &str) -> Result<(Duration, Duration, serde_json::Value)> {
    let exe = std::env::current_exe()?;
    let cpu_before = children_cpu();
    let started = Instant::now();
    let out = Command::new(exe)
        .args(["deploy", "--env", "prod", "--yes", "--json"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("PROD_DATABASE_URL", url)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()?;
    let wall = started.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    ensure!(
        out.status.success(),
        "`xtask deploy --env prod` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&out.stdout).context("reading the deploy's --json")?;
    Ok((wall, cpu, report))
}

/// Prints one run's steps and returns the pipeline's overhead: the wall time minus pg_dump,
/// the restore and the migrations.
fn print_run(
    run: usize,
    wall: Duration,
    cpu: Duration,
    report: &serde_json::Value,
    pending: usize,
) -> Result<Duration> {
    let applied = report["applied"].as_array().map_or(0, Vec::len);
    ensure!(
        report["outcome"] == "succeeded" && applied == pending,
        "the deploy applied {applied} of {pending}: {report}"
    );
    let ms = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let mut excluded = 0.0;
    let mut in_steps = 0.0;
    println!(
        "run {run}: {:.0} ms wall, {:.0} ms CPU (pgshift, pg_dump, pg_restore)",
        wall.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3
    );
    for step in report["steps"].as_array().into_iter().flatten() {
        let mut parts = Vec::new();
        for part in step["parts"].as_array().into_iter().flatten() {
            excluded += ms(&part["duration_ms"]);
            parts.push(format!(
                "{} {:.0} ms",
                part["name"].as_str().unwrap_or("?"),
                ms(&part["duration_ms"])
            ));
        }
        in_steps += ms(&step["duration_ms"]);
        let own = ms(&step["duration_ms"])
            - step["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| ms(&p["duration_ms"]))
                .sum::<f64>();
        println!(
            "  {:<12} {:>8.1} ms{}",
            step["name"].as_str().unwrap_or("?"),
            ms(&step["duration_ms"]),
            if parts.is_empty() {
                String::new()
            } else {
                format!("  ({}; pgshift {own:.0} ms)", parts.join(", "))
            }
        );
    }
    let wall_ms = wall.as_secs_f64() * 1e3;
    println!(
        "  {:<12} {:>8.1} ms  (process start, config, report, log row, waiting for the scratch \
         database's drop)",
        "outside steps",
        wall_ms - in_steps
    );
    let overhead = (wall_ms - excluded).max(0.0);
    println!(
        "  overhead: {overhead:.0} ms = {wall_ms:.0} ms wall - {excluded:.0} ms of pg_dump, restore and migrations"
    );
    Ok(Duration::from_secs_f64(overhead / 1e3))
}
