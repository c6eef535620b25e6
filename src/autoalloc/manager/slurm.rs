//! Slurm: `sbatch` a script, one `squeue` for the state of all allocations (with `scontrol show
//! job` for those squeue does not know, or for all when squeue fails), `scancel`.

use super::{
    extra_args, run_checked, script_text, submit_script, walltime, CommandRunner, QueueManager,
    SubmitSpec,
};
use crate::autoalloc::events::{AllocationId, SubmitFailure};
use crate::autoalloc::params::ManagerKind;
use crate::autoalloc::tracking::{ManagerState, StatusAnswer};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::path::Path;

pub struct Slurm;

impl QueueManager for Slurm {
    fn kind(&self) -> ManagerKind {
        ManagerKind::Slurm
    }

    fn script(&self, spec: &SubmitSpec<'_>) -> String {
        let (dir, n) = (spec.dir.display(), spec.workers);
        let mut directives = vec![
            format!("--nodes={n}"),
            format!("--job-name={}", spec.name),
            format!("--output={dir}/stdout"),
            format!("--error={dir}/stderr"),
            format!("--time={}", walltime(spec.params.time_limit_secs)),
        ];
        directives.extend(extra_args(spec));
        let launch = match n {
            1 => spec.worker_command.to_string(),
            _ => format!(
                "srun --overlap --ntasks={n} --nodes={n} {}",
                spec.worker_command
            ),
        };
        script_text("#SBATCH", &directives, &launch)
    }

    fn submit<'a>(
        &'a self,
        runner: &'a dyn CommandRunner,
        script: &'a Path,
        dir: &'a Path,
    ) -> BoxFuture<'a, Result<AllocationId, SubmitFailure>> {
        let expected = "no line `Submitted batch job <ID>`";
        Box::pin(submit_script(
            runner,
            "sbatch",
            script,
            dir,
            parse_sbatch,
            expected,
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
            let args: Vec<String> = ["-h", "-t", "all", "-j", &ids.join(","), "-o", "%i %T"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let squeue = match run_checked(runner, "squeue", &args, None).await {
                Ok(out) => out.stdout,
                Err(e) => {
                    log::debug!("squeue failed, asking scontrol: {}", e.message);
                    String::new()
                }
            };
            let known = parse_squeue(&squeue);
            let mut answers = Vec::with_capacity(ids.len());
            for id in ids {
                let answer = match known.get(id.as_str()) {
                    Some(state) => StatusAnswer::Known(slurm_state(state)),
                    None => scontrol_state(runner, id).await,
                };
                answers.push((id.clone(), answer));
            }
            answers
        })
    }

    fn cancel<'a>(
        &'a self,
        runner: &'a dyn CommandRunner,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SubmitFailure>> {
        Box::pin(async move {
            run_checked(runner, "scancel", &[id.to_string()], None)
                .await
                .map(|_| ())
        })
    }
}

async fn scontrol_state(runner: &dyn CommandRunner, id: &str) -> StatusAnswer {
    let args = vec!["show".to_string(), "job".to_string(), id.to_string()];
    match run_checked(runner, "scontrol", &args, None).await {
        Ok(out) => match scontrol_fields(&out.stdout).get("JobState") {
            Some(state) => StatusAnswer::Known(slurm_state(state)),
            None => StatusAnswer::Error(format!(
                "`scontrol show job {id}` printed no JobState: {}",
                out.stdout.trim()
            )),
        },
        Err(e) if e.stderr.contains("Invalid job id") => StatusAnswer::Unknown,
        Err(e) => StatusAnswer::Error(format!("{}: {}", e.message, e.stderr.trim())),
    }
}

/// The job ID from `sbatch` output: the 4th word of the line starting `Submitted batch job`.
pub fn parse_sbatch(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Submitted batch job"))
        .and_then(|l| l.split_whitespace().nth(3))
        .map(str::to_string)
}

/// `ID STATE` lines of `squeue -h -o "%i %T"`.
pub fn parse_squeue(stdout: &str) -> HashMap<&str, &str> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?, words.next()?))
        })
        .collect()
}

/// `Key=Value` pairs of `scontrol show job` (values end at whitespace).
pub fn scontrol_fields(stdout: &str) -> HashMap<&str, &str> {
    stdout
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

/// Maps a Slurm job state to the allocation's state.
pub fn slurm_state(state: &str) -> ManagerState {
    let state = state.trim().trim_end_matches('+');
    match state {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
        | "RESV_DEL_HOLD" | "SPECIAL_EXIT" => ManagerState::Queued,
        "RUNNING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "SIGNALING" | "STAGE_OUT"
        | "RESIZING" => ManagerState::Running,
        "COMPLETED" | "TIMEOUT" => ManagerState::Finished,
        "PREEMPTED" | "NODE_FAIL" | "CANCELLED" => ManagerState::Failed {
            counted: false,
            reason: format!("Slurm reports {state}"),
        },
        other => ManagerState::Failed {
            counted: true,
            reason: format!("Slurm reports {other}"),
        },
    }
}

/// A Slurm duration (`[D-]HH:MM:SS`, `MM:SS`, `MM`) in seconds; `None` for `UNLIMITED` etc.
pub fn parse_slurm_duration(text: &str) -> Option<u64> {
    let (days, rest) = match text.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, text),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    let secs = match (text.contains('-'), parts.as_slice()) {
        (_, [h, m, s]) => h * 3600 + m * 60 + s,
        (true, [h, m]) => h * 3600 + m * 60,
        (true, [h]) => h * 3600,
        (false, [m, s]) => m * 60 + s,
        (false, [m]) => m * 60,
        _ => return None,
    };
    Some(days * 86_400 + secs)
}

#[cfg(test)]
#[path = "slurm_tests.rs"]
mod tests;
