//! The end-to-end test harness: one embedded PostgreSQL cluster per test binary, one fresh
//! database per test, and helpers that run the real `cargo xtask` binary in a temporary
//! project (ripgrep's tests/util.rs is the model: a failure prints the command, the folder,
//! stdout and stderr).
#![allow(dead_code)]

pub mod prod;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use pgshift::local::ScratchCluster;

/// The cluster shared by the tests of one binary, started on first use and gone when the
/// test binary exits (see `ScratchCluster`).
pub fn cluster() -> &'static ScratchCluster {
    static CLUSTER: OnceLock<ScratchCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        ScratchCluster::start().unwrap_or_else(|e| panic!("cannot start the test cluster: {e:#}"))
    })
}

#[allow(unused_imports)]
pub use pgshift::local::scratch::free_port;
#[allow(unused_imports)]
pub use prod::prod_cluster;

/// A temporary folder that the `postgres` system user can reach (tempfile's are 0700),
/// removed by the caller or the watchdog.
pub fn public_tempdir(prefix: &str) -> PathBuf {
    pgshift::local::scratch::public_tempdir(prefix).unwrap()
}

/// A fresh database on the shared cluster.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let db = TestDb { name };
        psql(
            cluster().url("postgres").expose(),
            &format!("CREATE DATABASE {}", db.name),
        );
        db
    }

    pub fn url(&self) -> String {
        cluster().url(&self.name).expose().to_string()
    }

    /// Runs SQL through psql and returns its unaligned output, rows on lines, fields split
    /// by `|`.
    pub fn sql(&self, sql: &str) -> String {
        psql(&self.url(), sql)
    }

    /// Like `sql`, but returns psql's error instead of panicking.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        try_psql(&self.url(), sql)
    }
}

pub fn psql(url: &str, sql: &str) -> String {
    try_psql(url, sql).unwrap_or_else(|e| panic!("psql failed on {sql}:\n{e}"))
}

pub fn try_psql(url: &str, sql: &str) -> Result<String, String> {
    let psql = pgshift::pgbin::PgBin::client("psql").unwrap();
    let out = Command::new(psql)
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// A temporary pgshift project: a folder with `pgshift.toml` and `migrations/`, whose local
/// database is a fresh database on the shared cluster.
pub struct Project {
    pub dir: PathBuf,
    pub db: TestDb,
}

impl Project {
    /// A project whose local database is a fresh database of the shared cluster.
    pub fn new() -> Project {
        let mut project = Project::empty();
        project.db = TestDb::new();
        // The shared cluster is not this project's own, so the project reaches it the way
        // a user reaches a database they run themselves: DATABASE_URL in `.env`.
        project.write(
            "pgshift.toml",
            &format!(
                "[local]\nbackend = \"embedded\"\ndatabase = \"{}\"\nport = {}\n",
                project.db.name,
                free_port()
            ),
        );
        project.write(".env", &format!("DATABASE_URL={}\n", project.db.url()));
        project
    }

    /// A project folder with no config and no database.
    pub fn empty() -> Project {
        let dir = public_tempdir("pgshift-test-project");
        std::fs::create_dir_all(dir.join("migrations")).unwrap();
        Project {
            dir,
            db: TestDb {
                name: String::new(),
            },
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    pub fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn append(&self, relative: &str, contents: &str) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join(relative))
            .unwrap();
        file.write_all(contents.as_bytes()).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.dir.join(relative)).unwrap()
    }

    /// The `cargo xtask` command, to run in this project.
    pub fn xtask<I, S>(&self, args: I) -> TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .env_remove("PGSHIFT_LOG")
            .stdin(Stdio::null());
        TestCommand {
            command,
            dir: self.dir.clone(),
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Only on success: a failing test keeps its folder for a look.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A command about to run, with assertions that print everything on failure.
pub struct TestCommand {
    pub command: Command,
    dir: PathBuf,
}

impl TestCommand {
    pub fn env_remove(mut self, key: &str) -> TestCommand {
        self.command.env_remove(key);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> TestCommand {
        self.command.env(key, value);
        self
    }

    /// One more argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> TestCommand {
        self.command.arg(arg);
        self
    }

    pub fn output(&mut self) -> Output {
        self.command.output().expect("run xtask")
    }

    /// Runs and expects success; returns stdout.
    pub fn stdout(&mut self) -> String {
        let out = self.output();
        if !out.status.success() {
            panic!("{}", self.describe("expected success", &out));
        }
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Runs and expects success; returns stdout and stderr together.
    pub fn ok(&mut self) -> Output {
        let out = self.output();
        if !out.status.success() {
            panic!("{}", self.describe("expected success", &out));
        }
        out
    }

    /// Runs and expects exit code `code`; returns stderr.
    pub fn fails_with(&mut self, code: i32) -> String {
        let out = self.output();
        if out.status.code() != Some(code) {
            panic!(
                "{}",
                self.describe(&format!("expected exit code {code}"), &out)
            );
        }
        String::from_utf8_lossy(&out.stderr).to_string()
    }

    fn describe(&self, expectation: &str, out: &Output) -> String {
        format!(
            "\n{expectation}, got {}\n\nCOMMAND: {:?}\nFOLDER: {}\n\nSTDOUT:\n{}\n\nSTDERR:\n{}\n",
            out.status,
            self.command,
            self.dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

/// Output as text, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// A project whose embedded cluster is stopped when the test ends, even on a panic.
pub struct EmbeddedProject(Project);

impl EmbeddedProject {
    pub fn new() -> EmbeddedProject {
        let project = Project::empty();
        project.write(
            "pgshift.toml",
            &format!(
                "[local]\nbackend = \"embedded\"\ndatabase = \"clinic\"\nport = {}\n",
                free_port()
            ),
        );
        // A killed test run must not leave this project's server running.
        pgshift::local::scratch::spawn_watchdog(&project.path(".pgshift/embedded/data"), None)
            .unwrap();
        EmbeddedProject(project)
    }
}

impl Drop for EmbeddedProject {
    fn drop(&mut self) {
        let _ = self.0.xtask(["db", "down"]).output();
    }
}

impl std::ops::Deref for EmbeddedProject {
    type Target = Project;
    fn deref(&self) -> &Project {
        &self.0
    }
}
