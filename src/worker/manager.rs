//! `hq worker start --manager`: finds the PBS/Slurm allocation the worker runs in from the
//! environment and asks the manager for the allocation's remaining walltime. Reading the
//! environment is injected, parsing is pure (in `autoalloc::manager`).

use crate::autoalloc::manager::pbs::pbs_remaining_walltime;
use crate::autoalloc::manager::slurm::{parse_slurm_duration, scontrol_fields};
use crate::autoalloc::ManagerKind;
use crate::protocol::messages::WorkerAllocation;
use std::time::Duration;

/// The `--manager` choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManagerChoice {
    Detect,
    None,
    Slurm,
    Pbs,
}

impl std::str::FromStr for ManagerChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "detect" => Ok(ManagerChoice::Detect),
            "none" => Ok(ManagerChoice::None),
            "slurm" => Ok(ManagerChoice::Slurm),
            "pbs" => Ok(ManagerChoice::Pbs),
            _ => Err(format!(
                "invalid manager `{s}`: use `detect`, `none`, `slurm` or `pbs`"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManagerError {
    #[error(
        "`--manager slurm` needs a Slurm allocation, but neither `SLURM_JOB_ID` nor \
         `SLURM_JOBID` is set; start the worker inside a Slurm job or use `--manager none`"
    )]
    NoSlurm,
    #[error(
        "`--manager pbs` needs a PBS allocation, but `PBS_JOBID` is not set; start the worker \
         inside a PBS job or use `--manager none`"
    )]
    NoPbs,
}

/// The allocation named by the environment for the choice (`env` reads a variable).
pub fn detect(
    choice: ManagerChoice,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<WorkerAllocation>, ManagerError> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let slurm = || {
        var("SLURM_JOB_ID")
            .or_else(|| var("SLURM_JOBID"))
            .map(|id| WorkerAllocation {
                manager: ManagerKind::Slurm,
                id,
            })
    };
    let pbs = |need_environment: bool| {
        if need_environment && var("PBS_ENVIRONMENT").is_none() {
            return None;
        }
        var("PBS_JOBID").map(|id| WorkerAllocation {
            manager: ManagerKind::Pbs,
            id,
        })
    };
    Ok(match choice {
        ManagerChoice::None => None,
        ManagerChoice::Detect => pbs(true).or_else(slurm),
        ManagerChoice::Slurm => Some(slurm().ok_or(ManagerError::NoSlurm)?),
        ManagerChoice::Pbs => Some(pbs(false).ok_or(ManagerError::NoPbs)?),
    })
}

/// Remaining walltime of the allocation (`scontrol show job` / `qstat -f -F json`); `None`
/// with a warning when the manager cannot tell.
pub async fn remaining_walltime(allocation: &WorkerAllocation) -> Option<Duration> {
    let id = allocation.id.as_str();
    let (program, args): (&str, Vec<&str>) = match allocation.manager {
        ManagerKind::Slurm => ("scontrol", vec!["show", "job", id]),
        ManagerKind::Pbs => ("qstat", vec!["-f", id, "-F", "json"]),
    };
    let run = tokio::process::Command::new(program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(Duration::from_secs(30), run).await {
        Ok(Ok(out)) if out.status.success() => out,
        Ok(Ok(out)) => {
            log::warn!(
                "cannot read the remaining walltime: `{program} {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Ok(Err(e)) => {
            log::warn!("cannot read the remaining walltime: cannot run `{program}`: {e}");
            return None;
        }
        Err(_) => {
            log::warn!("cannot read the remaining walltime: `{program}` did not answer");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let secs = match allocation.manager {
        ManagerKind::Slurm => slurm_remaining(&text),
        ManagerKind::Pbs => pbs_remaining_walltime(&text, id),
    };
    if secs.is_none() {
        log::warn!("cannot read the remaining walltime from the output of `{program}`");
    }
    secs.map(Duration::from_secs)
}

/// `TimeLimit` minus `RunTime` of `scontrol show job` output.
pub fn slurm_remaining(text: &str) -> Option<u64> {
    let fields = scontrol_fields(text);
    let limit = parse_slurm_duration(fields.get("TimeLimit")?)?;
    let run = fields
        .get("RunTime")
        .and_then(|r| parse_slurm_duration(r))
        .unwrap_or(0);
    Some(limit.saturating_sub(run))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn detection_prefers_pbs_and_needs_its_environment() {
        let both = [
            ("PBS_ENVIRONMENT", "PBS_BATCH"),
            ("PBS_JOBID", "x1"),
            ("SLURM_JOB_ID", "7"),
        ];
        let a = detect(ManagerChoice::Detect, env(&both)).unwrap().unwrap();
        assert_eq!((a.manager, a.id.as_str()), (ManagerKind::Pbs, "x1"));
        let slurm_only = [("PBS_JOBID", "x1"), ("SLURM_JOBID", "7")];
        let a = detect(ManagerChoice::Detect, env(&slurm_only))
            .unwrap()
            .unwrap();
        assert_eq!((a.manager, a.id.as_str()), (ManagerKind::Slurm, "7"));
        assert_eq!(detect(ManagerChoice::Detect, env(&[])), Ok(None));
        assert_eq!(detect(ManagerChoice::None, env(&both)), Ok(None));
    }

    #[test]
    fn an_explicit_manager_needs_its_allocation() {
        assert_eq!(
            detect(ManagerChoice::Slurm, env(&[])),
            Err(ManagerError::NoSlurm)
        );
        assert_eq!(
            detect(ManagerChoice::Pbs, env(&[("SLURM_JOB_ID", "1")])),
            Err(ManagerError::NoPbs)
        );
        let a = detect(ManagerChoice::Pbs, env(&[("PBS_JOBID", "9.s")]))
            .unwrap()
            .unwrap();
        assert_eq!(a.id, "9.s");
    }

    #[test]
    fn slurm_remaining_time_is_limit_minus_run_time() {
        let text = "JobId=1 JobState=RUNNING\n   RunTime=00:01:34 TimeLimit=00:15:00 TimeMin=N/A";
        assert_eq!(slurm_remaining(text), Some(806));
        assert_eq!(slurm_remaining("TimeLimit=UNLIMITED"), None);
    }
}
