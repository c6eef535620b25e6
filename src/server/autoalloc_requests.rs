//! `hq alloc` requests on the server: create (after a test submission), list, pause, resume,
//! remove. Part of [`AutoAllocService`].

use super::autoalloc::{AutoAllocService, Reply};
use super::autoalloc_ops as ops;
use crate::autoalloc::info::QueueInfo;
use crate::autoalloc::{AllocEvent, AllocStatus, QueueId, QueueParams};
use crate::protocol::messages::{AllocRequest, ClientResponse, LogLine};

impl AutoAllocService {
    /// `hq alloc ...`; `None` when the answer comes later.
    pub fn handle(&mut self, req: AllocRequest, reply: Reply, now: u64) -> Option<ClientResponse> {
        match req {
            AllocRequest::Add { params, dry_run } => {
                if let Err(e) = params.validate() {
                    return Some(ClientResponse::Error(e.to_string()));
                }
                if !dry_run {
                    return Some(self.create_queue(*params, now, vec![]));
                }
                self.start_dry_run(params, true, reply);
                None
            }
            AllocRequest::DryRun { params } => {
                if let Err(e) = params.validate() {
                    return Some(ClientResponse::Error(e.to_string()));
                }
                self.start_dry_run(params, false, reply);
                None
            }
            AllocRequest::Queues { queue } => Some(self.queues(queue, now)),
            AllocRequest::Pause { queue } => Some(self.pause(queue, now)),
            AllocRequest::Resume { queue } => Some(self.with_queue(queue, |s| {
                s.emit(now, AllocEvent::QueueResumed { queue_id: queue });
                format!("Allocation queue {queue} successfully resumed")
            })),
            AllocRequest::Remove { queue, force } => self.remove(queue, force, reply, now),
        }
    }

    fn with_queue(
        &mut self,
        queue: QueueId,
        f: impl FnOnce(&mut Self) -> String,
    ) -> ClientResponse {
        if !self.state.queues.contains_key(&queue) {
            return ClientResponse::Error(format!("Allocation queue {queue} not found"));
        }
        let line = f(self);
        ClientResponse::Log {
            lines: vec![LogLine::Info(line)],
            ok: true,
        }
    }

    fn pause(&mut self, queue: QueueId, now: u64) -> ClientResponse {
        self.with_queue(queue, |s| {
            s.emit(
                now,
                AllocEvent::QueuePaused {
                    queue_id: queue,
                    reason: None,
                },
            );
            format!("Allocation queue {queue} successfully paused")
        })
    }

    fn queues(&self, queue: Option<QueueId>, now: u64) -> ClientResponse {
        let infos: Vec<QueueInfo> = self
            .state
            .queues
            .values()
            .filter(|q| queue.is_none_or(|id| q.id == id))
            .map(|q| q.info(now))
            .collect();
        match (queue, infos.is_empty()) {
            (Some(id), true) => ClientResponse::Error(format!("Allocation queue {id} not found")),
            _ => ClientResponse::AllocQueues(infos),
        }
    }

    pub(super) fn create_queue(
        &mut self,
        params: QueueParams,
        now: u64,
        mut lines: Vec<LogLine>,
    ) -> ClientResponse {
        let warnings = params.validate().unwrap_or_default();
        let id = self.state.next_queue_id;
        self.emit(
            now,
            AllocEvent::QueueCreated {
                queue_id: id,
                params: Box::new(params),
            },
        );
        lines.extend(warnings.into_iter().map(LogLine::Warn));
        lines.push(LogLine::Info(format!(
            "Allocation queue {id} successfully created"
        )));
        ClientResponse::Log { lines, ok: true }
    }

    fn start_dry_run(&mut self, params: Box<QueueParams>, create: bool, reply: Reply) {
        let Some(ctx) = self.ctx.clone() else {
            let _ = reply.send(ClientResponse::Error("the server is not running".into()));
            return;
        };
        self.next_token += 1;
        self.dry_runs += 1;
        let token = self.next_token;
        self.replies.insert(token, reply);
        let dir = ctx
            .run_dir
            .join("autoalloc")
            .join(format!("dry-run-{:03}", self.dry_runs));
        tokio::spawn(ops::dry_run(ctx, token, params, create, dir));
    }

    fn remove(
        &mut self,
        queue: QueueId,
        force: bool,
        reply: Reply,
        now: u64,
    ) -> Option<ClientResponse> {
        let Some(q) = self.state.queues.get(&queue) else {
            return Some(ClientResponse::Error(format!(
                "Allocation queue {queue} not found"
            )));
        };
        let running = q.active().any(|a| a.status == AllocStatus::Running);
        if running && !force {
            return Some(ClientResponse::Error(
                "Allocation queue has running jobs, so it will not be removed. Use `--force` if \
                 you want to remove the queue anyway"
                    .into(),
            ));
        }
        let active: Vec<String> = q.active().map(|a| a.id.clone()).collect();
        let params = q.params.clone();
        match (&self.ctx, active.is_empty()) {
            (Some(ctx), false) => {
                self.next_token += 1;
                self.replies.insert(self.next_token, reply);
                self.busy.insert(queue);
                let batch = ops::run_batch(
                    ctx.clone(),
                    queue,
                    params,
                    active,
                    vec![],
                    Some(self.next_token),
                );
                tokio::spawn(batch);
                None
            }
            _ => {
                self.emit(now, AllocEvent::QueueRemoved { queue_id: queue });
                Some(removed(queue))
            }
        }
    }
}

/// The answer to a removal.
pub(super) fn removed(queue: QueueId) -> ClientResponse {
    ClientResponse::Log {
        lines: vec![LogLine::Info(format!(
            "Allocation queue {queue} successfully removed"
        ))],
        ok: true,
    }
}
