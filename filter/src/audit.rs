//! The audit log line: one JSON object per decision, written into a reused
//! buffer and sent through the proxy's log.
//!
//! ```json
//! {"time":"2026-11-21T16:18:00.123Z","policy":"httpbin","rule":"httpbin/2",
//!  "decision":"deny","enforced":true,"reason":"default","protocol":"http",
//!  "host":"httpbin.org","port":80,"method":"POST","path":"/post",
//!  "principal":"cluster.local/ns/default/sa/admin",
//!  "audit":{"decision":"deny","policy":"new","rule":"new/1","reason":"rule"}}
//! ```
//!
//! The top-level fields describe the decision that was applied
//! (`"enforced":true`). When no enforced policy exists they describe the
//! would-be decision of the audit policies (`"enforced":false`). `audit`
//! appears when audit policies exist and their would-be decision differs.
//! Strings are escaped so the line is always ASCII: bytes outside printable
//! ASCII become `\u00XX`. A line has a bounded length whatever the request:
//! `host` keeps at most [`HOST_SHOWN`] bytes, `method` [`METHOD_SHOWN`] and
//! `path` [`PATH_SHOWN`]; a host or path cut short is followed by its length in bytes
//! (`"host_bytes":61440`), so a 60 KiB `Host` (refused `invalid-authority`)
//! costs neither the filter nor the log pipeline 60 KiB per request.

use egress_table::proxy::Decided;
use egress_table::{Cause, Table, Verdict, record};

/// The most bytes of `host` a line shows: the longest authority that can be
/// valid (a longer one is refused unread).
pub const HOST_SHOWN: usize = egress_table::host::MAX_AUTHORITY_LEN;

/// The most bytes of `path` a line shows: the filter's default
/// `max_path_bytes`.
pub const PATH_SHOWN: usize = egress_table::plugin_config::DEFAULT_MAX_PATH_BYTES as usize;

/// The most bytes of `method` a line shows (Envoy's longest known method,
/// `VERSION-CONTROL`, has 15; a custom one may be longer, and is cut
/// without a note: the decision does not depend on its length).
pub const METHOD_SHOWN: usize = 64;

/// Writes `"name":"value"` with at most `max` bytes of the value, then
/// `"name_bytes":N` if it was cut.
fn bounded(out: &mut Vec<u8>, name: &str, value: &[u8], max: usize) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    json_str(out, value.get(..max).unwrap_or(value));
    if value.len() > max {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"_bytes\":");
        push_num(out, value.len() as u64, 1);
    }
}

/// Whether a byte goes into a JSON string as it is.
fn plain(b: u8) -> bool {
    matches!(b, 0x20..=0x7e) && b != b'"' && b != b'\\'
}

/// Appends the escape of one byte that is not [`plain`].
#[inline(never)]
fn escape(out: &mut Vec<u8>, b: u8) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'));
        }
    }
}

