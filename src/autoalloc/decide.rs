//! The pure decision of one queue: from its state, the demand the scheduler reported for its
//! workers, and the time, which allocations to submit and which queued ones to cancel, and why.

use super::events::AllocationId;
use super::state::{AllocStatus, Allocation, DecisionInfo, Queue};
use crate::resources::flags::worker_pools_from_cli;
use crate::resources::ResourceDescriptor;
use crate::scheduler::{DemandQuery, DemandReport};

/// What a queue does now.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Worker counts of the allocations to submit, in order.
    pub submit: Vec<u32>,
    /// Queued allocations nobody needs any more.
    pub cancel: Vec<AllocationId>,
    pub info: DecisionInfo,
}

/// The worker shape demand is computed for.
pub struct Shape {
    pub descriptor: ResourceDescriptor,
    /// Only what the user declared (or nothing): real workers may have more.
    pub partial: bool,
}

impl Queue {
    /// Resources of the queue's workers: those of a connected worker, else the declared ones.
    pub fn shape(&self) -> Shape {
        if let Some(known) = &self.known_resources {
            return Shape {
                descriptor: known.clone(),
                partial: false,
            };
        }
        let w = &self.params.worker;
        let descriptor = worker_pools_from_cli(w.cpus.as_deref(), &w.resources)
            .map(|p| p.descriptor)
            .unwrap_or_default();
        Shape {
            descriptor,
            partial: true,
        }
    }

    /// The question to ask the scheduler for this queue (`shape` from [`Queue::shape`],
    /// `queued` from [`Queue::expected_sizes`]).
    pub fn demand_query<'a>(&self, shape: &'a Shape, queued: &'a [u32]) -> DemandQuery<'a> {
        DemandQuery {
            worker: &shape.descriptor,
            partial: shape.partial,
            lifetime_ms: Some(self.params.worker_lifetime_ms()),
            queued,
            max_new_workers: self.room_for_workers(),
            max_nodes: self.params.max_workers_per_alloc,
            min_utilization: self.params.worker.min_utilization.unwrap_or(0.0),
        }
    }

    /// Allocations whose workers are still to come (queued, or started in the manager before
    /// all their workers connected), with how many: the demand counts them as capacity.
    pub fn expected(&self) -> impl Iterator<Item = (&Allocation, u32)> {
        self.active().filter_map(|a| {
            let gone = (a.connected.len() + a.ended_workers.len()) as u32;
            let pending = a.target_workers.saturating_sub(gone);
            (pending > 0).then_some((a, pending))
        })
    }

    /// Worker counts of [`Queue::expected`], in the order [`decide`] expects them.
    pub fn expected_sizes(&self) -> Vec<u32> {
        self.expected().map(|(_, n)| n).collect()
    }
}

/// Decides for one queue; `demand` must come from [`Queue::demand_query`] with
/// [`Queue::expected_sizes`].
pub fn decide(q: &Queue, demand: &DemandReport, now: u64) -> Decision {
    let unrunnable: Vec<(u64, String)> = demand
        .unrunnable
        .iter()
        .map(|u| (u.tasks, u.reason.clone()))
        .collect();
    let info = |action: String, reason: String| DecisionInfo {
        at: now,
        action,
        reason,
        unrunnable: unrunnable.clone(),
    };
    if let Some(paused) = &q.paused {
        let reason = match paused {
            None => "paused by the user (`hq alloc resume` resumes it)".to_string(),
            Some(r) => format!("{r} (`hq alloc resume` resumes it)"),
        };
        return Decision {
            submit: vec![],
            cancel: vec![],
            info: info("nothing".into(), reason),
        };
    }
    // Demand for resources nobody declared: one allocation finds out what workers offer.
    let probing = q.known_resources.is_none() && demand.undeclared > 0;
    let cancel = scale_in(q, demand, probing);
    let mut submit = planned(q, demand, probing);
    let cancel_text = |action: &str| match cancel.len() {
        0 => action.to_string(),
        n => format!("cancelling {n} queued allocation(s) nobody needs"),
    };
    if submit.is_empty() {
        let reason = match cancel.len() {
            0 => idle_reason(q, demand, probing),
            n => format!("scale in: the demand for {n} queued allocation(s) is gone"),
        };
        return Decision {
            info: info(cancel_text("nothing"), reason),
            submit,
            cancel,
        };
    }
    if let Some(until) = q.limiter.limited_until(now) {
        let l = &q.limiter;
        let reason = format!(
            "rate-limited until {} after {} failed submissions and {} failed allocations in a row",
            format_time(until),
            l.submission_fails,
            l.allocation_fails
        );
        return Decision {
            info: info(cancel_text("nothing"), reason),
            submit: vec![],
            cancel,
        };
    }
    let backlog_room = q.params.backlog.saturating_sub(q.queued().count() as u32) as usize;
    submit.truncate(backlog_room);
    if submit.is_empty() {
        return Decision {
            info: info(cancel_text("nothing"), backlog_full(q)),
            submit,
            cancel,
        };
    }
    let workers: u32 = submit.iter().sum();
    let action = format!(
        "submitting {} allocation(s) with {workers} worker(s)",
        submit.len()
    );
    Decision {
        submit,
        cancel,
        info: info(action, submit_reason(demand, probing)),
    }
}

