//! The server's state machine, owned by one actor task and driven without sockets.
//!
//! State comes in two kinds:
//! - **journaled**: jobs with their tasks, the ID counters, the server UID. It changes only in
//!   [`ServerCore::apply`] (apply.rs), which replay and live handling share;
//! - **runtime**: connected workers, the scheduler's queues and placements, waiting clients,
//!   event streams. It is rebuilt or dropped on restart, and follows the journaled state through
//!   the [`Effect`]s that `apply` emits.
//!
//! Nothing here touches a socket: messages leave through [`Outbox`], which the actor drains.

use super::outbox::{Effect, Outbox, Reply};
use super::state::Job;
use crate::protocol::messages::*;
use crate::scheduler::Scheduler;
use std::collections::BTreeMap;

/// Default of `hq server start --max-tasks-per-job`.
pub const DEFAULT_MAX_TASKS_PER_JOB: u64 = 50_000_000;

/// Default of `hq server start --scheduler-time-limit`.
pub const DEFAULT_SCHEDULER_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Limits and defaults the core enforces (from `hq server start` flags).
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Default idle timeout sent to workers that have none.
    pub idle_timeout_ms: Option<u64>,
    /// Most tasks one job may hold; a submission that would exceed it is refused before
    /// anything is allocated.
    pub max_tasks_per_job: u64,
    /// Longest one scheduling pass may keep placing tasks; the rest waits for the next pass,
    /// which the actor runs right after handling the events that came in meanwhile.
    pub scheduler_time_limit: std::time::Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            idle_timeout_ms: None,
            max_tasks_per_job: DEFAULT_MAX_TASKS_PER_JOB,
            scheduler_time_limit: DEFAULT_SCHEDULER_TIME_LIMIT,
        }
    }
}

/// A connected (or formerly connected) worker. Runtime state: not restored from the journal.
pub struct WorkerEntry {
    pub info: WorkerInfo,
    /// False once the worker is lost; the actor drops messages to it.
    pub connected: bool,
    /// Bodies this worker holds, so each is sent once.
    pub bodies_sent: rustc_hash::FxHashSet<BodyKey>,
    /// Core clock (ms) of the last message from the worker.
    pub last_heartbeat: u64,
    /// Set when the worker told us why it leaves, so the disconnect gets that reason.
    pub leaving: Option<WorkerState>,
    /// What the worker was last told with `SetReserved`.
    pub reserved: bool,
}

/// A client waiting for jobs to complete (`hq job wait`, `--progress`).
pub struct Waiter {
    /// The waited jobs' current state, updated when one of them changes.
    pub jobs: Vec<JobProgress>,
    /// What the client was last told (`Progress` carries only the jobs that differ).
    pub sent: Vec<JobProgress>,
    /// The first check happened (and, with `progress`, the first full message was sent).
    pub started: bool,
    pub without_close: bool,
    pub progress: bool,
    /// Forward `hq task notify` messages of the waited jobs.
    pub notifications: bool,
    pub reply: Reply,
    /// Core clock (ms) of the last progress message.
    pub last_sent_at: Option<u64>,
    pub missing: crate::common::idset::IdSet,
}

pub struct ServerCore {
    // --- journaled state -------------------------------------------------------------------
    pub jobs: BTreeMap<JobId, Job>,
    pub next_job_id: JobId,
    pub next_worker_id: WorkerId,
    pub info: ServerInfo,