/// Appends `bytes` as a JSON string. Runs of plain bytes are copied whole:
/// byte-at-a-time pushes were the bulk of an audit line's cost in the `.wasm`.
pub fn json_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut rest = bytes;
    while let Some(i) = rest.iter().position(|&b| !plain(b)) {
        let (Some(run), Some((&b, tail))) =
            (rest.get(..i), rest.get(i..).and_then(<[u8]>::split_first))
        else {
            break;
        };
        out.extend_from_slice(run);
        escape(out, b);
        rest = tail;
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Appends `n` in decimal, zero-padded to at least `width` digits, without
/// going through `core::fmt` (slow in the `.wasm`).
#[inline(never)]
fn push_num(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut len = 0;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    let len = len.max(width.min(digits.len()));
    out.extend_from_slice(digits.get(digits.len() - len..).unwrap_or(&digits));
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (the "civil from days" algorithm, Howard Hinnant, chrono-compatible).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Appends an RFC 3339 UTC timestamp with milliseconds.
pub fn rfc3339(out: &mut Vec<u8>, nanos: u64) {
    let secs = nanos / 1_000_000_000;
    let ms = (nanos / 1_000_000) % 1000;
    // `nanos` fits in u64: the year is at most 2554, never negative.
    let (y, mo, d) = civil((secs / 86_400) as i64);
    let s = secs % 86_400;
    push_num(out, y.unsigned_abs(), 4);
    out.push(b'-');
    push_num(out, u64::from(mo), 2);
    out.push(b'-');
    push_num(out, u64::from(d), 2);
    out.push(b'T');
    push_num(out, s / 3600, 2);
    out.push(b':');
    push_num(out, s / 60 % 60, 2);
    out.push(b':');
    push_num(out, s % 60, 2);
    out.push(b'.');
    push_num(out, ms, 3);
    out.push(b'Z');
}

/// What is known of the request, for the log line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fields<'a> {
    pub protocol: &'a str,
    pub host: &'a [u8],
    pub port: u16,
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub principal: Option<&'a [u8]>,
    /// What the decision's principal fetch found, if it fetched one (see
    /// `egress_table::proxy::Decided::fetched_principal`).
    pub fetched_principal: Option<Option<&'a [u8]>>,
}

impl<'a> Fields<'a> {
    /// The fields of a decided request or connection.
    pub fn of(d: &Decided<'a>) -> Self {
        Self {
            protocol: d.kind.as_str(),
            host: d.host,
            port: d.port,
            method: d.method,
            path: d.path,
            principal: d.principal,
            fetched_principal: d.fetched_principal,
        }
    }

    /// Nothing known but the protocol (the headers could not be read).
    pub fn refused(protocol: &'a str) -> Self {
        Self {
            protocol,
            ..Self::default()
        }
    }
}

fn verdict_fields(out: &mut Vec<u8>, table: &Table, v: &Verdict) {
    let (policy, rule, reason) = record::describe(table, v);
    let mut id = [0u8; egress_table::RULE_ID_MAX_LEN];
    let rule = rule.as_str_in(&mut id);
    out.extend_from_slice(b"\"decision\":");
    json_str(out, v.action.as_str().as_bytes());
    out.extend_from_slice(b",\"policy\":");
    if policy.is_empty() {
        out.extend_from_slice(b"null")
    } else {
        json_str(out, policy.as_bytes())
    }
    out.extend_from_slice(b",\"rule\":");
    if rule.is_empty() {
        out.extend_from_slice(b"null")
    } else {
        json_str(out, rule.as_bytes())
    }
    out.extend_from_slice(b",\"reason\":");
    json_str(out, reason.as_bytes());
}

/// Writes the whole line for a decision into `out` (cleared first).
pub fn line(
    out: &mut Vec<u8>,
    table: &Table,
    d: &egress_table::Decision,
    f: &Fields<'_>,
    nanos: u64,
) {
    out.clear();
    out.extend_from_slice(b"{\"time\":\"");
    rfc3339(out, nanos);
    out.extend_from_slice(b"\",");
    let (primary, enforced, shadow) = match (d.enforced.cause, d.audit) {
        (Cause::NoPolicy, Some(a)) => (a, false, None),
        (_, a) => (d.enforced, true, a.filter(|a| *a != d.enforced)),
    };
    verdict_fields(out, table, &primary);
    out.extend_from_slice(if enforced {
        b",\"enforced\":true"
    } else {
        b",\"enforced\":false"
    });
    out.extend_from_slice(b",\"protocol\":");
    json_str(out, f.protocol.as_bytes());
    bounded(out, "host", f.host, HOST_SHOWN);
    out.extend_from_slice(b",\"port\":");
    push_num(out, u64::from(f.port), 1);
    if !f.method.is_empty() {
        out.extend_from_slice(b",\"method\":");
        json_str(out, f.method.get(..METHOD_SHOWN).unwrap_or(f.method));
        bounded(out, "path", f.path, PATH_SHOWN);
    }
    out.extend_from_slice(b",\"principal\":");
    match f.principal {
        Some(p) => json_str(out, p),
        None => out.extend_from_slice(b"null"),
    }
    if let Some(s) = shadow {
        out.extend_from_slice(b",\"audit\":{");
        verdict_fields(out, table, &s);
        out.push(b'}');
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let mut b = Vec::new();
        rfc3339(&mut b, 0);
        assert_eq!(b, b"1970-01-01T00:00:00.000Z");
        b.clear();
        // 2024-02-29T12:34:56.789Z
        rfc3339(&mut b, 1_709_210_096_789_000_000);
        assert_eq!(b, b"2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn long_fields_are_cut_and_their_length_given() {
        let mut b = Vec::new();
        bounded(&mut b, "host", &[b'a'; 300], HOST_SHOWN);
        let text = String::from_utf8(b).unwrap();
        assert!(text.starts_with(",\"host\":\"aaaa"), "{text}");
        assert!(text.ends_with("\",\"host_bytes\":300"), "{text}");
        assert_eq!(text.matches('a').count(), HOST_SHOWN);
        let mut b = Vec::new();
        bounded(&mut b, "path", b"/get", PATH_SHOWN);
        assert_eq!(b, b",\"path\":\"/get\"");
    }

    #[test]
    fn escaping() {
        let mut b = Vec::new();
        json_str(&mut b, b"a\"b\\c\n\xff");
        assert_eq!(b, br#""a\"b\\c\u000a\u00ff""#);
    }
}
