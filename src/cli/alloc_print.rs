//! Output of `hq alloc list` and `hq alloc info` in human, JSON and quiet form.

use super::output::{
    format_iso, format_local, format_utc, print_horizontal, print_vertical, Out, OutputMode,
};
use crate::autoalloc::info::{AllocationInfo, QueueInfo, QueueState};
use crate::autoalloc::params::secs;
use crate::autoalloc::state::DecisionInfo;
use crate::autoalloc::{AllocStatus, AllocationEnd, SubmitFailure};
use serde_json::{json, Value};

fn state_word(q: &QueueInfo) -> &'static str {
    match q.state {
        QueueState::Active => "ACTIVE",
        QueueState::Paused { .. } => "PAUSED",
    }
}

pub fn status_word(s: AllocStatus) -> &'static str {
    match s {
        AllocStatus::Queued => "QUEUED",
        AllocStatus::Running => "RUNNING",
        AllocStatus::Finished => "FINISHED",
        AllocStatus::Failed => "FAILED",
    }
}

fn resources_text(q: &QueueInfo) -> String {
    match &q.known_resources {
        Some(r) => r.summary(),
        None => "<unknown>".into(),
    }
}

/// Why a queue does not submit, for the lines under `hq alloc list`.
fn attention(q: &QueueInfo) -> Option<String> {
    let mut text = match &q.state {
        QueueState::Paused { reason: Some(r) } => format!("Queue {} is {r}", q.id),
        QueueState::Paused { reason: None } => format!("Queue {} was paused by the user", q.id),
        QueueState::Active if q.last_failure.is_some() => {
            format!("Queue {}: the last submission failed", q.id)
        }
        QueueState::Active => return None,
    };
    if let Some(f) = &q.last_failure {
        text.push('\n');
        text.push_str(&indent(&f.describe()));
    }
    Some(text)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn print_queues(out: &Out, queues: &[QueueInfo]) {
    match out.mode {
        OutputMode::Json => out.json(&Value::Array(queues.iter().map(queue_json).collect())),
        OutputMode::Quiet => queues
            .iter()
            .for_each(|q| println!("{} {}", q.id, state_word(q))),
        OutputMode::Cli => {
            let rows = queues
                .iter()
                .map(|q| {
                    let p = &q.params;
                    vec![
                        q.id.to_string(),
                        state_word(q).to_string(),
                        p.backlog.to_string(),
                        p.max_workers_per_alloc.to_string(),
                        p.max_worker_count.unwrap_or(0).to_string(),
                        secs(p.time_limit_secs),
                        p.manager.display_name().to_string(),
                        resources_text(q),
                        p.name.clone().unwrap_or_default(),
                        p.additional_args.join(","),
                    ]
                })
                .collect();
            let header = [
                "ID",
                "State",
                "Backlog size",
                "Max workers per alloc",
                "Max worker count",
                "Timelimit",
                "Manager",
                "Worker resources",
                "Name",
                "Args",
            ];
            print_horizontal(out, &header, rows);
            // On stderr, so stdout stays one table for scripts that parse it.
            for text in queues.iter().filter_map(attention) {
                eprintln!("{text}");
            }
        }
    }
}

fn failure_json(f: &SubmitFailure) -> Value {
    json!({"command": f.command, "message": f.message, "exit_code": f.exit_code,
           "stdout": f.stdout, "stderr": f.stderr, "script": f.script})
}

fn decision_json(d: &DecisionInfo) -> Value {
    let unrunnable: Vec<Value> = d
        .unrunnable
        .iter()
        .map(|(n, r)| json!({"tasks": n, "reason": r}))
        .collect();
    json!({"time": format_iso(d.at), "action": d.action, "reason": d.reason, "unrunnable": unrunnable})
}

/// A queue as `hq alloc list` prints it: the original's fields plus what survives a restart
/// unchanged (what changes with time is in `hq alloc explain`).
fn queue_json(q: &QueueInfo) -> Value {
    let p = &q.params;
    let count = |s: AllocStatus| q.allocations.iter().filter(|a| a.status == s).count();
    json!({
        "id": q.id,
        "name": p.name,
        "state": state_name(q),
        "manager": p.manager.display_name(),
        "additional_args": p.additional_args,
        "backlog": p.backlog,
        "max_workers_per_alloc": p.max_workers_per_alloc,
        "timelimit": p.time_limit_secs as f64,
        "max_worker_count": p.max_worker_count,
        "worker_args": q.worker_args,
        "known_worker_resources": q.known_resources.as_ref().map(|r| json!({"resources": r.resources, "coupling": {"weights": []}})),
        "pause_reason": pause_reason(q),
        "last_submission_error": q.last_failure.as_ref().map(failure_json),
        "rate_limited_until": q.rate_limited_until.map(format_iso),
        "failures_in_a_row": {"submissions": q.submission_fails, "allocations": q.allocation_fails},
        "allocations": {"queued": count(AllocStatus::Queued), "running": count(AllocStatus::Running)},
    })
}

fn allocation_json(a: &AllocationInfo) -> Value {
    let reason = match &a.end {
        Some(AllocationEnd::Failed { reason, .. } | AllocationEnd::Cancelled { reason }) => {
            Some(reason.clone())
        }
        _ => None,
    };
    json!({
        "id": a.id,
        "target_worker_count": a.target_worker_count,
        "connected_workers": a.connected_workers,
        "queued_at": format_iso(a.queued_at),
        "started_at": a.started_at.map(format_iso),
        "ended_at": a.ended_at.map(format_iso),
        "status": status_word(a.status),
        "workdir": a.workdir,
        "end_reason": reason,
    })
}

/// `hq alloc info`: the allocations (JSON: an array of them, as the original prints); in human
/// mode a short account of the queue's last decision follows on stderr.
pub fn print_allocations(out: &Out, q: &QueueInfo, filter: Option<AllocStatus>) {
    let allocations: Vec<&AllocationInfo> = q
        .allocations
        .iter()
        .filter(|a| filter.is_none_or(|f| a.status == f))
        .collect();
    match out.mode {
        OutputMode::Json => out.json(&Value::Array(
            allocations.iter().map(|a| allocation_json(a)).collect(),
        )),
        OutputMode::Quiet => allocations
            .iter()
            .for_each(|a| println!("{} {}", a.id, status_word(a.status))),
        OutputMode::Cli => {
            let opt = |t: Option<u64>| t.map(format_local).unwrap_or_default();
            let rows = allocations
                .iter()
                .map(|a| {
                    vec![
                        a.id.clone(),
                        status_word(a.status).to_string(),
                        a.workdir.clone(),
                        a.target_worker_count.to_string(),
                        format_local(a.queued_at),
                        opt(a.started_at),
                        opt(a.ended_at),
                    ]
                })
                .collect();
            let header = [
                "ID",
                "State",
                "Working directory",
                "Worker count",
                "Queue time",
                "Start time",
                "Finish time",
            ];
            print_horizontal(out, &header, rows);
            eprint_decision(q);
        }
    }
}

/// The queue's last decision in a few lines on stderr (stdout stays one table).
fn eprint_decision(q: &QueueInfo) {
    let Some(d) = &q.last_decision else { return };
    eprintln!("Queue {}: {} ({})", q.id, d.action, format_utc(d.at));
    eprintln!("  why: {}", d.reason);
    for (n, r) in &d.unrunnable {
        eprintln!("  {n} task(s) no worker of this queue could run: {r}");
    }
    if let Some(f) = &q.last_failure {
        eprintln!("  last submission error: {}", f.message);
    }
    eprintln!("  details: hq alloc explain {}", q.id);
}

/// `hq alloc explain QUEUE`: the last decision and why, failures and manager commands.
pub fn print_explain(out: &Out, q: &QueueInfo) {
    match out.mode {
        OutputMode::Json => out.json(&explain_json(q)),
        OutputMode::Quiet => {}
        OutputMode::Cli => print_decision(out, q),
    }
}

fn explain_json(q: &QueueInfo) -> Value {
    json!({
        "id": q.id,
        "state": state_name(q),
        "pause_reason": pause_reason(q),
        "last_decision": q.last_decision.as_ref().map(decision_json),
        "last_submission_error": q.last_failure.as_ref().map(failure_json),
        "rate_limited_until": q.rate_limited_until.map(format_iso),
        "failures_in_a_row": {"submissions": q.submission_fails, "allocations": q.allocation_fails},
        "manager_commands": {"submit": q.commands.submit, "status": q.commands.status,
                             "cancel": q.commands.cancel, "total": q.commands.total()},
    })
}

fn state_name(q: &QueueInfo) -> &'static str {
    match q.state {
        QueueState::Active => "Active",
        QueueState::Paused { .. } => "Paused",
    }
}