/// Queued allocations the ready tasks no longer need. Only allocations still waiting in the
/// manager can go (one that started is about to bring its workers); a probe stays.
fn scale_in(q: &Queue, demand: &DemandReport, probing: bool) -> Vec<AllocationId> {
    let mut cancel: Vec<AllocationId> = q
        .expected()
        .zip(demand.queued_used.iter().chain(std::iter::repeat(&0)))
        .filter(|((a, _), used)| **used == 0 && a.status == AllocStatus::Queued)
        .map(|((a, _), _)| a.id.clone())
        .collect();
    if probing && cancel.len() == q.expected().count() && !cancel.is_empty() {
        cancel.remove(0);
    }
    cancel
}

/// Worker counts of the allocations the demand asks for: multi-node ones first, then
/// single-node workers packed into allocations of the largest size; or one probe.
fn planned(q: &Queue, demand: &DemandReport, probing: bool) -> Vec<u32> {
    let mut submit: Vec<u32> = demand.new_multi_node.clone();
    let per_alloc = q.params.max_workers_per_alloc.max(1);
    let mut single = demand.new_workers;
    while single > 0 {
        let n = single.min(per_alloc);
        submit.push(n);
        single -= n;
    }
    if submit.is_empty() && probing && q.active().count() == 0 && q.room_for_workers() > 0 {
        submit.push(1);
    }
    submit
}

fn submit_reason(demand: &DemandReport, probing: bool) -> String {
    if probing && demand.new_workers == 0 {
        format!(
            "{} waiting task(s) need resources the queue does not declare; one allocation finds \
             out what its workers offer",
            demand.undeclared
        )
    } else {
        format!(
            "{} ready task(s) could run on new workers",
            demand.ready - demand.fit_existing
        )
    }
}

fn idle_reason(q: &Queue, d: &DemandReport, probing: bool) -> String {
    let queued = q.queued().count() as u32;
    if probing {
        return "waiting for the first worker to learn what workers of this queue offer".into();
    }
    if d.over_limit > 0 {
        if queued >= q.params.backlog {
            return backlog_full(q);
        }
        if let Some(max) = q.params.max_worker_count {
            return format!(
                "max workers reached: {} of {max} workers are queued or running; {} task(s) wait",
                q.worker_count(),
                d.over_limit
            );
        }
    }
    let runnable = d
        .ready
        .saturating_sub(d.unrunnable.iter().map(|u| u.tasks).sum::<u64>());
    if d.ready == 0 {
        "no demand: no task is ready to run".into()
    } else if runnable == 0 {
        "no demand: no waiting task could run on a worker of this queue".into()
    } else if d.fit_existing >= runnable {
        "no demand: connected workers have room for the ready tasks".into()
    } else {
        "no new demand: queued allocations cover the ready tasks".into()
    }
}

fn backlog_full(q: &Queue) -> String {
    format!(
        "backlog full: {} of {} allocation(s) are waiting in {}",
        q.queued().count(),
        q.params.backlog,
        q.params.manager.display_name()
    )
}

/// `YYYY-MM-DD HH:MM:SS UTC` of milliseconds since the epoch.
pub fn format_time(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}
