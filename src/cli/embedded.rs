//! An in-process server and one local worker in a temporary server directory, for `hq run`.

use super::output::{print_horizontal, Out, OutputMode};
use super::CliError;
use crate::common::duration::format_duration;
use crate::protocol::messages::*;
use crate::resources::descriptor::parse_cpu_definition;
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
    pub async fn start(cpus: Option<&str>) -> Result<EmbeddedCluster, CliError> {
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

        let mut resources = crate::worker::hwdetect::detect_basic(true, true);
        if let Some(cpus) = cpus {
            let kind = parse_cpu_definition(cpus)
                .map_err(|e| CliError::Usage(format!("invalid `--worker-cpus`: {e}")))?;
            resources.resources.retain(|r| r.name != "cpus");
            resources.resources.insert(
                0,
                crate::resources::ResourceDescriptorItem {
                    name: "cpus".into(),
                    kind,
                },
            );
        }
        let wopts = WorkerOptions {
            server_dir: server_dir.clone(),
            resources,
            group: "default".into(),
            hostname: crate::common::serverdir::local_hostname(),
            work_dir: base.join("worker"),
            heartbeat: Duration::from_secs(8),
            idle_timeout: None,
            time_limit: None,
            on_server_lost: "stop".into(),
            allocation: None,
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

pub fn print_summary(
    out: &Out,
    job: JobId,
    s: &TaskStats,
    details: &[JobDetail],
    elapsed: Duration,
) {
    match out.mode {
        OutputMode::Json => out.json(&serde_json::json!({
            "id": job, "finished": s.finished, "failed": s.failed, "canceled": s.canceled, "aborted": s.aborted,
            "duration": elapsed.as_secs_f64(),
        })),
        OutputMode::Quiet => println!("{job}"),
        OutputMode::Cli => {
            println!(
                "Job {job}: {} tasks, {} finished, {} failed, {} canceled, {} aborted in {}",
                s.total(),
                s.finished,
                s.failed,
                s.canceled,
                s.aborted,
                format_duration(elapsed)
            );
            // Where the output went, shown for the first task.
            if let Some((job, task)) = details.iter().find_map(|d| d.tasks.first().map(|t| (d, t))) {
                let body = &job.groups[task.group as usize].body;
                if let Some(path) = super::job_print::resolved_path(job, task, body, true) {
                    println!("Output of task {}: {path} (stderr next to it)", task.id);
                }
            }
            let failed: Vec<Vec<String>> = details

                .iter()
                .flat_map(|d| d.tasks.iter())
                .filter(|t| t.status == TaskStatus::Failed)
                .take(5)
                .map(|t| vec![t.id.to_string(), t.error.clone().unwrap_or_default()])
                .collect();
            if !failed.is_empty() {
                print_horizontal(out, &["Task ID", "Error"], failed);
            }
        }
    }
}
