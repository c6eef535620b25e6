//! The server: binds the client and worker ports, writes the access file, and runs the actor
//! that owns all state. See docs/architecture.md ("The server core") for how the parts fit:
//!
//! - `core.rs`: [`ServerCore`], the state, and its `sanity_check`;
//! - `apply.rs`: `ServerCore::apply`, the one state transition, shared by live handling and
//!   journal replay;
//! - `journal.rs`: the recorded events, `commit` / `commit_request`, replay, flush, prune;
//! - `outbox.rs`: `Effect` (runtime consequences of applied events) and `Outbox` (messages out);
//! - `live.rs`, `requests.rs`, `queries.rs`, `waiters.rs`: handlers that decide what happened;
//! - `state.rs`: jobs and their compact task records;
//! - `actor.rs`: the loop that owns the core and ships the outbox; `conn.rs`: sockets;
//! - `autoalloc*.rs`: allocation queues (`hq alloc`): the service, its hooks into the core, its
//!   requests, and the operations that run manager commands outside the actor.

mod actor;
mod apply;
mod autoalloc;
mod autoalloc_hooks;
mod autoalloc_ops;
mod autoalloc_requests;
mod conn;
mod core;
mod dashboard;
mod dashboard_alloc;
mod dashboard_replay;
mod event_json;
mod explain;
mod history;
pub mod journal;
mod live;
mod outbox;
mod overview;
mod queries;
mod requests;
mod state;
#[cfg(test)]
mod tests;
mod waiters;

pub use self::core::{
    now_ms, CoreConfig, ServerCore, DEFAULT_MAX_TASKS_PER_JOB, DEFAULT_SCHEDULER_TIME_LIMIT,
};
pub use self::dashboard_replay::JournalView;
pub use self::live::worker_state_reason;
pub use self::outbox::{Effect, Outbox};

use crate::common::serverdir::{self, AccessPart, AccessRecord};
use crate::protocol::messages::*;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;

/// Everything `hq server start` configures.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub server_dir: PathBuf,
    pub host: Option<String>,
    pub client_port: Option<u16>,
    pub worker_port: Option<u16>,
    pub idle_timeout: Option<Duration>,
    pub journal: Option<PathBuf>,
    pub access_file: Option<PathBuf>,
    pub disable_client_auth: bool,
    pub disable_worker_auth: bool,
    /// Address both ports listen on: all interfaces for `hq server start`, loopback for the
    /// embedded server of `hq run`.
    pub listen: IpAddr,
    /// `--max-tasks-per-job`.
    pub max_tasks_per_job: u64,
    /// `--scheduler-time-limit`.
    pub scheduler_time_limit: Duration,
}

impl ServerOptions {
    /// Options for a server in `server_dir` with every other setting at its default.
    pub fn new(server_dir: PathBuf) -> Self {
        ServerOptions {
            server_dir,
            host: None,
            client_port: None,
            worker_port: None,
            idle_timeout: None,
            journal: None,
            access_file: None,
            disable_client_auth: false,
            disable_worker_auth: false,
            listen: IpAddr::from([0, 0, 0, 0]),
            max_tasks_per_job: DEFAULT_MAX_TASKS_PER_JOB,
            scheduler_time_limit: DEFAULT_SCHEDULER_TIME_LIMIT,
        }
    }
}

