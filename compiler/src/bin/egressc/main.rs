//! `egressc`: the egress policy compiler's command line. All file and process
//! I/O lives here; the library does none. Each subcommand is a function that
//! returns an exit code: 0 success, 1 the policy or a test failed, 2 the
//! command could not run (bad arguments, unreadable files, missing `.wasm`).

mod cedar;
mod files;
mod import;
mod mesh;
mod proxy;
mod run;
mod subcommands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "egressc",
    version,
    about = "Compile, check, format, test and simulate egress policies (*.egress)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `file:line:col: error: message [CODE]` with the source line, on standard error.
    Human,
    /// One JSON object per diagnostic, on standard output.
    Json,
}

/// What `compile` writes.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutFormat {
    /// The binary rule table.
    Table,
    /// The JSON for Istio WasmPlugin `pluginConfig`.
    PluginConfig,
    /// A readable dump of the table.
    Dump,
}

/// Which filter a plugin configuration is for.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LayerArg {
    /// The HTTP filter (WasmPlugin type HTTP).
    Http,
    /// The network filter (WasmPlugin type NETWORK).
    Network,
}

/// How `simulate` prints results.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SimFormat {
    /// One JSON object per input line.
    Json,
    /// An aligned table for people.
    Table,
}

/// How reports are printed.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    /// For people.
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check policy files; exit 0 when they are valid.
    Check {
        /// Policy files (or directories of *.egress files), compiled together.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        error_format: ErrorFormat,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// Accept files that hold no policy (the table then enforces nothing).
        #[arg(long)]
        allow_empty: bool,
    },
    /// Compile policy files into a rule table. Nothing is written on error.
    Compile {
        /// Policy files (or directories of *.egress files), compiled together.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output file (`-` for standard output).
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: OutFormat,
        /// With --format plugin-config: which filter the configuration is for.
        #[arg(long, value_enum, default_value = "http")]
        layer: LayerArg,
        #[arg(long, value_enum, default_value = "human")]
        error_format: ErrorFormat,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// Accept files that hold no policy (the table then enforces nothing).
        #[arg(long)]
        allow_empty: bool,
    },
    /// Format policy files in place (canonical layout, comments kept).
    Fmt {
        /// Policy files or directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; exit 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Explain the decision for one request: the deciding rule and why the others did not match.
    Explain {
        /// Policy files, compiled together.
        #[arg(long = "policy", required = true, num_args = 1..)]
        policies: Vec<PathBuf>,
        /// The request as JSON, e.g. '{"method":"GET","host":"httpbin.org","path":"/get"}'.
        #[arg(long)]
        request: String,
        #[arg(long, value_enum, default_value = "human")]
        format: ReportFormat,
        /// Envoy path normalization before the filter (as in `simulate`): none, base (Istio's default), merge-slashes, decode-and-merge-slashes.
        #[arg(long, default_value = "base")]
        path_normalization: egressc::explain::PathNormalization,
    },
    /// Run requests through the real filter (.wasm) in the local proxy-wasm host.
    Simulate {
        /// Policy files, compiled together.
        #[arg(long = "policy", required = true, num_args = 1..)]
        policies: Vec<PathBuf>,
        /// A file with one JSON request per line (`-` for standard input).
        #[arg(long)]
        requests: PathBuf,
        #[command(flatten)]
        host: run::HostArgs,
        /// Include the filter's log lines for each request.
        #[arg(long)]
        log: bool,
        /// Print the final metric values after the last request.
        #[arg(long)]
        metrics: bool,
        /// `json`: one JSON object per request (the default); `table`: a readable table.
        #[arg(long, value_enum, default_value = "json")]
        format: SimFormat,
    },
    /// Run the `test` blocks of policy files through the real filter.
    Test {
        /// Policy files or directories. Each file is compiled on its own and its tests run against it.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        host: run::HostArgs,
        #[arg(long, value_enum, default_value = "human")]
        format: ReportFormat,
    },
    /// Write the Istio resources for policy files: one multi-document YAML bundle (ServiceEntries, the filter as WasmPlugins, DestinationRules, VirtualServices, Telemetry, and what the attachment needs).
    Istio(mesh::IstioArgs),
    /// Write the mesh-wide outbound posture (meshConfig.outboundTrafficPolicy.mode) in the form your Istio installation takes.
    Posture {
        /// restricted (REGISTRY_ONLY) or allowed (ALLOW_ANY).
        #[arg(value_enum)]
        posture: PostureArg,
        /// istioctl: an IstioOperator overlay; helm: istiod chart values; configmap: lines for the mesh key of ConfigMap istio-system/istio.
        #[arg(long, value_enum, default_value = "istioctl")]
        format: PostureFormatArg,
        /// Output file (`-` for standard output).
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
    },
    /// Export policy files to Cedar: DIR/policies.cedar, schema.cedarschema, and audit.cedar and entities.json when needed; the export must pass Cedar's strict validation, else nothing is written (docs/cedar.md).
    Cedar {
        /// Policy files (or directories of *.egress files), compiled together.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The output directory (created, or replaced if it holds an earlier export).
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        error_format: ErrorFormat,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// Accept files that hold no policy (the table then enforces nothing).
        #[arg(long)]
        allow_empty: bool,
    },
    /// Import existing mesh configuration into the policy language.
    Import {
        #[command(subcommand)]
        what: import::ImportCommand,
    },
    /// Write the filter as an OCI image layout (a directory, or FILE.tar) that oras, crane or skopeo can push.
    Package {
        /// The module to package [default: $EGRESS_FILTER_WASM, else the module built into egressc].
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// The layout directory, or a .tar file.
        #[arg(short, long)]
        output: PathBuf,
        /// The image tag recorded in the layout.
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        tag: String,
    },
    /// Run a local forward proxy (HTTP_PROXY/HTTPS_PROXY) that decides real traffic with the filter.
    Proxy(proxy::ProxyArgs),
    /// Print egressc's version, the table format it writes and the built-in filter module's sha256.
    Version,
}

