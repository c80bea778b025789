//! Path conditions: exact paths, prefixes, suffixes, URI templates and
//! regexes.

use std::collections::HashMap;

use super::CPath;
use crate::ast::{self, PathForm};
use crate::diag::Diagnostic;
use crate::source::Span;

/// What compiling each regex said so far, by its text: `None` when it
/// compiled, else the `regex` crate's error message. Building a regex is
/// costly (the crate may build a DFA), and a policy writes the same few
/// regexes on thousands of rules: each is compiled once per check.
pub(super) type RegexResults = HashMap<String, Option<String>>;

/// The `regex` crate's error for `t`, if it does not compile (remembered
/// in `seen`).
fn regex_error(t: &str, seen: &mut RegexResults) -> Option<String> {
    if let Some(known) = seen.get(t) {
        return known.clone();
    }
    let err = regex::bytes::RegexBuilder::new(t)
        .unicode(false)
        .build()
        .err()
        .map(|e| e.to_string());
    seen.insert(t.to_owned(), err.clone());
    err
}

/// Checks a path condition of any form (E0327–E0331, E0341); `regexes`
/// remembers what each regex compiled to.
pub(super) fn check_path(
    p: &ast::PathPat,
    regexes: &mut RegexResults,
) -> Result<CPath, Diagnostic> {
    let t = &p.text.value;
    let span = p.text.span;
    if p.form == PathForm::Regex {
        if let Some(msg) = regex_error(t, regexes) {
            let detail = msg
                .lines()
                .last()
                .unwrap_or(&msg)
                .trim()
                .trim_start_matches("error: ")
                .to_owned();
            let mut d = match regex_error_span(&msg, t, span) {
                Some(at) => Diagnostic::error("E0329", at, format!("invalid regex: {detail}"))
                    .label(detail.clone())
                    .with_label(span, "in this regex"),
                None => Diagnostic::error("E0329", span, format!("invalid regex: {detail}"))
                    .label("this regex does not compile"),
            };
            if detail.contains("Unicode") {
                d = d.help("Unicode classes are off (paths are matched as bytes): use ASCII classes such as [a-zA-Z0-9] or [[:alpha:]]");
            } else if detail.contains("look-around") || detail.contains("backreference") {
                d = d.help("regexes compile to DFAs: no look-around and no backreferences");
            }
            return Err(d.note("regexes use the Rust `regex` crate's syntax on the path's bytes, and must match the whole path"));
        }
        return Ok(CPath::Regex(t.clone()));
    }
    if p.form == PathForm::Suffix {
        return check_suffix(t, p);
    }
    if !t.starts_with('/') {
        let help = if t.starts_with('*') && !t.trim_start_matches('*').is_empty() {
            format!(
                "for every path that ends so write path suffix \"{}\"",
                t.trim_start_matches('*')
            )
        } else if let Some((_, rest)) = t.split_once("://") {
            let path = rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/");
            format!(
                "a path has no scheme or host (the destination names the host): write \"{path}\""
            )
        } else {
            format!("write \"/{t}\"")
        };
        return Err(Diagnostic::error(
            "E0327",
            span,
            format!("path \"{t}\" does not start with `/`"),
        )
        .label("paths are absolute")
        .help(help));
    }
    if let Some(q) = t.find(['?', '#']) {
        return Err(Diagnostic::error(
            "E0331",
            span,
            format!("path \"{t}\" contains a query or fragment"),
        )
        .label("the query never takes part in matching")
        .help(format!(
            "write \"{}\"; to decide on query parameters, there is no construct yet",
            t.get(..q).unwrap_or(t)
        )));
    }
    if let Err(problem) = egress_table::path::pattern_problem(t.as_bytes()) {
        let tplless = t.replace("{**}", "x").replace("{*}", "x");
        if egress_table::path::pattern_problem(tplless.as_bytes()).is_err() || !t.contains('{') {
            return Err(Diagnostic::error("E0341", span, format!("path \"{t}\" can never match"))
                .label(format!("not in canonical form ({})", problem.as_str()))
                .maybe_help(canonical_path(t).map(|c| format!("write \"{c}\", the form the proxy passes on")))
                .note("the proxy normalises paths before the filter sees them, and the filter denies any path still not canonical; write the path as it arrives after normalisation"));
        }
    }
    if p.form == PathForm::Prefix {
        if t.contains('{') || t.contains('*') {
            let help = if t.contains('{') && template(t, span).is_ok() {
                format!("drop `prefix` to make it a template: path \"{t}\"")
            } else {
                let plain = t.split(['{', '*']).next().unwrap_or("/");
                format!(
                    "write path prefix \"{plain}\", or a template: path \"{}{{**}}\"",
                    if plain.ends_with('/') {
                        plain.to_owned()
                    } else {
                        format!("{plain}/")
                    }
                )
            };
            return Err(Diagnostic::error("E0328", p.span, "a prefix is plain text")
                .label("no `{*}`, `{**}` or `*` in a prefix")
                .help(help));
        }
        return Ok(CPath::Prefix(t.clone()));
    }
    if t.contains('*') && !t.contains('{') {
        let fixed = t.replace("/**", "/{**}").replace("/*", "/{*}");
        return Err(Diagnostic::error("E0328", span, format!("`*` in path \"{t}\""))
            .label("globs are written as templates")
            .help(format!("write \"{fixed}\": {{*}} is one segment, {{**}} any number; or `prefix \"{}\"`", t.trim_end_matches('*'))));
    }
    if t.contains('{') || t.contains('}') {
        return template(t, span);
    }
    Ok(CPath::Exact(t.clone()))
}

