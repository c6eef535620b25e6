//! `hq server start|stop|info|wait|generate-access`.

use super::output::{format_iso, format_utc, print_vertical, Out, OutputMode};
use super::{connect, CliError, CliResult, GlobalOpts};
use crate::client::Session;
use crate::common::duration::{format_duration, parse_duration};
use crate::common::serverdir::{self, AccessPart, AccessRecord};
use crate::protocol::messages::*;
use crate::server::{ServerOptions, StartedServer};
use clap::Subcommand;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// Start the server in the foreground
    Start(StartArgs),
    /// Stop the server
    Stop,
    /// Show information about the running server
    Info,
    /// Wait until a server is reachable
    Wait {
        /// Give up after this long
        #[arg(long, value_parser = parse_duration, default_value = "5m")]
        timeout: Duration,
    },
    /// Write an access file (keys, hosts, ports) without starting a server
    GenerateAccess(GenerateAccessArgs),
    /// Write the server's internal state (jobs, workers, scheduler) as JSON to a file
    DebugDump {
        /// Where to write it
        path: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// Hostname under which clients and workers reach the server
    #[arg(long)]
    pub host: Option<String>,
    /// Port for client connections (default: a free port)
    #[arg(long)]
    pub client_port: Option<u16>,
    /// Port for worker connections (default: a free port)
    #[arg(long)]
    pub worker_port: Option<u16>,
    /// Default idle timeout of workers
    #[arg(long, value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// Event journal; restored from if it exists
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// How often the journal is flushed
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub journal_flush_period: Duration,
    /// Access file made by `hq server generate-access`
    #[arg(long)]
    pub access_file: Option<PathBuf>,
    /// Plain-text client connections
    #[arg(long)]
    pub disable_client_authentication_and_encryption: bool,
    /// Plain-text worker connections
    #[arg(long)]
    pub disable_worker_authentication_and_encryption: bool,
    /// Most tasks one job may have; a larger submission is refused before anything is allocated
    #[arg(long, default_value_t = crate::server::DEFAULT_MAX_TASKS_PER_JOB,
          value_parser = clap::value_parser!(u64).range(1..=u32::MAX as u64))]
    pub max_tasks_per_job: u64,
    /// Cap on one scheduling computation: a pass that reaches it stops placing tasks and the
    /// rest are placed in the next pass, run right after

    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub scheduler_time_limit: Duration,
}

#[derive(clap::Args, Debug)]
pub struct GenerateAccessArgs {
    /// Output file of the full access record
    pub file: PathBuf,
    #[arg(long)]
    pub client_port: u16,
    #[arg(long)]
    pub worker_port: u16,
    /// Host for both sides
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long)]
    pub client_host: Option<String>,
    #[arg(long)]
    pub worker_host: Option<String>,
    /// Also write the client-only part here
    #[arg(long)]
    pub client_file: Option<PathBuf>,
    /// Also write the worker-only part here
    #[arg(long)]
    pub worker_file: Option<PathBuf>,
}

pub async fn run(g: &GlobalOpts, cmd: ServerCommand) -> CliResult {
    let out = g.out();
    match cmd {
        ServerCommand::Start(args) => start(g, args).await,
        ServerCommand::Stop => {
            connect(g).await?.stop_server().await?;
            log::info!("Stopping server");
            if out.mode == OutputMode::Json {
                out.json(&serde_json::json!({}));
            }
            Ok(())
        }
        ServerCommand::Info => {
            let info = connect(g).await?.server_info().await?;
            print_server_info(&out, &info, None);
            Ok(())
        }
        ServerCommand::Wait { timeout } => wait(g, timeout).await,
        ServerCommand::GenerateAccess(args) => generate_access(args),
        ServerCommand::DebugDump { path } => {
            let dump = connect(g).await?.debug_dump().await?;
            std::fs::write(&path, dump)
                .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", path.display())))?;
            log::info!("Server state written to {}", path.display());
            Ok(())
        }
    }
}

