//! `hq task list|info|explain`.

use super::job::details;
use super::job_print::*;
use super::output::*;
use super::parse::{parse_selector, parse_task_states};
use super::{connect, CliError, CliResult, GlobalOpts};
use crate::common::duration::format_duration;
use crate::common::idset::IdSet;
use crate::protocol::messages::*;
use clap::Subcommand;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// List tasks of jobs
    List {
        /// Job ID, range or `last`
        jobs: String,
        #[arg(long)]
        tasks: Option<String>,
        #[arg(long)]
        task_status: Option<String>,
        /// Show whole error messages
        #[arg(short, long)]
        verbose: bool,
    },
    /// Details of tasks
    Info {
        /// Job ID or `last`
        job: String,
        /// Task IDs
        tasks: String,
        #[arg(short, long)]
        verbose: bool,
    },
    /// Explain why a task can or cannot run now
    Explain { job: JobId, task: TaskId },
    /// Inside a running task: send MESSAGE (at most 1 KiB) to the clients waiting for its job
    /// with `hq submit --wait --on-notify CMD`
    Notify { message: String },
}

pub async fn run(g: &GlobalOpts, cmd: TaskCommand) -> CliResult {
    let out = g.out();
    match cmd {
        TaskCommand::List {
            jobs,
            tasks,
            task_status,
            verbose,
        } => {
            let tasks = parse_tasks(tasks.as_deref())?;
            let states = task_status.as_deref().map(parse_task_states).transpose()?;
            let jobs = details(g, parse_selector(&jobs)?, tasks.clone()).await?;
            let keep = |t: &TaskDetail| {
                tasks.as_ref().is_none_or(|s| s.contains(t.id))
                    && states.as_ref().is_none_or(|s| s.contains(&t.status))
            };
            print_list(&out, &jobs, keep, verbose);
            Ok(())
        }
        TaskCommand::Info {
            job,
            tasks,
            verbose,
        } => {
            let tasks = parse_tasks(Some(&tasks))?.unwrap_or_default();
            // An unknown job is only logged (exit 0), like every other job selector.
            let jobs = details(g, parse_selector(&job)?, Some(tasks.clone())).await?;
            if jobs.is_empty() && out.mode == OutputMode::Json {
                out.json(&serde_json::json!([]));
            }
            for job in &jobs {
                let chosen: Vec<&TaskDetail> =
                    job.tasks.iter().filter(|t| tasks.contains(t.id)).collect();
                let found = IdSet::from_ids(chosen.iter().map(|t| t.id));
                // A missing task is a warning (the reference's level); a missing job an error.
                log_not_found(log::Level::Warn, "Task", &tasks.difference(&found));
                print_info(&out, job, &chosen, verbose);
            }
            Ok(())
        }
        TaskCommand::Notify { message } => super::notify::send(message).await,
        TaskCommand::Explain { job, task } => {
            let explanation = connect(g).await?.explain_task(job, task).await?;
            super::explain::print_explain(&out, &explanation);
            Ok(())
        }
    }
}

fn parse_tasks(text: Option<&str>) -> Result<Option<IdSet>, CliError> {
    text.map(|t| {
        IdSet::parse(t).map_err(|e| CliError::Usage(format!("invalid task selector `{t}`: {e}")))
    })
    .transpose()
}

fn makespan(t: &TaskDetail) -> String {
    match t.started_at {
        Some(s) => {
            let end = t.finished_at.unwrap_or_else(crate::server::now_ms);
            format_duration(Duration::from_millis(end.saturating_sub(s)))
        }
        None => String::new(),
    }
}

