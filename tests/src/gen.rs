//! Large, realistic policies for the scale benchmark (`make bench`), and
//! requests to send through them, deterministic from a seed.
//!
//! A generated policy looks like a real allowlist grown over years: package
//! registries and cloud APIs (made-up names), mostly exact hosts with some
//! `*.` and `**.` wildcards, grouped into destinations of 1–20 hosts;
//! `http` destinations with rules (methods, exact paths, prefixes, path
//! templates with `{*}` and `{**}`, a few regexes, sources by principal and
//! namespace, a few `deny` rules); `tls` destinations for some. About five
//! rules per host: 10,000 hosts are about 50,000 rules.
//!
//! [`Model`] is the policy as data: [`Model::text`] renders it in the policy
//! language, the naive matcher of [`crate::scale`] reads it directly, and
//! [`Model::sample`] draws requests that hit each kind of rule, or miss.

use std::fmt::Write as _;

/// splitmix64: a tiny, good-enough PRNG with a fixed seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One element of a non-empty slice (the first when it is empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.below(items.len());
        #[expect(
            clippy::indexing_slicing,
            reason = "i < len; callers pass non-empty slices"
        )]
        &items[i]
    }
}

/// The host patterns of a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPat {
    /// `api.example.com`.
    Exact(String),
    /// `*.example.com`: exactly one label before the suffix.
    One(String),
    /// `**.example.com`: one or more labels before the suffix.
    Any(String),
}

impl HostPat {
    /// As written in a policy.
    pub fn text(&self) -> String {
        match self {
            Self::Exact(h) => h.clone(),
            Self::One(s) => format!("*.{s}"),
            Self::Any(s) => format!("**.{s}"),
        }
    }

    /// Whether `host` (normalised: lower case, no trailing dot) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(h) => h == host,
            Self::One(s) => host
                .strip_suffix(s.as_str())
                .and_then(|p| p.strip_suffix('.'))
                .is_some_and(|l| !l.is_empty() && !l.contains('.')),
            Self::Any(s) => host
                .strip_suffix(s.as_str())
                .and_then(|p| p.strip_suffix('.'))
                .is_some_and(|l| !l.is_empty() && !l.starts_with('.') && !l.ends_with('.')),
        }
    }
}

/// A path condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPat {
    /// `path "/x"`.
    Exact(String),
    /// `path prefix "/x/"`.
    Prefix(String),
    /// `path "/v1/{*}/items"`, `path "/api/{**}"`.
    Template(String),
    /// `path ~"/v2/[0-9]+"`.
    Regex(String),
}

impl PathPat {
    fn text(&self) -> String {
        match self {
            Self::Exact(p) | Self::Template(p) => format!("{p:?}"),
            Self::Prefix(p) => format!("prefix {p:?}"),
            Self::Regex(r) => format!("~{r:?}"),
        }
    }
}

/// A source condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `principal "cluster.local/ns/NS/sa/SA"`.
    Principal(String),
    /// `namespace "NS"`.
    Namespace(String),
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `allow` or `deny`.
    pub allow: bool,
    /// The methods; empty is `any`.
    pub methods: Vec<&'static str>,
    /// The path conditions (or-ed); empty is any path.
    pub paths: Vec<PathPat>,
    /// The sources (or-ed); empty is anyone.
    pub from: Vec<Source>,
}

/// `http` or `tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// Plain HTTP, with rules.
    Http,
    /// TLS passed through, decided on the SNI.
    Tls,
}

/// One destination.
#[derive(Debug, Clone)]
pub struct Dest {
    /// Its hosts.
    pub hosts: Vec<HostPat>,
    /// Its port.
    pub port: u16,
    /// Its protocol.
    pub proto: Proto,
    /// Its rules; empty (only for `tls`) is no block: all allowed.
    pub rules: Vec<Rule>,
}

/// A generated policy, as data.
#[derive(Debug, Clone)]
pub struct Model {
    /// Its destinations, in file order.
    pub dests: Vec<Dest>,
}

