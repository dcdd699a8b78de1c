//! `cargo xtask db ...` on the embedded backend: each test runs its own cluster through the
//! real command, on a free port, in a temporary project.

mod support;

use support::{free_port, text, EmbeddedProject, Project};

#[test]
fn embedded_lifecycle_keeps_data() {
    let p = EmbeddedProject::new();
    let out = p.xtask(["db", "up"]).ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("postgres://postgres@127.0.0.1:"),
        "{}",
        text(&out)
    );
    assert!(stdout.trim_end().ends_with("/clinic"), "{}", text(&out));
    assert!(support::stderr(&out).contains("started"), "{}", text(&out));

    let again = p.xtask(["db", "up"]).ok();
    assert!(
        support::stderr(&again).contains("already running"),
        "{}",
        text(&again)
    );

    p.xtask([
        "db",
        "psql",
        "--",
        "-c",
        "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)",
    ])
    .ok();
    p.xtask(["db", "down"]).ok();

    let status: serde_json::Value =
        serde_json::from_str(&p.xtask(["db", "status", "--json"]).stdout()).unwrap();
    assert_eq!(status["running"], false);

    p.xtask(["db", "up"]).ok();
    let selected = p
        .xtask(["db", "psql", "--", "-At", "-c", "SELECT n FROM kept"])
        .stdout();
    assert_eq!(selected.trim(), "42");

    let status: serde_json::Value =
        serde_json::from_str(&p.xtask(["db", "status", "--json"]).stdout()).unwrap();
    assert_eq!(status["backend"], "embedded");
    assert_eq!(status["running"], true);
    assert!(status["url"].as_str().unwrap().ends_with("/clinic"));
    assert!(
        status["server_version"]
            .as_str()
            .unwrap()
            .starts_with(char::is_numeric),
        "{status}"
    );
    assert!(
        status["data"]
            .as_str()
            .unwrap()
            .ends_with(".pgshift/embedded/data"),
        "{status}"
    );

    // Collation C everywhere; non-ASCII case mapping where the system has C.UTF-8.
    let locale = p
        .xtask([
            "db",
            "psql",
            "--",
            "-At",
            "-c",
            "SELECT datcollate, upper(U&'\\00E9') = U&'\\00C9' FROM pg_database \
             WHERE datname = current_database()",
        ])
        .stdout();
    let has_c_utf8 = std::process::Command::new("locale")
        .arg("-a")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).to_lowercase())
        .unwrap_or_default()
        .lines()
        .any(|l| l.trim() == "c.utf8" || l.trim() == "c.utf-8");
    assert_eq!(
        locale.trim(),
        if has_c_utf8 { "C|t" } else { "C|f" },
        "{locale}"
    );

    let logs = p.xtask(["db", "logs"]).stdout();
    assert!(
        logs.contains("database system is ready to accept connections"),
        "{logs}"
    );
}

#[test]
fn taken_port_names_the_port_and_the_key() {
    let p = EmbeddedProject::new();
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    p.write(
        "pgshift.toml",
        &format!("[local]\nbackend = \"embedded\"\nport = {port}\n"),
    );
    let err = p.xtask(["db", "up"]).fails_with(1);
    assert!(err.contains(&format!("port {port}")), "{err}");
    assert!(err.contains("[local] port"), "{err}");
}

