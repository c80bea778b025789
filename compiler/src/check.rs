//! Stage 3, checking: the syntax tree to a checked, normalised policy set
//! ([`Checked`]), or errors (E03xx). Every value is validated here, once:
//! host patterns, ports, CIDRs, methods, paths, templates, regexes,
//! principals, header names, settings and test cases. Warnings (W04xx) come
//! from [`crate::lint`] on the result.

#![expect(
    clippy::result_large_err,
    reason = "a Diagnostic is built only on the error path, once per mistake; boxing it would buy nothing"
)]

use std::collections::HashMap;
use std::net::IpAddr;

use egress_table::spec::{
    Action, Cidr, HeaderSpec, HostKind, HostPattern, LogSetting, METHODS, MethodSet, Mode,
    PortRange, Protocol, SourceSpec, Target,
};

use crate::ast::{self, Cond, DestClause, HeaderOp, Item, Methods, PathForm, RuleAction, Targets};
use crate::diag::{Diagnostic, did_you_mean};
use crate::sim::SimRequest;
use crate::source::{Span, Spanned};

/// A checked policy set.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Policies in source order (files in the order given).
    pub policies: Vec<CPolicy>,
}

/// A checked policy.
#[derive(Debug, Clone)]
pub struct CPolicy {
    /// Name.
    pub name: String,
    /// The whole policy.
    pub span: Span,
    /// The name's span.
    pub name_span: Span,
    /// Enforce or audit.
    pub mode: Mode,
    /// The default action.
    pub default: Action,
    /// Where `default` was written (if it was).
    pub default_span: Option<Span>,
    /// The log setting.
    pub log: LogSetting,
    /// Where `log` was written (if it was).
    pub log_span: Option<Span>,
    /// `require sni-host-match`.
    pub sni_host_match: bool,
    /// Destinations.
    pub dests: Vec<CDest>,
    /// Tests.
    pub tests: Vec<CTest>,
}

/// A checked destination.
#[derive(Debug, Clone)]
pub struct CDest {
    /// The whole destination.
    pub span: Span,
    /// Targets with their spans.
    pub targets: Vec<Spanned<Target>>,
    /// Protocol.
    pub protocol: Protocol,
    /// Ports (the protocol's default if none were written).
    pub ports: Vec<PortRange>,
    /// Rules; a destination without a block has one implicit `allow`.
    pub rules: Vec<CRule>,
    /// Whether the rules are the implicit `allow` of a block-less destination.
    pub implicit: bool,
    /// Whether the block was written but empty.
    pub empty_block: bool,
    /// `originate-tls PORT`: the waypoint upgrades this HTTP to TLS on PORT.
    pub originate_tls: Option<u16>,
    /// `timeout`: request timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// `service "NS/NAME"`: Kubernetes Services standing for it in the cluster.
    pub services: Vec<crate::service::ServiceRef>,
}

/// A checked path condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CPath {
    /// Exact.
    Exact(String),
    /// Raw prefix.
    Prefix(String),
    /// URI template: the source and the regex it stands for.
    Template(String, String),
    /// Anchored regex.
    Regex(String),
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct CRule {
    /// The rule's span.
    pub span: Span,
    /// Allow or deny.
    pub action: Action,
    /// Methods.
    pub methods: MethodSet,
    /// Path conditions, with spans.
    pub paths: Vec<Spanned<CPath>>,
    /// Sources.
    pub sources: Vec<SourceSpec>,
    /// Header conditions.
    pub headers: Vec<HeaderSpec>,
}

impl CRule {
    fn implicit(span: Span) -> Self {
        Self {
            span,
            action: Action::Allow,
            methods: MethodSet::ANY,
            paths: Vec::new(),
            sources: Vec::new(),
            headers: Vec::new(),
        }
    }
}

/// A checked test block.
#[derive(Debug, Clone)]
pub struct CTest {
    /// The name.
    pub name: String,
    /// The block.
    pub span: Span,
    /// Cases.
    pub cases: Vec<CCase>,
}

/// A checked test case.
#[derive(Debug, Clone)]
pub struct CCase {
    /// The case.
    pub span: Span,
    /// The request.
    pub request: SimRequest,
    /// Expected decision.
    pub expect: Action,
    /// Expected would-be decision with audit policies enforced.
    pub expect_audit: Option<Action>,
}

fn action(a: RuleAction) -> Action {
    match a {
        RuleAction::Allow => Action::Allow,
        RuleAction::Deny => Action::Deny,
    }
}

struct Ctx<'a> {
    diags: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

/// Checks the parsed files of one compilation.
pub fn check(files: &[ast::File], diags: &mut Vec<Diagnostic>) -> Checked {
    let mut cx = Ctx { diags };
    let mut out = Checked::default();
    let mut seen: HashMap<String, Span> = HashMap::new();
    for f in files {
        for p in &f.policies {
            if let Some(prev) = seen.get(&p.name.value) {
                cx.err(
                    Diagnostic::error("E0301", p.name.span, format!("policy \"{}\" is defined twice", p.name.value))
                        .label("second definition")
                        .with_label(*prev, "first defined here")
                        .help("policy names must be unique across all files compiled together; rename one"),
                );
            } else {
                seen.insert(p.name.value.clone(), p.name.span);
            }
            out.policies.push(check_policy(&mut cx, p));
        }
    }
    crate::service::duplicates(&out, cx.diags);
    out
}

/// "a", "a or b", "a, b or c".
fn one_of(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The article for a protocol name: "an http", "a tls", "a tcp".
fn a(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Http => "an http",
        Protocol::Tls => "a tls",
        Protocol::Tcp => "a tcp",
    }
}