/// The policy's name (rule ids are `scale/<n>`).
pub const POLICY: &str = "scale";

const WORDS: [&str; 32] = [
    "items",
    "orders",
    "users",
    "packages",
    "simple",
    "blobs",
    "objects",
    "repos",
    "releases",
    "artifacts",
    "models",
    "metrics",
    "logs",
    "tokens",
    "keys",
    "images",
    "charts",
    "indexes",
    "files",
    "builds",
    "jobs",
    "events",
    "tables",
    "queues",
    "topics",
    "reports",
    "assets",
    "projects",
    "accounts",
    "catalog",
    "search",
    "health",
];

const REGISTRIES: [&str; 8] = [
    "npm-mirror.example",
    "pythonhosted.example",
    "crates-cdn.example",
    "maven-central.example",
    "rubygems-proxy.example",
    "goproxy.example",
    "docker-registry.example",
    "helm-charts.example",
];

const CLOUDS: [&str; 6] = [
    "amazonaws.example",
    "googleapis.example",
    "azure-api.example",
    "cloudflare-edge.example",
    "digitalocean-api.example",
    "oraclecloud.example",
];

const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-south-1",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
];

const SERVICES: [&str; 10] = [
    "s3", "sqs", "storage", "pubsub", "bigquery", "kms", "sts", "compute", "dynamodb", "logging",
];

const NAMESPACES: [&str; 8] = [
    "ci", "payments", "billing", "search", "ml", "frontend", "data", "ops",
];

/// The regexes rules use: a small pool, as real policies reuse a few.
const REGEXES: [&str; 6] = [
    "/v2/[a-z0-9-]+/manifests/[a-zA-Z0-9._-]+",
    "/v2/[a-z0-9-]+/blobs/sha256:[0-9a-f]+",
    "/api/v[0-9]+/items/[0-9]+",
    "/[a-z]+/[0-9]{4}-[0-9]{2}-[0-9]{2}/report",
    "/objects/[0-9a-f]{8}/[a-z]+",
    "/releases/download/v[0-9]+\\.[0-9]+\\.[0-9]+/[a-z0-9._-]+",
];

/// A host name for destination host `i` (unique across the policy).
fn host_name(rng: &mut Rng, i: usize) -> String {
    let word = rng.pick(&WORDS);
    if rng.chance(45) {
        format!("{word}{i}.{}", rng.pick(&REGISTRIES))
    } else {
        format!(
            "{}{i}.{}.{}",
            rng.pick(&SERVICES),
            rng.pick(&REGIONS),
            rng.pick(&CLOUDS)
        )
    }
}

fn methods(rng: &mut Rng) -> Vec<&'static str> {
    match rng.below(6) {
        0 | 1 => vec!["GET", "HEAD"],
        2 => vec!["GET"],
        3 => vec!["POST", "PUT"],
        4 => vec!["GET", "POST"],
        _ => Vec::new(),
    }
}

fn source(rng: &mut Rng) -> Source {
    let ns = rng.pick(&NAMESPACES);
    if rng.chance(50) {
        Source::Namespace((*ns).to_owned())
    } else {
        Source::Principal(format!("cluster.local/ns/{ns}/sa/{ns}-{}", rng.below(4)))
    }
}

/// One `allow` rule: its path form drawn from a realistic mix.
fn allow_rule(rng: &mut Rng) -> Rule {
    let w = *rng.pick(&WORDS);
    let v = rng.range(1, 3);
    let path = match rng.below(100) {
        0..=27 => PathPat::Prefix(format!("/{w}/")),
        28..=49 => PathPat::Template(format!("/v{v}/{{*}}/{w}")),
        50..=66 => PathPat::Template(format!("/api/{w}/{{**}}")),
        67..=85 => PathPat::Exact(format!("/v{v}/{w}/status")),
        86..=89 => PathPat::Template(format!("/v{v}/{{*}}/{w}/{{*}}")),
        _ => PathPat::Regex((*rng.pick(&REGEXES)).to_owned()),
    };
    let mut paths = vec![path];
    if rng.chance(10) {
        paths.push(PathPat::Exact(format!("/{}", rng.pick(&WORDS))));
    }
    let from = if rng.chance(15) {
        let mut f = vec![source(rng)];
        if rng.chance(30) {
            f.push(source(rng));
        }
        f
    } else {
        Vec::new()
    };
    Rule {
        allow: true,
        methods: methods(rng),
        paths,
        from,
    }
}