pub fn print_server_info(out: &Out, info: &ServerInfo, server_dir: Option<&std::path::Path>) {
    match out.mode {
        OutputMode::Json => out.json(&serde_json::json!({
            "server_dir": server_dir.map(|d| d.display().to_string()),
            "server_uid": info.server_uid,
            "client_host": info.client_host,
            "worker_host": info.worker_host,
            "client_port": info.client_port,
            "worker_port": info.worker_port,
            "pid": info.pid,
            "start_date": format_iso(info.start_date),
            "version": info.version,
            "journal_path": info.journal_path,
        })),
        OutputMode::Quiet => {
            if let Some(d) = server_dir {
                println!("{}", d.display());
            }
        }
        OutputMode::Cli => {
            let mut rows = Vec::new();
            if let Some(d) = server_dir {
                rows.push(("Server directory", d.display().to_string()));
            }
            rows.extend([
                ("Server UID", info.server_uid.clone()),
                ("Client host", info.client_host.clone()),
                ("Client port", info.client_port.to_string()),
                ("Worker host", info.worker_host.clone()),
                ("Worker port", info.worker_port.to_string()),
                ("Version", info.version.clone()),
                ("Pid", info.pid.to_string()),
                ("Start date", format_utc(info.start_date)),
                (
                    "Journal path",
                    info.journal_path.clone().unwrap_or_default(),
                ),
            ]);
            print_vertical(out, rows);
        }
    }
}

async fn start(g: &GlobalOpts, args: StartArgs) -> CliResult {
    let server_dir = g.server_dir();
    let out = g.out();
    if Session::connect(&server_dir).await.is_ok() {
        return Err(CliError::Runtime(format!(
            "Server at {0} is already online, please stop it first using `hq server stop --server-dir {0}`",
            server_dir.display()
        )));
    }
    log::info!("No online server found, starting a new server");
    let opts = ServerOptions {
        server_dir: server_dir.clone(),
        host: args.host,
        client_port: args.client_port,
        worker_port: args.worker_port,
        idle_timeout: args.idle_timeout,
        journal: args.journal.map(|p| serverdir::absolute(&p)),
        access_file: args.access_file,
        disable_client_auth: args.disable_client_authentication_and_encryption,
        disable_worker_auth: args.disable_worker_authentication_and_encryption,
        listen: std::net::Ipv4Addr::UNSPECIFIED.into(),
        max_tasks_per_job: args.max_tasks_per_job,
        scheduler_time_limit: args.scheduler_time_limit,
    };
    let dir_for_print = server_dir.clone();
    let on_started = move |s: &StartedServer| {
        let _ = &s.run_dir;
        print_server_info(&out, &s.info, Some(&dir_for_print));
    };
    crate::server::start(opts, on_started, shutdown_signal())
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    worker_shutdown_signal().await;
}

/// Resolves on SIGINT (a stop) or SIGTERM (a termination), saying which.
pub async fn worker_shutdown_signal() -> crate::worker::Shutdown {
    use crate::worker::Shutdown;
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return Shutdown::Stop;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Shutdown::Stop,
        _ = term.recv() => Shutdown::Terminate,
    }
}

async fn wait(g: &GlobalOpts, timeout: Duration) -> CliResult {
    let dir = g.server_dir();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if Session::connect(&dir).await.is_ok() {
            log::info!("Successfully connected to server");
            return Ok(());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(CliError::Runtime(format!(
                "Timeout after {}: Could not connect to server at `{}`. Make sure that the server is running.",
                format_duration(timeout),
                dir.display()
            )));
        }
        tokio::time::sleep((deadline - now).min(Duration::from_secs(5))).await;
    }
}

fn generate_access(args: GenerateAccessArgs) -> CliResult {
    let host = args.host.unwrap_or_else(serverdir::local_hostname);
    let client = AccessPart {
        host: args.client_host.unwrap_or(host.clone()),
        port: args.client_port,
        secret_key: Some(serverdir::new_secret()),
    };
    let worker = AccessPart {
        host: args.worker_host.unwrap_or(host),
        port: args.worker_port,
        secret_key: Some(serverdir::new_secret()),
    };
    let uid = serverdir::new_server_uid();
    let full = AccessRecord {
        version: HQ_VERSION.into(),
        server_uid: uid,
        client: Some(client.clone()),
        worker: Some(worker.clone()),
    };
    let err = |e: serverdir::ServerDirError| CliError::Runtime(e.to_string());
    serverdir::write_access_file(&args.file, &full).map_err(err)?;
    if let Some(path) = args.client_file {
        let rec = AccessRecord {
            version: HQ_VERSION.into(),
            server_uid: String::new(),
            client: Some(client),
            worker: None,
        };
        serverdir::write_access_file(&path, &rec).map_err(err)?;
    }
    if let Some(path) = args.worker_file {
        let rec = AccessRecord {
            version: HQ_VERSION.into(),
            server_uid: String::new(),
            client: None,
            worker: Some(worker),
        };
        serverdir::write_access_file(&path, &rec).map_err(err)?;
    }
    Ok(())
}
