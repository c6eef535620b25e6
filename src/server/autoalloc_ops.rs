//! The I/O half of autoalloc: test submissions, submission batches, status queries and
//! cancellations, each run as its own task; results come back to the actor as events. Also the
//! knobs read from the environment.

use super::actor::Event;
use crate::autoalloc::manager::{
    manager_for, CommandRunner, CountingRunner, ProcessRunner, QueueManager, SubmitSpec,
};
use crate::autoalloc::tracking::StatusAnswer;
use crate::autoalloc::{AllocationId, QueueId, QueueParams, SubmitFailure};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// What a finished operation reports to the actor.
#[derive(Debug)]
pub enum AllocResult {
    DryRunDone {
        token: u64,
        params: Box<QueueParams>,
        /// `hq alloc add` (create the queue on success) rather than `hq alloc dry-run`.
        create: bool,
        outcome: Result<(), SubmitFailure>,
        commands: u32,
    },
    Submitted {
        queue: QueueId,
        index: u32,
        workers: u32,
        workdir: String,
        outcome: Result<AllocationId, SubmitFailure>,
        commands: u32,
    },
    Cancelled {
        queue: QueueId,
        id: AllocationId,
        outcome: Result<(), SubmitFailure>,
        commands: u32,
    },
    /// A batch of cancellations and submissions of a queue is over.
    BatchDone {
        queue: QueueId,
        /// The batch was `hq alloc remove`: remove the queue and answer this client.
        remove: Option<u64>,
    },
    Status {
        queue: QueueId,
        answers: Vec<(AllocationId, StatusAnswer)>,
        commands: u32,
    },
}

/// Test knobs and intervals (autoalloc.md), from `HQ_AUTOALLOC_*` variables.
#[derive(Clone, Debug)]
pub struct Knobs {
    /// Status queries of queues whose allocations all run.
    pub refresh_running_ms: u64,
    /// Status queries of queues with queued allocations (these change without telling us).
    pub refresh_queued_ms: u64,
    /// A scheduling pass at least this often.
    pub max_schedule_delay_ms: u64,
    /// How often the periodic checks run.
    pub tick_ms: u64,
    /// Passes after events at most this often.
    pub min_pass_gap_ms: u64,
    pub command_timeout: Duration,
}

impl Knobs {
    pub fn from_env() -> Knobs {
        let ms = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        let running = ms("HQ_AUTOALLOC_REFRESH_INTERVAL_MS", 30 * 60_000);
        Knobs {
            refresh_running_ms: running,
            refresh_queued_ms: ms(
                "HQ_AUTOALLOC_QUEUED_REFRESH_INTERVAL_MS",
                running.min(60_000),
            ),
            max_schedule_delay_ms: ms("HQ_AUTOALLOC_MAX_SCHEDULE_DELAY_MS", 30_000),
            tick_ms: ms("HQ_AUTOALLOC_SCHEDULE_TICK_INTERVAL_MS", 5_000),
            min_pass_gap_ms: 500,
            command_timeout: Duration::from_millis(ms("HQ_AUTOALLOC_COMMAND_TIMEOUT_MS", 120_000)),
        }
    }
}

/// Limits of the decision core from `HQ_AUTOALLOC_*` variables.
pub fn limits_from_env() -> crate::autoalloc::limiter::LimitsConfig {
    let mut c = crate::autoalloc::limiter::LimitsConfig::default();
    let num = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse().ok());
    if let Some(n) = num("HQ_AUTOALLOC_MAX_ALLOCATION_FAILS") {
        c.max_allocation_fails = n;
    }
    if let Some(n) = num("HQ_AUTOALLOC_MAX_SUBMISSION_FAILS") {
        c.max_submission_fails = n;
    }
    if let Ok(list) = std::env::var("HQ_AUTOALLOC_DELAYS_MS") {
        let delays: Option<Vec<u64>> = list.split(',').map(|d| d.trim().parse().ok()).collect();
        if let Some(d) = delays.filter(|d| !d.is_empty()) {
            c.delays_ms = d;
        }
    }
    c
}

/// What operations need from the running server.
pub struct OpsContext {
    pub events: UnboundedSender<Event>,
    pub runner: ProcessRunner,
    pub run_dir: PathBuf,
    /// Given to workers, so they find a restarted server through `hq-current`.
    pub server_dir: PathBuf,
    pub hq_path: String,
    pub rust_log: Option<String>,
}

impl OpsContext {
    fn send(&self, r: AllocResult) {
        let _ = self.events.send(Event::AutoAlloc(r));
    }

    /// `<run dir>/autoalloc/<queue-id>[-<name>]/<NNN>`.
    pub fn allocation_dir(&self, queue: QueueId, params: &QueueParams, index: u32) -> PathBuf {
        let queue_dir = match &params.name {
            Some(name) => format!("{queue}-{name}"),
            None => queue.to_string(),
        };
        self.run_dir
            .join("autoalloc")
            .join(queue_dir)
            .join(format!("{index:03}"))
    }

    fn worker_command(&self, params: &QueueParams) -> String {
        params.worker_command(
            &self.hq_path,
            &self.server_dir.display().to_string(),
            self.rust_log.as_deref(),
        )
    }
}

