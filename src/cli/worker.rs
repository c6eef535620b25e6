//! `hq worker start|stop|list|info|hwdetect|address|wait` (`deploy-ssh` is in `deploy_ssh`).

use super::output::{
    format_iso, format_local, print_horizontal, print_log_lines, print_vertical, Out, OutputMode,
};
use super::{connect, CliError, CliResult, GlobalOpts};
use crate::common::duration::{format_duration_ms, parse_duration};
use crate::common::serverdir;
use crate::protocol::messages::*;
use crate::resources::coupling::{parse_coupling, resolve_coupling};
use crate::resources::flags::{merge_worker_descriptor, worker_pools_from_cli};
use crate::resources::{ResourceAmount, ResourceDescriptor};
use crate::worker::hwdetect::{detect_host, format_hwdetect, DetectKinds};
use crate::worker::manager::{self, ManagerChoice};
use crate::worker::{WorkerExit, WorkerOptions};
use clap::Subcommand;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum WorkerCommand {
    /// Connect a worker to the server and run tasks
    Start(Box<StartArgs>),
    /// Stop workers
    Stop {
        /// Worker IDs: `1`, `1-3`, `last`, `all`
        selector: String,
    },
    /// List workers
    List {
        /// Show all workers, also those that are gone
        #[arg(long)]
        all: bool,
        /// `running` or `offline`
        #[arg(long, conflicts_with = "all", value_parser = ["running", "offline"])]
        filter: Option<String>,
    },
    /// Show details of workers
    Info { selector: String },
    /// Print the hardware this machine would offer as a worker
    Hwdetect {
        #[arg(long)]
        no_hyper_threading: bool,
    },
    /// Print a worker's hostname
    Address { id: WorkerId },
    /// Wait until at least N workers are running
    Wait { count: usize },
    /// Start a worker on every host of a file through `ssh`, and wait for them
    DeploySsh(super::deploy_ssh::DeploySshArgs),
}

#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// CPU pool: `N`, `NxM`, `[0,1,2]`, `[[0-3],[4-7]]`, `range(0-7)` (default: detected)
    #[arg(long)]
    pub cpus: Option<String>,
    /// Extra resource pool `NAME=DEF` (repeatable)
    #[arg(long = "resource", value_name = "NAME=DEF")]
    pub resources: Vec<String>,
    /// Affinity between groups of grouped pools: `RES1[G1]:RES2[G2][=W],...`
    /// (e.g. `cpus[0]:gpus/nvidia[0],cpus[1]:gpus/nvidia[1]`); tasks asking for several coupled
    /// pools get coupled groups when possible (always with `compact!`/`tight!`)
    #[arg(long)]
    pub coupling: Option<String>,
    /// Resource kinds to detect: `all`, `none`, or a list of cpus,mem,gpus/nvidia,gpus/amd
    #[arg(long, default_value = "all")]
    pub detect_resources: String,
    /// Same as `--detect-resources=none`
    #[arg(long)]
    pub no_detect_resources: bool,
    /// Keep only the first hardware thread of each core
    #[arg(long)]
    pub no_hyper_threading: bool,
    /// Worker group for multi-node tasks
    #[arg(long)]
    pub group: Option<String>,
    /// Stop after this long
    #[arg(long, value_parser = parse_duration)]
    pub time_limit: Option<Duration>,
    /// Stop after this long without tasks
    #[arg(long, value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// Heartbeat period
    #[arg(long, value_parser = parse_duration, default_value = "8s")]
    pub heartbeat: Duration,
    /// Hostname to report
    #[arg(long)]
    pub hostname: Option<String>,
    /// Directory for task directories and internal files
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// What to do when the server goes away: `stop` or `finish-running`
    #[arg(long, alias = "on-worker-lost", default_value = "stop", value_parser = ["stop", "finish-running"])]
    pub on_server_lost: String,
    /// Read the allocation (ID, remaining walltime) from PBS or Slurm: `detect`, `none`,
    /// `pbs` or `slurm`
    #[arg(long, default_value = "detect")]
    pub manager: ManagerChoice,
    /// Period of hardware-usage reports (CPU, memory, network, disk, GPUs) shown by `hq worker
    /// info`, `hq journal stream` and `hq dashboard`; the first is sent as the worker registers
    /// (up to 250 ms later with reports on); `0s` = off
    #[arg(long, value_parser = parse_duration)]
    pub overview_interval: Option<Duration>,
    /// How often tasks queued on this worker behind running ones (not started yet) are checked
    /// against its remaining lifetime (`--time-limit`); those whose time request no longer fits
    /// are handed back to the server for another worker
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub retract_check_interval: Duration,
    /// Plan tasks on this worker only when at least this fraction (0 to 1) of its CPUs would
    /// be busy
    #[arg(long, default_value = "0.0", value_parser = parse_min_utilization)]
    pub min_utilization: ResourceAmount,
    /// Benchmarks only: complete every task at once without starting it
    #[cfg(feature = "bench-noop")]
    #[arg(long, hide = true)]
    pub noop_tasks: bool,
}

