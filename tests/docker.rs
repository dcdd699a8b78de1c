//! `cargo xtask db ...` on the docker backend, against a real Docker engine.
//!
//! The tests that need an engine are `#[ignore]`d with the reason, so that a plain
//! `cargo test` counts them as ignored rather than passed; `.ci/run` starts
//! `../shared/tools/docker-test-engine` (which exports `PGSHIFT_POSTGRES_IMAGE`) and runs
//! them with `cargo test -p xtask --test docker -- --include-ignored`. Once included, a
//! missing engine, compose tool or image fails them with the reason. The test engine has no
//! bridge network, so the projects use tests/fixtures/docker/docker-compose.yml: host
//! networking, the server bound to 127.0.0.1 on a free port.

mod support;

use std::process::Command;
use std::time::Duration;

use pgshift::local::docker;
use support::{free_port, repo_root, stderr, text, Project};

/// The local database's password in these projects: no output may ever show it.
const PASSWORD: &str = "pw-never-shown-4f1c";

/// Panics with the reason when the Docker engine, the compose tool or the test image is
/// missing: an included Docker test never passes without running.
fn require_docker() {
    if let Err(e) = docker::engine_version(Duration::from_secs(10)) {
        panic!(
            "no Docker engine: {e}; run ../shared/tools/docker-test-engine and eval its last line"
        );
    }
    if let Err(e) = docker::compose_tool() {
        panic!("no compose tool: {e:#}");
    }
    let image = std::env::var(docker::IMAGE_VAR).unwrap_or_else(|_| {
        panic!(
            "{} is not set; eval the last line of ../shared/tools/docker-test-engine",
            docker::IMAGE_VAR
        )
    });
    let present = Command::new("docker")
        .args(["image", "inspect", &image])
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        present,
        "the image {image} is not present; run ../shared/tools/docker-test-engine"
    );
}

/// A project on the docker backend whose container and volume are removed when the test
/// ends, even on a panic.
struct DockerProject {
    project: Project,
    port: u16,
}

impl DockerProject {
    /// With `compose` (a file of tests/fixtures/docker/) as its compose file.
    fn new(compose: &str) -> DockerProject {
        let project = Project::empty();
        let fixture = repo_root().join("tests/fixtures/docker").join(compose);
        project.write(
            "docker/docker-compose.yml",
            &std::fs::read_to_string(fixture).unwrap(),
        );
        let port = free_port();
        project.write(
            "pgshift.toml",
            &format!(
                "[local]\nbackend = \"docker\"\ndatabase = \"clinic\"\nport = {port}\n\
                 password = \"{PASSWORD}\"\nstart_timeout = \"90s\"\n"
            ),
        );
        DockerProject { project, port }
    }

    fn compose_project(&self) -> String {
        docker::project_name(&self.project.dir)
    }