fn check_policy(cx: &mut Ctx<'_>, p: &ast::Policy) -> CPolicy {
    if !egress_table::format::is_valid_name(p.name.value.as_bytes(), false) {
        // A suggestion: spaces and slashes become `-`, other characters go.
        let mut cleaned = String::new();
        for c in p.name.value.chars() {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                cleaned.push(c);
            } else if (c.is_whitespace() || c == '/' || c == ':') && !cleaned.ends_with('-') {
                cleaned.push('-');
            }
        }
        let cleaned: String = cleaned.trim_matches('-').chars().take(128).collect();
        cx.err(
            Diagnostic::error(
                "E0302",
                p.name.span,
                format!("invalid policy name \"{}\"", p.name.value),
            )
            .label("names appear in metrics and logs")
            .help(format!(
                "use 1–128 ASCII letters, digits, `_`, `-` or `.`, e.g. \"{}\"",
                if cleaned.is_empty() {
                    "my-policy"
                } else {
                    &cleaned
                }
            )),
        );
    }
    let mut cp = CPolicy {
        name: p.name.value.clone(),
        span: p.span,
        name_span: p.name.span,
        mode: Mode::Enforce,
        default: Action::Deny,
        default_span: None,
        log: LogSetting::Denied,
        log_span: None,
        sni_host_match: false,
        dests: Vec::new(),
        tests: Vec::new(),
    };
    let mut set: HashMap<&str, Span> = HashMap::new();
    for item in &p.items {
        match item {
            Item::Setting(s) => {
                if let Some(prev) = set.insert(s.key.value.as_str(), s.span) {
                    cx.err(
                        Diagnostic::error(
                            "E0306",
                            s.span,
                            format!("`{}` is set twice", s.key.value),
                        )
                        .label("second setting")
                        .with_label(prev, "first set here")
                        .help("keep one"),
                    );
                    continue;
                }
                let v = s.value.value.as_str();
                let bad = |code, allowed: &[&str]| {
                    Diagnostic::error(code, s.value.span, format!("unknown {} `{v}`", s.key.value))
                        .label(format!("expected {}", one_of(allowed)))
                        .maybe_help(did_you_mean(v, allowed))
                };
                if s.key.value == "log" {
                    cp.log_span = Some(s.span);
                }
                match (s.key.value.as_str(), v) {
                    ("mode", "enforce") => cp.mode = Mode::Enforce,
                    ("mode", "audit") => cp.mode = Mode::Audit,
                    ("mode", _) => {
                        let mut d = bad("E0303", &["enforce", "audit"]);
                        if matches!(v, "dry-run" | "dryrun" | "shadow" | "monitor" | "log") {
                            d = d.help("a dry run is `mode audit`: decide and log, never block");
                        }
                        cx.err(d);
                    }
                    ("default", "allow") => {
                        cp.default = Action::Allow;
                        cp.default_span = Some(s.span);
                    }
                    ("default", "deny") => {
                        cp.default = Action::Deny;
                        cp.default_span = Some(s.span);
                    }
                    ("default", _) => {
                        let mut d = bad("E0304", &["allow", "deny"]);
                        if matches!(v, "permit" | "accept" | "pass" | "allowed" | "open") {
                            d = d.help("write `default allow`");
                        } else if matches!(v, "reject" | "block" | "forbid" | "drop" | "denied" | "closed") {
                            d = d.help("write `default deny`");
                        }
                        cx.err(d);
                    }
                    ("log", "none") => cp.log = LogSetting::None,
                    ("log", "denied") => cp.log = LogSetting::Denied,
                    ("log", "all") => cp.log = LogSetting::All,
                    ("log", _) => {
                        let mut d = bad("E0305", &["none", "denied", "all"]);
                        if matches!(v, "deny" | "denials" | "denies") {
                            d = d.help("write `log denied`");
                        }
                        cx.err(d);
                    }
                    ("require", "sni-host-match") => cp.sni_host_match = true,
                    _ => cx.err(
                        bad("E0307", &["sni-host-match"])
                            .or_help("the one requirement is `require sni-host-match` (deny requests whose TLS SNI and Host differ)"),
                    ),
                }
            }
            Item::Destination(d) => {
                if let Some(cd) = check_dest(cx, d) {
                    cp.dests.push(cd);
                }
            }
            Item::Test(t) => cp.tests.push(check_test(cx, t)),
        }
    }
    cp
}

/// The ASCII (IDNA, punycode) form of a non-ASCII host pattern, mapped as
/// UTS #46 says (lower-cased, normalised, each non-ASCII label `xn--`
/// encoded): a suggestion for a diagnostic, so `None` unless the result is
/// a valid host name. A leading `*.` or `**.` is kept.
fn idna(host: &str) -> Option<String> {
    let (wildcard, name) = ["**.", "*."]
        .into_iter()
        .find_map(|w| host.strip_prefix(w).map(|rest| (w, rest)))
        .unwrap_or(("", host));
    let ascii = ::idna::domain_to_ascii(name).ok()?;
    egress_table::format::is_normalized_host(ascii.as_bytes()).then(|| format!("{wildcard}{ascii}"))
}

