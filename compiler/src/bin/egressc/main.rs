//! `egressc`: the egress policy compiler's command line. All file and process
//! I/O lives here; the library does none. Each subcommand is a function that
//! returns an exit code: 0 success, 1 the policy or a test failed, 2 the
//! command could not run (bad arguments, unreadable files, missing `.wasm`).

mod cedar;
mod files;
mod import;
mod learn;
mod logs;
mod mesh;
mod proxy;
mod run;
mod subcommands;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand, ValueEnum};

pub use ui::Format;

/// Written under `egressc --help` and in README.
const CONVENTIONS: &str = "\
Conventions (every subcommand):
  Policy files and directories (*.egress) are positional arguments.
  --format human|json   how results and messages are printed (json: one object per line, on standard output)
  -o FILE               where output goes; `-` or no -o is standard output (a binary table is never written to a terminal)
  -q, --quiet           only errors and failures
  --color auto|always|never   colour (auto honours NO_COLOR)

Exit codes:
  0  success
  1  the policy, a test or a decision failed (errors, warnings under --deny-warnings, a failed test, a deny under explain --fail-on-deny)
  2  the command could not run (bad arguments, unreadable or unwritable files, no filter module)

Docs: README.md and docs/ in https://github.com/ (this repository); `egressc man` writes the manual pages.";

#[derive(Debug, Parser)]
#[command(
    name = "egressc",
    version,
    about = "Compile, check, format, test and simulate egress policies (*.egress).",
    after_help = CONVENTIONS
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, clap::Args)]
struct GlobalArgs {
    /// Print only errors and failures: no warnings, notes, passing tests or progress lines.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, value_enum, global = true, default_value = "auto")]
    color: ui::ColorChoice,
}

/// The flags of the subcommands that compile policies and report diagnostics.
#[derive(Debug, Clone, clap::Args)]
pub struct DiagArgs {
    /// human: `file:line:col: error: message [CODE]` with the source line, on standard error; json: one object per diagnostic, on standard output.
    #[arg(long, alias = "error-format", value_parser = ui::parse_format, default_value = "human", value_name = "human|json")]
    pub format: Format,
    /// Treat warnings as errors (they are printed as errors, and the exit code is 1).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Accept files that hold no policy (the table then enforces nothing).
    #[arg(long)]
    pub allow_empty: bool,
}

/// Policy files for the subcommands that once took them as `--policy`.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyFiles {
    /// Policy files (or directories of *.egress files), compiled together into one table.
    #[arg(value_name = "FILE_OR_DIR", required_unless_present = "policy")]
    pub files: Vec<PathBuf>,
    /// The same as the positional files (the older spelling, still accepted).
    #[arg(long, hide = true, num_args = 1..)]
    pub policy: Vec<PathBuf>,
}

impl PolicyFiles {
    /// Every file named, positional first.
    pub fn all(&self) -> Vec<PathBuf> {
        self.files.iter().chain(&self.policy).cloned().collect()
    }
}

