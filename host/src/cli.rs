//! The `wasmcode` command line: the server, and the management of its plugins.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use crate::api::AppState;
use crate::bus::sse::SseOptions;
use crate::config::Config;
use crate::environment::Environment;
use crate::instance::Instances;
use crate::paths::Paths;
use crate::plugins::{self, installed::PluginStore, trust::TrustList};
use crate::runtime::{PluginKind, Runtime, RuntimeOptions, interface_names};
use crate::server::{SecurityPolicy, ServerSettings};
use crate::session::Sessions;

#[derive(Parser)]
#[command(
    name = "wasmcode",
    version,
    about = "A coding-agent server that speaks OpenCode's HTTP API, \
with every tool a sandboxed WebAssembly component"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server for the project in the current directory.
    #[command(visible_alias = "server")]
    Serve(ServeArgs),
    /// Install, list, inspect and remove plugins (WebAssembly components): tools, providers, formatters.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Print the OpenAPI 3.1 document of the HTTP API.
    Openapi,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Port to listen on, 0 for any free one [default: server.port in opencode.json, else 4096].
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on [default: server.host in opencode.json, else 127.0.0.1]. Anything but
    /// loopback needs credentials (OPENCODE_SERVER_PASSWORD or server.auth).
    #[arg(long)]
    hostname: Option<String>,
    /// A browser origin allowed to call the server, besides localhost ones (repeatable).
    #[arg(long = "cors", value_name = "ORIGIN")]
    cors: Vec<String>,
    /// Advertise the server on the local network over mDNS.
    #[arg(long)]
    mdns: bool,
    /// The host name advertised over mDNS.
    #[arg(long, default_value = "opencode.local", requires = "mdns")]
    mdns_domain: String,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Validate a component and install it for every project.
    Install {
        /// The component file (`.wasm`, world `wasmcode:plugin/tool-plugin`).
        file: PathBuf,
        /// Name to install it under (default: from the file name).
        #[arg(long)]
        name: Option<String>,
        /// Replace an installed plugin of the same name.
        #[arg(long)]
        force: bool,
    },
    /// List loaded plugins and their tools.
    List,
    /// Remove an installed plugin.
    Remove { name: String },
    /// Show a component's world, imports, exports and tools.
    Inspect {
        /// A component file, or the name of an installed plugin.
        target: String,
    },
    /// Trust a project-local plugin (in `.wasmcode/plugins/`) so it is loaded.
    Trust { file: PathBuf },
    /// Write the plugin contract (its WIT files with the WASI interfaces they use) into a
    /// directory, for building a plugin with any toolchain.
    Wit {
        /// Where to write it (made if missing; files of the contract in it are replaced).
        #[arg(default_value = "wit")]
        dir: PathBuf,
    },
}

/// Parses the command line and runs it; the binary's whole `main`.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    quiet_library_backtraces();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli))
}