/// Validates and normalises a host pattern.
pub fn host_pattern(raw: &str, span: Span) -> Result<HostPattern, Diagnostic> {
    let err = |msg: String| Diagnostic::error("E0316", span, msg);
    if raw.is_empty() {
        return Err(err("empty host name".into()).label("write a host such as \"example.com\""));
    }
    if !raw.is_ascii() {
        let help = match idna(raw) {
            Some(ascii) => format!("write \"{ascii}\", the IDNA (punycode) form: the proxy only ever sees that form"),
            None => "write the IDNA (punycode) form, e.g. \"xn--bcher-kva.example\" for \"bücher.example\"; the proxy only ever sees that form".to_owned(),
        };
        return Err(
            Diagnostic::error("E0315", span, format!("host \"{raw}\" is not ASCII"))
                .label("non-ASCII host names must be written in punycode")
                .help(help),
        );
    }
    if let Some((scheme, rest)) = raw.split_once("://") {
        let host = rest.split(['/', '?']).next().unwrap_or(rest);
        return Err(Diagnostic::error("E0318", span, format!("host \"{raw}\" includes a scheme"))
            .label("a destination names a host, not a URL")
            .help(format!("write destination \"{host}\" and pick the protocol: `http` for plain HTTP, `tls` for HTTPS passed through{}", if scheme == "https" { " (or originate TLS: see originate-tls)" } else { "" })));
    }
    if raw.contains('/') || raw.contains('?') {
        let host = raw.split(['/', '?']).next().unwrap_or(raw);
        return Err(
            Diagnostic::error("E0318", span, format!("host \"{raw}\" includes a path"))
                .label("paths go in rules")
                .help(format!(
                    "write destination \"{host}\" ... {{ allow GET path \"/{}\" }}",
                    raw.split_once('/').map_or("", |x| x.1)
                )),
        );
    }
    let bracketed = raw.starts_with('[');
    if !bracketed && raw.matches(':').count() == 1 {
        let (h, p) = raw.split_once(':').unwrap_or((raw, ""));
        return Err(
            Diagnostic::error("E0317", span, format!("host \"{raw}\" includes a port"))
                .label("ports are a separate clause")
                .help(format!("write destination \"{h}\" port {p}")),
        );
    }
    let lower = raw.to_ascii_lowercase();
    let (kind, name) = if lower == "**" {
        (HostKind::AnyDepth, "")
    } else if lower == "*" {
        (HostKind::OneLabel, "")
    } else if let Some(rest) = lower.strip_prefix("**.") {
        (HostKind::AnyDepth, rest)
    } else if let Some(rest) = lower.strip_prefix("*.") {
        (HostKind::OneLabel, rest)
    } else {
        (HostKind::Exact, lower.as_str())
    };
    if name.contains('*') {
        let help = if lower.starts_with('*') && !lower.starts_with("*.") && !lower.starts_with("**")
        {
            format!(
                "a wildcard stands for whole labels: write \"*.{}\" (one label) or \"**.{}\" (any depth)",
                lower.trim_start_matches('*').trim_start_matches('.'),
                lower.trim_start_matches('*').trim_start_matches('.')
            )
        } else {
            // The domain after the last label with a `*`: what a leading
            // wildcard could stand in front of.
            let rest = lower
                .rsplit_once('*')
                .map_or("", |(_, r)| r)
                .trim_start_matches(|c: char| c != '.')
                .trim_start_matches('.');
            if rest.is_empty() {
                "a wildcard cannot stand for the top-level domain: list each name, e.g. \"example.com\", \"example.org\"".into()
            } else {
                format!(
                    "a wildcard may only be the first label: \"*.{rest}\" (exactly one more label) or \"**.{rest}\" (one or more)"
                )
            }
        };
        return Err(Diagnostic::error(
            "E0319",
            span,
            format!("wildcard in the wrong place in \"{raw}\""),
        )
        .label("`*` and `**` only as the whole first label")
        .help(help));
    }
    if kind == HostKind::Exact
        && let Some(h) = egress_table::request::normalize_host(name.as_bytes())
    {
        return Ok(HostPattern {
            kind,
            name: String::from_utf8_lossy(h.as_bytes()).into_owned(),
        });
    }
    if name.is_empty() {
        return Ok(HostPattern {
            kind,
            name: String::new(),
        });
    }
    let stripped = name.strip_suffix('.').unwrap_or(name);
    if egress_table::format::is_normalized_host(stripped.as_bytes()) {
        if kind != HostKind::Exact && stripped.parse::<IpAddr>().is_ok() {
            return Err(err(format!("wildcard on an IP address in \"{raw}\""))
                .label("wildcards apply to names")
                .help("list the addresses, or use a `tcp` destination with `cidr`"));
        }
        return Ok(HostPattern {
            kind,
            name: stripped.to_owned(),
        });
    }
    let why = if stripped.split('.').any(str::is_empty) {
        "it has an empty label (`..` or a leading dot)"
    } else if stripped.len() > 253 {
        "it is longer than 253 characters"
    } else if stripped.split('.').any(|l| l.len() > 63) {
        "a label is longer than 63 characters"
    } else if stripped
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        "it looks like an IP address but is not one"
    } else {
        "only letters, digits, `-`, `_` and `.` may appear"
    };
    // A likely fix: the empty labels dropped, or the offending characters.
    let prefix = raw.get(..raw.len() - name.len()).unwrap_or("");
    let joined = stripped
        .split('.')
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(".");
    let fix = if stripped.split('.').any(str::is_empty)
        && egress_table::format::is_normalized_host(joined.as_bytes())
    {
        Some(format!("write \"{prefix}{joined}\""))
    } else if stripped.contains(' ') {
        Some("host names have no spaces".to_owned())
    } else {
        None
    };
    Err(err(format!("invalid host name \"{raw}\""))
        .label(why)
        .maybe_help(fix))
}

fn parse_port(s: &Spanned<String>) -> Result<u16, Diagnostic> {
    match s.value.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        Ok(p) => Err(
            Diagnostic::error("E0312", s.span, format!("port {p} is out of range"))
                .label("ports are 1–65535"),
        ),
        Err(_) => Err(
            Diagnostic::error("E0312", s.span, format!("`{}` is not a port", s.value))
                .label("expected a number from 1 to 65535, or a range such as 8000-8999"),
        ),
    }
}

