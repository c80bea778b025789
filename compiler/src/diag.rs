//! Diagnostics as data: a code, a severity, a message, a primary span,
//! secondary labels and help. Every stage returns them; only the renderers
//! here turn them into text (`file:line:col: error: message [CODE]`, with the
//! source line and a caret) or JSON.

use std::fmt::Write as _;

use crate::source::{Sources, Span};

/// Error, warning or note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Stops compilation.
    Error,
    /// Reported; compilation continues (unless warnings are denied).
    Warning,
    /// Information only: never stops anything, not even under
    /// `--deny-warnings`, and is not counted as a warning.
    Note,
}

impl Severity {
    /// `"error"`, `"warning"` or `"note"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Note => "note",
        }
    }
}

/// A secondary location with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there.
    pub message: String,
}

/// One diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable code such as `E0301`; see `docs/diagnostics.md`.
    pub code: &'static str,
    /// What is wrong, in one line.
    pub message: String,
    /// Where.
    pub span: Span,
    /// Text under the caret.
    pub label: Option<String>,
    /// Other relevant places.
    pub labels: Vec<Label>,
    /// How to fix it, when a fix is likely.
    pub help: Option<String>,
    /// Background worth knowing.
    pub note: Option<String>,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: None,
            labels: Vec::new(),
            help: None,
            note: None,
        }
    }

    /// A warning.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, span, message)
        }
    }

    /// A note: information that neither fails a build nor counts as a
    /// warning.
    pub fn new_note(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Note,
            ..Self::error(code, span, message)
        }
    }

    /// Sets the text under the caret.
    #[must_use]
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.label = Some(text.into());
        self
    }

    /// Adds a secondary label.
    #[must_use]
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: text.into(),
        });
        self
    }

    /// Sets the help.
    #[must_use]
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    /// Sets the help unless there already is one (a specific help, set
    /// first, wins over a generic one).
    #[must_use]
    pub fn or_help(self, text: impl Into<String>) -> Self {
        if self.help.is_some() {
            self
        } else {
            self.help(text)
        }
    }

    /// Sets help only if `text` is `Some`.
    #[must_use]
    pub fn maybe_help(self, text: Option<String>) -> Self {
        match text {
            Some(t) => self.help(t),
            None => self,
        }
    }

    /// Sets the note.
    #[must_use]
    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.note = Some(text.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Whether this is a warning (what `--deny-warnings` refuses; notes
    /// are not warnings).
    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }
}

/// The most errors one early stage (lexing, parsing) keeps for one file.
/// Past it, the stage goes on (the tree is still built) but drops what it
/// finds and says how many it dropped: a 10 MB file of `;` would otherwise
/// become ten million diagnostics (some hundred bytes each, and each
/// rendered with its source line), and after the first hundred mistakes in
/// a file the next ones help nobody.
pub const STAGE_ERROR_LIMIT: usize = 100;

/// One stage's errors for one file, keeping the first
/// [`STAGE_ERROR_LIMIT`] and counting the rest.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    kept: Vec<Diagnostic>,
    dropped: usize,
    /// Whether the last error pushed was dropped (so
    /// [`Collector::last_mut`] does not hand out an earlier one).
    last_dropped: bool,
}

impl Collector {
    /// Keeps `d`, or counts it when the limit is reached.
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.last_dropped = self.kept.len() >= STAGE_ERROR_LIMIT;
        if self.last_dropped {
            self.dropped += 1;
        } else {
            self.kept.push(d);
        }
    }

    /// The error pushed last, if it was kept.
    pub(crate) fn last_mut(&mut self) -> Option<&mut Diagnostic> {
        if self.last_dropped {
            None
        } else {
            self.kept.last_mut()
        }
    }

    /// The kept errors; when some were dropped, the last kept one says how
    /// many `what` errors (e.g. "syntax") were left out.
    pub(crate) fn finish(mut self, what: &str) -> Vec<Diagnostic> {
        if self.dropped > 0
            && let Some(last) = self.kept.last_mut()
        {
            let more = format!(
                "{} more {what} error{} in this file not reported (at most {STAGE_ERROR_LIMIT} are)",
                self.dropped,
                if self.dropped == 1 { "" } else { "s" }
            );
            last.note = Some(match last.note.take() {
                Some(n) => format!("{n}; {more}"),
                None => more,
            });
        }
        self.kept
    }
}

