//! Command-line forms shared by several commands: job/worker selectors and state lists.

use super::CliError;
use crate::common::idset::IdSet;
use crate::protocol::messages::{IdSelector, JobStatus, TaskStatus};

/// Parses `7`, `1-5,7`, `last` or `all`.
pub fn parse_selector(text: &str) -> Result<IdSelector, CliError> {
    match text.trim() {
        "all" => Ok(IdSelector::All),
        "last" => Ok(IdSelector::Last),
        t => IdSet::parse(t).map(IdSelector::Ids).map_err(|e| {
            CliError::Usage(format!(
                "invalid selector `{text}`: {e}; use e.g. `3`, `1-5,7`, `last` or `all`"
            ))
        }),
    }
}

pub fn parse_task_states(text: &str) -> Result<Vec<TaskStatus>, CliError> {
    text.split(',')
        .map(|s| match s.trim() {
            "waiting" => Ok(TaskStatus::Waiting),
            "running" => Ok(TaskStatus::Running),
            "finished" => Ok(TaskStatus::Finished),
            "failed" => Ok(TaskStatus::Failed),
            "canceled" => Ok(TaskStatus::Canceled),
            "aborted" => Ok(TaskStatus::Aborted),
            other => Err(CliError::Usage(format!(
                "invalid task state `{other}`: use waiting, running, finished, failed, canceled or aborted"
            ))),
        })
        .collect()
}

pub fn parse_job_states(text: &str) -> Result<Vec<JobStatus>, CliError> {
    text.split(',')
        .map(|s| match s.trim() {
            "opened" => Ok(JobStatus::Opened),
            other => parse_task_states(other).map(|v| match v[0] {
                TaskStatus::Waiting => JobStatus::Waiting,
                TaskStatus::Running => JobStatus::Running,
                TaskStatus::Finished => JobStatus::Finished,
                TaskStatus::Failed => JobStatus::Failed,
                TaskStatus::Canceled => JobStatus::Canceled,
                TaskStatus::Aborted => JobStatus::Aborted,
            }),
        })
        .collect()
}
