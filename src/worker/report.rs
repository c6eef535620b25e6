//! Starts and results the worker has not reported yet. While tasks queued behind running ones
//! keep the slots busy, the server need not hear of each end at once: reports wait up to
//! [`REPORT_DELAY`] to travel together (fewer messages, less server CPU per task). They go in
//! the order the worker loop saw them, which is the order the server needs: a task's start
//! before its result, and a queued task's start after its predecessor's result (the loop sees
//! a handed-over task start only once it has seen its predecessor end, see `start.rs`).
//! Neighbouring reports of one kind share a message.

use crate::protocol::messages::{ExecutionKey, FromWorker, TaskResult};
use crate::protocol::{FrameSender, ProtocolError};
use std::time::Duration;
use tokio::time::Instant;

/// The longest a start or result waits to be reported with others.
pub const REPORT_DELAY: Duration = Duration::from_millis(2);

/// A start or a result, for [`Unsent::after`].
pub enum Report {
    Started(ExecutionKey),
    Result(TaskResult),
}

#[derive(Default)]
pub struct Unsent {
    /// In the order they must reach the server.
    reports: Vec<Report>,
    /// When the oldest unsent report must go at the latest.
    by: Option<Instant>,
}

impl Unsent {
    pub fn push(&mut self, report: Report) {
        self.reports.push(report);
    }

    /// Something was added: report by the deadline unless one is set.
    pub fn arm(&mut self) {
        if self.by.is_none() {
            self.by = Some(Instant::now() + REPORT_DELAY);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }

    /// The deadline, if anything waits.
    pub fn deadline(&self) -> Option<Instant> {
        self.by
    }

    /// Sends what waits, in order, neighbouring reports of one kind in one message (all in one
    /// write).
    pub async fn flush(&mut self, sender: &mut FrameSender) -> Result<(), ProtocolError> {
        self.by = None;
        let mut messages: Vec<FromWorker> = Vec::new();
        for report in self.reports.drain(..) {
            match (messages.last_mut(), report) {
                (Some(FromWorker::Started(keys)), Report::Started(key)) => keys.push(key),
                (Some(FromWorker::Results(results)), Report::Result(r)) => results.push(r),
                (_, Report::Started(key)) => messages.push(FromWorker::Started(vec![key])),
                (_, Report::Result(r)) => messages.push(FromWorker::Results(vec![r])),
            }
        }
        let mut messages = messages.into_iter();
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
        self.reports
            .drain(..)
            .filter_map(|r| match r {
                Report::Result(r) => Some(r),
                Report::Started(_) => None,
            })
            .collect()
    }
}

/// Sleeps until the deadline; never resolves without one.
pub async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
