//! The subcommands that ship policies to a mesh: `istio`, `posture`,
//! `package` and `version`. The library writes the bytes; this module reads
//! the inputs and writes the outputs (atomically).

use std::path::{Path, PathBuf};

use egressc::istio::{self, Api, Attach};
use egressc::{oci, posture};

use crate::files;
use crate::run::{self, EMBEDDED, EMBEDDED_FROM};
use crate::subcommands::report;
use crate::ui::{self, fail, fail_as};
use crate::{AttachArg, DiagArgs, IstioApiArg, PostureArg, PostureFormatArg};

/// `egressc version`.
pub fn version() -> u8 {
    let (major, minor) = (
        egress_table::format::VERSION_MAJOR,
        egress_table::format::VERSION_MINOR,
    );
    println!("egressc {}", env!("CARGO_PKG_VERSION"));
    println!(
        "table format {major}.{minor} (reads {major}.0 to {major}.{minor}; writes {major}.0 unless a policy needs {major}.{minor}'s negations)"
    );
    println!(
        "filter module sha256:{} ({} bytes, wasm32-wasip1 release build; source: {EMBEDDED_FROM})",
        oci::sha256_hex(EMBEDDED),
        EMBEDDED.len()
    );
    0
}

/// Arguments of `egressc istio`.
#[derive(Debug, clap::Args)]
pub struct IstioArgs {
    /// Policy files (or directories of *.egress files), compiled together into one table.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Where proxies fetch the filter: oci://REGISTRY/NAME:TAG (see `egressc package`), https://…/egress_filter.wasm or file:///PATH [default: a placeholder oci:// URL].
    #[arg(long)]
    pub wasm_url: Option<String>,
    /// Where the filter runs.
    #[arg(long, value_enum, default_value = "waypoint")]
    pub attach: AttachArg,
    /// Namespace of the resources [default: istio-egress for a waypoint, istio-system for the egress gateway, default for sidecars].
    #[arg(long)]
    pub namespace: Option<String>,
    /// The resource that carries the filter.
    #[arg(long, value_enum, default_value = "wasmplugin")]
    pub api: IstioApiArg,
    /// Output file (`-` for standard output).
    #[arg(short, long, default_value = "-")]
    pub output: PathBuf,
    /// The filter module whose digests the bundle names [default: $EGRESS_FILTER_WASM, else the module built into egressc].
    #[arg(long)]
    pub wasm: Option<PathBuf>,
    /// The longest path (query excluded) the filter decides on; a longer one is denied as path-too-long [default: 4096] (pluginConfig max_path_bytes).
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(egress_table::plugin_config::MAX_PATH_BYTES_LIMIT)))]
    pub max_path_bytes: Option<u32>,
    /// The most bytes of one header (all its occurrences) a header value condition reads; a longer header takes the answer that denies [default: 8192] (pluginConfig max_header_bytes).
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(egress_table::plugin_config::MAX_PATH_BYTES_LIMIT)))]
    pub max_header_bytes: Option<u32>,
    #[command(flatten)]
    pub diag: DiagArgs,
}

/// `egressc istio`.
pub fn istio(args: &IstioArgs) -> u8 {
    let attach = match args.attach {
        AttachArg::Waypoint => Attach::Waypoint,
        AttachArg::EgressGateway => Attach::EgressGateway,
        AttachArg::Sidecar => Attach::Sidecar,
    };
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| attach.default_namespace().to_owned());
    if let Err(e) = istio::check_namespace(&namespace) {
        return fail_as(args.diag.format, &format!("--namespace {e}"));
    }
    let url = args.wasm_url.clone().unwrap_or_else(oci::placeholder_url);
    if let Err(e) = oci::check_url(&url) {
        return fail_as(args.diag.format, &format!("--wasm-url {e}"));
    }
    let module = match run::module(args.wasm.as_deref()) {
        Ok(m) => m,
        Err(e) => return fail_as(args.diag.format, &e),
    };
    let sources = match files::load(&args.files) {
        Ok(s) => s,
        Err(e) => return fail_as(args.diag.format, &e),
    };
    let outcome = egressc::compile_with(
        &sources,
        &egressc::Options {
            allow_empty: args.diag.allow_empty,
        },
    );
    let Some(compiled) = outcome.compiled.as_ref().filter(|_| !outcome.has_errors()) else {
        report(&outcome.diagnostics, &sources, args.diag.format, false);
        return 1;
    };
    let module_sha = oci::sha256_hex(&module.bytes);
    let sha = match oci::url_sha256(&url, &module.bytes) {
        Ok(s) => s,
        Err(e) => return fail_as(args.diag.format, &format!("--wasm-url {e}")),
    };
    let filter = run::FilterArgs {
        max_path_bytes: args.max_path_bytes,
        max_header_bytes: args.max_header_bytes,
        authority_header: None,
    };
    let filter = match filter.options() {
        Ok(o) => o,
        Err(e) => return fail_as(args.diag.format, &e),
    };
    let opts = istio::Options {
        filter,
        attach,
        namespace,
        api: match args.api {
            IstioApiArg::Wasmplugin => Api::WasmPlugin,
            IstioApiArg::Trafficextension => Api::TrafficExtension,
        },
        wasm_url: url.clone(),
        url_sha256: Some(sha),
        module_sha256: module_sha,
        generator: format!("egressc {}", egressc::VERSION),
    };
    let bundle = match istio::bundle(compiled, &sources, &opts) {
        Ok(b) => b,
        Err(e) => return fail_as(args.diag.format, &e),
    };
    let mut diags = outcome.diagnostics.clone();
    diags.extend(bundle.diagnostics.iter().cloned());
    egressc::diag::sort(&mut diags);
    if report(&diags, &sources, args.diag.format, args.diag.deny_warnings) {
        return 1;
    }
    if args.wasm_url.is_none() && !ui::get().quiet {
        eprintln!(
            "egressc: note: no --wasm-url: the bundle names the placeholder {url}; push the image `egressc package` writes and pass its URL"
        );
    }
    if let Err(e) = files::write_atomic(&args.output, bundle.yaml.as_bytes()) {
        return fail_as(args.diag.format, &e);
    }
    0
}

