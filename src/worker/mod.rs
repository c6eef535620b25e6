//! The worker: connects to the server, registers its resources, runs assigned tasks as real
//! processes, reports results in batches, and stops on idle timeout, time limit or request.

pub mod env;
mod exec;
pub mod gpu;
pub mod hwdetect;
pub mod launcher;
mod mailbox;
pub mod manager;
mod notify;
pub mod overview;
pub mod queue;
pub mod reaper;
mod report;
pub mod spawn;
mod start;
pub mod streamer;

use self::env::WorkerContext;
use crate::common::serverdir;
use crate::protocol::messages::*;
use crate::protocol::{handshake, FrameReceiver, FrameSender, ProtocolError};
use crate::resources::ResourceDescriptor;
use rustc_hash::FxHashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

#[derive(Clone, Debug)]
pub struct WorkerOptions {
    pub server_dir: PathBuf,
    pub resources: ResourceDescriptor,
    pub group: String,
    pub hostname: String,
    pub work_dir: PathBuf,
    pub heartbeat: Duration,
    pub idle_timeout: Option<Duration>,
    pub time_limit: Option<Duration>,
    /// How often queued tasks are checked against the remaining lifetime (`queue.rs`).
    pub retract_check_interval: Duration,
    pub on_server_lost: String,
    /// `--min-utilization` (0 to 1).
    pub min_utilization: crate::resources::ResourceAmount,
    /// The PBS/Slurm allocation the worker runs in.
    pub allocation: Option<WorkerAllocation>,
    /// Period of hardware reports (`--overview-interval`); `None` = off.
    pub overview_interval: Option<Duration>,
    /// Benchmark mode: complete every task at once without starting a process.
    pub noop_tasks: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Dir(#[from] serverdir::ServerDirError),
    #[error(
        "No running instance of HQ found at {0:?}.\nTry to start the server: `hq server start`"
    )]
    NoServer(PathBuf),
    #[error("cannot connect to the server at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("the server refused the registration")]
    Refused,
}

/// Why the worker ended.
#[derive(Debug, PartialEq, Eq)]
pub enum WorkerExit {
    Stopped,
    IdleTimeout,
    TimeLimit,
    ServerLost,
    /// Stopped by SIGINT: the server was told (`STOPPED`).
    Signal,
    /// Terminated by SIGTERM: tasks were killed and the connection dropped without a goodbye,
    /// so the server sees `CONNECTION LOST`, as for a worker killed by the OS.
    Terminated,
}

/// How the local shutdown request (a signal, or `hq run` ending) wants the worker to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Tell the server, which records `STOPPED` and requeues the tasks without a crash.
    Stop,
    /// Leave without a word (SIGTERM): the server records `CONNECTION LOST`.
    Terminate,
}

type ExecutionKey = (JobId, TaskId, InstanceId);
type RunningTasks = FxHashMap<ExecutionKey, Running>;

/// A running execution as the worker loop knows it (or a task handed over to start when its
/// predecessor's process exits, see `start.rs`).
/// Its entry stays until its result is sent (a task queued behind it starts then).
struct Running {
    /// Stops it; taken once the stop is asked for.
    cancel: Option<oneshot::Sender<()>>,
    /// Proves a notification comes from this execution (part of its `HQ_ACCESS_KEY`).
    secret: String,
    /// Its process's exec-thread slot, once it runs there.
    link: Arc<std::sync::OnceLock<Arc<exec::Slot>>>,
    /// The task handed over behind it.
    next: Option<ExecutionKey>,
    /// Set while it waits for its predecessor's report.
    handed: Option<start::Handed>,
}

/// Where task executions report: their start (process running) and their result.
struct TaskSenders {
    done: mpsc::UnboundedSender<TaskResult>,
    started: mpsc::UnboundedSender<ExecutionKey>,
}

/// The program tasks see as `$HQ`, when it is not this executable: the Python package's `hq`
/// command runs inside the interpreter, so its executable is `python`.
static HQ_BINARY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets what tasks see as `$HQ` (once per process; later calls are ignored).
pub fn set_hq_binary(path: String) {
    let _ = HQ_BINARY.set(path);
}

