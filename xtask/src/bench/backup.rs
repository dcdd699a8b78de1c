//! `cargo xtask bench backup`: a database of about 1 GB (`pgbench -i -s 60` plus a few
//! hundred smaller tables) on a scratch cluster, and a second one holding only the small
//! tables (the multi-table part). In the same run: raw `pg_dump -Fc` against pgshift
//! `backup` (verification included), raw `pg_restore` against pgshift `restore`, and the
//! `--jobs 2` directory-format backup and restore against the single-job tools. pgshift is
//! timed as a whole process, as users run it; the raw tools get the same flags it passes.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use pgshift::local::ScratchCluster;
use pgshift::pgbin::PgBin;

use super::migrate::children_cpu;
use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// pgbench scale factor (60 is about 900 MB; 1 for a quick run).
    #[arg(long, default_value_t = 60)]
    pub scale: u32,
    /// How many smaller tables beside pgbench's.
    #[arg(long, default_value_t = 300)]
    pub tables: u32,
    /// Rows in each smaller table.
    #[arg(long, default_value_t = 5000)]
    pub rows: u32,
    /// Measured rounds; the best of each figure is shown.
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
}

/// One timed run: wall time and the CPU time of the process and its children.
#[derive(Clone, Copy, Default)]
struct Timed {
    wall: Duration,
    cpu: Duration,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    ensure!(
        args.scale > 0 && args.rounds > 0,
        "--scale and --rounds must be at least 1"
    );
    ctx.note("starting a scratch cluster...");
    let cluster = ScratchCluster::start()?;
    let project = tempfile::Builder::new()
        .prefix("pgshift-bench-backup-")
        .tempdir()?;
    std::fs::create_dir_all(project.path().join("migrations"))?;
    std::fs::write(project.path().join("pgshift.toml"), "")?;
    let raw_dir = project.path().join("raw");
    std::fs::create_dir_all(&raw_dir)?;

    let mut admin = pgshift::db::connect(&cluster.url("postgres")).await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut admin)
        .await?;
    for db in ["bench", "many"] {
        sqlx::raw_sql(&format!("CREATE DATABASE {db}"))
            .execute(&mut admin)
            .await?;
    }
    ctx.note(&format!(
        "loading pgbench scale {} and {} tables of {} rows...",
        args.scale, args.tables, args.rows
    ));
    let loading = Instant::now();
    let pgbench = PgBin::client("pgbench")?;
    let out = Command::new(&pgbench)
        .args(["-i", "-q", "-s", &args.scale.to_string()])
        .arg(cluster.url("bench").expose())
        .stdin(Stdio::null())
        .output()
        .context("running pgbench -i")?;
    ensure!(
        out.status.success(),
        "pgbench -i failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for db in ["bench", "many"] {
        small_tables(&cluster, db, args.tables, args.rows).await?;
    }
    let size = "SELECT pg_database_size($1)";
    let bench_size: i64 = sqlx::query_scalar(size)
        .bind("bench")
        .fetch_one(&mut admin)
        .await?;
    let many_size: i64 = sqlx::query_scalar(size)
        .bind("many")
        .fetch_one(&mut admin)
        .await?;
    println!(
        "bench backup: PostgreSQL {version} scratch cluster on 127.0.0.1:{}, {} build, best of {} round(s); loaded in {:.0} s",
        cluster.port(),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        args.rounds,
        loading.elapsed().as_secs_f64()
    );

    let bench = Bench {
        cluster: &cluster,
        project: project.path(),
        raw_dir: &raw_dir,
        pg_dump: PgBin::client("pg_dump")?,
        pg_restore: PgBin::client("pg_restore")?,
    };
    let mut restores = 0;
    for (db, title, bytes) in [
        (
            "bench",
            format!(
                "whole database `bench` (pgbench scale {}, {} accounts, + {} tables of {} rows)",
                args.scale,
                args.scale as u64 * 100_000,
                args.tables,
                args.rows
            ),
            bench_size,
        ),
        (
            "many",
            format!(
                "multi-table part `many` ({} tables of {} rows)",
                args.tables, args.rows
            ),
            many_size,
        ),
    ] {
        println!("{title}: {:.0} MB", bytes as f64 / 1e6);
        let mut rounds = Vec::new();
        for round in 0..args.rounds {
            rounds.push(bench.round(&mut admin, db, round, &mut restores).await?);
        }
        Figures::print(&rounds);
    }
    pgshift::db::close(admin).await;
    drop(project);
    drop(cluster);
    Ok(ExitCode::SUCCESS)
}

