//! `hq job list|info|cancel|forget|wait|progress|task-ids|open|close|cat|submit-file`.

use super::output::*;
use super::{connect, CliError, CliResult, GlobalOpts};
use crate::client::Session;
use crate::common::idset::IdSet;
use crate::protocol::messages::*;
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// List jobs (waiting, running and open ones unless told otherwise)
    List {
        /// Show every job
        #[arg(long)]
        all: bool,
        /// Comma list of waiting,running,finished,failed,canceled,aborted,opened
        #[arg(long)]
        filter: Option<String>,
        /// Also show cancel reasons
        #[arg(long, short)]
        verbose: bool,
    },
    /// Counts of jobs per state
    Summary,
    /// Details of jobs
    Info { selector: String },
    /// Cancel jobs
    Cancel {
        selector: String,
        /// Why (kept with the job, at most 200 characters)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Drop completed jobs from the server's memory
    Forget {
        selector: String,
        /// Comma list of finished,failed,aborted,canceled
        #[arg(long, alias = "status")]
        filter: Option<String>,
    },
    /// Wait until jobs complete
    Wait {
        selector: String,
        /// Do not wait for open jobs to be closed
        #[arg(long)]
        without_close: bool,
    },
    /// Show a progress bar until jobs complete
    Progress { selector: String },
    /// Print the IDs of tasks in the given states
    TaskIds {
        selector: String,
        #[arg(long)]
        filter: Option<String>,
    },
    /// Create an open job that accepts more submissions
    Open {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        max_fails: Option<u32>,
    },
    /// Close open jobs
    Close { selector: String },
    /// Print the stdout or stderr of tasks
    Cat {
        selector: String,
        #[arg(value_parser = ["stdout", "stderr"])]
        channel: String,
        #[arg(long)]
        tasks: Option<String>,
        #[arg(long)]
        task_status: Option<String>,
        #[arg(long)]
        print_task_header: bool,
    },
    /// Submit a TOML job file
    SubmitFile(Box<super::run::SubmitFileArgs>),
}

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