fn hq_binary() -> String {
    match HQ_BINARY.get() {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "hq".into()),
    }
}

/// Connects, registers and runs until the worker stops; `on_registered` sees the ID and config.
pub async fn run(
    opts: WorkerOptions,
    on_registered: impl FnOnce(WorkerId, &WorkerConfiguration),
    shutdown: impl std::future::Future<Output = Shutdown>,
) -> Result<WorkerExit, WorkerError> {
    // The first hardware report (a prime sample, then one at most 250 ms later) is taken
    // before registering and sent right after, so a worker that clients see registered shows
    // its hardware from the start.
    let mut overview = opts.overview_interval.map(|every| {
        let has = |name: &str| opts.resources.resources.iter().any(|r| r.name == name);
        let gpus = overview::GpuKinds {
            nvidia: has(crate::resources::NVIDIA_GPU_RESOURCE_NAME),
            amd: has(crate::resources::AMD_GPU_RESOURCE_NAME),
        };
        overview::spawn(every, gpus)
    });
    let first_overview = match overview.as_mut() {
        Some(rx) => rx.recv().await,
        None => None,
    };
    let reg = register(&opts, &[], Duration::ZERO).await?;
    on_registered(reg.worker_id, &reg.config);
    let ctx = Arc::new(WorkerContext {
        worker_id: reg.worker_id,
        server_uid: reg.server_uid,
        hostname: opts.hostname.clone(),
        work_dir: opts.work_dir.clone(),
        resources: opts.resources.clone(),
        hq_path: hq_binary(),
        mailbox: Default::default(),
    });
    let idle_timeout = opts
        .idle_timeout
        .or(reg.server_idle_timeout_ms.map(Duration::from_millis));
    let (notify_tx, notify_rx) = mpsc::unbounded_channel();
    let mut lp = WorkerLoop {
        ctx,
        overview,
        first_overview,
        opts,
        idle_timeout,
        bodies: FxHashMap::default(),
        running: FxHashMap::default(),
        queue: Default::default(),
        handed: 0,
        late: Vec::new(),
        reserved: false,
        started: Instant::now(),
        notify_socket: notify::listen(notify_tx).unwrap_or_default(),
        notify_rx,
    };
    let mut shutdown = Box::pin(shutdown);
    let (mut sender, mut receiver) = (reg.sender, reg.receiver);
    let mut server_has_journal = reg.server_has_journal;
    loop {
        let exit = lp.run(sender, receiver, &mut shutdown).await?;
        // Without a journal a new server would not know this worker's tasks: nothing to wait for.
        if exit != WorkerExit::ServerLost
            || lp.opts.on_server_lost != "finish-running"
            || !server_has_journal
        {
            return Ok(exit);
        }
        // Running tasks have finished; wait for a server restored from its journal.
        let wait = lp.idle_timeout.unwrap_or(RECONNECT_WINDOW);
        log::warn!("Lost the connection to the server; trying to reconnect for {wait:?}");
        let Some(reg) = reconnect(&lp.opts, wait, &lp.late, lp.started.elapsed()).await else {
            return Ok(exit);
        };
        lp.late.clear();
        log::info!("Reconnected to the server as worker {}", reg.worker_id);
        let old = &lp.ctx;
        lp.ctx = Arc::new(WorkerContext {
            worker_id: reg.worker_id,
            server_uid: reg.server_uid,
            hostname: old.hostname.clone(),
            work_dir: old.work_dir.clone(),
            resources: old.resources.clone(),
            hq_path: old.hq_path.clone(),
            mailbox: old.mailbox.clone(),
        });
        server_has_journal = reg.server_has_journal;
        (sender, receiver) = (reg.sender, reg.receiver);
    }
}

/// How long a worker with `--on-server-lost finish-running` waits for the server to come back
/// when it has no idle timeout.
const RECONNECT_WINDOW: Duration = Duration::from_secs(300);

/// A registered connection and what the server said about itself.
struct Registration {
    sender: FrameSender,
    receiver: FrameReceiver,
    worker_id: WorkerId,
    config: WorkerConfiguration,
    server_uid: String,
    server_idle_timeout_ms: Option<u64>,
    server_has_journal: bool,
}

