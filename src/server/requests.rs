//! Client requests. Read-only ones are answered from the state (queries.rs); each
//! state-changing one is checked, turned into journal events and committed with
//! [`ServerCore::commit_request`] — written to the journal first, then applied — so it is either
//! durable and acknowledged, or refused with nothing changed.

use super::apply::resolve_placeholders;
use super::core::{ServerCore, Waiter};
use super::journal::{JournalEvent, NO_JOURNAL};
use super::outbox::Reply;
use super::state::Job;
use crate::common::idset::IdSet;
use crate::protocol::messages::*;

/// What the actor should do after a request.
pub enum After {
    Nothing,
    StopServer,
}

impl ServerCore {
    /// Handles one request; its response goes to the outbox.
    pub fn handle_request(&mut self, req: ClientRequest, reply: Reply) -> After {
        let response = match req {
            ClientRequest::Submit(submit) => self.submit(*submit),
            ClientRequest::OpenJob { name, max_fails } => self.open_job(name, max_fails),
            ClientRequest::CloseJob { selector } => self.close_jobs(&selector),
            ClientRequest::CancelJob { selector, reason } => self.cancel_jobs(&selector, reason),
            ClientRequest::ForgetJob { selector, filter } => self.forget_jobs(&selector, &filter),
            ClientRequest::JobList => {
                ClientResponse::Jobs(self.jobs.values().map(|j| j.info()).collect())
            }
            ClientRequest::JobDetail {
                selector,
                include_tasks,
                tasks,
            } => self.job_details(&selector, include_tasks, tasks.as_ref()),
            ClientRequest::WaitJobs {
                selector,
                without_close,
                progress,
                notifications,
            } => {
                let (jobs, missing) = selector.select(&self.jobs);
                let jobs: Vec<JobProgress> = jobs
                    .into_iter()
                    .map(|id| JobProgress {
                        id,
                        ..Default::default()
                    })
                    .collect();
                self.waiters.push(Waiter {
                    sent: jobs.clone(),
                    jobs,
                    started: false,
                    without_close,
                    progress,
                    notifications,
                    reply,
                    last_sent_at: None,
                    missing,
                });
                self.notify_waiters(true);
                return After::Nothing;
            }
            ClientRequest::FailedTasks { selector } => self.failed_tasks(&selector),
            ClientRequest::TaskExplain { job, task } => self.explain(job, task, self.now),
            ClientRequest::WorkerList => ClientResponse::Workers(self.worker_infos()),
            ClientRequest::StopWorker { selector } => self.stop_workers(&selector),
            ClientRequest::ServerInfo => ClientResponse::ServerInfo(self.info.clone()),
            ClientRequest::DebugDump => ClientResponse::DebugDump(self.debug_dump().to_string()),
            ClientRequest::JournalFlush => match self.journal.is_some() {
                true => match self.flush_journal(true) {
                    Ok(()) => ClientResponse::Ok,
                    Err(e) => ClientResponse::Error(e),
                },
                false => ClientResponse::Error(NO_JOURNAL.into()),
            },
            ClientRequest::JournalPrune => match self.prune_journal() {
                Ok(()) => ClientResponse::Ok,
                Err(e) => ClientResponse::Error(e),
            },
            ClientRequest::Dashboard { view } => {
                self.dashboard_subscribe(view, reply);
                return After::Nothing;
            }
            ClientRequest::DashboardView(view) => {
                self.dashboard_view(view, &reply);
                return After::Nothing;
            }
            ClientRequest::JournalEvents { live } => {
                self.stream_events(live, reply);
                return After::Nothing;
            }
            ClientRequest::Alloc(req) => match self.alloc_request(req, &reply) {
                Some(response) => response,
                None => return After::Nothing,
            },
            ClientRequest::StopServer => {
                self.outbox.reply(&reply, ClientResponse::Ok);
                return After::StopServer;
            }
        };
        self.outbox.reply(&reply, response);
        After::Nothing
    }

    /// Checks a submission (target, limits, IDs, dependencies), fills its placeholders and
    /// commits it as one `JobCreated` event.
    pub(super) fn submit(&mut self, mut submit: SubmitRequest) -> ClientResponse {
        let fresh;
        let job = match &submit.target {
            JobTarget::New { name, max_fails } => {
                fresh = Job::new(self.next_job_id, name.clone(), *max_fails, false, self.now);
                &fresh
            }
            JobTarget::Existing(id) => match self.jobs.get(id) {
                Some(job) if job.is_open => job,
                Some(_) => return ClientResponse::Error(format!("Job {id} is not opened.")),
                None => return ClientResponse::Error(format!("Job {id} not found.")),
            },
        };
        if submit.ids_after_existing {
            if let Some(max) = job.max_task_id() {
                let offset = max.saturating_add(1);
                for g in &mut submit.groups {
                    g.ids = g.ids.shifted(offset);
                    g.deps.common = g.deps.common.shifted(offset);
                }
            }
            submit.ids_after_existing = false;
        }
        if let Err(e) = job.check_submission(&submit.groups, self.config.max_tasks_per_job) {
            return ClientResponse::Error(e.to_string());
        }
        resolve_placeholders(&mut submit, job, &self.info.server_uid);
        let (job_id, name, max_fails) = (job.id, job.name.clone(), job.max_fails);
        let event = JournalEvent::JobCreated {
            job: job_id,
            name,
            max_fails,
            submit: Box::new(submit),
        };
        match self.commit_request(vec![event], "nothing was submitted") {
            Ok(()) => ClientResponse::JobCreated { job: job_id },
            Err(e) => ClientResponse::Error(e),
        }
    }

