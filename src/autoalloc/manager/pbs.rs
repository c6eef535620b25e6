//! PBS: `qsub` a script (the ID is its trimmed stdout), one `qstat -f ID... -F json -x` for the
//! state of all allocations, `qdel`.

use super::{
    extra_args, run_checked, script_text, submit_script, walltime, CommandRunner, QueueManager,
    SubmitSpec,
};
use crate::autoalloc::events::{AllocationId, SubmitFailure};
use crate::autoalloc::params::ManagerKind;
use crate::autoalloc::tracking::{ManagerState, StatusAnswer};
use futures::future::BoxFuture;
use serde_json::Value;
use std::path::Path;

pub struct Pbs;

/// PBS exit status of a job killed for exceeding its walltime (`JOB_EXEC_KILL_WALLTIME`).
const KILLED_BY_WALLTIME: i64 = -30;
/// Exit status of a job ended by `qdel` (SIGTERM + 256).
const KILLED_BY_QDEL: i64 = 271;

impl QueueManager for Pbs {
    fn kind(&self) -> ManagerKind {
        ManagerKind::Pbs
    }

    fn script(&self, spec: &SubmitSpec<'_>) -> String {
        let (dir, n) = (spec.dir.display(), spec.workers);
        let mut directives = vec![
            format!("-l select={n}"),
            format!("-N {}", spec.name),
            format!("-o {dir}/stdout"),
            format!("-e {dir}/stderr"),
            format!("-l walltime={}", walltime(spec.params.time_limit_secs)),
        ];
        directives.extend(extra_args(spec));
        if spec.dry_run {
            directives.push("-h".into());
        }
        let launch = match n {
            1 => spec.worker_command.to_string(),
            _ => format!(
                "pbsdsh -- bash -l -c '{}'",
                spec.worker_command.replace('\'', r"'\''")
            ),
        };
        script_text("#PBS", &directives, &launch)
    }

    fn submit<'a>(
        &'a self,
        runner: &'a dyn CommandRunner,
        script: &'a Path,
        dir: &'a Path,
    ) -> BoxFuture<'a, Result<AllocationId, SubmitFailure>> {
        let expected = "no job ID (one word)";
        Box::pin(submit_script(
            runner, "qsub", script, dir, parse_qsub, expected,
        ))
    }

    fn status<'a>(
        &'a self,
        runner: &'a dyn CommandRunner,
        ids: &'a [AllocationId],
    ) -> BoxFuture<'a, Vec<(AllocationId, StatusAnswer)>> {
        Box::pin(async move {
            if ids.is_empty() {
                return vec![];
            }
            let mut args = vec!["-f".to_string()];
            args.extend(ids.iter().cloned());
            args.extend(["-F".into(), "json".into(), "-x".into()]);
            let out = match runner.run("qstat", &args, None).await {
                Ok(out) => out,
                Err(e) => {
                    let e = StatusAnswer::Error(e.to_string());
                    return ids.iter().map(|id| (id.clone(), e.clone())).collect();
                }
            };
            parse_qstat_states(&out.stdout, &out.stderr, out.success(), ids)
        })
    }

    fn cancel<'a>(
        &'a self,
        runner: &'a dyn CommandRunner,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SubmitFailure>> {
        Box::pin(async move {
            run_checked(runner, "qdel", &[id.to_string()], None)
                .await
                .map(|_| ())
        })
    }
}

/// The job ID `qsub` prints: its whole (trimmed) output, one word.
pub fn parse_qsub(stdout: &str) -> Option<String> {
    let id = stdout.trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
}

/// The job object of `id` in `qstat -F json` output (keys may carry the server suffix).
fn find_job<'v>(jobs: &'v serde_json::Map<String, Value>, id: &str) -> Option<&'v Value> {
    let short = |s: &str| s.split('.').next().unwrap_or(s).to_string();
    jobs.get(id).or_else(|| {
        jobs.iter()
            .find(|(k, _)| short(k) == short(id))
            .map(|(_, v)| v)
    })
}

/// States of `ids` from `qstat -f ... -F json -x`. IDs qstat does not list are unknown when it
/// says so (or succeeded); otherwise their state could not be queried.
pub fn parse_qstat_states(
    stdout: &str,
    stderr: &str,
    success: bool,
    ids: &[AllocationId],
) -> Vec<(AllocationId, StatusAnswer)> {
    let parsed: Option<Value> = serde_json::from_str(stdout).ok();
    let jobs = parsed
        .as_ref()
        .and_then(|v| v.get("Jobs"))
        .and_then(Value::as_object);
    ids.iter()
        .map(|id| {
            let answer = match jobs.and_then(|j| find_job(j, id)) {
                Some(job) => pbs_job_state(job),
                None if success || stderr.contains(&format!("Unknown Job Id {id}")) => {
                    StatusAnswer::Unknown
                }
                None => StatusAnswer::Error(format!("qstat did not list {id}: {}", stderr.trim())),
            };
            (id.clone(), answer)
        })
        .collect()
}

fn pbs_job_state(job: &Value) -> StatusAnswer {
    let Some(state) = job.get("job_state").and_then(Value::as_str) else {
        return StatusAnswer::Error("qstat printed no job_state".into());
    };
    StatusAnswer::Known(match state {
        "Q" | "H" | "W" | "T" => ManagerState::Queued,
        "R" | "E" | "B" | "S" | "U" => ManagerState::Running,
        "F" | "X" => {
            let status = job.get("Exit_status").and_then(Value::as_i64).unwrap_or(0);
            match status {
                0 | KILLED_BY_WALLTIME => ManagerState::Finished,
                KILLED_BY_QDEL => ManagerState::Failed {
                    counted: false,
                    reason: "PBS reports the job deleted (qdel)".into(),
                },
                code => ManagerState::Failed {
                    counted: true,
                    reason: format!("PBS reports exit status {code}"),
                },
            }
        }
        other => ManagerState::Failed {
            counted: true,
            reason: format!("PBS reports the unknown state `{other}`"),
        },
    })
}

/// Remaining walltime (s) of `id` from `qstat -f ID -F json`: `Resource_List.walltime` minus
/// `resources_used.walltime`.
pub fn pbs_remaining_walltime(stdout: &str, id: &str) -> Option<u64> {
    let v: Value = serde_json::from_str(stdout).ok()?;
    let job = find_job(v.get("Jobs")?.as_object()?, id)?;
    let hms = |section: &str| -> Option<u64> {
        let text = job.get(section)?.get("walltime")?.as_str()?;
        let parts: Vec<u64> = text
            .split(':')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        Some(parts.iter().fold(0, |acc, p| acc * 60 + p))
    };
    let total = hms("Resource_List")?;
    Some(total.saturating_sub(hms("resources_used").unwrap_or(0)))
}

#[cfg(test)]
#[path = "pbs_tests.rs"]
mod tests;
