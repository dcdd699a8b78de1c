//! Reading `.env` the way dotenvy (0.15) does, with two guarantees it does not give: we know
//! on which line each entry starts (for errors), and whether a value expanded a variable,
//! decided on the parsed value whatever the syntax (`export`, tabs, quotes over several
//! lines, escapes).

/// One `KEY=value` entry of a `.env` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// The 1-based line the entry starts on.
    pub line: usize,
    /// The value would differ if variables were not expanded (`$VAR`, `${VAR}`), or holds an
    /// escaped `\$` (which we refuse too rather than guess).
    pub expands: bool,
}

/// Why a `.env` text cannot be read; never the line itself (it may hold a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The 1-based line the bad entry starts on.
    pub line: usize,
}

/// Parses a `.env` text: a UTF-8 byte order mark is skipped, as dotenvy's loaders and
/// other dotenv tools do.
pub fn parse(text: &str) -> Result<Vec<Entry>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let sentinel = ['\u{e000}', '\u{e001}', '\u{e002}', '\u{f8ff}']
        .into_iter()
        .find(|c| !text.contains(*c))
        .unwrap_or('\u{e000}');
    let mut entries = Vec::new();
    for (line, logical) in logical_lines(text) {
        let logical = logical.map_err(|()| ParseError { line })?;
        let Some((key, value)) = parse_one(&logical).map_err(|()| ParseError { line })? else {
            continue;
        };
        // The same entry with every `$` replaced by a character dotenvy gives no meaning:
        // no expansion can happen there. A value that differs expanded something.
        let plain = parse_one(&logical.replace('$', &sentinel.to_string()));
        let expands = match plain {
            Ok(Some((_, plain))) => plain.replace(sentinel, "$") != value,
            _ => true,
        };
        entries.push(Entry {
            key,
            value,
            line,
            expands,
        });
    }
    Ok(entries)
}

/// One logical line through dotenvy's own parser (an entry alone: variables defined on
/// earlier lines are not seen, which only matters for values that expand, refused anyway).
fn parse_one(logical: &str) -> Result<Option<(String, String)>, ()> {
    let text = format!("{logical}\n");
    match dotenvy::from_read_iter(text.as_bytes()).next() {
        None => Ok(None),
        Some(Ok(entry)) => Ok(Some(entry)),
        Some(Err(_)) => Err(()),
    }
}

#[derive(Clone, Copy)]
enum State {
    Complete,
    Escape,
    StrongOpen,
    StrongOpenEscape,
    WeakOpen,
    WeakOpenEscape,
    Comment,
    WhiteSpace,
}

/// dotenvy 0.15's `eval_end_state`, verbatim in behaviour.
fn eval_end_state(prev: State, buf: &str) -> (usize, State) {
    let mut state = prev;
    let mut pos = 0;
    for (i, c) in buf.char_indices() {
        pos = i;
        state = match state {
            State::WhiteSpace => match c {
                '#' => return (pos, State::Comment),
                '\\' => State::Escape,
                '"' => State::WeakOpen,
                '\'' => State::StrongOpen,
                _ => State::Complete,
            },
            State::Escape => State::Complete,
            State::Complete => match c {
                c if c.is_whitespace() && c != '\n' && c != '\r' => State::WhiteSpace,
                '\\' => State::Escape,
                '"' => State::WeakOpen,
                '\'' => State::StrongOpen,
                _ => State::Complete,
            },
            State::WeakOpen => match c {
                '\\' => State::WeakOpenEscape,
                '"' => State::Complete,
                _ => State::WeakOpen,
            },
            State::WeakOpenEscape => State::WeakOpen,
            State::StrongOpen => match c {
                '\\' => State::StrongOpenEscape,
                '\'' => State::Complete,
                _ => State::StrongOpen,
            },
            State::StrongOpenEscape => State::StrongOpen,
            State::Comment => unreachable!("returned above"),
        };
    }
    (pos, state)
}

/// dotenvy 0.15's logical lines (a quoted value may go on over several physical lines),
/// each with the 1-based number of the physical line it starts on; `Err` for a quote left
/// open at the end of the text.
fn logical_lines(text: &str) -> Vec<(usize, Result<String, ()>)> {
    let mut out = Vec::new();
    let mut physical = text.split_inclusive('\n').enumerate();
    'entries: loop {
        let mut buf = String::new();
        let mut state = State::Complete;
        let mut start = 0;
        loop {
            let Some((index, line)) = physical.next() else {
                if !matches!(state, State::Complete) {
                    out.push((start, Err(())));
                }
                break 'entries;
            };
            if buf.is_empty() {
                start = index + 1;
            }
            let buf_pos = buf.len();
            buf.push_str(line);
            if buf.trim_start().starts_with('#') {
                out.push((start, Ok(String::new())));
                continue 'entries;
            }
            let (pos, next) = eval_end_state(state, &buf[buf_pos..]);
            state = next;
            match state {
                State::Complete => {
                    if buf.ends_with('\n') {
                        buf.pop();
                        if buf.ends_with('\r') {
                            buf.pop();
                        }
                    }
                    out.push((start, Ok(buf)));
                    continue 'entries;
                }
                State::Comment => {
                    buf.truncate(buf_pos + pos);
                    out.push((start, Ok(buf)));
                    continue 'entries;
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str, key: &str) -> Entry {
        parse(text)
            .unwrap()
            .into_iter()
            .find(|e| e.key == key)
            .unwrap()
    }

    #[test]
    fn expansion_is_decided_on_the_parsed_value() {
        for text in [
            "DATABASE_URL=${X}\n",
            "export\tDATABASE_URL=postgres://h/${X}\n",
            "  export   DATABASE_URL=$X\n",
            "DATABASE_URL=\"postgres://h/\n${X}\"\n",
            "DATABASE_URL=\"postgres://h/${X}\"\n",
            "DATABASE_URL=postgres://h/db\\$x\n",
            "DATABASE_URL=postgres://h/$\n",
        ] {
            assert!(entry(text, "DATABASE_URL").expands, "{text:?}");
        }
        for text in [
            "DATABASE_URL=postgres://h/db\n",
            "DATABASE_URL='postgres://u:p$w@h/db'\n",
            "DATABASE_URL=postgres://u:p%24w@h/db # a comment with $X\n",
        ] {
            assert!(!entry(text, "DATABASE_URL").expands, "{text:?}");
        }
    }

    #[test]
    fn lines_are_counted_from_one_and_a_bom_is_skipped() {
        let text = "\u{feff}A=1\n# c\nB=\"x\ny\"\nC=3\nAPI_TOKEN hunter2\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.line, 6);
        let ok = parse("\u{feff}A=1\n\nB=\"x\ny\"\nC=3\n").unwrap();
        let lines: Vec<(&str, usize)> = ok.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(lines, [("A", 1), ("B", 3), ("C", 5)]);
        assert_eq!(ok[1].value, "x\ny");
        assert_eq!(parse("A=1\nB=\"open\n").unwrap_err().line, 2);
    }
}