/// Writes the script into `dir` and submits it; the ID also goes into `dir/jobid`.
async fn submit_in(
    runner: &dyn CommandRunner,
    manager: &dyn QueueManager,
    spec: &SubmitSpec<'_>,
) -> Result<AllocationId, SubmitFailure> {
    let script_path = spec.dir.join("hq-submit.sh");
    let io_failure = |e: std::io::Error| SubmitFailure {
        command: format!("write {}", script_path.display()),
        message: format!("cannot write the submission script: {e}"),
        script: Some(script_path.display().to_string()),
        ..Default::default()
    };
    tokio::fs::create_dir_all(spec.dir)
        .await
        .map_err(io_failure)?;
    tokio::fs::write(&script_path, manager.script(spec))
        .await
        .map_err(io_failure)?;
    let id = manager
        .submit(runner, &script_path, spec.dir)
        .await
        .map_err(|mut f| {
            f.script = Some(script_path.display().to_string());
            f
        })?;
    let _ = tokio::fs::write(spec.dir.join("jobid"), format!("{id}\n")).await;
    Ok(id)
}

/// `hq alloc add/dry-run`: submits one allocation of the largest size and cancels it.
pub async fn dry_run(
    ctx: std::sync::Arc<OpsContext>,
    token: u64,
    params: Box<QueueParams>,
    create: bool,
    dir: PathBuf,
) {
    let manager = manager_for(params.manager);
    let runner = CountingRunner::new(&ctx.runner);
    let command = ctx.worker_command(&params);
    let name = format!("{}-dry-run", params.name.as_deref().unwrap_or("hq"));
    let spec = SubmitSpec {
        params: &params,
        name: &name,
        workers: params.max_workers_per_alloc,
        dir: &dir,
        worker_command: &command,
        dry_run: true,
    };
    let outcome = match submit_in(&runner, manager.as_ref(), &spec).await {
        Ok(id) => match manager.cancel(&runner, &id).await {
            Ok(()) => {
                let _ = tokio::fs::remove_dir_all(&dir).await;
                Ok(())
            }
            Err(mut f) => {
                f.message = format!(
                    "the test allocation {id} could not be cancelled: {}",
                    f.message
                );
                f.script = Some(dir.join("hq-submit.sh").display().to_string());
                Err(f)
            }
        },
        Err(f) => Err(f),
    };
    let commands = runner.count();
    ctx.send(AllocResult::DryRunDone {
        token,
        params,
        create,
        outcome,
        commands,
    });
}

/// One submission of a batch: (index, workers).
pub type PlannedSubmit = (u32, u32);

/// Cancels, then submits one allocation after another (stopping at the first failure).
pub async fn run_batch(
    ctx: std::sync::Arc<OpsContext>,
    queue: QueueId,
    params: QueueParams,
    cancels: Vec<AllocationId>,
    submits: Vec<PlannedSubmit>,
    remove: Option<u64>,
) {
    let manager = manager_for(params.manager);
    for id in cancels {
        let runner = CountingRunner::new(&ctx.runner);
        let outcome = manager.cancel(&runner, &id).await;
        let commands = runner.count();
        ctx.send(AllocResult::Cancelled {
            queue,
            id,
            outcome,
            commands,
        });
    }
    let command = ctx.worker_command(&params);
    for (index, workers) in submits {
        let dir = ctx.allocation_dir(queue, &params, index);
        let name = params.allocation_name(queue, index);
        let spec = SubmitSpec {
            params: &params,
            name: &name,
            workers,
            dir: &dir,
            worker_command: &command,
            dry_run: false,
        };
        let runner = CountingRunner::new(&ctx.runner);
        let outcome = submit_in(&runner, manager.as_ref(), &spec).await;
        let failed = outcome.is_err();
        let commands = runner.count();
        ctx.send(AllocResult::Submitted {
            queue,
            index,
            workers,
            workdir: dir.display().to_string(),
            outcome,
            commands,
        });
        if failed {
            break;
        }
    }
    ctx.send(AllocResult::BatchDone { queue, remove });
}

/// One status query for the given allocations of a queue.
pub async fn query_status(
    ctx: std::sync::Arc<OpsContext>,
    queue: QueueId,
    params: QueueParams,
    ids: Vec<AllocationId>,
) {
    let manager = manager_for(params.manager);
    let runner = CountingRunner::new(&ctx.runner);
    let answers = manager.status(&runner, &ids).await;
    let commands = runner.count();
    ctx.send(AllocResult::Status {
        queue,
        answers,
        commands,
    });
}

/// Server shutdown: cancels allocations, waiting at most `limit` in total; returns those that
/// were cancelled.
pub async fn cancel_all(
    ctx: &OpsContext,
    all: Vec<(QueueId, QueueParams, AllocationId)>,
    limit: Duration,
) -> Vec<(QueueId, AllocationId)> {
    let mut cancelled = Vec::new();
    let work = async {
        for (queue, params, id) in all {
            match manager_for(params.manager).cancel(&ctx.runner, &id).await {
                Ok(()) => {
                    log::info!("Allocation {id} was cancelled");
                    cancelled.push((queue, id));
                }
                Err(f) => log::warn!("Cannot cancel allocation {id}: {}", f.describe()),
            }
        }
    };
    if tokio::time::timeout(limit, work).await.is_err() {
        log::warn!("Cancelling allocations took longer than {limit:?}; some may still run");
    }
    cancelled
}

/// Deletes directories of old finished allocations.
pub fn prune_dirs(dirs: Vec<String>) {
    if dirs.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for d in dirs {
            if Path::new(&d).exists() {
                if let Err(e) = tokio::fs::remove_dir_all(&d).await {
                    log::debug!("cannot remove allocation directory {d}: {e}");
                }
            }
        }
    });
}