fn deny_rule(rng: &mut Rng) -> Rule {
    if rng.chance(50) {
        Rule {
            allow: false,
            methods: Vec::new(),
            paths: vec![PathPat::Prefix("/admin/".into())],
            from: Vec::new(),
        }
    } else {
        Rule {
            allow: false,
            methods: vec!["DELETE"],
            paths: Vec::new(),
            from: Vec::new(),
        }
    }
}

/// How many hosts the next destination gets: mostly one, some up to 20.
fn group_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=59 => 1,
        60..=84 => rng.range(2, 5),
        _ => rng.range(6, 20),
    }
}

/// A policy of `n_hosts` hosts, deterministic from `seed`.
pub fn model(n_hosts: usize, seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    let mut dests = Vec::new();
    let mut made = 0;
    while made < n_hosts {
        let k = group_size(&mut rng).min(n_hosts - made);
        let proto = if rng.chance(15) {
            Proto::Tls
        } else {
            Proto::Http
        };
        let hosts = (made..made + k)
            .map(|i| {
                let name = host_name(&mut rng, i);
                match rng.below(100) {
                    0..=84 => HostPat::Exact(name),
                    85..=94 => HostPat::One(name),
                    _ => HostPat::Any(name),
                }
            })
            .collect();
        made += k;
        let rules = match proto {
            Proto::Tls if rng.chance(70) => Vec::new(),
            Proto::Tls => vec![Rule {
                allow: true,
                methods: Vec::new(),
                paths: Vec::new(),
                from: vec![source(&mut rng)],
            }],
            Proto::Http => {
                // About five rules per host over the whole policy: http
                // destinations carry the rules tls ones do not.
                let n = rng.range(5, 16 * k.min(4) + 2);
                let mut rules: Vec<Rule> = (0..n).map(|_| allow_rule(&mut rng)).collect();
                if rng.chance(20) {
                    rules.push(deny_rule(&mut rng));
                }
                rules
            }
        };
        let port = match proto {
            Proto::Tls => 443,
            Proto::Http => 80,
        };
        dests.push(Dest {
            hosts,
            port,
            proto,
            rules,
        });
    }
    Model { dests }
}

/// The text of a policy of `n_hosts` hosts (see [`model`]).
pub fn policy(n_hosts: usize, seed: u64) -> String {
    model(n_hosts, seed).text()
}

/// What part of the decision a sampled request exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Case {
    /// An exact host, an exact or prefix path rule.
    Exact,
    /// A host matched by a `*.` or `**.` wildcard.
    Wildcard,
    /// A path template rule (`{*}`, `{**}`).
    Template,
    /// A regex path rule.
    Regex,
    /// A known host, a path or method no rule allows (or a deny rule).
    Denied,
    /// A host no destination lists.
    Miss,
}

impl Case {
    /// Every case, in report order.
    pub const ALL: [Self; 6] = [
        Self::Exact,
        Self::Wildcard,
        Self::Template,
        Self::Regex,
        Self::Denied,
        Self::Miss,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Wildcard => "wildcard",
            Self::Template => "template",
            Self::Regex => "regex",
            Self::Denied => "denied",
            Self::Miss => "miss",
        }
    }
}

/// A sampled HTTP request (port 80).
#[derive(Debug, Clone)]
pub struct Sample {
    /// What it exercises.
    pub case: Case,
    /// The method.
    pub method: &'static str,
    /// The host (normalised).
    pub host: String,
    /// The path (with a query sometimes).
    pub path: String,
    /// The peer principal, if any.
    pub principal: Option<String>,
}