/// `path suffix "…"`: plain text that can end a canonical path.
fn check_suffix(t: &str, p: &ast::PathPat) -> Result<CPath, Diagnostic> {
    let span = p.text.span;
    if t.is_empty() {
        return Err(Diagnostic::error("E0342", span, "empty suffix")
            .label("every path ends with the empty string")
            .help("drop the suffix: a rule without a path condition matches every path"));
    }
    if let Some(q) = t.find(['?', '#']) {
        return Err(Diagnostic::error(
            "E0331",
            span,
            format!("suffix \"{t}\" contains a query or fragment"),
        )
        .label("the query never takes part in matching")
        .help(format!("write suffix \"{}\"", t.get(..q).unwrap_or(t))));
    }
    if t.contains(['{', '}', '*']) {
        return Err(Diagnostic::error("E0328", p.span, "a suffix is plain text")
            .label("no `{*}`, `{**}` or `*` in a suffix")
            .help(format!(
                "write suffix \"{}\", or a template: path \"/{{**}}{}\"",
                t.rsplit(['}', '*']).next().unwrap_or(""),
                t.trim_start_matches('*')
            )));
    }
    if let Err(problem) = egress_table::path::suffix_problem(t.as_bytes()) {
        return Err(Diagnostic::error("E0341", span, format!("suffix \"{t}\" can never match"))
            .label(format!("no canonical path ends so ({})", problem.as_str()))
            .note("the proxy normalises paths before the filter sees them, and the filter denies any path still not canonical; write the end of a path as it arrives after normalisation"));
    }
    Ok(CPath::Suffix(t.to_owned()))
}

/// Where in the source the regex crate's error points: its message echoes the
/// pattern with carets under the problem. Only when the string has no escapes
/// (so pattern offsets are source offsets).
fn regex_error_span(msg: &str, pattern: &str, span: Span) -> Option<Span> {
    let mut lines = msg.lines().skip(1);
    let echo = lines.next()?.strip_prefix("    ")?;
    let marks = lines.next()?.strip_prefix("    ")?;
    let source_len = span.end.checked_sub(span.start)? as usize;
    if echo != pattern || source_len != pattern.len() + 2 {
        return None;
    }
    let col = marks.find('^')?;
    let len = marks.get(col..)?.chars().take_while(|&c| c == '^').count();
    let byte = |c: usize| {
        pattern
            .char_indices()
            .nth(c)
            .map_or(pattern.len(), |(i, _)| i)
    };
    let start = span.start as usize + 1;
    Some(Span::new(
        span.file,
        start + byte(col),
        start + byte(col + len),
    ))
}

