//! Redaction against a generated corpus: every combination of schemes (and their typos),
//! userinfo spellings, hosts, paths, password parameters spelled many ways, and the free
//! text around them, with passwords drawn by a deterministic generator from characters that
//! confuse URL parsing. A password is made of "cores" (4 distinctive characters) joined by
//! such characters; no core may show anywhere.

use super::{percent_encode, redact, DbUrl};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// Characters and sequences that break naive URL handling. No newline (a line is the unit
/// of free text) and no leading digit (`h:5432/x` is a port).
const JOINERS: &[&str] = &[
    " ", "/", "?", "#", "@", ":", "%", "%40", "%2F", "&", "=", "+", "$", "'", "\"", ";", ",", "!",
    "*", "(", ")", "[", "]", "~", "é", "%20", "\\", "-", ".", "@ ", " @", "::", "//", "%%", "%zz",
    "\t", "ü@:/",
];

/// Joiners that keep a query parameter's value one value when written unencoded.
const QUERY_JOINERS: &[&str] = &[
    "/", "?", ":", "@", "$", "'", "(", ")", "!", "*", ",", ";", "~", "%40", "-", ".", "=",
];

struct Password {
    text: String,
    cores: Vec<String>,
}

fn password(rng: &mut Rng, joiners: &[&str]) -> Password {
    const FIRST: &[u8] = b"QXJKVZ";
    const REST: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut text = String::new();
    let mut cores = Vec::new();
    if rng.next() % 3 == 0 {
        text.push_str(rng.pick::<&str>(joiners));
    }
    for k in 0..3 {
        if k > 0 {
            text.push_str(rng.pick::<&str>(joiners));
            if rng.next() % 2 == 0 {
                text.push_str(rng.pick::<&str>(joiners));
            }
        }
        let mut core = String::new();
        core.push(*rng.pick(FIRST) as char);
        for _ in 0..3 {
            core.push(*rng.pick(REST) as char);
        }
        text.push_str(&core);
        cores.push(core);
    }
    Password { text, cores }
}

/// The password with only what ends a userinfo encoded.
fn encode_some(text: &str) -> String {
    text.replace('%', "%25")
        .replace('@', "%40")
        .replace('/', "%2F")
        .replace('?', "%3F")
        .replace('#', "%23")
        .replace(' ', "%20")
        .replace('\t', "%09")
}

fn contexts(url: &str, other: &str) -> Vec<String> {
    vec![
        url.to_string(),
        format!("error: cannot connect to {url}: connection refused"),
        format!("'{url}'"),
        format!("\"{url}\""),
        format!("(url={url})"),
        format!("url: <{url}>, retrying"),
        format!("first line\n{url}\nlast line bob@example.com"),
        format!("DATABASE_URL={url} # from .env"),
        format!("{url} and then {other} failed"),
        format!("psql: error: connection to server at \"h\" failed: {url} as user@host"),
    ]
}

fn assert_hidden(text: &str, cores: &[String], what: &str) {
    let redacted = redact(text);
    for core in cores {
        assert!(
            !redacted.contains(core.as_str()),
            "{what}: `{core}` shows in\n{redacted}\nfrom\n{text}"
        );
    }
    assert_eq!(redact(&redacted), redacted, "{what}: not stable: {text}");
}