fn port_range(s: &Spanned<String>) -> Result<PortRange, Diagnostic> {
    if let Some((a, b)) = s.value.split_once('-') {
        let lo = parse_port(&Spanned::new(a.to_owned(), s.span))?;
        let hi = parse_port(&Spanned::new(b.to_owned(), s.span))?;
        if lo > hi {
            return Err(Diagnostic::error(
                "E0313",
                s.span,
                format!("port range {lo}-{hi} is backwards"),
            )
            .label("the first port must not exceed the second")
            .help(format!("write {hi}-{lo}")));
        }
        return Ok(PortRange { lo, hi });
    }
    parse_port(s).map(|p| PortRange { lo: p, hi: p })
}

/// Validates a CIDR (bare addresses are /32 or /128).
pub fn cidr(s: &Spanned<String>) -> Result<Cidr, Diagnostic> {
    let (addr, len) = match s.value.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s.value.as_str(), None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        Diagnostic::error(
            "E0321",
            s.span,
            format!("`{}` is not an address range", s.value),
        )
        .label("expected e.g. 140.82.112.0/20 or \"2001:db8::/32\"")
        .maybe_help(if addr.bytes().all(|b| b.is_ascii_digit() || b == b'.') && addr.split('.').count() < 4 {
            Some("an IPv4 address has four parts: write e.g. 10.0.0.0/24".to_owned())
        } else if addr.contains(|c: char| c.is_ascii_alphabetic() && !c.is_ascii_hexdigit()) {
            Some(format!("`cidr` takes IP addresses; host names are strings on a tls or http destination: destination \"{addr}\" port 443 tls"))
        } else {
            None
        })
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(p) if p <= max => p,
            _ => {
                return Err(Diagnostic::error(
                    "E0321",
                    s.span,
                    format!("invalid prefix length `/{l}`"),
                )
                .label(format!("expected 0–{max}")));
            }
        },
    };
    // `::ffff:a.b.c.d/n` (n ≥ 96) is the IPv4 range a.b.c.d/(n − 96): the
    // filter folds IPv4-mapped destination addresses to IPv4.
    let (ip, prefix) = match ip {
        IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => (
            IpAddr::V4(
                v6.to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ),
            prefix - 96,
        ),
        _ => (ip, prefix),
    };
    let network = mask(ip, prefix);
    if network != ip {
        return Err(Diagnostic::error(
            "E0321",
            s.span,
            format!("{} has bits set below the /{prefix} prefix", s.value),
        )
        .label("host bits must be zero")
        .help(format!("did you mean {network}/{prefix}?")));
    }
    Ok(Cidr { addr: ip, prefix })
}

/// W0423 for an IPv4-mapped IPv6 address or range written in a policy.
fn mapped_warning(span: Span, written: &str, v4: &str) -> Diagnostic {
    let what = if v4.contains('/') { "range" } else { "address" };
    Diagnostic::warning("W0423", span, format!("`{written}` is the IPv4 {what} {v4}"))
        .label("an IPv4-mapped IPv6 address")
        .note("the filter folds IPv4-mapped addresses (::ffff:a.b.c.d, in Host, SNI or as a destination address) to IPv4, so this entry is decided as the IPv4 one")
        .help(format!("write {v4}"))
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// Parses `3s`, `500ms`, `1m`, `1.5s` to milliseconds.
fn duration_ms(s: &Spanned<String>) -> Result<u64, Diagnostic> {
    let v = s.value.as_str();
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        Diagnostic::error("E0336", s.span, format!("`{v}` is not a duration"))
            .label("expected e.g. 3s, 500ms or 1m")
    })?;
    let factor = match unit {
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => {
            let help = match unit {
                "sec" | "secs" | "second" | "seconds" => Some(format!("write {num}s")),
                "min" | "mins" | "minute" | "minutes" => Some(format!("write {num}m")),
                "hr" | "hrs" | "hour" | "hours" => Some(format!("write {num}h")),
                "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => {
                    Some(format!("write {num}ms"))
                }
                "d" | "day" | "days" => {
                    Some("the largest unit is `h`, and a timeout is at most 24h".to_owned())
                }
                "us" | "\u{b5}s" | "ns" => Some("the smallest unit is `ms`".to_owned()),
                _ => None,
            };
            return Err(Diagnostic::error(
                "E0336",
                s.span,
                format!("unknown duration unit in `{v}`"),
            )
            .label("units are ms, s, m and h")
            .maybe_help(help));
        }
    };
    let ms = n * factor;
    if !(1.0..=86_400_000.0).contains(&ms) {
        return Err(
            Diagnostic::error("E0336", s.span, format!("timeout `{v}` is out of range"))
                .label("between 1ms and 24h"),
        );
    }
    Ok(ms as u64)
}

