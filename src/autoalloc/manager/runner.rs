//! The real command runner (child processes with a timeout) and a wrapper that counts commands.

use super::{CommandOutput, CommandRunner, RunError};
use futures::future::BoxFuture;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Runs programs found on the server's `PATH`; kills them after `timeout`.
pub struct ProcessRunner {
    pub timeout: Duration,
}

impl CommandRunner for ProcessRunner {
    fn run<'a>(
        &'a self,
        program: &'a str,
        args: &'a [String],
        cwd: Option<&'a Path>,
    ) -> BoxFuture<'a, Result<CommandOutput, RunError>> {
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            if let Some(dir) = cwd {
                cmd.current_dir(dir);
            }
            log::debug!("running {program} {}", args.join(" "));
            let child = cmd.spawn().map_err(|e| RunError::Spawn {
                program: program.to_string(),
                reason: e.to_string(),
            })?;
            match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
                Ok(Ok(out)) => Ok(CommandOutput {
                    code: out.status.code(),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                }),
                Ok(Err(e)) => Err(RunError::Spawn {
                    program: program.to_string(),
                    reason: e.to_string(),
                }),
                Err(_) => Err(RunError::Timeout {
                    program: program.to_string(),
                    secs: self.timeout.as_secs(),
                }),
            }
        })
    }
}

/// Counts the commands run through it (the `manager commands` figure of `hq alloc list`).
pub struct CountingRunner<'r> {
    pub inner: &'r dyn CommandRunner,
    pub count: AtomicU32,
}

impl<'r> CountingRunner<'r> {
    pub fn new(inner: &'r dyn CommandRunner) -> Self {
        CountingRunner {
            inner,
            count: AtomicU32::new(0),
        }
    }

    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }
}

impl CommandRunner for CountingRunner<'_> {
    fn run<'a>(
        &'a self,
        program: &'a str,
        args: &'a [String],
        cwd: Option<&'a Path>,
    ) -> BoxFuture<'a, Result<CommandOutput, RunError>> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inner.run(program, args, cwd)
    }
}
