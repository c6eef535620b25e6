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
                log_not_found("Task", &tasks.difference(&found));
                print_info(&out, job, &chosen, verbose);
            }
            Ok(())
        }
        TaskCommand::Explain { job, task } => {
            let explanation = connect(g).await?.explain_task(job, task).await?;
            print_explain(&out, &explanation);
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
                let started = t.started_at.is_some();
                let stdio = |stdout: bool| {
                    let def = if stdout { &p.stdout } else { &p.stderr };
                    match def {
                        StdioDef::File { .. } if started => {
                            resolved_path(job, t, body, stdout).unwrap_or_default()
                        }
                        other => stdio_text(other),
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
                        (
                            "Workdir",
                            if started {
                                resolved_cwd(job, t, body)
                            } else {
                                p.cwd.clone()
                            },
                        ),
                        ("Stdout", stdio(true)),
                        ("Stderr", stdio(false)),
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

fn print_explain(out: &Out, e: &TaskExplanation) {
    if out.mode == OutputMode::Json {
        out.json(&serde_json::json!({
            "task": e.task, "deps_total": e.deps_total, "deps_unfinished": e.deps_unfinished,
            "workers": e.workers.iter().map(|w| serde_json::json!({"worker": w.worker, "runnable": w.runnable,
                "checks": w.checks.iter().map(|c| serde_json::json!({"variant": c.0, "type": c.1, "provides": c.2, "request": c.3, "ok": c.4})).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        }));
        return;
    }
    if out.mode == OutputMode::Quiet {
        return;
    }
    if e.deps_total == 0 {
        println!(
            "Task {} is ready to run because it has no dependencies.",
            e.task
        );
    } else if e.deps_unfinished == 0 {
        println!(
            "Task {} is ready to run because its all {} dependencies are finished.",
            e.task, e.deps_total
        );
    } else {
        println!(
            "Task {} is not ready to run, because {}/{} dependencies are not finished.",
            e.task, e.deps_unfinished, e.deps_total
        );
    }
    let runnable: Vec<String> = e
        .workers
        .iter()
        .filter(|w| w.runnable)
        .map(|w| w.worker.to_string())
        .collect();
    if runnable.is_empty() {
        println!("There is no worker where the task can run.");
    } else {
        println!(
            "The task can run on {} workers: {}",
            runnable.len(),
            runnable.join(",")
        );
    }
    let rows: Vec<Vec<String>> = e
        .workers
        .iter()
        .flat_map(|w| {
            w.checks.iter().map(move |c| {
                vec![
                    w.worker.to_string(),
                    if c.4 { "Yes" } else { "No" }.to_string(),
                    c.0.to_string(),
                    c.1.clone(),
                    c.2.clone(),
                    c.3.clone(),
                ]
            })
        })
        .collect();
    if !rows.is_empty() {
        print_horizontal(
            out,
            &[
                "Worker Id",
                "Runnable",
                "Variant",
                "Type",
                "Provides",
                "Request",
            ],
            rows,
        );
    }
}
