//! Stage 5, emitting: a table spec to the artifacts `egressc compile`
//! writes — the binary table, the JSON for WasmPlugin `pluginConfig`, or a
//! readable dump.

use egress_table::plugin_config::{self, Layer};
use egress_table::spec::TableSpec;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The binary table.
    Table,
    /// `{"table": "<base64>", ...}` for `pluginConfig`.
    PluginConfig(Layer),
    /// A readable dump (decoded back from the binary, so it shows what the filter will see).
    Dump,
}

/// Why emitting failed (an internal error: checking should have caught it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitError(pub String);

/// Encodes `spec` in `format`.
pub fn emit(spec: &TableSpec, format: Format) -> Result<Vec<u8>, EmitError> {
    emit_with(spec, format, &plugin_config::Options::default())
}

/// [`emit`], with the filter's settings for the proxy written into a
/// plugin configuration (`max_path_bytes`, `max_header_bytes`,
/// `authority_header`; the table and
/// the dump do not hold them).
pub fn emit_with(
    spec: &TableSpec,
    format: Format,
    options: &plugin_config::Options,
) -> Result<Vec<u8>, EmitError> {
    let table = egress_table::format::encode(spec).map_err(|e| EmitError(e.0))?;
    Ok(match format {
        Format::Table => table,
        Format::PluginConfig(layer) => {
            let mut json = plugin_config::encode_with(&table, layer, options).into_bytes();
            json.push(b'\n');
            json
        }
        Format::Dump => {
            let decoded =
                egress_table::Table::from_bytes(&table).map_err(|e| EmitError(e.to_string()))?;
            let mut out = format!(
                "# egress table format {}.{}, {} bytes, checksum crc32c:{:08x}\n",
                decoded.version().0,
                decoded.version().1,
                table.len(),
                decoded.checksum()
            );
            out.push_str(&decoded.to_spec().dump());
            out.into_bytes()
        }
    })
}
