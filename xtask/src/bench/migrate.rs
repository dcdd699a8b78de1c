//! `cargo xtask bench migrate`: 1,000 one-CREATE-TABLE migrations applied to fresh databases
//! of one scratch cluster by pgshift's engine (in-process and through the real command) and by
//! sqlx's own `Migrator`, in the same run; the floor (the same SQL sent by psql in one
//! transaction, no bookkeeping); and `migrate-status` over the applied history, timed as a
//! whole process.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use pgshift::config::Config;
use pgshift::local::ScratchCluster;
use pgshift::migrations::{self, ApplyOptions, Mode};
use pgshift::target::{Target, UrlSource};
use sqlx::Connection;

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// How many migrations to create and apply.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Measured rounds (each on fresh databases, after one warm-up round); the best is shown.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// How many times to run `migrate-status`.
    #[arg(long, default_value_t = 10)]
    pub status_runs: usize,
    /// Sizes in MB of single large data migrations (INSERTs, as `pg_dump --inserts` writes
    /// them) applied by `migrate-deploy` beside psql; `--large-mb ''` skips them.
    #[arg(long, default_value = "1,4,20", value_delimiter = ',')]
    pub large_mb: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    ensure!(
        args.count > 0 && args.status_runs > 0 && args.rounds > 0,
        "--count, --rounds and --status-runs must be at least 1"
    );
    ctx.note("starting a scratch cluster...");
    let cluster = ScratchCluster::start()?;
    let project = tempfile::Builder::new()
        .prefix("pgshift-bench-")
        .tempdir()?;
    let folder = project.path().join("migrations");
    std::fs::create_dir_all(&folder)?;
    let mut all_sql = String::from("BEGIN;\n");
    for i in 1..=args.count {
        let sql = format!(
            "CREATE TABLE bench_{i} (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n"
        );
        std::fs::write(
            folder.join(format!(
                "{:014}_create_bench_{i}.sql",
                20270101000000u64 + i as u64
            )),
            &sql,
        )?;
        all_sql.push_str(&sql);
    }
    all_sql.push_str("COMMIT;\n");
    let mut admin = pgshift::db::connect(&cluster.url("postgres")).await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut admin)
        .await?;
    println!(
        "bench migrate: {} migrations (one CREATE TABLE each), PostgreSQL {version} scratch cluster on 127.0.0.1:{}, {} build, best of {} rounds",
        args.count,
        cluster.port(),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        args.rounds
    );
    let sql_file = project.path().join("all.sql");
    std::fs::write(&sql_file, &all_sql)?;
    let mut config = Config {
        root: project.path().to_path_buf(),
        ..Config::default()
    };
    config.paths.migrations = folder.clone();
    let target = |db: &str| Target {
        env: "local".into(),
        url: cluster.url(db),
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
    let migrator = sqlx::migrate::Migrator::new(folder.as_path()).await?;

    let [mut engine, mut cli, mut sqlx_times, mut floor] = [(); 4].map(|_| Vec::new());
    for round in 0..=args.rounds {
        for db in ["engine", "cli", "sqlx", "floor"] {
            sqlx::raw_sql(&format!("CREATE DATABASE {db}_{round}"))
                .execute(&mut admin)
                .await?;
        }
        // Each round starts with another contender, so that none always goes first.
        for turn in 0..4 {
            let started = Instant::now();
            let (contender, times) = match (turn + round) % 4 {
                0 => {
                    // pgshift's engine, in this process.
                    let report = migrations::apply_pending(
                        &config,
                        &target(&format!("engine_{round}")),
                        &options,
                        &mut |_| {},
                    )
                    .await?;
                    ensure!(
                        report.applied.len() == args.count,
                        "pgshift applied {} migrations",
                        report.applied.len()
                    );
                    ("engine", &mut engine)
                }
                1 => {
                    // sqlx's Migrator on the same folder and server (connecting included,
                    // as pgshift's figure includes it).
                    let url = cluster.url(&format!("sqlx_{round}"));
                    let mut conn = sqlx::PgConnection::connect(url.expose()).await?;
                    migrator.run(&mut conn).await?;
                    conn.close().await?;
                    ("sqlx", &mut sqlx_times)
                }
                2 => {
                    // The floor: the same SQL in one transaction through psql, no history.
                    let psql = pgshift::pgbin::PgBin::client("psql")?;
                    let status = Command::new(psql)
                        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
                        .arg(cluster.url(&format!("floor_{round}")).expose())
                        .arg("-f")
                        .arg(&sql_file)
                        .status()
                        .context("running psql")?;
                    ensure!(status.success(), "psql failed");
                    ("floor", &mut floor)
                }
                _ => {
                    // The real command, as a user runs it.
                    run_xtask(
                        project.path(),
                        &["migrate-deploy"],
                        &format!("cli_{round}"),
                        cluster.port(),
                    )?;
                    ("cli", &mut cli)
                }
            };
            let took = started.elapsed();
            tracing::debug!("round {round}: {contender} {took:?}");
            // Round 0 warms the cluster up: a fresh cluster's first big transactions pay
            // for WAL segments and cold caches.
            if round > 0 {
                times.push(took);
            }
        }
    }
    pgshift::db::close(admin).await;
    let mut status_times = Vec::new();
    let mut status_cpu = Vec::new();
    for _ in 0..args.status_runs {
        let (took, cpu, stdout) =
            run_xtask(project.path(), &["migrate-status"], "cli_1", cluster.port())?;
        ensure!(
            stdout
                .trim_end()
                .ends_with(&format!("{} applied", args.count)),
            "migrate-status did not report every migration applied:\n{stdout}"
        );
        status_times.push(took);
        status_cpu.push(cpu);
    }
    status_times.sort();
    status_cpu.sort();
    let best = |times: &[Duration]| times.iter().min().copied().unwrap_or_default();
    let (pgshift_time, cli_time, sqlx_time, floor_time) =
        (best(&engine), best(&cli), best(&sqlx_times), best(&floor));

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  pgshift engine (in-process)            {:>9.1} ms",
        ms(pgshift_time)
    );
    println!(
        "  pgshift `migrate-deploy` (whole process){:>8.1} ms",
        ms(cli_time)
    );
    println!(
        "  sqlx Migrator::run                     {:>9.1} ms",
        ms(sqlx_time)
    );
    println!(
        "  ratio pgshift/sqlx                     {:>9.2}   (whole process: {:.2})",
        ms(pgshift_time) / ms(sqlx_time),
        ms(cli_time) / ms(sqlx_time)
    );
    println!(
        "  floor: psql, same SQL, one transaction {:>9.1} ms   (pgshift engine = {:.1}x the floor)",
        ms(floor_time),
        ms(pgshift_time) / ms(floor_time)
    );
    let median = |t: &[Duration]| ms(t[t.len() / 2]);
    println!(
        "  migrate-status over {} applied, {} runs of the binary: wall median {:.1} ms (min {:.1}, max {:.1}); \
         CPU (user+sys) median {:.1} ms (min {:.1}, max {:.1})",
        args.count,
        status_times.len(),
        median(&status_times),
        ms(status_times[0]),
        ms(status_times[status_times.len() - 1]),
        median(&status_cpu),
        ms(status_cpu[0]),
        ms(status_cpu[status_cpu.len() - 1])
    );
    for size in args.large_mb.iter().filter(|s| !s.trim().is_empty()) {
        let mb: usize = size
            .trim()
            .parse()
            .with_context(|| format!("--large-mb: `{size}` is not a number of MB"))?;
        large_file(&cluster, mb).await?;
    }
    drop(cluster);
    Ok(ExitCode::SUCCESS)
}

