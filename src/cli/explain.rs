//! Printing `hq task explain`: the readiness line, the workers that could run the task, and a
//! table of every requirement per worker and variant; JSON in the reference's shape.

use super::output::*;
use crate::common::duration::format_duration;
use crate::common::idset::IdSet;
use crate::protocol::messages::*;
use std::time::Duration;

pub fn print_explain(out: &Out, e: &TaskExplanation) {
    match out.mode {
        OutputMode::Json => out.json(&explain_json(e)),
        OutputMode::Quiet => {}
        OutputMode::Cli => print_human(out, e),
    }
}

fn print_human(out: &Out, e: &TaskExplanation) {
    let task = format!("{}@{}", e.job, e.task);
    if e.deps_unfinished > 0 {
        println!(
            "Task {task} is not ready to run, because {}/{} dependencies are not finished.",
            e.deps_unfinished, e.deps_total
        );
    } else if e.deps_total == 0 {
        println!("Task {task} is ready to run because it has no dependencies.");
    } else {
        println!(
            "Task {task} is ready to run because its all {} dependencies are finished.",
            e.deps_total
        );
    }
    let runnable = IdSet::from_ids(
        e.workers
            .iter()
            .filter(|w| w.variants.iter().any(|v| v.runnable))
            .map(|w| w.worker),
    );
    match runnable.len() {
        0 => println!("There is no worker where the task can run."),
        1 => println!("The task can run on 1 worker: {runnable}"),
        n => println!("The task can run on {n} workers: {runnable}"),
    }
    let rows: Vec<Vec<String>> = e.workers.iter().flat_map(worker_rows).collect();
    if !rows.is_empty() {
        let header = [
            "Worker Id",
            "Runnable",
            "Variant",
            "Type",
            "Provides",
            "Request",
        ];
        print_horizontal(out, &header, rows);
    }
}

/// The rows of one worker: its ID and verdict on the first, the variant index on the first row
/// of each variant.
fn worker_rows(w: &WorkerExplanation) -> Vec<Vec<String>> {
    let ok = w.variants.iter().filter(|v| v.runnable).count();
    let verdict = if ok > 0 { "Yes" } else { "No" };
    let runnable = match w.variants.len() {
        1 => verdict.to_string(),
        n => format!("{verdict} ({ok}/{n})"),
    };
    let mut rows = Vec::new();
    for (index, v) in w.variants.iter().enumerate() {
        let checks: Vec<[String; 3]> = v.checks.iter().map(check_cells).collect();
        for (i, [kind, provides, request]) in checks.into_iter().enumerate() {
            let first_of_worker = rows.is_empty();
            rows.push(vec![
                if first_of_worker {
                    w.worker.to_string()
                } else {
                    String::new()
                },
                if first_of_worker {
                    runnable.clone()
                } else {
                    String::new()
                },
                if i == 0 {
                    index.to_string()
                } else {
                    String::new()
                },
                kind,
                provides,
                request,
            ]);
        }
    }
    rows
}

/// (type, provides, request) of one check.
fn check_cells(c: &ExplainCheck) -> [String; 3] {
    match c {
        ExplainCheck::Time {
            min_time_secs,
            remaining_ms,
            ..
        } => [
            "time".into(),
            remaining_ms
                .map(|ms| format_duration(Duration::from_secs(ms / 1000)))
                .unwrap_or_else(|| "unlimited".into()),
            format_duration(Duration::from_secs(*min_time_secs)),
        ],
        ExplainCheck::Resource {
            resource,
            request,
            provided,
            ..
        } => [
            resource.clone(),
            provided.to_string(),
            request
                .amount()
                .map(|a| a.to_string())
                .unwrap_or_else(|| "all".into()),
        ],
        ExplainCheck::Nodes {
            n_nodes,
            group_size,
            ..
        } => [
            "nodes".into(),
            format!("group size {group_size}"),
            n_nodes.to_string(),
        ],
    }
}

fn duration_json(ms: u64) -> serde_json::Value {
    serde_json::json!({"secs": ms / 1000, "nanos": (ms % 1000) * 1_000_000})
}

fn explain_json(e: &TaskExplanation) -> serde_json::Value {
    let check = |c: &ExplainCheck| match c {
        ExplainCheck::Time {
            min_time_secs,
            remaining_ms,
            ..
        } => serde_json::json!({"Time": {
            "min_time": duration_json(min_time_secs * 1000),
            "remaining_time": remaining_ms.map(duration_json),
        }}),
        ExplainCheck::Resource {
            resource,
            request,
            provided,
            ..
        } => serde_json::json!({"Resources": {
            "resource": resource,
            "request_amount": request.amount().unwrap_or(*provided).0,
            "worker_amount": provided.0,
        }}),
        ExplainCheck::Nodes {
            n_nodes,
            group_size,
            ..
        } => serde_json::json!({"WorkerGroup": {"n_nodes": n_nodes, "group_size": group_size}}),
    };
    let workers: Vec<serde_json::Value> = e
        .workers
        .iter()
        .map(|w| {
            let variants: Vec<Vec<serde_json::Value>> = w
                .variants
                .iter()
                .map(|v| v.checks.iter().map(check).collect())
                .collect();
            serde_json::json!({"worker_id": w.worker, "variants": variants})
        })
        .collect();
    serde_json::json!({
        "task_id": {"job_id": e.job, "job_task_id": e.task},
        "explanation": {
            "n_task_deps": e.deps_total,
            "n_waiting_deps": e.deps_unfinished,
            "workers": workers,
        },
    })
}