#[test]
fn generated_urls_never_show_their_password() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let schemes = [
        "postgres://",
        "postgresql://",
        "postgres:/",
        "postgresql:",
        "postgres:",
        "POSTGRES://",
        "PostgreSQL://",
        "postgres:///",
        "postgres//",
        "postgress://",
        "pgsql://",
        "mysql://",
    ];
    let users = ["u", "app_user", "a%40b", "", "me.you", "%C3%BC"];
    let hosts = [
        "h",
        "db.example.com:5432",
        "127.0.0.1:5433",
        "[::1]:5432",
        "%2Fvar%2Frun%2Fpostgresql",
        "localhost",
    ];
    let paths = ["/db", "", "/my%20db", "/db?sslmode=disable"];
    let mut cases = 0usize;
    let mut parsed_ok = 0usize;
    for scheme in schemes {
        for user in users {
            for host in hosts {
                for path in paths {
                    for encoding in 0..3 {
                        let pw = password(&mut rng, JOINERS);
                        let written = match encoding {
                            0 => pw.text.clone(),
                            1 => percent_encode(&pw.text),
                            _ => encode_some(&pw.text),
                        };
                        let url = format!("{scheme}{user}:{written}@{host}{path}");
                        let other_pw = password(&mut rng, JOINERS);
                        let other = format!("postgres://x:{}@h2/db", other_pw.text);
                        let mut cores = pw.cores.clone();
                        cores.extend(other_pw.cores.iter().cloned());
                        for text in contexts(&url, &other) {
                            assert_hidden(&text, &cores, "userinfo");
                            cases += 1;
                        }
                        match DbUrl::parse(&url) {
                            Ok(parsed) => {
                                parsed_ok += 1;
                                let shown = format!(
                                    "{parsed} {parsed:?} {} {}",
                                    parsed.without_password(),
                                    parsed.host_and_database()
                                );
                                for core in &pw.cores {
                                    assert!(!shown.contains(core.as_str()), "{url}: {shown}");
                                }
                                if encoding == 1 {
                                    assert_eq!(parsed.password().as_deref(), Some(&*pw.text));
                                }
                            }
                            Err(message) => {
                                for core in &pw.cores {
                                    assert!(!message.contains(core.as_str()), "{url}: {message}");
                                }
                            }
                        }
                        cases += 1;
                        if encoding == 1
                            && scheme.ends_with("//")
                            && scheme.starts_with("postgres")
                            && scheme.chars().all(|c| !c.is_ascii_uppercase())
                            && scheme != "postgres//"
                            && scheme != "postgres:///"
                            && scheme != "postgress://"
                        {
                            assert!(DbUrl::parse(&url).is_ok(), "{url}");
                        }
                    }
                }
            }
        }
    }
    let keys = [
        "password",
        "pass%77ord",
        "%70assword",
        "PASSWORD",
        "Password",
        "sslpassword",
        "ssl%70assword",
        "ssl-password",
        "passwd",
        "options[password]",
        "options%5Bpassword%5D",
        "pass+word",
    ];
    for key in keys {
        for host in hosts {
            for user in ["u", "", "u:pw1x"] {
                for raw in [false, true] {
                    let pw = password(&mut rng, if raw { QUERY_JOINERS } else { JOINERS });
                    let value = if raw {
                        pw.text.clone()
                    } else {
                        percent_encode(&pw.text)
                    };
                    let at = if user.is_empty() { "" } else { "@" };
                    let url =
                        format!("postgres://{user}{at}{host}/db?sslmode=disable&{key}={value}&application_name=x");
                    let conninfo = format!(
                        "host=h {key}='{}' user=u",
                        pw.text.replace('\\', "\\\\").replace('\'', "\\'")
                    );
                    for text in contexts(&url, &conninfo) {
                        assert_hidden(&text, &pw.cores, "parameter");
                        cases += 1;
                    }
                    match DbUrl::parse(&url) {
                        Ok(parsed) => {
                            parsed_ok += 1;
                            let shown =
                                format!("{parsed} {parsed:?} {}", parsed.without_password());
                            for core in &pw.cores {
                                assert!(!shown.contains(core.as_str()), "{url}: {shown}");
                            }
                            if key == "password" || key == "pass%77ord" || key == "%70assword" {
                                // A raw value is percent-decoded like any other.
                                let expected = if raw {
                                    pw.text.replace("%40", "@")
                                } else {
                                    pw.text.clone()
                                };
                                assert_eq!(parsed.password().as_deref(), Some(&*expected), "{url}");
                            }
                        }
                        Err(message) => {
                            for core in &pw.cores {
                                assert!(!message.contains(core.as_str()), "{url}: {message}");
                            }
                        }
                    }
                    cases += 1;
                }
            }
        }
    }
    // The figure quoted in ARCHITECTURE.md.
    eprintln!("redaction corpus: {cases} cases, {parsed_ok} URLs accepted by DbUrl::parse");
    assert!(cases > 30_000, "{cases}");
}