/// What `compile` writes.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Emit {
    /// The binary rule table (never written to a terminal).
    Table,
    /// The JSON for Istio WasmPlugin `pluginConfig` (with --layer).
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Check policy files; exit 0 when they are valid.
    Check {
        /// Policy files (or directories of *.egress files), compiled together into one table.
        #[arg(required = true, value_name = "FILE_OR_DIR")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        diag: DiagArgs,
    },
    /// Compile policy files into a rule table (to standard output, or -o FILE). Nothing is written on error.
    Compile {
        /// Policy files (or directories of *.egress files), compiled together into one table.
        #[arg(required = true, value_name = "FILE_OR_DIR")]
        files: Vec<PathBuf>,
        /// Output file (`-`, the default, is standard output).
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
        /// What to write.
        #[arg(long, value_enum, default_value = "table")]
        emit: Emit,
        /// With --emit plugin-config: which filter the configuration is for [default: http].
        #[arg(long, value_enum)]
        layer: Option<LayerArg>,
        /// With --emit plugin-config: the filter's settings for the proxy.
        #[command(flatten)]
        filter: run::FilterArgs,
        #[command(flatten)]
        diag: DiagArgs,
    },
    /// Format policy files in place (canonical layout, comments kept); no file, or `-`, formats standard input to standard output.
    Fmt {
        /// Policy files or directories; `-` (or none) for standard input.
        #[arg(value_name = "FILE_OR_DIR")]
        files: Vec<PathBuf>,
        /// Change nothing; exit 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
        /// Change nothing; print what formatting would change as a unified diff, and exit 1 if it would change anything.
        #[arg(long, conflicts_with = "check")]
        diff: bool,
    },
    /// Explain the decision for one request: the deciding rule and why the others did not match.
    Explain {
        #[command(flatten)]
        policies: PolicyFiles,
        /// The request as JSON, e.g. '{"method":"GET","host":"httpbin.org","path":"/get"}'.
        #[arg(long)]
        request: String,
        /// human or json.
        #[arg(long, value_parser = ui::parse_format, default_value = "human", value_name = "human|json")]
        format: Format,
        /// Envoy's settings before the filter, as in `simulate`.
        #[command(flatten)]
        envoy: run::EnvoyArgs,
        #[command(flatten)]
        filter: run::FilterArgs,
        /// Exit 1 when the request is denied (for scripts and CI gates).
        #[arg(long)]
        fail_on_deny: bool,
    },
    /// Run requests through the real filter (.wasm) in the local proxy-wasm host.
    Simulate {
        #[command(flatten)]
        policies: PolicyFiles,
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
        /// human: an aligned table; json: one object per request.
        #[arg(long, value_parser = ui::parse_format, default_value = "human", value_name = "human|json")]
        format: Format,
    },
    /// Run the `test` blocks of policy files through the real filter.
    Test {
        /// Policy files or directories. Each file is compiled on its own and its tests run against it.
        #[arg(required = true, value_name = "FILE_OR_DIR")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        host: run::HostArgs,
        /// human, or json: one object per test case, compile errors as diagnostics, then a summary.
        #[arg(long, value_parser = ui::parse_format, default_value = "human", value_name = "human|json")]
        format: Format,
    },
    /// Compare two policy sets: destinations and rules added, removed or changed, each with requests whose decision it flips. Exit 1 when a request is newly allowed, or when a destination had more candidate requests than the cap (the diff cannot prove nothing is newly allowed); 0 otherwise; 2 when a side does not compile.
    Diff {
        /// The old policy set: a policy file or a directory of *.egress files.
        #[arg(value_name = "OLD")]
        old: PathBuf,
        /// The new policy set: a policy file or a directory of *.egress files.
        #[arg(value_name = "NEW")]
        new: PathBuf,
        /// human: changes grouped by policy and destination, with witness requests as `test` lines; json: one object.
        #[arg(long, value_parser = ui::parse_format, default_value = "human", value_name = "human|json")]
        format: Format,
        /// Output file (`-`, the default, is standard output).
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
    },
    /// Learn a policy from the filter's audit logs: what was seen is allowed, generalisations are commented, and a test block of observed requests and near misses is included.
    Learn(learn::LearnArgs),
    /// Write the Istio resources for policy files: one multi-document YAML bundle (ServiceEntries, the filter as WasmPlugins, DestinationRules, VirtualServices, Telemetry, and what the attachment needs).
    Istio(mesh::IstioArgs),
    /// Write the mesh-wide outbound posture (meshConfig.outboundTrafficPolicy.mode) in the form your Istio installation takes.
    Posture {
        /// restricted (REGISTRY_ONLY) or allowed (ALLOW_ANY).
        #[arg(value_enum)]
        posture: PostureArg,
        /// istioctl: an IstioOperator overlay; helm: istiod chart values; configmap: lines for the mesh key of ConfigMap istio-system/istio.
        #[arg(long, alias = "format", value_enum, default_value = "istioctl")]
        emit: PostureFormatArg,
        /// Output file (`-` for standard output).
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
    },
    /// Export policy files to Cedar: DIR/policies.cedar, schema.cedarschema, and audit.cedar and entities.json when needed; the export must pass Cedar's strict validation, else nothing is written (docs/cedar.md).
    Cedar {
        /// Policy files (or directories of *.egress files), compiled together.
        #[arg(required = true, value_name = "FILE_OR_DIR")]
        files: Vec<PathBuf>,
        /// The output directory (created, or replaced if it holds an earlier export).
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        diag: DiagArgs,
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
    /// Report what left the mesh from the filter's audit lines: busiest destinations, sources, decisions by policy and rule, denials by reason; with --policy, the logged requests that policy would decide otherwise.
    Report {
        /// Log files with the filter's JSON audit lines (Envoy or kubectl prefixes and other lines are skipped); `-` for standard input.
        #[arg(required = true, value_name = "LOG")]
        logs: Vec<PathBuf>,
        /// Policy files or directories: also re-decide every logged request under them and list those decided otherwise (a dry run on real traffic).
        #[arg(long, value_name = "FILE_OR_DIR", num_args = 1..)]
        policy: Vec<PathBuf>,
        /// Rows per section: destinations, sources, decisions by rule, denial reasons and changed groups.
        #[arg(long, default_value_t = egressc::report::DEFAULT_TOP as u32, value_parser = clap::value_parser!(u32).range(1..))]
        top: u32,
        /// human (text tables; `table` is the same) or json (one object).
        #[arg(long, value_parser = ui::parse_format, default_value = "human", value_name = "human|json")]
        format: Format,
        /// Output file (`-`, the default, is standard output).
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
    },
    /// Print egressc's version, the table format it writes and the built-in filter module's sha256.
    Version,
    /// Print a shell completion script: `egressc completions bash > /etc/bash_completion.d/egressc`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages: egressc(1) to standard output, or every page (egressc.1, egressc-check.1, …) into -o DIR.
    Man {
        /// A directory for all the pages (e.g. /usr/local/share/man/man1).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
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
    ui::init(cli.global.quiet, cli.global.color);
    let code = match cli.command {
        Command::Check { files, diag } => subcommands::check(&files, &diag),
        Command::Compile {
            files,
            output,
            emit,
            layer,
            filter,
            diag,
        } => subcommands::compile(&files, &output, emit, layer, &filter, &diag),
        Command::Fmt { files, check, diff } => subcommands::fmt(&files, check, diff),
        Command::Explain {
            policies,
            request,
            format,
            envoy,
            filter,
            fail_on_deny,
        } => subcommands::explain(
            &policies.all(),
            &request,
            format,
            envoy.settings(),
            &filter,
            fail_on_deny,
        ),
        Command::Simulate {
            policies,
            requests,
            host,
            log,
            metrics,
            format,
        } => subcommands::simulate(&policies.all(), &requests, &host, log, metrics, format),
        Command::Test {
            files,
            host,
            format,
        } => subcommands::test(&files, &host, format),
        Command::Diff {
            old,
            new,
            format,
            output,
        } => subcommands::diff(&old, &new, format, &output),
        Command::Learn(args) => learn::learn(&args),
        Command::Istio(args) => mesh::istio(&args),
        Command::Posture {
            posture,
            emit,
            output,
        } => mesh::posture(posture, emit, &output),
        Command::Cedar {
            files,
            output,
            diag,
        } => cedar::cedar(&files, &output, &diag),
        Command::Import { what } => import::run(what),
        Command::Package { wasm, output, tag } => mesh::package(wasm.as_deref(), &output, &tag),
        Command::Proxy(args) => proxy::proxy(&args),
        Command::Report {
            logs,
            policy,
            top,
            format,
            output,
        } => logs::report(&logs, &policy, top as usize, format, &output),
        Command::Version => mesh::version(),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "egressc",
                &mut std::io::stdout(),
            );
            0
        }
        Command::Man { output } => man(output.as_deref()),
    };
    ExitCode::from(code)
}

/// `egressc man`: the pages clap_mangen renders from this very definition.
fn man(dir: Option<&std::path::Path>) -> u8 {
    let cmd = Cli::command();
    let render = |c: clap::Command| -> Result<Vec<u8>, String> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c)
            .render(&mut buf)
            .map_err(|e| format!("cannot render the manual page: {e}"))?;
        Ok(buf)
    };
    let Some(dir) = dir else {
        return match render(cmd).and_then(|b| files::write_atomic(std::path::Path::new("-"), &b)) {
            Ok(()) => 0,
            Err(e) => ui::fail(&e),
        };
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        return ui::fail(&format!("cannot create {}: {e}", dir.display()));
    }
    let mut pages = vec![("egressc.1".to_owned(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("egressc-{}", sub.get_name());
        pages.push((
            format!("{name}.1"),
            sub.clone().name(name).version(env!("CARGO_PKG_VERSION")),
        ));
    }
    for (file, page) in pages {
        let result = render(page).and_then(|b| files::write_atomic(&dir.join(&file), &b));
        if let Err(e) = result {
            return ui::fail(&e);
        }
        if !ui::get().quiet {
            eprintln!("wrote {}", dir.join(&file).display());
        }
    }
    0
}