/// `count` tables of `rows` rows each in `db`: a key, text, a time and a number.
async fn small_tables(cluster: &ScratchCluster, db: &str, count: u32, rows: u32) -> Result<()> {
    let mut conn = pgshift::db::connect(&cluster.url(db)).await?;
    for chunk in (0..count).collect::<Vec<_>>().chunks(25) {
        let mut sql = String::new();
        for i in chunk {
            sql.push_str(&format!(
                "CREATE TABLE t_{i} (id int PRIMARY KEY, name text NOT NULL, \
                 created_at timestamptz NOT NULL, amount numeric(12, 2));\n\
                 INSERT INTO t_{i} SELECT g, 'name ' || g || ' of table {i}', \
                 timestamptz '2026-01-01' + g * interval '1 minute', g * 1.25 \
                 FROM generate_series(1, {rows}) g;\n"
            ));
        }
        sqlx::raw_sql(&sql).execute(&mut conn).await?;
    }
    sqlx::raw_sql("VACUUM ANALYZE").execute(&mut conn).await?;
    pgshift::db::close(conn).await;
    Ok(())
}

/// One timed command of a round: a raw tool or pgshift, single job or `--jobs 2`.
#[derive(Clone, Copy)]
enum Step {
    Raw,
    Ours,
    RawJobs,
    OursJobs,
}

impl Step {
    /// Each raw tool right beside its pgshift command (A B B A), so that a pair sees the
    /// same load, and which of a pair goes first alternating by round.
    fn order(round: u32) -> [Step; 4] {
        use Step::*;
        if round % 2 == 0 {
            [Raw, Ours, OursJobs, RawJobs]
        } else {
            [Ours, Raw, RawJobs, OursJobs]
        }
    }
}

struct Bench<'a> {
    cluster: &'a ScratchCluster,
    project: &'a Path,
    raw_dir: &'a Path,
    pg_dump: PathBuf,
    pg_restore: PathBuf,
}

/// The figures of one database, best of the rounds.
#[derive(Clone, Copy, Default)]
struct Figures {
    dump: Timed,
    backup: Timed,
    restore_raw: Timed,
    restore: Timed,
    dump_j2: Timed,
    backup_j2: Timed,
    restore_raw_j2: Timed,
    restore_j2: Timed,
    archive_bytes: u64,
}

impl Figures {
    fn min(&self, other: &Figures) -> Figures {
        let pick = |a: Timed, b: Timed| {
            if a.wall.is_zero() || (!b.wall.is_zero() && b.wall < a.wall) {
                b
            } else {
                a
            }
        };
        Figures {
            dump: pick(self.dump, other.dump),
            backup: pick(self.backup, other.backup),
            restore_raw: pick(self.restore_raw, other.restore_raw),
            restore: pick(self.restore, other.restore),
            dump_j2: pick(self.dump_j2, other.dump_j2),
            backup_j2: pick(self.backup_j2, other.backup_j2),
            restore_raw_j2: pick(self.restore_raw_j2, other.restore_raw_j2),
            restore_j2: pick(self.restore_j2, other.restore_j2),
            archive_bytes: other.archive_bytes.max(self.archive_bytes),
        }
    }

