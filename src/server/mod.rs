//! The server: binds the client and worker ports, writes the access file, and runs the actor
//! that owns all state. Connection handlers only translate frames into events.

mod autoalloc;
mod autoalloc_ops;
mod autoalloc_requests;
mod conn;
mod core;
pub mod journal;
mod requests;
mod state;
mod tasks;

pub use self::core::now_ms;
pub use self::tasks::worker_state_reason as tasks_reason;

/// Resolves a selector against existing IDs: (selected, unknown requested).
pub fn select_ids(
    ids: impl Iterator<Item = u32> + Clone,
    selector: &IdSelector,
) -> (Vec<u32>, Vec<u32>) {
    ServerCore::select(ids, selector)
}

use self::core::ServerCore;
use crate::common::serverdir::{self, AccessPart, AccessRecord};
use crate::protocol::messages::*;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

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
}

/// Messages into the actor.
pub enum Event {
    Client(ClientRequest, mpsc::UnboundedSender<ClientResponse>),
    WorkerRegister(
        WorkerConfiguration,
        Vec<TaskResult>,
        mpsc::UnboundedSender<ToWorker>,
        oneshot::Sender<(WorkerId, ToWorker)>,
    ),
    Worker(WorkerId, FromWorker),
    WorkerDisconnected(WorkerId),
    /// A finished autoalloc operation (submission, status query, cancellation).
    AutoAlloc(autoalloc_ops::AllocResult),
    Tick,
    Shutdown,
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
    let client_listener = bind(client_port.unwrap_or(0)).await?;
    let worker_listener = bind(worker_port.unwrap_or(0)).await?;
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
    let mut core = ServerCore::new(
        placeholder_info(),
        opts.idle_timeout.map(|d| d.as_millis() as u64),
    );
    core.info.server_uid = record.server_uid.clone();
    if let Some(path) = &opts.journal {
        let warnings = core
            .open_journal(path)
            .map_err(|e| ServerError::Other(e.to_string()))?;
        for w in warnings {
            log::warn!("{w}");
        }
    }
    let mut record = record;
    record.server_uid = core.info.server_uid.clone();
    let run_dir = serverdir::create_run_dir(&opts.server_dir)?;
    serverdir::write_access_file(&run_dir.join(serverdir::ACCESS_FILE), &record)?;
    serverdir::link_current(&opts.server_dir, &run_dir)?;
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
    let (tx, rx) = mpsc::unbounded_channel();
    core.autoalloc.attach(autoalloc_ops::OpsContext {
        events: tx.clone(),
        runner: crate::autoalloc::manager::ProcessRunner {
            timeout: autoalloc_ops::Knobs::from_env().command_timeout,
        },
        run_dir: run_dir.clone(),
        server_dir: opts.server_dir.clone(),
        hq_path: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "hq".into()),
        rust_log: std::env::var("RUST_LOG").ok(),
    });
    tokio::spawn(conn::accept_clients(
        client_listener,
        client_key,
        tx.clone(),
    ));
    tokio::spawn(conn::accept_workers(
        worker_listener,
        worker_key,
        tx.clone(),
    ));
    let ticker = tx.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        loop {
            interval.tick().await;
            if ticker.send(Event::Tick).is_err() {
                break;
            }
        }
    });
    let stopper = tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopper.send(Event::Shutdown);
    });
    core.info = info;
    run_actor(core, rx).await;
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

async fn bind(port: u16) -> Result<TcpListener, ServerError> {
    TcpListener::bind(("0.0.0.0", port))
        .await
        .map_err(|source| ServerError::Bind { port, source })
}