pub async fn run(g: &GlobalOpts, cmd: WorkerCommand) -> CliResult {
    let out = g.out();
    match cmd {
        WorkerCommand::Start(args) => start(g, *args).await,
        WorkerCommand::Stop { selector } => {
            let selector = super::parse::parse_selector(&selector)?;
            let log = connect(g).await?.stop_workers(selector).await?;
            print_log_lines(&log.lines);
            if out.mode == OutputMode::Json {
                out.json(&serde_json::json!({}));
            }
            Ok(())
        }
        WorkerCommand::List { all, filter } => {
            let workers = fetch(g).await?;
            let workers: Vec<WorkerInfo> = workers
                .into_iter()
                .filter(|w| match (all, filter.as_deref()) {
                    (true, _) => true,
                    (_, Some("offline")) => w.state != WorkerState::Running,
                    _ => w.state == WorkerState::Running,
                })
                .collect();
            print_list(&out, &workers);
            Ok(())
        }
        WorkerCommand::Info { selector } => {
            let selector = super::parse::parse_selector(&selector)?;
            let workers = fetch(g).await?;
            let ids: std::collections::BTreeMap<u32, ()> =
                workers.iter().map(|w| (w.id, ())).collect();
            let (chosen, missing) = selector.select(&ids);
            super::output::log_not_found(log::Level::Error, "Worker", &missing);
            let chosen: Vec<&WorkerInfo> =
                workers.iter().filter(|w| chosen.contains(&w.id)).collect();
            print_info(&out, &chosen);
            Ok(())
        }
        WorkerCommand::Hwdetect { no_hyper_threading } => {
            let (desc, warnings) = detect_host(no_hyper_threading, &DetectKinds::all());
            for w in warnings {
                log::warn!("{w}");
            }
            print_hwdetect(&out, &desc);
            Ok(())
        }
        WorkerCommand::Address { id } => {
            let workers = fetch(g).await?;
            match workers.iter().find(|w| w.id == id) {
                Some(w) => {
                    println!("{}", w.configuration.hostname);
                    Ok(())
                }
                None => Err(CliError::Runtime(format!("Worker {id} not found"))),
            }
        }
        WorkerCommand::DeploySsh(args) => super::deploy_ssh::run(args).await,
        WorkerCommand::Wait { count } => {
            // Polls once per second, as the reference does.
            loop {
                let running = fetch(g)
                    .await?
                    .iter()
                    .filter(|w| w.state == WorkerState::Running)
                    .count();
                if running >= count {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// `--min-utilization`: a fraction from 0 to 1 with at most 4 decimals.
fn parse_min_utilization(text: &str) -> Result<ResourceAmount, String> {
    let bad = || format!("`{text}` is not a fraction from 0 to 1 (e.g. `0.5`)");
    let amount = ResourceAmount::parse(text).map_err(|_| bad())?;
    if amount > ResourceAmount::ONE {
        return Err(bad());
    }
    Ok(amount)
}

async fn fetch(g: &GlobalOpts) -> Result<Vec<WorkerInfo>, CliError> {
    Ok(connect(g).await?.worker_list().await?)
}

/// Builds the worker's pools from flags and detection; logs detection warnings.
pub fn build_resources(args: &StartArgs) -> Result<ResourceDescriptor, CliError> {
    let kinds = if args.no_detect_resources {
        DetectKinds::none()
    } else {
        DetectKinds::parse(&args.detect_resources)
            .map_err(|e| CliError::Usage(format!("invalid value for `--detect-resources`: {e}")))?
    };
    let mut desc = pools(
        args.cpus.as_deref(),
        &args.resources,
        kinds,
        args.no_hyper_threading,
    )?;
    if let Some(text) = &args.coupling {
        let in_flag = |e: crate::resources::ResourceError| CliError::Usage(e.to_string());
        let items = parse_coupling(text).map_err(in_flag)?;
        desc.coupling = resolve_coupling(&items, &desc).map_err(in_flag)?;
    }
    Ok(desc)
}

/// `--cpus`/`--resource` definitions completed by detection of the other kinds (also used for
/// the local worker of `hq run`).
pub fn pools(
    cpus: Option<&str>,
    resources: &[String],
    kinds: DetectKinds,
    no_hyper_threading: bool,
) -> Result<ResourceDescriptor, CliError> {
    let flag_err = |e: crate::resources::ResourceError| CliError::Usage(e.to_string());
    let user = worker_pools_from_cli(cpus, resources).map_err(flag_err)?;
    let no_ht = no_hyper_threading || user.no_hyper_threading;
    let (detected, warnings) = detect_host(no_ht, &kinds.without_defined(&user.descriptor));
    for w in warnings {
        log::warn!("{w}");
    }
    merge_worker_descriptor(user.descriptor, detected).map_err(flag_err)
}

async fn start(g: &GlobalOpts, args: StartArgs) -> CliResult {
    let out = g.out();
    let resources = build_resources(&args)?;
    let hostname = args
        .hostname
        .clone()
        .unwrap_or_else(serverdir::local_hostname);
    let work_dir = match &args.work_dir {
        Some(d) => serverdir::absolute(d),
        None => {
            let base = std::env::temp_dir().join(format!(
                "hq-worker-{}-{}",
                std::process::id(),
                rand_suffix()
            ));
            base.join("work")
        }
    };
    let allocation = manager::detect(args.manager, |name| std::env::var(name).ok())
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    // The worker stops before its allocation does.
    let remaining = match &allocation {
        Some(a) => manager::remaining_walltime(a).await,
        None => None,
    };
    let time_limit = match (args.time_limit, remaining) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let group = args
        .group
        .clone()
        .or_else(|| allocation.as_ref().map(|a| a.id.clone()))
        .unwrap_or_else(|| "default".into());
    #[cfg(feature = "bench-noop")]
    let noop_tasks = args.noop_tasks;
    #[cfg(not(feature = "bench-noop"))]
    let noop_tasks = false;
    let opts = WorkerOptions {
        server_dir: g.server_dir(),
        resources,
        group,
        hostname,
        work_dir,
        heartbeat: args.heartbeat,
        idle_timeout: args.idle_timeout,
        time_limit,
        // A zero period would make the check spin.
        retract_check_interval: args.retract_check_interval.max(Duration::from_millis(100)),
        on_server_lost: args.on_server_lost.clone(),
        min_utilization: args.min_utilization,
        allocation,
        overview_interval: args.overview_interval.filter(|d| !d.is_zero()),
        noop_tasks,
    };
    let on_registered = move |id: WorkerId, config: &WorkerConfiguration| {
        let info = WorkerInfo {
            id,
            state: WorkerState::Running,
            configuration: config.clone(),
            started_at: crate::server::now_ms(),
            ended_at: None,
            running_tasks: 0,
            multi_node_main: None,
            reserved: false,
            last_task_started: None,
            overview: None,
        };
        print_info(&out, &[&info]);
        log::info!("Worker {id} registered");
    };
    let exit = crate::worker::run(opts, on_registered, super::server::worker_shutdown_signal())
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    match exit {
        WorkerExit::ServerLost => Err(CliError::Runtime(
            "the connection to the server was lost".into(),
        )),
        WorkerExit::IdleTimeout => {
            log::info!("Worker stopped: idle timeout");
            Ok(())
        }
        WorkerExit::TimeLimit => {
            log::info!("Worker stopped: time limit reached");
            Ok(())
        }
        WorkerExit::Stopped | WorkerExit::Signal => {
            log::info!("Worker stopped");
            Ok(())
        }
        WorkerExit::Terminated => {
            log::info!("Worker terminated (SIGTERM); its tasks were killed");
            Ok(())
        }
    }
}

fn rand_suffix() -> String {
    hex::encode(crate::protocol::connection::random_bytes::<4>())
}

pub fn state_word(s: WorkerState) -> &'static str {
    match s {
        WorkerState::Running => "RUNNING",
        WorkerState::ConnectionLost => "CONNECTION LOST",
        WorkerState::HeartbeatLost => "HEARTBEAT LOST",
        WorkerState::IdleTimeout => "IDLE TIMEOUT",
        WorkerState::Stopped => "STOPPED",
        WorkerState::TimeLimitReached => "TIME LIMIT REACHED",
    }
}

fn worker_json(w: &WorkerInfo) -> serde_json::Value {
    let c = &w.configuration;
    let secs = |ms: Option<u64>| ms.map(|t| t as f64 / 1000.0);
    let runtime_info = match w.multi_node_main {
        Some(main) => serde_json::json!({"MultiNodeTask": {"main_node": main}}),
        None => serde_json::json!({"SingleNodeTasks": {
            "assigned_tasks": w.running_tasks,
            "running_tasks": w.running_tasks,
            "is_reserved": w.reserved,
        }}),
    };
    let mut v = serde_json::json!({
        "id": w.id,
        "started": format_iso(w.started_at),
        "ended": w.ended_at.map(|t| serde_json::json!({"at": format_iso(t)})),
        "configuration": {
            "heartbeat_interval": c.heartbeat_ms as f64 / 1000.0,
            "idle_timeout": secs(c.idle_timeout_ms),
            "time_limit": secs(c.time_limit_ms),
            "work_dir": c.work_dir,
            "hostname": c.hostname,
            "group": c.group,
            "listen_address": c.listen_address,
            "resources": c.resources,
            "on_server_lost": c.on_server_lost,
            "min_utilization": c.min_utilization.as_f64(),
        },
        "allocation": c.allocation.as_ref().map(|a| serde_json::json!({"manager": a.manager.display_name(), "id": a.id})),
        "runtime_info": runtime_info,
        "last_task_started": w.last_task_started.map(|(j, t, at)| serde_json::json!({"job_id": j, "task_id": t, "time": format_iso(at)})),
    });
    // Hardware reports are ours: their keys appear only when reports are on, so the object
    // is the reference's otherwise.
    if let Some(ms) = c.overview_interval_ms {
        v["configuration"]["overview_interval"] = (ms as f64 / 1000.0).into();
    }
    if let Some(state) = &w.overview {
        v["overview"] = serde_json::json!({"state": state});
    }
    v
}

/// `Runtime Info` of `hq worker info`.
fn runtime_info(w: &WorkerInfo) -> String {
    match w.multi_node_main {
        Some(true) => "running multinode task; main node".into(),
        Some(false) => "running multinode task; secondary node".into(),
        None if w.running_tasks == 0 => "assigned tasks: 0".into(),
        // Tasks start when they are assigned, so both counts are the same.
        None => format!("assigned tasks: {0}; running tasks: {0}", w.running_tasks),
    }
}

/// `SLURM`/`PBS`/`None`, as the Manager column shows it.
fn manager_name(c: &WorkerConfiguration) -> String {
    match &c.allocation {
        Some(a) => a.manager.display_name().to_uppercase(),
        None => "None".into(),
    }
}

fn manager_job_id(c: &WorkerConfiguration) -> String {
    c.allocation
        .as_ref()
        .map(|a| a.id.clone())
        .unwrap_or_else(|| "N/A".into())
}

fn print_list(out: &Out, workers: &[WorkerInfo]) {
    match out.mode {
        OutputMode::Json => out.json(&serde_json::Value::Array(
            workers.iter().map(worker_json).collect(),
        )),
        OutputMode::Quiet => workers
            .iter()
            .for_each(|w| println!("{} {}", w.id, state_word(w.state))),
        OutputMode::Cli => {
            let rows = workers
                .iter()
                .map(|w| {
                    vec![
                        w.id.to_string(),
                        state_word(w.state).to_string(),
                        w.configuration.hostname.clone(),
                        w.configuration.resources.summary(),
                        manager_name(&w.configuration),
                        manager_job_id(&w.configuration),
                    ]
                })
                .collect();
            print_horizontal(
                out,
                &[
                    "ID",
                    "State",
                    "Hostname",
                    "Resources",
                    "Manager",
                    "Manager Job ID",
                ],
                rows,
            );
        }
    }
}

fn print_info(out: &Out, workers: &[&WorkerInfo]) {
    match out.mode {
        OutputMode::Json => out.json(&serde_json::Value::Array(
            workers.iter().map(|w| worker_json(w)).collect(),
        )),
        OutputMode::Quiet => {}
        OutputMode::Cli => {
            for (i, w) in workers.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                let c = &w.configuration;
                let opt_dur = |ms: Option<u64>| {
                    ms.map(|m| format_duration_ms(Duration::from_millis(m)))
                        .unwrap_or_else(|| "None".into())
                };
                let resources = c.resources.summary_lines();
                print_vertical(
                    out,
                    vec![
                        ("Worker", w.id.to_string()),
                        ("State", state_word(w.state).to_string()),
                        ("Hostname", c.hostname.clone()),
                        ("Started", format_local(w.started_at)),
                        ("Data provider", c.listen_address.clone()),
                        ("Working directory", c.work_dir.clone()),
                        (
                            "Heartbeat",
                            format_duration_ms(Duration::from_millis(c.heartbeat_ms)),
                        ),
                        ("Idle timeout", opt_dur(c.idle_timeout_ms)),
                        ("Overview interval", opt_dur(c.overview_interval_ms)),
                        (
                            "Hardware",
                            match (&w.overview, c.overview_interval_ms) {
                                (Some(o), _) => crate::common::hwsummary::summary_lines(o),
                                (None, Some(_)) => "no report yet".into(),
                                (None, None) => "no reports (see `--overview-interval`)".into(),
                            },
                        ),
                        ("Resources", resources.join("\n")),
                        ("Time Limit", opt_dur(c.time_limit_ms)),
                        ("Process pid", c.pid.to_string()),
                        ("Group", c.group.clone()),
                        ("Manager", manager_name(c)),
                        ("Manager Job ID", manager_job_id(c)),
                        (
                            "Last task started",
                            w.last_task_started
                                .map(|(j, t, at)| format!("{j}@{t}; Time: {}", format_local(at)))
                                .unwrap_or_default(),
                        ),
                        ("Runtime Info", runtime_info(w)),
                    ],
                );
            }
        }
    }
}

pub fn print_hwdetect(out: &Out, desc: &ResourceDescriptor) {
    match out.mode {
        OutputMode::Json => out.json(&serde_json::to_value(desc).unwrap_or_default()),
        OutputMode::Quiet => {}
        OutputMode::Cli => print!("{}", format_hwdetect(desc)),
    }
}
