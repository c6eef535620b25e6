//! `hq alloc add|dry-run|list|info|explain|log|pause|resume|remove`: automatic allocation
//! queues.

use super::alloc_print::{print_allocations, print_explain, print_queues};
use super::output::{print_log_lines, OutputMode};
use super::{connect, CliError, CliResult, GlobalOpts};
use crate::autoalloc::info::QueueInfo;
use crate::autoalloc::{AllocStatus, ManagerKind, QueueId, QueueParams, WorkerParams};
use crate::client::CommandLog;
use crate::common::duration::parse_duration;
use crate::resources::flags::worker_pools_from_cli;
use crate::worker::hwdetect::DetectKinds;
use clap::{Args, Subcommand, ValueEnum};
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum AllocCommand {
    /// Create an allocation queue that submits Slurm/PBS jobs starting workers on demand
    #[command(subcommand)]
    Add(ManagerArgs),
    /// Submit one test allocation with these parameters and cancel it at once
    #[command(subcommand)]
    DryRun(ManagerArgs),
    /// List allocation queues
    List,
    /// Show the allocations of a queue and its last decision
    Info {
        /// Queue ID
        queue: QueueId,
        /// Only allocations in this state
        #[arg(long, value_enum)]
        filter: Option<AllocFilter>,
    },
    /// Why a queue did (not) submit: its last decision, failures, manager commands
    Explain {
        /// Queue ID
        queue: QueueId,
    },
    /// Print the stdout or stderr of an allocation (the worker logs)
    #[command(alias = "cat")]
    Log {
        /// Allocation ID (the Slurm/PBS job ID)
        allocation: String,
        #[arg(value_enum)]
        channel: Channel,
    },
    /// Stop submitting allocations (those already submitted are tracked on)
    Pause { queue: QueueId },
    /// Submit allocations again (also after an automatic pause)
    Resume { queue: QueueId },
    /// Remove a queue and cancel its allocations
    Remove {
        queue: QueueId,
        /// Remove even when allocations are running (they are cancelled)
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ManagerArgs {
    /// Submit through Slurm (`sbatch`, `squeue`, `scontrol`, `scancel`)
    Slurm(Box<QueueArgs>),
    /// Submit through PBS (`qsub`, `qstat`, `qdel`)
    Pbs(Box<QueueArgs>),
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum AllocFilter {
    Queued,
    Running,
    Finished,
    Failed,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Channel {
    Stdout,
    Stderr,
}

/// Flags of `hq alloc add/dry-run slurm|pbs`.
#[derive(Args, Debug)]
pub struct QueueArgs {
    /// Walltime of each allocation (`1h`, `HH:MM:SS`)
    #[arg(short = 't', long, value_parser = parse_duration)]
    pub time_limit: Duration,
    /// Most allocations waiting in the manager at once
    #[arg(short = 'b', long, default_value_t = 1)]
    pub backlog: u32,
    /// Most workers (nodes) per allocation
    #[arg(short = 'm', long, alias = "workers-per-alloc", default_value_t = 1)]
    pub max_workers_per_alloc: u32,
    /// Most workers of this queue queued or running at once (default: unlimited)
    #[arg(long)]
    pub max_worker_count: Option<u32>,
    /// Queue name, used in allocation names
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// CPUs of each worker (also tells the queue what its workers offer)
    #[arg(long)]
    pub cpus: Option<String>,
    /// Resource of each worker `NAME=DEF` (repeatable)
    #[arg(long = "resource", value_name = "NAME=DEF")]
    pub resources: Vec<String>,
    /// Resource coupling of the workers
    #[arg(long)]
    pub coupling: Option<String>,
    /// Worker group (default: the allocation ID)
    #[arg(long)]
    pub group: Option<String>,
    /// Resource kinds the workers detect
    #[arg(long)]
    pub detect_resources: Option<String>,
    /// Workers keep only the first hardware thread of each core
    #[arg(long)]
    pub no_hyper_threading: bool,
    /// Workers stop after this long without tasks
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub idle_timeout: Duration,
    /// Period of the workers' hardware-usage reports
    #[arg(long, value_parser = parse_duration)]
    pub overview_interval: Option<Duration>,
    /// Submit an allocation only if its workers' CPUs would be used at least this much (0-1)
    #[arg(long)]
    pub min_utilization: Option<f32>,
    /// What workers do when the server goes away
    #[arg(long, alias = "on-worker-lost", default_value = "finish-running", value_parser = ["stop", "finish-running"])]
    pub on_server_lost: String,
    /// Time limit of the workers (default: the queue's time limit)
    #[arg(long, value_parser = parse_duration)]
    pub worker_time_limit: Option<Duration>,
    /// Shell command run before the worker on each node
    #[arg(long)]
    pub worker_start_cmd: Option<String>,
    /// Shell command run after the worker on each node
    #[arg(long)]
    pub worker_stop_cmd: Option<String>,
    /// Prefix of the worker command (e.g. `podman run img`)
    #[arg(long, alias = "wrap-worker-cmd")]
    pub worker_wrap_cmd: Option<String>,
    /// Do not submit a test allocation first
    #[arg(long, conflicts_with = "dry_run")]
    pub no_dry_run: bool,
    /// Submit a test allocation first (the default)
    #[arg(long)]
    pub dry_run: bool,
    /// Arguments for `#SBATCH`/`#PBS` (after `--`): partition, account, GPUs...
    #[arg(last = true)]
    pub additional_args: Vec<String>,
}

impl ManagerArgs {
    /// The queue parameters, checked as far as the client can.
    fn into_params(self) -> Result<(QueueParams, bool), CliError> {
        let (manager, a) = match self {
            ManagerArgs::Slurm(a) => (ManagerKind::Slurm, a),
            ManagerArgs::Pbs(a) => (ManagerKind::Pbs, a),
        };
        worker_pools_from_cli(a.cpus.as_deref(), &a.resources)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        if let Some(d) = &a.detect_resources {
            DetectKinds::parse(d).map_err(|e| {
                CliError::Usage(format!("invalid value for `--detect-resources`: {e}"))
            })?;
        }
        let params = QueueParams {
            manager,
            name: a.name,
            backlog: a.backlog,
            time_limit_secs: a.time_limit.as_secs(),
            max_workers_per_alloc: a.max_workers_per_alloc,
            max_worker_count: a.max_worker_count,
            additional_args: a.additional_args,
            worker: WorkerParams {
                cpus: a.cpus,
                resources: a.resources,
                coupling: a.coupling,
                group: a.group,
                no_hyper_threading: a.no_hyper_threading,
                detect_resources: a.detect_resources,
                idle_timeout_secs: a.idle_timeout.as_secs(),
                overview_interval_secs: a.overview_interval.map(|d| d.as_secs()),
                min_utilization: a.min_utilization,
                on_server_lost: a.on_server_lost,
                time_limit_secs: a.worker_time_limit.map(|d| d.as_secs()),
                start_cmd: a.worker_start_cmd,
                stop_cmd: a.worker_stop_cmd,
                wrap_cmd: a.worker_wrap_cmd,
            },
        };
        params
            .validate()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Ok((params, !a.no_dry_run))
    }
}

pub async fn run(g: &GlobalOpts, cmd: AllocCommand) -> CliResult {
    let out = g.out();
    match cmd {
        AllocCommand::Add(args) => {
            let (params, dry_run) = args.into_params()?;
            let log = connect(g).await?.alloc_add(params, dry_run).await?;
            print_log(g, log)
        }
        AllocCommand::DryRun(args) => {
            let (params, dry_run) = args.into_params()?;
            if !dry_run {
                return Err(CliError::Usage(
                    "`--no-dry-run` cannot be used with `hq alloc dry-run`, which only makes the test submission; use `hq alloc add ... --no-dry-run`".into(),
                ));
            }
            let log = connect(g).await?.alloc_dry_run(params).await?;
            print_log(g, log)
        }
        AllocCommand::List => {
            print_queues(&out, &fetch(g, None).await?);
            Ok(())
        }
        AllocCommand::Info { queue, filter } => {
            let queues = fetch(g, Some(queue)).await?;
            let Some(q) = queues.first() else {
                return Err(CliError::Runtime(format!(
                    "Allocation queue {queue} not found"
                )));
            };
            let wanted = filter.map(|f| match f {
                AllocFilter::Queued => AllocStatus::Queued,
                AllocFilter::Running => AllocStatus::Running,
                AllocFilter::Finished => AllocStatus::Finished,
                AllocFilter::Failed => AllocStatus::Failed,
            });
            print_allocations(&out, q, wanted);
            Ok(())
        }
        AllocCommand::Explain { queue } => {
            let queues = fetch(g, Some(queue)).await?;
            match queues.first() {
                Some(q) => print_explain(&out, q),
                None => {
                    return Err(CliError::Runtime(format!(
                        "Allocation queue {queue} not found"
                    )))
                }
            }
            Ok(())
        }
        AllocCommand::Log {
            allocation,
            channel,
        } => {
            if out.mode == OutputMode::Json {
                return Err(CliError::Runtime(
                    "`hq alloc log` prints a file and has no JSON output".into(),
                ));
            }
            let queues = fetch(g, None).await?;
            let found = queues
                .iter()
                .flat_map(|q| &q.allocations)
                .find(|a| a.id == allocation);
            let Some(a) = found else {
                return Err(CliError::Runtime(format!(
                    "Allocation {allocation} not found"
                )));
            };
            let name = match channel {
                Channel::Stdout => "stdout",
                Channel::Stderr => "stderr",
            };
            let path = std::path::Path::new(&a.workdir).join(name);
            let text = std::fs::read(&path)
                .map_err(|e| CliError::Runtime(format!("cannot read {}: {e}", path.display())))?;
            use std::io::Write;
            let _ = std::io::stdout().write_all(&text);
            Ok(())
        }
        AllocCommand::Pause { queue } => {
            print_log(g, connect(g).await?.alloc_pause(queue, true).await?)
        }
        AllocCommand::Resume { queue } => {
            print_log(g, connect(g).await?.alloc_pause(queue, false).await?)
        }
        AllocCommand::Remove { queue, force } => {
            print_log(g, connect(g).await?.alloc_remove(queue, force).await?)
        }
    }
}

/// Prints a command's log lines (JSON: `{}`).
fn print_log(g: &GlobalOpts, log: CommandLog) -> CliResult {
    print_log_lines(&log.lines);
    let out = g.out();
    if out.mode == OutputMode::Json {
        out.json(&serde_json::json!({}));
    }
    Ok(())
}

/// Queues from the server (all, or one).
pub async fn fetch(g: &GlobalOpts, queue: Option<QueueId>) -> Result<Vec<QueueInfo>, CliError> {
    Ok(connect(g).await?.alloc_queues(queue).await?)
}
