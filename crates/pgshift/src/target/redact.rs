//! Hiding passwords in any text: URLs however they are spelled, and `key=value` parameters
//! whose key is a password's however it is encoded.
//!
//! It errs on the side of hiding: a stretch of text that could be a password is replaced
//! with `***` even when it is not one.

/// What replaces a secret.
pub const HIDDEN: &str = "***";

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
/// passwords with unencoded `/ ? # @` or spaces), and the value of every parameter whose key
/// is a password's (`password=`, `sslpassword=`, `pass%77ord=`, quoted values). Used for URLs
/// and for any text that might quote one (driver errors, child output, log lines); applying
/// it twice changes nothing more.
pub fn redact(text: &str) -> String {
    // Parameters first: hiding a userinfo can take a `password=` key with it.
    let text = redact_params(text);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&redact_userinfo(line));
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

/// Where a URL's userinfo may start in `text` (a token, or the part of one before an `@`),
/// in order, each with where its scheme starts: after every `scheme://` (and any more
/// slashes), and after every `scheme:` (and any slashes) that begins a word and is followed
/// by something that still holds a `:` (`postgresql:u:pw`, `url=postgres:/u:pw`).
fn userinfo_starts(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let scheme_char = |c: u8| c.is_ascii_alphanumeric() || b"+.-".contains(&c);
    let mut starts = Vec::new();
    for k in 0..bytes.len() {
        let word_start = bytes[k].is_ascii_alphabetic() && (k == 0 || !scheme_char(bytes[k - 1]));
        if !word_start {
            continue;
        }
        let rest = &text[k..];
        let scheme_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "+.-".contains(c)))
            .unwrap_or(rest.len());
        let after = match rest[scheme_len..].strip_prefix(':') {
            Some(after) => after,
            // A PostgreSQL scheme missing its `:` (`postgres//u:pw@h`).
            None if postgres_like(rest) && rest[scheme_len..].starts_with('/') => {
                &rest[scheme_len..]
            }
            None => continue,
        };
        let colon_len = rest.len() - scheme_len - after.len();
        let slashes = after.len() - after.trim_start_matches(['/', '\\']).len();
        if after.starts_with("//") || after[slashes..].contains(':') {
            starts.push((k + scheme_len + colon_len + slashes, k));
        }
    }
    // `://` not preceded by a scheme word (`x//u:p@`, `://u:p@`).
    for (i, _) in text.match_indices("://") {
        let after = &text[i + 3..];
        let slashes = after.len() - after.trim_start_matches(['/', '\\']).len();
        let base = i + 3 + slashes;
        if !starts.iter().any(|&(b, _)| b == base) {
            starts.push((base, i));
        }
    }
    starts.sort_unstable();
    starts
}

/// The first userinfo start of `text` whose userinfo holds a `:` before any `/ ? # @ [`:
/// where the password starts (the byte after that `:`).
fn password_start(text: &str, starts: &[(usize, usize)]) -> Option<usize> {
    starts.iter().find_map(|&(base, _)| {
        let rest = &text[base..];
        rest.find([':', '/', '?', '#', '@', '['])
            .filter(|&c| rest.as_bytes()[c] == b':')
            .map(|colon| base + colon + 1)
    })
}

/// Whether `text` starts with a PostgreSQL-like scheme word (`postgres`, `postgresql`,
/// `pg`, `pgsql`...), any case. The whole word counts: `pgshift-local/image:0` (a Docker
/// image) is no URL.
fn postgres_like(text: &str) -> bool {
    let word = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    word.starts_with("postgres") || ["pg", "pgsql", "postgre"].contains(&word.as_str())
}

/// Whether `token` starts a URL: `://`, or a PostgreSQL-like scheme followed by a userinfo
/// with a `:` (`postgres:/u:pw`, `postgresql:u:pw`).
fn starts_url(token: &str) -> bool {
    token.contains("://")
        || userinfo_starts(token)
            .iter()
            .any(|&(_, scheme)| postgres_like(&token[scheme..]))
}

