//! `hq server debug-dump`: the scheduler's state as JSON, for diagnosing why tasks wait.

use super::core::Scheduler;
use crate::resources::CPU_RESOURCE_NAME;
use serde_json::{json, Value};

impl Scheduler {
    /// Requests, ready queues (in pass order), workers with their free CPUs, placements, and
    /// the tasks queued on workers behind running ones.
    pub fn dump(&self) -> Value {
        let queues: Vec<Value> = self
            .queues
            .iter()
            .map(|(k, q)| json!({"priority": k.0 .0, "job": k.1, "request": k.2, "ready": q.len()}))
            .collect();
        let workers: Vec<Value> = self
            .workers
            .iter()
            .map(|(id, w)| {
                json!({
                    "id": id,
                    "group": w.group,
                    "deadline_ms": w.deadline_ms,
                    "free_cpus": w.allocator.free_amount(CPU_RESOURCE_NAME).map(|a| a.to_string()),
                    "allocations": w.allocator.running(),
                    "min_busy_cpus": w.min_busy_cpus.to_string(),
                    "multi_node": w.reserved.then_some(if w.main_node { "main" } else { "secondary" }),
                    "held_for_multi_node": self.held_for_multi_node.contains(id),
                })
            })
            .collect();
        let mut running: Vec<Value> = self
            .running
            .iter()
            .map(|(k, p)| json!({"job": k.job, "task": k.task, "workers": p.workers}))
            .collect();
        running.sort_by_key(|v| (v["job"].as_u64(), v["task"].as_u64()));
        let mut queued: Vec<Value> = self
            .queued
            .iter()
            .map(|(k, q)| {
                json!({"job": k.job, "task": k.task, "worker": q.worker,
                    "after": {"job": q.after.job, "task": q.after.task}})
            })
            .collect();
        queued.sort_by_key(|v| (v["job"].as_u64(), v["task"].as_u64()));
        json!({
            "requests": self.requests,
            "queues": queues,
            "ready_tasks": self.ready_count,
            "workers": workers,
            "running": running,
            "queued": queued,
        })
    }
}
