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

    /// Sends what waits: starts, then results (in one write when there are both).
    pub async fn flush(&mut self, sender: &mut FrameSender) -> Result<(), ProtocolError> {
        self.by = None;
        if !self.started.is_empty() {
            let keys = std::mem::take(&mut self.started);
            let started = FromWorker::Started(keys);
            match self.results.is_empty() {
                true => sender.send(&started).await?,
                false => sender.feed(&started).await?,
            }
        }
        if !self.results.is_empty() {
            let results = std::mem::take(&mut self.results);
            sender.send(&FromWorker::Results(results)).await?;
        }
        Ok(())
    }
}

/// Sleeps until the deadline; never resolves without one.
pub async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