/// What a started server tells its caller (printed by `hq server start`).
pub struct StartedServer {
    pub run_dir: PathBuf,
    pub info: ServerInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Dir(#[from] serverdir::ServerDirError),
    #[error("cannot listen on port {port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

/// Binds the ports, writes `access.json`, and returns the running server's handle. The server
/// runs until a client asks it to stop or `shutdown` resolves.
pub async fn start(
    opts: ServerOptions,
    on_started: impl FnOnce(&StartedServer),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let preset = match &opts.access_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ServerError::Other(format!("cannot read access file {}: {e}", path.display()))
            })?;
            Some(serverdir::read_access_file(path, &text)?)
        }
        None => None,
    };
    let host = opts
        .host
        .clone()
        .or_else(|| {
            preset
                .as_ref()
                .and_then(|p| p.client.as_ref().map(|c| c.host.clone()))
        })
        .unwrap_or_else(serverdir::local_hostname);
    let client_port = opts.client_port.or(preset
        .as_ref()
        .and_then(|p| p.client.as_ref().map(|c| c.port)));
    let worker_port = opts.worker_port.or(preset
        .as_ref()
        .and_then(|p| p.worker.as_ref().map(|c| c.port)));
    let client_listener = bind(opts.listen, client_port.unwrap_or(0)).await?;
    let worker_listener = bind(opts.listen, worker_port.unwrap_or(0)).await?;
    let client_port = client_listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let worker_port = worker_listener.local_addr().map(|a| a.port()).unwrap_or(0);

    let pick_key = |disabled: bool, preset_key: Option<Option<String>>| -> Option<String> {
        if disabled {
            None
        } else {
            preset_key
                .flatten()
                .or_else(|| Some(serverdir::new_secret()))
        }
    };
    let record = AccessRecord {
        version: HQ_VERSION.into(),
        server_uid: preset
            .as_ref()
            .map(|p| p.server_uid.clone())
            .filter(|uid| !uid.is_empty())
            .unwrap_or_else(serverdir::new_server_uid),
        client: Some(AccessPart {
            host: host.clone(),
            port: client_port,
            secret_key: pick_key(
                opts.disable_client_auth,
                preset
                    .as_ref()
                    .and_then(|p| p.client.as_ref().map(|c| c.secret_key.clone())),
            ),
        }),
        worker: Some(AccessPart {
            host: preset
                .as_ref()
                .and_then(|p| p.worker.as_ref().map(|w| w.host.clone()))
                .filter(|_| opts.host.is_none())
                .unwrap_or(host.clone()),
            port: worker_port,
            secret_key: pick_key(
                opts.disable_worker_auth,
                preset
                    .as_ref()
                    .and_then(|p| p.worker.as_ref().map(|c| c.secret_key.clone())),
            ),
        }),
    };
    let config = CoreConfig {
        idle_timeout_ms: opts.idle_timeout.map(|d| d.as_millis() as u64),
        max_tasks_per_job: opts.max_tasks_per_job,
        scheduler_time_limit: opts.scheduler_time_limit,
    };
    let mut core = ServerCore::new(placeholder_info(), config);
    core.info.server_uid = record.server_uid.clone();
    if let Some(path) = &opts.journal {
        let warnings = core
            .open_journal(path)
            .map_err(|e| ServerError::Other(e.to_string()))?;
        for w in warnings {
            log::warn!("{w}");
        }
    } else {
        let server_uid = core.info.server_uid.clone();
        core.commit(journal::JournalEvent::ServerStart { server_uid });
    }
    let mut record = record;
    record.server_uid = core.info.server_uid.clone();
    let run_dir = serverdir::create_run_dir(&opts.server_dir)?;
    serverdir::write_access_file(&run_dir.join(serverdir::ACCESS_FILE), &record)?;
    serverdir::link_current(&opts.server_dir, &run_dir)?;
    core.autoalloc
        .configure(run_dir.clone(), opts.server_dir.clone());
    if opts.disable_client_auth || opts.disable_worker_auth {
        log::warn!("!!! Authentication and encryption are DISABLED for some connections: anyone who can reach the ports can use this server !!!");
    }

    let info = ServerInfo {
        server_uid: core.info.server_uid.clone(),
        client_host: host.clone(),
        worker_host: record
            .worker
            .as_ref()
            .map(|w| w.host.clone())
            .unwrap_or_default(),
        client_port,
        worker_port,
        version: HQ_VERSION.into(),
        pid: std::process::id(),
        start_date: now_ms(),
        journal_path: opts.journal.as_ref().map(|p| p.display().to_string()),
    };
    on_started(&StartedServer {
        run_dir: run_dir.clone(),
        info: info.clone(),
    });

    let client_key = record.client.as_ref().and_then(|c| c.key().ok().flatten());
    let worker_key = record.worker.as_ref().and_then(|c| c.key().ok().flatten());
    core.info = info;
    actor::run(
        core,
        client_listener,
        worker_listener,
        [client_key, worker_key],
        shutdown,
    )
    .await;
    serverdir::unlink_current(&opts.server_dir, &run_dir);
    Ok(())
}

fn placeholder_info() -> ServerInfo {
    ServerInfo {
        server_uid: String::new(),
        client_host: String::new(),
        worker_host: String::new(),
        client_port: 0,
        worker_port: 0,
        version: HQ_VERSION.into(),
        pid: std::process::id(),
        start_date: now_ms(),
        journal_path: None,
    }
}

async fn bind(addr: IpAddr, port: u16) -> Result<TcpListener, ServerError> {
    TcpListener::bind((addr, port))
        .await
        .map_err(|source| ServerError::Bind { port, source })
}
