//! Waiting for jobs, with progress snapshots handed to a callback: the one wait used by
//! `hq job wait/progress`, `submit --wait/--progress`, `hq run` and the Python API.

use super::{ClientError, Session};
use crate::protocol::messages::*;

/// The state of every waited job at one moment, sorted by job ID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitProgress {
    pub jobs: Vec<JobProgress>,
}

impl WaitProgress {
    pub fn job_count(&self) -> usize {
        self.jobs.len()
    }

    /// Jobs the wait considers done.
    pub fn completed_jobs(&self) -> usize {
        self.jobs.iter().filter(|j| j.done).count()
    }

    /// Task counts summed over the jobs.
    pub fn totals(&self) -> TaskStats {
        let mut total = TaskStats::default();
        for j in &self.jobs {
            total.add(&j.stats);
        }
        total
    }

    pub fn job(&self, id: JobId) -> Option<&JobProgress> {
        self.jobs
            .binary_search_by_key(&id, |j| j.id)
            .ok()
            .map(|i| &self.jobs[i])
    }

    /// Folds in jobs that changed (the server sends only those after its first message).
    fn apply(&mut self, changed: Vec<JobProgress>) {
        for p in changed {
            match self.jobs.binary_search_by_key(&p.id, |j| j.id) {
                Ok(i) => self.jobs[i] = p,
                Err(i) => self.jobs.insert(i, p),
            }
        }
    }
}

/// The end of a wait: the final state of every waited job, and selected IDs that name no job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitResult {
    pub state: WaitProgress,
    pub missing: crate::common::idset::IdSet,
}

impl WaitResult {
    /// True when every task of every waited job finished.
    pub fn all_finished(&self) -> bool {
        let t = self.state.totals();
        t.finished == t.total()
    }
}

impl Session {
    /// Waits until the selected jobs are completed (with `without_close`, until every task of
    /// an open job is completed too). With `on_progress`, the server sends snapshots (at most
    /// ten per second, and only when something changed) and the callback sees each. With
    /// `on_notify`, the callback gets each `hq task notify` message of the jobs' tasks, in
    /// arrival order, all before the wait returns.
    pub async fn wait_for_jobs(
        &mut self,
        selector: IdSelector,
        without_close: bool,
        mut on_progress: Option<&mut (dyn FnMut(&WaitProgress) + Send)>,
        mut on_notify: Option<&mut (dyn FnMut(TaskNotification) + Send)>,
    ) -> Result<WaitResult, ClientError> {
        self.send(&ClientRequest::WaitJobs {
            selector,
            without_close,
            progress: on_progress.is_some(),
            notifications: on_notify.is_some(),
        })
        .await?;
        let mut state = WaitProgress::default();
        loop {
            match self.recv().await {
                Ok(ClientResponse::Progress { jobs }) => {
                    state.apply(jobs);
                    if let Some(callback) = on_progress.as_mut() {
                        callback(&state);
                    }
                }
                Ok(ClientResponse::Notification(n)) => {
                    if let Some(callback) = on_notify.as_mut() {
                        callback(n);
                    }
                }
                Ok(ClientResponse::WaitDone { jobs, missing }) => {
                    let mut state = WaitProgress { jobs };
                    state.jobs.sort_by_key(|j| j.id);
                    return Ok(WaitResult { state, missing });
                }
                Ok(other) => return Err(ClientError::unexpected("wait for jobs", other)),
                Err(e @ ClientError::Server(_)) => return Err(e),
                Err(e) => return Err(ClientError::LostWhileWaiting(Box::new(e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: JobId, finished: u32, waiting: u32, done: bool) -> JobProgress {
        JobProgress {
            id,
            stats: TaskStats {
                finished,
                waiting,
                ..Default::default()
            },
            done,
        }
    }

    #[test]
    fn changes_fold_into_the_snapshot() {
        let mut p = WaitProgress::default();
        p.apply(vec![job(3, 0, 2, false), job(1, 0, 1, false)]);
        p.apply(vec![job(3, 2, 0, true)]);
        assert_eq!(p.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(p.completed_jobs(), 1);
        assert_eq!(p.totals().finished, 2);
        assert_eq!(p.totals().total(), 3);
        assert_eq!(p.job(3).map(|j| j.done), Some(true));
    }
}
