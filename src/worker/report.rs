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

/// A start or a result, for [`Unsent::after`].
pub enum Report {
    Started(ExecutionKey),
    Result(TaskResult),
}

#[derive(Default)]
pub struct Unsent {
    pub started: Vec<ExecutionKey>,
    pub results: Vec<TaskResult>,
    /// Starts and results of handed-over tasks (`start.rs`), in the order they must reach
    /// the server, sent after `results`, which hold their predecessors' results.
    pub after: Vec<Report>,
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

    /// Sends what waits: starts, results, then the handed-over tasks' starts and results in
    /// their order (in one write).
    pub async fn flush(&mut self, sender: &mut FrameSender) -> Result<(), ProtocolError> {
        self.by = None;
        let mut messages = vec![
            FromWorker::Started(std::mem::take(&mut self.started)),
            FromWorker::Results(std::mem::take(&mut self.results)),
        ];
        for report in self.after.drain(..) {
            match (messages.last_mut(), report) {
                (Some(FromWorker::Started(keys)), Report::Started(key)) => keys.push(key),
                (Some(FromWorker::Results(results)), Report::Result(r)) => results.push(r),
                (_, Report::Started(key)) => messages.push(FromWorker::Started(vec![key])),
                (_, Report::Result(r)) => messages.push(FromWorker::Results(vec![r])),
            }
        }
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
        results.extend(self.after.drain(..).filter_map(|r| match r {
            Report::Result(r) => Some(r),
            Report::Started(_) => None,
        }));
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
