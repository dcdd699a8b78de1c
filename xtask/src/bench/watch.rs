//! `cargo xtask bench watch`: the daemon's latency from a migration file written to that
//! migration applied and the bindings rewritten (p50, p95), and its idle footprint
//! (resident memory, CPU time and wakeups over a quiet period).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use pgshift::local::ScratchCluster;

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// How many edits to time.
    #[arg(long, default_value_t = 25)]
    edits: usize,
    /// How long to watch the idle daemon, in seconds.
    #[arg(long, default_value_t = 10)]
    idle_seconds: u64,
    /// `[backup] schedule` of the project, so that the idle figures include the armed
    /// backup timer; `--backup-schedule ''` runs without one.
    #[arg(long, default_value = "0 0 3 * * *")]
    backup_schedule: String,
}

pub async fn run(_ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let scratch = ScratchCluster::start()?;
    let project = tempfile::Builder::new()
        .prefix("pgshift-bench-watch-")
        .tempdir()?;
    std::fs::set_permissions(project.path(), std::fs::Permissions::from_mode(0o755))?;
    std::fs::create_dir_all(project.path().join("migrations"))?;
    // The scratch cluster is not the project's own local database: reach it through `.env`.
    std::fs::write(
        project.path().join(".env"),
        format!("DATABASE_URL={}\n", scratch.url("postgres").expose()),
    )?;
    if !args.backup_schedule.is_empty() {
        std::fs::write(
            project.path().join("pgshift.toml"),
            format!("[backup]\nschedule = {:?}\n", args.backup_schedule),
        )?;
    }

    let mut child = KillOnDrop(
        std::process::Command::new(std::env::current_exe()?)
            .arg("watch")
            .current_dir(project.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the daemon")?,
    );
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = child.0.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Ok(()),
                Ok(line) if line.contains("ERROR") => bail!("the daemon failed: {line}"),
                Ok(_) => {}
                Err(_) => bail!("timed out waiting for the daemon to print {needle:?}"),
            }
        }
    };
    wait_for("watching")?;
    // The first sync generates the (empty) bindings.
    wait_for("bindings")?;

    let mut latencies = Vec::with_capacity(args.edits);
    for i in 0..args.edits {
        let name = format!("{:014}_bench_{i}.sql", 20260101000000u64 + i as u64);
        let path = project.path().join("migrations").join(&name);
        let started = Instant::now();
        std::fs::write(
            &path,
            format!("CREATE TABLE bench_{i} (id bigint PRIMARY KEY, label text);\n"),
        )?;
        wait_for(&format!("applied {name}"))?;
        wait_for("bindings updated")?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "latency over {} edits (write -> applied + bindings rewritten): p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms (debounce {} ms included)",
        latencies.len(),
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(*latencies.last().unwrap()),
        pgshift_daemon::DEFAULT_DEBOUNCE.as_millis()
    );

    let pid = child.0.id();
    std::thread::sleep(Duration::from_secs(1));
    let before = ProcSample::read(pid)?;
    std::thread::sleep(Duration::from_secs(args.idle_seconds));
    let after = ProcSample::read(pid)?;
    println!(
        "idle for {} s ({}): resident memory {:.1} MB, CPU time {} ms, wakeups {}",
        args.idle_seconds,
        if args.backup_schedule.is_empty() {
            "no backup schedule".to_string()
        } else {
            format!("[backup] schedule = {:?}", args.backup_schedule)
        },
        after.rss_kb as f64 / 1024.0,
        (after.cpu_ticks - before.cpu_ticks) * 1000 / ticks_per_second(),
        after.switches - before.switches
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    child.0.wait()?;
    Ok(ExitCode::SUCCESS)
}

/// The daemon under test, killed if the benchmark stops early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Memory, CPU time and context switches of a process and all its threads, from /proc.
struct ProcSample {
    rss_kb: u64,
    cpu_ticks: u64,
    switches: u64,
}

impl ProcSample {
    fn read(pid: u32) -> Result<ProcSample> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name (which may contain spaces) start at index 2.
        let after_comm: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace()
            .collect();
        let utime: u64 = after_comm.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
        let stime: u64 = after_comm.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        // Context switches summed over every thread: a thread that polls shows up here.
        let mut switches = 0;
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let text = std::fs::read_to_string(task?.path().join("status")).unwrap_or_default();
            for line in text.lines() {
                if let Some(v) = line
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    switches += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
        Ok(ProcSample {
            rss_kb: field("VmRSS:"),
            cpu_ticks: utime + stime,
            switches,
        })
    }
}

fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |t| t as u64)
}