    /// The best of each figure, their ratio, and the median of the ratios within a round
    /// (each pair ran back to back, so it saw the same load).
    fn print(rounds: &[Figures]) {
        let best = rounds.iter().fold(Figures::default(), |a, b| a.min(b));
        let s = |t: Timed| t.wall.as_secs_f64();
        let median_ratio = |pick: &dyn Fn(&Figures) -> (Timed, Timed)| {
            let mut ratios: Vec<f64> = rounds
                .iter()
                .map(|f| {
                    let (raw, ours) = pick(f);
                    s(ours) / s(raw)
                })
                .collect();
            ratios.sort_by(f64::total_cmp);
            ratios[ratios.len() / 2]
        };
        let line = |what: &str, pick: &dyn Fn(&Figures) -> (Timed, Timed), note: &str| {
            let (raw, ours) = pick(&best);
            println!(
                "  {what:<34} {:>8.2} s {:>8.2} s {:>7.3} {:>7.3}   CPU {:>6.2} s / {:>6.2} s{note}",
                s(raw),
                s(ours),
                s(ours) / s(raw),
                median_ratio(pick),
                raw.cpu.as_secs_f64(),
                ours.cpu.as_secs_f64()
            );
        };
        println!(
            "  {:<34} {:>10} {:>10} {:>7} {:>7}   CPU raw / pgshift (client side)",
            "", "raw tool", "pgshift", "ratio", "paired"
        );
        line(
            "backup -Fc (pgshift: + verify)",
            &|f| (f.dump, f.backup),
            &format!(
                "   archive {:.1} MB; target <= 1.05",
                best.archive_bytes as f64 / 1e6
            ),
        );
        line("restore, 1 job", &|f| (f.restore_raw, f.restore), "");
        line(
            "backup --jobs 2 (directory)",
            &|f| (f.dump_j2, f.backup_j2),
            "",
        );
        line(
            "restore --jobs 2",
            &|f| (f.restore_raw_j2, f.restore_j2),
            "",
        );
        let this = best;
        println!(
            "  --jobs 2 against the single-job tools: backup {:.2}x pg_dump -Fc ({:.2}x for pgshift), \
             restore {:.2}x pg_restore ({:.2}x for pgshift)",
            s(this.dump_j2) / s(this.dump),
            s(this.backup_j2) / s(this.backup),
            s(this.restore_raw_j2) / s(this.restore_raw),
            s(this.restore_j2) / s(this.restore),
        );
    }
}