/// Sorts diagnostics by file and position (stable for equal positions).
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| (d.span.file, d.span.start));
}

/// Where a span starts and how to underline it: line, the source line as
/// shown, the indentation before the marks (tabs kept, so marks line up),
/// and the width.
struct Underline {
    line: usize,
    src: String,
    pad: String,
    len: usize,
}

/// The most characters of a source line a diagnostic shows: a longer line
/// is cut to a window around the span, marked with `…` (a 10 MB line must
/// not become 10 MB of terminal output per diagnostic).
const SHOWN: usize = 120;
/// How much of the line before the span the window keeps.
const BEFORE: usize = 40;

/// A character as shown in a source excerpt: control characters (a NUL, an
/// escape sequence that would restyle the terminal) become U+FFFD, one
/// column wide like what they replace; tabs stay for alignment.
fn shown(c: char) -> char {
    if c.is_control() && c != '\t' {
        '\u{fffd}'
    } else {
        c
    }
}

fn underline(sources: &Sources, span: Span) -> Option<Underline> {
    let file = sources.get(span.file)?;
    let (line, col) = file.line_col(span.start);
    let (end_line, end_col) = file.line_col(span.end);
    let text = file.line_text(line);
    let total = text.chars().count();
    let start = col - 1;
    let len = if end_line == line {
        end_col.saturating_sub(col).max(1)
    } else {
        total.saturating_sub(start).max(1)
    };
    // The window [from, to) of characters shown.
    let (from, to) = if total <= SHOWN {
        (0, total)
    } else {
        let from = start.saturating_sub(BEFORE);
        (from, (from + SHOWN).min(total))
    };
    let cut_before = from > 0;
    let cut_after = to < total;
    let mut src = String::new();
    if cut_before {
        src.push('…');
    }
    src.extend(text.chars().skip(from).take(to - from).map(shown));
    if cut_after {
        src.push('…');
    }
    let pad = std::iter::repeat_n(' ', usize::from(cut_before))
        .chain(
            text.chars()
                .skip(from)
                .chain(std::iter::repeat(' '))
                .take(start.saturating_sub(from))
                .map(|c| if c == '\t' { '\t' } else { ' ' }),
        )
        .collect();
    let len = len.min(to.saturating_sub(start).max(1));
    Some(Underline {
        line,
        src,
        pad,
        len,
    })
}

fn marks(out: &mut String, width: usize, u: &Underline, marker: char, text: Option<&str>) {
    let marks: String = std::iter::repeat_n(marker, u.len).collect();
    let _ = write!(out, "{:width$} | {}{}", "", u.pad, marks);
    if let Some(t) = text {
        let _ = write!(out, " {}", clip(t));
    }
    out.push('\n');
}