/// Error values (wasmtime's, anyhow's) capture a backtrace when `RUST_BACKTRACE` asks for panic
/// backtraces, and wasmtime builds one such error each time a plugin call's store is dropped: a
/// stack walk per call that nothing ever prints. Unless the user chose `RUST_LIB_BACKTRACE`,
/// errors go without; panics still follow `RUST_BACKTRACE`.
#[allow(unsafe_code, reason = "`set_var` is sound while the process has one thread")]
fn quiet_library_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // The only read of the process environment: everything below gets it from here.
    let environment = Arc::new(Environment::from_process());
    let paths = Paths::from_environment(&environment);
    match cli.command {
        Command::Serve(args) => serve(paths, environment, args).await,
        Command::Plugin(command) => plugin(paths, &environment, command).await,
        Command::Openapi => {
            println!("{}", crate::server::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}

fn new_runtime(paths: &Paths) -> anyhow::Result<Runtime> {
    let options = RuntimeOptions {
        cache_dir: Some(paths.compile_cache_dir()),
        ..RuntimeOptions::default()
    };
    Runtime::new(&options).map_err(|e| anyhow::anyhow!("cannot start the WebAssembly runtime: {e:#}"))
}

fn load_config(paths: &Paths, environment: &Environment, project: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(
        &paths.config,
        project,
        environment.inline_config.as_deref(),
    )?)
}

async fn serve(paths: Paths, environment: Arc<Environment>, args: ServeArgs) -> anyhow::Result<()> {
    let project = std::env::current_dir().context("cannot read the current directory")?;
    let runtime = Arc::new(new_runtime(&paths)?);
    let database = paths.database();
    let store = crate::store::Store::open(&database)
        .with_context(|| format!("cannot open the session store {}", database.display()))?;
    let sessions = Sessions::new(store, runtime.clone(), paths.plugins_dir());
    let instances = Arc::new(Instances::new(runtime, paths, environment.clone()));
    // The cwd's configuration is checked before listening, and the address and credentials
    // after it: a broken configuration or an unsafe bind stops the start-up at once, before any
    // plugin is compiled.
    let config = instances.check(&project)?;

    let settings: ServerSettings = match config.raw.get("server") {
        Some(section) => {
            serde_json::from_value(section.clone()).context("invalid `server` section in opencode.json")?
        }
        None => ServerSettings::default(),
    };
    let hostname = args
        .hostname
        .or(settings.host.clone())
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = args.port.or(settings.port).unwrap_or(4096);
    let addr: SocketAddr = format!("{hostname}:{port}")
        .parse()
        .or_else(|_| {
            use std::net::ToSocketAddrs;
            (hostname.as_str(), port)
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| std::io::Error::other("no address"))
        })
        .with_context(|| format!("cannot resolve --hostname {hostname}"))?;
    let policy = security_policy(&environment, &settings, &args.cors, &hostname, &addr)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // The heartbeat interval can be shortened for tests of the event streams.
    let heartbeat = environment
        .var("WASMCODE_HEARTBEAT_MS")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(10_000);
    let sse = SseOptions {
        heartbeat: std::time::Duration::from_millis(heartbeat),
    };
    // Installs, removals, trust and grant changes reach the running server without a restart.
    if let Err(e) = instances.watch_plugins() {
        tracing::warn!("plugins will not reload while the server runs: {e}");
    }
    // The cwd's instance is made (and its plugins start loading, compiled on a first run) while
    // the server already answers: nothing waits for the plugins but what uses them.
    {
        let (instances, project) = (instances.clone(), project.clone());
        tokio::spawn(async move {
            if let Err(e) = instances.get(&project).await {
                tracing::error!(directory = %project.display(), "{e}");
            }
        });
    }
    let instances_at_exit = instances.clone();
    let state = AppState {
        instances,
        sessions,
        default_directory: project,
        sse,
    };
    let app = crate::server::router(state, policy);
    let _advertisement = if args.mdns {
        Some(crate::server::mdns::advertise(&args.mdns_domain, local)?)
    } else {
        None
    };
    // Tests and scripts read this line to learn the port.
    println!("wasmcode server listening on http://{local}");
    // On the signal, the terminals (and the programs in them) and the MCP servers close first:
    // terminal sockets would otherwise keep the graceful shutdown waiting.
    let stopping = async move {
        shutdown_signal().await;
        for instance in instances_at_exit.live().await {
            instance.terminals.close_all();
            instance.mcp.close_all();
        }
    };
    // Every answer is small or streamed (events, terminal output, typed keys echoed): Nagle's
    // algorithm would hold each last segment for the peer's delayed ACK, ~40 ms.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream: &mut tokio::net::TcpStream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set on a connection: {e}");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(stopping)
        .await?;
    Ok(())
}

