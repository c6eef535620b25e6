//! Batch systems behind one trait: build the submission script, submit it, query the state of
//! allocations, cancel one. Every external program runs through a [`CommandRunner`], so tests
//! can drive error paths; parsing of the programs' output is pure and tested with canned text.

pub mod pbs;
mod runner;
pub mod slurm;

pub use pbs::Pbs;
pub use runner::{CountingRunner, ProcessRunner};
pub use slurm::Slurm;

use super::events::{AllocationId, SubmitFailure};
use super::params::{ManagerKind, QueueParams};
use super::tracking::StatusAnswer;
use futures::future::BoxFuture;
use std::path::Path;

/// What a finished program returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs external programs (`sbatch`, `qstat`, ...).
pub trait CommandRunner: Send + Sync {
    /// Runs `program args...` in `cwd` (or the server's directory) and collects its output.
    fn run<'a>(
        &'a self,
        program: &'a str,
        args: &'a [String],
        cwd: Option<&'a Path>,
    ) -> BoxFuture<'a, Result<CommandOutput, RunError>>;
}

/// A program that could not be run to completion.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RunError {
    #[error("cannot run `{program}`: {reason}")]
    Spawn { program: String, reason: String },
    #[error("`{program}` did not finish within {secs} s and was killed")]
    Timeout { program: String, secs: u64 },
}

/// What one allocation's submission needs.
pub struct SubmitSpec<'a> {
    pub params: &'a QueueParams,
    /// Allocation name (`hq-1-3`).
    pub name: &'a str,
    pub workers: u32,
    /// The allocation directory (stdout, stderr, the script).
    pub dir: &'a Path,
    pub worker_command: &'a str,
    /// A test submission (`#PBS -h` for PBS).
    pub dry_run: bool,
}

/// A batch system.
pub trait QueueManager: Send + Sync {
    fn kind(&self) -> ManagerKind;

    /// The submission script (pure).
    fn script(&self, spec: &SubmitSpec<'_>) -> String;

    /// Submits `script` (written in `dir`); returns the allocation ID.
    fn submit<'a>(
        &'a self,
        runner: &'a dyn CommandRunner,
        script: &'a Path,
        dir: &'a Path,
    ) -> BoxFuture<'a, Result<AllocationId, SubmitFailure>>;

    /// The state of each allocation, with as few commands as possible.
    fn status<'a>(
        &'a self,
        runner: &'a dyn CommandRunner,
        ids: &'a [AllocationId],
    ) -> BoxFuture<'a, Vec<(AllocationId, StatusAnswer)>>;

    /// Cancels an allocation (queued or running).
    fn cancel<'a>(
        &'a self,
        runner: &'a dyn CommandRunner,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SubmitFailure>>;
}

/// The manager of a kind.
pub fn manager_for(kind: ManagerKind) -> Box<dyn QueueManager> {
    match kind {
        ManagerKind::Slurm => Box::new(Slurm),
        ManagerKind::Pbs => Box::new(Pbs),
    }
}

/// Runs a command; a spawn error or a non-zero exit becomes a [`SubmitFailure`].
async fn run_checked(
    runner: &dyn CommandRunner,
    program: &str,
    args: &[String],
    cwd: Option<&Path>,
) -> Result<CommandOutput, SubmitFailure> {
    let command = command_line(program, args);
    match runner.run(program, args, cwd).await {
        Ok(out) if out.success() => Ok(out),
        Ok(out) => Err(SubmitFailure {
            command,
            message: match out.code {
                Some(code) => format!("`{program}` exited with code {code}"),
                None => format!("`{program}` was killed by a signal"),
            },
            exit_code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
            script: None,
        }),
        Err(e) => Err(SubmitFailure {
            command,
            message: e.to_string(),
            ..Default::default()
        }),
    }
}

/// Runs `program SCRIPT` in `dir` and reads the allocation ID from its stdout with `parse`;
/// output without one is a failure whose message says the output had `expected` instead.
async fn submit_script(
    runner: &dyn CommandRunner,
    program: &str,
    script: &Path,
    dir: &Path,
    parse: fn(&str) -> Option<String>,
    expected: &str,
) -> Result<AllocationId, SubmitFailure> {
    let args = vec![script.display().to_string()];
    let out = run_checked(runner, program, &args, Some(dir)).await?;
    parse(&out.stdout).ok_or_else(|| SubmitFailure {
        command: command_line(program, &args),
        message: format!("`{program}` succeeded, but its output has {expected}"),
        exit_code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        script: None,
    })
}

fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A submission script: `#!/bin/bash`, one `PREFIX directive` line each, a blank line, the
/// launch line.
fn script_text(prefix: &str, directives: &[String], launch: &str) -> String {
    let mut s = String::from("#!/bin/bash\n");
    for d in directives {
        s.push_str(&format!("{prefix} {d}\n"));
    }
    s.push('\n');
    s.push_str(launch);
    s.push('\n');
    s
}

/// The queue's extra arguments as one directive, if any.
fn extra_args(spec: &SubmitSpec<'_>) -> Option<String> {
    let args = &spec.params.additional_args;
    (!args.is_empty()).then(|| args.join(" "))
}

/// `HH:MM:SS` of a walltime; hours may exceed 24.
pub fn walltime(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
pub mod fake {
    //! A runner with canned answers that records what it was asked to run.
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct FakeRunner {
        pub answers: Mutex<VecDeque<Result<CommandOutput, RunError>>>,
        pub calls: Mutex<Vec<String>>,
    }

    impl FakeRunner {
        pub fn answer(self, code: i32, stdout: &str, stderr: &str) -> Self {
            self.answers.lock().unwrap().push_back(Ok(CommandOutput {
                code: Some(code),
                stdout: stdout.into(),
                stderr: stderr.into(),
            }));
            self
        }

        pub fn fail_spawn(self, program: &str) -> Self {
            self.answers.lock().unwrap().push_back(Err(RunError::Spawn {
                program: program.into(),
                reason: "No such file or directory (os error 2)".into(),
            }));
            self
        }

        pub fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl CommandRunner for FakeRunner {
        fn run<'a>(
            &'a self,
            program: &'a str,
            args: &'a [String],
            _cwd: Option<&'a Path>,
        ) -> BoxFuture<'a, Result<CommandOutput, RunError>> {
            self.calls.lock().unwrap().push(command_line(program, args));
            let answer = self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .expect("an answer for every command");
            Box::pin(async move { answer })
        }
    }

    /// Runs a future to completion on a fresh current-thread runtime.
    pub fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}
