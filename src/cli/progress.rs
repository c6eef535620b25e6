//! How a wait looks on the command line: the progress line of `--progress`, `hq job
//! progress` and `hq run`, and the messages around it. The wait itself is
//! [`Session::wait_for_jobs`].

use super::output::{Out, OutputMode};
use super::CliError;
use crate::client::{Session, WaitProgress, WaitResult};
use crate::protocol::messages::*;
use std::io::Write;

#[derive(Copy, Clone, PartialEq, Eq)]
pub enum WaitStyle {
    Silent,
    Progress,
}

/// Waits until the selected jobs complete; with `Progress` (in the human output mode), redraws
/// the progress line on stderr. Logs selected IDs that name no job.
pub async fn wait(
    session: &mut Session,
    selector: IdSelector,
    without_close: bool,
    style: WaitStyle,
    out: &Out,
) -> Result<WaitResult, CliError> {
    let draw = style == WaitStyle::Progress && out.mode == OutputMode::Cli;
    let mut announced = false;
    let result = {
        let mut on_progress = |p: &WaitProgress| {
            if !announced {
                log::info!(
                    "Waiting for {} jobs with {} tasks",
                    p.job_count(),
                    p.totals().total()
                );
                announced = true;
            }
            draw_progress(p);
        };
        let callback: Option<&mut (dyn FnMut(&WaitProgress) + Send)> =
            draw.then_some(&mut on_progress);
        session
            .wait_for_jobs(selector, without_close, callback)
            .await?
    };
    super::output::log_not_found("Job", &result.missing);
    if draw {
        if announced {
            // The final state, which no progress message carried.
            draw_progress(&result.state);
            eprintln!();
        } else {
            // Every selected job was already completed (or there were none).
            log::warn!("There are no jobs to wait for");
        }
    }
    Ok(result)
}

/// `[####....] 1/2 jobs, 5/10 tasks 2 RUNNING 3 FINISHED`
pub fn progress_line(p: &WaitProgress) -> String {
    let s = p.totals();
    let total = s.total().max(1);
    let filled = (s.completed() as u64 * 40 / total as u64) as usize;
    let mut line = format!(
        "[{}{}] {}/{} jobs, {}/{} tasks",
        "#".repeat(filled),
        ".".repeat(40 - filled),
        p.completed_jobs(),
        p.job_count(),
        s.completed(),
        s.total()
    );
    for (n, word) in [
        (s.running, "RUNNING"),
        (s.finished, "FINISHED"),
        (s.failed, "FAILED"),
        (s.canceled, "CANCELED"),
        (s.aborted, "ABORTED"),
    ] {
        if n > 0 {
            line.push_str(&format!(" {n} {word}"));
        }
    }
    line
}

fn draw_progress(p: &WaitProgress) {
    let mut err = std::io::stderr();
    let _ = write!(err, "\r\x1b[2K{}", progress_line(p));
    let _ = err.flush();
}
