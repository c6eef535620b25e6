//! Client requests: submit, open/close, cancel, forget, listings, waits, workers, server.

use super::core::{now_ms, ServerCore, Waiter};
use super::journal::JournalEvent;
use super::state::Job;
use crate::common::placeholders;
use crate::protocol::messages::*;
use tokio::sync::mpsc::UnboundedSender;

/// What the actor should do after a request.
pub enum After {
    Nothing,
    StopServer,
}

impl ServerCore {
    pub fn handle_request(
        &mut self,
        req: ClientRequest,
        reply: UnboundedSender<ClientResponse>,
    ) -> After {
        let response = match req {
            ClientRequest::Submit(submit) => self.submit(*submit),
            ClientRequest::OpenJob { name, max_fails } => {
                let id = self.next_job_id;
                self.next_job_id += 1;
                let job = Job::new(id, name.clone(), max_fails, true, now_ms());
                self.jobs.insert(id, job);
                self.record(JournalEvent::JobOpen {
                    job_id: id,
                    name,
                    max_fails,
                });
                ClientResponse::JobCreated { job: id }
            }
            ClientRequest::CloseJob { selector } => self.close_jobs(&selector),
            ClientRequest::CancelJob { selector, reason } => self.cancel_jobs(&selector, reason),
            ClientRequest::ForgetJob { selector, filter } => self.forget_jobs(&selector, &filter),
            ClientRequest::JobList => {
                ClientResponse::Jobs(self.jobs.values().map(|j| j.info()).collect())
            }
            ClientRequest::JobDetail {
                selector,
                include_tasks,
            } => self.job_details(&selector, include_tasks),
            ClientRequest::WaitJobs {
                selector,
                without_close,
                progress,
            } => {
                let (jobs, missing) = Self::select(self.jobs.keys().copied(), &selector);
                self.waiters.push(Waiter {
                    jobs,
                    without_close,
                    progress,
                    sender: reply,
                    last_sent: None,
                    last_sent_at: None,
                    missing,
                });
                self.notify_waiters(true);
                return After::Nothing;
            }
            ClientRequest::TaskExplain { job, task } => self.explain(job, task),
            ClientRequest::WorkerList => ClientResponse::Workers(self.worker_infos()),
            ClientRequest::StopWorker { selector } => self.stop_workers(&selector),
            ClientRequest::ServerInfo => ClientResponse::ServerInfo(self.info.clone()),
            ClientRequest::JournalFlush => match self.journal.is_some() {
                true => {
                    self.journal_dirty = true;
                    ClientResponse::Ok
                }
                false => ClientResponse::Error(
                    "the server runs without a journal (start it with `--journal FILE`)".into(),
                ),
            },
            ClientRequest::JournalPrune => match self.prune_journal() {
                Ok(()) => ClientResponse::Ok,
                Err(e) => ClientResponse::Error(e),
            },
            ClientRequest::JournalEvents { live } => {
                self.stream_events(live, reply);
                return After::Nothing;
            }
            ClientRequest::Alloc(req) => {
                match self.autoalloc.handle(req, reply.clone(), now_ms()) {
                    Some(response) => response,
                    None => return After::Nothing,
                }
            }
            ClientRequest::StopServer => {
                let _ = reply.send(ClientResponse::Ok);
                return After::StopServer;
            }
        };
        // Acknowledge only what is on disk.
        self.flush_journal();
        let _ = reply.send(response);
        After::Nothing
    }

