//! Where the core and autoalloc meet: the core hands autoalloc what happened (requests,
//! operation results, workers connected or lost, the end of a round) and commits the changes it
//! answers with as `JournalEvent::Autoalloc`, so they are journaled and applied through
//! [`ServerCore::apply`] like every other event.

use super::autoalloc_ops::AllocResult;
use super::autoalloc_requests::Handled;
use super::core::ServerCore;
use super::journal::JournalEvent;
use super::outbox::Reply;
use crate::autoalloc::AllocEvent;
use crate::protocol::messages::{AllocRequest, ClientResponse, WorkerId, WorkerState};

impl ServerCore {
    /// Commits autoalloc's changes, then the pauses of queues that keep failing.
    fn commit_alloc(&mut self, events: Vec<AllocEvent>) {
        if events.is_empty() {
            return;
        }
        for e in events {
            self.commit(JournalEvent::Autoalloc(e));
        }
        for e in self.autoalloc.pauses_due() {
            self.commit(JournalEvent::Autoalloc(e));
        }
        self.autoalloc.prune_dirs();
    }

    /// Commits a request's changes (written before they apply); the answer.
    fn commit_alloc_request(&mut self, handled: Handled) -> Option<ClientResponse> {
        match handled {
            Handled::Reply(r) => Some(r),
            Handled::Later => None,
            Handled::Commit {
                events,
                ok,
                nothing,
            } => {
                let events = events.into_iter().map(JournalEvent::Autoalloc).collect();
                Some(match self.commit_request(events, nothing) {
                    Ok(()) => ok,
                    Err(e) => ClientResponse::Error(e),
                })
            }
        }
    }

    /// `hq alloc ...`: the answer now, or `None` when it comes with an operation's result.
    pub fn alloc_request(&mut self, req: AllocRequest, reply: &Reply) -> Option<ClientResponse> {
        let handled = self.autoalloc.handle(req, reply.clone(), self.now);
        self.commit_alloc_request(handled)
    }

    /// A finished autoalloc operation.
    pub fn alloc_result(&mut self, result: AllocResult) {
        let out = self.autoalloc.on_result(result);
        self.commit_alloc(out.events);
        for (to, response) in out.replies {
            self.outbox.reply(&to, response);
        }
        if let Some((params, to, dry_run_line)) = out.create {
            let handled = self.autoalloc.create_queue(params, vec![dry_run_line]);
            if let Some(response) = self.commit_alloc_request(handled) {
                self.outbox.reply(&to, response);
            }
        }
    }

    /// A worker registered (and its `WorkerConnected` was committed).
    pub(super) fn alloc_worker_connected(&mut self, id: WorkerId) {
        let Some(w) = self.workers.get(&id) else {
            return;
        };
        let events = self
            .autoalloc
            .worker_connected(id, &w.info.configuration, self.now);
        self.commit_alloc(events);
    }

    /// A worker was lost (and its loss was committed).
    pub(super) fn alloc_worker_lost(&mut self, id: WorkerId, reason: WorkerState) {
        let Some(w) = self.workers.get(&id) else {
            return;
        };
        let allocation = w.info.configuration.allocation.clone();
        let events = self
            .autoalloc
            .worker_lost(id, allocation.as_ref(), reason, self.now);
        self.commit_alloc(events);
    }

    /// Server shutdown: cancels every allocation and records it.
    pub(super) async fn alloc_shutdown(&mut self) {
        let events = self.autoalloc.shutdown().await;
        self.commit_alloc(events);
    }

    /// The end of a round: scheduling passes and status queries when they are due.
    pub(super) fn alloc_round(&mut self) {
        self.autoalloc.after_round(&self.scheduler, self.now);
    }
}
