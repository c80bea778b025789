//! `egressc import istio`: reads the YAML files, converts them with
//! [`egressc::import`], checks that the result compiles, and writes it
//! (standard output by default, else atomically).

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use egressc::Sources;
use egressc::import::{self, Input, Posture};

use crate::files;
use crate::subcommands::report;
use crate::ui::{Format, fail_as};

/// What to import.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Istio ServiceEntry, AuthorizationPolicy, Sidecar and Kubernetes Service/Endpoints YAML to one policy (docs/istio.md#importing-existing-istio-yaml).
    Istio {
        /// YAML files (several documents each).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The mesh's outbound posture: restricted (REGISTRY_ONLY: hosts without a ServiceEntry are denied) or allowed (ALLOW_ANY).
        #[arg(long, value_enum, default_value = "restricted")]
        posture: ImportPosture,
        /// Where to write the policy ("-": standard output).
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
        /// Treat warnings (what could not be imported exactly) as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// human: diagnostics on standard error; json: one object per diagnostic on standard output.
        #[arg(long, value_parser = crate::ui::parse_format, default_value = "human", value_name = "human|json")]
        format: Format,
    },
}

/// `--posture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportPosture {
    /// REGISTRY_ONLY.
    Restricted,
    /// ALLOW_ANY.
    Allowed,
}

/// Runs an import subcommand.
pub fn run(cmd: ImportCommand) -> u8 {
    match cmd {
        ImportCommand::Istio {
            files,
            posture,
            output,
            deny_warnings,
            format,
        } => istio(&files, posture, &output, deny_warnings, format),
    }
}

fn istio(
    paths: &[PathBuf],
    posture: ImportPosture,
    output: &Path,
    deny_warnings: bool,
    format: Format,
) -> u8 {
    let mut sources = Sources::new();
    let mut texts = Vec::new();
    for p in paths {
        match files::read(p) {
            Ok(t) => texts.push((p.display().to_string(), t)),
            Err(e) => return fail_as(format, &e),
        }
    }
    let ids: Vec<_> = texts
        .iter()
        .map(|(n, t)| sources.add(n.clone(), t.clone()))
        .collect();
    let inputs: Vec<Input<'_>> = texts
        .iter()
        .zip(&ids)
        .map(|((name, text), file)| Input {
            file: *file,
            name,
            text,
        })
        .collect();
    let posture = match posture {
        ImportPosture::Restricted => Posture::Restricted,
        ImportPosture::Allowed => Posture::Allowed,
    };
    let imported = import::istio(&inputs, posture);
    if report(&imported.diagnostics, &sources, format, deny_warnings) {
        return 1;
    }
    let Some(policy) = imported.policy else {
        return 1;
    };
    // What is written must compile: refuse (and write nothing) otherwise.
    let (check_sources, outcome) = egressc::compile_str("imported.egress", &policy);
    if outcome.has_errors() {
        fail_as(
            format,
            "the imported policy does not compile (a bug in egressc import; please report it with the YAML):",
        );
        report(&outcome.diagnostics, &check_sources, format, false);
        return 1;
    }
    match files::write_atomic(output, policy.as_bytes()) {
        Ok(()) => 0,
        Err(e) => fail_as(format, &e),
    }
}
