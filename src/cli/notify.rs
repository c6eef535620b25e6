//! Task notifications on the command line: `hq task notify MESSAGE` inside a task, and the
//! `--on-notify CMD` callback of `hq submit --wait`, run once per notification, one at a time
//! in arrival order.

use super::{CliError, CliResult};
use crate::common::notify::KEY_VAR;
use crate::protocol::messages::TaskNotification;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// `hq task notify MESSAGE`.
pub async fn send(message: String) -> CliResult {
    let key = std::env::var(KEY_VAR).ok();
    crate::client::notify::notify(key, message.into_bytes())
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))
}

/// `--on-notify CMD`: the command split as a shell would (quotes group words).
pub fn parse_command(text: &str) -> Result<Vec<String>, CliError> {
    match shlex::split(text) {
        Some(words) if !words.is_empty() => Ok(words),
        _ => Err(CliError::Usage(format!(
            "invalid value `{text}` for `--on-notify`: expected a command, e.g. `bash -c 'echo $0' `"
        ))),
    }
}

/// Runs the callback for each notification sent into it; [`Callbacks::finish`] waits for the
/// last one.
pub struct Callbacks {
    queue: mpsc::UnboundedSender<TaskNotification>,
    runner: JoinHandle<()>,
}

impl Callbacks {
    pub fn start(command: Vec<String>) -> Callbacks {
        let (queue, mut rx) = mpsc::unbounded_channel::<TaskNotification>();
        let runner = tokio::spawn(async move {
            while let Some(n) = rx.recv().await {
                run_one(&command, &n).await;
            }
        });
        Callbacks { queue, runner }
    }

    /// Queues one notification (called by the wait for each it receives).
    pub fn push(&self, n: TaskNotification) {
        let _ = self.queue.send(n);
    }

    pub async fn finish(self) {
        drop(self.queue);
        let _ = self.runner.await;
    }
}

/// `CMD ARGS <message>` with `HQ_JOB_ID`, `HQ_TASK_ID`, `HQ_WORKER_ID` set; a failure is only
/// logged.
async fn run_one(command: &[String], n: &TaskNotification) {
    let status = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .arg(OsStr::from_bytes(&n.message))
        .env("HQ_JOB_ID", n.job.to_string())
        .env("HQ_TASK_ID", n.task.to_string())
        .env("HQ_WORKER_ID", n.worker.to_string())
        .stdin(std::process::Stdio::null())
        .status()
        .await;
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => log::warn!(
            "The notification callback of task {} of job {} failed: {s}",
            n.task,
            n.job
        ),
        Err(e) => log::warn!("Cannot run the notification callback `{}`: {e}", command[0]),
    }
}
