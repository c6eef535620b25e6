//! The allocation-queue part of the dashboard feed: queue rows without their allocations, the
//! newest allocations of the queue on screen, and the "allocation 123 queued for 12m" wait
//! reason. Read from the autoalloc state, bounded like the rest of the feed.

use super::core::ServerCore;
use crate::autoalloc::{AllocStatus, QueueId, SubmitFailure};
use crate::common::duration::format_duration;
use crate::protocol::messages::*;
use std::time::Duration;

/// Manager output in the feed is cut to this many characters.
const OUTPUT_CHARS: usize = 2000;

impl ServerCore {
    /// Every queue (at most [`DASHBOARD_QUEUE_LIMIT`]), without allocations.
    pub(super) fn dash_queues(&self) -> Vec<DashQueue> {
        let now = self.now;
        self.autoalloc
            .state
            .queues
            .values()
            .take(DASHBOARD_QUEUE_LIMIT)
            .map(|q| {
                let info = q.info(now);
                let count = |s: AllocStatus| q.allocations.iter().filter(|a| a.status == s).count();
                let p = info.params;
                DashQueue {
                    id: q.id,
                    manager: p.manager,
                    name: p.name,
                    state: info.state,
                    backlog: p.backlog,
                    workers_per_alloc: p.max_workers_per_alloc,
                    max_worker_count: p.max_worker_count,
                    time_limit_secs: p.time_limit_secs,
                    args: p.additional_args,
                    queued: count(AllocStatus::Queued) as u32,
                    running: count(AllocStatus::Running) as u32,
                    allocations: q.allocations.len() as u32,
                    last_decision: info.last_decision,
                    last_failure: info.last_failure.map(cut_failure),
                    rate_limited_until: info.rate_limited_until,
                }
            })
            .collect()
    }

    /// The newest allocations of one queue (at most [`DASHBOARD_ALLOCATION_LIMIT`]).
    pub(super) fn dash_queue_detail(&self, id: QueueId) -> Option<DashQueueDetail> {
        let q = self.autoalloc.state.queues.get(&id)?;
        let info = q.info(self.now);
        let total = info.allocations.len() as u32;
        Some(DashQueueDetail {
            id,
            total,
            allocations: info
                .allocations
                .into_iter()
                .rev()
                .take(DASHBOARD_ALLOCATION_LIMIT)
                .collect(),
        })
    }

    /// Ready tasks wait for an allocation still queued in Slurm/PBS: the one queued longest,
    /// e.g. `allocation 123 (queue 1) queued for 12m`, and how many more are queued.
    pub(super) fn allocation_wait_reason(&self) -> Option<String> {
        let mut queued: Vec<(u64, &str, QueueId)> = self
            .autoalloc
            .state
            .queues
            .values()
            .flat_map(|q| q.queued().map(move |a| (a.queued_at, a.id.as_str(), q.id)))
            .collect();
        queued.sort_unstable();
        let (at, id, queue) = *queued.first()?;
        let waited = Duration::from_secs(self.now.saturating_sub(at) / 1000);
        let more = match queued.len() - 1 {
            0 => String::new(),
            1 => ", 1 more allocation queued".into(),
            n => format!(", {n} more allocations queued"),
        };
        Some(format!(
            "allocation {id} (queue {queue}) queued for {}{more}",
            format_duration(waited)
        ))
    }
}

fn cut_failure(mut f: SubmitFailure) -> SubmitFailure {
    let cut = |s: &mut String| {
        if let Some((i, _)) = s.char_indices().nth(OUTPUT_CHARS) {
            s.truncate(i);
            s.push_str("...");
        }
    };
    cut(&mut f.stdout);
    cut(&mut f.stderr);
    f
}
