//! Read-only client requests: job details with their tasks, `hq task explain`, worker lists.

use super::core::ServerCore;
use super::state::Job;
use crate::common::idset::IdSet;
use crate::common::placeholders;
use crate::protocol::messages::*;

/// Most tasks one answer lists: building more would take hundreds of MiB and exceed the frame
/// limit anyway, so the client is asked to select fewer instead.
pub const MAX_LISTED_TASKS: u64 = 1_000_000;

impl ServerCore {
    /// `hq job info`, `hq task list/info`: the selected jobs, with the tasks that `tasks`
    /// selects (`None`: all, with `include_tasks`).
    pub(super) fn job_details(
        &self,
        selector: &IdSelector,
        include_tasks: bool,
        tasks: Option<&IdSet>,
    ) -> ClientResponse {
        let (ids, missing) = selector.select(&self.jobs);
        if include_tasks {
            let listed: u64 = ids
                .iter()
                .filter_map(|id| self.jobs.get(id))
                .map(|j| j.count_in(tasks))
                .sum();
            if listed > MAX_LISTED_TASKS {
                return ClientResponse::Error(format!(
                    "the selection has {listed} tasks, but one answer lists at most {MAX_LISTED_TASKS}; select fewer jobs, or fewer tasks with `--tasks` (e.g. `hq task list {} --tasks 0-999999`)",
                    ids.first().copied().unwrap_or(1)
                ));
            }
        }
        let jobs = ids
            .iter()
            .filter_map(|id| self.jobs.get(id))
            .map(|j| self.job_detail(j, include_tasks, tasks))
            .collect();
        ClientResponse::JobDetails { jobs, missing }
    }

    /// The failed tasks of the selected jobs with their errors and resolved paths.
    pub(super) fn failed_tasks(&self, selector: &IdSelector) -> ClientResponse {
        let (ids, missing) = selector.select(&self.jobs);
        let failed: u64 = ids
            .iter()
            .filter_map(|id| self.jobs.get(id))
            .map(|j| j.stats.failed as u64)
            .sum();
        if failed > MAX_LISTED_TASKS {
            return ClientResponse::Error(format!(
                "the selection has {failed} failed tasks, but one answer lists at most {MAX_LISTED_TASKS}; select fewer jobs"
            ));
        }
        let jobs = ids
            .iter()
            .filter_map(|id| self.jobs.get(id))
            .map(|job| {
                let failed = job
                    .tasks
                    .iter()
                    .filter(|t| t.status == TaskStatus::Failed)
                    .map(|t| {
                        let program = &job.groups[t.group as usize].body.program;
                        let values = placeholders::Values::at_submit(
                            job.id,
                            &job.name,
                            &job.submit_dir,
                            &self.info.server_uid,
                        )
                        .with_execution(t.id, t.instance());
                        let paths = placeholders::execution_paths(program, &values);
                        FailedTask {
                            id: t.id,
                            error: job.errors.get(&t.id).cloned().unwrap_or_default(),
                            cwd: paths.cwd,
                            stdout: paths.stdout,
                            stderr: paths.stderr,
                        }
                    })
                    .collect();
                (job.id, failed)
            })
            .collect();
        ClientResponse::FailedTasks { jobs, missing }
    }

    fn job_detail(&self, job: &Job, include_tasks: bool, selected: Option<&IdSet>) -> JobDetail {
        let hostname = |w: WorkerId| {
            self.workers
                .get(&w)
                .map(|e| e.info.configuration.hostname.clone())
                .unwrap_or_default()
        };
        let tasks = if include_tasks {
            job.tasks_in(selected)
                .map(|t| {
                    // An assigned task is shown waiting, without a worker, until it starts.
                    let started = t.started_ms.ms() > 0
                        && (t.status != TaskStatus::Waiting || t.next_instance > 0);
                    let workers: Vec<WorkerId> = match job.multi_node.get(&t.id) {
                        _ if t.is_assigned() => vec![],
                        Some(ws) => ws.clone(),
                        None if t.worker != 0 => vec![t.worker],
                        None => vec![],
                    };
                    TaskDetail {
                        id: t.id,
                        status: t.shown_status(),
                        instance: t.instance(),
                        crash_count: t.crash_count as u32,
                        retries: t.retries as u32,
                        workers: workers.into_iter().map(|w| (w, hostname(w))).collect(),
                        started_at: started.then_some(t.started_ms.ms()),
                        finished_at: (t.finished_ms.ms() > 0 && t.status.is_terminal())
                            .then_some(t.finished_ms.ms()),
                        error: job
                            .errors
                            .get(&t.id)
                            .cloned()
                            .filter(|_| t.status == TaskStatus::Failed),
                        group: t.group,
                        deps: job.deps_of(t),
                        entry: job.groups[t.group as usize].entry_of(t.id),
                    }
                })
                .collect()
        } else {
            vec![]
        };
        JobDetail {
            info: job.info(),
            max_fails: job.max_fails,
            submit_dir: job.submit_dir.clone(),
            submitted_at: job.submitted_at,
            completed_at: job.completed_at,
            groups: job
                .groups
                .iter()
                .map(|g| TaskGroupSummary {
                    ids: g.ids.clone(),
                    body: g.body.clone(),
                })
                .collect(),
            tasks,
        }
    }

    pub(super) fn worker_infos(&self) -> Vec<WorkerInfo> {
        self.workers
            .iter()
            .map(|(id, w)| {
                let mut info = w.info.clone();
                info.running_tasks = self.scheduler.running_on(*id) as u32;
                info.multi_node_main = self.scheduler.multi_node_role(*id);
                info.reserved = self.scheduler.is_held_for_multi_node(*id);
                info
            })
            .collect()
    }

    /// `hq server debug-dump`: the server's state in JSON. The scheduler's part is under
    /// `tako`, the key the reference (whose scheduler is the `tako` crate) uses, so scripts
    /// that look for it find it.
    pub(super) fn debug_dump(&self) -> serde_json::Value {
        let jobs: Vec<serde_json::Value> = self
            .jobs
            .values()
            .map(|j| {
                let stats = &j.stats;
                serde_json::json!({
                    "id": j.id, "name": j.name, "is_open": j.is_open, "tasks": j.tasks.len(),
                    "waiting": stats.waiting, "running": stats.running, "finished": stats.finished,
                    "failed": stats.failed, "canceled": stats.canceled,
                })
            })
            .collect();
        serde_json::json!({
            "hyperqueue": {
                "server_uid": self.info.server_uid,
                "version": self.info.version,
                "now": self.now,
                "next_job_id": self.next_job_id,
                "next_worker_id": self.next_worker_id,
                "journal": self.journal.as_ref().map(|j| j.path().display().to_string()),
                "jobs": jobs,
                "workers": self.worker_infos(),
            },
            "tako": self.scheduler.dump(),
        })
    }
}