/// `text` starts with a port: digits, then the end or `/ ? #`.
fn is_port(text: &str) -> bool {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    end > 0 && (end == text.len() || text[end..].starts_with(['/', '?', '#']))
}

/// Hides the password of every URL userinfo on one line. A URL's password ends at the last
/// `@` of the line: an unencoded space or `@` in it cannot end it early, and a password
/// holding what looks like another URL cannot either (the price: after a raw URL, the rest
/// of the line up to its last `@` is hidden too). A password already `***` (a `DbUrl`
/// printed itself) ends at its `@`. Without any `@` it ends with the token, unless
/// what follows the `:` is a port.
/// A token that is no URL (`u:pw@h`) has its `user:` part kept and the rest up to its last
/// `@` hidden.
fn redact_userinfo(line: &str) -> String {
    let tokens = tokens(line);
    let starts: Vec<bool> = tokens
        .iter()
        .map(|&(s, e)| starts_url(&line[s..e]))
        .collect();
    let mut hide: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (s, e) = tokens[i];
        let token = &line[s..e];
        if starts[i] {
            let Some(from) = password_start(token, &userinfo_starts(token)) else {
                i += 1;
                continue;
            };
            let after_colon = &token[from..];
            if after_colon.starts_with(&format!("{HIDDEN}@")) {
                // Already redacted (a `DbUrl` prints itself so): the URL ends in this token,
                // and what follows on the line is left alone.
                i += 1;
                continue;
            }
            let from = s + from;
            let region_end = line.len();
            let last_at = line[from..region_end].rfind('@').map(|a| from + a);
            match last_at {
                Some(at) if at > e && is_port(after_colon) && !token.contains('@') => {
                    // `postgres://h:5432/db ... bob@x`: a port, and someone's address later.
                }
                Some(at) => {
                    if at > from {
                        hide.push((from, at));
                    }
                    i = tokens.iter().position(|&(_, te)| te > at).unwrap_or(i) + 1;
                    continue;
                }
                None if !is_port(after_colon) && from < e => hide.push((from, e)),
                None => {}
            }
            i += 1;
            continue;
        }
        if let Some(at) = token.rfind('@') {
            // No scheme: `user:password@host`, from the token's first `:`.
            let userinfo = &token[..at];
            if let Some(colon) = userinfo.find(':') {
                if colon + 1 < at {
                    hide.push((s + colon + 1, s + at));
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
    let key_char = |c: u8| !(c.is_ascii_whitespace() || b"?&;,'\"(){}<>=:/@".contains(&c));
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
        // In a URL query (`?k=v`, `&k=v`) a quote is just a character; in libpq's
        // `key=value` strings it opens a quoted value.
        let in_query = k > 0 && matches!(bytes[k - 1], b'?' | b'&');
        let to = match bytes.get(from) {
            Some(&quote @ (b'\'' | b'"')) if !in_query => {
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
            (
                "to postgres://u:***@h/db: failed (`@` is %40)",
                "to postgres://u:***@h/db: failed (`@` is %40)",
            ),
            ("a://h/b,c://u:p@h", "a://h/b,c://u:***@h"),
            ("postgres://h:5432/db ok", "postgres://h:5432/db ok"),
            ("postgres://[::1]:5432/db", "postgres://[::1]:5432/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("u:pw@h", "u:***@h"),
            ("x :pw@h", "x :***@h"),
            ("(postgres:/u:pw@h)", "(postgres:/u:***@h)"),
            ("pg://u:pw@h", "pg://u:***@h"),
            ("PostgreSQL:u:pw@h", "PostgreSQL:u:***@h"),
            // Words that only start like a scheme are not URLs: a Docker image, a path.
            (
                "run `docker pull pgshift-local/absent:0` or set it",
                "run `docker pull pgshift-local/absent:0` or set it",
            ),
            ("pgdata/base:1 is gone", "pgdata/base:1 is gone"),
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