    // --- runtime state ---------------------------------------------------------------------
    pub config: CoreConfig,
    pub workers: BTreeMap<WorkerId, WorkerEntry>,
    pub scheduler: Scheduler,
    pub waiters: Vec<Waiter>,
    /// Clients of `hq journal stream`, sent every committed event.
    pub event_streams: Vec<Reply>,
    /// Jobs whose task counts changed since waiters were last checked.
    pub changed_jobs: rustc_hash::FxHashSet<JobId>,
    /// Consequences of applied events, run by [`ServerCore::run_effects`] (dropped in replay).
    pub effects: Vec<Effect>,
    /// Messages leaving the core; the actor drains it after each round.
    pub outbox: Outbox,
    pub needs_schedule: bool,
    /// The last pass stopped at the time limit: the actor schedules again without waiting
    /// for an event.
    pub pass_cut_short: bool,
    pub stopping: bool,
    /// The event journal, when the server runs with `--journal`.
    pub journal: Option<super::journal::Journal>,
    /// Without a journal: the most recent events, for `hq journal replay/stream`.
    pub history: super::history::EventHistory,
    /// The clock (ms since the Unix epoch) for everything handled now; set by the actor before
    /// each event, by tests at will.
    pub now: u64,
    /// Allocation queues (`hq alloc`); their state is journaled through
    /// `JournalEvent::Autoalloc`.
    pub autoalloc: super::autoalloc::AutoAllocService,
    /// `hq dashboard` subscribers and recent worker reports.
    pub dashboard: super::dashboard::DashboardHub,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl ServerCore {
    pub fn new(info: ServerInfo, config: CoreConfig) -> Self {
        ServerCore {
            jobs: BTreeMap::new(),
            next_job_id: 1,
            next_worker_id: 1,
            info,
            config,
            workers: BTreeMap::new(),
            scheduler: Scheduler::new(),
            waiters: Vec::new(),
            event_streams: Vec::new(),
            changed_jobs: Default::default(),
            effects: Vec::new(),
            outbox: Outbox::default(),
            needs_schedule: false,
            pass_cut_short: false,
            stopping: false,
            journal: None,
            history: Default::default(),
            now: now_ms(),
            autoalloc: super::autoalloc::AutoAllocService::new(),
            dashboard: Default::default(),
        }
    }

    /// Whether a worker is connected (and so may receive messages and tasks).
    pub fn is_connected(&self, worker: WorkerId) -> bool {
        self.workers.get(&worker).is_some_and(|w| w.connected)
    }

    /// Checks every invariant between the journaled state, the scheduler and the workers;
    /// panics with a description when one is broken. Tests call it after every step.
    pub fn sanity_check(&self) {
        self.scheduler.sanity_check();
        let mut ready = 0;
        let mut running = 0;
        for (id, job) in &self.jobs {
            assert_eq!(*id, job.id, "job stored under another ID");
            assert!(*id < self.next_job_id, "job {id} not below the job counter");
            job.sanity_check();
            for t in &job.tasks {
                let key = crate::scheduler::TaskKey {
                    job: *id,
                    task: t.id,
                };
                if let Some(w) = self.scheduler.queued_on(key) {
                    assert!(
                        t.is_assigned() && t.worker == w && self.is_connected(w),
                        "task {id}/{} queued on worker {w} but {:?}",
                        t.id,
                        t.status
                    );
                }
                match t.status {
                    TaskStatus::Waiting if t.unfinished_deps == 0 => ready += 1,
                    TaskStatus::Running => {
                        running += 1;
                        let placed = self.scheduler.is_running(key)
                            || self.scheduler.queued_on(key).is_some();
                        assert!(
                            placed || !self.is_connected(t.worker),
                            "task {id}/{} runs on connected worker {} unknown to the scheduler",
                            t.id,
                            t.worker
                        );
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(
            self.scheduler.ready_count(),
            ready,
            "ready queue length differs from the waiting tasks without unfinished dependencies"
        );
        assert!(
            self.scheduler.running_count() + self.scheduler.queued_count() <= running,
            "the scheduler places tasks that are not running"
        );
        for (id, w) in &self.workers {
            assert!(
                *id < self.next_worker_id,
                "worker {id} not below the worker counter"
            );
            assert_eq!(
                w.connected,
                self.scheduler.worker_ids().contains(id),
                "worker {id}: connected and scheduled disagree"
            );
        }
        assert!(self.effects.is_empty(), "effects left unprocessed");
    }
}