/// The actor loop: handle every pending event, then schedule once and flush worker batches.
async fn run_actor(mut core: ServerCore, mut rx: mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = rx.recv().await {
        let mut stop = core.handle_event(event);
        while !stop {
            match rx.try_recv() {
                Ok(event) => stop = core.handle_event(event),
                Err(_) => break,
            }
        }
        if core.needs_schedule {
            core.schedule();
        }
        core.autoalloc.after_round(&core.scheduler, now_ms());
        core.flush_journal();
        core.autoalloc.send_replies();
        core.flush_outbox();
        core.notify_waiters(false);
        if stop {
            core.stopping = true;
            core.autoalloc.shutdown().await;
            for w in core.workers.values() {
                if let Some(tx) = &w.sender {
                    let _ = tx.send(ToWorker::Stop);
                }
            }
            core.record(journal::JournalEvent::ServerStop);
            core.flush_journal();
            log::info!("Stopping server");
            // Give the writer tasks a moment to deliver the stop messages.
            tokio::time::sleep(Duration::from_millis(50)).await;
            break;
        }
    }
}

impl ServerCore {
    /// Applies one event; returns true when the server must stop.
    fn handle_event(&mut self, event: Event) -> bool {
        match event {
            Event::Client(req, reply) => {
                matches!(self.handle_request(req, reply), requests::After::StopServer)
            }
            Event::WorkerRegister(config, late_results, sender, reply) => {
                self.on_results(late_results);
                let id = self.register_worker(config, sender);

                let msg = ToWorker::Registered {
                    worker_id: id,
                    server_uid: self.info.server_uid.clone(),
                    server_idle_timeout_ms: self.idle_timeout_ms,
                };
                let _ = reply.send((id, msg));
                false
            }
            Event::Worker(id, msg) => {
                self.on_worker_message(id, msg);
                false
            }
            Event::WorkerDisconnected(id) => {
                let reason = self
                    .workers
                    .get(&id)
                    .and_then(|w| w.leaving)
                    .unwrap_or(WorkerState::ConnectionLost);
                self.on_worker_lost(id, reason);
                false
            }
            Event::AutoAlloc(result) => {
                self.autoalloc.on_result(result, now_ms());
                false
            }
            Event::Tick => {
                self.check_heartbeats();
                self.notify_waiters(true);
                false
            }
            Event::Shutdown => true,
        }
    }

    fn register_worker(
        &mut self,
        config: WorkerConfiguration,
        sender: mpsc::UnboundedSender<ToWorker>,
    ) -> WorkerId {
        let id = self.next_worker_id;
        self.next_worker_id += 1;
        let deadline = config.time_limit_ms.map(|t| now_ms() + t);
        self.scheduler
            .add_worker(id, &config.resources, config.group.clone(), deadline);
        log::info!("Worker {id} registered from {}", config.hostname);
        self.record(journal::JournalEvent::WorkerConnected {
            id,
            hostname: config.hostname.clone(),
        });
        self.autoalloc.worker_connected(id, &config, now_ms());

        let info = WorkerInfo {
            id,
            state: WorkerState::Running,
            configuration: config,
            started_at: now_ms(),
            ended_at: None,
            running_tasks: 0,
            last_task_started: None,
        };
        self.workers.insert(
            id,
            core::WorkerEntry {
                info,
                sender: Some(sender),
                bodies_sent: Default::default(),
                last_heartbeat: std::time::Instant::now(),
                leaving: None,
            },
        );
        self.needs_schedule = true;
        id
    }

    fn on_worker_message(&mut self, id: WorkerId, msg: FromWorker) {
        if let Some(w) = self.workers.get_mut(&id) {
            w.last_heartbeat = std::time::Instant::now();
        }
        match msg {
            FromWorker::Results(results) => self.on_results(results),
            FromWorker::Heartbeat | FromWorker::Register { .. } => {}

            FromWorker::Leaving(reason) => {
                if let Some(w) = self.workers.get_mut(&id) {
                    w.leaving = Some(reason);
                }
                self.on_worker_lost(id, reason);
            }
        }
    }

    fn check_heartbeats(&mut self) {
        let lost: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| {
                w.sender.is_some()
                    && w.last_heartbeat.elapsed().as_millis() as u64
                        > 2 * w.info.configuration.heartbeat_ms.max(1)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            self.on_worker_lost(id, WorkerState::HeartbeatLost);
        }
    }
}