    pub(super) fn submit(&mut self, submit: SubmitRequest) -> ClientResponse {
        let now = now_ms();
        let (job_id, mut job) = match &submit.target {
            JobTarget::New { name, max_fails } => (
                self.next_job_id,
                Job::new(self.next_job_id, name.clone(), *max_fails, false, now),
            ),
            JobTarget::Existing(id) => match self.jobs.remove(id) {
                Some(job) if job.is_open => (*id, job),
                Some(job) => {
                    self.jobs.insert(*id, job);
                    return ClientResponse::Error(format!("Job {id} is not opened."));
                }
                None => return ClientResponse::Error(format!("Job {id} not found.")),
            },
        };
        let mut submit = submit;
        if submit.ids_after_existing {
            if let Some(max) = job.max_task_id() {
                let offset = max.saturating_add(1);
                for g in &mut submit.groups {
                    g.ids = g.ids.shifted(offset);
                    g.deps.common = g.deps.common.shifted(offset);
                }
            }
        }
        if job.submit_dir.is_empty() {
            job.submit_dir = submit.submit_dir.clone();
        }
        let uid = self.info.server_uid.clone();
        let resolve = |text: &str| {
            placeholders::fill(text, |name| match name {
                "JOB_ID" => Some(job_id.to_string()),
                "SUBMIT_DIR" => Some(submit.submit_dir.clone()),
                "SERVER_UID" => Some(uid.clone()),
                "JOB_NAME" => Some(job.name.clone()),
                _ => None,
            })
        };
        if let Some(stream) = &submit.stream_dir {
            job.stream_dir = Some(resolve(stream));
        }
        for g in &mut submit.groups {
            let p = &mut g.body.program;
            p.cwd = resolve(&p.cwd);
            for stdio in [&mut p.stdout, &mut p.stderr] {
                if let StdioDef::File { path, .. } = stdio {
                    *path = resolve(path);
                }
            }
        }
        submit.ids_after_existing = false;
        let recorded = (self.journal.is_some() && !self.replaying).then(|| submit.clone());
        let groups: Vec<_> = std::mem::take(&mut submit.groups)
            .into_iter()
            .map(|g| {
                let req = self.scheduler.intern(&g.body.resources);
                (g, req)
            })
            .collect();
        let is_new = matches!(submit.target, JobTarget::New { .. });
        let result = job.add_groups(groups);
        let ready = match result {
            Ok(ready) => ready,
            Err(e) => {
                if !is_new {
                    self.jobs.insert(job_id, job);
                }
                return ClientResponse::Error(e);
            }
        };
        if is_new {
            self.next_job_id += 1;
        }
        if let Some(submit) = recorded {
            let (name, max_fails) = (job.name.clone(), job.max_fails);
            self.record(JournalEvent::JobCreated {
                job: job_id,
                name,
                max_fails,
                submit: Box::new(submit),
            });
        }
        self.jobs.insert(job_id, job);
        for t in ready {
            self.enqueue(job_id, t);
        }
        self.changed_jobs.insert(job_id);
        self.check_job_completed(job_id);
        ClientResponse::JobCreated { job: job_id }
    }

    fn close_jobs(&mut self, selector: &IdSelector) -> ClientResponse {
        let (ids, missing) = Self::select(self.jobs.keys().copied(), selector);
        let mut lines = Vec::new();
        for id in ids {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            if job.is_open {
                job.is_open = false;
                self.record(JournalEvent::JobClose { job_id: id });
                lines.push(LogLine::Info(format!("Job {id} closed")));
                self.changed_jobs.insert(id);
                self.check_job_completed(id);
            } else {
                lines.push(LogLine::Error(format!(
                    "Closing job {id} failed; job is already closed"
                )));
            }
        }
        lines.extend(
            missing
                .iter()
                .map(|id| LogLine::Error(format!("Closing job {id} failed; job not found"))),
        );
        ClientResponse::Log { lines, ok: true }
    }

    fn cancel_jobs(&mut self, selector: &IdSelector, reason: Option<String>) -> ClientResponse {
        let (ids, missing) = Self::select(self.jobs.keys().copied(), selector);
        let mut lines = Vec::new();
        if ids.is_empty() && missing.is_empty() {
            lines.push(LogLine::Info("There is nothing to cancel".into()));
        }
        for id in ids {
            let (canceled, finished) = self.abort_job(id, TaskStatus::Canceled);
            if canceled == 0 {
                lines.push(LogLine::Error(format!(
                    "Canceling job {id} failed; all tasks are already finished"
                )));
                continue;
            }
            let reason: Option<String> = reason.as_ref().map(|r| r.chars().take(200).collect());
            if let (Some(job), Some(r)) = (self.jobs.get_mut(&id), &reason) {
                job.cancel_reason = Some(r.clone());
            }
            self.record(JournalEvent::JobCancel { job_id: id, reason });
            lines.push(LogLine::Info(format!(
                "Job {id} canceled ({canceled} tasks canceled, {finished} tasks already finished)"
            )));
        }
        lines.extend(
            missing
                .iter()
                .map(|id| LogLine::Error(format!("Canceling job {id} failed; job not found"))),
        );
        ClientResponse::Log { lines, ok: true }
    }