/// Where `egressc istio` attaches the filter.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AttachArg {
    /// An ambient egress waypoint (Gateway `waypoint`, targetRefs).
    Waypoint,
    /// Istio's egress gateway (selector istio: egressgateway), with the routes that send traffic through it.
    EgressGateway,
    /// The sidecars of the namespace, on outbound traffic.
    Sidecar,
}

/// The resource kind that carries the filter.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum IstioApiArg {
    /// extensions.istio.io/v1alpha1 WasmPlugin.
    Wasmplugin,
    /// extensions.istio.io/v1alpha1 TrafficExtension (supersedes WasmPlugin in current Istio).
    Trafficextension,
}

/// The mesh-wide outbound posture.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PostureArg {
    /// REGISTRY_ONLY: only hosts in Istio's registry (Services, ServiceEntries).
    Restricted,
    /// ALLOW_ANY: unknown hosts pass through (Istio's default).
    Allowed,
}

/// How the posture change is written.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PostureFormatArg {
    /// An IstioOperator overlay for `istioctl install -f`.
    Istioctl,
    /// Values for the istiod Helm chart.
    Helm,
    /// Lines for the `mesh` key of ConfigMap istio-system/istio.
    Configmap,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check {
            files,
            error_format,
            deny_warnings,
            allow_empty,
        } => subcommands::check(&files, error_format, deny_warnings, allow_empty),
        Command::Compile {
            files,
            output,
            format,
            layer,
            error_format,
            deny_warnings,
            allow_empty,
        } => subcommands::compile(
            &files,
            &output,
            format,
            layer,
            error_format,
            deny_warnings,
            allow_empty,
        ),
        Command::Fmt { files, check } => subcommands::fmt(&files, check),
        Command::Explain {
            policies,
            request,
            format,
            path_normalization,
        } => subcommands::explain(&policies, &request, format, path_normalization),
        Command::Simulate {
            policies,
            requests,
            host,
            log,
            metrics,
            format,
        } => subcommands::simulate(&policies, &requests, &host, log, metrics, format),
        Command::Test {
            files,
            host,
            format,
        } => subcommands::test(&files, &host, format),
        Command::Istio(args) => mesh::istio(&args),
        Command::Posture {
            posture,
            format,
            output,
        } => mesh::posture(posture, format, &output),
        Command::Cedar {
            files,
            output,
            error_format,
            deny_warnings,
            allow_empty,
        } => cedar::cedar(&files, &output, error_format, deny_warnings, allow_empty),
        Command::Import { what } => import::run(what),
        Command::Package { wasm, output, tag } => mesh::package(wasm.as_deref(), &output, &tag),
        Command::Proxy(args) => proxy::proxy(&args),
        Command::Version => mesh::version(),
    };
    ExitCode::from(code)
}
