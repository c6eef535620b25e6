//! `hq alloc` requests on the server: create (after a test submission), list, pause, resume,
//! remove. Part of [`AutoAllocService`]; changes are handed to the core to commit as a request
//! (written to the journal before they apply).

use super::autoalloc::{AutoAllocService, Reply};
use super::autoalloc_ops as ops;
use crate::autoalloc::info::QueueInfo;
use crate::autoalloc::{AllocEvent, AllocStatus, QueueId, QueueParams};
use crate::protocol::messages::{AllocRequest, ClientResponse, LogLine};

/// What the core does with an `hq alloc` request.
pub enum Handled {
    Reply(ClientResponse),
    /// Commit the changes as a request, then answer `ok` (or the journal's refusal, which
    /// ends with `nothing`).
    Commit {
        events: Vec<AllocEvent>,
        ok: ClientResponse,
        nothing: &'static str,
    },
    /// The answer comes when an operation (test submission, cancellations) ends.
    Later,
}

fn log_line(text: String) -> ClientResponse {
    ClientResponse::Log {
        lines: vec![LogLine::Info(text)],
        ok: true,
    }
}

impl AutoAllocService {
    pub fn handle(&mut self, req: AllocRequest, reply: Reply, now: u64) -> Handled {
        match req {
            AllocRequest::Add { params, dry_run } => {
                if let Err(e) = params.validate() {
                    return Handled::Reply(ClientResponse::Error(e.to_string()));
                }
                if !dry_run {
                    return self.create_queue(*params, vec![]);
                }
                self.start_dry_run(params, true, reply)
            }
            AllocRequest::DryRun { params } => {
                if let Err(e) = params.validate() {
                    return Handled::Reply(ClientResponse::Error(e.to_string()));
                }
                self.start_dry_run(params, false, reply)
            }
            AllocRequest::Queues { queue } => Handled::Reply(self.queues(queue, now)),
            AllocRequest::Pause { queue } => self.known(queue, || Handled::Commit {
                events: vec![AllocEvent::QueuePaused {
                    queue_id: queue,
                    reason: None,
                }],
                ok: log_line(format!("Allocation queue {queue} successfully paused")),
                nothing: "the queue was not paused",
            }),
            AllocRequest::Resume { queue } => self.known(queue, || Handled::Commit {
                events: vec![AllocEvent::QueueResumed { queue_id: queue }],
                ok: log_line(format!("Allocation queue {queue} successfully resumed")),
                nothing: "the queue was not resumed",
            }),
            AllocRequest::Remove { queue, force } => self.remove(queue, force, reply),
        }
    }

    fn known(&self, queue: QueueId, f: impl FnOnce() -> Handled) -> Handled {
        match self.state.queues.contains_key(&queue) {
            true => f(),
            false => Handled::Reply(not_found(queue)),
        }
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
            (Some(id), true) => not_found(id),
            _ => ClientResponse::AllocQueues(infos),
        }
    }

    /// The creation of a queue with the next ID; `lines` come before its own log lines.
    pub fn create_queue(&self, params: QueueParams, mut lines: Vec<LogLine>) -> Handled {
        let warnings = params.validate().unwrap_or_default();
        let id = self.state.next_queue_id;
        lines.extend(warnings.into_iter().map(LogLine::Warn));
        lines.push(LogLine::Info(format!(
            "Allocation queue {id} successfully created"
        )));
        Handled::Commit {
            events: vec![AllocEvent::QueueCreated {
                queue_id: id,
                params: Box::new(params),
            }],
            ok: ClientResponse::Log { lines, ok: true },
            nothing: "no queue was created",
        }
    }

    fn start_dry_run(&mut self, params: Box<QueueParams>, create: bool, reply: Reply) -> Handled {
        let Some(ctx) = self.ctx.clone() else {
            return Handled::Reply(ClientResponse::Error("the server is not running".into()));
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
        Handled::Later
    }

    fn remove(&mut self, queue: QueueId, force: bool, reply: Reply) -> Handled {
        let Some(q) = self.state.queues.get(&queue) else {
            return Handled::Reply(not_found(queue));
        };
        let running = q.active().any(|a| a.status == AllocStatus::Running);
        if running && !force {
            return Handled::Reply(ClientResponse::Error(
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
                let token = Some(self.next_token);
                let batch = ops::run_batch(ctx.clone(), queue, params, active, vec![], token);
                tokio::spawn(batch);
                Handled::Later
            }
            _ => Handled::Commit {
                events: vec![AllocEvent::QueueRemoved { queue_id: queue }],
                ok: removed(queue),
                nothing: "the queue was not removed",
            },
        }
    }
}

fn not_found(queue: QueueId) -> ClientResponse {
    ClientResponse::Error(format!("Allocation queue {queue} not found"))
}

/// The answer to a removal.
pub(super) fn removed(queue: QueueId) -> ClientResponse {
    log_line(format!("Allocation queue {queue} successfully removed"))
}
