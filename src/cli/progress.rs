//! How a wait looks on the command line (`hq job wait/progress`, `submit --wait/--progress`,
//! `hq run`): an indicatif bar on a terminal; on anything else (a Slurm log file), a plain line
//! at most every few seconds and never a control character. At the end, one line per job with
//! its counts and time, and the first failed tasks with their error and stderr path. The wait
//! itself is [`Session::wait_for_jobs`].

use super::output::{Out, OutputMode};
use super::CliError;
use crate::client::{Session, WaitProgress, WaitResult};
use crate::common::duration::format_duration;
use crate::protocol::messages::*;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(Copy, Clone, PartialEq, Eq)]
pub enum WaitStyle {
    /// `hq job wait`, `submit --wait`: progress, without the announcement.
    Silent,
    /// `hq job progress`, `--progress`, `hq run`: announces what it waits for.
    Progress,
}

/// Least time between two plain progress lines.
const LINE_PERIOD: Duration = Duration::from_secs(5);
/// Failed tasks listed per job at the end.
const FAILURES_SHOWN: usize = 3;

/// Where progress goes: a bar on a terminal, plain lines elsewhere, nothing in JSON/quiet.
enum Reporter {
    Bar(indicatif::ProgressBar),
    Lines {
        last: Option<Instant>,
        shown: Option<TaskStats>,
    },
}

impl Reporter {
    fn new(terminal: bool) -> Reporter {
        if terminal {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            );
            let style = indicatif::ProgressStyle::with_template("[{bar:40}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("##.");
            bar.set_style(style);
            Reporter::Bar(bar)
        } else {
            Reporter::Lines {
                last: None,
                shown: None,
            }
        }
    }

    fn show(&mut self, p: &WaitProgress) {
        let s = p.totals();
        match self {
            Reporter::Bar(bar) => {
                bar.set_length(s.total() as u64);
                bar.set_position(s.completed() as u64);
                bar.set_message(counts_text(p));
            }
            Reporter::Lines { last, shown } => {
                let due = last.is_none_or(|t| t.elapsed() >= LINE_PERIOD);
                if due && *shown != Some(s) {
                    eprintln!("{}", progress_line(p));
                    *last = Some(Instant::now());
                    *shown = Some(s);
                }
            }
        }
    }

    /// Ends the display: the bar disappears (the summary follows); plain lines end with the
    /// final state unless it was the last line shown.
    fn finish(self, last: &WaitProgress) {
        match self {
            Reporter::Bar(bar) => bar.finish_and_clear(),
            Reporter::Lines { shown, .. } => {
                if shown.is_some_and(|s| s != last.totals()) {
                    eprintln!("{}", progress_line(last));
                }
            }
        }
    }
}

/// Waits until the selected jobs complete, showing progress in the human output mode. Logs
/// selected IDs that name no job.
pub async fn wait(
    session: &mut Session,
    selector: IdSelector,
    without_close: bool,
    style: WaitStyle,
    out: &Out,
    callbacks: Option<&super::notify::Callbacks>,
) -> Result<WaitResult, CliError> {
    let show = out.mode == OutputMode::Cli;
    let mut reporter = Reporter::new(std::io::stderr().is_terminal());
    let mut announced = false;
    let result = {
        let mut on_progress = |p: &WaitProgress| {
            if !announced && style == WaitStyle::Progress {
                log::info!(
                    "Waiting for {} jobs with {} tasks",
                    p.job_count(),
                    p.totals().total()
                );
            }
            announced = true;
            reporter.show(p);
        };
        let callback: Option<&mut (dyn FnMut(&WaitProgress) + Send)> =
            show.then_some(&mut on_progress);
        let mut on_notify = |n: TaskNotification| {
            if let Some(c) = callbacks {
                c.push(n);
            }
        };
        let notify: Option<&mut (dyn FnMut(TaskNotification) + Send)> =
            callbacks.is_some().then_some(&mut on_notify);
        session
            .wait_for_jobs(selector, without_close, callback, notify)
            .await?
    };
    reporter.finish(&result.state);
    super::output::log_not_found(log::Level::Error, "Job", &result.missing);
    if show && !announced && style == WaitStyle::Progress {
        // Every selected job was already completed (or there were none).
        log::warn!("There are no jobs to wait for");
    }
    Ok(result)
}

/// After a wait in the human output mode: one line per job on stderr, failures under it.
pub async fn report_end(session: &mut Session, result: &WaitResult, out: &Out) {
    if out.mode != OutputMode::Cli || result.state.jobs.is_empty() {
        return;
    }
    for line in end_lines(session, result).await {
        eprintln!("{line}");
    }
}