fn check_dest(cx: &mut Ctx<'_>, d: &ast::Destination) -> Option<CDest> {
    let mut ok = true;
    let mut protocol: Option<Spanned<Protocol>> = None;
    let mut ports: Option<(Span, Vec<PortRange>)> = None;
    let mut originate: Option<(Span, u16)> = None;
    let mut timeout: Option<(Span, u64)> = None;
    let mut service: Option<(Span, &Vec<Spanned<String>>)> = None;
    let mut seen: HashMap<&'static str, Span> = HashMap::new();
    let mut first_ports: Option<&Vec<Spanned<String>>> = None;
    for c in &d.clauses {
        let key = match c {
            DestClause::Port(..) => "port",
            DestClause::Protocol(_) => "protocol",
            DestClause::OriginateTls(..) => "originate-tls",
            DestClause::Timeout(..) => "timeout",
            DestClause::Service(..) => "service",
        };
        if let Some(prev) = seen.insert(key, c.span()) {
            let msg = if key == "protocol" {
                "a destination has one protocol".to_owned()
            } else {
                format!("`{key}` is given twice")
            };
            let mut diag = Diagnostic::error("E0311", c.span(), msg)
                .label("second")
                .with_label(prev, "first");
            if let (DestClause::Port(_, more), Some(first)) = (c, first_ports) {
                let all: Vec<&str> = first.iter().chain(more).map(|p| p.value.as_str()).collect();
                diag = diag.help(format!(
                    "list several ports in one clause: port {}",
                    all.join(", ")
                ));
            } else if key == "protocol" {
                diag = diag.help("use one destination per protocol");
            } else {
                diag = diag.help("keep one");
            }
            cx.err(diag);
            ok = false;
            continue;
        }
        match c {
            DestClause::Port(span, list) => {
                first_ports = Some(list);
                let mut ranges = Vec::new();
                for p in list {
                    match port_range(p) {
                        Ok(r) => ranges.push(r),
                        Err(e) => {
                            cx.err(e);
                            ok = false;
                        }
                    }
                }
                ports = Some((*span, ranges));
            }
            DestClause::Protocol(p) => {
                protocol = Some(Spanned::new(
                    match p.value.as_str() {
                        "http" => Protocol::Http,
                        "tls" => Protocol::Tls,
                        _ => Protocol::Tcp,
                    },
                    p.span,
                ));
            }
            DestClause::OriginateTls(span, port) => {
                let p = match port {
                    Some(p) => match parse_port(p) {
                        Ok(p) => p,
                        Err(e) => {
                            cx.err(e);
                            ok = false;
                            443
                        }
                    },
                    None => 443,
                };
                originate = Some((*span, p));
            }
            DestClause::Timeout(span, v) => match duration_ms(v) {
                Ok(ms) => timeout = Some((*span, ms)),
                Err(e) => {
                    cx.err(e);
                    ok = false;
                }
            },
            DestClause::Service(span, names) => service = Some((*span, names)),
        }
    }
    let Some(protocol) = protocol else {
        let port = ports.as_ref().and_then(|(_, r)| r.first().map(|r| r.lo));
        let guess = match port {
            _ if matches!(d.targets, Targets::Cidrs(_)) => "tcp",
            Some(443 | 8443) => "tls",
            Some(22) => "tcp",
            _ => "http",
        };
        let end = d
            .clauses
            .last()
            .map(DestClause::span)
            .or_else(|| match &d.targets {
                Targets::Hosts(h) | Targets::Cidrs(h) => h.last().map(|t| t.span),
            });
        cx.err(
            Diagnostic::error("E0310", d.keyword.to(end.unwrap_or(d.keyword)), "destination has no protocol")
                .label("add http, tls or tcp")
                .help(format!("add `{guess}`, the likely protocol here"))
                .note("the protocol says how the proxy sees the traffic: `http` is plain HTTP (rules may look at methods, paths and headers), `tls` is HTTPS passed through (decided on the SNI), `tcp` is raw TCP (decided on address and port)"),
        );
        return None;
    };
    if let (Some((span, _)), false) = (&originate, protocol.value == Protocol::Http) {
        cx.err(
            Diagnostic::error("E0335", *span, format!("`originate-tls` on {} destination", a(protocol.value)))
                .label("only plain HTTP can be upgraded to TLS by the proxy")
                .help("with TLS origination the application sends plain HTTP to port 80 and the waypoint opens TLS: make this an `http` destination"),
        );
        ok = false;
    }
    if let (Some((span, _)), false) = (&timeout, protocol.value == Protocol::Http) {
        cx.err(
            Diagnostic::error("E0337", *span, "`timeout` applies to HTTP requests")
                .label(format!("this is {} destination", a(protocol.value)))
                .help("remove it, or make this an `http` destination"),
        );
        ok = false;
    }
    let ports = match ports {
        Some((_, r)) => r,
        None => match protocol.value {
            Protocol::Http => vec![PortRange { lo: 80, hi: 80 }],
            Protocol::Tls => vec![PortRange { lo: 443, hi: 443 }],
            Protocol::Tcp => {
                cx.err(
                    Diagnostic::error("E0314", protocol.span, "a tcp destination needs a port")
                        .label("no default port for raw TCP")
                        .help("add the port, e.g. `port 22` for SSH"),
                );
                return None;
            }
        },
    };
    let mut targets = Vec::new();
    match &d.targets {
        Targets::Hosts(hosts) => {
            if protocol.value == Protocol::Tcp {
                cx.err(
                    Diagnostic::error("E0320", hosts.first().map_or(d.keyword, |h| h.span), "a tcp destination is decided on addresses, not host names")
                        .label("raw TCP carries no host name")
                        .with_label(protocol.span, "tcp")
                        .help("list address ranges: destination cidr 140.82.112.0/20 port 22 tcp; for HTTPS by host name use `tls`"),
                );
                return None;
            }
            for h in hosts {
                match host_pattern(&h.value, h.span) {
                    Ok(p) => {
                        if let Some(v4) = h
                            .value
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .parse::<std::net::Ipv6Addr>()
                            .ok()
                            .and_then(|a| a.to_ipv4_mapped())
                        {
                            cx.err(mapped_warning(h.span, &h.value, &v4.to_string()));
                        }
                        targets.push(Spanned::new(Target::Host(p), h.span));
                    }
                    Err(e) => {
                        cx.err(e);
                        ok = false;
                    }
                }
            }
        }
        Targets::Cidrs(list) => {
            if protocol.value != Protocol::Tcp {
                cx.err(
                    Diagnostic::error("E0320", list.first().map_or(d.keyword, |c| c.span), format!("`cidr` on {} destination", a(protocol.value)))
                        .label("address ranges are for tcp destinations")
                        .with_label(protocol.span, "not tcp")
                        .help(format!("{} destinations are decided on the host name: list hosts, or make this a `tcp` destination", protocol.value.as_str())),
                );
                return None;
            }
            for c in list {
                match cidr(c) {
                    Ok(c2) => {
                        if c.value.contains(':') && c2.addr.is_ipv4() {
                            cx.err(mapped_warning(c.span, &c.value, &c2.to_string()));
                        } else if c2.touches_ipv4_mapped() {
                            cx.err(
                                Diagnostic::warning("W0423", c.span, format!("{c2} also covers every IPv4 address"))
                                    .label("it contains the IPv4-mapped range ::ffff:0:0/96")
                                    .note("the filter decides an IPv4-mapped destination (::ffff:a.b.c.d) as the IPv4 address a.b.c.d, so an IPv6 range that covers ::ffff:0:0/96 matches IPv4 connections too")
                                    .help("list IPv4 ranges separately, and start the IPv6 range above ::ffff:0:0/96 (e.g. 2000::/3 for global unicast)"),
                            );
                        }
                        targets.push(Spanned::new(Target::Cidr(c2), c.span));
                    }
                    Err(e) => {
                        cx.err(e);
                        ok = false;
                    }
                }
            }
        }
    }
    let services = match service {
        Some((span, names)) => crate::service::check(
            names,
            span,
            protocol.value,
            &targets,
            originate.map(|(s, _)| s),
            cx.diags,
        )
        .unwrap_or_else(|| {
            ok = false;
            Vec::new()
        }),
        None => Vec::new(),
    };
    let mut rules = Vec::new();
    let (implicit, empty_block) = match &d.block {
        None => {
            rules.push(CRule::implicit(d.span));
            (true, false)
        }
        Some((_, rs, _)) => {
            for r in rs {
                match check_rule(cx, r, protocol.value, &protocol.span) {
                    Some(cr) => rules.push(cr),
                    None => ok = false,
                }
            }
            (false, rs.is_empty())
        }
    };
    ok.then_some(CDest {
        span: d.span,
        targets,
        protocol: protocol.value,
        ports,
        rules,
        implicit,
        empty_block,
        originate_tls: originate.map(|(_, p)| p),
        timeout_ms: timeout.map(|(_, t)| t),
        services,
    })
}