impl Bench<'_> {
    /// Every figure once for `db`.
    async fn round(
        &self,
        admin: &mut sqlx::PgConnection,
        db: &str,
        round: u32,
        restores: &mut u32,
    ) -> Result<Figures> {
        let mut f = Figures::default();
        let raw_file = self.raw_dir.join(format!("{db}-{round}.dump"));
        let raw_folder = self.raw_dir.join(format!("{db}-{round}.dir"));
        let backups = self.project.join(".pgshift/backups/local");
        let mut ours_file = None;
        let mut ours_folder = None;
        for step in Step::order(round) {
            match step {
                Step::Raw => {
                    f.dump = self.tool(
                        &self.pg_dump,
                        &[
                            "--format=custom",
                            "--file",
                            path(&raw_file),
                            "--dbname",
                            &self.url(db),
                        ],
                    )?;
                }
                Step::RawJobs => {
                    f.dump_j2 = self.tool(
                        &self.pg_dump,
                        &[
                            "--format=directory",
                            "--jobs=2",
                            "--file",
                            path(&raw_folder),
                            "--dbname",
                            &self.url(db),
                        ],
                    )?;
                }
                Step::Ours => {
                    let before = newest(&backups);
                    f.backup = self.xtask(&["backup", "-q"], db)?;
                    ours_file = Some(new_archive(&backups, before.as_deref())?);
                }
                Step::OursJobs => {
                    let before = newest(&backups);
                    f.backup_j2 = self.xtask(&["backup", "-q", "--jobs", "2"], db)?;
                    ours_folder = Some(new_archive(&backups, before.as_deref())?);
                }
            }
        }
        f.archive_bytes = std::fs::metadata(&raw_file)?.len();
        let ours_file = ours_file.expect("backed up");
        let ours_folder = ours_folder.expect("backed up");
        let restore_flags = ["--clean", "--if-exists", "--no-owner", "--no-privileges"];
        for step in Step::order(round) {
            let target = self.fresh_database(admin, restores).await?;
            let url = self.url(&target);
            let mut args = restore_flags.to_vec();
            match step {
                Step::Raw => {
                    args.extend(["--single-transaction", "--dbname", &url, path(&raw_file)]);
                    f.restore_raw = self.tool(&self.pg_restore, &args)?;
                }
                Step::RawJobs => {
                    args.extend(["--jobs=2", "--dbname", &url, path(&raw_folder)]);
                    f.restore_raw_j2 = self.tool(&self.pg_restore, &args)?;
                }
                Step::Ours => {
                    f.restore = self.xtask(
                        &["restore", "-q", path(&ours_file), "--database", &target],
                        db,
                    )?;
                }
                Step::OursJobs => {
                    f.restore_j2 = self.xtask(
                        &[
                            "restore",
                            "-q",
                            path(&ours_folder),
                            "--database",
                            &target,
                            "--jobs",
                            "2",
                        ],
                        db,
                    )?;
                }
            }
            self.drop_database(admin, &target).await?;
        }
        // The archives are not needed again; the disk is.
        for archive in [&raw_file, &raw_folder] {
            remove(archive);
        }
        for entry in std::fs::read_dir(&backups)?.flatten() {
            remove(&entry.path());
        }
        Ok(f)
    }

    fn url(&self, db: &str) -> String {
        self.cluster.url(db).expose().to_string()
    }

    /// A PostgreSQL program, timed.
    fn tool(&self, program: &Path, args: &[&str]) -> Result<Timed> {
        let cpu = children_cpu();
        let started = Instant::now();
        let out = Command::new(program)
            .args(args)
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", program.display()))?;
        let wall = started.elapsed();
        ensure!(
            out.status.success(),
            "{} {} failed: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Timed {
            wall,
            cpu: children_cpu().saturating_sub(cpu),
        })
    }

    /// This very binary with `args` in the project, its local database `db`, timed.
    fn xtask(&self, args: &[&str], db: &str) -> Result<Timed> {
        // The scratch cluster is not the project's own local database: reach it through `.env`.
        std::fs::write(
            self.project.join(".env"),
            format!("DATABASE_URL={}\n", self.url(db)),
        )?;
        let cpu = children_cpu();
        let started = Instant::now();
        let out = Command::new(std::env::current_exe()?)
            .args(args)
            .current_dir(self.project)
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .output()?;
        let wall = started.elapsed();
        ensure!(
            out.status.success(),
            "`cargo xtask {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Timed {
            wall,
            cpu: children_cpu().saturating_sub(cpu),
        })
    }

    async fn fresh_database(
        &self,
        admin: &mut sqlx::PgConnection,
        restores: &mut u32,
    ) -> Result<String> {
        *restores += 1;
        let name = format!("restored_{restores}");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut *admin)
            .await?;
        Ok(name)
    }

    async fn drop_database(&self, admin: &mut sqlx::PgConnection, name: &str) -> Result<()> {
        sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(admin)
            .await?;
        Ok(())
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

fn remove(p: &Path) {
    let _ = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
}

/// The newest archive (not a manifest) in the backup folder.
fn newest(dir: &Path) -> Option<PathBuf> {
    let mut archives: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            !name.starts_with('.') && !name.ends_with(".json")
        })
        .collect();
    archives.sort();
    archives.pop()
}

fn new_archive(dir: &Path, before: Option<&Path>) -> Result<PathBuf> {
    let newest = newest(dir).context("pgshift backup wrote no archive")?;
    ensure!(
        Some(newest.as_path()) != before,
        "pgshift backup wrote no new archive"
    );
    Ok(newest)
}
