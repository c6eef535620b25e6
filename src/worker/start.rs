//! Starting executions: right away, or handed over to the exec-thread chain of the process
//! they wait behind (`exec.rs`), which starts them the moment it exits; a task can be handed
//! over behind one that was handed over itself and has not started yet. A handed-over task
//! is in `running` from then on, but for the server it still waits: its start and result are
//! held back until its predecessor's result has been reported, so the server always sees a
//! task end before its successor starts. Until it begins to start, the worker can take it
//! back (cancel, retraction, shutdown) as it takes a task out of its queue.

use super::report::{Report, Unsent};
use super::{exec, launcher, ExecutionKey, Running, TaskSenders, WorkerLoop};
use crate::protocol::messages::{TaskAssignment, TaskOutcome, TaskResult};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A handed-over task whose predecessor's end the worker loop has not seen yet.
pub(super) struct Handed {
    pub after: ExecutionKey,
    /// Its place in the exec-thread chain it was handed to.
    pub ticket: exec::Ticket,
    /// Its variant's time request (for `expired_queued`).
    pub min_time_secs: u64,
    /// Its process has started (reported once the predecessor's result is).
    pub started: bool,
    /// Its result, if it ended before the predecessor's result was seen.
    pub parked: Option<TaskResult>,
}

impl WorkerLoop {
    /// Starts `a` now.
    pub(super) fn start(&mut self, a: TaskAssignment, senders: &TaskSenders) {
        let key = (a.job, a.task, a.instance);
        let Some(body) = self.bodies.get(&a.body).cloned() else {
            let outcome = TaskOutcome::Failed(
                "internal error: task body missing on the worker, please report".into(),
            );
            let _ = senders.done.send(result(key, outcome));
            return;
        };
        if self.opts.noop_tasks {
            let _ = senders.started.send(key);
            let _ = senders.done.send(result(key, TaskOutcome::Finished));
            return;
        }
        let (running, link) = self.new_running(key, senders);
        self.running.insert(key, running);
        let ctx = self.ctx.clone();
        let done = senders.done.clone();
        tokio::spawn(async move {
            let outcome = launcher::run_task(ctx, a, body, link).await;
            let _ = done.send(result(key, outcome));
        });
    }

    /// Queues `a` behind `after`: handed over to the exec-thread chain of `after` if it can be,
    /// with what the queue holds behind `a`; else in the queue, started when `after`'s result
    /// is seen (or handed over when `after` starts).
    pub(super) fn start_behind(
        &mut self,
        after: ExecutionKey,
        a: TaskAssignment,
        senders: &TaskSenders,
    ) {
        let (mut after, mut a) = (after, a);
        loop {
            let key = (a.job, a.task, a.instance);
            if let Some(a) = self.hand_over(after, a, senders) {
                self.queue.hold(after, a);
                return;
            }
            // What waits behind it in the queue joins the same chain, so the exec thread has
            // every task the server queued there without waiting for the loop at each start.
            match self.queue.take_after(&key) {
                Some(next) => (after, a) = (key, next),
                None => return,
            }
        }
    }

    /// Hands `a` over behind `after` (which runs, or was handed over itself) to the
    /// exec-thread chain of `after`; gives it back if it cannot be.
    fn hand_over(
        &mut self,
        after: ExecutionKey,
        a: TaskAssignment,
        senders: &TaskSenders,
    ) -> Option<TaskAssignment> {
        let Some(pred) = self.running.get(&after) else {
            return Some(a);
        };
        if pred.next.is_some() || self.opts.noop_tasks {
            return Some(a);
        }
        let Some(slot) = pred.link.get().cloned() else {
            return Some(a);
        };
        let Some(body) = self.bodies.get(&a.body).cloned() else {
            return Some(a);
        };
        let key = (a.job, a.task, a.instance);
        let (mut running, link) = self.new_running(key, senders);
        let Some((prepared, launch)) =
            launcher::prepare_handover(&self.ctx, &a, &body, &link.access_key)
        else {
            return Some(a);
        };
        let Some((pending, ticket)) = slot.hand_over(launch) else {
            return Some(a);
        };
        // Its chain, for what is handed over behind it before it starts.
        let _ = link.slot.set(slot);
        let min_time_secs = body.body.resources.variants.get(a.variant as usize);
        running.handed = Some(Handed {
            after,
            ticket,
            min_time_secs: min_time_secs.map_or(0, |r| r.min_time_secs),
            started: false,
            parked: None,
        });
        if let Some(pred) = self.running.get_mut(&after) {
            pred.next = Some(key);
        }
        self.running.insert(key, running);
        self.handed += 1;
        let done = senders.done.clone();
        tokio::spawn(async move {
            if let Some(outcome) = launcher::run_handed(prepared, a, body, link, pending).await {
                let _ = done.send(result(key, outcome));
            }
        });
        None
    }