/// The canonical form of a path the proxy would never pass on as written
/// (`//`, dot segments, `\`, escaped unreserved characters, raw bytes that
/// must be escaped), if there is one.
fn canonical_path(t: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let raw = t.as_bytes();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let hex = |j: usize| raw.get(j).and_then(|c| char::from(*c).to_digit(16));
        match b {
            b'\\' => bytes.push(b'/'),
            b'%' => {
                let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) else {
                    return None;
                };
                let c = u8::try_from(h * 16 + l).ok()?;
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                    bytes.push(c);
                } else {
                    bytes.extend_from_slice(raw.get(i..i + 3)?);
                }
                i += 3;
                continue;
            }
            b if b <= 0x20 || b >= 0x7f => bytes.extend_from_slice(format!("%{b:02X}").as_bytes()),
            _ => bytes.push(b),
        }
        i += 1;
    }
    let text = String::from_utf8(bytes).ok()?;
    let mut segs: Vec<&str> = Vec::new();
    let trailing = text.ends_with('/') || text.ends_with("/.") || text.ends_with("/..");
    for seg in text.split('/').skip(1) {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = format!("/{}", segs.join("/"));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    let fixed = |s: &str| egress_table::request::check_path(s.as_bytes()).is_ok();
    if fixed(&out) {
        return Some(out);
    }
    let escaped = out.replace(';', "%3B");
    (fixed(&escaped) && escaped != t).then_some(escaped)
}

/// Checks a URI template: only `{*}` and `{**}`, `{**}` last (E0328).
fn template(t: &str, span: Span) -> Result<CPath, Diagnostic> {
    let bad = |why: &str| {
        Err(Diagnostic::error("E0328", span, format!("invalid URI template \"{t}\"")).label(why.to_owned()).help("templates use {*} for one path segment and {**} for any number of segments (only as the last operator)"))
    };
    let mut rest = t;
    let mut seen_rest = false;
    while let Some(i) = rest.find('{') {
        let after = rest.get(i..).unwrap_or("");
        let op_len = if after.starts_with("{**}") {
            4
        } else if after.starts_with("{*}") {
            3
        } else if after.starts_with('{') && after.contains('}') {
            // `{id}` → `{*}`: suggest the template with the names replaced.
            let mut fixed = String::new();
            let mut rest = t;
            while let Some((before, after)) = rest.split_once('{') {
                let Some((name, tail)) = after.split_once('}') else {
                    break;
                };
                fixed.push_str(before);
                fixed.push_str(
                    if name == "**" || name.starts_with("**") || name.ends_with("**") {
                        "{**}"
                    } else {
                        "{*}"
                    },
                );
                rest = tail;
            }
            fixed.push_str(rest);
            let d = bad("only {*} and {**} are supported (no named variables)");
            return match (d, template(&fixed, span)) {
                (Err(d), Ok(_)) => Err(d.help(format!(
                    "write \"{fixed}\": {{*}} matches one path segment, whatever its name"
                ))),
                (d, _) => d,
            };
        } else {
            return bad("unbalanced `{`");
        };
        if seen_rest {
            return bad("{**} must be the last operator");
        }
        seen_rest = op_len == 4;
        rest = after.get(op_len..).unwrap_or("");
    }
    if rest.contains('}') || t.matches('}').count() != t.matches('{').count() {
        return bad("unbalanced `}`");
    }
    match egress_table::dfa::template_regex(t) {
        Some(re) => Ok(CPath::Template(t.to_owned(), re)),
        None => bad("malformed template"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths() {
        assert_eq!(canonical_path("/a//b/./c/../d").as_deref(), Some("/a/b/d"));
        assert_eq!(canonical_path("/a/%41%2e/"), Some("/a/A./".to_owned()));
        assert_eq!(canonical_path("/caf\u{e9}").as_deref(), Some("/caf%C3%A9"));
        assert_eq!(canonical_path("/a%2Fb"), None);
    }
}