/// Who may call the server: credentials from the environment and `server.auth`, origins from
/// `--cors` and `server.cors`. Refuses a non-loopback address without credentials.
fn security_policy(
    environment: &Environment,
    settings: &ServerSettings,
    cors: &[String],
    hostname: &str,
    addr: &SocketAddr,
) -> anyhow::Result<SecurityPolicy> {
    let password = environment.var("OPENCODE_SERVER_PASSWORD").map(String::from);
    let user = environment.var("OPENCODE_SERVER_USERNAME").map(String::from);
    let basic = password.map(|password| (user.unwrap_or_else(|| "opencode".into()), password));
    let bearer_tokens = match &settings.auth {
        None => Vec::new(),
        Some(auth) if auth.kind == "bearer" => auth.tokens.clone(),
        Some(auth) => bail!(
            "server.auth.type {:?} is not supported; use \"bearer\" with \"tokens\"",
            auth.kind
        ),
    };
    let join = |list: &[String]| (!list.is_empty()).then(|| list.join(", "));
    let loopback = crate::server::security::is_loopback_addr(addr);
    let policy = SecurityPolicy {
        basic,
        bearer_tokens,
        origins: cors.iter().chain(&settings.cors.origins).cloned().collect(),
        cors_methods: join(&settings.cors.methods),
        cors_headers: join(&settings.cors.headers),
        allowed_hosts: loopback.then(|| [hostname.to_ascii_lowercase()].into()),
    };
    if !loopback && !policy.has_credentials() {
        bail!(
            "refusing to listen on {addr} without credentials: anyone who can reach it could run commands \
             on this machine. Set OPENCODE_SERVER_PASSWORD (and optionally OPENCODE_SERVER_USERNAME), or \
             \"server\": {{\"auth\": {{\"type\": \"bearer\", \"tokens\": [\"...\"]}}}} in opencode.json, or listen \
             on 127.0.0.1"
        );
    }
    if !policy.has_credentials() {
        eprintln!("Warning: OPENCODE_SERVER_PASSWORD is not set; server is unsecured.");
    }
    Ok(policy)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

async fn plugin(paths: Paths, environment: &Environment, command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Install { file, name, force } => {
            let runtime = new_runtime(&paths)?;
            let manifest = plugins::install(&runtime, &paths, &file, name, force).await?;
            println!(
                "installed {} plugin `{}` ({})",
                manifest.kind,
                manifest.name,
                &manifest.sha256[..12]
            );
            match manifest.kind {
                PluginKind::Tool => {
                    println!("tools: {}", manifest.tools.join(", "));
                    let requested = capabilities(&manifest.imports);
                    if !requested.is_empty() {
                        println!(
                            "requests: {} (granted: filesystem read-only; grant more under \
                             wasmcode.plugins.{}.grants in opencode.json)",
                            requested.join(", "),
                            manifest.name
                        );
                    }
                }
                // Whatever these import, their stores grant the same: the kind decides.
                PluginKind::Provider => {
                    println!(
                        "use it with \"plugin\": \"{}\" in a `provider` block of opencode.json",
                        manifest.name
                    );
                    println!(
                        "sandbox: HTTP to its provider block's baseURL host only; no files, no processes"
                    );
                }
                PluginKind::Formatter => {
                    println!("extensions: {}", manifest.extensions.join(", "));
                    println!("sandbox: no files, no network, no processes (a function of path and content)");
                }
            }
            Ok(())
        }
        PluginCommand::List => {
            let project = std::env::current_dir()?;
            let config = load_config(&paths, environment, &project)?;
            let runtime = new_runtime(&paths)?;
            let (tools, warnings) =
                plugins::load_all(&runtime, &paths, &config.wasmcode, Some(&project)).await;
            for loaded in tools.plugins() {
                let origin = match &loaded.origin {
                    plugins::Origin::FirstParty => "first-party".to_string(),
                    plugins::Origin::Installed => "installed".to_string(),
                    plugins::Origin::Project(path) => format!("project {}", path.display()),
                };
                let ids: Vec<&str> = loaded.plugin.tools.iter().map(|t| t.id.as_str()).collect();
                println!(
                    "{:<24} {:<10} {:<12} {}  tools: {}",
                    loaded.plugin.name,
                    PluginKind::Tool,
                    origin,
                    &loaded.sha256[..12],
                    ids.join(", ")
                );
            }
            let embedded = plugins::first_party::FIRST_PARTY_PROVIDERS
                .iter()
                .map(|e| (e, PluginKind::Provider))
                .chain(
                    plugins::first_party::FIRST_PARTY_FORMATTERS
                        .iter()
                        .map(|e| (e, PluginKind::Formatter)),
                );
            for (embedded, kind) in embedded {
                println!(
                    "{:<24} {:<10} {:<12} {}",
                    embedded.name,
                    kind,
                    "first-party",
                    &hex::encode(embedded.sha256)[..12]
                );
            }
            let store = PluginStore::new(paths.plugins_dir());
            for installed in store.list().into_iter().flatten() {
                let manifest = &installed.manifest;
                let detail = match manifest.kind {
                    PluginKind::Tool => continue,
                    PluginKind::Provider => String::new(),
                    PluginKind::Formatter => format!("  extensions: {}", manifest.extensions.join(", ")),
                };
                println!(
                    "{:<24} {:<10} {:<12} {}{detail}",
                    manifest.name,
                    manifest.kind,
                    "installed",
                    &manifest.sha256[..12]
                );
            }
            for warning in warnings {
                println!("not loaded: {}: {}", warning.plugin, warning.message);
            }
            Ok(())
        }
        PluginCommand::Remove { name } => {
            if PluginStore::new(paths.plugins_dir()).remove(&name)? {
                println!("removed plugin `{name}`");
                Ok(())
            } else {
                bail!("no installed plugin named `{name}` (see `wasmcode plugin list`)")
            }
        }
        PluginCommand::Inspect { target } => inspect(&paths, &target).await,
        PluginCommand::Trust { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let hash = hex::encode(crate::runtime::sha256(&bytes));
            let mut trust = TrustList::load(&paths.trust_file())?;
            trust.trust(hash.clone(), std::fs::canonicalize(&file)?);
            trust.save(&paths.trust_file())?;
            println!("trusted {} ({})", file.display(), &hash[..12]);
            Ok(())
        }
        PluginCommand::Wit { dir } => {
            let written =
                plugins::contract::write(&dir).with_context(|| format!("cannot write {}", dir.display()))?;
            println!(
                "wrote the contract {} ({} files) to {}",
                plugins::contract::PACKAGE,
                written.len(),
                dir.display()
            );
            println!(
                "worlds: tool-plugin, provider-plugin, formatter-plugin ({})",
                dir.join("worlds.wit").display()
            );
            Ok(())
        }
    }
}