    fn forget_jobs(&mut self, selector: &IdSelector, filter: &[JobStatus]) -> ClientResponse {
        let (ids, missing) = Self::select(self.jobs.keys().copied(), selector);
        let mut forgotten = 0;
        let mut ignored = missing.len();
        for id in ids {
            let ok = self.jobs.get(&id).is_some_and(|j| {
                let st = j.status();
                j.is_completed() && (filter.is_empty() || filter.contains(&st))
            });
            if ok {
                self.jobs.remove(&id);
                self.record(JournalEvent::JobForgotten { job_id: id });
                forgotten += 1;
            } else {
                ignored += 1;
            }
        }
        let mut text = format!("{forgotten} jobs were forgotten");
        if ignored > 0 {
            text.push_str(&format!(
                ", {ignored} were ignored due to wrong state or invalid ID"
            ));
        }
        ClientResponse::Log {
            lines: vec![LogLine::Info(text)],
            ok: true,
        }
    }

    fn job_details(&self, selector: &IdSelector, include_tasks: bool) -> ClientResponse {
        let (ids, missing) = Self::select(self.jobs.keys().copied(), selector);
        let jobs = ids
            .iter()
            .filter_map(|id| self.jobs.get(id))
            .map(|j| self.job_detail(j, include_tasks))
            .collect();
        ClientResponse::JobDetails { jobs, missing }
    }

    fn job_detail(&self, job: &Job, include_tasks: bool) -> JobDetail {
        let hostname = |w: WorkerId| {
            self.workers
                .get(&w)
                .map(|e| e.info.configuration.hostname.clone())
                .unwrap_or_default()
        };
        let tasks = if include_tasks {
            job.tasks
                .iter()
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

    fn explain(&self, job_id: JobId, task_id: TaskId) -> ClientResponse {
        let Some(job) = self.jobs.get(&job_id) else {
            return ClientResponse::Error(format!("Job {job_id} not found"));
        };
        let Some(task) = job.index_of(task_id).map(|i| &job.tasks[i]) else {
            return ClientResponse::Error(format!("Task {task_id} not found in job {job_id}"));
        };
        let group = &job.groups[task.group as usize];
        let deps: Vec<TaskId> = group.deps.of_task(task_id).collect();
        let now = now_ms();
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

    fn worker_infos(&self) -> Vec<WorkerInfo> {
        self.workers
            .iter()
            .map(|(id, w)| {
                let mut info = w.info.clone();
                info.running_tasks = self.scheduler.running_on(*id) as u32;
                info
            })
            .collect()
    }

    fn stop_workers(&mut self, selector: &IdSelector) -> ClientResponse {
        let (ids, missing) = Self::select(self.workers.keys().copied(), selector);
        let mut lines = Vec::new();
        for id in ids {
            let alive = self.workers.get(&id).is_some_and(|w| w.sender.is_some());
            if !alive {
                lines.push(LogLine::Warn(format!(
                    "Stopping worker {id} failed; worker is already stopped"
                )));
                continue;
            }
            if let Some(tx) = self.workers.get(&id).and_then(|w| w.sender.clone()) {
                let _ = tx.send(ToWorker::Stop);
            }
            self.on_worker_lost(id, WorkerState::Stopped);
            lines.push(LogLine::Info(format!("Worker {id} stopped")));
        }
        lines.extend(
            missing
                .iter()
                .map(|id| LogLine::Error(format!("Stopping worker {id} failed; worker not found"))),
        );
        ClientResponse::Log { lines, ok: true }
    }
}