/// One migration of `mb` MB of INSERTs: `migrate-deploy` (reading it with PostgreSQL's
/// parser, then sending it in one transaction) against psql running the same file in one
/// transaction (`psql -1 -f`), each on a fresh database.
async fn large_file(cluster: &ScratchCluster, mb: usize) -> Result<()> {
    let project = tempfile::Builder::new()
        .prefix("pgshift-bench-large-")
        .tempdir()?;
    let folder = project.path().join("migrations");
    std::fs::create_dir_all(&folder)?;
    let mut sql = String::from("CREATE TABLE big (id bigint PRIMARY KEY, name text, note text);\n");
    let mut rows = 0;
    while sql.len() < mb << 20 {
        sql.push_str(&format!(
            "INSERT INTO public.big (id, name, note) VALUES ({rows}, 'name {rows}; not the end', E'it\\'s\\n/* no comment */');\n"
        ));
        rows += 1;
    }
    let file = folder.join("20270101000000_big_data.sql");
    std::fs::write(&file, &sql)?;
    let mut admin = pgshift::db::connect(&cluster.url("postgres")).await?;
    for db in [format!("large_cli_{mb}"), format!("large_psql_{mb}")] {
        sqlx::raw_sql(&format!("CREATE DATABASE {db}"))
            .execute(&mut admin)
            .await?;
    }
    pgshift::db::close(admin).await;
    let (cli, _, _) = run_xtask(
        project.path(),
        &["migrate-deploy"],
        &format!("large_cli_{mb}"),
        cluster.port(),
    )?;
    let psql = pgshift::pgbin::PgBin::client("psql")?;
    let started = Instant::now();
    let status = Command::new(psql)
        .args(["-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(cluster.url(&format!("large_psql_{mb}")).expose())
        .arg("-f")
        .arg(&file)
        .status()
        .context("running psql")?;
    ensure!(status.success(), "psql failed");
    let floor = started.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {mb:>2} MB migration ({rows} INSERTs): migrate-deploy {:>8.1} ms, psql -1 -f {:>8.1} ms, ratio {:.2}",
        ms(cli),
        ms(floor),
        ms(cli) / ms(floor)
    );
    Ok(())
}

/// Runs this very binary with `args` in the project `dir`, its local database set to
/// `database`; returns its wall time, its CPU time (user + system) and stdout.
fn run_xtask(
    dir: &Path,
    args: &[&str],
    database: &str,
    port: u16,
) -> Result<(Duration, Duration, String)> {
    // The scratch cluster is not the project's own local database: reach it through `.env`.
    std::fs::write(
        dir.join(".env"),
        format!("DATABASE_URL=postgres://postgres@127.0.0.1:{port}/{database}\n"),
    )?;
    let exe = std::env::current_exe()?;
    let cpu_before = children_cpu();
    let started = Instant::now();
    let out = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()?;
    let took = started.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    ensure!(
        out.status.success(),
        "`{}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((took, cpu, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// User + system CPU time of every waited-for child so far.
pub(super) fn children_cpu() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(Duration::ZERO, |usage| {
        let tv = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
        };
        tv(usage.user_time()) + tv(usage.system_time())
    })
}