    /// The entry of a new execution and what its task is given.
    fn new_running(&self, key: ExecutionKey, senders: &TaskSenders) -> (Running, launcher::Link) {
        let (cancel_tx, cancel_rx) = oneshot::channel();
        let secret = hex::encode(rand::random::<[u8; 16]>());
        let access_key = crate::common::notify::AccessKey {
            socket: self.notify_socket.clone(),
            job: key.0,
            task: key.1,
            instance: key.2,
            secret: secret.clone(),
        };
        let slot = Arc::new(std::sync::OnceLock::new());
        let running = Running {
            cancel: Some(cancel_tx),
            secret,
            link: slot.clone(),
            next: None,
            handed: None,
        };
        let started = senders.started.clone();
        let link = launcher::Link {
            cancel: cancel_rx,
            started: Box::new(move || {
                let _ = started.send(key);
            }),
            access_key: access_key.to_string(),
            slot,
        };
        (running, link)
    }

    /// An execution's process runs: reported (unless it waits for its predecessor's report),
    /// and the task queued behind it is handed over to its exec thread.
    pub(super) fn started(
        &mut self,
        key: ExecutionKey,
        unsent: &mut Unsent,
        senders: &TaskSenders,
    ) {
        match self.running.get_mut(&key).and_then(|r| r.handed.as_mut()) {
            Some(h) => h.started = true,
            None => unsent.push(Report::Started(key)),
        }
        if let Some(next) = self.queue.take_after(&key) {
            self.start_behind(key, next, senders);
        }
    }

    /// An execution ended: reported, unless it waits for its predecessor's report; then its
    /// handed-over successor may be reported, or the task queued behind it starts.
    pub(super) fn ended(&mut self, r: TaskResult, unsent: &mut Unsent, senders: &TaskSenders) {
        let key = (r.job, r.task, r.instance);
        if let Some(h) = self.running.get_mut(&key).and_then(|e| e.handed.as_mut()) {
            h.parked = Some(r);
            return;
        }
        unsent.push(Report::Result(r));
        let Some(entry) = self.running.remove(&key) else {
            return;
        };
        match entry
            .next
            .and_then(|n| Some((n, self.running.get_mut(&n)?)))
        {
            Some((next, succ)) => {
                let Some(h) = succ.handed.take() else {
                    return;
                };
                self.handed -= 1;
                if h.started {
                    unsent.push(Report::Started(next));
                    // What waits behind it in the queue can be handed over now.
                    if let Some(queued) = self.queue.take_after(&next) {
                        self.start_behind(next, queued, senders);
                    }
                }
                if let Some(r) = h.parked {
                    // Its result follows its start; then come the reports of what it released
                    // in turn (a task handed over behind it), in their order.
                    self.ended(r, unsent, senders);
                }
            }
            None => {
                if let Some(next) = self.queue.take_after(&key) {
                    self.start(next, senders);
                }
            }
        }
    }

    /// Takes back a handed-over task that has not begun to start; whether it was.
    pub(super) fn withdraw(&mut self, key: &ExecutionKey) -> bool {
        let Some(entry) = self.running.get(key) else {
            return false;
        };
        let Some((after, ticket)) = entry.handed.as_ref().map(|h| (h.after, h.ticket)) else {
            return false;
        };
        if !entry.link.get().is_some_and(|s| s.withdraw(ticket)) {
            return false;
        }
        let next = self.running.remove(key).and_then(|e| e.next);
        self.handed -= 1;
        // What waited behind it moves up behind its predecessor (as the server relinks it):
        // a task handed over behind it already waits in the chain, right behind that one.
        if let Some(pred) = self.running.get_mut(&after) {
            pred.next = next;
        }
        let succ = next.and_then(|n| self.running.get_mut(&n));
        if let Some(h) = succ.and_then(|s| s.handed.as_mut()) {
            h.after = after;
        }
        if let Some(queued) = self.queue.take_after(key) {
            self.queue.hold(after, queued);
        }
        true
    }

    /// Takes back every handed-over task that has not begun to start, and takes out the
    /// results held back for a predecessor's report (the worker stops or lost the server):
    /// afterwards every entry of `running` still has a result to come.
    pub(super) fn withdraw_all(&mut self) -> Vec<TaskResult> {
        let handed: Vec<ExecutionKey> = self
            .running
            .iter()
            .filter(|(_, r)| r.handed.is_some())
            .map(|(k, _)| *k)
            .collect();
        let mut parked = Vec::new();
        for key in handed {
            if self.withdraw(&key) {
                continue;
            }
            let entry = self.running.get_mut(&key).and_then(|r| r.handed.take());
            self.handed -= 1;
            if let Some(r) = entry.and_then(|h| h.parked) {
                self.running.remove(&key);
                parked.push(r);
            }
        }
        parked
    }
}

fn result(key: ExecutionKey, outcome: TaskOutcome) -> TaskResult {
    TaskResult {
        job: key.0,
        task: key.1,
        instance: key.2,
        outcome,
    }
}
