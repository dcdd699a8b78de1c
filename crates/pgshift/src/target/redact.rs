//! Hiding passwords in any text: URLs however they are spelled, `key=value` parameters
//! whose key is a password's however it is encoded, and the passwords of every URL pgshift
//! parsed in this process wherever they show up.
//!
//! It errs on the side of hiding: a stretch of text that could be a password is replaced
//! with `***` even when it is not one.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// What replaces a secret.
pub const HIDDEN: &str = "***";

/// Passwords of the URLs parsed in this process (`DbUrl::parse`), hidden wherever they show
/// up, even in text that is no URL (a server message quoting one). Only passwords of at
/// least `MIN_REMEMBERED` characters: shorter ones would hide ordinary words; the structural
/// rules still hide them in URLs and parameters.
static REMEMBERED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

const MIN_REMEMBERED: usize = 4;

/// Remembers `secret` (and its percent-encoded spelling) so that `redact` hides it anywhere.
pub(crate) fn remember(secret: &str) {
    if secret.chars().count() < MIN_REMEMBERED {
        return;
    }
    let mut remembered = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner());
    remembered.insert(secret.to_string());
    remembered.insert(super::percent_encode(secret));
}

/// Whether a parameter named `key` (as written: percent-encoded or not, any case, `-` or
/// `_`) holds a secret: `password`, `sslpassword`, `pass%77ord`, `options[password]`...
pub fn is_secret_key(key: &str) -> bool {
    let decoded = super::percent_decode(&key.replace('+', " ")).to_ascii_lowercase();
    let letters: String = decoded.chars().filter(|c| c.is_alphanumeric()).collect();
    ["pass", "pwd", "secret"]
        .iter()
        .any(|word| letters.contains(word))
}

/// Replaces with `***` every password `text` may hold: the password of every URL (any
/// scheme, also mistyped ones such as `postgres:/u:pw@h` or `postgresql:u:pw@h`, and
/// passwords with unencoded `/ ? # @` or spaces), the value of every parameter whose key is
/// a password's (`password=`, `sslpassword=`, `pass%77ord=`, quoted values), and every
/// remembered password. Used for URLs and for any text that might quote one (driver
/// errors, child output, log lines); applying it twice changes nothing more.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&redact_userinfo(line));
    }
    let mut out = redact_params(&out);
    let remembered = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner());
    // Longest first, so that a password containing another is hidden whole.
    let mut secrets: Vec<&String> = remembered.iter().collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), HIDDEN);
        }
    }
    out
}

/// Byte ranges of non-whitespace runs.
fn tokens(line: &str) -> Vec<(usize, usize)> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                tokens.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        tokens.push((s, line.len()));
    }
    tokens
}

/// Where a URL's userinfo starts in `text` (which ends before an `@`, or is a token), and
/// whether a scheme was found: after the last `://`, else after a leading `scheme:` (and
/// any slashes) when what follows still holds a `:` (`postgresql:u:pw`), else at the first
/// start.
fn userinfo_start(text: &str) -> (usize, bool) {
    if let Some(i) = text.rfind("://") {
        return (i + 3, true);
    }
    let Some(first) = text.find(|c: char| c.is_alphanumeric()) else {
        return (0, false);
    };
    let fallback = (0, false);
    let rest = &text[first..];
    let scheme_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || "+.-".contains(c)))
        .unwrap_or(rest.len());
    if scheme_len > 0
        && rest.as_bytes()[0].is_ascii_alphabetic()
        && rest[scheme_len..].starts_with(':')
    {
        let after = &rest[scheme_len + 1..];
        let slashes = after.len() - after.trim_start_matches(['/', '\\']).len();
        if after[slashes..].contains(':') {
            return (first + scheme_len + 1 + slashes, true);
        }
    }
    fallback
}

/// Whether `scheme_and_rest` starts with a PostgreSQL-like scheme (`postgres`, `pg`...),
/// any case.
fn postgres_like(text: &str) -> bool {
    let start = text.find(|c: char| c.is_alphanumeric()).unwrap_or(0);
    let lower = text[start..].to_ascii_lowercase();
    lower.starts_with("postgres") || lower.starts_with("pg")
}