/// A path that `p` matches.
fn path_for(rng: &mut Rng, p: &PathPat) -> String {
    let seg = || format!("{:x}", 0x1000 + (p.text().len() * 7919) % 0xefff);
    match p {
        PathPat::Exact(x) => x.clone(),
        PathPat::Prefix(x) => format!("{x}{}/{}", seg(), rng.pick(&WORDS)),
        PathPat::Template(t) => {
            let mut out = t.replace("{*}", &format!("p{}", rng.below(1000)));
            let deep = format!("{}/{}.json", rng.pick(&WORDS), rng.below(100));
            out = out.replace("{**}", &deep);
            out
        }
        PathPat::Regex(r) => regex_example(rng, r),
    }
}

/// A path matching one of [`REGEXES`].
fn regex_example(rng: &mut Rng, r: &str) -> String {
    let n = rng.below(100_000);
    match REGEXES.iter().position(|x| *x == r) {
        Some(0) => format!("/v2/team-{n}/manifests/v1.{n}"),
        Some(1) => format!("/v2/team-{n}/blobs/sha256:{n:08x}"),
        Some(2) => format!("/api/v2/items/{n}"),
        Some(3) => format!("/daily/2026-{:02}-{:02}/report", n % 12 + 1, n % 28 + 1),
        Some(4) => format!("/objects/{n:08x}/thumb"),
        _ => format!(
            "/releases/download/v1.{}.{}/tool-linux.tar.gz",
            n % 10,
            n % 7
        ),
    }
}

/// A principal that `s` admits.
fn principal_for(s: &Source) -> String {
    match s {
        Source::Principal(p) => p.clone(),
        Source::Namespace(ns) => format!("cluster.local/ns/{ns}/sa/runner"),
    }
}

/// A host that `h` matches.
fn host_for(rng: &mut Rng, h: &HostPat) -> String {
    match h {
        HostPat::Exact(x) => x.clone(),
        HostPat::One(s) => format!("{}.{s}", rng.pick(&REGIONS)),
        HostPat::Any(s) => format!("{}.{}.{s}", rng.pick(&WORDS), rng.pick(&REGIONS)),
    }
}

impl Model {
    /// The number of hosts.
    pub fn host_count(&self) -> usize {
        self.dests.iter().map(|d| d.hosts.len()).sum()
    }

    /// The number of rules as the table counts them (a destination without
    /// a block is one rule).
    pub fn rule_count(&self) -> usize {
        self.dests.iter().map(|d| d.rules.len().max(1)).sum()
    }

    /// The policy text.
    pub fn text(&self) -> String {
        let mut p = String::with_capacity(self.dests.len() * 400);
        let _ = writeln!(
            p,
            "# generated by egress_tests::generate\npolicy {POLICY:?} {{"
        );
        p.push_str("  mode enforce\n  default deny\n  log denied\n");
        for d in &self.dests {
            let hosts: Vec<String> = d.hosts.iter().map(|h| format!("{:?}", h.text())).collect();
            let proto = match d.proto {
                Proto::Http => "http",
                Proto::Tls => "tls",
            };
            let _ = write!(
                p,
                "  destination {} port {} {proto}",
                hosts.join(", "),
                d.port
            );
            if d.rules.is_empty() {
                p.push('\n');
                continue;
            }
            p.push_str(" {\n");
            for r in &d.rules {
                p.push_str(if r.allow { "    allow" } else { "    deny" });
                if r.methods.is_empty() {
                    if d.proto == Proto::Http {
                        p.push_str(" any");
                    }
                } else {
                    let _ = write!(p, " {}", r.methods.join(", "));
                }
                if !r.paths.is_empty() {
                    let paths: Vec<String> = r.paths.iter().map(PathPat::text).collect();
                    let _ = write!(p, " path {}", paths.join(", "));
                }
                if !r.from.is_empty() {
                    let from: Vec<String> = r
                        .from
                        .iter()
                        .map(|s| match s {
                            Source::Principal(x) => format!("principal {x:?}"),
                            Source::Namespace(x) => format!("namespace {x:?}"),
                        })
                        .collect();
                    let _ = write!(p, " from {}", from.join(", "));
                }
                p.push('\n');
            }
            p.push_str("  }\n");
        }
        p.push_str("}\n");
        p
    }