fn l7_error(span: Span, what: &str, protocol: Protocol, proto_span: Span) -> Diagnostic {
    let d = Diagnostic::error(
        if protocol == Protocol::Tls {
            "E0322"
        } else {
            "E0323"
        },
        span,
        format!("{what} condition on {} destination", a(protocol)),
    )
    .with_label(proto_span, protocol.as_str());
    if protocol == Protocol::Tls {
        d.label("the request is encrypted: the proxy sees only the TLS SNI")
            .help("to decide on methods, paths or headers the proxy must see plain HTTP: let the application send HTTP and have the waypoint originate TLS (`http originate-tls 443`), or decide on the host alone here")
    } else {
        d.label("raw TCP has no methods, paths or headers")
            .help("only sources (`from ...`) apply to tcp destinations")
    }
}

fn check_rule(
    cx: &mut Ctx<'_>,
    r: &ast::Rule,
    protocol: Protocol,
    proto_span: &Span,
) -> Option<CRule> {
    let mut ok = true;
    let mut methods = MethodSet::ANY;
    match &r.methods {
        None | Some(Methods::Any(_)) => {}
        Some(Methods::List(list)) => {
            if protocol != Protocol::Http {
                cx.err(l7_error(
                    list.first().map_or(r.span, |m| m.span),
                    "a method",
                    protocol,
                    *proto_span,
                ));
                return None;
            }
            let mut set = MethodSet(0);
            for m in list {
                if m.value == "any" {
                    cx.err(
                        Diagnostic::error("E0340", m.span, "`any` together with named methods")
                            .label("`any` already covers every method")
                            .help("write either `any` or a list of methods"),
                    );
                    ok = false;
                    continue;
                }
                match MethodSet::standard(&m.value) {
                    Some(bit) => {
                        if set.0 & bit.0 != 0 {
                            cx.err(
                                Diagnostic::warning(
                                    "W0409",
                                    m.span,
                                    format!("method {} listed twice", m.value),
                                )
                                .label("duplicate")
                                .help("remove it"),
                            );
                        }
                        set = set.union(bit);
                    }
                    None => {
                        let upper = m.value.to_ascii_uppercase();
                        if MethodSet::standard(&upper).is_some() {
                            cx.err(
                                Diagnostic::error(
                                    "E0325",
                                    m.span,
                                    format!("method `{}` must be upper case", m.value),
                                )
                                .label("HTTP methods are case-sensitive")
                                .help(format!("write {upper}")),
                            );
                        } else {
                            cx.err(
                                Diagnostic::error(
                                    "E0324",
                                    m.span,
                                    format!("unknown method `{}`", m.value),
                                )
                                .label(format!("expected one of {}", METHODS.join(", ")))
                                .maybe_help(
                                    did_you_mean(&m.value, &METHODS)
                                        .or_else(|| COND_HINT.get(m.value.as_str()).map(|s| (*s).to_owned()))
                                        .or_else(|| {
                                            m.value.bytes().all(|b| b.is_ascii_uppercase()).then(|| {
                                                format!("only the standard methods can be listed; `any` matches every method, {} included", m.value)
                                            })
                                        }),
                                ),
                            );
                        }
                        ok = false;
                    }
                }
            }
            if set.0 != 0 {
                methods = set;
            }
        }
    }
    let mut paths = Vec::new();
    let mut sources = Vec::new();
    let mut headers = Vec::new();
    let mut seen: HashMap<&'static str, Span> = HashMap::new();
    for c in &r.conds {
        let key = match c {
            Cond::Path(..) => "path",
            Cond::From(..) => "from",
            Cond::When(..) => "when",
        };
        if let Some(prev) = seen.insert(key, c.span()) {
            let help = match key {
                "path" => "list alternatives in one clause: path \"/a\", \"/b\"",
                "from" => "list alternatives in one clause: from namespace \"a\", \"b\"",
                _ => {
                    "join header conditions with `and`: when header \"a\" present and header \"b\" absent"
                }
            };
            cx.err(
                Diagnostic::error("E0339", c.span(), format!("a rule has one `{key}` clause"))
                    .label("second")
                    .with_label(prev, "first")
                    .help(help),
            );
            ok = false;
            continue;
        }
        match c {
            Cond::Path(span, pats) => {
                if protocol != Protocol::Http {
                    cx.err(l7_error(*span, "a path", protocol, *proto_span));
                    return None;
                }
                for p in pats {
                    match check_path(p) {
                        Ok(cp) => paths.push(Spanned::new(cp, p.span)),
                        Err(e) => {
                            cx.err(e);
                            ok = false;
                        }
                    }
                }
            }
            Cond::From(_, items) => {
                for s in items {
                    match check_source(s) {
                        Ok(src) => sources.push(src),
                        Err(e) => {
                            cx.err(e);
                            ok = false;
                        }
                    }
                }
            }
            Cond::When(span, conds) => {
                if protocol != Protocol::Http {
                    cx.err(l7_error(*span, "a header", protocol, *proto_span));
                    return None;
                }
                for h in conds {
                    match check_header(h) {
                        Ok(hs) => headers.push(hs),
                        Err(e) => {
                            cx.err(e);
                            ok = false;
                        }
                    }
                }
            }
        }
    }
    ok.then_some(CRule {
        span: r.span,
        action: action(r.action.value),
        methods,
        paths,
        sources,
        headers,
    })
}

