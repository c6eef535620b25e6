//! What exec threads tell the worker loop about the processes of a chain after its first (a
//! successor's start, its predecessor's exit) waits here, so the loop is not woken twice per
//! task: the first delivery into an empty mailbox wakes it, and while deliveries keep coming
//! the loop collects them every [`REPORT_DELAY`], and sends the reports they cause in the same
//! wake. Nothing waits here longer than that. A chain's first start, when a slot was free, does
//! not go through the mailbox, nor does anything while the loop is not running (`direct`).

use super::exec::{ExitTx, ReplyTx, StartReply};
use super::report::{self, Unsent, REPORT_DELAY};
use super::{TaskSenders, WorkerLoop};
use crate::protocol::messages::TaskResult;
use crate::protocol::{FrameSender, ProtocolError};
use std::process::ExitStatus;
use std::sync::Mutex;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

/// One answer an exec thread gives a task of the worker loop.
pub enum Delivery {
    Started(ReplyTx, StartReply),
    Exited(ExitTx, ExitStatus),
}

impl Delivery {
    /// Hands it to the waiting task; a started process nobody waits for any more (its task
    /// was dropped) is killed, and its exec thread reaps it.
    pub fn deliver(self) {
        match self {
            Delivery::Started(tx, reply) => {
                if let Err(Ok(process)) = tx.send(reply) {
                    process.kill();
                }
            }
            Delivery::Exited(tx, status) => {
                let _ = tx.send(status);
            }
        }
    }
}

#[derive(Default)]
pub struct Mailbox {
    state: Mutex<Mail>,
    wake: Notify,
}

#[derive(Default)]
struct Mail {
    items: Vec<Delivery>,
    /// The loop knows there is mail and collects it by its deadline: posts need not wake it.
    armed: bool,
    /// The loop does not collect: posts are delivered at once.
    direct: bool,
}

impl Mailbox {
    /// Posts deliveries of one exec thread, in order.
    pub fn post(&self, mail: impl IntoIterator<Item = Delivery>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.direct {
            drop(state);
            mail.into_iter().for_each(Delivery::deliver);
            return;
        }
        state.items.extend(mail);
        if !state.armed {
            state.armed = true;
            drop(state);
            self.wake.notify_one();
        }
    }

    /// Delivers what waits; whether anything did. An empty mailbox is disarmed: the next post
    /// wakes the loop.
    pub(super) fn deliver(&self) -> bool {
        let items = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.items.is_empty() {
                state.armed = false;
                return false;
            }
            std::mem::take(&mut state.items)
        };
        items.into_iter().for_each(Delivery::deliver);
        true
    }

    /// Whether posts are delivered at once (the loop is not running); switching to it
    /// delivers what waits.
    pub fn set_direct(&self, direct: bool) {
        let items = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.direct = direct;
            state.armed = false;
            std::mem::take(&mut state.items)
        };
        items.into_iter().for_each(Delivery::deliver);
    }
}

/// What the worker loop's next collection is.
pub enum Collect {
    /// A post into an empty mailbox.
    Woken,
    /// The deadline set at the last collection.
    Due,
}

/// Waits for the next collection: the deadline `at` if one is set, else a post into the
/// empty mailbox.
pub async fn next(at: Option<Instant>, mailbox: &Mailbox) -> Collect {
    match at {
        Some(_) => {
            report::until(at).await;
            Collect::Due
        }
        None => {
            mailbox.wake.notified().await;
            Collect::Woken
        }
    }
}

/// The channels the reports of delivered tasks come through.
pub struct Reports<'a> {
    pub started: &'a mut mpsc::UnboundedReceiver<super::ExecutionKey>,
    pub done: &'a mut mpsc::UnboundedReceiver<TaskResult>,
}

impl WorkerLoop {
    /// Collects the mailbox and sets `at`, the next collection: at once when woken (then
    /// again after [`REPORT_DELAY`]); when due, the tasks it delivers run to their reports,
    /// which are sent in this wake.
    pub(super) async fn collect(
        &mut self,
        how: Collect,
        at: &mut Option<Instant>,
        reports: Reports<'_>,
        unsent: &mut Unsent,
        senders: &TaskSenders,
        sender: &mut FrameSender,
    ) -> Result<(), ProtocolError> {
        let mailbox = self.ctx.mailbox.clone();
        let delivered = mailbox.deliver();
        *at = (delivered || matches!(how, Collect::Woken)).then(|| Instant::now() + REPORT_DELAY);
        if !delivered || matches!(how, Collect::Woken) {
            return Ok(());
        }
        // The tasks delivered to run now (their answers are ready), and report.
        tokio::task::yield_now().await;
        while let Ok(key) = reports.started.try_recv() {
            self.started(key, unsent, senders);
        }
        while let Ok(result) = reports.done.try_recv() {
            self.ended(result, unsent, senders);
        }
        if unsent.is_empty() {
            return Ok(());
        }
        unsent.flush(sender).await
    }
}