async fn inspect(paths: &Paths, target: &str) -> anyhow::Result<()> {
    let path = PathBuf::from(target);
    let (name, bytes) = if path.exists() {
        (plugins::installed::name_from_path(&path), std::fs::read(&path)?)
    } else {
        let store = PluginStore::new(paths.plugins_dir());
        let installed = store
            .list()
            .into_iter()
            .flatten()
            .find(|p| p.manifest.name == target)
            .with_context(|| format!("{target} is neither a file nor an installed plugin"))?;
        (
            target.to_string(),
            store.read_verified(&installed).map_err(anyhow::Error::msg)?.0,
        )
    };
    let runtime = new_runtime(paths)?;
    let hash = crate::runtime::sha256(&bytes);
    let component = runtime.compile(&name, &bytes, &hash).await?;
    let exports = interface_names(runtime.engine(), &component, true);
    let imports = interface_names(runtime.engine(), &component, false);
    println!("name:    {name}");
    println!("sha256:  {}", hex::encode(hash));
    println!("size:    {} bytes", bytes.len());
    println!("exports: {}", exports.join(", "));
    println!("imports: {}", imports.join(", "));
    println!("capabilities requested: {}", capabilities(&imports).join(", "));
    let kind = runtime.kind_of(&name, &bytes, &hash).await?;
    println!("kind:    {kind}");
    println!("world:   wasmcode:plugin/{kind}-plugin");
    match kind {
        PluginKind::Tool => {}
        PluginKind::Provider => {
            runtime
                .load_provider_plugin(&name, &bytes, &hash, Default::default())
                .await?;
            return Ok(());
        }
        PluginKind::Formatter => {
            let formatter = runtime
                .load_formatter_plugin(&name, &bytes, &hash, Default::default())
                .await?;
            println!("extensions: {}", formatter.extensions.join(", "));
            return Ok(());
        }
    }
    let plugin = runtime
        .load_tool_plugin(&name, &bytes, &hash, Default::default(), Default::default(), true)
        .await?;
    for tool in &plugin.tools {
        println!("\ntool `{}`", tool.id);
        println!("  {}", tool.description.lines().next().unwrap_or_default());
        println!(
            "  parameters: {}",
            serde_json::to_string_pretty(&tool.parameters)?.replace('\n', "\n  ")
        );
    }
    Ok(())
}

/// The capabilities a component asks for, read from its imports.
fn capabilities(imports: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if imports.iter().any(|i| i.starts_with("wasi:filesystem/")) {
        out.push("filesystem".to_string());
    }
    if imports.iter().any(|i| i.starts_with("wasi:http/")) {
        out.push("http".to_string());
    }
    if imports.iter().any(|i| i.starts_with("wasmcode:plugin/process")) {
        out.push("process".to_string());
    }
    out
}