/// Renders a diagnostic for a terminal: the position, the source line with
/// `^` under the span, labels on the same line underlined with `-` beneath
/// it, labels elsewhere with their own line, then help and note.
pub fn render(d: &Diagnostic, sources: &Sources) -> String {
    let mut out = String::new();
    let (name, line, col) = position(d.span, sources);
    // A file name is text from outside too (a directory listing).
    let name = clip(&name);
    let _ = writeln!(
        out,
        "{name}:{line}:{col}: {}: {} [{}]",
        d.severity.as_str(),
        clip(&d.message),
        d.code
    );
    let width = std::iter::once(d.span)
        .chain(d.labels.iter().map(|l| l.span))
        .map(|s| position(s, sources).1.to_string().len())
        .max()
        .unwrap_or(1);
    let same_line = |l: &Label| l.span.file == d.span.file && position(l.span, sources).1 == line;
    if let Some(u) = underline(sources, d.span) {
        let _ = writeln!(out, "{:width$} |", "");
        let _ = writeln!(out, "{:width$} | {}", u.line, u.src);
        marks(&mut out, width, &u, '^', d.label.as_deref());
        for l in d.labels.iter().filter(|l| same_line(l)) {
            if let Some(lu) = underline(sources, l.span) {
                marks(&mut out, width, &lu, '-', Some(&l.message));
            }
        }
    }
    for l in d.labels.iter().filter(|l| !same_line(l)) {
        let (lname, lline, lcol) = position(l.span, sources);
        let lname = clip(&lname);
        let _ = writeln!(out, "{:width$}--> {lname}:{lline}:{lcol}", "");
        if let Some(lu) = underline(sources, l.span) {
            let _ = writeln!(out, "{:width$} |", "");
            let _ = writeln!(out, "{:width$} | {}", lu.line, lu.src);
            marks(&mut out, width, &lu, '-', Some(&l.message));
        }
    }
    if let Some(h) = &d.help {
        let _ = writeln!(out, "{:width$} = help: {}", "", clip(h));
    }
    if let Some(n) = &d.note {
        let _ = writeln!(out, "{:width$} = note: {}", "", clip(n));
    }
    out
}

/// The longest message, label, help or note shown whole; a longer one
/// (which quotes some huge input) keeps its head and tail.
const MESSAGE: usize = 400;

/// `text` for a terminal: control characters replaced (see [`shown`]), and
/// the middle of an overlong text elided with the count of what was left
/// out.
fn clip(text: &str) -> String {
    let n = text.chars().count();
    if n <= MESSAGE {
        return text
            .chars()
            .map(|c| if c == '\n' { c } else { shown(c) })
            .collect();
    }
    let head: String = text.chars().take(MESSAGE - 100).map(shown).collect();
    let tail: String = text.chars().skip(n - 80).map(shown).collect();
    format!(
        "{head}… ({} characters left out) …{tail}",
        n - (MESSAGE - 100) - 80
    )
}

fn position(span: Span, sources: &Sources) -> (String, usize, usize) {
    match sources.get(span.file) {
        Some(f) => {
            let (l, c) = f.line_col(span.start);
            (f.name.clone(), l, c)
        }
        None => ("<unknown>".into(), 0, 0),
    }
}

/// Renders a diagnostic as one line of JSON (for editors and CI).
pub fn render_json(d: &Diagnostic, sources: &Sources) -> String {
    let loc = |span: Span| {
        let (file, line, column) = position(span, sources);
        let (end_line, end_column) = sources
            .get(span.file)
            .map_or((0, 0), |f| f.line_col(span.end));
        serde_json::json!({"file": file, "line": line, "column": column, "end_line": end_line, "end_column": end_column})
    };
    let v = serde_json::json!({
        "severity": d.severity.as_str(),
        "code": d.code,
        "message": d.message,
        "location": loc(d.span),
        "label": d.label,
        "labels": d.labels.iter().map(|l| serde_json::json!({"location": loc(l.span), "message": l.message})).collect::<Vec<_>>(),
        "help": d.help,
        "note": d.note,
    });
    json_text(v)
}

/// A JSON value as one line of text, its object keys sorted: the same bytes
/// whichever serde_json features the build unified (cedar-policy turns on
/// `preserve_order`, which would keep insertion order). Every JSON line
/// egressc prints goes through here.
pub fn json_text(mut v: serde_json::Value) -> String {
    v.sort_all_objects();
    v.to_string()
}

