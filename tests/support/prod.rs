//! A second cluster that plays production: TLS with a certificate made by the test (a CA,
//! and a server certificate for the name `localhost` only, so that `127.0.0.1` is a wrong
//! host name for `sslmode=verify-full`), and scram-sha-256 password authentication with a
//! generated password for every TCP connection. Client certificates signed by the same CA
//! log in as `pgshift::local::scratch::CERT_ROLE`. Started once per test binary.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use pgshift::local::scratch::{Secured, CERT_ROLE};
use pgshift::local::ScratchCluster;
use pgshift::target::percent_encode;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

pub struct ProdCluster {
    pub scratch: ScratchCluster,
    /// Holds `ca.crt`, `client.crt` and `client.key`.
    files: PathBuf,
    password: String,
}

/// The production-like cluster of this test binary, started on first use.
pub fn prod_cluster() -> &'static ProdCluster {
    static CLUSTER: OnceLock<ProdCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        ProdCluster::start().unwrap_or_else(|e| panic!("cannot start the prod cluster: {e:#}"))
    })
}

impl ProdCluster {
    fn start() -> anyhow::Result<ProdCluster> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "pgshift test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key)?;

        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(vec!["localhost".to_string()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key)?;

        let client_key = KeyPair::generate()?;
        let mut client = CertificateParams::new(Vec::<String>::new())?;
        client
            .distinguished_name
            .push(DnType::CommonName, CERT_ROLE);
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client.signed_by(&client_key, &ca_cert, &ca_key)?;

        let files = super::public_tempdir("pgshift-prod-certs-");
        std::fs::write(files.join("ca.crt"), ca_cert.pem())?;
        std::fs::write(files.join("client.crt"), client_cert.pem())?;
        let key = files.join("client.key");
        std::fs::write(&key, client_key.serialize_pem())?;
        // libpq and sqlx alike refuse a private key that others can read.
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;

        // Characters that must be percent-encoded in a URL, and a random part.
        let password = format!("p@ss/w:rd {}", random_hex(12));
        let scratch = ScratchCluster::start_secured(&Secured {
            cert_pem: &server_cert.pem(),
            key_pem: &server_key.serialize_pem(),
            client_ca_pem: Some(&ca_cert.pem()),
            password: &password,
        })?;
        Ok(ProdCluster {
            scratch,
            files,
            password,
        })
    }

    pub fn port(&self) -> u16 {
        self.scratch.port()
    }

    /// The generated password of role `postgres`: tests check that it is never printed.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The test CA's certificate, PEM: what `sslrootcert` names.
    pub fn ca_file(&self) -> PathBuf {
        self.files.join("ca.crt")
    }

    /// A client certificate and key for role `CERT_ROLE`.
    pub fn client_cert(&self) -> (PathBuf, PathBuf) {
        (self.files.join("client.crt"), self.files.join("client.key"))
    }

    /// `postgres://postgres:PASSWORD@HOST:PORT/DATABASE?PARAMS` (no `?` when `params` is
    /// empty).
    pub fn url(&self, host: &str, database: &str, params: &str) -> String {
        let mut url = format!(
            "postgres://postgres:{}@{host}:{}/{database}",
            percent_encode(&self.password),
            self.port()
        );
        if !params.is_empty() {
            url.push('?');
            url.push_str(params);
        }
        url
    }

    /// The URL a careful operator writes: full verification against the test CA.
    pub fn verified_url(&self, database: &str) -> String {
        self.url(
            "localhost",
            database,
            &format!(
                "sslmode=verify-full&sslrootcert={}",
                self.ca_file().display()
            ),
        )
    }

    /// A fresh database on the prod cluster.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "prod{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// Runs SQL on `database` through psql over TLS (the password in psql's environment,
    /// not its argv); returns the unaligned output.
    pub fn sql(&self, database: &str, sql: &str) -> String {
        let psql = pgshift::pgbin::PgBin::client("psql").unwrap();
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=require",
            self.port()
        );
        let out = Command::new(psql)
            .args([
                "-X",
                "-At",
                "-w",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &url,
                "-c",
                sql,
            ])
            .env("PGPASSWORD", &self.password)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql failed on {sql}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }
}

/// A test project whose `prod` environment (`protected = true`, URL in
/// `$PROD_DATABASE_URL`) is a fresh database of the prod cluster; its local database is a
/// fresh database of the shared plain cluster (`super::Project::new`).
pub struct ProdProject {
    pub project: super::Project,
    /// The prod database's name.
    pub database: String,
    /// Its fully verified URL (`verify-full` against the test CA), password included.
    pub url: String,
}

impl ProdProject {
    pub fn new() -> ProdProject {
        let project = super::Project::new();
        project.append(
            "pgshift.toml",
            "\n[env.prod]\nurl_env = \"PROD_DATABASE_URL\"\nprotected = true\n",
        );
        let database = prod_cluster().create_database();
        let url = prod_cluster().verified_url(&database);
        ProdProject {
            project,
            database,
            url,
        }
    }

    /// `cargo xtask ARGS` with `$PROD_DATABASE_URL` set to this project's prod URL.
    pub fn xtask_prod<I, S>(&self, args: I) -> super::TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.project.xtask(args).env("PROD_DATABASE_URL", &self.url)
    }

    /// SQL on the prod database (see `ProdCluster::sql`).
    pub fn prod_sql(&self, sql: &str) -> String {
        prod_cluster().sql(&self.database, sql)
    }
}

impl std::ops::Deref for ProdProject {
    type Target = super::Project;
    fn deref(&self) -> &super::Project {
        &self.project
    }
}

fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("reading /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