/// `egressc posture`.
pub fn posture(which: PostureArg, format: PostureFormatArg, output: &Path) -> u8 {
    let p = match which {
        PostureArg::Restricted => posture::Posture::Restricted,
        PostureArg::Allowed => posture::Posture::Allowed,
    };
    let f = match format {
        PostureFormatArg::Istioctl => posture::Format::Istioctl,
        PostureFormatArg::Helm => posture::Format::Helm,
        PostureFormatArg::Configmap => posture::Format::ConfigMap,
    };
    let text = posture::render(p, f);
    if let Err(e) = files::write_atomic(output, text.as_bytes()) {
        return fail(&e);
    }
    if output.as_os_str() != "-" && !ui::get().quiet {
        eprintln!(
            "egressc: wrote the {} posture ({}) to {}: {}",
            p.as_str(),
            p.mode(),
            output.display(),
            p.explain()
        );
    }
    0
}

/// `egressc package`.
pub fn package(wasm: Option<&Path>, output: &Path, tag: &str) -> u8 {
    let module = match run::module(wasm) {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    if tag.is_empty()
        || tag.len() > 128
        || !tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        || tag.starts_with(['.', '-'])
    {
        return fail(&format!(
            "--tag {tag:?}: an OCI tag is 1–128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
        ));
    }
    let layout = match oci::image(&module.bytes, tag) {
        Ok(l) => l,
        Err(e) => return fail(&format!("{}: {e}", module.origin)),
    };
    let is_tar = output.extension().is_some_and(|e| e == "tar");
    let written = if is_tar {
        oci::layout_tar(&layout).and_then(|t| files::write_atomic(output, &t))
    } else if output.as_os_str() == "-" {
        Err("-o -: an image layout is a directory or a .tar file".to_owned())
    } else {
        write_layout_dir(output, &layout)
    };
    if let Err(e) = written {
        return fail(&e);
    }
    let reference = format!("{}:{tag}", output.display());
    println!(
        "wrote the OCI image layout of the filter ({}) to {}",
        module.origin,
        output.display()
    );
    println!(
        "  module   sha256:{} ({} bytes)",
        oci::sha256_hex(&module.bytes),
        module.bytes.len()
    );
    println!(
        "  layer    {} ({})",
        layout.layer_digest,
        oci::LAYER_MEDIA_TYPE
    );
    println!("  manifest {} (tag {tag})", layout.manifest_digest);
    println!("push it with one of:");
    println!("  oras cp --from-oci-layout {reference} REGISTRY/egress-filter:{tag}");
    if is_tar {
        println!(
            "  skopeo copy --preserve-digests oci-archive:{reference} docker://REGISTRY/egress-filter:{tag}"
        );
    } else {
        println!(
            "  crane push {} REGISTRY/egress-filter:{tag}",
            output.display()
        );
        println!(
            "  skopeo copy --preserve-digests oci:{reference} docker://REGISTRY/egress-filter:{tag}"
        );
    }
    println!(
        "then: egressc istio POLICY… --wasm-url oci://REGISTRY/egress-filter:{tag} (its sha256 is the manifest digest above)"
    );
    0
}

/// Writes a layout directory: into a fresh sibling directory first, then
/// renamed into place. An existing directory is replaced only if it is an
/// image layout already (it has `oci-layout`) or empty.
fn write_layout_dir(dir: &Path, layout: &oci::Layout) -> Result<(), String> {
    if dir.exists() {
        let is_layout = dir.join("oci-layout").is_file();
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !dir.is_dir() || !(is_layout || empty) {
            return Err(format!(
                "{} exists and is not an OCI image layout: choose a new directory (or FILE.tar)",
                dir.display()
            ));
        }
    }
    files::write_dir_atomic(dir, &layout.files)
}