    fn open_job(&mut self, name: String, max_fails: Option<u32>) -> ClientResponse {
        let job_id = self.next_job_id;
        let event = JournalEvent::JobOpen {
            job_id,
            name,
            max_fails,
        };
        match self.commit_request(vec![event], "no job was opened") {
            Ok(()) => ClientResponse::JobCreated { job: job_id },
            Err(e) => ClientResponse::Error(e),
        }
    }

    fn close_jobs(&mut self, selector: &IdSelector) -> ClientResponse {
        let (ids, missing) = selector.select(&self.jobs);
        let mut lines = Vec::new();
        let mut events = Vec::new();
        for id in ids {
            if self.jobs[&id].is_open {
                events.push(JournalEvent::JobClose { job_id: id });
                lines.push(LogLine::Info(format!("Job {id} closed")));
            } else {
                lines.push(LogLine::Error(format!(
                    "Closing job {id} failed; job is already closed"
                )));
            }
        }
        lines.extend(not_found(&missing, "Closing", "job"));
        self.log_after_commit(events, "no job was closed", lines)
    }

    fn cancel_jobs(&mut self, selector: &IdSelector, reason: Option<String>) -> ClientResponse {
        let (mut ids, missing) = selector.select(&self.jobs);
        // `all` means every job that still has something to cancel; named jobs are reported.
        if matches!(selector, IdSelector::All) {
            ids.retain(|id| !self.jobs[id].is_completed());
        }
        let mut lines = Vec::new();
        let mut events = Vec::new();
        if ids.is_empty() && missing.is_empty() {
            lines.push(LogLine::Info("There is nothing to cancel".into()));
        }
        let reason: Option<String> = reason.map(|r| r.chars().take(200).collect());
        for id in ids {
            let stats = self.jobs[&id].stats;
            let canceled = stats.waiting + stats.running;
            if canceled == 0 {
                lines.push(LogLine::Error(format!(
                    "Canceling job {id} failed; all tasks are already finished"
                )));
                continue;
            }
            let live = self.jobs[&id]
                .tasks
                .iter()
                .filter(|t| !t.status.is_terminal())
                .map(|t| t.id);
            events.push(JournalEvent::TaskCanceled {
                job: id,
                tasks: IdSet::from_ids(live),
            });
            events.push(JournalEvent::JobCancel {
                job_id: id,
                reason: reason.clone(),
            });
            lines.push(LogLine::Info(format!(
                "Job {id} canceled ({canceled} tasks canceled, {} tasks already finished)",
                stats.completed()
            )));
        }
        lines.extend(not_found(&missing, "Canceling", "job"));
        self.log_after_commit(events, "no job was canceled", lines)
    }

    fn forget_jobs(&mut self, selector: &IdSelector, filter: &[JobStatus]) -> ClientResponse {
        let (ids, missing) = selector.select(&self.jobs);
        let mut events = Vec::new();
        let mut ignored = missing.len();
        for id in ids {
            let job = &self.jobs[&id];
            if job.is_completed() && (filter.is_empty() || filter.contains(&job.status())) {
                events.push(JournalEvent::JobForgotten { job_id: id });
            } else {
                ignored += 1;
            }
        }
        // The reference's wording, kept for scripts that parse it (docs/cli.md).
        let noun = if events.len() == 1 { "job" } else { "jobs" };
        let mut text = format!("{} {noun} were forgotten", events.len());
        if ignored > 0 {
            text.push_str(&format!(
                ", {ignored} were ignored due to wrong state or invalid ID"
            ));
        }
        self.log_after_commit(events, "no job was forgotten", vec![LogLine::Info(text)])
    }

    fn stop_workers(&mut self, selector: &IdSelector) -> ClientResponse {
        let (ids, missing) = selector.select(&self.workers);
        let mut lines = Vec::new();
        let mut events = Vec::new();
        for id in ids {
            if !self.is_connected(id) {
                lines.push(LogLine::Warn(format!(
                    "Stopping worker {id} failed; worker is already stopped"
                )));
                continue;
            }
            events.extend(self.lost_worker_events(id, WorkerState::Stopped));
            lines.push(LogLine::Info(format!("Worker {id} stopped")));
        }
        lines.extend(not_found(&missing, "Stopping", "worker"));
        self.log_after_commit(events, "no worker was stopped", lines)
    }

    /// Commits `events`; the answer is `lines`, or the refusal when the journal failed.
    fn log_after_commit(
        &mut self,
        events: Vec<JournalEvent>,
        nothing: &str,
        lines: Vec<LogLine>,
    ) -> ClientResponse {
        if events.is_empty() {
            return ClientResponse::Log { lines, ok: true };
        }
        match self.commit_request(events, nothing) {
            Ok(()) => ClientResponse::Log { lines, ok: true },
            Err(e) => ClientResponse::Error(e),
        }
    }
}

/// `<Doing> job 7 failed; job not found`, or for several IDs, as ranges:
/// `<Doing> jobs 6-4294967295 failed; jobs not found`.
fn not_found(missing: &IdSet, doing: &str, what: &str) -> Option<LogLine> {
    match missing.len() {
        0 => None,
        1 => Some(LogLine::Error(format!(
            "{doing} {what} {missing} failed; {what} not found"
        ))),
        _ => Some(LogLine::Error(format!(
            "{doing} {what}s {missing} failed; {what}s not found"
        ))),
    }
}