/// The lines of [`report_end`] (also printed by `hq run`, on stdout).
pub async fn end_lines(session: &mut Session, result: &WaitResult) -> Vec<String> {
    let ids: Vec<JobId> = result.state.jobs.iter().map(|j| j.id).collect();
    let selector = IdSelector::Ids(crate::common::idset::IdSet::from_ids(ids));
    let details = match session.job_details(selector.clone(), false, None).await {
        Ok(d) => d.jobs,
        Err(e) => return vec![format!("cannot read the jobs' final state: {e}")],
    };
    let any_failed = details.iter().any(|d| d.info.stats.failed > 0);
    let failed = if any_failed {
        session
            .failed_tasks(selector)
            .await
            .map(|f| f.jobs)
            .unwrap_or_default()
    } else {
        vec![]
    };
    summary_lines(&details, &failed)
}

/// `Job 3: 10 tasks, 8 finished, 2 failed, 0 canceled, 0 aborted in 1m 5s`, then per failed
/// task (the first few) its error and stderr path.
pub fn summary_lines(jobs: &[JobDetail], failed: &[(JobId, Vec<FailedTask>)]) -> Vec<String> {
    let mut lines = Vec::new();
    for j in jobs {
        let s = &j.info.stats;
        let end = j.completed_at.unwrap_or_else(crate::server::now_ms);
        let time = format_duration(Duration::from_millis(end.saturating_sub(j.submitted_at)));
        lines.push(format!(
            "Job {}: {} tasks, {} finished, {} failed, {} canceled, {} aborted in {time}",
            j.info.id,
            s.total(),
            s.finished,
            s.failed,
            s.canceled,
            s.aborted
        ));
        let tasks = failed
            .iter()
            .find(|(id, _)| *id == j.info.id)
            .map(|(_, t)| t.as_slice())
            .unwrap_or(&[]);
        for t in tasks.iter().take(FAILURES_SHOWN) {
            let error = t.error.lines().next().unwrap_or("");
            let stderr = t.stderr.as_deref().unwrap_or("not kept in a file");
            lines.push(format!(
                "  Task {} failed: {error} (stderr: {stderr})",
                t.id
            ));
        }
        if s.failed as usize > FAILURES_SHOWN {
            lines.push(format!(
                "  ... and {} more failed tasks: `hq task list {} --task-status failed`",
                s.failed as usize - FAILURES_SHOWN,
                j.info.id
            ));
        }
    }
    lines
}

/// `1/2 jobs, 5/10 tasks 2 RUNNING 3 FINISHED`
fn counts_text(p: &WaitProgress) -> String {
    let s = p.totals();
    let mut line = format!(
        "{}/{} jobs, {}/{} tasks",
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

/// `[####....] 1/2 jobs, 5/10 tasks 2 RUNNING 3 FINISHED`
pub fn progress_line(p: &WaitProgress) -> String {
    let s = p.totals();
    let total = s.total().max(1);
    let filled = (s.completed() as u64 * 40 / total as u64) as usize;
    format!(
        "[{}{}] {}",
        "#".repeat(filled),
        ".".repeat(40 - filled),
        counts_text(p)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(id: JobId, stats: TaskStats) -> JobDetail {
        JobDetail {
            info: JobInfo {
                id,
                name: "j".into(),
                task_count: stats.total(),
                is_open: false,
                cancel_reason: None,
                stats,
            },
            max_fails: None,
            submit_dir: "/w".into(),
            submitted_at: 1_000,
            completed_at: Some(66_000),
            groups: vec![],
            tasks: vec![],
        }
    }

    #[test]
    fn end_lines_list_the_first_failures() {
        let stats = TaskStats {
            finished: 6,
            failed: 4,
            ..Default::default()
        };
        let failed: Vec<FailedTask> = (0..4)
            .map(|i| FailedTask {
                id: i,
                error: format!("Program terminated with exit code {i}\nmore"),
                cwd: "/w".into(),
                stdout: None,
                stderr: Some(format!("/w/job-1/{i}.stderr")),
            })
            .collect();
        let lines = summary_lines(&[detail(1, stats)], &[(1, failed)]);
        assert_eq!(
            lines,
            vec![
                "Job 1: 10 tasks, 6 finished, 4 failed, 0 canceled, 0 aborted in 1m 5s",
                "  Task 0 failed: Program terminated with exit code 0 (stderr: /w/job-1/0.stderr)",
                "  Task 1 failed: Program terminated with exit code 1 (stderr: /w/job-1/1.stderr)",
                "  Task 2 failed: Program terminated with exit code 2 (stderr: /w/job-1/2.stderr)",
                "  ... and 1 more failed tasks: `hq task list 1 --task-status failed`",
            ]
        );
    }

    #[test]
    fn plain_lines_have_no_control_characters() {
        let p = WaitProgress {
            jobs: vec![JobProgress {
                id: 1,
                stats: TaskStats {
                    running: 2,
                    finished: 3,
                    waiting: 5,
                    ..Default::default()
                },
                done: false,
            }],
        };
        let line = progress_line(&p);
        assert_eq!(
            line,
            format!(
                "[{}{}] 0/1 jobs, 3/10 tasks 2 RUNNING 3 FINISHED",
                "#".repeat(12),
                ".".repeat(28)
            )
        );
        assert!(!line.chars().any(|c| c.is_control()));
    }
}
