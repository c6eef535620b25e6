//! Printing jobs: `hq job list`, `summary`, `info`, `task-ids` in human, JSON and quiet forms.

use super::output::*;
use crate::common::duration::format_duration;
use crate::common::idset::IdSet;
use crate::common::placeholders::{self, TaskPaths, Values};
use crate::protocol::messages::*;
use std::time::Duration;

pub fn info_json(i: &JobInfo) -> serde_json::Value {
    serde_json::json!({
        "id": i.id, "name": i.name, "task_count": i.task_count, "is_open": i.is_open,
        "cancel_reason": i.cancel_reason,
        "task_stats": {"waiting": i.stats.waiting, "running": i.stats.running, "finished": i.stats.finished,
                        "failed": i.stats.failed, "canceled": i.stats.canceled, "aborted": i.stats.aborted},
    })
}

fn shorten(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= 50 {
        return name.to_string();
    }
    let head: String = chars[..24].iter().collect();
    let tail: String = chars[chars.len() - 23..].iter().collect();
    format!("{head}...{tail}")
}

pub fn print_job_list(
    out: &Out,
    jobs: &[JobInfo],
    all: bool,
    filter: Option<&[JobStatus]>,
    verbose: bool,
) {
    let shown: Vec<&JobInfo> = jobs
        .iter()
        .filter(|j| {
            let st = j.status();
            match filter {
                _ if all => true,
                Some(f) => f.contains(&st),
                None => {
                    matches!(
                        st,
                        JobStatus::Waiting | JobStatus::Running | JobStatus::Opened
                    ) || j.is_open
                }
            }
        })
        .collect();
    match out.mode {
        OutputMode::Json => out.json(&serde_json::Value::Array(
            shown.iter().map(|j| info_json(j)).collect(),
        )),
        OutputMode::Quiet => shown
            .iter()
            .for_each(|j| println!("{} {}", j.id, job_status_word(j.status()))),
        OutputMode::Cli => {
            let width = shown
                .iter()
                .map(|j| j.id.to_string().len())
                .max()
                .unwrap_or(1);
            let any_open = shown.iter().any(|j| j.is_open);
            let rows = shown
                .iter()
                .map(|j| {
                    let id = if j.is_open {
                        format!("*{}", j.id)
                    } else {
                        j.id.to_string()
                    };
                    let id = if any_open {
                        format!("{id:>w$}", w = width + 1)
                    } else {
                        id
                    };
                    let mut row = vec![
                        id,
                        shorten(&j.name),
                        out.job_status(j.status()),
                        j.task_count.to_string(),
                    ];
                    if verbose {
                        row.push(j.cancel_reason.clone().unwrap_or_default());
                    }
                    row
                })
                .collect();
            let mut header = vec!["ID", "Name", "State", "Tasks"];
            if verbose {
                header.push("Cancel Reason");
            }
            print_horizontal(out, &header, rows);
            if any_open {
                println!("* = Open jobs");
            }
            if shown.len() < jobs.len() {
                let total = match jobs.len() {
                    1 => "There is 1 job in total.".to_string(),
                    n => format!("There are {n} jobs in total."),
                };
                println!("{total} Use `--all` to display all jobs.");
            }
        }
    }
}

pub fn print_summary(out: &Out, jobs: &[JobInfo]) {
    let mut counts = [0u32; 7];
    for j in jobs {
        let idx = match j.status() {
            JobStatus::Running => 0,
            JobStatus::Waiting => 1,
            JobStatus::Finished => 2,
            JobStatus::Failed => 3,
            JobStatus::Aborted => 4,
            JobStatus::Canceled => 5,
            JobStatus::Opened => 6,
        };
        counts[idx] += 1;
    }
    let names = [
        "RUNNING", "WAITING", "FINISHED", "FAILED", "ABORTED", "CANCELED",
    ];
    match out.mode {
        OutputMode::Json => {
            let mut v = serde_json::json!({"Running": counts[0], "Waiting": counts[1], "Finished": counts[2],
                "Failed": counts[3], "Aborted": counts[4], "Canceled": counts[5]});
            if counts[6] > 0 {
                v["Opened"] = counts[6].into();
            }
            out.json(&v)
        }
        OutputMode::Quiet => names
            .iter()
            .zip(counts)
            .for_each(|(n, c)| println!("{n} {c}")),
        OutputMode::Cli => {
            let rows = names
                .iter()
                .zip(counts)
                .map(|(n, c)| vec![n.to_string(), c.to_string()])
                .collect();
            print_horizontal(out, &["Status", "Count"], rows);
        }
    }
}