fn pause_reason(q: &QueueInfo) -> Value {
    match &q.state {
        QueueState::Paused { reason } => {
            json!(reason
                .clone()
                .unwrap_or_else(|| "paused by the user".into()))
        }
        QueueState::Active => Value::Null,
    }
}

fn print_decision(out: &Out, q: &QueueInfo) {
    let mut rows = vec![("Queue state", state_word(q).to_string())];
    if let QueueState::Paused { reason } = &q.state {
        let why = reason
            .clone()
            .unwrap_or_else(|| "paused by the user".into());
        rows.push(("Paused", why));
    }
    match &q.last_decision {
        Some(d) => {
            rows.push((
                "Last decision",
                format!("{} ({})", d.action, format_utc(d.at)),
            ));
            rows.push(("Reason", d.reason.clone()));
            if !d.unrunnable.is_empty() {
                let lines: Vec<String> = d
                    .unrunnable
                    .iter()
                    .map(|(n, r)| format!("{n} task(s): {r}"))
                    .collect();
                rows.push(("Tasks no worker of this queue could run", lines.join("\n")));
            }
        }
        None => rows.push(("Last decision", "none yet".into())),
    }
    if let Some(until) = q.rate_limited_until {
        rows.push(("Rate-limited until", format_utc(until)));
    }
    if let Some(f) = &q.last_failure {
        rows.push(("Last submission error", f.describe()));
    }
    let c = q.commands;
    rows.push((
        "Manager commands",
        format!(
            "{} (submit {}, status {}, cancel {})",
            c.total(),
            c.submit,
            c.status,
            c.cancel
        ),
    ));
    println!();
    print_vertical(out, rows);
}
