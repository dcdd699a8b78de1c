//! Backups and restore (issue 10) through the real commands, against the shared plain
//! cluster (the local database) and the TLS + password cluster that plays production.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::prod::ProdProject;
use support::{prod_cluster, stderr, text, Project};

/// A local project with two migrations applied: `doctors` (3 rows) and `my table` (2).
fn project_with_data() -> Project {
    let p = Project::new();
    p.write(
        "migrations/1_doctors.sql",
        "CREATE TABLE doctors (id int PRIMARY KEY, name text);\n\
         INSERT INTO doctors VALUES (1, 'a'), (2, 'b'), (3, 'c');\n",
    );
    p.write(
        "migrations/2_my_table.sql",
        "CREATE TABLE \"my table\" (id int);\nINSERT INTO \"my table\" VALUES (1), (2);\n",
    );
    p.xtask(["migrate-deploy"]).ok();
    p
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// The `archive_path` of `backup --json`'s report.
fn archive_of(out: &std::process::Output) -> String {
    json(&String::from_utf8_lossy(&out.stdout))["archive_path"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A table `bulk` of `rows` rows of 64 characters, to make a dump or restore take a while.
fn add_bulk(p: &Project, rows: u32) {
    p.db.sql(&format!(
        "CREATE TABLE bulk AS SELECT g, md5(g::text) || md5((g * 7)::text) AS filler \
         FROM generate_series(1, {rows}) g"
    ));
}

fn rows_of(manifest: &Value, table: &str) -> i64 {
    manifest["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .unwrap_or_else(|| panic!("no {table} in {manifest}"))["rows"]
        .as_i64()
        .unwrap()
}

/// The files of a backup folder that are not hidden (archives and manifests).
fn visible_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn all_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A psql session that holds an ACCESS EXCLUSIVE lock on `table` until `release`, so a
/// pg_dump of that database waits (and can be looked at, or killed) mid-way.
struct Locker {
    child: Child,
    url: String,
    password: Option<String>,
    name: String,
}

impl Locker {
    fn hold(url: &str, password: Option<&str>, table: &str) -> Locker {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "locker{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let psql = pgshift::pgbin::PgBin::client("psql").unwrap();
        let mut command = Command::new(&psql);
        command
            .args([
                "-X",
                "-q",
                "-d",
                url,
                "-c",
                &format!("BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;"),
            ])
            .env("PGAPPNAME", &name)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = password {
            command.env("PGPASSWORD", password);
        }
        let child = command.spawn().unwrap();
        let locker = Locker {
            child,
            url: url.to_string(),
            password: password.map(str::to_string),
            name,
        };
        // Wait until the lock is held.
        let deadline = Instant::now() + Duration::from_secs(20);
        while locker.query(&format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = '{}' AND l.mode = 'AccessExclusiveLock' AND l.granted",
            locker.name
        )) != "1"
        {
            assert!(Instant::now() < deadline, "the locker never took its lock");
            std::thread::sleep(Duration::from_millis(50));
        }
        locker
    }

    fn query(&self, sql: &str) -> String {
        let psql = pgshift::pgbin::PgBin::client("psql").unwrap();
        let mut command = Command::new(psql);
        command.args(["-X", "-At", "-d", &self.url, "-c", sql]);
        if let Some(password) = &self.password {
            command.env("PGPASSWORD", password);
        }
        let out = command.output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn release(mut self) {
        self.query(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{}'",
            self.name
        ));
        let _ = self.child.wait();
    }
}

/// The pid of the pg_dump that `parent` runs, waiting up to 30 s for it.
fn pg_dump_child_of(parent: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // pid (comm) state ppid ...
            let Some((head, rest)) = stat.rsplit_once(") ") else {
                continue;
            };
            let comm = head.split_once(" (").map_or("", |(_, c)| c);
            let ppid: u32 = rest.split_whitespace().nth(1).unwrap().parse().unwrap();
            // Not the `pg_dump --version` run before the dump.
            let dumping = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("--snapshot"));
            if comm == "pg_dump" && ppid == parent && dumping {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "no pg_dump child of {parent}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

#[test]
fn a_local_backup_is_verified_with_exact_row_counts_and_listed() {
    let p = project_with_data();
    let out = p
        .xtask(["backup", "--json", "--label", "before the release"])
        .ok();
    let report = json(&String::from_utf8_lossy(&out.stdout));
    let manifest = &report["manifest"];
    assert_eq!(manifest["env"], "local");
    assert_eq!(manifest["database"], p.db.name.as_str());
    assert_eq!(manifest["format"], "custom");
    assert_eq!(manifest["verified"], true);
    assert_eq!(manifest["migration_version"], 2);
    // migrate-deploy to local writes no marker.
    assert_eq!(manifest["marker"], Value::Null);
    assert_eq!(manifest["label"], "before the release");
    assert!(manifest["server_version"]
        .as_str()
        .unwrap()
        .starts_with("15"));
    assert!(manifest["pg_dump_version"]
        .as_str()
        .unwrap()
        .starts_with("15"));
    assert_eq!(rows_of(manifest, "doctors"), 3);
    assert_eq!(rows_of(manifest, "my table"), 2);
    assert_eq!(rows_of(manifest, "_sqlx_migrations"), 2);

    let archive = PathBuf::from(report["archive_path"].as_str().unwrap());
    let dir = p.path(".pgshift/backups/local");
    assert_eq!(archive.parent().unwrap(), dir);
    let name = archive.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with(&format!("local-{}-", p.db.name)) && name.ends_with("-v2.dump"),
        "{name}"
    );
    assert_eq!(manifest["sha256"], sha256sum(&archive).as_str());
    assert_eq!(
        manifest["size_bytes"],
        std::fs::metadata(&archive).unwrap().len()
    );
    assert_eq!(visible_files(&dir), [name.clone(), format!("{name}.json")]);
    let on_disk = json(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap());
    assert_eq!(&on_disk, manifest);
    assert!(
        stderr(&out).contains("verified backup of local written"),
        "{}",
        text(&out)
    );

    let listed = json(&p.xtask(["backups", "--json"]).stdout())["backups"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["good"], true);
    assert_eq!(listed[0]["manifest"]["archive"], name.as_str());
    let human = p.xtask(["backups"]).stdout();
    assert!(human.contains("yes") && human.contains(&name), "{human}");

    let verified = p.xtask(["backups", "verify"]).arg(&archive).ok();
    assert!(stderr(&verified).contains("is good"), "{}", text(&verified));
}

#[test]
fn a_prod_backup_passes_the_password_outside_argv_and_never_prints_it() {
    let p = ProdProject::new();
    p.prod_sql("CREATE TABLE visits (id int); INSERT INTO visits SELECT generate_series(1, 1000)");
    let password = prod_cluster().password().to_string();
    let locker = Locker::hold(
        &format!(
            "postgres://postgres@127.0.0.1:{}/{}?sslmode=require",
            prod_cluster().port(),
            p.database
        ),
        Some(&password),
        "visits",
    );
    let mut command = p.xtask_prod(["backup", "--env", "prod", "--json"]).command;
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dump = pg_dump_child_of(child.id());
    let cmdline = std::fs::read(format!("/proc/{dump}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let environ = std::fs::read(format!("/proc/{dump}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ).replace('\0', "\n");
    let passfile = environ
        .lines()
        .find_map(|l| l.strip_prefix("PGPASSFILE="))
        .unwrap_or_else(|| panic!("no PGPASSFILE:\n{environ}"))
        .to_string();
    assert_eq!(mode(Path::new(&passfile).parent().unwrap()), 0o700);
    assert_eq!(mode(Path::new(&passfile)), 0o600);
    locker.release();
    let out = child.wait_with_output().unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");

    let encoded = pgshift::target::percent_encode(&password);
    for (what, haystack) in [
        ("argv", &cmdline),
        ("environment", &environ),
        ("output", &shown),
    ] {
        assert!(
            !haystack.contains(&password) && !haystack.contains(&encoded),
            "the password is in pg_dump's {what}:\n{haystack}"
        );
    }
    assert!(cmdline.contains("--snapshot="), "{cmdline}");
    assert!(cmdline.contains("sslmode=verify-full"), "{cmdline}");
    assert!(!environ.contains("PGPASSWORD"), "{environ}");
    assert!(!environ.contains("PROD_DATABASE_URL"), "{environ}");
    // The passfile is gone once the backup is done.
    assert!(!Path::new(&passfile).exists(), "{passfile} was left behind");

    let report = json(&String::from_utf8_lossy(&out.stdout));
    let manifest_text = std::fs::read_to_string(report["manifest_path"].as_str().unwrap()).unwrap();
    assert!(!manifest_text.contains(&password) && !manifest_text.contains(&encoded));
    let manifest = &report["manifest"];
    assert_eq!(manifest["env"], "prod");
    assert_eq!(
        manifest["host"],
        format!("localhost:{}", prod_cluster().port()).as_str()
    );
    assert_eq!(rows_of(manifest, "visits"), 1000);
    assert_eq!(manifest["migration_version"], Value::Null);
}

/// The permission bits of a file or folder.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn backups_are_private_and_git_ignored() {
    let p = project_with_data();
    let custom = archive_of(&p.xtask(["backup", "--json"]).ok());
    let directory = archive_of(&p.xtask(["backup", "--json", "--jobs", "2"]).ok());
    let root = p.path(".pgshift/backups");
    for folder in [root.clone(), root.join("local"), PathBuf::from(&directory)] {
        assert_eq!(mode(&folder), 0o700, "{}", folder.display());
    }
    let mut files = vec![PathBuf::from(&custom)];
    files.extend(
        std::fs::read_dir(&directory)
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    for archive in [&custom, &directory] {
        files.push(PathBuf::from(format!("{archive}.json")));
    }
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&p.dir)
            .output()
            .unwrap()
    };
    assert!(git(&["init", "-q"]).status.success());
    let out = git(&["check-ignore", &custom, &format!("{directory}/toc.dat")]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn url_parameters_with_spaces_reach_pg_dump_and_pg_restore_as_written() {
    let p = project_with_data();
    // libpq decodes %20 but not `+`: re-encoded as form data, pg_dump would be given
    // `-c+lock_timeout=5000` and refuse it.
    p.write(
        ".env",
        &format!(
            "DATABASE_URL={}?options=-c%20lock_timeout%3D5000\n",
            p.db.url()
        ),
    );
    let archive = archive_of(&p.xtask(["backup", "--json"]).ok());
    p.db.sql("DELETE FROM doctors");
    p.xtask(["restore", &archive]).ok();
    assert_eq!(p.db.sql("SELECT count(*) FROM doctors"), "3");
}

#[test]
fn children_get_no_inherited_pg_variables() {
    let p = project_with_data();
    // Each would redirect or break the dump if pg_dump inherited it.
    let out = p
        .xtask(["backup"])
        .env("PGHOST", "nowhere.invalid")
        .env("PGPORT", "1")
        .env("PGDATABASE", "nope")
        .env("PGSERVICE", "missing-service")
        .ok();
    assert!(
        text(&out).contains("verified backup of local written"),
        "{}",
        text(&out)
    );
}

#[test]
fn killing_pg_dump_mid_way_leaves_nothing_listed_and_the_next_backup_is_whole() {
    let p = project_with_data();
    let locker = Locker::hold(&p.db.url(), None, "doctors");
    let child = p
        .xtask(["backup"])
        .command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dump = pg_dump_child_of(child.id());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dump as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    locker.release();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("pg_dump of 127.0.0.1:")
            && stderr(&out).contains("killed by signal 9"),
        "{}",
        text(&out)
    );
    let dir = p.path(".pgshift/backups/local");
    assert_eq!(visible_files(&dir), Vec::<String>::new());
    assert_eq!(
        json(&p.xtask(["backups", "--json"]).stdout())["backups"],
        json("[]")
    );

    p.xtask(["backup"]).ok();
    assert_eq!(visible_files(&dir).len(), 2, "{:?}", all_files(&dir));
    assert_eq!(
        json(&p.xtask(["backups", "--json"]).stdout())["backups"][0]["good"],
        true
    );
}

#[test]
fn killing_pgshift_mid_way_takes_pg_dump_down_and_the_next_backup_cleans_up() {
    let p = project_with_data();
    // Enough data that pg_dump is still writing when it is looked at.
    add_bulk(&p, 600000);
    let dir = p.path(".pgshift/backups/local");
    let mut child = p
        .xtask(["backup"])
        .command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dump = pg_dump_child_of(child.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            e.file_name().to_string_lossy().starts_with(".tmp-")
                && e.metadata().is_ok_and(|m| m.len() > 0)
        })
    {
        assert!(Instant::now() < deadline, "pg_dump never started writing");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(dump) {
        assert!(Instant::now() < deadline, "pg_dump outlived pgshift");
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = all_files(&dir);
    assert!(
        left.iter().any(|n| n.starts_with(".tmp-")),
        "expected the interrupted archive's temporary file: {left:?}"
    );
    assert_eq!(visible_files(&dir), Vec::<String>::new());
    assert_eq!(
        json(&p.xtask(["backups", "--json"]).stdout())["backups"],
        json("[]")
    );

    let out = p.xtask(["backup"]).ok();
    assert_eq!(
        stderr(&out)
            .matches("left by an interrupted backup")
            .count(),
        1,
        "{}",
        text(&out)
    );
    assert!(
        !all_files(&dir).iter().any(|n| n.starts_with(".tmp-")),
        "{:?}",
        all_files(&dir)
    );
    assert_eq!(visible_files(&dir).len(), 2);
}

/// The niceness of process `pid` (field 19 of /proc/PID/stat).
fn nice_of(pid: &str) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(") ").unwrap();
    rest.split_whitespace().nth(16).unwrap().parse().unwrap()
}

#[test]
fn the_row_counts_yield_the_cpu_to_pg_dump_on_a_server_on_this_machine() {
    let p = project_with_data();
    // Both pg_dump and the counts wait for this lock: each can be looked at mid-way.
    let locker = Locker::hold(&p.db.url(), None, "doctors");
    let child = p
        .xtask(["backup", "--json"])
        .command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = |query: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pid = locker.query(&format!(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE '{query}%'"
            ));
            if !pid.is_empty() {
                return pid;
            }
            assert!(Instant::now() < deadline, "nothing ran `{query}`");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let counting = waiting("SELECT 0::int4, count(*)");
    let dumping = waiting("LOCK TABLE");
    let (counting_nice, dumping_nice) = (nice_of(&counting), nice_of(&dumping));
    locker.release();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Without autogroups a reniced process could be starved by other work: left alone.
    let autogroups = std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled")
        .is_ok_and(|text| text.trim() == "1");
    let expected = if autogroups { 19 } else { 0 };
    assert_eq!(counting_nice, expected, "the counting server process");
    assert_eq!(dumping_nice, 0, "pg_dump's server process");
    // Still exact, in pg_dump's snapshot.
    let report = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(rows_of(&report["manifest"], "doctors"), 3);
}

#[test]
fn restore_latest_from_prod_rewrites_the_marker_and_prints_what_it_holds() {
    let p = ProdProject::new();
    p.write(
        "migrations/1_visits.sql",
        "CREATE TABLE visits (id int);\nINSERT INTO visits SELECT generate_series(1, 250);\n",
    );
    p.xtask_prod(["migrate-deploy", "--env", "prod", "--yes"])
        .ok();
    p.xtask_prod(["backup", "--env", "prod"]).ok();
    // Something local that the restore replaces.
    p.db.sql("CREATE TABLE visits (id int); INSERT INTO visits VALUES (-1)");

    let out = p.xtask_prod(["restore", "--latest", "--from", "prod"]).ok();
    let shown = text(&out);
    assert!(
        shown.contains("the restored database was marked `prod`; it is now marked `local`"),
        "{shown}"
    );
    assert!(
        shown.contains("migration 1, 4 tables, 253 rows") && shown.contains("matches the manifest"),
        "{shown}"
    );
    assert_eq!(p.db.sql("SELECT count(*), min(id) FROM visits"), "250|1");
    assert_eq!(p.db.sql("SELECT env FROM _pgshift_marker"), "local");
    // Local work goes on: the local database is no longer marked prod.
    p.xtask(["migrate-dev"]).ok();
    let password = prod_cluster().password();
    assert!(!shown.contains(password), "{shown}");
}

#[test]
fn a_protected_target_needs_consent_and_a_bad_archive_changes_nothing() {
    let p = ProdProject::new();
    p.prod_sql("CREATE TABLE visits (id int); INSERT INTO visits VALUES (1), (2)");
    let out = p.xtask_prod(["backup", "--env", "prod", "--json"]).ok();
    let archive = json(&String::from_utf8_lossy(&out.stdout))["archive_path"]
        .as_str()
        .unwrap()
        .to_string();
    p.prod_sql("INSERT INTO visits VALUES (3)");

    // Protected: no --yes off a terminal is a usage error, and prod keeps its three rows.
    let err = p
        .xtask_prod(["restore", &archive, "--env", "prod"])
        .fails_with(2);
    assert!(
        err.contains("protected environment") && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(p.prod_sql("SELECT count(*) FROM visits"), "3");

    // A corrupted copy (same manifest): sha256 says so before anything is dropped.
    p.db.sql("CREATE TABLE visits (id int); INSERT INTO visits VALUES (7)");
    let dir = Path::new(&archive).parent().unwrap();
    let bad = dir.join("prod-corrupt.dump");
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&bad, &bytes).unwrap();
    std::fs::copy(
        format!("{archive}.json"),
        dir.join("prod-corrupt.dump.json"),
    )
    .unwrap();
    let err = p.xtask(["backups", "verify"]).arg(&bad).fails_with(1);
    assert!(err.contains("does not match its manifest"), "{err}");
    let err = p.xtask(["restore"]).arg(&bad).fails_with(1);
    assert!(
        err.contains("does not match its manifest") && err.contains("use another backup"),
        "{err}"
    );
    assert_eq!(p.db.sql("SELECT id FROM visits"), "7");

    // Not an archive at all.
    let notes = p.write("notes.txt", "these are not the rows you are looking for\n");
    let err = p.xtask(["restore"]).arg(&notes).fails_with(1);
    assert!(err.contains("is not a pg_dump archive"), "{err}");
    let err = p.xtask(["backups", "verify"]).arg(&notes).fails_with(1);
    assert!(err.contains("is not a pg_dump archive"), "{err}");
    assert_eq!(p.db.sql("SELECT id FROM visits"), "7");

    // A database that does not exist.
    let err = p
        .xtask(["restore", &archive, "--database", "no_such_db"])
        .fails_with(1);
    assert!(
        err.contains("database no_such_db does not exist") && err.contains("nothing was changed"),
        "{err}"
    );

    // With --yes, prod is restored to the backup's two rows.
    p.xtask_prod(["restore", &archive, "--env", "prod", "--yes"])
        .ok();
    assert_eq!(p.prod_sql("SELECT count(*) FROM visits"), "2");
}

/// A project with `[env.prod]` (protected) whose database is a second database of the shared
/// cluster, deployed with `migrate-deploy --env prod` (so marked `prod`), holding 4 doctors;
/// and an archive of the local database (3 doctors).
fn project_with_a_marked_prod_database() -> (Project, support::TestDb, String) {
    let p = project_with_data();
    let archive = archive_of(&p.xtask(["backup", "--json"]).ok());
    let prod = support::TestDb::new();
    p.append(
        "pgshift.toml",
        "\n[env.prod]\nurl_env = \"PROD_DATABASE_URL\"\nprotected = true\n",
    );
    p.xtask(["migrate-deploy", "--env", "prod", "--yes"])
        .env("PROD_DATABASE_URL", prod.url())
        .ok();
    prod.sql("INSERT INTO doctors VALUES (4, 'd')");
    assert_eq!(prod.sql("SELECT env FROM _pgshift_marker"), "prod");
    (p, prod, archive)
}

#[test]
fn restoring_over_a_database_marked_as_a_protected_environment_needs_consent() {
    let (p, prod, archive) = project_with_a_marked_prod_database();
    let refused = |err: &str| {
        assert!(
            err.contains("the database is marked as environment `prod`, which is protected")
                && err.contains("pass --yes"),
            "{err}"
        );
        assert_eq!(prod.sql("SELECT count(*) FROM doctors"), "4");
        assert_eq!(prod.sql("SELECT env FROM _pgshift_marker"), "prod");
    };
    // Another database of the local server, by name.
    refused(
        &p.xtask(["restore", &archive, "--database", &prod.name])
            .fails_with(2),
    );
    // The local target, when .env's DATABASE_URL reaches the database marked prod.
    p.write(".env", &format!("DATABASE_URL={}\n", prod.url()));
    refused(&p.xtask(["restore", &archive]).fails_with(2));
    // With consent it is replaced.
    p.xtask(["restore", &archive, "--yes"]).ok();
    assert_eq!(prod.sql("SELECT count(*) FROM doctors"), "3");
}

#[test]
fn after_a_restore_the_database_is_marked_as_the_targets_environment() {
    let (p, prod, _) = project_with_a_marked_prod_database();
    let restored = |out: &std::process::Output, env: &str| {
        let report = json(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(report["marker_added"], true, "{report}");
        assert!(
            stderr(out).contains(&format!(
                "the archive carried no environment marker; the restored database is now marked `{env}`"
            )),
            "{}",
            text(out)
        );
    };
    // An archive without any marker table, into a database without one: one is made.
    p.db.sql("DROP TABLE _pgshift_marker");
    let bare = archive_of(&p.xtask(["backup", "--json"]).ok());
    restored(&p.xtask(["restore", &bare, "--json"]).ok(), "local");
    assert_eq!(p.db.sql("SELECT env FROM _pgshift_marker"), "local");

    // The archive of an unmarked database whose empty `_pgshift_marker` pg_restore --clean
    // puts in place of prod's: prod is marked prod again.
    p.db.sql("DELETE FROM _pgshift_marker");
    let unmarked = archive_of(&p.xtask(["backup", "--json"]).ok());
    restored(
        &p.xtask(["restore", &unmarked, "--env", "prod", "--yes", "--json"])
            .env("PROD_DATABASE_URL", prod.url())
            .ok(),
        "prod",
    );
    assert_eq!(prod.sql("SELECT env FROM _pgshift_marker"), "prod");
    assert_eq!(prod.sql("SELECT count(*) FROM doctors"), "3");
    // So local work pointed there is still refused.
    p.write(".env", &format!("DATABASE_URL={}\n", prod.url()));
    let err = p.xtask(["migrate-reset", "--force"]).fails_with(1);
    assert!(err.contains("marked as environment `prod`"), "{err}");
    assert_eq!(prod.sql("SELECT count(*) FROM doctors"), "3");
}

#[test]
fn unreachable_hosts_and_wrong_passwords_are_clear_errors_and_write_nothing() {
    let p = ProdProject::new();
    let wrong = prod_cluster().verified_url(&p.database).replace(
        &pgshift::target::percent_encode(prod_cluster().password()),
        "not-the-password",
    );
    let err = p
        .xtask(["backup", "--env", "prod"])
        .env("PROD_DATABASE_URL", &wrong)
        .fails_with(1);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");

    let port = support::free_port();
    let err = p
        .xtask(["backup", "--env", "prod"])
        .env(
            "PROD_DATABASE_URL",
            format!("postgres://postgres:secret@127.0.0.1:{port}/app"),
        )
        .fails_with(1);
    assert!(
        err.contains("cannot connect to") && !err.contains("secret"),
        "{err}"
    );
    assert_eq!(
        visible_files(&p.path(".pgshift/backups/prod")),
        Vec::<String>::new()
    );
}

#[test]
fn a_pg_dump_older_than_the_server_is_named_with_the_package_to_install() {
    let p = project_with_data();
    let bin = p.path("oldbin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = pgshift::pgbin::PgBin::find().unwrap().dir;
    for program in ["initdb", "pg_ctl", "pg_restore", "psql"] {
        std::os::unix::fs::symlink(real.join(program), bin.join(program)).unwrap();
    }
    std::fs::write(
        bin.join("pg_dump"),
        "#!/bin/sh\necho 'pg_dump (PostgreSQL) 14.9'\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("pg_dump"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let err = p
        .xtask(["backup"])
        .env("PGSHIFT_PG_BINDIR", &bin)
        .fails_with(1);
    assert!(
        err.contains("pg_dump 14.9 is older than the server")
            && err.contains("(PostgreSQL 15.")
            && err.contains("postgresql-client-15")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(
        visible_files(&p.path(".pgshift/backups/local")),
        Vec::<String>::new()
    );
}

#[test]
fn a_file_size_limit_mid_dump_is_named_and_leaves_nothing() {
    let p = project_with_data();
    add_bulk(&p, 40000);
    let mut command = p.xtask(["backup"]).command;
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            nix::sys::resource::setrlimit(
                nix::sys::resource::Resource::RLIMIT_FSIZE,
                256 * 1024,
                256 * 1024,
            )
            .map_err(std::io::Error::from)
        });
    }
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("file-size limit"), "{}", text(&out));
    let dir = p.path(".pgshift/backups/local");
    assert_eq!(all_files(&dir), [".lock"]);
}

#[test]
fn retention_keeps_the_newest_the_kept_and_keep_last() {
    let p = project_with_data();
    p.append("pgshift.toml", "\n[backup]\nkeep_last = 2\n");
    let made = |args: &[&str]| -> String {
        let out = p
            .xtask(["backup", "--json"])
            .command
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        json(&String::from_utf8_lossy(&out.stdout))["manifest"]["archive"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let kept = made(&["--keep"]);
    let second = made(&[]);
    let third = made(&[]);
    let fourth = made(&[]);
    let listed: Vec<String> = json(&p.xtask(["backups", "--json"]).stdout())["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manifest"]["archive"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        listed,
        [fourth.clone(), third.clone(), kept.clone()],
        "{second} should be gone"
    );

    // keep_last = 1 and `third` listed in [backup] keep: nothing to delete but... nothing.
    p.write(
        "pgshift.toml",
        &p.read("pgshift.toml").replace(
            "keep_last = 2",
            &format!("keep_last = 1\nkeep = [\"{third}\"]"),
        ),
    );
    let dry = p.xtask(["backups", "prune", "--dry-run"]).ok();
    assert!(stderr(&dry).contains("nothing to prune"), "{}", text(&dry));
    p.write(
        "pgshift.toml",
        &p.read("pgshift.toml")
            .replace(&format!("keep = [\"{third}\"]"), ""),
    );
    let dry = p.xtask(["backups", "prune", "--dry-run"]).ok();
    assert!(
        stderr(&dry).contains("would delete") && stderr(&dry).contains(&third),
        "{}",
        text(&dry)
    );
    assert_eq!(
        json(&p.xtask(["backups", "--json"]).stdout())["backups"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    p.xtask(["backups", "prune"]).ok();
    let left = json(&p.xtask(["backups", "--json"]).stdout())["backups"].clone();
    let left: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manifest"]["archive"].as_str().unwrap())
        .collect();
    assert_eq!(left, [fourth.as_str(), kept.as_str()]);
}

/// Copies the backup `archive` (custom format) under a name and manifest times in 2030.
fn copy_into_2030(archive: &str) -> PathBuf {
    let archive = Path::new(archive);
    let name = archive.file_name().unwrap().to_string_lossy().to_string();
    // `<env>-<database>-<UTC time>-v<migration>.dump`, none of the test's names with a `-`.
    let mut parts: Vec<&str> = name.split('-').collect();
    parts[2] = "20300101T000000000Z";
    let future = parts.join("-");
    let copy = archive.with_file_name(&future);
    std::fs::copy(archive, &copy).unwrap();
    let mut manifest =
        json(&std::fs::read_to_string(format!("{}.json", archive.display())).unwrap());
    manifest["archive"] = future.clone().into();
    manifest["started_at"] = "2030-01-01T00:00:00Z".into();
    manifest["finished_at"] = "2030-01-01T00:00:01Z".into();
    std::fs::write(format!("{}.json", copy.display()), manifest.to_string()).unwrap();
    copy
}

#[test]
fn retention_never_deletes_the_backup_just_made_and_names_a_future_dated_one() {
    let p = project_with_data();
    p.append("pgshift.toml", "\n[backup]\nkeep_last = 1\n");
    let first = archive_of(&p.xtask(["backup", "--json"]).ok());
    let future = copy_into_2030(&first);
    let out = p.xtask(["backup", "--json"]).ok();
    let made = archive_of(&out);
    assert!(
        Path::new(&made).exists(),
        "the backup just made was pruned:\n{}",
        text(&out)
    );
    assert!(future.exists());
    assert!(!Path::new(&first).exists(), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!("{} is dated in the future", future.display())),
        "{}",
        text(&out)
    );
    let report = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(report["future_dated"][0], future.to_string_lossy().as_ref());
}

/// Flips one byte in the middle of a file.
fn damage(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(path, &bytes).unwrap();
}

#[test]
fn a_damaged_newest_backup_is_not_what_pruning_or_restore_latest_rely_on() {
    let p = project_with_data();
    let intact = archive_of(&p.xtask(["backup", "--json"]).ok());
    let newest = archive_of(&p.xtask(["backup", "--json"]).ok());
    damage(Path::new(&newest));
    p.append("pgshift.toml", "\n[backup]\nkeep_last = 1\n");

    // restore --latest skips the damaged one, saying so.
    p.db.sql("DELETE FROM doctors");
    let out = p.xtask(["restore", "--latest"]).ok();
    assert!(
        stderr(&out).contains(&format!(
            "warning: {newest}: the archive does not match its manifest"
        )) && stderr(&out).contains("skipped for the newest intact backup")
            && stderr(&out).contains(&format!("restoring {intact} into")),
        "{}",
        text(&out)
    );
    assert_eq!(p.db.sql("SELECT count(*) FROM doctors"), "3");

    // Pruning keeps the only intact one, and leaves the damaged one for a person to look at.
    let out = p.xtask(["backups", "prune"]).ok();
    assert!(Path::new(&intact).exists(), "{}", text(&out));
    assert!(Path::new(&newest).exists(), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!("warning: {newest}: the archive does not match"))
            && stderr(&out).contains("nothing to prune"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_directory_format_backup_with_jobs_restores() {
    let p = project_with_data();
    let out = p.xtask(["backup", "--jobs", "2", "--json"]).ok();
    let report = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(report["manifest"]["format"], "directory");
    let archive = report["archive_path"].as_str().unwrap().to_string();
    assert!(Path::new(&archive).is_dir());
    p.xtask(["backups", "verify", &archive]).ok();
    p.db.sql("DELETE FROM doctors");
    let out = p.xtask(["restore", &archive, "--jobs", "2"]).ok();
    assert!(
        text(&out).contains("matches the manifest"),
        "{}",
        text(&out)
    );
    assert_eq!(p.db.sql("SELECT count(*) FROM doctors"), "3");
}

#[test]
fn help_of_the_backup_commands_gives_flags_and_an_example() {
    let p = Project::empty();
    for (command, flags) in [
        (
            &["backup"][..],
            &["--env <NAME>", "--json", "--label", "--jobs", "--keep"][..],
        ),
        (&["backups"], &["--env <NAME>", "--json"]),
        (&["backups", "verify"], &["--json"]),
        (
            &["backups", "prune"],
            &["--env <NAME>", "--json", "--dry-run"],
        ),
        (
            &["restore"],
            &[
                "--env <NAME>",
                "--json",
                "--yes",
                "--latest",
                "--from",
                "--database",
                "--jobs",
            ],
        ),
    ] {
        let out = p.xtask(command.iter().chain(&["--help"])).ok();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Example: "), "{command:?}:\n{help}");
        for flag in flags {
            assert!(help.contains(flag), "{command:?} lacks {flag}:\n{help}");
        }
    }
    // --yes is for restore only.
    let out = p.xtask(["backup", "--help"]).ok();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("--yes"));
}

#[test]
fn verify_restore_compares_a_scratch_copy_and_drops_it() {
    let p = project_with_data();
    p.db.sql(
        "CREATE TYPE mood AS ENUM ('ok', 'meh'); \
         CREATE TABLE moods (id int PRIMARY KEY, m mood NOT NULL DEFAULT 'ok', \
                             doctor int REFERENCES doctors (id)); \
         INSERT INTO moods VALUES (1, 'meh', 1), (2, 'ok', 2); \
         CREATE VIEW happy AS SELECT id FROM moods WHERE m = 'ok'",
    );
    for jobs in ["1", "2"] {
        let out = p
            .xtask(["backup", "--verify=restore", "--json", "--jobs", jobs])
            .ok();
        let report = json(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(report["manifest"]["restore_verified"], true, "{report}");
        assert_eq!(rows_of(&report["manifest"], "moods"), 2);
        assert!(
            stderr(&out).contains("the schema and every row count are as dumped"),
            "{}",
            text(&out)
        );
    }
    assert_eq!(
        p.db.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'pgshift_verify_%'"),
        "0"
    );
}

/// Starts `backup --verify=restore` and sends `signal` once its scratch database exists;
/// returns its output and the scratch databases of its pid still on the server afterwards.
fn verify_restore_signalled(
    p: &Project,
    signal: nix::sys::signal::Signal,
) -> (std::process::Output, String) {
    let child = p
        .xtask(["backup", "--verify=restore"])
        .command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let scratch = format!("SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'pgshift\\_verify\\_{}\\_%'", child.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    while p.db.sql(&scratch).is_empty() {
        assert!(Instant::now() < deadline, "no scratch database was made");
        std::thread::sleep(Duration::from_millis(10));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let out = child.wait_with_output().unwrap();
    // A SIGKILLed process leaves it: its name, before the next backup drops it.
    (out, p.db.sql(&scratch))
}

#[test]
fn an_interrupted_verify_restore_drops_its_scratch_database() {
    use nix::sys::signal::Signal;
    let p = project_with_data();
    // Enough rows that the restore into the scratch database takes a while.
    add_bulk(&p, 600000);
    for (signal, name) in [(Signal::SIGINT, "SIGINT"), (Signal::SIGTERM, "SIGTERM")] {
        let (out, left) = verify_restore_signalled(&p, signal);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            stderr(&out).contains(&format!(
                "{name} during --verify=restore: the scratch database was dropped"
            )),
            "{}",
            text(&out)
        );
        assert_eq!(left, "", "{}", text(&out));
    }
    assert_eq!(
        visible_files(&p.path(".pgshift/backups/local")),
        Vec::<String>::new()
    );
    // SIGKILL leaves it; the next verify drops it (its process is gone) and says so.
    let (_, left) = verify_restore_signalled(&p, Signal::SIGKILL);
    assert!(left.starts_with("pgshift_verify_"), "{left}");
    let out = p.xtask(["backup", "--verify=restore"]).ok();
    assert!(
        stderr(&out).contains(&format!("dropped {left}, the scratch database of a `backup --verify=restore` whose process is gone")),
        "{}",
        text(&out)
    );
    assert_eq!(
        p.db.sql(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{left}'"
        )),
        "0"
    );
}

#[test]
fn on_a_terminal_a_protected_restore_wants_the_database_name_typed_back() {
    let p = ProdProject::new();
    p.prod_sql("CREATE TABLE visits (id int); INSERT INTO visits VALUES (1), (2)");
    let out = p.xtask_prod(["backup", "--env", "prod", "--json"]).ok();
    let archive = json(&String::from_utf8_lossy(&out.stdout))["archive_path"]
        .as_str()
        .unwrap()
        .to_string();
    p.prod_sql("INSERT INTO visits VALUES (3)");
    let on_terminal = |input: &str| -> (i32, String) {
        let command = format!(
            "'{}' restore '{archive}' --env prod",
            env!("CARGO_BIN_EXE_xtask")
        );
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(&p.dir)
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .env("PROD_DATABASE_URL", &p.url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script (util-linux) runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code().unwrap_or(-1), text(&out))
    };
    let (code, shown) = on_terminal("prod\n");
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains(&format!("Type the database name `{}`", p.database))
            && shown.contains("nothing was restored"),
        "{shown}"
    );
    assert_eq!(p.prod_sql("SELECT count(*) FROM visits"), "3");
    let (code, shown) = on_terminal(&format!("{}\n", p.database));
    assert_eq!(code, 0, "{shown}");
    assert_eq!(p.prod_sql("SELECT count(*) FROM visits"), "2");
    assert!(!shown.contains(prod_cluster().password()), "{shown}");
}

#[test]
fn on_a_terminal_a_backup_shows_a_progress_bar() {
    let p = project_with_data();
    let locker = Locker::hold(&p.db.url(), None, "doctors");
    let command = format!("'{}' backup", env!("CARGO_BIN_EXE_xtask"));
    let child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(&p.dir)
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    // pg_dump waits for the lock a while: the bar is drawn meanwhile.
    std::thread::sleep(Duration::from_millis(1500));
    locker.release();
    let out = child.wait_with_output().unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains(" written, "), "{shown}");
    assert!(
        shown.contains("verified backup of local written"),
        "{shown}"
    );
}

#[test]
fn bench_backup_runs_at_a_tiny_scale_and_prints_every_ratio() {
    let p = Project::empty();
    let out = p
        .xtask([
            "bench", "backup", "--scale", "1", "--tables", "3", "--rows", "50",
        ])
        .ok();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    for line in [
        "whole database `bench` (pgbench scale 1, 100000 accounts, + 3 tables of 50 rows)",
        "multi-table part `many` (3 tables of 50 rows)",
        "backup -Fc (pgshift: + verify)",
        "restore, 1 job",
        "backup --jobs 2 (directory)",
        "restore --jobs 2",
        "--jobs 2 against the single-job tools: backup ",
    ] {
        assert_eq!(
            stdout.matches(line).count(),
            if line.starts_with("whole") || line.starts_with("multi") {
                1
            } else {
                2
            },
            "{line:?} in:\n{stdout}"
        );
    }
}

#[test]
fn a_role_that_cannot_read_a_schema_is_named_not_pg_dumps_snapshot_error() {
    let p = project_with_data();
    let role = format!("limited_{}", p.db.name);
    p.db.sql(&format!(
        "CREATE ROLE {role} LOGIN; \
         GRANT USAGE ON SCHEMA public TO {role}; \
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}; \
         CREATE SCHEMA \"Odd Schema\"; \
         CREATE TABLE \"Odd Schema\".secrets (id int); \
         INSERT INTO \"Odd Schema\".secrets VALUES (1)"
    ));
    let url = p.db.url().replacen("postgres@", &format!("{role}@"), 1);
    p.write(".env", &format!("DATABASE_URL={url}\n"));
    // A few times: which of the counts and pg_dump fails first is a race.
    for _ in 0..3 {
        let err = p.xtask(["backup"]).fails_with(1);
        assert!(
            err.contains("permission denied for schema Odd Schema"),
            "{err}"
        );
        assert!(
            err.contains("grant") && err.contains("or back up as the owner"),
            "{err}"
        );
        assert!(
            !err.contains("could not import the requested snapshot"),
            "{err}"
        );
    }
    assert_eq!(
        visible_files(&p.path(".pgshift/backups/local")),
        Vec::<String>::new()
    );
}

#[test]
fn an_environment_name_never_leads_a_backup_command_out_of_the_backup_folder() {
    let p = project_with_data();
    p.xtask(["backup"]).ok();
    p.xtask(["backup"]).ok();
    // Another project's backups, two of them, which keep_last = 1 would prune.
    let other = p.path("other");
    std::fs::create_dir_all(&other).unwrap();
    let local = p.path(".pgshift/backups/local");
    for name in visible_files(&local) {
        std::fs::copy(local.join(&name), other.join(&name)).unwrap();
    }
    p.append("pgshift.toml", "\n[backup]\nkeep_last = 1\n");
    let before = visible_files(&other);
    assert_eq!(before.len(), 4, "{before:?}");

    let err = p.xtask(["backups", "--env", "nope"]).fails_with(2);
    assert!(err.contains("unknown environment `nope`"), "{err}");
    let err = p
        .xtask(["backups", "prune", "--env"])
        .arg(&other)
        .fails_with(2);
    assert!(err.contains("unknown environment"), "{err}");
    assert_eq!(visible_files(&other), before);

    p.append(
        "pgshift.toml",
        "[env.\"../../../escape\"]\nurl_env = \"ESCAPE_DATABASE_URL\"\n",
    );
    let err = p
        .xtask(["backup", "--env", "../../../escape"])
        .env("ESCAPE_DATABASE_URL", p.db.url())
        .fails_with(2);
    assert!(
        err.contains("[env.\"../../../escape\"]") && err.contains("letters, digits"),
        "{err}"
    );
    assert!(!p.dir.parent().unwrap().join("escape").exists());
}

#[test]
fn a_missing_archive_or_a_backup_dir_that_is_a_file_is_one_clear_message() {
    let p = project_with_data();
    for command in [&["restore"][..], &["backups", "verify"]] {
        let err = p.xtask(command).arg("/nonexistent.dump").fails_with(1);
        assert!(
            err.contains(
                "no such file: /nonexistent.dump; `cargo xtask backups` lists the backups"
            ),
            "{err}"
        );
        assert!(!err.contains("entity not found"), "{err}");
    }

    p.write("not-a-folder", "");
    p.append("pgshift.toml", "\n[backup]\ndir = \"not-a-folder\"\n");
    let err = p.xtask(["backup"]).fails_with(1);
    assert!(
        err.contains("[backup] dir = \"")
            && err.contains("not-a-folder\" is a file, not a folder: point it at a folder"),
        "{err}"
    );
    assert_eq!(err.matches("Not a directory").count(), 0, "{err}");
}

#[test]
fn one_table_and_one_row_are_singular() {
    let p = Project::new();
    p.db.sql("CREATE TABLE only_one (id int); INSERT INTO only_one VALUES (1)");
    let out = p.xtask(["backup"]).ok();
    assert!(stderr(&out).contains(", 1 table, 1 row,"), "{}", text(&out));
}

#[test]
fn verify_names_a_table_the_manifest_lists_and_the_archive_lacks_without_backup_time_advice() {
    let p = project_with_data();
    let archive = archive_of(&p.xtask(["backup", "--json"]).ok());
    let manifest_path = format!("{archive}.json");
    let mut manifest = json(&std::fs::read_to_string(&manifest_path).unwrap());
    manifest["tables"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({ "schema": "public", "table": "ghost", "rows": 0 }));
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let err = p.xtask(["backups", "verify", &archive]).fails_with(1);
    assert!(
        err.contains("does not name these tables its manifest lists: public.ghost"),
        "{err}"
    );
    assert!(
        !err.contains("nothing was kept") && !err.contains("pg_dump's version"),
        "{err}"
    );
}
