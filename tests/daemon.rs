//! The watcher daemon, driven for real: `cargo xtask watch` runs as a child process, the
//! tests write real files into the watched folder, and read its log lines and the database.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Project, TestDb};

/// A running `cargo xtask watch`, its stderr collected line by line.
struct Watch {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Watch {
    fn start(p: &Project) -> Watch {
        Watch::start_with(p, &["watch"])
    }

    fn start_with(p: &Project, args: &[&str]) -> Watch {
        let mut command = p.xtask(args).command;
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn xtask watch");
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let watch = Watch { child, log };
        watch.wait_for("watching");
        watch
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` (at most 30 s), and returns the log.
    fn wait_for(&self, needle: &str) -> String {
        self.wait_until(|log| log.contains(needle), needle)
    }

    /// Waits until `needle` appears in the log after the first `marker`.
    fn wait_for_after(&self, marker: &str, needle: &str) -> String {
        self.wait_until(
            |log| {
                log.find(marker)
                    .is_some_and(|at| log[at..].contains(needle))
            },
            &format!("{needle} after {marker}"),
        )
    }

    fn wait_until(&self, done: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if done(&log) {
                return log;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what:?}; daemon log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the daemon did not exit on SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn tables(db: &TestDb) -> String {
    db.sql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '\\_%'")
}

#[test]
fn applies_a_new_file_and_regenerates_the_bindings() {
    let p = Project::new();
    let w = Watch::start(&p);
    p.write(
        "migrations/20260101000000_create_patient.sql",
        "CREATE TABLE patient (id bigint PRIMARY KEY, full_name text NOT NULL);\n",
    );
    w.wait_for_after(
        "applied 20260101000000_create_patient.sql",
        "bindings updated",
    );
    w.wait_for_after(
        "bindings updated",
        "synced 1 migration, bindings updated, in",
    );
    assert_eq!(tables(&p.db), "patient");
    let bindings = p.read("crates/db-schema/src/generated.rs");
    assert!(bindings.contains("pub struct Patient"), "{bindings}");
    assert!(bindings.contains("pub full_name: String"), "{bindings}");
}

#[test]
fn vim_style_save_is_applied_once() {
    let p = Project::new();
    let w = Watch::start(&p);
    // vim probes the folder with a file named 4913, keeps a swap file, writes the new
    // content to a temporary name and renames it over the original.
    p.write("migrations/4913", "");
    std::fs::remove_file(p.path("migrations/4913")).unwrap();
    p.write("migrations/.20260101000000_vim.sql.swp", "b0VIM garbage");
    p.write(
        "migrations/20260101000000_vim.sql~",
        "CREATE TABLE from_vim (id int);\n",
    );
    std::fs::rename(
        p.path("migrations/20260101000000_vim.sql~"),
        p.path("migrations/20260101000000_vim.sql"),
    )
    .unwrap();
    w.wait_for("applied 20260101000000_vim.sql");
    std::thread::sleep(Duration::from_millis(500));
    let log = w.log();
    assert_eq!(
        log.matches("applied 20260101000000_vim.sql").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("swp") && !log.contains("edited"), "{log}");
    assert_eq!(tables(&p.db), "from_vim");
}

#[test]
fn a_file_held_open_while_written_slowly_is_applied_once_complete() {
    let p = Project::new();
    let w = Watch::start(&p);
    let path = p.path("migrations/20260101000000_slow.sql");
    let mut file = std::fs::File::create(&path).unwrap();
    use std::io::Write;
    file.write_all(b"CREATE TABLE slow_a (id int);\n").unwrap();
    file.flush().unwrap();
    // Far longer than the debounce: only the open file tells the daemon it is not done.
    std::thread::sleep(Duration::from_millis(800));
    file.write_all(b"CREATE TABLE slow_b (id int);\n").unwrap();
    drop(file);
    w.wait_for("applied 20260101000000_slow.sql");
    std::thread::sleep(Duration::from_millis(300));
    let log = w.log();
    assert_eq!(
        log.matches("applied 20260101000000_slow.sql").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("edited"), "{log}");
    assert_eq!(tables(&p.db), "slow_a,slow_b");
}

#[test]
fn a_removed_and_recreated_migrations_folder_is_watched_again() {
    let p = Project::new();
    let w = Watch::start(&p);
    std::fs::remove_dir_all(p.path("migrations")).unwrap();
    w.wait_for("was removed or moved");
    std::fs::create_dir(p.path("migrations")).unwrap();
    w.wait_for("again");
    p.write(
        "migrations/20260101000000_back.sql",
        "CREATE TABLE back (id int);\n",
    );
    w.wait_for("applied 20260101000000_back.sql");
    assert_eq!(tables(&p.db), "back");
}

#[test]
fn refuses_a_dotenv_database_on_another_machine() {
    let p = Project::new();
    p.write(
        ".env",
        "DATABASE_URL=postgres://app@192.0.2.1:5432/shared_dev\n",
    );
    let err = p.xtask(["watch"]).fails_with(2);
    assert!(err.contains("not on this machine"), "{err}");
    assert!(err.contains("192.0.2.1:5432/shared_dev"), "{err}");
}

#[test]
fn daemon_start_reports_a_daemon_that_cannot_watch() {
    let p = Project::new();
    std::fs::remove_dir_all(p.path("migrations")).unwrap();
    let err = p.xtask(["daemon", "start"]).fails_with(1);
    assert!(err.contains("exited at once"), "{err}");
    assert!(err.contains("the folder does not exist"), "{err}");
}

#[test]
fn a_file_written_in_two_chunks_is_applied_once_complete() {
    let p = Project::new();
    let w = Watch::start(&p);
    let path = p.path("migrations/20260101000000_chunks.sql");
    let mut file = std::fs::File::create(&path).unwrap();
    use std::io::Write;
    file.write_all(b"CREATE TABLE chunked (\n    id int,\n")
        .unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(30));
    file.write_all(b"    second text\n);\n").unwrap();
    drop(file);
    w.wait_for("applied 20260101000000_chunks.sql");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        w.count("applied 20260101000000_chunks.sql"),
        1,
        "{}",
        w.log()
    );
    assert_eq!(
        p.db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'chunked'"),
        "2"
    );
    // The file stayed open between the chunks, so the first half was never even attempted.
    assert!(!w.log().contains("ERROR"), "{}", w.log());
}

#[test]
fn editor_litter_and_empty_files_are_ignored() {
    let p = Project::new();
    let w = Watch::start(&p);
    p.write("migrations/.20260101000000_x.sql.swp", "not sql at all");
    p.write("migrations/20260101000000_x.sql.tmp", "not sql at all");
    p.write("migrations/notes.txt", "not sql at all");
    p.write(
        "migrations/20260101000001_marker.sql",
        "CREATE TABLE marker (id int);\n",
    );
    w.wait_for("applied 20260101000001_marker.sql");
    // A file that is still `migrate-new`'s template waits, and so does what follows it.
    let template = |name: &str| {
        format!("-- {name}: created 2026-01-01 00:00:00 UTC.\n-- Runs in one transaction; to opt out, make `-- no-transaction` the first line.\n-- `cargo xtask lint` reviews it; acknowledge a finding with `-- pgshift:allow RULE reason`\n-- on the line before the statement.\n\n")
    };
    p.write("migrations/20260101000002_empty.sql", &template("empty"));
    p.write(
        "migrations/20260101000003_template.sql",
        &template("template"),
    );
    p.write(
        "migrations/20260101000004_after.sql",
        "CREATE TABLE after (id int);\n",
    );
    w.wait_for("20260101000002_empty.sql is still the empty template");
    let log = w.log();
    assert!(!log.contains("20260101000000_x"), "{log}");
    assert!(!log.contains("applied 20260101000002_empty.sql"), "{log}");
    assert_eq!(tables(&p.db), "marker");
    // Once written, they are applied in order.
    p.write(
        "migrations/20260101000002_empty.sql",
        "CREATE TABLE filled (id int);\n",
    );
    w.wait_for("20260101000003_template.sql is still the empty template");
    p.write(
        "migrations/20260101000003_template.sql",
        &format!("{}CREATE TABLE patient (id int);\n", template("template")),
    );
    w.wait_for("applied 20260101000004_after.sql");
    assert_eq!(tables(&p.db), "after,filled,marker,patient");
}

#[test]
fn a_burst_of_files_is_applied_in_order_with_few_regenerations() {
    let p = Project::new();
    let w = Watch::start(&p);
    let before = w.count("bindings updated");
    for i in 0..50 {
        p.write(
            &format!("migrations/202601010000{i:02}_step_{i:02}.sql"),
            &format!("CREATE TABLE step_{i:02} (id int);\nINSERT INTO burst_order VALUES ({i}) ON CONFLICT DO NOTHING;\n")
                .replace("INSERT INTO burst_order VALUES (0) ON CONFLICT DO NOTHING;\n", "CREATE TABLE burst_order (n int PRIMARY KEY);\nINSERT INTO burst_order VALUES (0);\n"),
        );
    }
    w.wait_for("applied 20260101000049_step_49.sql");
    w.wait_until(
        |log| {
            log.matches("bindings ").count() > 0
                && log.lines().last().is_some_and(|l| l.contains("bindings"))
        },
        "bindings after the burst",
    );
    let log = w.log();
    let order: Vec<usize> = log
        .lines()
        .filter(|l| l.contains("applied 2026"))
        .filter_map(|l| l.split("_step_").nth(1))
        .map(|rest| rest[..2].parse().unwrap())
        .collect();
    assert_eq!(order, (0..50).collect::<Vec<_>>(), "{log}");
    assert_eq!(p.db.sql("SELECT count(*) FROM burst_order"), "50");
    let regenerations = w.count("bindings updated") - before;
    assert!(
        (1..=5).contains(&regenerations),
        "{regenerations} regenerations for 50 files:\n{log}"
    );
}

#[test]
fn bad_sql_is_reported_then_the_fixed_file_is_applied() {
    let p = Project::new();
    let w = Watch::start(&p);
    p.write(
        "migrations/20260101000000_bad.sql",
        "CREATE TABLE ok_part (id int);\n\nCREATE TABLE broken (id int,, x);\n",
    );
    w.wait_for("20260101000000_bad.sql");
    let log = w.wait_until(|l| l.contains("line 3"), "the error with its line");
    assert!(log.contains("syntax error"), "{log}");
    // Nothing of the failed file is applied.
    assert_eq!(tables(&p.db), "");
    p.write(
        "migrations/20260101000000_bad.sql",
        "CREATE TABLE ok_part (id int);\n\nCREATE TABLE fixed (id int, x int);\n",
    );
    w.wait_for("applied 20260101000000_bad.sql");
    assert_eq!(tables(&p.db), "fixed,ok_part");
    // The daemon is still alive and applies the next file.
    p.write(
        "migrations/20260101000001_next.sql",
        "CREATE TABLE next_one (id int);\n",
    );
    w.wait_for("applied 20260101000001_next.sql");
}

#[test]
fn an_edit_to_an_applied_file_is_reported_not_applied() {
    let p = Project::new();
    let w = Watch::start(&p);
    p.write(
        "migrations/20260101000000_first.sql",
        "CREATE TABLE first (id int);\n",
    );
    w.wait_for("applied 20260101000000_first.sql");
    p.write(
        "migrations/20260101000000_first.sql",
        "CREATE TABLE first (id int);\nCREATE TABLE sneaky (id int);\n",
    );
    let log = w.wait_for("migrate-reset");
    assert!(log.contains("20260101000000_first.sql"), "{log}");
    assert!(log.contains("edited"), "{log}");
    assert_eq!(tables(&p.db), "first");
}

#[test]
fn survives_the_database_going_away_and_applies_pending_work_when_it_returns() {
    let scratch = pgshift::local::ScratchCluster::start().unwrap();
    let p = Project::empty();
    p.write(
        ".env",
        &format!("DATABASE_URL={}\n", scratch.url("postgres").expose()),
    );
    let w = Watch::start(&p);
    scratch.cluster.stop().unwrap();
    p.write(
        "migrations/20260101000000_while_down.sql",
        "CREATE TABLE while_down (id int);\n",
    );
    w.wait_for("retrying");
    scratch.cluster.start(Duration::from_secs(60)).unwrap();
    w.wait_for("applied 20260101000000_while_down.sql");
    let out = support::psql(
        scratch.url("postgres").expose(),
        "SELECT count(*) FROM pg_tables WHERE tablename = 'while_down'",
    );
    assert_eq!(out, "1");
}

#[test]
fn a_second_daemon_is_refused_and_sigterm_releases_the_lock() {
    let p = Project::new();
    let mut first = Watch::start(&p);
    let err = p.xtask(["watch"]).fails_with(1);
    assert!(err.contains("another pgshift daemon"), "{err}");
    assert!(err.contains(&first.child.id().to_string()), "{err}");

    let status = first.terminate();
    assert!(status.success(), "{status}; log:\n{}", first.log());
    assert!(first.log().contains("stopped"), "{}", first.log());
    // The lock is free again: a new daemon starts.
    let mut second = Watch::start(&p);
    assert!(second.terminate().success());
}

#[test]
fn refuses_remote_environments() {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "\n[env.prod]\nurl_env = \"PROD_DATABASE_URL\"\nprotected = true\n",
    );
    let err = p
        .xtask(["watch", "--env", "prod"])
        .env("PROD_DATABASE_URL", p.db.url())
        .fails_with(2);
    assert!(
        err.contains("only ever works on the local database"),
        "{err}"
    );
}

#[test]
fn background_daemon_start_status_stop() {
    let p = Project::new();
    p.xtask(["daemon", "start"]).ok();
    let status = p.xtask(["daemon", "status"]).stdout();
    assert!(status.contains("running (pid"), "{status}");
    p.write(
        "migrations/20260101000000_bg.sql",
        "CREATE TABLE bg (id int);\n",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while tables(&p.db) != "bg" {
        assert!(
            Instant::now() < deadline,
            "not applied; log:\n{}",
            p.read(".pgshift/daemon.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let json: serde_json::Value =
        serde_json::from_str(&p.xtask(["daemon", "status", "--json"]).stdout()).unwrap();
    assert_eq!(json["running"], true);
    assert!(json["uptime_seconds"].as_i64().is_some(), "{json}");
    // The pid is a number at the top level, the same as in the saved state.
    assert!(json["pid"].as_u64().is_some(), "{json}");
    assert_eq!(json["pid"], json["state"]["pid"], "{json}");
    p.xtask(["daemon", "stop"]).ok();
    let status = p.xtask(["daemon", "status"]).stdout();
    assert!(status.contains("not running"), "{status}");
    assert!(p
        .read(".pgshift/daemon.log")
        .contains("applied 20260101000000_bg.sql"));
}

#[test]
fn refuses_a_database_marked_as_a_protected_environment() {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "\n[env.prod]\nurl_env = \"PROD_DATABASE_URL\"\nprotected = true\n",
    );
    // A deploy to prod marks the database; then `.env`-style local work pointing at it must
    // be refused by the daemon, before it watches anything.
    p.xtask(["--yes", "migrate-deploy", "--env", "prod"])
        .env("PROD_DATABASE_URL", p.db.url())
        .ok();
    let err = p.xtask(["watch"]).fails_with(1);
    assert!(err.contains("marked as environment `prod`"), "{err}");
    assert!(err.contains("protected"), "{err}");
}

#[test]
fn dev_brings_the_database_up_applies_what_is_pending_then_watches() {
    let p = support::EmbeddedProject::new();
    p.write(
        "migrations/20260101000000_first.sql",
        "CREATE TABLE first (id int);\n",
    );
    let mut w = Watch::start_with(&p, &["dev"]);
    // The `db up` step says so under the daemon's default log filter.
    w.wait_for("local database (embedded) is up: postgres://");
    w.wait_for_after("applied 20260101000000_first.sql", "bindings updated");
    assert!(p
        .read("crates/db-schema/src/generated.rs")
        .contains("pub struct First"));
    p.write(
        "migrations/20260101000001_second.sql",
        "CREATE TABLE second (id int);\n",
    );
    w.wait_for_after("applied 20260101000001_second.sql", "bindings updated");
    assert!(w.terminate().success(), "{}", w.log());
    let tables = p
        .xtask(["db", "psql", "--", "-At", "-c", "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '\\_%'"])
        .stdout();
    assert_eq!(tables.trim(), "first,second");
}

/// A psql session that ran some SQL and stays open (holding whatever locks it took) until
/// dropped.
struct HeldSession(Child);

impl HeldSession {
    fn run(db: &TestDb, sql: &str) -> HeldSession {
        let psql = pgshift::pgbin::PgBin::client("psql").unwrap();
        let mut child = std::process::Command::new(psql)
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", &db.url()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "{sql}\nSELECT 'held';").unwrap();
        stdin.flush().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(
            lines.any(|line| line.unwrap() == "held"),
            "psql did not run {sql}"
        );
        HeldSession(child)
    }

    /// Holds the migration lock (sqlx's advisory lock id) of `db`.
    fn migration_lock(db: &TestDb) -> HeldSession {
        let id = pgshift::migrations::lock::lock_id(&db.name);
        HeldSession::run(db, &format!("SELECT pg_advisory_lock({id});"))
    }
}

impl Drop for HeldSession {
    fn drop(&mut self) {
        // Closing psql's input ends its session, which releases its locks.
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

#[test]
fn retries_after_a_lock_timeout_without_any_file_change() {
    let p = Project::new();
    p.append("pgshift.toml", "\n[migrate]\nlock_timeout = \"300ms\"\n");
    p.write(
        "migrations/20260101000000_behind_lock.sql",
        "CREATE TABLE behind_lock (id int);\n",
    );
    let holder = HeldSession::migration_lock(&p.db);
    let w = Watch::start(&p);
    w.wait_for("gave up after");
    // Timed out at least twice: the daemon keeps trying on its own.
    w.wait_until(
        |log| {
            log.contains("retrying in")
                && log.matches("waiting for the migration lock").count() >= 2
        },
        "a second attempt at the lock",
    );
    assert_eq!(tables(&p.db), "");
    drop(holder);
    // No file was touched since the daemon started.
    w.wait_for("applied 20260101000000_behind_lock.sql");
    assert_eq!(tables(&p.db), "behind_lock");
}

#[test]
fn an_applied_file_rewritten_slowly_with_the_same_text_is_not_reported_edited() {
    let p = Project::new();
    let w = Watch::start(&p);
    let text = "CREATE TABLE kept (id int);\nCREATE TABLE kept_too (id int);\n";
    p.write("migrations/20260101000000_kept.sql", text);
    w.wait_for("applied 20260101000000_kept.sql");
    let path = p.path("migrations/20260101000000_kept.sql");
    use std::io::Write;
    for round in 0..3 {
        // Truncated, half written, left open far longer than the debounce: read now, the
        // file would look edited (empty, or half of it).
        let mut file = std::fs::File::create(&path).unwrap();
        if round > 0 {
            file.write_all(&text.as_bytes()[..20]).unwrap();
            file.flush().unwrap();
        }
        std::thread::sleep(Duration::from_millis(600));
        file.write_all(&text.as_bytes()[if round > 0 { 20 } else { 0 }..])
            .unwrap();
        drop(file);
        std::thread::sleep(Duration::from_millis(200));
    }
    p.write(
        "migrations/20260101000001_after.sql",
        "CREATE TABLE after (id int);\n",
    );
    let log = w.wait_for("applied 20260101000001_after.sql");
    assert!(!log.contains("edited"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
    assert_eq!(tables(&p.db), "after,kept,kept_too");
}

#[test]
fn daemon_stop_waits_for_a_migration_longer_than_its_timeout_and_says_so() {
    let p = Project::new();
    p.xtask(["daemon", "start"]).ok();
    // Longer than the 60 s `daemon stop` allows a daemon that reports nothing in progress.
    p.write(
        "migrations/20260101000000_long.sql",
        "SELECT pg_sleep(65);\nCREATE TABLE long_one (id int);\n",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = p.xtask(["daemon", "status"]).stdout();
        if status.contains("activity:   applying 20260101000000_long.sql") {
            break;
        }
        assert!(Instant::now() < deadline, "never applying:\n{status}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let json: serde_json::Value =
        serde_json::from_str(&p.xtask(["daemon", "status", "--json"]).stdout()).unwrap();
    assert_eq!(
        json["state"]["activity"], "applying 20260101000000_long.sql",
        "{json}"
    );
    let out = p.xtask(["daemon", "stop"]).ok();
    let said = support::stderr(&out);
    assert!(
        said.contains("is finishing its work before it stops: applying 20260101000000_long.sql"),
        "{said}"
    );
    assert!(
        said.contains("still finishing: applying 20260101000000_long.sql"),
        "{said}"
    );
    assert!(said.contains("stopped"), "{said}");
    assert!(!said.contains("did not stop"), "{said}");
    // The migration was finished, not cut off.
    assert_eq!(tables(&p.db), "long_one");
    let log = p.read(".pgshift/daemon.log");
    assert!(log.contains("applied 20260101000000_long.sql"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    let status = p.xtask(["daemon", "status"]).stdout();
    assert!(status.contains("not running"), "{status}");
}

#[test]
fn a_migration_that_timed_out_on_a_table_lock_is_retried_without_any_file_change() {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "\n[migrate]\nsession_lock_timeout = \"200ms\"\n",
    );
    p.db.sql("CREATE TABLE busy (id int)");
    let holder = HeldSession::run(&p.db, "BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE;");
    p.write(
        "migrations/20260101000000_alter_busy.sql",
        "ALTER TABLE busy ADD COLUMN note text;\n",
    );
    let w = Watch::start(&p);
    w.wait_for("waiting for a lock that another session holds");
    w.wait_for("retrying in 10.0 s");
    drop(holder);
    // No file was touched: the retry alone applies it.
    let log = w.wait_for("applied 20260101000000_alter_busy.sql");
    assert!(
        log.contains("it is tried again once that session lets go"),
        "{log}"
    );
    assert!(!log.contains("and run again"), "{log}");
    assert_eq!(
        p.db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'busy'"),
        "2"
    );
}

#[test]
fn a_dangling_symlink_or_a_non_utf8_name_is_reported_by_the_daemon() {
    let p = Project::new();
    let w = Watch::start(&p);
    std::os::unix::fs::symlink(
        p.path("elsewhere/20260101000000_gone.sql"),
        p.path("migrations/20260101000000_gone.sql"),
    )
    .unwrap();
    let log = w.wait_for("a symbolic link to");
    assert!(log.contains("20260101000000_gone.sql"), "{log}");
    std::fs::remove_file(p.path("migrations/20260101000000_gone.sql")).unwrap();
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(b"20260101000001_caf\xe9.sql");
    std::fs::write(
        p.path("migrations").join(name),
        "CREATE TABLE cafe (id int);\n",
    )
    .unwrap();
    let log = w.wait_for("not valid UTF-8");
    assert!(log.contains("20260101000001_caf\u{fffd}.sql"), "{log}");
    assert_eq!(tables(&p.db), "");
}

#[test]
fn a_file_rewritten_while_the_sync_waits_for_the_lock_is_applied_as_it_ends_up() {
    let p = Project::new();
    p.write(
        "migrations/20260101000000_first.sql",
        "CREATE TABLE first_draft (id int);\n",
    );
    let holder = HeldSession::migration_lock(&p.db);
    let w = Watch::start(&p);
    // The sync read the file, then queued behind the lock.
    w.wait_for("waiting for the migration lock");
    p.write(
        "migrations/20260101000000_first.sql",
        "CREATE TABLE final_draft (id int);\n",
    );
    // Long enough for the new text to settle before the sync goes on.
    std::thread::sleep(Duration::from_millis(500));
    drop(holder);
    let log = w.wait_for("applied 20260101000000_first.sql");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!w.log().contains("edited"), "{}", w.log());
    assert_eq!(tables(&p.db), "final_draft", "{log}");
}

#[test]
fn an_absurd_debounce_is_refused() {
    let p = Project::new();
    let err = p
        .xtask(["watch", "--debounce-ms", "99999999999999"])
        .fails_with(2);
    assert!(err.contains("--debounce-ms"), "{err}");
    assert!(err.contains("0..=60000"), "{err}");
}

/// The manifests (finished backups) in the project's local backup folder.
fn local_backups(p: &Project) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(p.path(".pgshift/backups/local"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits until the background daemon's log holds `needle` `times` times.
fn wait_for_daemon_log(p: &Project, needle: &str, times: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(p.path(".pgshift/daemon.log")).unwrap_or_default();
        if log.matches(needle).count() >= times {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {times} x {needle:?}; daemon log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn scheduled_backups_are_verified_pruned_and_shown_by_daemon_status() {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "[backup]\nschedule = \"*/2 * * * * *\"\nkeep_last = 2\n",
    );
    p.write(
        "migrations/20260101000000_patients.sql",
        "CREATE TABLE patients (id int);\nINSERT INTO patients VALUES (1), (2), (3);\n",
    );
    p.xtask(["daemon", "start"]).ok();
    let log = wait_for_daemon_log(&p, "scheduled backup verified", 3);
    assert!(log.contains("applied 20260101000000_patients.sql"), "{log}");
    assert!(log.contains("retention pruned"), "{log}");

    let json: serde_json::Value =
        serde_json::from_str(&p.xtask(["daemon", "status", "--json"]).stdout()).unwrap();
    let backup = &json["state"]["backup"];
    assert_eq!(backup["schedule"], "*/2 * * * * *", "{json}");
    assert_eq!(backup["timezone"], "UTC", "{json}");
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(backup["next_run"].clone()).unwrap();
    assert!(
        next > chrono::Utc::now() - chrono::TimeDelta::seconds(3),
        "{json}"
    );
    assert!(
        next < chrono::Utc::now() + chrono::TimeDelta::seconds(10),
        "{json}"
    );
    let last = &backup["last"];
    assert_eq!(last["ok"], true, "{json}");
    assert!(last["error"].is_null(), "{json}");
    let archive = std::path::PathBuf::from(last["archive"].as_str().unwrap());
    assert!(
        archive.starts_with(p.path(".pgshift/backups/local")),
        "{json}"
    );
    let human = p.xtask(["daemon", "status"]).stdout();
    assert!(
        human.contains("backups:    \"*/2 * * * * *\" (UTC), next 20"),
        "{human}"
    );
    assert!(human.contains("last backup: ok, "), "{human}");

    p.xtask(["daemon", "stop"]).ok();
    // keep_last = 2: every verified backup pruned all but the newest two.
    let manifests = local_backups(&p);
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    // The newest is verified, with the rows the database held, and labelled.
    let listed: serde_json::Value =
        serde_json::from_str(&p.xtask(["backups", "--json"]).stdout()).unwrap();
    let newest = &listed["backups"][0];
    assert_eq!(newest["good"], true, "{listed}");
    assert_eq!(newest["manifest"]["label"], "scheduled", "{listed}");
    let patients = newest["manifest"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "patients")
        .unwrap_or_else(|| panic!("{listed}"))
        .clone();
    assert_eq!(patients["rows"], 3, "{listed}");
    p.xtask(["backups", "verify"])
        .arg(newest["archive_path"].as_str().unwrap())
        .ok();
}

#[test]
fn a_failing_scheduled_backup_is_logged_and_the_watcher_goes_on() {
    let p = Project::new();
    // The backup folder lies under a regular file: creating it fails, even for root.
    p.write("not-a-folder", "");
    p.append(
        "pgshift.toml",
        "[backup]\nschedule = \"*/2 * * * * *\"\ndir = \"not-a-folder/backups\"\n",
    );
    let w = Watch::start(&p);
    let log = w.wait_for("scheduled backup failed");
    let line = log
        .lines()
        .find(|l| l.contains("scheduled backup failed"))
        .unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains("not-a-folder/backups\" cannot be made: "),
        "{line}"
    );
    assert!(line.contains("not-a-folder is a file"), "{line}");
    assert!(line.contains("; next at 20"), "{line}");
    p.write(
        "migrations/20260101000000_after_failure.sql",
        "CREATE TABLE after_failure (id int);\n",
    );
    w.wait_for("applied 20260101000000_after_failure.sql");
    assert_eq!(tables(&p.db), "after_failure");
    // It keeps trying at the scheduled times.
    w.wait_until(
        |log| log.matches("scheduled backup failed").count() >= 2,
        "a second failed run",
    );
}

#[test]
fn a_missed_scheduled_backup_is_taken_once_at_start_up() {
    let p = Project::new();
    p.append("pgshift.toml", "[backup]\nschedule = \"0 0 3 * * *\"\n");
    // The last run recorded is years old: the machine slept through many 03:00s.
    p.write(
        ".pgshift/backup-schedule.json",
        r#"{"since": "2020-01-01T00:00:00Z", "last": null}"#,
    );
    let mut w = Watch::start(&p);
    let log = w.wait_for("scheduled backup verified");
    assert!(
        log.contains("did not run (no daemon was running); taking it now"),
        "{log}"
    );
    assert_eq!(local_backups(&p).len(), 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(w.count("taking the scheduled backup"), 1, "{}", w.log());
    w.terminate();
    let record: serde_json::Value =
        serde_json::from_str(&p.read(".pgshift/backup-schedule.json")).unwrap();
    assert_eq!(record["last"]["ok"], true, "{record}");

    // Started again, nothing was missed since: no backup, the next one is tomorrow's 03:00.
    let mut w = Watch::start(&p);
    let log = w.wait_for("scheduled backups: \"0 0 3 * * *\" (UTC), next at ");
    assert!(log.contains(" 03:00:00 UTC"), "{log}");
    std::thread::sleep(Duration::from_millis(500));
    w.terminate();
    assert!(
        !w.log().contains("taking the scheduled backup"),
        "{}",
        w.log()
    );
    assert_eq!(local_backups(&p).len(), 1);
}

#[test]
fn a_first_start_with_a_schedule_takes_no_backup() {
    let p = Project::new();
    p.append(
        "pgshift.toml",
        "[backup]\nschedule = \"0 0 3 * * *\"\ntimezone = \"Europe/Paris\"\n",
    );
    let mut w = Watch::start(&p);
    w.wait_for("scheduled backups: \"0 0 3 * * *\" (Europe/Paris), next at ");
    std::thread::sleep(Duration::from_millis(500));
    w.terminate();
    assert!(
        !w.log().contains("taking the scheduled backup"),
        "{}",
        w.log()
    );
    assert!(local_backups(&p).is_empty());
    let record: serde_json::Value =
        serde_json::from_str(&p.read(".pgshift/backup-schedule.json")).unwrap();
    assert!(record["since"].is_string(), "{record}");
    assert!(record["last"].is_null(), "{record}");
}

#[test]
fn a_broken_schedule_is_refused_at_start_naming_the_key() {
    let p = Project::new();
    p.append("pgshift.toml", "[backup]\nschedule = \"0 3 * * *\"\n");
    let err = p.xtask(["daemon", "start"]).fails_with(2);
    assert!(err.contains("pgshift.toml"), "{err}");
    assert!(
        err.contains("[backup] schedule = \"0 3 * * *\" is not a cron expression"),
        "{err}"
    );
    assert!(err.contains("e.g. \"0 0 3 * * *\""), "{err}");
}
