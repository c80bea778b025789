//! `egressc`: the egress policy compiler.
//!
//! A policy file goes through five stages, each a module with its own error
//! codes:
//!
//! 1. [`lex`] — text to tokens (E01xx);
//! 2. [`parse`] — tokens to a syntax tree, [`ast`] (E02xx);
//! 3. [`check`] — the tree to a validated, normalised [`check::Checked`]
//!    set (E03xx), plus warnings from [`lint`] (W04xx);
//! 4. [`lower`] — to an `egress_table` spec, compiling path patterns to DFAs;
//! 5. [`emit`] — to the binary table, `pluginConfig` JSON, or a dump.
//!
//! From traffic to policy and back: [`audit_log`] reads the filter's audit
//! lines; [`learn`] turns them into a policy that allows what was seen, with
//! its generalisations commented and a test block; [`report`] summarises
//! them (and re-decides them under a policy set); and [`diff`] compares two
//! compiled policy sets: the destinations and rules added, removed or
//! changed, each with requests whose decision it flips.
//!
//! [`testrun`] decides a policy's own `test` blocks natively (the
//! playground's view; the command line runs them through the `.wasm`).
//!
//! [`cedar`] exports a policy set to Cedar (policies, schema, entities)
//! and, with the `cedar` feature, validates it and runs Cedar's authorizer.
//!
//! For the mesh: [`istio`] writes the Istio resources (W05xx warnings),
//! [`posture`] the mesh-wide outbound setting, and [`oci`] (feature `oci`)
//! the filter's OCI image; [`yaml`] is the YAML writer they share.
//!
//! The library does no file-system or process I/O: callers hand it
//! [`Sources`] and get bytes and [`Diagnostic`]s back. The command line
//! (`src/bin/egressc`) does the I/O; a browser playground or a fuzzer can
//! drive [`compile`] directly.

pub mod ast;
pub mod audit_log;
pub mod cedar;
pub mod check;
pub mod diag;
pub mod diff;
pub mod emit;
pub mod explain;
pub mod fmt;
mod hash;
pub mod import;
pub mod istio;
pub mod learn;
pub mod lex;
pub mod lint;
pub mod lower;
#[cfg(feature = "oci")]
pub mod oci;
pub mod parse;
pub mod posture;
pub mod report;
#[cfg(feature = "host")]
pub mod run;
pub mod service;
pub mod sim;
pub mod source;
pub mod testrun;
pub mod textdiff;
pub mod yaml;

pub use diag::{Diagnostic, Severity};
pub use lint::outside_table;
pub use source::{FileId, Sources, Span};

use egress_table::spec::TableSpec;

/// The compiler's version (`egressc --version`, and the generator named in
/// what it writes).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The result of compiling a set of files.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The checked policies (what the tests and the Istio emitter read).
    pub checked: check::Checked,
    /// The table spec.
    pub spec: TableSpec,
}

/// Everything a compilation produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The compiled policies, if there was no error.
    pub compiled: Option<Compiled>,
    /// Errors and warnings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses every file (stages 1–2), returning the trees and diagnostics.
pub fn parse_all(sources: &Sources) -> (Vec<ast::File>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diags = Vec::new();
    for (id, f) in sources.iter() {
        // The parser pulls the tokens one at a time: no list of them.
        let mut lexer = lex::Lexer::new(id, &f.text);
        let (file, errs) = parse::parse_tokens(&mut lexer);
        let (lex_errors, _) = lexer.finish();
        diags.extend(lex_errors);
        diags.extend(errs);
        files.push(file);
    }
    (files, diags)
}

/// Choices a caller makes about a compilation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Accept a set of files that holds no policy at all. Such a table
    /// enforces nothing (every request passes), so by default it is an
    /// error (E0360): an empty or comment-only file set must not become a
    /// fail-open firewall by accident.
    pub allow_empty: bool,
}

/// Runs stages 1–3 (no DFA building): what `egressc check` needs.
pub fn check(sources: &Sources) -> (check::Checked, Vec<Diagnostic>) {
    check_with(sources, &Options::default())
}

/// [`check`] with options.
pub fn check_with(sources: &Sources, options: &Options) -> (check::Checked, Vec<Diagnostic>) {
    let (files, mut diags) = parse_all(sources);
    let checked = check::check(&files, &mut diags);
    if checked.policies.is_empty()
        && !options.allow_empty
        && !diags.iter().any(Diagnostic::is_error)
        && let Some((file, _)) = sources.iter().next()
    {
        let names: Vec<String> = sources.iter().map(|(_, f)| f.name.clone()).collect();
        diags.push(
            Diagnostic::error("E0360", Span::new(file, 0, 0), "no policy to compile")
                .label(format!("{} hold{} no `policy` block", names.join(", "), if names.len() == 1 { "s" } else { "" }))
                .note("a table without policies enforces nothing: every request would pass")
                .help("write a policy, e.g. policy \"egress\" { default deny  destination \"example.com\" port 443 tls }; to build a pass-through table on purpose, pass --allow-empty"),
        );
    }
    lint::lint(&checked, &mut diags);
    diag::sort(&mut diags);
    (checked, diags)
}

/// Runs every stage up to the table spec.
pub fn compile(sources: &Sources) -> Outcome {
    compile_with(sources, &Options::default())
}

/// [`compile`] with options.
pub fn compile_with(sources: &Sources, options: &Options) -> Outcome {
    let (checked, mut diagnostics) = check_with(sources, options);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Outcome {
            compiled: None,
            diagnostics,
        };
    }
    match lower::lower(&checked, sources) {
        Ok(spec) => Outcome {
            compiled: Some(Compiled { checked, spec }),
            diagnostics,
        },
        Err(errs) => {
            diagnostics.extend(errs);
            diag::sort(&mut diagnostics);
            Outcome {
                compiled: None,
                diagnostics,
            }
        }
    }
}

/// Compiles one policy text (a convenience for tests and the playground).
pub fn compile_str(name: &str, text: &str) -> (Sources, Outcome) {
    let mut sources = Sources::new();
    sources.add(name, text);
    let outcome = compile(&sources);
    (sources, outcome)
}