/// Retries registration until it succeeds or `window` passes.
async fn reconnect(
    opts: &WorkerOptions,
    window: Duration,
    late: &[TaskResult],
    lived: Duration,
) -> Option<Registration> {
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Ok(conn) = register(opts, late, lived).await {
            return Some(conn);
        }
    }
    None
}

/// Connects to the server named by the server directory and registers; `lived` is how long the
/// worker has run (a reconnecting worker reports the rest of its time limit).
async fn register(
    opts: &WorkerOptions,
    late: &[TaskResult],
    lived: Duration,
) -> Result<Registration, WorkerError> {
    let dir = serverdir::resolve_active_dir(&opts.server_dir);
    let record = serverdir::read_access(&dir)?
        .ok_or_else(|| WorkerError::NoServer(opts.server_dir.clone()))?;
    let part = record
        .worker_part(&dir.join(serverdir::ACCESS_FILE))?
        .clone();
    let key = part
        .key()
        .map_err(|reason| serverdir::ServerDirError::Invalid {
            path: dir.join("access.json"),
            reason,
        })?;
    let addr = format!("{}:{}", part.host, part.port);
    let stream = TcpStream::connect(&addr)
        .await
        .map_err(|source| WorkerError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let local_port = stream.local_addr().map_or(0, |a| a.port());
    let (mut sender, mut receiver) = handshake(stream, "worker", "server", key.as_ref()).await?;
    std::fs::create_dir_all(&opts.work_dir).ok();
    let config = WorkerConfiguration {
        hostname: opts.hostname.clone(),
        work_dir: opts.work_dir.display().to_string(),
        group: opts.group.clone(),
        resources: opts.resources.clone(),
        heartbeat_ms: opts.heartbeat.as_millis() as u64,
        idle_timeout_ms: opts.idle_timeout.map(|d| d.as_millis() as u64),
        time_limit_ms: opts
            .time_limit
            .map(|d| d.saturating_sub(lived).as_millis() as u64),
        on_server_lost: opts.on_server_lost.clone(),
        pid: std::process::id(),
        listen_address: format!("{}:{local_port}", opts.hostname),
        min_utilization: opts.min_utilization,
        allocation: opts.allocation.clone(),
        overview_interval_ms: opts.overview_interval.map(|d| d.as_millis() as u64),
    };
    let late_results = late.to_vec();
    sender
        .send(&FromWorker::Register {
            config: Box::new(config.clone()),
            late_results,
        })
        .await?;
    let Some(ToWorker::Registered {
        worker_id,
        server_uid,
        server_idle_timeout_ms,
        server_has_journal,
    }) = receiver.recv().await?
    else {
        return Err(WorkerError::Refused);
    };
    Ok(Registration {
        sender,
        receiver,
        worker_id,
        config,
        server_uid,
        server_idle_timeout_ms,
        server_has_journal,
    })
}

/// The next hardware report; never resolves when reports are off.
async fn next_report(
    rx: &mut Option<mpsc::UnboundedReceiver<Box<HwState>>>,
) -> Option<Box<HwState>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

struct WorkerLoop {
    ctx: Arc<WorkerContext>,
    /// Hardware reports from the overview thread (`--overview-interval`).
    overview: Option<mpsc::UnboundedReceiver<Box<HwState>>>,
    /// The report taken before registering, sent first.
    first_overview: Option<Box<HwState>>,
    opts: WorkerOptions,
    idle_timeout: Option<Duration>,
    bodies: FxHashMap<BodyKey, Arc<BodyMsg>>,
    running: RunningTasks,
    /// Tasks queued behind running executions.
    queue: queue::TaskQueue,
    /// Entries of `running` handed over behind a running process and not yet released.
    handed: usize,
    /// Results that could not be sent while the server was away; sent after reconnecting.
    late: Vec<TaskResult>,
    /// Held for a multi-node task (`SetReserved`): no idle timeout meanwhile.
    reserved: bool,
    started: Instant,
    /// Name of the `hq task notify` listener (empty: none) and its requests.
    notify_socket: String,
    notify_rx: mpsc::UnboundedReceiver<notify::NotifyRequest>,
}

impl WorkerLoop {
    async fn run(
        &mut self,
        mut sender: FrameSender,
        mut receiver: FrameReceiver,
        shutdown: impl std::future::Future<Output = Shutdown>,
    ) -> Result<WorkerExit, WorkerError> {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<TaskResult>();
        let (started_tx, mut started_rx) = mpsc::unbounded_channel::<ExecutionKey>();
        let senders = TaskSenders {
            done: done_tx,
            started: started_tx,
        };
        let mut heartbeat = tokio::time::interval(self.opts.heartbeat);
        let started = self.started;

        let mut idle_since = Instant::now();
        let mut check = tokio::time::interval(Duration::from_millis(200));
        let mut retract_check = tokio::time::interval(self.opts.retract_check_interval);
        let mut unsent = report::Unsent::default();
        // Taken out for the loop (the select below borrows it), put back at the end.
        let mut notify_rx = std::mem::replace(&mut self.notify_rx, mpsc::unbounded_channel().1);
        if let Some(state) = self.first_overview.take() {
            sender.send(&FromWorker::Overview(state)).await?;
        }
        let mut overview = self.overview.take();
        let mailbox = self.ctx.mailbox.clone();
        mailbox.set_direct(false);
        let mut collect_at = None;
        tokio::pin!(shutdown);
        let exit = loop {
            tokio::select! {
                Some(state) = next_report(&mut overview) => {
                    sender.send(&FromWorker::Overview(state)).await?;
                }
                msg = receiver.recv::<ToWorker>() => match msg {
                    Ok(Some(ToWorker::Stop)) => {
                        let _ = unsent.flush(&mut sender).await;
                        break WorkerExit::Stopped;
                    }
                    Ok(Some(ToWorker::SetReserved(held))) => {
                        self.reserved = held;
                        idle_since = Instant::now();
                    }
                    Ok(Some(msg)) => {
                        if let Some(reply) = self.on_message(msg, &senders) {
                            sender.send(&reply).await?;
                        }
                    }
                    Ok(None) | Err(_) => {
                        if self.opts.on_server_lost == "finish-running" {
                            mailbox.set_direct(true);
                            self.late.append(&mut unsent.take_results());
                            self.finish_running(&mut done_rx).await;
                        }
                        break WorkerExit::ServerLost;
                    }
                },
                Some(key) = started_rx.recv() => {
                    self.started(key, &mut unsent, &senders);
                    while let Ok(key) = started_rx.try_recv() {
                        self.started(key, &mut unsent, &senders);
                    }
                    unsent.arm();
                }
                Some(result) = done_rx.recv() => {
                    // A task reports its start before its result: take pending starts first.
                    while let Ok(key) = started_rx.try_recv() {
                        self.started(key, &mut unsent, &senders);
                    }
                    self.ended(result, &mut unsent, &senders);
                    while let Ok(result) = done_rx.try_recv() {
                        self.ended(result, &mut unsent, &senders);
                    }
                    if self.running.is_empty() {
                        idle_since = Instant::now();
                    }
                    match self.report_now() {
                        true => unsent.flush(&mut sender).await?,
                        false => unsent.arm(),
                    }
                }
                _ = report::until(unsent.deadline()) => unsent.flush(&mut sender).await?,
                how = mailbox::next(collect_at, &mailbox) => {
                    let reports = mailbox::Reports { started: &mut started_rx, done: &mut done_rx };
                    self.collect(how, &mut collect_at, reports, &mut unsent, &senders, &mut sender).await?;
                    if self.running.is_empty() {
                        idle_since = Instant::now();
                    }
                }
                Some(req) = notify_rx.recv() => {
                    let result = self.notification(req.key, req.message);
                    if let Ok(msg) = &result {
                        sender.send(msg).await?;
                    }
                    let _ = req.ack.send(result.map(|_| ()));
                }
                _ = heartbeat.tick() => sender.send(&FromWorker::Heartbeat).await?,
                _ = retract_check.tick() => {
                    if let Some(given) = self.expired_queued() {
                        sender.send(&FromWorker::Retracted(given)).await?;
                    }
                }
                _ = check.tick() => {
                    if self.opts.time_limit.is_some_and(|t| started.elapsed() >= t) {
                        let _ = unsent.flush(&mut sender).await;
                        let _ = sender.send(&FromWorker::Leaving(WorkerState::TimeLimitReached)).await;
                        break WorkerExit::TimeLimit;
                    }
                    let idle = self.running.is_empty() && !self.reserved;
                    if idle && self.idle_timeout.is_some_and(|t| idle_since.elapsed() >= t) {
                        let _ = unsent.flush(&mut sender).await;
                        let _ = sender.send(&FromWorker::Leaving(WorkerState::IdleTimeout)).await;
                        break WorkerExit::IdleTimeout;
                    }
                }
                how = &mut shutdown => {
                    if how == Shutdown::Terminate {
                        break WorkerExit::Terminated;
                    }
                    let _ = unsent.flush(&mut sender).await;
                    let _ = sender.send(&FromWorker::Leaving(WorkerState::Stopped)).await;
                    break WorkerExit::Signal;
                }
            }
            if !self.running.is_empty() {
                idle_since = Instant::now();
            }
        };
        self.notify_rx = notify_rx;
        self.overview = overview;
        mailbox.set_direct(true);
        self.stop_all(&mut done_rx).await;
        Ok(exit)
    }

    /// Handles a message from the server; returns the answer to send, if any.
    fn on_message(&mut self, msg: ToWorker, senders: &TaskSenders) -> Option<FromWorker> {
        match msg {
            ToWorker::Compute { bodies, tasks } => {
                for b in bodies {
                    self.bodies.insert(b.key, Arc::new(b));
                }
                for a in tasks {
                    match a.after {
                        Some(after) if self.queue.contains(&after) => self.queue.hold(after, a),
                        Some(after) if self.running.contains_key(&after) => {
                            self.start_behind(after, a, senders)
                        }
                        _ => self.start(a, senders),
                    }
                }
            }
            ToWorker::Cancel(keys) => {
                for key in keys {
                    if self.queue.remove(&key) || self.withdraw(&key) {
                        continue;
                    }
                    let running = self.running.get_mut(&key);
                    if let Some(cancel) = running.and_then(|r| r.cancel.take()) {
                        let _ = cancel.send(());
                    }
                }
            }
            ToWorker::Retract(keys) => {
                let given = keys
                    .into_iter()
                    .filter(|k| self.queue.remove(k) || self.withdraw(k))
                    .collect();
                return Some(FromWorker::Retracted(given));
            }
            ToWorker::ForgetJob(job) => self.bodies.retain(|k, _| k.0 != job),
            ToWorker::Registered { .. } | ToWorker::Stop | ToWorker::SetReserved(_) => {}
        }
        None
    }

    /// Lets running tasks end on their own (`--on-server-lost finish-running`).
    async fn finish_running(&mut self, done_rx: &mut mpsc::UnboundedReceiver<TaskResult>) {
        // Queued tasks never start: the server puts them back when it notices the loss.
        self.queue.clear();
        let mut parked = self.withdraw_all();
        self.late.append(&mut parked);
        while !self.running.is_empty() {
            match done_rx.recv().await {
                Some(r) => {
                    self.running.remove(&(r.job, r.task, r.instance));
                    self.late.push(r);
                }
                None => break,
            }
        }
        self.handed = 0;
    }

    /// Stops every running task and waits until their process groups are gone.
    async fn stop_all(&mut self, done_rx: &mut mpsc::UnboundedReceiver<TaskResult>) {
        self.queue.clear();
        self.withdraw_all();
        let mut pending = self.running.len();
        self.handed = 0;
        for (_, running) in self.running.drain() {
            if let Some(cancel) = running.cancel {
                let _ = cancel.send(());
            }
        }
        while pending > 0 {
            if done_rx.recv().await.is_none() {
                break;
            }
            pending -= 1;
        }
    }
}