fn print_list(out: &Out, jobs: &[JobDetail], keep: impl Fn(&TaskDetail) -> bool, verbose: bool) {
    match out.mode {
        OutputMode::Json => {
            let map: serde_json::Map<String, serde_json::Value> = jobs
                .iter()
                .map(|j| {
                    let tasks: Vec<_> = j
                        .tasks
                        .iter()
                        .filter(|t| keep(t))
                        .map(|t| task_json(j, t))
                        .collect();
                    (j.info.id.to_string(), tasks.into())
                })
                .collect();
            out.json(&serde_json::Value::Object(map));
        }
        OutputMode::Quiet => {}
        OutputMode::Cli => {
            let several = jobs.len() > 1;
            let mut truncated = false;
            let mut rows = Vec::new();
            for j in jobs {
                for t in j.tasks.iter().filter(|t| keep(t)) {
                    let mut error = t.error.clone().unwrap_or_default();
                    if !verbose && error.chars().count() > 16 {
                        error = format!("{}...", error.chars().take(16).collect::<String>());
                        truncated = true;
                    }
                    let hosts: Vec<String> = t.workers.iter().map(|(_, h)| h.clone()).collect();
                    let mut row = vec![
                        t.id.to_string(),
                        out.task_status(t.status),
                        hosts.join("\n"),
                        makespan(t),
                        error,
                    ];
                    if several {
                        row.insert(0, j.info.id.to_string());
                    }
                    rows.push(row);
                }
            }
            let mut header = vec!["Task ID", "State", "Worker", "Makespan", "Error"];
            if several {
                header.insert(0, "Job ID");
            }
            print_horizontal(out, &header, rows);
            if truncated {
                log::info!("An error message was truncated. Use -v to display the full error.");
            }
        }
    }
}

fn print_info(out: &Out, job: &JobDetail, tasks: &[&TaskDetail], verbose: bool) {
    match out.mode {
        OutputMode::Json => out.json(&serde_json::Value::Array(
            tasks.iter().map(|t| task_json(job, t)).collect(),
        )),
        OutputMode::Quiet => {}
        OutputMode::Cli => {
            for (i, t) in tasks.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                let body = &job.groups[t.group as usize].body;
                let p = &body.program;
                // Paths are known once the task has started (its instance is then fixed).
                let (cwd, stdout, stderr) = match t.started_at {
                    None => Default::default(),
                    Some(_) => {
                        let paths = execution_paths(job, t, body);
                        let stdio = |def: &StdioDef, path: Option<String>| match def {
                            StdioDef::File { .. } => path.unwrap_or_default(),
                            other => stdio_text(other),
                        };
                        (
                            paths.cwd,
                            stdio(&p.stdout, paths.stdout),
                            stdio(&p.stderr, paths.stderr),
                        )
                    }
                };
                let mut error = t.error.clone().unwrap_or_default();
                if !verbose && error.chars().count() > 237 {
                    error = format!("{}...", error.chars().take(237).collect::<String>());
                }
                let deps: IdSet = t.deps.iter().copied().collect();
                print_vertical(
                    out,
                    vec![
                        ("Task ID", t.id.to_string()),
                        ("State", out.task_status(t.status)),
                        ("Command", p.args.join("\n")),
                        ("Environment", env_text(p)),
                        (
                            "Worker",
                            t.workers
                                .iter()
                                .map(|(_, h)| h.clone())
                                .collect::<Vec<_>>()
                                .join("\n"),
                        ),
                        ("Start", t.started_at.map(format_local).unwrap_or_default()),
                        ("End", t.finished_at.map(format_local).unwrap_or_default()),
                        ("Makespan", makespan(t)),
                        ("Workdir", cwd),
                        ("Stdout", stdout),
                        ("Stderr", stderr),
                        (
                            "Time limit",
                            body.time_limit_ms
                                .map(|t| format_duration(Duration::from_millis(t)))
                                .unwrap_or_else(|| "None".into()),
                        ),
                        ("Resources", resources_text(&body.resources)),
                        ("Priority", body.priority.to_string()),
                        ("Pin", pin_text(body.pin).into()),
                        ("Task dir", if body.task_dir { "yes" } else { "no" }.into()),
                        ("Crash limit", crash_limit_text(body.crash_limit)),
                        ("Instance ID", t.instance.to_string()),
                        ("Crash count", t.crash_count.to_string()),
                        ("Retries", format!("{} of {}", t.retries, body.max_retries)),
                        ("Dependencies", deps.to_string()),
                        ("Error", error),
                    ],
                );
            }
        }
    }
}
