//! `hq task explain`: why a task can or cannot run, per worker and resource variant.

use super::core::ServerCore;
use crate::protocol::messages::*;
use crate::resources::ResourceRequest;

impl ServerCore {
    pub(super) fn explain(&self, job_id: JobId, task_id: TaskId, now: u64) -> ClientResponse {
        let Some(job) = self.jobs.get(&job_id) else {
            return ClientResponse::Error(format!("Job {job_id} not found"));
        };
        let Some(task) = job.index_of(task_id).map(|i| &job.tasks[i]) else {
            return ClientResponse::Error(format!("Task {task_id} not found in job {job_id}"));
        };
        let group = &job.groups[task.group as usize];
        let workers = self
            .scheduler
            .worker_ids()
            .into_iter()
            .filter(|w| self.workers.contains_key(w))
            .map(|worker| WorkerExplanation {
                worker,
                variants: (group.body.resources.variants.iter().enumerate())
                    .map(|(v, request)| VariantExplanation {
                        runnable: self.scheduler.could_run(worker, group.req, v, now),
                        checks: self.checks(worker, request, now),
                    })
                    .collect(),
            })
            .collect();
        let deps: Vec<TaskId> = group.deps.of_task(task_id).collect();
        let unfinished = deps
            .iter()
            .filter(|d| {
                job.index_of(**d)
                    .is_none_or(|i| job.tasks[i].status != TaskStatus::Finished)
            })
            .count();
        ClientResponse::Explain(TaskExplanation {
            job: job_id,
            task: task_id,
            deps_total: deps.len() as u32,
            deps_unfinished: unfinished as u32,
            workers,
        })
    }

    /// Each requirement of one variant on `worker`, checked alone against the idle worker.
    fn checks(&self, worker: WorkerId, request: &ResourceRequest, now: u64) -> Vec<ExplainCheck> {
        let mut checks = Vec::new();
        if request.min_time_secs > 0 {
            checks.push(ExplainCheck::Time {
                min_time_secs: request.min_time_secs,
                remaining_ms: self.scheduler.remaining_ms(worker, now),
                ok: self
                    .scheduler
                    .time_allows(worker, request.min_time_secs, now),
            });
        }
        let Some(entry) = self.workers.get(&worker) else {
            return checks;
        };
        let config = &entry.info.configuration;
        if request.n_nodes > 0 {
            let group_size = self.scheduler.group_size(&config.group) as u32;
            checks.push(ExplainCheck::Nodes {
                n_nodes: request.n_nodes,
                group_size,
                ok: group_size >= request.n_nodes,
            });
        }
        for e in &request.resources {
            checks.push(ExplainCheck::Resource {
                resource: e.resource.clone(),
                request: e.request.clone(),
                provided: (config.resources.get(&e.resource))
                    .map(|k| k.size())
                    .unwrap_or_default(),
                ok: self.scheduler.entry_could_run(worker, e),
            });
        }
        checks
    }
}