fn parse_job_states(text: &str) -> Result<Vec<JobStatus>, CliError> {
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

pub fn job_status(info: &JobInfo) -> JobStatus {
    info.stats.job_status(info.is_open)
}

pub async fn run(g: &GlobalOpts, cmd: JobCommand) -> CliResult {
    let out = g.out();
    match cmd {
        JobCommand::List {
            all,
            filter,
            verbose,
        } => {
            let filter = filter.as_deref().map(parse_job_states).transpose()?;
            let jobs = fetch_jobs(&mut connect(g).await?).await?;
            super::job_print::print_job_list(&out, &jobs, all, filter.as_deref(), verbose);
            Ok(())
        }
        JobCommand::Summary => {
            let jobs = fetch_jobs(&mut connect(g).await?).await?;
            super::job_print::print_summary(&out, &jobs);
            Ok(())
        }
        JobCommand::Info { selector } => {
            let selector = parse_selector(&selector)?;
            let (jobs, missing) =
                fetch_details(&mut connect(g).await?, selector, true, None).await?;
            log_not_found("Job", &missing);
            super::job_print::print_job_info(&out, &jobs);
            Ok(())
        }
        JobCommand::Cancel { selector, reason } => {
            log_request(
                g,
                ClientRequest::CancelJob {
                    selector: parse_selector(&selector)?,
                    reason,
                },
            )
            .await
        }
        JobCommand::Forget { selector, filter } => {
            let filter = match filter {
                Some(f) => parse_job_states(&f)?,
                None => vec![
                    JobStatus::Finished,
                    JobStatus::Failed,
                    JobStatus::Aborted,
                    JobStatus::Canceled,
                ],
            };
            log_request(
                g,
                ClientRequest::ForgetJob {
                    selector: parse_selector(&selector)?,
                    filter,
                },
            )
            .await
        }
        JobCommand::Close { selector } => {
            log_request(
                g,
                ClientRequest::CloseJob {
                    selector: parse_selector(&selector)?,
                },
            )
            .await
        }
        JobCommand::Wait {
            selector,
            without_close,
        } => {
            let selector = parse_selector(&selector)?;
            wait_for_jobs(
                &mut connect(g).await?,
                selector,
                without_close,
                WaitStyle::Silent,
                &out,
            )
            .await?;
            if out.mode == OutputMode::Json {
                out.json(&serde_json::json!({}));
            }
            Ok(())
        }
        JobCommand::Progress { selector } => {
            let selector = parse_selector(&selector)?;
            wait_for_jobs(
                &mut connect(g).await?,
                selector,
                false,
                WaitStyle::Progress,
                &out,
            )
            .await?;
            if out.mode == OutputMode::Json {
                out.json(&serde_json::json!({}));
            }
            Ok(())
        }
        JobCommand::TaskIds { selector, filter } => {
            let states = filter.as_deref().map(parse_task_states).transpose()?;
            let selector = parse_selector(&selector)?;
            let (jobs, missing) =
                fetch_details(&mut connect(g).await?, selector, true, None).await?;
            log_not_found("Job", &missing);
            super::job_print::print_task_ids(&out, &jobs, states.as_deref());
            Ok(())
        }
        JobCommand::Open { name, max_fails } => {
            let req = ClientRequest::OpenJob {
                name: name.unwrap_or_else(|| "job".into()),
                max_fails,
            };
            match connect(g).await?.request(req).await? {
                ClientResponse::JobCreated { job } => {
                    match out.mode {
                        OutputMode::Json => out.json(&serde_json::json!({ "id": job })),
                        OutputMode::Quiet => println!("{job}"),
                        OutputMode::Cli => println!("Job {job} is open."),
                    }
                    Ok(())
                }
                other => Err(CliError::Runtime(format!("unexpected response {other:?}"))),
            }
        }
        JobCommand::Cat {
            selector,
            channel,
            tasks,
            task_status,
            print_task_header,
        } => {
            if out.mode == OutputMode::Json {
                return Err(CliError::Runtime("`hq job cat` cannot print JSON".into()));
            }
            let selector = parse_selector(&selector)?;
            let tasks = tasks
                .as_deref()
                .map(IdSet::parse)
                .transpose()
                .map_err(|e| CliError::Usage(format!("invalid `--tasks`: {e}")))?;
            let states = task_status.as_deref().map(parse_task_states).transpose()?;
            let (jobs, missing) =
                fetch_details(&mut connect(g).await?, selector, true, tasks.clone()).await?;
            log_not_found("Job", &missing);
            cat(
                &jobs,
                &channel,
                tasks.as_ref(),
                states.as_deref(),
                print_task_header,
            )
        }
        JobCommand::SubmitFile(args) => super::run::submit_file(g, *args).await,
    }
}

async fn log_request(g: &GlobalOpts, req: ClientRequest) -> CliResult {
    let out = g.out();
    match connect(g).await?.request(req).await? {
        ClientResponse::Log { lines, ok } => {
            print_log_lines(&lines);
            if out.mode == OutputMode::Json {
                out.json(&serde_json::json!({}));
            }
            if ok {
                Ok(())
            } else {
                Err(CliError::Reported)
            }
        }
        other => Err(CliError::Runtime(format!("unexpected response {other:?}"))),
    }
}

pub async fn fetch_jobs(session: &mut Session) -> Result<Vec<JobInfo>, CliError> {
    match session.request(ClientRequest::JobList).await? {
        ClientResponse::Jobs(jobs) => Ok(jobs),
        other => Err(CliError::Runtime(format!("unexpected response {other:?}"))),
    }
}

/// Details of the selected jobs (with the tasks in `tasks`, or all) and the unknown job IDs.
pub async fn fetch_details(
    session: &mut Session,
    selector: IdSelector,
    include_tasks: bool,
    tasks: Option<IdSet>,
) -> Result<(Vec<JobDetail>, IdSet), CliError> {
    match session
        .request(ClientRequest::JobDetail {
            selector,
            include_tasks,
            tasks,
        })
        .await?
    {
        ClientResponse::JobDetails { jobs, missing } => Ok((jobs, missing)),
        other => Err(CliError::Runtime(format!("unexpected response {other:?}"))),
    }
}

#[derive(Copy, Clone, PartialEq, Eq)]
pub enum WaitStyle {
    Silent,
    Progress,
}

/// Waits until the selected jobs complete; with `Progress`, redraws the progress line.
pub async fn wait_for_jobs(
    session: &mut Session,
    selector: IdSelector,
    without_close: bool,
    style: WaitStyle,
    out: &Out,
) -> Result<TaskStats, CliError> {
    let draw = style == WaitStyle::Progress && out.mode == OutputMode::Cli;
    session
        .send(&ClientRequest::WaitJobs {
            selector,
            without_close,
            progress: draw,
        })
        .await?;
    let mut announced = false;
    let mut job_count = 0;
    loop {
        match session.recv().await {
            Ok(ClientResponse::Progress {
                jobs,
                completed_jobs,
                stats,
            }) => {
                if !announced {
                    log::info!("Waiting for {jobs} jobs with {} tasks", stats.total());
                    announced = true;
                }
                job_count = jobs;
                draw_progress(jobs, completed_jobs, &stats);
            }
            Ok(ClientResponse::WaitDone { stats, missing }) => {
                log_not_found("Job", &missing);
                if draw {
                    if announced {
                        // The final state, which no `Progress` message carried.
                        draw_progress(job_count, job_count, &stats);
                        eprintln!();
                    } else {
                        // Every selected job was already completed (or there were none).
                        log::warn!("There are no jobs to wait for");
                    }
                }
                return Ok(stats);
            }
            Ok(other) => return Err(CliError::Runtime(format!("unexpected response {other:?}"))),
            Err(e) => {
                return Err(CliError::Runtime(format!(
                    "the connection to the server was lost while waiting: {e}"
                )))
            }
        }
    }
}

/// `[####....] 1/2 jobs, 5/10 tasks 2 RUNNING 3 FINISHED`
pub fn progress_line(jobs: u32, completed_jobs: u32, s: &TaskStats) -> String {
    let total = s.total().max(1);
    let filled = (s.completed() as u64 * 40 / total as u64) as usize;
    let mut line = format!(
        "[{}{}] {completed_jobs}/{jobs} jobs, {}/{} tasks",
        "#".repeat(filled),
        ".".repeat(40 - filled),
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

fn draw_progress(jobs: u32, completed_jobs: u32, s: &TaskStats) {
    let mut err = std::io::stderr();
    let _ = write!(err, "\r\x1b[2K{}", progress_line(jobs, completed_jobs, s));
    let _ = err.flush();
}

fn cat(
    jobs: &[JobDetail],
    channel: &str,
    tasks: Option<&IdSet>,
    states: Option<&[TaskStatus]>,
    header: bool,
) -> CliResult {
    let mut stdout = std::io::stdout().lock();
    for job in jobs {
        for t in &job.tasks {
            if tasks.is_some_and(|s| !s.contains(t.id))
                || states.is_some_and(|s| !s.contains(&t.status))
            {
                continue;
            }
            let body = &job.groups[t.group as usize].body;
            let path = match super::job_print::resolved_path(job, t, body, channel == "stdout") {
                Some(p) if t.started_at.is_some() => p,
                _ => {
                    log::warn!("Task {} has no `{channel}` stream associated with it", t.id);
                    continue;
                }
            };
            if header {
                let _ = writeln!(stdout, "# Job {}, task {}", job.info.id, t.id);
            }
            match std::fs::read(PathBuf::from(&path)) {
                Ok(data) => {
                    let _ = stdout.write_all(&data);
                }
                Err(e) => log::warn!("cannot read {path}: {e}"),
            }
        }
    }
    Ok(())
}
