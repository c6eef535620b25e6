//! Starts and results the worker has not reported yet. While tasks queued behind running ones
//! keep the slots busy, the server need not hear of each end at once: reports wait up to
//! [`REPORT_DELAY`] to travel together (fewer messages, less server CPU per task). Starts
//! always go before the results of the same round, so the server sees a task start before it
//! ends.

use crate::protocol::messages::{ExecutionKey, FromWorker, TaskResult};
use crate::protocol::{FrameSender, ProtocolError};
use std::time::Duration;
use tokio::time::Instant;

/// The longest a start or result waits to be reported with others.
pub const REPORT_DELAY: Duration = Duration::from_millis(1);

#[derive(Default)]
pub struct Unsent {
    pub started: Vec<ExecutionKey>,
    pub results: Vec<TaskResult>,
    /// Starts and results of handed-over tasks (`start.rs`), sent after `results`, which hold
    /// their predecessors' results.
    pub started_after: Vec<ExecutionKey>,
    pub results_after: Vec<TaskResult>,
    /// When the oldest unsent report must go at the latest.
    by: Option<Instant>,
}

impl Unsent {
    /// Something was added: report by the deadline unless one is set.
    pub fn arm(&mut self) {
        if self.by.is_none() {
            self.by = Some(Instant::now() + REPORT_DELAY);
        }
    }

    /// The deadline, if anything waits.
    pub fn deadline(&self) -> Option<Instant> {
        self.by
    }

    /// Sends what waits: starts, results, then the handed-over tasks' starts and results (in
    /// one write).
    pub async fn flush(&mut self, sender: &mut FrameSender) -> Result<(), ProtocolError> {
        self.by = None;
        let messages = [
            FromWorker::Started(std::mem::take(&mut self.started)),
            FromWorker::Results(std::mem::take(&mut self.results)),
            FromWorker::Started(std::mem::take(&mut self.started_after)),
            FromWorker::Results(std::mem::take(&mut self.results_after)),
        ];
        let mut messages = messages.into_iter().filter(|m| match m {
            FromWorker::Started(keys) => !keys.is_empty(),
            FromWorker::Results(results) => !results.is_empty(),
            _ => true,
        });
        let mut current = messages.next();
        while let Some(message) = current {
            current = messages.next();
            match current {
                Some(_) => sender.feed(&message).await?,
                None => sender.send(&message).await?,
            }
        }
        Ok(())
    }

    /// The results not sent yet, in the order they must be sent.
    pub fn take_results(&mut self) -> Vec<TaskResult> {
        let mut results = std::mem::take(&mut self.results);
        results.append(&mut self.results_after);
        results
    }
}

/// Sleeps until the deadline; never resolves without one.
pub async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
