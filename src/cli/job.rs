//! `hq job list|info|cancel|forget|wait|progress|task-ids|open|close|cat|submit-file`.

use super::output::*;
use super::parse::{parse_job_states, parse_selector, parse_task_states};
use super::progress::{report_end, wait, WaitStyle};
use super::{connect, CliError, CliResult, GlobalOpts};
use crate::client::{CommandLog, JobDetails};
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
    SubmitFile(Box<super::submission::SubmitFileArgs>),
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
            let jobs = connect(g).await?.job_list().await?;
            super::job_print::print_job_list(&out, &jobs, all, filter.as_deref(), verbose);
            Ok(())
        }
        JobCommand::Summary => {
            let jobs = connect(g).await?.job_list().await?;
            super::job_print::print_summary(&out, &jobs);
            Ok(())
        }
        JobCommand::Info { selector } => {
            let selector = parse_selector(&selector)?;
            let jobs = details(g, selector, None).await?;
            super::job_print::print_job_info(&out, &jobs);
            Ok(())
        }
        JobCommand::Cancel { selector, reason } => {
            let selector = parse_selector(&selector)?;
            report(g, connect(g).await?.cancel_jobs(selector, reason).await?)
        }
        JobCommand::Forget { selector, filter } => {
            let filter = match filter {
                Some(f) => forget_states(&f)?,
                None => crate::client::COMPLETED_STATES.to_vec(),
            };
            let selector = parse_selector(&selector)?;
            report(g, connect(g).await?.forget_jobs(selector, filter).await?)
        }
        JobCommand::Close { selector } => {
            let selector = parse_selector(&selector)?;
            report(g, connect(g).await?.close_jobs(selector).await?)
        }
        JobCommand::Wait {
            selector,
            without_close,
        } => {
            let selector = parse_selector(&selector)?;
            let mut session = connect(g).await?;
            let result = wait(
                &mut session,
                selector,
                without_close,
                WaitStyle::Silent,
                &out,
                None,
            )
            .await?;
            report_end(&mut session, &result, &out).await;
            if out.mode == OutputMode::Json {
                out.json(&serde_json::json!({}));
            }
            Ok(())
        }
        JobCommand::Progress { selector } => {
            let selector = parse_selector(&selector)?;
            let mut session = connect(g).await?;
            let result = wait(
                &mut session,
                selector,
                false,
                WaitStyle::Progress,
                &out,
                None,
            )
            .await?;
            report_end(&mut session, &result, &out).await;
            if out.mode == OutputMode::Json {
                out.json(&serde_json::json!({}));
            }
            Ok(())
        }
        JobCommand::TaskIds { selector, filter } => {
            let states = filter.as_deref().map(parse_task_states).transpose()?;
            let selector = parse_selector(&selector)?;
            let jobs = details(g, selector, None).await?;
            super::job_print::print_task_ids(&out, &jobs, states.as_deref());
            Ok(())
        }
        JobCommand::Open { name, max_fails } => {
            let name = name.unwrap_or_else(|| "job".into());
            let job = connect(g).await?.open_job(name, max_fails).await?;
            match out.mode {
                OutputMode::Json => out.json(&serde_json::json!({ "id": job })),
                OutputMode::Quiet => println!("{job}"),
                OutputMode::Cli => println!("Job {job} is open."),
            }
            Ok(())
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
            let named = matches!(selector, IdSelector::Ids(_));
            let jobs = details(g, selector, tasks.clone()).await?;
            if jobs.is_empty() && !named {
                log::warn!("No jobs were found");
            }
            cat(
                &jobs,
                &channel,
                tasks.as_ref(),
                states.as_deref(),
                print_task_header,
            )
        }
        JobCommand::SubmitFile(args) => super::submission::submit_file(g, *args).await,
    }
}

/// `hq job forget --filter`: only states of completed jobs (a job in another state is never
/// forgotten, so such a filter would silently match nothing).
fn forget_states(text: &str) -> Result<Vec<JobStatus>, CliError> {
    let states = parse_job_states(text)?;
    let words = text.split(',').map(str::trim);
    match words
        .zip(&states)
        .find(|(_, s)| !crate::client::COMPLETED_STATES.contains(s))
    {
        Some((word, _)) => Err(CliError::Usage(format!(
            "invalid value `{word}` for `--filter` of `hq job forget`: only completed jobs can be forgotten; use finished, failed, aborted or canceled"
        ))),
        None => Ok(states),
    }
}

/// Prints what the server logged for a command; exit 1 when it failed as a whole.
fn report(g: &GlobalOpts, log: CommandLog) -> CliResult {
    print_log_lines(&log.lines);
    let out = g.out();
    if out.mode == OutputMode::Json {
        out.json(&serde_json::json!({}));
    }
    if log.ok {
        Ok(())
    } else {
        Err(CliError::Reported)
    }
}

/// Details of the selected jobs with their tasks (those in `tasks`, or all); unknown IDs are
/// logged.
pub async fn details(
    g: &GlobalOpts,
    selector: IdSelector,
    tasks: Option<IdSet>,
) -> Result<Vec<JobDetail>, CliError> {
    let JobDetails { jobs, missing } = connect(g).await?.job_details(selector, true, tasks).await?;
    log_not_found(log::Level::Error, "Job", &missing);
    Ok(jobs)
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
        if let Some(selected) = tasks {
            let present: std::collections::HashSet<TaskId> =
                job.tasks.iter().map(|t| t.id).collect();
            for id in selected.iter().filter(|id| !present.contains(id)) {
                log::warn!("Task {id} of job {} not found", job.info.id);
            }
        }
        for t in &job.tasks {
            if tasks.is_some_and(|s| !s.contains(t.id))
                || states.is_some_and(|s| !s.contains(&t.status))
            {
                continue;
            }
            let body = &job.groups[t.group as usize].body;
            let paths = super::job_print::execution_paths(job, t, body);
            let path = if channel == "stdout" {
                paths.stdout
            } else {
                paths.stderr
            };
            let path = match path {
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