    /// `n` requests, deterministic from `seed`, in a realistic mix: about
    /// 30% exact-host hits on exact and prefix rules, 20% template hits,
    /// 10% regex hits, 15% wildcard-host hits, 10% denied (a known host,
    /// a path no rule allows, or a deny rule), 15% unknown hosts.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<Sample> {
        let mut rng = Rng::new(seed ^ 0x05EE_D5A3_B1E5);
        let http: Vec<&Dest> = self
            .dests
            .iter()
            .filter(|d| d.proto == Proto::Http)
            .collect();
        let mut out = Vec::with_capacity(n);
        let mut tries = 0;
        while out.len() < n && tries < n * 50 {
            tries += 1;
            let want = match rng.below(100) {
                0..=29 => Case::Exact,
                30..=49 => Case::Template,
                50..=59 => Case::Regex,
                60..=74 => Case::Wildcard,
                75..=84 => Case::Denied,
                _ => Case::Miss,
            };
            if let Some(s) = self.draw(&mut rng, &http, want) {
                out.push(s);
            }
        }
        out
    }

    fn draw(&self, rng: &mut Rng, http: &[&Dest], want: Case) -> Option<Sample> {
        if want == Case::Miss || http.is_empty() {
            let host = format!(
                "{}{}.unlisted-{}.example",
                rng.pick(&WORDS),
                rng.below(1_000_000),
                rng.below(50)
            );
            return Some(Sample {
                case: Case::Miss,
                method: "GET",
                host,
                path: format!("/{}/x", rng.pick(&WORDS)),
                principal: None,
            });
        }
        let d = *rng.pick(http);
        let h = rng.pick(&d.hosts);
        let wildcard = !matches!(h, HostPat::Exact(_));
        if wildcard != (want == Case::Wildcard) && want != Case::Denied {
            return None;
        }
        let host = host_for(rng, h);
        if want == Case::Denied {
            let method = if rng.chance(30) { "DELETE" } else { "PATCH" };
            return Some(Sample {
                case: Case::Denied,
                method,
                host,
                path: format!("/admin/{}", rng.pick(&WORDS)),
                principal: None,
            });
        }
        let allows: Vec<&Rule> = d.rules.iter().filter(|r| r.allow).collect();
        let r = *rng.pick(&allows);
        let p = rng.pick(&r.paths);
        let kind = match p {
            PathPat::Exact(_) | PathPat::Prefix(_) => Case::Exact,
            PathPat::Template(_) => Case::Template,
            PathPat::Regex(_) => Case::Regex,
        };
        if !wildcard && kind != want {
            return None;
        }
        let mut path = path_for(rng, p);
        if rng.chance(10) {
            path.push_str("?page=2&limit=50");
        }
        let method = if r.methods.is_empty() {
            "GET"
        } else {
            *rng.pick(&r.methods)
        };
        let principal = if r.from.is_empty() {
            rng.chance(50)
                .then(|| format!("cluster.local/ns/{}/sa/app", rng.pick(&NAMESPACES)))
        } else {
            Some(principal_for(rng.pick(&r.from)))
        };
        Some(Sample {
            case: want,
            method,
            host,
            path,
            principal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        let a = policy(300, 7);
        assert_eq!(a, policy(300, 7));
        assert_ne!(a, policy(300, 8));
        assert_eq!(model(300, 7).host_count(), 300);
    }

    #[test]
    fn wildcards_say_their_depth() {
        let one = HostPat::One("x.example".into());
        let any = HostPat::Any("x.example".into());
        assert!(one.matches("a.x.example") && !one.matches("a.b.x.example"));
        assert!(!one.matches("x.example") && !one.matches("ax.example"));
        assert!(any.matches("a.b.x.example") && !any.matches("x.example"));
    }
}
