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
                        let paths =
                            placeholders::task_paths(&job.submit_dir, program, t.id, t.instance());
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
                    let started = t.status != TaskStatus::Waiting || t.next_instance > 0;
                    let workers: Vec<WorkerId> = match job.multi_node.get(&t.id) {
                        Some(ws) => ws.clone(),
                        None if t.worker != 0 => vec![t.worker],
                        None => vec![],
                    };
                    TaskDetail {
                        id: t.id,
                        status: t.status,
                        instance: t.instance(),
                        crash_count: t.crash_count as u32,
                        retries: t.retries as u32,
                        workers: workers.into_iter().map(|w| (w, hostname(w))).collect(),
                        started_at: (started && t.started_ms > 0).then_some(t.started_ms),
                        finished_at: (t.finished_ms > 0 && t.status.is_terminal())
                            .then_some(t.finished_ms),
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

    pub(super) fn explain(&self, job_id: JobId, task_id: TaskId) -> ClientResponse {
        let Some(job) = self.jobs.get(&job_id) else {
            return ClientResponse::Error(format!("Job {job_id} not found"));
        };
        let Some(task) = job.index_of(task_id).map(|i| &job.tasks[i]) else {
            return ClientResponse::Error(format!("Task {task_id} not found in job {job_id}"));
        };
        let group = &job.groups[task.group as usize];
        let deps: Vec<TaskId> = group.deps.of_task(task_id).collect();
        let now = self.now;
        let mut workers = Vec::new();
        for wid in self.scheduler.worker_ids() {
            let Some(entry) = self.workers.get(&wid) else {
                continue;
            };
            let desc = &entry.info.configuration.resources;
            let mut checks = Vec::new();
            let mut runnable = false;
            for (v, r) in group.body.resources.variants.iter().enumerate() {
                let ok = self.scheduler.could_run(wid, group.req, v, now);
                runnable |= ok;
                // Each check says whether that one part of the request fits.
                for e in &r.resources {
                    let provided = desc
                        .get(&e.resource)
                        .map(|k| k.size().to_string())
                        .unwrap_or_else(|| "-".into());
                    checks.push((
                        v as u32,
                        e.resource.clone(),
                        provided,
                        e.request.to_string(),
                        self.scheduler.entry_could_run(wid, e),
                    ));
                }
                if r.n_nodes > 0 {
                    let size = self.scheduler.group_size(&entry.info.configuration.group);
                    checks.push((
                        v as u32,
                        "nodes".into(),
                        format!("group size {size}"),
                        r.n_nodes.to_string(),
                        size >= r.n_nodes as usize,
                    ));
                }
                if r.min_time_secs > 0 {
                    let provided = entry
                        .info
                        .configuration
                        .time_limit_ms
                        .map(|t| format!("{}s", t / 1000))
                        .unwrap_or_else(|| "unlimited".into());
                    checks.push((
                        v as u32,
                        "time".into(),
                        provided,
                        format!("{}s", r.min_time_secs),
                        self.scheduler.time_allows(wid, r.min_time_secs, now),
                    ));
                }
            }
            workers.push(WorkerExplanation {
                worker: wid,
                runnable,
                checks,
            });
        }
        let unfinished = deps
            .iter()
            .filter(|d| {
                job.index_of(**d)
                    .is_none_or(|i| job.tasks[i].status != TaskStatus::Finished)
            })
            .count();
        ClientResponse::Explain(TaskExplanation {
            task: task_id,
            deps_total: deps.len() as u32,
            deps_unfinished: unfinished as u32,
            workers,
        })
    }

    pub(super) fn worker_infos(&self) -> Vec<WorkerInfo> {
        self.workers
            .iter()
            .map(|(id, w)| {
                let mut info = w.info.clone();
                info.running_tasks = self.scheduler.running_on(*id) as u32;
                info
            })
            .collect()
    }
}