/// Edit distance counting a swap of two adjacent characters as one edit
/// (optimal string alignment), for "did you mean" suggestions.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        if let Some(x) = d.get_mut(at(i, 0)) {
            *x = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(x) = d.get_mut(at(0, j)) {
            *x = j;
        }
    }
    let get = |d: &[usize], i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let (ca, cb) = (a.get(i - 1), b.get(j - 1));
            let cost = usize::from(ca != cb);
            let mut v = (get(&d, i - 1, j) + 1)
                .min(get(&d, i, j - 1) + 1)
                .min(get(&d, i - 1, j - 1) + cost);
            if i > 1 && j > 1 && ca == b.get(j - 2) && a.get(i - 2) == cb {
                v = v.min(get(&d, i - 2, j - 2) + 1);
            }
            if let Some(x) = d.get_mut(at(i, j)) {
                *x = v;
            }
        }
    }
    get(&d, a.len(), b.len())
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // The distance is at least the difference in length: a candidate that
    // far off is skipped unmeasured (a 10 MB word must not cost a 10 MB x
    // candidate table per candidate).
    let n = word.chars().count();
    let within = |c: &str| (c.len() / 3).max(1);
    let near: Vec<&'a str> = candidates
        .iter()
        .copied()
        .filter(|c| n.abs_diff(c.chars().count()) <= within(c))
        .collect();
    if near.is_empty() {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    near.into_iter()
        .map(|c| (levenshtein(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= within(c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `help: did you mean ...?` text for [`suggest`].
pub fn did_you_mean(word: &str, candidates: &[&str]) -> Option<String> {
    suggest(word, candidates).map(|s| format!("did you mean `{s}`?"))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, reason = "test code")]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("mdoe", &["mode", "default", "log"]), Some("mode"));
        assert_eq!(suggest("alow", &["allow", "deny"]), Some("allow"));
        assert_eq!(suggest("GTE", &["GET", "PUT"]), Some("GET"));
        assert_eq!(suggest("zzzzzz", &["allow", "deny"]), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        // A word far longer than every candidate is not measured against
        // them (the table would be its length times theirs).
        assert_eq!(suggest(&"p".repeat(10_000_000), &["policy"]), None);
        assert_eq!(suggest("polic", &["policy"]), Some("policy"));
    }

    fn one(text: &str, start: u32, end: u32) -> String {
        let mut s = Sources::new();
        let f = s.add("a.egress", text);
        let d = Diagnostic::error(
            "E0202",
            Span {
                file: f,
                start,
                end,
            },
            "m",
        )
        .label("here");
        render(&d, &s)
    }

    #[test]
    fn long_lines_are_cut_around_the_span() {
        let line = format!("{}BAD{}", "x".repeat(100_000), "y".repeat(100_000));
        let r = one(&line, 100_000, 100_003);
        assert!(r.len() < 600, "{r}");
        let lines: Vec<&str> = r.lines().collect();
        let src = lines[2];
        let marks = lines[3];
        assert!(src.starts_with("1 | …") && src.ends_with('…'), "{src}");
        // The carets sit under BAD.
        let at = src.chars().position(|c| c == 'B').unwrap();
        let caret = marks.chars().position(|c| c == '^').unwrap();
        assert_eq!(at, caret, "{r}");
        assert!(marks.contains("^^^ here"), "{r}");
        // A short line is shown whole.
        let r = one("policy \"p\" {", 7, 10);
        assert!(r.contains("1 | policy \"p\" {\n"), "{r}");
    }

    #[test]
    fn control_characters_are_not_echoed() {
        let r = one("ab\0\x1b[31mcd", 2, 3);
        assert!(!r.contains('\0') && !r.contains('\x1b'), "{r:?}");
        assert!(r.contains("ab\u{fffd}\u{fffd}[31mcd"), "{r:?}");
        // Nor in a file name.
        let mut s = Sources::new();
        let f = s.add("a\x1b[2J.egress", "x");
        let r = render(&Diagnostic::error("E0202", Span::new(f, 0, 1), "m"), &s);
        assert!(r.starts_with("a\u{fffd}[2J.egress:1:1: error"), "{r:?}");
    }

    #[test]
    fn huge_messages_keep_head_and_tail() {
        let long = format!("invalid host name \"{}\"", "a".repeat(100_000));
        let c = clip(&long);
        assert!(
            c.len() < 500 && c.starts_with("invalid host name \"aaa"),
            "{c}"
        );
        assert!(
            c.contains("characters left out") && c.ends_with("aaa\""),
            "{c}"
        );
        assert_eq!(clip("short\nline"), "short\nline");
    }
}
