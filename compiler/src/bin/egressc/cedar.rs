//! `egressc cedar`: the Cedar export, strictly validated, written as one
//! directory (policies.cedar, schema.cedarschema, and audit.cedar and
//! entities.json when there is something to put in them).

use std::path::{Path, PathBuf};

use egressc::cedar;

use crate::DiagArgs;
use crate::subcommands::report;
use crate::ui::{self, fail_as};

/// Compiles `paths` together, exports them to Cedar, validates the export
/// with Cedar's strict validator and writes it to `output`. On any error
/// nothing is written.
pub fn cedar(paths: &[PathBuf], output: &Path, diag: &DiagArgs) -> u8 {
    let (sources, compiled) = match super::subcommands::load_and_compile(paths, diag) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let export = match cedar::export(&compiled, &sources) {
        Ok(e) => e,
        Err(diags) => {
            report(&diags, &sources, diag.format, diag.deny_warnings);
            return 1;
        }
    };
    if let Err(e) = cedar::oracle::validate(&export) {
        fail_as(
            diag.format,
            &format!(
                "the Cedar export does not validate, so nothing was written:\n{e}\n\
                 This is a bug in egressc's exporter (every policy that compiles should export): \
                 please report it with the policy files."
            ),
        );
        return 1;
    }
    match write_dir(output, &export.files()) {
        Ok(()) if ui::get().quiet => 0,
        Ok(()) => {
            let names: Vec<&str> = export.files().iter().map(|(n, _)| *n).collect();
            eprintln!(
                "egressc: wrote {} to {} (valid under Cedar's strict validation)",
                names.join(", "),
                output.display()
            );
            0
        }
        Err(e) => fail_as(diag.format, &e),
    }
}

/// Whether `dir` may be replaced: it is missing, empty, or an earlier export
/// (it has `policies.cedar` and `schema.cedarschema`).
fn replaceable(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    let empty = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    let export = dir.join("policies.cedar").is_file() && dir.join("schema.cedarschema").is_file();
    if dir.is_dir() && (empty || export) {
        Ok(())
    } else {
        Err(format!(
            "{} exists and is not a Cedar export (no policies.cedar and schema.cedarschema): \
             choose a new or empty directory",
            dir.display()
        ))
    }
}

/// Writes the files into a fresh sibling directory, then renames it into
/// place (an earlier export is moved aside first and removed after), so the
/// output is never a mix of two exports or a partial one.
fn write_dir(dir: &Path, files: &[(&str, &str)]) -> Result<(), String> {
    replaceable(dir)?;
    let files: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(name, text)| ((*name).to_owned(), text.as_bytes().to_vec()))
        .collect();
    super::files::write_dir_atomic(dir, &files)
}