static COND_HINT: std::sync::LazyLock<HashMap<&'static str, &'static str>> =
    std::sync::LazyLock::new(|| {
        HashMap::from([
            ("ALL", "write `any` for every method"),
            ("all", "write `any` for every method"),
            ("*", "write `any` for every method"),
            ("ANY", "write `any` (lower case) for every method"),
            (
                "path",
                "conditions follow the methods: allow GET path \"/x\"",
            ),
        ])
    });

fn check_path(p: &ast::PathPat) -> Result<CPath, Diagnostic> {
    let t = &p.text.value;
    let span = p.text.span;
    if p.form == PathForm::Regex {
        if let Err(e) = regex::bytes::RegexBuilder::new(t).unicode(false).build() {
            let msg = e.to_string();
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
    if !t.starts_with('/') {
        let help = if t.starts_with('*') {
            format!(
                "a path starts with `/`: write the template \"/{{**}}{}\"",
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

fn check_source(s: &ast::SourceItem) -> Result<SourceSpec, Diagnostic> {
    let v = s.value.value.trim();
    let span = s.value.span;
    let visible = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_graphic());
    match s.kind.value.as_str() {
        "principal" => {
            let p = v.strip_prefix("spiffe://").unwrap_or(v);
            if !visible(p) || p.contains('*') {
                let ns = p
                    .split_once("/ns/")
                    .and_then(|(_, r)| r.split('/').next())
                    .filter(|n| !n.contains('*') && !n.is_empty());
                let help = match ns {
                    Some(ns) if p.contains('*') => format!("for every service account of a namespace write namespace \"{ns}\""),
                    _ if p.contains('*') => "principals are exact; for every service account of a namespace write namespace \"NS\"".to_owned(),
                    _ => "write the SPIFFE id, e.g. \"cluster.local/ns/default/sa/admin\"".to_owned(),
                };
                return Err(
                    Diagnostic::error("E0332", span, format!("invalid principal \"{v}\""))
                        .label("not a principal")
                        .help(help),
                );
            }
            if egress_table::request::principal_parts(p.as_bytes()).is_none() && p.contains("/ns/")
            {
                return Err(Diagnostic::error(
                    "E0332",
                    span,
                    format!("malformed principal \"{v}\""),
                )
                .label("expected TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT")
                .help("e.g. \"cluster.local/ns/default/sa/admin\""));
            }
            Ok(SourceSpec::Principal(p.to_owned()))
        }
        "namespace" => {
            if !visible(v) || v.contains('/') {
                return Err(
                    Diagnostic::error("E0333", span, format!("invalid namespace \"{v}\""))
                        .label("a namespace is a single name")
                        .help(if v.matches('/').count() == 1 {
                            format!("for one service account write serviceaccount \"{v}\"")
                        } else {
                            "for one service account write serviceaccount \"namespace/name\""
                                .to_owned()
                        }),
                );
            }
            Ok(SourceSpec::Namespace(v.to_owned()))
        }
        _ => match v.split_once('/') {
            Some((ns, name)) if visible(ns) && visible(name) && !name.contains('/') => {
                Ok(SourceSpec::ServiceAccount {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(
                Diagnostic::error("E0333", span, format!("invalid service account \"{v}\""))
                    .label("expected \"namespace/name\"")
                    .help(if v.contains("/ns/") {
                        format!("this looks like a SPIFFE identity: write principal \"{v}\"")
                    } else if v.contains('/') {
                        "a service account is exactly \"namespace/name\", with one `/`".to_owned()
                    } else {
                        format!(
                            "write serviceaccount \"NAMESPACE/{}\"",
                            if v.is_empty() { "name" } else { v }
                        )
                    }),
            ),
        },
    }
}

fn check_header(h: &ast::HeaderCond) -> Result<HeaderSpec, Diagnostic> {
    let name = h.name.value.to_ascii_lowercase();
    if !egress_table::format::is_header_name(name.as_bytes()) {
        return Err(Diagnostic::error(
            "E0334",
            h.name.span,
            format!("invalid header name \"{}\"", h.name.value),
        )
        .label("header names are tokens: letters, digits and !#$%&'*+-.^_`|~")
        .help("drop spaces and `:`; e.g. \"x-tenant\""));
    }
    Ok(match &h.op {
        HeaderOp::Present(_) => HeaderSpec::Present(name),
        HeaderOp::Absent(_) => HeaderSpec::Absent(name),
        HeaderOp::Equals(v) => HeaderSpec::Equals(name, v.value.clone()),
    })
}

fn check_test(cx: &mut Ctx<'_>, t: &ast::Test) -> CTest {
    let mut cases = Vec::new();
    for c in &t.cases {
        match check_case(c) {
            Ok(cc) => cases.push(cc),
            Err(e) => cx.err(e),
        }
    }
    CTest {
        name: t.name.value.clone(),
        span: t.span,
        cases,
    }
}

fn check_case(c: &ast::Case) -> Result<CCase, Diagnostic> {
    let url = &c.url.value;
    let span = c.url.span;
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let mut r = SimRequest::default();
    match scheme {
        "http" | "https" => {
            let Some(m) = &c.method else {
                return Err(
                    Diagnostic::error("E0351", span, "an HTTP test case needs a method")
                        .label("add the method before the URL")
                        .help(format!("write GET {url}")),
                );
            };
            if authority.is_empty() {
                return Err(
                    Diagnostic::error("E0350", span, format!("no host in `{url}`"))
                        .label("expected scheme://host/path"),
                );
            }
            r.method = Some(m.value.clone());
            r.scheme = Some(scheme.to_owned());
            r.host = Some(authority.to_owned());
            // A CONNECT carries no path unless the URL has one.
            r.path = match (path.is_empty(), m.value == "CONNECT") {
                (true, true) => None,
                (true, false) => Some("/".to_owned()),
                (false, _) => Some(path.to_owned()),
            };
        }
        "tls" | "tcp" => {
            if let Some(m) = &c.method {
                return Err(Diagnostic::error(
                    "E0351",
                    m.span,
                    format!("a {scheme} test case has no method"),
                )
                .label("connections carry no HTTP method")
                .help(format!("write {url} => ...")));
            }
            if !path.is_empty() {
                return Err(Diagnostic::error(
                    "E0350",
                    span,
                    format!("a {scheme} URL has no path"),
                )
                .label("expected scheme://host:port")
                .help(format!("write {scheme}://{authority}")));
            }
            let (host, port) = split_host_port(authority).ok_or_else(|| {
                Diagnostic::error("E0350", span, format!("`{url}` needs a port"))
                    .label(format!("expected {scheme}://host:port"))
                    .help(format!(
                        "write {scheme}://{authority}:{}",
                        if scheme == "tls" { 443 } else { 22 }
                    ))
            })?;
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    Diagnostic::error("E0350", span, format!("invalid port in `{url}`"))
                        .label("ports are 1–65535")
                })?;
            r.port = Some(port);
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            match (scheme, bare.parse::<IpAddr>()) {
                ("tcp", Ok(ip)) => r.destination = Some(ip),
                ("tcp", Err(_)) => {
                    return Err(Diagnostic::error(
                        "E0354",
                        span,
                        format!("`{url}` needs an IP address"),
                    )
                    .label("a tcp connection is decided on its destination address")
                    .help("write tcp://140.82.112.3:22; for a host name use tls://host:443"));
                }
                (_, Ok(ip)) => r.destination = Some(ip),
                _ => r.sni = Some(host.to_owned()),
            }
        }
        other => {
            return Err(
                Diagnostic::error("E0350", span, format!("unknown scheme `{other}`"))
                    .label("expected http, https, tls or tcp")
                    .maybe_help(did_you_mean(other, &["http", "https", "tls", "tcp"])),
            );
        }
    }
    for o in &c.opts {
        match o {
            ast::CaseOpt::From(_, p) => r.principal = Some(p.value.clone()),
            ast::CaseOpt::Header(_, n, v) => {
                if !egress_table::format::is_header_name(n.value.to_ascii_lowercase().as_bytes()) {
                    return Err(Diagnostic::error(
                        "E0352",
                        n.span,
                        format!("invalid header name \"{}\"", n.value),
                    )
                    .label("not a header name")
                    .help("header names are tokens: letters, digits and `-`, e.g. \"x-tenant\""));
                }
                r.headers
                    .push((n.value.to_ascii_lowercase(), v.value.clone()));
            }
            ast::CaseOpt::Sni(s, v) => {
                if r.is_http() {
                    r.sni = Some(v.value.clone());
                } else {
                    return Err(
                        Diagnostic::error("E0352", *s, "`sni` applies to HTTP cases")
                            .label("a tls:// URL already names the SNI"),
                    );
                }
            }
        }
    }
    Ok(CCase {
        span: c.span,
        request: r,
        expect: action(c.expect.value),
        expect_audit: c.expect_audit.as_ref().map(|a| action(a.value)),
    })
}

fn split_host_port(a: &str) -> Option<(&str, &str)> {
    if a.starts_with('[') {
        let (h, rest) = a.split_once(']')?;
        return Some((h.get(1..)?, rest.strip_prefix(':')?));
    }
    a.rsplit_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idna_suggestions() {
        assert_eq!(
            idna("bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(idna("例え.jp").as_deref(), Some("xn--r8jz45g.jp"));
        assert_eq!(
            idna("*.Bücher.example").as_deref(),
            Some("*.xn--bcher-kva.example")
        );
        assert_eq!(
            idna("**.münchen.de").as_deref(),
            Some("**.xn--mnchen-3ya.de")
        );
        // Not a valid host name in any form: no suggestion.
        assert_eq!(idna("b\u{fc} cher.de"), None);
        assert_eq!(idna("bücher.example."), None);
    }

    #[test]
    fn canonical_paths() {
        assert_eq!(canonical_path("/a//b/./c/../d").as_deref(), Some("/a/b/d"));
        assert_eq!(canonical_path("/a/%41%2e/"), Some("/a/A./".to_owned()));
        assert_eq!(canonical_path("/caf\u{e9}").as_deref(), Some("/caf%C3%A9"));
        assert_eq!(canonical_path("/a%2Fb"), None);
    }
}