/// Where an execution of a started task ran and wrote: the paths the server stored (resolved at
/// submit) with the execution's placeholders filled.
pub fn execution_paths(job: &JobDetail, t: &TaskDetail, body: &TaskBody) -> TaskPaths {
    let values = Values {
        job_id: Some(job.info.id),
        submit_dir: Some(&job.submit_dir),
        job_name: Some(&job.info.name),
        ..Values::default()
    }
    .with_execution(t.id, t.instance);
    placeholders::execution_paths(&body.program, &values)
}

pub fn stdio_text(def: &StdioDef) -> String {
    match def {
        StdioDef::Null => "<None>".into(),
        StdioDef::Stream => "<Stream>".into(),
        StdioDef::File { path, .. } => path.clone(),
    }
}

/// The `Resources` cell: one `name: request` line per resource, `nodes: N`, `[weight: W]`; the
/// time request is not shown here (as in the reference; JSON has it as `min_time`).
pub fn resources_text(r: &crate::resources::ResourceRequestVariants) -> String {
    let one = |v: &crate::resources::ResourceRequest| {
        let mut lines = crate::resources::fit::request_parts(v);
        if v.weight != crate::resources::ResourceAmount::ONE {
            lines.push(format!("[weight: {}]", v.weight));
        }
        lines.join("\n")
    };
    if r.variants.len() == 1 {
        one(&r.variants[0])
    } else {
        r.variants
            .iter()
            .enumerate()
            .map(|(i, v)| format!("# Variant {}\n{}", i + 1, one(v)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// User environment as `K=V` lines (`HQ_*` variables hidden).
pub fn env_text(p: &ProgramDesc) -> String {
    let lines: Vec<String> = p
        .env
        .iter()
        .filter(|(k, _)| !k.starts_with("HQ_"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    lines.join("\n")
}

pub fn pin_text(pin: PinMode) -> &'static str {
    match pin {
        PinMode::None => "none",
        PinMode::TaskSet => "taskset",
        PinMode::OpenMp => "omp",
    }
}

pub fn crash_limit_text(c: CrashLimit) -> String {
    match c {
        CrashLimit::Limit(n) => n.to_string(),
        CrashLimit::NeverRestart => "never-restart".into(),
        CrashLimit::Unlimited => "unlimited".into(),
    }
}

fn progress_cell(out: &Out, s: &TaskStats) -> String {
    let total = s.total().max(1);
    let filled = (s.completed() as u64 * 40 / total as u64) as usize;
    let mut lines = vec![format!(
        "[{}{}]",
        "#".repeat(filled),
        ".".repeat(40 - filled)
    )];
    for (n, st) in [
        (s.running, TaskStatus::Running),
        (s.failed, TaskStatus::Failed),
        (s.finished, TaskStatus::Finished),
        (s.canceled, TaskStatus::Canceled),
        (s.waiting, TaskStatus::Waiting),
        (s.aborted, TaskStatus::Aborted),
    ] {
        if n > 0 {
            lines.push(format!("{} ({n})", out.task_status(st)));
        }
    }
    lines.join("\n")
}

/// A task as JSON: `id` and `state`; once it has started, where and when it ran; `error` if it
/// failed. Counters of past executions appear once there were any.
pub fn task_json(job: &JobDetail, t: &TaskDetail) -> serde_json::Value {
    let body = &job.groups[t.group as usize].body;
    let mut v = serde_json::json!({"id": t.id, "state": task_status_word(t.status)});
    if let Some(started) = t.started_at {
        let paths = execution_paths(job, t, body);
        let path = |def: &StdioDef, path: Option<String>| match def {
            StdioDef::Null => serde_json::Value::Null,
            StdioDef::Stream => "<pipe>".into(),
            StdioDef::File { .. } => path.into(),
        };
        v["started_at"] = format_iso(started).into();
        v["cwd"] = paths.cwd.into();
        v["stdout"] = path(&body.program.stdout, paths.stdout);
        v["stderr"] = path(&body.program.stderr, paths.stderr);
        v["instance_id"] = t.instance.into();
    }
    if let Some(finished) = t.finished_at {
        v["finished_at"] = format_iso(finished).into();
    }
    if t.started_at.is_some() || t.crash_count > 0 || t.retries > 0 {
        v["crash_count"] = t.crash_count.into();
        v["retries"] = t.retries.into();
    }
    match t.workers.as_slice() {
        [] => {}
        [(w, _)] => v["worker"] = (*w).into(),
        many => v["workers"] = many.iter().map(|(w, _)| *w).collect::<Vec<_>>().into(),
    }
    if let Some(e) = &t.error {
        v["error"] = e.clone().into();
    }
    v
}

/// A submitted body as JSON; `max_retries` (an extension) only when it is used.
fn body_json(body: &TaskBody) -> serde_json::Value {
    let p = &body.program;
    let mut v = serde_json::json!({
        "program": {"args": p.args, "env": p.env.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                    "cwd": p.cwd, "stdout": stdio_text(&p.stdout), "stderr": stdio_text(&p.stderr)},
        "resources": body.resources.variants.iter().map(|v| serde_json::json!({
            "n_nodes": v.n_nodes, "min_time": v.min_time_secs as f64, "weight": v.weight.0,
            "resources": v.resources.iter().map(|e| serde_json::json!({"resource": e.resource, "request": request_json(&e.request)})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "pin_mode": match body.pin { PinMode::None => serde_json::Value::Null, PinMode::TaskSet => "taskset".into(), PinMode::OpenMp => "openmp".into() },
        "priority": body.priority,
        "time_limit": body.time_limit_ms.map(|t| t as f64 / 1000.0),
        "task_dir": body.task_dir,
        "crash_limit": match body.crash_limit { CrashLimit::Limit(n) => serde_json::Value::from(n), other => crash_limit_text(other).into() },
    });
    if body.max_retries > 0 {
        v["max_retries"] = body.max_retries.into();
    }
    v
}

fn request_json(r: &crate::resources::AllocationRequest) -> serde_json::Value {
    use crate::resources::AllocationRequest as A;
    match r {
        A::Compact(a) => serde_json::json!({"Compact": a.0}),
        A::ForceCompact(a) => serde_json::json!({"ForceCompact": a.0}),
        A::Tight(a) => serde_json::json!({"Tight": a.0}),
        A::ForceTight(a) => serde_json::json!({"ForceTight": a.0}),
        A::Scatter(a) => serde_json::json!({"Scatter": a.0}),
        A::All => "All".into(),
    }
}

pub fn job_detail_json(j: &JobDetail) -> serde_json::Value {
    serde_json::json!({
        "info": info_json(&j.info),
        "max_fails": j.max_fails,
        "started_at": format_iso(j.submitted_at),
        "finished_at": j.completed_at.map(format_iso),
        "submits": j.groups.iter().map(|g| if g.ids.len() == 1 && j.groups.len() > 1 {
            serde_json::json!({"graph": [body_json(&g.body)]})
        } else {
            serde_json::json!({"array": body_json(&g.body)})
        }).collect::<Vec<_>>(),
        "tasks": j.tasks.iter().map(|t| task_json(j, t)).collect::<Vec<_>>(),
    })
}

pub fn print_job_info(out: &Out, jobs: &[JobDetail]) {
    match out.mode {
        OutputMode::Json => out.json(&serde_json::Value::Array(
            jobs.iter().map(job_detail_json).collect(),
        )),
        OutputMode::Quiet => {}
        OutputMode::Cli => jobs.iter().for_each(|j| print_one_job(out, j)),
    }
}

fn print_one_job(out: &Out, j: &JobDetail) {
    let info = &j.info;
    let ids = IdSet::from_ids(j.tasks.iter().map(|t| t.id));
    let state = if info.task_count == 1 {
        out.job_status(info.status())
    } else {
        progress_cell(out, &info.stats)
    };
    // Workers that ran a task, by ID; comma-separated without spaces, as the reference prints.
    let hosts: std::collections::BTreeMap<WorkerId, &str> = j
        .tasks
        .iter()
        .flat_map(|t| t.workers.iter().map(|(w, h)| (*w, h.as_str())))
        .collect();
    let shown: Vec<&str> = hosts.values().take(2).copied().collect();
    let workers = match hosts.len() {
        0..=2 => shown.join(","),
        n => format!("{}, … ({n} total)", shown.join(",")),
    };
    let mut rows = vec![
        ("ID", info.id.to_string()),
        ("Name", info.name.clone()),
        ("State", state),
        (
            "Cancel Reason",
            info.cancel_reason.clone().unwrap_or_default(),
        ),
        (
            "Session",
            if info.is_open { "open" } else { "closed" }.to_string(),
        ),
        (
            "Tasks",
            if info.task_count > 1 {
                format!("{}; Ids: {ids}", info.task_count)
            } else {
                info.task_count.to_string()
            },
        ),
        ("Workers", workers),
    ];
    if let [g] = j.groups.as_slice() {
        let p = &g.body.program;
        rows.extend([
            ("Resources", resources_text(&g.body.resources)),
            ("Pin", pin_text(g.body.pin).to_string()),
            ("Priority", g.body.priority.to_string()),
            ("Command", p.args.join("\n")),
            ("Stdout", stdio_text(&p.stdout)),
            ("Stderr", stdio_text(&p.stderr)),
            ("Environment", env_text(p)),
            ("Working directory", p.cwd.clone()),
            (
                "Task time limit",
                g.body
                    .time_limit_ms
                    .map(|t| format_duration(Duration::from_millis(t)))
                    .unwrap_or_else(|| "None".into()),
            ),
            ("Crash limit", crash_limit_text(g.body.crash_limit)),
        ]);
    }
    let end = j.completed_at.unwrap_or_else(crate::server::now_ms);
    rows.extend([
        ("Submission date", format_utc(j.submitted_at)),
        ("Submission directory", j.submit_dir.clone()),
        (
            "Makespan",
            format_duration(Duration::from_millis(end.saturating_sub(j.submitted_at))),
        ),
    ]);
    print_vertical(out, rows);
    let failed: Vec<&TaskDetail> = j
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Failed)
        .collect();
    if !failed.is_empty() {
        let rows = failed
            .iter()
            .take(5)
            .map(|t| {
                let worker = t
                    .workers
                    .first()
                    .map(|(_, h)| h.clone())
                    .unwrap_or_default();
                vec![
                    t.id.to_string(),
                    worker,
                    t.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print_horizontal(out, &["Task ID", "Worker", "Error"], rows);
        if failed.len() > 5 {
            println!("{} tasks failed. (5 shown)", failed.len());
        } else {
            println!("{} tasks failed.", failed.len());
        }
    }
}

pub fn print_task_ids(out: &Out, jobs: &[JobDetail], states: Option<&[TaskStatus]>) {
    let sets: Vec<(JobId, IdSet)> = jobs
        .iter()
        .map(|j| {
            let ids = j
                .tasks
                .iter()
                .filter(|t| states.is_none_or(|s| s.contains(&t.status)))
                .map(|t| t.id);
            (j.info.id, IdSet::from_ids(ids))
        })
        .collect();
    match out.mode {
        OutputMode::Json => {
            let map: serde_json::Map<String, serde_json::Value> = sets
                .iter()
                .map(|(j, s)| (j.to_string(), s.iter().collect::<Vec<_>>().into()))
                .collect();
            out.json(&serde_json::Value::Object(map))
        }
        _ if sets.len() == 1 => println!("{}", sets[0].1),
        _ => sets.iter().for_each(|(j, s)| println!("{j}: {s}")),
    }
}