    /// `docker ps` / `docker volume ls` ids carrying this project's compose label.
    fn labelled(&self, what: &[&str]) -> String {
        let out = Command::new("docker")
            .args(what)
            .args([
                "-q",
                "--filter",
                &format!(
                    "label=com.docker.compose.project={}",
                    self.compose_project()
                ),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for DockerProject {
    fn drop(&mut self) {
        let _ = self.project.xtask(["db", "down", "--volumes"]).output();
    }
}

impl std::ops::Deref for DockerProject {
    type Target = Project;
    fn deref(&self) -> &Project {
        &self.project
    }
}

fn no_password(out: &std::process::Output) {
    assert!(
        !text(out).contains(PASSWORD),
        "the password leaked:\n{}",
        text(out)
    );
}

/// One container through the whole lifecycle: up (healthy), up again, psql, status, logs,
/// down keeps the data, down --volumes removes it.
#[test]
#[ignore = "needs a Docker engine; .ci/run runs it with --include-ignored"]
fn docker_lifecycle_keeps_data_until_down_volumes() {
    require_docker();
    let p = DockerProject::new("docker-compose.yml");

    let out = p.xtask(["db", "up"]).ok();
    no_password(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("postgres://postgres:***@127.0.0.1:{}/clinic", p.port),
        "{}",
        text(&out)
    );
    assert!(
        stderr(&out).contains("local database (docker) started"),
        "{}",
        text(&out)
    );

    let again = p.xtask(["db", "up"]).ok();
    assert!(
        stderr(&again).contains("already running"),
        "{}",
        text(&again)
    );

    let one = p
        .xtask(["db", "psql", "--", "-At", "-c", "select 1"])
        .stdout();
    assert_eq!(one.trim(), "1");
    p.xtask([
        "db",
        "psql",
        "--",
        "-c",
        "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)",
    ])
    .ok();

    let out = p.xtask(["db", "status"]).ok();
    no_password(&out);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains("backend:  docker"), "{status}");
    assert!(status.contains("running:  yes"), "{status}");
    assert!(status.contains("version:  15."), "{status}");
    let volume = format!("docker volume {}_pgdata", p.compose_project());
    assert!(status.contains(&volume), "{status}");

    let json: serde_json::Value =
        serde_json::from_str(&p.xtask(["db", "status", "--json"]).stdout()).unwrap();
    assert_eq!(json["backend"], "docker");
    assert_eq!(json["running"], true);
    assert_eq!(json["port"], p.port);
    assert!(
        json["server_version"].as_str().unwrap().starts_with("15."),
        "{json}"
    );
    assert_eq!(json["data"], volume);

    let logs = p.xtask(["db", "logs", "-n", "20"]).stdout();
    assert!(
        logs.contains("database system is ready to accept connections"),
        "{logs}"
    );

    let down = p.xtask(["db", "down"]).ok();
    assert!(
        stderr(&down).contains("(docker) stopped"),
        "{}",
        text(&down)
    );
    let json: serde_json::Value =
        serde_json::from_str(&p.xtask(["db", "status", "--json"]).stdout()).unwrap();
    assert_eq!(json["running"], false);
    assert_eq!(
        p.labelled(&["ps", "-a"]),
        "",
        "db down removes the container"
    );
    assert_ne!(
        p.labelled(&["volume", "ls"]),
        "",
        "db down keeps the volume"
    );

    p.xtask(["db", "up"]).ok();
    let kept = p
        .xtask(["db", "psql", "--", "-At", "-c", "SELECT n FROM kept"])
        .stdout();
    assert_eq!(kept.trim(), "42", "the data survives db down / db up");

    let out = p.xtask(["db", "down", "--volumes"]).ok();
    assert!(
        stderr(&out).contains("its data was deleted"),
        "{}",
        text(&out)
    );
    assert_eq!(p.labelled(&["ps", "-a"]), "");
    assert_eq!(
        p.labelled(&["volume", "ls"]),
        "",
        "db down --volumes removes the volume"
    );
}

/// An image that is not there fails before `up`: no pull, no container.
#[test]
#[ignore = "needs a Docker engine; .ci/run runs it with --include-ignored"]
fn absent_image_fails_before_up() {
    require_docker();
    let p = DockerProject::new("docker-compose.yml");
    let err = p
        .xtask(["db", "up"])
        .env(docker::IMAGE_VAR, "pgshift-local/absent:0")
        .fails_with(1);
    assert!(err.contains("pgshift-local/absent:0"), "{err}");
    assert!(err.contains("not present locally"), "{err}");
    assert!(
        err.contains("`docker pull pgshift-local/absent:0`"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    assert_eq!(p.labelled(&["ps", "-a"]), "", "no container was created");
}

/// A server that dies at start fails `db up` with the container's last log lines.
#[test]
#[ignore = "needs a Docker engine; .ci/run runs it with --include-ignored"]
fn crashing_container_fails_up_with_its_log() {
    require_docker();
    let p = DockerProject::new("crashing-server.yml");
    let err = p.xtask(["db", "up"]).fails_with(1);
    assert!(err.contains("exited with code"), "{err}");
    assert!(err.contains("last log lines"), "{err}");
    assert!(err.contains("not_a_setting"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

/// `auto` picks docker when the engine answers, and says so.
#[test]
#[ignore = "needs a Docker engine; .ci/run runs it with --include-ignored"]
fn auto_picks_docker_when_the_engine_answers() {
    require_docker();
    let p = DockerProject::new("docker-compose.yml");
    p.write(
        "pgshift.toml",
        &format!("[local]\nbackend = \"auto\"\nport = {}\n", p.port),
    );
    let out = p.xtask(["db", "status", "--json"]).ok();
    assert!(
        stderr(&out).contains("backend auto: a Docker engine answers, using docker"),
        "{}",
        text(&out)
    );
    let json: serde_json::Value =
        serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(json["backend"], "docker");
    assert_eq!(json["running"], false);
}

/// The shipped docker/docker-compose.yml parses, with the config's values and the image
/// override in place.
#[test]
#[ignore = "needs a Docker engine; .ci/run runs it with --include-ignored"]
fn shipped_compose_file_parses() {
    require_docker();
    let tool = docker::compose_tool().unwrap();
    let config = |image: Option<&str>| {
        let mut command = Command::new(if tool.kind == docker::ComposeKind::V2 {
            "docker"
        } else {
            "docker-compose"
        });
        if tool.kind == docker::ComposeKind::V2 {
            command.arg("compose");
        }
        command
            .arg("-f")
            .arg(repo_root().join("docker/docker-compose.yml"))
            .args(["-p", "pgshift-config-test", "config"])
            .env(docker::PORT_VAR, "6543")
            .env(docker::USER_VAR, "clinic_user")
            .env(docker::PASSWORD_VAR, PASSWORD)
            .env(docker::DATABASE_VAR, "clinic")
            .env_remove(docker::IMAGE_VAR);
        if let Some(image) = image {
            command.env(docker::IMAGE_VAR, image);
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{} config failed:\n{}",
            tool.invocation(),
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let yaml = config(None);
    assert!(yaml.contains("image: postgres:16.4-bookworm"), "{yaml}");
    assert!(yaml.contains("6543"), "{yaml}");
    assert!(yaml.contains("127.0.0.1"), "{yaml}");
    assert!(yaml.contains("POSTGRES_USER: clinic_user"), "{yaml}");
    assert!(yaml.contains("POSTGRES_DB: clinic"), "{yaml}");
    assert!(yaml.contains("pg_isready"), "{yaml}");
    assert!(yaml.contains("pgdata"), "{yaml}");
    let yaml = config(Some("example/postgres:15"));
    assert!(yaml.contains("image: example/postgres:15"), "{yaml}");
}

/// A compose file that is not there is named, with the config key to change.
#[test]
fn missing_compose_file_is_named() {
    let p = Project::empty();
    p.write(
        "pgshift.toml",
        "[local]\nbackend = \"docker\"\ncompose_file = \"infra/compose.yml\"\n",
    );
    let err = p.xtask(["db", "up"]).fails_with(1);
    assert!(err.contains("infra/compose.yml"), "{err}");
    assert!(err.contains("[local] compose_file"), "{err}");
}

/// A taken port fails `db up` before compose runs, naming the port and the key.
#[test]
#[ignore = "needs a Docker engine; .ci/run runs it with --include-ignored"]
fn taken_port_names_the_port_and_the_key() {
    require_docker();
    let p = DockerProject::new("docker-compose.yml");
    let listener = std::net::TcpListener::bind(("127.0.0.1", p.port)).unwrap();
    let err = p.xtask(["db", "up"]).fails_with(1);
    assert!(err.contains(&format!("port {}", p.port)), "{err}");
    assert!(err.contains("[local] port"), "{err}");
    assert!(p.labelled(&["ps", "-a"]).is_empty(), "a container was made");
    drop(listener);
}

/// In a compose file with other services, `db down --volumes` removes only the database
/// service's container and volume.
#[test]
#[ignore = "needs a Docker engine; .ci/run runs it with --include-ignored"]
fn down_volumes_leaves_other_services_alone() {
    require_docker();
    let p = DockerProject::new("docker-compose.yml");
    let shipped = p.read("docker/docker-compose.yml");
    let (services, volumes) = shipped.split_once("\nvolumes:\n").unwrap();
    p.write(
        "docker/docker-compose.yml",
        &format!(
            "{services}\n  cache:\n    image: ${{PGSHIFT_POSTGRES_IMAGE:-pgshift-local/postgres:15}}\n    \
             network_mode: host\n    entrypoint: [\"sleep\", \"600\"]\n    volumes:\n      \
             - cachedata:/cache\n\nvolumes:\n{volumes}  cachedata:\n"
        ),
    );
    p.xtask(["db", "up"]).ok();
    let tool = docker::compose_tool().unwrap();
    let mut up_cache = Command::new(if tool.kind == docker::ComposeKind::V2 {
        "docker"
    } else {
        "docker-compose"
    });
    if tool.kind == docker::ComposeKind::V2 {
        up_cache.arg("compose");
    }
    let out = up_cache
        .arg("-f")
        .arg(p.path("docker/docker-compose.yml"))
        .args(["-p", &p.compose_project(), "up", "-d", "cache"])
        .env("PGSHIFT_PORT", p.port.to_string())
        .env("PGSHIFT_DB_USER", "postgres")
        .env("PGSHIFT_DB_PASSWORD", PASSWORD)
        .env("PGSHIFT_DB_NAME", "clinic")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let volume_names = |p: &DockerProject| {
        let out = Command::new("docker")
            .args([
                "volume",
                "ls",
                "--format",
                "{{.Name}}",
                "--filter",
                &format!("label=com.docker.compose.project={}", p.compose_project()),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let before = volume_names(&p);
    assert!(
        before.contains("_pgdata") && before.contains("_cachedata"),
        "{before}"
    );

    // First a plain down (the container goes, the volume stays), then --volumes: the
    // volume is found without the container, through the compose file and its labels.
    p.xtask(["db", "down"]).ok();
    assert!(volume_names(&p).contains("_pgdata"));
    p.xtask(["db", "down", "--volumes"]).ok();
    let after = volume_names(&p);
    assert!(!after.contains("_pgdata"), "{after}");
    assert!(
        after.contains("_cachedata"),
        "db down --volumes removed another service's volume: {after}"
    );
    assert_eq!(
        p.labelled(&["ps"]).lines().count(),
        1,
        "the cache service must still run"
    );

    // Clean up the cache service by hand: `db down` only ever touches the database's.
    let mut down = Command::new(if tool.kind == docker::ComposeKind::V2 {
        "docker"
    } else {
        "docker-compose"
    });
    if tool.kind == docker::ComposeKind::V2 {
        down.arg("compose");
    }
    let _ = down
        .arg("-f")
        .arg(p.path("docker/docker-compose.yml"))
        .args(["-p", &p.compose_project(), "down", "--volumes"])
        .env("PGSHIFT_PORT", p.port.to_string())
        .output();
}

/// Compose v2 is a Docker CLI plugin, which Debian does not package; a plugin that hands
/// its arguments to the installed v1 shows that pgshift drives `docker compose` correctly
/// (the invocation, the flags, the environment) whenever the plugin answers.
#[test]
#[ignore = "needs a Docker engine; .ci/run runs it with --include-ignored"]
fn compose_v2_plugin_is_preferred_and_driven_correctly() {
    require_docker();
    let p = DockerProject::new("docker-compose.yml");
    let config = p.path("docker-config");
    let plugin = config.join("cli-plugins/docker-compose");
    p.write(
        "docker-config/cli-plugins/docker-compose",
        r#"#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"pgshift tests","Version":"v2.99.0","ShortDescription":"v2 shim"}'
  exit 0
fi
echo "$*" >> "$(dirname "$0")/../calls"
shift
[ "$1" = version ] && { echo "Docker Compose version v2.99.0"; exit 0; }
exec docker-compose "$@"
"#,
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = p.xtask(["db", "up"]).env("DOCKER_CONFIG", &config).ok();
    no_password(&out);
    let selected = p
        .xtask(["db", "psql", "--", "-At", "-c", "SELECT 41 + 1"])
        .env("DOCKER_CONFIG", &config)
        .stdout();
    assert_eq!(selected.trim(), "42");
    p.xtask(["db", "down", "--volumes"])
        .env("DOCKER_CONFIG", &config)
        .ok();
    let calls = p.read("docker-config/calls");
    assert!(
        calls
            .lines()
            .any(|l| l.starts_with("compose ") && l.contains(" up")),
        "{calls}"
    );
    assert!(
        !calls.contains(PASSWORD),
        "the password reached the plugin's argv:\n{calls}"
    );
    assert_eq!(p.labelled(&["ps", "-a"]), "");
}

/// Issue 10, promise 4: this machine's pg_dump is older than the server (a stand-in that
/// says 14.9) and the local backend is Docker, so the dump runs inside the container
/// (`docker exec ... pg_dump`), streamed into the archive here and verified by the
/// container's pg_restore. The password reaches it through docker's environment: a
/// `docker` wrapper records every command line, and none holds it.
#[test]
#[ignore = "needs a Docker engine; .ci/run runs it with --include-ignored"]
fn an_older_host_pg_dump_dumps_inside_the_docker_container() {
    use std::os::unix::fs::PermissionsExt;
    require_docker();
    let p = DockerProject::new("docker-compose.yml");
    p.xtask(["db", "up"]).ok();
    p.write(
        "migrations/1_patients.sql",
        "CREATE TABLE patients (id int);\nINSERT INTO patients SELECT generate_series(1, 500);\n",
    );
    p.xtask(["migrate-deploy"]).ok();

    let bin = p.path("oldbin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = pgshift::pgbin::PgBin::find().unwrap().dir;
    for program in ["initdb", "pg_ctl", "pg_restore", "psql"] {
        std::os::unix::fs::symlink(real.join(program), bin.join(program)).unwrap();
    }
    let executable = |path: &std::path::Path, text: &str| {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    executable(
        &bin.join("pg_dump"),
        "#!/bin/sh\necho 'pg_dump (PostgreSQL) 14.9'\nexit 0\n",
    );
    let wrappers = p.path("wrappers");
    std::fs::create_dir_all(&wrappers).unwrap();
    let real_docker = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v docker"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let argv_log = p.path("docker-argv.log");
    executable(
        &wrappers.join("docker"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            argv_log.display(),
            real_docker.trim()
        ),
    );
    let path = format!(
        "{}:{}",
        wrappers.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let out = p
        .xtask(["backup", "--json"])
        .env("PGSHIFT_PG_BINDIR", &bin)
        .env("PATH", &path)
        .ok();
    no_password(&out);
    let report: serde_json::Value =
        serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let manifest = &report["manifest"];
    assert!(
        manifest["pg_dump_version"]
            .as_str()
            .unwrap()
            .starts_with("15"),
        "{report}"
    );
    assert_eq!(manifest["verified"], true, "{report}");
    assert_eq!(manifest["format"], "custom", "{report}");
    let patients = manifest["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "patients")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(patients["rows"], 500, "{report}");
    assert!(
        stderr(&out).contains("dumping inside the Docker container"),
        "{}",
        text(&out)
    );
    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(
        argv.lines().any(
            |l| l.starts_with("exec -e PGPASSWORD -e PGAPPNAME=pgshift ")
                && l.contains(" pg_dump ")
        ),
        "{argv}"
    );
    assert!(
        !argv.contains(PASSWORD),
        "the password was in docker's argv:\n{argv}"
    );

    // The archive is an ordinary one: this machine's tools check and restore it.
    let archive = report["archive_path"].as_str().unwrap().to_string();
    p.xtask(["backups", "verify", &archive]).ok();
    p.xtask(["db", "psql", "--", "-c", "DELETE FROM patients"])
        .ok();
    let out = p.xtask(["restore", &archive]).ok();
    assert!(
        text(&out).contains("matches the manifest"),
        "{}",
        text(&out)
    );

    // A directory archive cannot come out of `docker exec`: said, and nothing written.
    let err = p
        .xtask(["backup", "--jobs", "2"])
        .env("PGSHIFT_PG_BINDIR", &bin)
        .env("PATH", &path)
        .fails_with(1);
    assert!(err.contains("run the backup without --jobs"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}
