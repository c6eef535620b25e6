//! Typed job requests: submit, open, close, cancel, forget, list, details, failed tasks,
//! explain.

use super::{ClientError, Session};
use crate::common::idset::IdSet;
use crate::protocol::messages::*;

/// What the server logged for a command (`Job 3 canceled`), and whether it succeeded as a
/// whole; the caller decides how to show the lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLog {
    pub lines: Vec<LogLine>,
    pub ok: bool,
}

/// Details of the selected jobs, and the selected IDs that name no job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobDetails {
    pub jobs: Vec<JobDetail>,
    pub missing: IdSet,
}

/// Failed tasks of the selected jobs, and the selected IDs that name no job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedTasks {
    pub jobs: Vec<(JobId, Vec<FailedTask>)>,
    pub missing: IdSet,
}

/// Job states `forget` drops by default: every completed one.
pub const COMPLETED_STATES: [JobStatus; 4] = [
    JobStatus::Finished,
    JobStatus::Failed,
    JobStatus::Aborted,
    JobStatus::Canceled,
];

impl Session {
    /// Creates a job (or extends an open one); returns its ID once the server has it on disk.
    pub async fn submit(&mut self, request: SubmitRequest) -> Result<JobId, ClientError> {
        match self
            .request(ClientRequest::Submit(Box::new(request)))
            .await?
        {
            ClientResponse::JobCreated { job } => Ok(job),
            other => Err(ClientError::unexpected("submit", other)),
        }
    }

    /// Creates an open job that accepts more submissions.
    pub async fn open_job(
        &mut self,
        name: String,
        max_fails: Option<u32>,
    ) -> Result<JobId, ClientError> {
        match self
            .request(ClientRequest::OpenJob { name, max_fails })
            .await?
        {
            ClientResponse::JobCreated { job } => Ok(job),
            other => Err(ClientError::unexpected("open job", other)),
        }
    }

    pub async fn close_jobs(&mut self, selector: IdSelector) -> Result<CommandLog, ClientError> {
        self.log_request("close jobs", ClientRequest::CloseJob { selector })
            .await
    }

    pub async fn cancel_jobs(
        &mut self,
        selector: IdSelector,
        reason: Option<String>,
    ) -> Result<CommandLog, ClientError> {
        self.log_request("cancel jobs", ClientRequest::CancelJob { selector, reason })
            .await
    }

    /// Drops completed jobs in the given states (see [`COMPLETED_STATES`]).
    pub async fn forget_jobs(
        &mut self,
        selector: IdSelector,
        filter: Vec<JobStatus>,
    ) -> Result<CommandLog, ClientError> {
        self.log_request("forget jobs", ClientRequest::ForgetJob { selector, filter })
            .await
    }

    pub(super) async fn log_request(
        &mut self,
        what: &'static str,
        req: ClientRequest,
    ) -> Result<CommandLog, ClientError> {
        match self.request(req).await? {
            ClientResponse::Log { lines, ok } => Ok(CommandLog { lines, ok }),
            other => Err(ClientError::unexpected(what, other)),
        }
    }

    /// Every job's summary.
    pub async fn job_list(&mut self) -> Result<Vec<JobInfo>, ClientError> {
        match self.request(ClientRequest::JobList).await? {
            ClientResponse::Jobs(jobs) => Ok(jobs),
            other => Err(ClientError::unexpected("job list", other)),
        }
    }

    /// Details of the selected jobs, with their tasks when `include_tasks` (only those in
    /// `tasks` when given; the server finds them by range).
    pub async fn job_details(
        &mut self,
        selector: IdSelector,
        include_tasks: bool,
        tasks: Option<IdSet>,
    ) -> Result<JobDetails, ClientError> {
        let req = ClientRequest::JobDetail {
            selector,
            include_tasks,
            tasks,
        };
        match self.request(req).await? {
            ClientResponse::JobDetails { jobs, missing } => Ok(JobDetails { jobs, missing }),
            other => Err(ClientError::unexpected("job details", other)),
        }
    }

    /// The failed tasks of the selected jobs with their errors and paths.
    pub async fn failed_tasks(&mut self, selector: IdSelector) -> Result<FailedTasks, ClientError> {
        match self
            .request(ClientRequest::FailedTasks { selector })
            .await?
        {
            ClientResponse::FailedTasks { jobs, missing } => Ok(FailedTasks { jobs, missing }),
            other => Err(ClientError::unexpected("failed tasks", other)),
        }
    }

    /// Why a task can or cannot run now.
    pub async fn explain_task(
        &mut self,
        job: JobId,
        task: TaskId,
    ) -> Result<TaskExplanation, ClientError> {
        match self
            .request(ClientRequest::TaskExplain { job, task })
            .await?
        {
            ClientResponse::Explain(e) => Ok(e),
            other => Err(ClientError::unexpected("explain task", other)),
        }
    }
}
