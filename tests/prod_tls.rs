//! Reaching a production-like server: TLS (`sslmode`, `sslrootcert`, `sslcert`/`sslkey`)
//! and password authentication, through the real commands.

mod support;

use support::prod::{ProdCluster, ProdProject};
use support::{prod_cluster, text};

/// A project with a protected `prod` environment whose database is a fresh database of the
/// prod cluster, and one migration.
fn prod_project() -> (ProdProject, String) {
    let p = ProdProject::new();
    p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
    let database = p.database.clone();
    (p, database)
}

/// Fails if the password, in any spelling, shows in `out`.
fn assert_no_password(prod: &ProdCluster, out: &str) {
    for spelling in [
        prod.password().to_string(),
        pgshift::target::percent_encode(prod.password()),
    ] {
        assert!(!out.contains(&spelling), "the password leaked:\n{out}");
    }
}

#[test]
fn every_verifying_sslmode_reaches_the_tls_server() {
    let prod = prod_cluster();
    let (p, database) = prod_project();
    let ca = prod.ca_file().display().to_string();
    for (host, params) in [
        ("127.0.0.1", "sslmode=require".to_string()),
        ("127.0.0.1", format!("sslmode=verify-ca&sslrootcert={ca}")),
        ("localhost", format!("sslmode=verify-full&sslrootcert={ca}")),
        // libpq's spelling of the default.
        ("localhost", format!("sslmode=prefer&sslrootcert={ca}")),
    ] {
        let url = prod.url(host, &database, &params);
        let out = p
            .xtask(["migrate-status", "--env", "prod"])
            .env("PROD_DATABASE_URL", &url)
            .ok();
        let shown = text(&out);
        assert!(shown.contains("pending"), "{params}: {shown}");
        assert_no_password(prod, &shown);
    }
    // A deploy over a fully verified connection, and the session was encrypted.
    let url = prod.verified_url(&database);
    let out = p
        .xtask(["--yes", "--json", "migrate-deploy", "--env", "prod"])
        .env("PROD_DATABASE_URL", &url)
        .ok();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["applied"].as_array().unwrap().len(),
        1,
        "{}",
        text(&out)
    );
    assert_no_password(prod, &text(&out));
    assert_eq!(prod.sql(&database, "SELECT count(*) FROM a"), "0");
}

#[test]
fn verify_full_refuses_a_certificate_for_another_host_name() {
    let prod = prod_cluster();
    let (p, database) = prod_project();
    let ca = prod.ca_file().display().to_string();
    // The certificate names `localhost` only.
    let url = prod.url(
        "127.0.0.1",
        &database,
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let err = p
        .xtask(["migrate-status", "--env", "prod"])
        .env("PROD_DATABASE_URL", &url)
        .fails_with(1);
    println!("{err}");
    assert!(
        err.contains("not valid for the host name 127.0.0.1"),
        "{err}"
    );
    assert!(err.contains("verify-full"), "{err}");
    assert_no_password(prod, &err);
}

#[test]
fn verify_ca_without_the_root_certificate_fails_with_what_to_set() {
    let prod = prod_cluster();
    let (p, database) = prod_project();
    let url = prod.url("localhost", &database, "sslmode=verify-ca");
    let err = p
        .xtask(["migrate-status", "--env", "prod"])
        .env("PROD_DATABASE_URL", &url)
        .fails_with(1);
    println!("{err}");
    assert!(
        err.contains("not signed by a certificate authority"),
        "{err}"
    );
    assert!(err.contains("sslrootcert="), "{err}");
    assert_no_password(prod, &err);
}

#[test]
fn require_with_a_root_certificate_verifies_it_as_libpq_does() {
    let prod = prod_cluster();
    let (p, database) = prod_project();
    // A CA that did not sign the server's certificate: libpq treats sslmode=require with an
    // sslrootcert as verify-ca, so this must fail rather than connect unverified.
    let other_ca = p.write(
        "other-ca.crt",
        &rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap()
            .pem(),
    );
    let url = prod.url(
        "localhost",
        &database,
        &format!("sslmode=require&sslrootcert={}", other_ca.display()),
    );
    let err = p
        .xtask(["migrate-status", "--env", "prod"])
        .env("PROD_DATABASE_URL", &url)
        .fails_with(1);
    assert!(
        err.contains("not signed by a certificate authority"),
        "{err}"
    );
}

#[test]
fn a_client_certificate_logs_in_where_the_server_asks_for_one() {
    let prod = prod_cluster();
    let (p, database) = prod_project();
    let (cert, key) = prod.client_cert();
    let role = pgshift::local::scratch::CERT_ROLE;
    let base = format!(
        "postgres://{role}@localhost:{}/{database}?sslmode=verify-full&sslrootcert={}",
        prod.port(),
        prod.ca_file().display()
    );
    let url = format!("{base}&sslcert={}&sslkey={}", cert.display(), key.display());
    let out = p
        .xtask(["migrate-status", "--env", "prod"])
        .env("PROD_DATABASE_URL", &url)
        .ok();
    assert!(text(&out).contains("pending"), "{}", text(&out));
    // Without the certificate the server refuses the role.
    let err = p
        .xtask(["migrate-status", "--env", "prod"])
        .env("PROD_DATABASE_URL", &base)
        .fails_with(1);
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn a_wrong_password_says_so_without_showing_either_password() {
    let prod = prod_cluster();
    let (p, database) = prod_project();
    let url = prod.verified_url(&database).replace(
        &pgshift::target::percent_encode(prod.password()),
        "wrong-secret-9",
    );
    let err = p
        .xtask(["migrate-status", "--env", "prod"])
        .env("PROD_DATABASE_URL", &url)
        .fails_with(1);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(err.contains("check the user name and password"), "{err}");
    assert!(!err.contains("wrong-secret-9"), "{err}");
    assert_no_password(prod, &err);
}

#[test]
fn require_against_a_server_without_tls_says_so() {
    let (p, _database) = prod_project();
    // The shared test cluster has no TLS.
    let url = format!(
        "{}?sslmode=require",
        support::cluster().url("postgres").expose()
    );
    let err = p
        .xtask(["migrate-status", "--env", "prod"])
        .env("PROD_DATABASE_URL", &url)
        .fails_with(1);
    assert!(
        err.contains("the server does not offer TLS, which sslmode=require insists on"),
        "{err}"
    );
}

#[test]
fn db_psql_reaches_the_tls_server_with_the_same_url() {
    let prod = prod_cluster();
    let (p, _database) = prod_project();
    // psql (libpq) gets the URL's TLS parameters and the password in its environment.
    let out = p
        .xtask_prod([
            "db",
            "psql",
            "--env",
            "prod",
            "--yes",
            "--",
            "-At",
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ])
        .ok();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "t",
        "{}",
        text(&out)
    );
    assert_no_password(prod, &text(&out));
}
