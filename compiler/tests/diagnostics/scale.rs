//! Large policies: the overlap lints (W0401–W0404) and lowering must stay
//! near linear in the number of hosts and rules (issue 12). These tests
//! have no timing assertion, but with the pairwise comparisons back they
//! take some 45 s in a debug build instead of 2 s.

use egressc::{Diagnostic, Sources};

const N: usize = 20_000;

fn sources(text: String) -> Sources {
    let mut s = Sources::new();
    s.add("scale.egress", &text);
    s
}

fn count(diags: &[Diagnostic], code: &str) -> usize {
    diags.iter().filter(|d| d.code == code).count()
}

/// N exact hosts in one destination, two of them listed twice, and a
/// wildcard in another destination over a tenth of them.
#[test]
fn many_hosts_in_one_destination() {
    let mut hosts: Vec<String> = (0..N)
        .map(|i| format!("\"h{i}.d{}.example.com\"", i % 10))
        .collect();
    hosts.push("\"h7.d7.example.com\"".into());
    hosts.push("\"h8.d8.example.com\"".into());
    let text = format!(
        "policy \"scale\" {{\n  default deny\n  destination\n    {}\n    port 443 tls\n  destination \"*.d3.example.com\" port 443 tls\n}}\n",
        hosts.join(",\n    ")
    );
    let outcome = egressc::compile(&sources(text));
    let diags = &outcome.diagnostics;
    assert!(!outcome.has_errors(), "{diags:?}");
    assert_eq!(count(diags, "W0403"), 2);
    // One warning listing every swallowed host of the file.
    assert_eq!(count(diags, "W0404"), 1);
    let w = diags.iter().find(|d| d.code == "W0404").unwrap();
    assert_eq!(w.labels.len(), N / 10);
    let spec = outcome.compiled.unwrap().spec;
    let dest = &spec.policies[0].destinations[0];
    assert_eq!(dest.targets.len(), N);
}

/// N destinations of one rule each, the last host repeated.
#[test]
fn many_destinations() {
    let mut text = String::from("policy \"scale\" {\n  default deny\n");
    for i in 0..N {
        text.push_str(&format!(
            "  destination \"h{i}.svc-{}.example.com\" port 443 http {{ allow GET path prefix \"/api/\" }}\n",
            i % 97
        ));
    }
    text.push_str(&format!(
        "  destination \"h{}.svc-{}.example.com\" port 443 http\n}}\n",
        N - 1,
        (N - 1) % 97
    ));
    let (checked, diags) = egressc::check(&sources(text));
    assert!(!diags.iter().any(Diagnostic::is_error), "{diags:?}");
    assert_eq!(checked.policies[0].dests.len(), N + 1);
    assert_eq!(count(&diags, "W0403"), 1);
}

/// N rules in one destination, every hundredth a copy of the rule before
/// it (W0401), and one deny that kills the allows of one namespace
/// (W0402).
#[test]
fn many_rules_in_one_destination() {
    let methods = ["GET", "POST", "PUT", "GET, POST", "any"];
    let mut rules = Vec::new();
    for i in 0..N {
        let m = methods[i % methods.len()];
        let rule = match i % 4 {
            0 => format!(
                "allow {m} path \"/v{}/e{i}\" from namespace \"ns{i}\"",
                i % 13
            ),
            1 => format!(
                "allow {m} path prefix \"/v{}/p{i}/\" from principal \"cluster.local/ns/ns{}/sa/sa{i}\"",
                i % 13,
                i % 50
            ),
            2 => format!("allow {m} from serviceaccount \"ns{}/sa{i}\"", i % 50),
            _ => format!(
                "allow {m} path \"/v{}/x{i}\" when header \"x-t\" == \"{i}\"",
                i % 13
            ),
        };
        if i % 100 == 99 {
            let prev: &String = rules.last().unwrap();
            rules.push(prev.clone());
        } else {
            rules.push(rule);
        }
    }
    rules.push("deny any from namespace \"ns7\"".into());
    let text = format!(
        "policy \"scale\" {{\n  default deny\n  destination \"api.example.com\" port 443 http {{\n    {}\n  }}\n}}\n",
        rules.join("\n    ")
    );
    let (_, diags) = egressc::check(&sources(text));
    assert!(!diags.iter().any(Diagnostic::is_error), "{diags:?}");
    assert_eq!(count(&diags, "W0401"), N / 100);
    // The allows from principals and service accounts in ns7.
    let killed = (0..N)
        .filter(|i| matches!(i % 4, 1 | 2) && i % 50 == 7)
        .count();
    assert_eq!(count(&diags, "W0402"), killed);
}
