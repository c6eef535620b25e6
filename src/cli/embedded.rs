//! An in-process server and one local worker in a temporary server directory, for `hq run`.

use super::output::{Out, OutputMode};
use super::CliError;
use crate::protocol::messages::*;
use crate::resources::ResourceDescriptor;
use crate::server::ServerOptions;
use crate::worker::WorkerOptions;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::oneshot;

pub struct EmbeddedCluster {
    pub server_dir: PathBuf,
    _temp: TempDir,
    stop_server: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    stop_worker: oneshot::Sender<()>,
    worker: tokio::task::JoinHandle<()>,
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl EmbeddedCluster {
    /// Starts the server and a worker with `resources` (see [`local_resources`]).
    pub async fn start(resources: ResourceDescriptor) -> Result<EmbeddedCluster, CliError> {
        let base = std::env::temp_dir().join(format!(
            "hq-run-{}-{}",
            std::process::id(),
            hex::encode(crate::protocol::connection::random_bytes::<4>())
        ));
        std::fs::create_dir_all(&base)
            .map_err(|e| CliError::Runtime(format!("cannot create {}: {e}", base.display())))?;
        let temp = TempDir(base.clone());
        let server_dir = base.join("server");
        // Only this process talks to the embedded server: it listens on loopback only.
        let opts = ServerOptions {
            host: Some("127.0.0.1".into()),
            listen: std::net::Ipv4Addr::LOCALHOST.into(),
            ..ServerOptions::new(server_dir.clone())
        };
        let (started_tx, started_rx) = oneshot::channel();
        let (stop_server, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let mut started_tx = Some(started_tx);
            let on_started = move |_: &crate::server::StartedServer| {
                if let Some(tx) = started_tx.take() {
                    let _ = tx.send(());
                }
            };
            if let Err(e) = crate::server::start(opts, on_started, async move {
                let _ = stop_rx.await;
            })
            .await
            {
                log::error!("embedded server failed: {e}");
            }
        });
        started_rx
            .await
            .map_err(|_| CliError::Runtime("the embedded server did not start".into()))?;

        let wopts = WorkerOptions {
            server_dir: server_dir.clone(),
            resources,
            group: "default".into(),
            hostname: crate::common::serverdir::local_hostname(),
            work_dir: base.join("worker"),
            heartbeat: Duration::from_secs(8),
            idle_timeout: None,
            time_limit: None,
            retract_check_interval: Duration::from_secs(30),
            on_server_lost: "stop".into(),
            min_utilization: crate::resources::ResourceAmount::ZERO,
            allocation: None,
            overview_interval: None,
            noop_tasks: false,
        };
        let (registered_tx, registered_rx) = oneshot::channel();
        let (stop_worker, stop_worker_rx) = oneshot::channel::<()>();
        let worker = tokio::spawn(async move {
            let on_registered = move |_: WorkerId, _: &WorkerConfiguration| {
                let _ = registered_tx.send(());
            };
            if let Err(e) = crate::worker::run(wopts, on_registered, async move {
                let _ = stop_worker_rx.await;
                crate::worker::Shutdown::Stop
            })
            .await
            {
                log::error!("embedded worker failed: {e}");
            }
        });
        registered_rx
            .await
            .map_err(|_| CliError::Runtime("the embedded worker did not start".into()))?;
        Ok(EmbeddedCluster {
            server_dir,
            _temp: temp,
            stop_server,
            server,
            stop_worker,
            worker,
        })
    }

    pub async fn stop(self) {
        let _ = self.stop_worker.send(());
        let _ = self.worker.await;
        let _ = self.stop_server.send(());
        let _ = self.server.await;
    }
}

/// The local worker's pools: `--worker-cpus`/`--worker-resource` as `hq worker start
/// --cpus/--resource` take them, the rest detected.
pub fn local_resources(
    cpus: Option<&str>,
    resources: &[String],
) -> Result<ResourceDescriptor, CliError> {
    super::worker::pools(
        cpus,
        resources,
        crate::worker::hwdetect::DetectKinds::all(),
        false,
    )
    .map_err(|e| match e {
        CliError::Usage(m) => CliError::Usage(format!("invalid local worker resources: {m}")),
        other => other,
    })
}

/// Refuses a job whose tasks the local worker can never run, saying why and what to change.
pub fn check_feasible(
    request: &SubmitRequest,
    worker: &ResourceDescriptor,
) -> Result<(), CliError> {
    for g in &request.groups {
        let fit =
            crate::resources::fit::why_never_runs_on(&g.body.resources, &[worker], "local worker");
        if let Some(why) = fit {
            let tasks = if g.ids.len() == 1 {
                format!("task {}", g.ids)
            } else {
                format!("tasks {}", g.ids)
            };
            return Err(CliError::Runtime(format!(
                "{tasks} can never run here: {why}. The local worker has: {}. Declare more with \
                 `--worker-cpus N` or `--worker-resource NAME=DEF` (e.g. `--worker-resource \
                 gpus=[0,1]`), or request less",
                worker.summary()
            )));
        }
    }
    Ok(())
}

/// What `hq run` prints at the end: the small job's output, then the lines of
/// [`super::progress::end_lines`] (counts, time, first failures).
pub fn print_summary(
    out: &Out,
    job: JobId,
    s: &TaskStats,
    details: &[JobDetail],
    summary: &[String],
    elapsed: Duration,
) {
    match out.mode {
        OutputMode::Json => out.json(&serde_json::json!({
            "id": job, "finished": s.finished, "failed": s.failed, "canceled": s.canceled, "aborted": s.aborted,
            "duration": elapsed.as_secs_f64(),
        })),
        OutputMode::Quiet => println!("{job}"),
        OutputMode::Cli => {
            print_outputs(details);
            for line in summary {
                println!("{line}");
            }
        }
    }
}

/// Jobs with at most this many tasks get their output printed.
pub const SMALL_JOB: usize = 10;
/// At most this much of each task's stdout is printed.
const OUTPUT_LIMIT: usize = 16 * 1024;

/// Prints the stdout of each task of a small job (with a header when there are several); for
/// a larger job, where the output went.
fn print_outputs(details: &[JobDetail]) {
    use std::io::Write;
    let tasks: Vec<(&JobDetail, &TaskDetail)> = details
        .iter()
        .flat_map(|d| d.tasks.iter().map(move |t| (d, t)))
        .collect();
    let path_of = |job: &JobDetail, t: &TaskDetail| {
        let body = &job.groups[t.group as usize].body;
        super::job_print::execution_paths(job, t, body)
            .stdout
            .filter(|_| t.started_at.is_some())
    };
    if tasks.len() > SMALL_JOB {
        if let Some(path) = tasks.first().and_then(|(j, t)| path_of(j, t)) {
            println!(
                "Output of task {}: {path} (the others next to it)",
                tasks[0].1.id
            );
        }
        return;
    }
    let mut stdout = std::io::stdout().lock();
    for (job, t) in &tasks {
        let Some(path) = path_of(job, t) else {
            continue;
        };
        let data = std::fs::read(&path).unwrap_or_default();
        if tasks.len() > 1 {
            let _ = writeln!(stdout, "# Task {} ({path})", t.id);
        }
        let _ = stdout.write_all(&data[..data.len().min(OUTPUT_LIMIT)]);
        if data.len() > OUTPUT_LIMIT {
            let _ = writeln!(
                stdout,
                "\n[... {} more bytes in {path}]",
                data.len() - OUTPUT_LIMIT
            );
        } else if !data.is_empty() && !data.ends_with(b"\n") {
            let _ = writeln!(stdout);
        }
    }
}
