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
//! The library does no file-system or process I/O: callers hand it
//! [`Sources`] and get bytes and [`Diagnostic`]s back. The command line
//! (`src/bin/egressc`) does the I/O; a browser playground or a fuzzer can
//! drive [`compile`] directly.

pub mod ast;
pub mod check;
pub mod diag;
pub mod emit;
pub mod explain;
pub mod fmt;
pub mod lex;
pub mod lint;
pub mod lower;
pub mod parse;
#[cfg(feature = "host")]
pub mod run;
pub mod sim;
pub mod source;

pub use diag::{Diagnostic, Severity};
pub use source::{FileId, Sources, Span};

use egress_table::spec::TableSpec;

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
        let lexed = lex::lex(id, &f.text);
        diags.extend(lexed.errors.iter().cloned());
        let (file, errs) = parse::parse(&lexed);
        diags.extend(errs);
        files.push(file);
    }
    (files, diags)
}

/// Runs stages 1–3 (no DFA building): what `egressc check` needs.
pub fn check(sources: &Sources) -> (check::Checked, Vec<Diagnostic>) {
    let (files, mut diags) = parse_all(sources);
    let checked = check::check(&files, &mut diags);
    lint::lint(&checked, &mut diags);
    diag::sort(&mut diags);
    (checked, diags)
}

/// Runs every stage up to the table spec.
pub fn compile(sources: &Sources) -> Outcome {
    let (checked, mut diagnostics) = check(sources);
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