/// Kills the server of `p` with SIGKILL (a crash), then points its `postmaster.pid` at a
/// live process of the server's own user (a reused pid), which `kill(pid, 0)` cannot tell
/// from a postmaster. Returns that process.
fn crash_and_reuse_the_pid(p: &Project) -> std::process::Child {
    let pid_file = p.path(".pgshift/embedded/data/postmaster.pid");
    let pid_text = std::fs::read_to_string(&pid_file).unwrap();
    let pid: i32 = pid_text.lines().next().unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let impostor = pgshift::pgbin::ServerUser::current()
        .unwrap()
        .command("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let mut lines: Vec<String> = pid_text.lines().map(String::from).collect();
    lines[0] = impostor.id().to_string();
    std::fs::write(&pid_file, lines.join("\n") + "\n").unwrap();
    // The children of the killed postmaster may hold the port a moment longer.
    std::thread::sleep(std::time::Duration::from_millis(500));
    impostor
}

/// Whether `child` still runs (not exited, not a zombie).
fn still_runs(child: &mut std::process::Child) -> bool {
    child.try_wait().unwrap().is_none()
}

#[test]
fn recovers_from_a_crash_with_a_stale_pid_file() {
    let p = EmbeddedProject::new();
    p.xtask(["db", "up"]).ok();
    p.xtask([
        "db",
        "psql",
        "--",
        "-c",
        "CREATE TABLE survivor (n int); INSERT INTO survivor VALUES (7)",
    ])
    .ok();
    let mut impostor = crash_and_reuse_the_pid(&p);

    let status: serde_json::Value =
        serde_json::from_str(&p.xtask(["db", "status", "--json"]).stdout()).unwrap();
    assert_eq!(status["running"], false, "{status}");

    let out = p.xtask(["db", "up"]).ok();
    assert!(support::stderr(&out).contains("started"), "{}", text(&out));
    let selected = p
        .xtask(["db", "psql", "--", "-At", "-c", "SELECT n FROM survivor"])
        .stdout();
    assert_eq!(selected.trim(), "7");
    assert!(
        still_runs(&mut impostor),
        "db up killed an unrelated process"
    );
    impostor.kill().unwrap();
    impostor.wait().unwrap();
}

#[test]
fn down_after_a_crash_leaves_the_process_that_reused_the_pid_alone() {
    let p = EmbeddedProject::new();
    p.xtask(["db", "up"]).ok();
    let mut impostor = crash_and_reuse_the_pid(&p);

    let out = p.xtask(["db", "down"]).ok();
    assert!(
        support::stderr(&out).contains("was not running"),
        "{}",
        text(&out)
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        still_runs(&mut impostor),
        "db down signalled an unrelated process"
    );
    assert!(!p.path(".pgshift/embedded/data/postmaster.pid").exists());
    impostor.kill().unwrap();
    impostor.wait().unwrap();
}

#[test]
fn missing_server_binaries_say_how_to_install_them() {
    let p = EmbeddedProject::new();
    // The folder named in PGSHIFT_PG_BINDIR is the only one looked in: fix that setting.
    let err = p
        .xtask(["db", "up"])
        .env("PGSHIFT_PG_BINDIR", "/nonexistent/bin")
        .fails_with(1);
    assert!(err.contains("not found"), "{err}");
    assert!(
        err.contains("PGSHIFT_PG_BINDIR=/nonexistent/bin has no initdb/pg_ctl; fix it or unset it"),
        "{err}"
    );
    assert!(!err.contains("apt-get install"), "{err}");
}

#[test]
fn down_volumes_deletes_the_cluster() {
    let p = EmbeddedProject::new();
    p.xtask(["db", "up"]).ok();
    p.xtask(["db", "psql", "--", "-c", "CREATE TABLE gone (n int)"])
        .ok();
    p.xtask(["db", "down", "--volumes"]).ok();
    assert!(!p.path(".pgshift/embedded").exists());
    p.xtask(["db", "up"]).ok();
    let out = p
        .xtask([
            "db",
            "psql",
            "--",
            "-At",
            "-c",
            "SELECT count(*) FROM pg_class WHERE relname = 'gone'",
        ])
        .stdout();
    assert_eq!(out.trim(), "0");
}

#[test]
fn an_interrupted_initdb_is_redone_and_never_looks_made() {
    let p = EmbeddedProject::new();
    // What an initdb killed half-way leaves: PG_VERSION, no pg_control.
    p.write(".pgshift/embedded/data.initdb-tmp/PG_VERSION", "15\n");
    p.write(".pgshift/embedded/data.initdb-tmp/base/junk", "");
    p.xtask(["db", "up"]).ok();
    assert!(!p.path(".pgshift/embedded/data.initdb-tmp").exists());
    assert!(p.path(".pgshift/embedded/data/global/pg_control").is_file());
    p.xtask(["db", "down"]).ok();
}

#[test]
fn an_incomplete_data_folder_is_reported_not_started_or_deleted() {
    let p = EmbeddedProject::new();
    p.write(".pgshift/embedded/data/PG_VERSION", "15\n");
    let err = p.xtask(["db", "up"]).fails_with(1);
    assert!(err.contains("not a complete PostgreSQL cluster"), "{err}");
    assert!(err.contains("pg_control"), "{err}");
    assert!(err.contains("db down --volumes"), "{err}");
    assert!(p.path(".pgshift/embedded/data/PG_VERSION").is_file());
}

/// Run as a child by `a_killed_test_run_leaves_no_server_behind`: starts a scratch cluster
/// and an embedded project's server, prints them, and waits to be killed.
fn watchdog_child() {
    let scratch = pgshift::local::ScratchCluster::start().unwrap();
    let p = EmbeddedProject::new();
    p.xtask(["db", "up"]).ok();
    let pid_of = |data: std::path::PathBuf| {
        std::fs::read_to_string(data.join("postmaster.pid"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    println!(
        "CHILD {} {} {} {}",
        scratch.dir().display(),
        p.dir.display(),
        pid_of(scratch.cluster.data_dir()),
        pid_of(p.path(".pgshift/embedded/data"))
    );
    std::thread::sleep(std::time::Duration::from_secs(600));
}

#[test]
fn a_killed_test_run_leaves_no_server_behind() {
    use std::io::BufRead;
    if std::env::var_os("PGSHIFT_WATCHDOG_CHILD").is_some() {
        return watchdog_child();
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_test_run_leaves_no_server_behind",
            "--nocapture",
        ])
        .env("PGSHIFT_WATCHDOG_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let line = stdout
        .lines()
        .map(Result::unwrap)
        .find(|line| line.starts_with("CHILD "))
        .expect("the child prints its servers");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (scratch_dir, project_dir, pids) = (
        std::path::PathBuf::from(fields[1]),
        std::path::PathBuf::from(fields[2]),
        &fields[3..],
    );
    for pid in pids {
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{line}"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let gone = |pid: &&str| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map_or(true, |c| c.trim() != "postgres")
    };
    while (scratch_dir.exists() || !pids.iter().all(gone)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        pids.iter().all(gone),
        "a postmaster outlived its test run: {line}"
    );
    assert!(
        !scratch_dir.exists(),
        "{} was not removed",
        scratch_dir.display()
    );
    std::fs::remove_dir_all(project_dir).unwrap();
}

#[test]
fn auto_keeps_the_choice_of_the_first_db_up() {
    let p = EmbeddedProject::new();
    p.write(
        "pgshift.toml",
        &format!("[local]\nbackend = \"auto\"\nport = {}\n", free_port()),
    );
    // No engine answers at this address, so auto chooses the embedded cluster.
    let out = p
        .xtask(["db", "up"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .ok();
    assert!(
        support::stderr(&out).contains("no Docker engine answers"),
        "{}",
        text(&out)
    );
    assert_eq!(p.read(".pgshift/backend").trim(), "embedded");

    // Later commands reuse it without asking the engine, whatever it would answer now.
    let out = p.xtask(["db", "status", "--json"]).ok();
    assert!(
        support::stderr(&out).contains(
            "backend auto: using embedded (chosen on first db up; delete .pgshift/backend to choose again)"
        ),
        "{}",
        text(&out)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["backend"], "embedded");
    assert_eq!(status["running"], true);

    p.xtask(["db", "down", "--volumes"]).ok();
    assert!(!p.path(".pgshift/backend").exists());
}

#[test]
fn a_root_clone_under_a_private_folder_keeps_its_cluster_in_var_lib() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: the server runs as ourselves and can reach any of our folders");
        return;
    }
    // Like a clone in /root: a 0700 folder above the project.
    let private = tempfile::Builder::new()
        .prefix("pgshift-private-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        private.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let p = Project {
        dir: private.path().join("shop"),
        db: support::TestDb {
            name: String::new(),
        },
    };
    p.write(
        "pgshift.toml",
        &format!("[local]\nbackend = \"embedded\"\nport = {}\n", free_port()),
    );
    let status: serde_json::Value =
        serde_json::from_str(&p.xtask(["db", "status", "--json"]).stdout()).unwrap();
    let data = std::path::PathBuf::from(status["data"].as_str().unwrap());
    let cluster = data.parent().unwrap().to_path_buf();
    let name = cluster.file_name().unwrap().to_string_lossy().to_string();
    assert!(cluster.starts_with("/var/lib/pgshift"), "{status}");
    assert!(
        name.starts_with("shop-") && name.len() == "shop-".len() + 8,
        "{status}"
    );
    pgshift::local::scratch::spawn_watchdog(&data, Some(&cluster)).unwrap();

    let out = p.xtask(["db", "up"]).ok();
    assert!(
        support::stderr(&out).contains("cannot reach"),
        "{}",
        text(&out)
    );
    p.xtask(["db", "psql", "--", "-c", "CREATE TABLE t (n int)"])
        .ok();
    let again = p.xtask(["db", "up"]).ok();
    assert!(
        !support::stderr(&again).contains("cannot reach"),
        "said twice: {}",
        text(&again)
    );
    let status: serde_json::Value =
        serde_json::from_str(&p.xtask(["db", "status", "--json"]).stdout()).unwrap();
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["data"].as_str().unwrap(), data.to_str().unwrap());
    p.xtask(["db", "down", "--volumes"]).ok();
    assert!(!cluster.exists());
}

#[test]
fn a_cluster_needs_the_programs_of_its_own_major_version() {
    let p = EmbeddedProject::new();
    p.xtask(["db", "up"]).ok();
    p.xtask(["db", "down"]).ok();
    // As if made by a PostgreSQL whose programs are not installed.
    p.write(".pgshift/embedded/data/PG_VERSION", "9\n");
    let err = p.xtask(["db", "up"]).fails_with(1);
    assert!(err.contains("made by PostgreSQL 9"), "{err}");
    assert!(err.contains("apt-get install postgresql-9"), "{err}");
    let installed = pgshift::pgbin::PgBin::find()
        .unwrap()
        .major_version()
        .unwrap();
    assert!(err.contains(&format!("found {installed} in")), "{err}");
}

#[test]
fn creating_the_database_retries_only_what_waiting_can_cure() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cluster = support::cluster();
    // A role that does not exist: waiting cannot cure it, so no retry for 60 s.
    let url = pgshift::target::DbUrl::parse(&format!(
        "postgres://nobody_here@127.0.0.1:{}/app",
        cluster.port()
    ))
    .unwrap();
    let started = std::time::Instant::now();
    let err = runtime
        .block_on(pgshift::local::ensure_database(
            &url,
            std::time::Duration::from_secs(60),
        ))
        .unwrap_err();
    assert!(format!("{err:#}").contains("nobody_here"), "{err:#}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "retried a non-transient error for {:?}",
        started.elapsed()
    );
    let transient = runtime
        .block_on(pgshift::db::connect(
            &pgshift::target::DbUrl::parse(&format!("postgres://u@127.0.0.1:{}/d", free_port()))
                .unwrap(),
        ))
        .unwrap_err();
    assert!(transient.is_transient(), "{transient}");
}

#[test]
fn another_checkouts_server_on_our_port_is_never_used() {
    let a = EmbeddedProject::new();
    a.xtask(["db", "up"]).ok();
    // A second checkout with the same [local] port, whose own cluster is not running.
    let b = Project::empty();
    b.write("pgshift.toml", &a.read("pgshift.toml"));
    b.write("migrations/1_drop.sql", "CREATE TABLE from_b (id int);\n");
    for command in [
        &["migrate-status"][..],
        &["migrate-dev"],
        &["migrate-reset", "--force"],
        &["db", "psql", "--", "-c", "select 1"],
    ] {
        let err = b.xtask(command).fails_with(1);
        assert!(
            err.contains("not this project's local database"),
            "{command:?}: {err}"
        );
    }
    let out = a
        .xtask([
            "db",
            "psql",
            "--",
            "-At",
            "-c",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'from_b'",
        ])
        .stdout();
    assert_eq!(out.trim(), "0");
}
