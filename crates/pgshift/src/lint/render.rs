//! Findings as people and CI read them: rustc/squawk-style text, GitHub workflow commands,
//! and the `--json` report.

use serde::Serialize;

use super::{Finding, Severity};

/// What `lint` reports: the `--json` document.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The environment whose tables were measured, if any.
    pub env: Option<String>,
    /// The files linted, in order.
    pub files: Vec<String>,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// `--trace`: what each statement of the pending migrations did in the scratch database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Vec<super::trace::TraceStep>>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub acknowledged: usize,
    /// Errors not acknowledged: `lint` exits 1 and `migrate-deploy` refuses when > 0.
    pub blocking: usize,
}

impl Report {
    pub fn new(env: Option<String>, files: Vec<String>, findings: Vec<Finding>) -> Report {
        let mut summary = Summary::default();
        for f in &findings {
            match f.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
            }
            summary.acknowledged += usize::from(f.acknowledged.is_some());
            summary.blocking += usize::from(f.blocks());
        }
        Report {
            env,
            files,
            findings,
            summary,
            trace: None,
        }
    }
}

/// One finding, rustc-style: `file:line:col: severity[rule]: message`, the statement, `help:`.
pub fn finding(f: &Finding) -> String {
    let mut out = format!(
        "{}:{}:{}: {}[{}]: {}\n",
        f.file,
        f.line,
        f.col,
        f.severity.label(),
        f.rule,
        f.message
    );
    let width = (f.excerpt_line + f.excerpt.lines().count())
        .to_string()
        .len();
    let blank = " ".repeat(width);
    out.push_str(&format!("{blank} |\n"));
    for (i, line) in f.excerpt.lines().enumerate() {
        let number = f.excerpt_line + i;
        out.push_str(format!("{number:>width$} | {line}").trim_end());
        out.push('\n');
    }
    out.push_str(&format!("{blank} |\n"));
    out.push_str(&format!("{blank} = help: {}\n", f.help));
    if let Some(ack) = &f.acknowledged {
        out.push_str(&format!(
            "{blank} = acknowledged on line {}: {}\n",
            ack.line, ack.reason
        ));
    }
    out
}

/// Every finding and a summary line.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&finding(f));
        out.push('\n');
    }
    if let Some(steps) = &report.trace {
        out.push_str("trace (pending migrations applied in a scratch database):\n");
        for s in steps {
            out.push_str(&format!(
                "  {}:{}: {}: {}\n",
                s.file,
                s.line,
                s.statement,
                s.summary()
            ));
        }
        out.push('\n');
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

/// `2 errors (1 acknowledged), 1 warning in 3 files`.
pub fn summary_line(report: &Report) -> String {
    let s = report.summary;
    let files = report.files.len();
    let files = format!("{files} file{}", if files == 1 { "" } else { "s" });
    if report.findings.is_empty() {
        return format!("lint: no findings in {files}");
    }
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut line = format!(
        "lint: {}, {} in {files}",
        plural(s.errors, "error"),
        plural(s.warnings, "warning")
    );
    if s.acknowledged > 0 {
        line.push_str(&format!("; {} acknowledged", s.acknowledged));
    }
    if s.blocking > 0 {
        line.push_str(&format!(
            "; {} blocking (fix, or acknowledge with `-- pgshift:allow RULE reason` on the line \
             before the statement)",
            s.blocking
        ));
    }
    line
}

/// GitHub Actions workflow commands: one annotation per finding (acknowledged ones as notices).
pub fn github(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let level = match (f.severity, &f.acknowledged) {
            (_, Some(_)) => "notice",
            (Severity::Error, None) => "error",
            (Severity::Warning, None) => "warning",
        };
        let mut message = format!("{}\nhelp: {}", f.message, f.help);
        if let Some(ack) = &f.acknowledged {
            message.push_str(&format!(
                "\nacknowledged on line {}: {}",
                ack.line, ack.reason
            ));
        }
        out.push_str(&format!(
            "::{level} file={},line={},col={},title={}::{}\n",
            property(&f.file),
            f.line,
            f.col,
            property(&f.rule),
            data(&message)
        ));
    }
    out
}

/// Escapes a workflow command's message (`%`, CR, LF), as the Actions toolkit does.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (also `:` and `,`).
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}