/// Hides the password of every URL userinfo on one line.
fn redact_userinfo(line: &str) -> String {
    let tokens = tokens(line);
    let mut hide: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (s, e) = tokens[i];
        let token = &line[s..e];
        if let Some(at) = token.rfind('@') {
            // `user:password@`: the userinfo ends at the token's last `@`, so a password
            // with an unencoded `/ ? # @` is hidden whole.
            let userinfo = &token[..at];
            let (base, _) = userinfo_start(userinfo);
            if let Some(colon) = userinfo[base..].find(':') {
                let from = s + base + colon + 1;
                if from < s + at {
                    hide.push((from, s + at));
                }
            }
            i += 1;
            continue;
        }
        // No `@` in this token: `scheme://user:pass` followed by whitespace is a password
        // with an unencoded space; it ends at the next `@` on the line.
        let (base, has_scheme) = userinfo_start(token);
        let rest = &token[base..];
        let with_scheme = has_scheme && (token.contains("://") || postgres_like(token));
        if with_scheme && !rest.starts_with('[') {
            if let Some(colon) = rest.find(':') {
                let before = &rest[..colon];
                let after = &rest[colon + 1..];
                let port_end = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                let is_port = !after.is_empty()
                    && (port_end == after.len() || after[port_end..].starts_with(['/', '?', '#']))
                    && port_end > 0;
                if !before.contains(['/', '?', '#']) && !is_port {
                    let from = s + base + colon + 1;
                    let next_at = tokens[i + 1..]
                        .iter()
                        .enumerate()
                        .find_map(|(k, &(ts, te))| line[ts..te].rfind('@').map(|a| (k, ts + a)));
                    match next_at {
                        Some((k, to)) => {
                            hide.push((from, to));
                            i += k + 2;
                            continue;
                        }
                        None => {
                            if from < e {
                                hide.push((from, e));
                            }
                        }
                    }
                }
            }
        }
        i += 1;
    }
    splice(line, &hide)
}

/// `text` with the (sorted, disjoint) byte ranges replaced by `***`.
fn splice(text: &str, ranges: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(from, to) in ranges {
        if from < at {
            continue;
        }
        out.push_str(&text[at..from]);
        out.push_str(HIDDEN);
        at = to;
    }
    out.push_str(&text[at..]);
    out
}

/// Hides the value of every `key=value` whose key is a password's (`is_secret_key`), in URL
/// queries and in libpq's `key=value` connection strings alike. A quoted value (`'a b'`) is
/// hidden to its closing quote; otherwise the value ends at whitespace or `&`.
fn redact_params(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut hide: Vec<(usize, usize)> = Vec::new();
    let key_char = |c: u8| !(c.is_ascii_whitespace() || b"?&;,'\"(){}<>=".contains(&c));
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'=' {
            i += 1;
            continue;
        }
        let mut k = i;
        while k > 0 && key_char(bytes[k - 1]) {
            k -= 1;
        }
        let key = &text[k..i];
        if key.is_empty() || !is_secret_key(key) {
            i += 1;
            continue;
        }
        let from = i + 1;
        let to = match bytes.get(from) {
            Some(&quote @ (b'\'' | b'"')) => {
                let mut j = from + 1;
                while j < bytes.len() && bytes[j] != quote {
                    if bytes[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                (j + 1).min(bytes.len())
            }
            _ => text[from..]
                .find(|c: char| c.is_whitespace() || c == '&')
                .map_or(text.len(), |j| from + j),
        };
        if to > from && &text[from..to] != HIDDEN {
            hide.push((from, to));
        }
        i = to.max(i + 1);
    }
    splice(text, &hide)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_userinfo_passwords_however_the_url_is_spelled() {
        for (text, expected) in [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("postgres:/u:pw@h/db", "postgres:/u:***@h/db"),
            ("postgresql:u:pw@h", "postgresql:u:***@h"),
            ("x postgres://u:pa ss@h/db y", "x postgres://u:***@h/db y"),
            ("a://h/b,c://u:p@h", "a://h/b,c://u:***@h"),
            ("postgres://h:5432/db ok", "postgres://h:5432/db ok"),
            ("postgres://[::1]:5432/db", "postgres://[::1]:5432/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("u:pw@h", "u:***@h"),
            ("x :pw@h", "x :***@h"),
            ("(postgres:/u:pw@h)", "(postgres:/u:***@h)"),
        ] {
            assert_eq!(redact(text), expected, "{text}");
            assert_eq!(redact(&redact(text)), expected, "{text}");
        }
    }

    #[test]
    fn hides_password_parameters_however_the_key_is_spelled() {
        for (text, expected) in [
            ("h/db?pass%77ord=x&a=b", "h/db?pass%77ord=***&a=b"),
            ("?sslpassword=x y", "?sslpassword=*** y"),
            ("host=h password='a b' user=u", "host=h password=*** user=u"),
            ("?PASSWORD=x", "?PASSWORD=***"),
            ("?options[password]=x", "?options[password]=***"),
            ("?application_name=a", "?application_name=a"),
        ] {
            assert_eq!(redact(text), expected, "{text}");
        }
    }
}
