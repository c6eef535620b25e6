//! What `--dry-run` prints: per step (or the `[[task]]` list, or the `[array]`) its task count
//! and IDs, sweep, dependencies, resource requests and the first rendered commands.

use super::defs::Definitions;
use super::{Ids, JobPlan};
use crate::common::idset::IdSet;
use crate::protocol::messages::{TaskBody, TaskGroup};
use crate::resources::{ResourceAmount, ResourceRequest, ResourceRequestVariants};
use std::fmt::Write;

/// How many commands the dry run shows per step.
const SHOWN_COMMANDS: usize = 3;
/// How many `[[task]]` tasks the dry run lists one by one.
const SHOWN_TASKS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSummary {
    pub units: Vec<UnitSummary>,
    pub task_count: u64,
    pub group_count: usize,
    /// Tasks on the longest dependency chain.
    pub dag_depth: u64,
}

/// One `[[step]]`, the `[array]`, or all `[[task]]`s together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSummary {
    pub title: String,
    pub ids: IdSet,
    pub task_count: u64,
    /// `product(model[3] x seed[10])`.
    pub sweep: Option<String>,
    pub deps: Vec<String>,
    /// Distinct resource requests (variants joined with ` | `).
    pub requests: Vec<String>,
    /// `ID: command` lines.
    pub commands: Vec<String>,
    /// Tasks not shown in `commands`.
    pub more: u64,
}

pub(super) fn summarize(
    defs: &Definitions,
    ids: &Ids,
    groups: &[TaskGroup],
    depth: u64,
) -> PlanSummary {
    let mut units = Vec::new();
    if !defs.tasks.is_empty() {
        let mut commands = Vec::new();
        for (t, id) in defs.tasks.iter().zip(&ids.tasks).take(SHOWN_TASKS) {
            let mut line = format!("{id}: {}", command_line(&t.body));
            if !t.deps.is_empty() {
                let deps = IdSet::from_ids(t.deps.iter().map(|(d, _)| *d));
                let _ = write!(line, "    (deps: {deps})");
            }
            commands.push(line);
        }
        units.push(UnitSummary {
            title: "[[task]]".into(),
            ids: IdSet::from_ids(ids.tasks.iter().copied()),
            task_count: defs.tasks.len() as u64,
            sweep: None,
            deps: vec![],
            requests: distinct_requests(defs.tasks.iter().map(|t| &t.body)),
            commands,
            more: defs.tasks.len().saturating_sub(SHOWN_TASKS) as u64,
        });
    }
    if let Some(a) = &defs.array {
        let entries = a
            .entries
            .as_ref()
            .map_or(String::new(), |e| format!(", {} entries", e.len()));
        units.push(UnitSummary {
            title: "[array]".into(),
            ids: a.ids.clone(),
            task_count: a.ids.len(),
            sweep: Some(format!("ids {}{entries}", a.ids)),
            deps: vec![],
            requests: distinct_requests([&a.body]),
            commands: vec![format!("{}: {}", a.ids, command_line(&a.body))],
            more: 0,
        });
    }
    for (i, s) in defs.steps.iter().enumerate() {
        let count = s.sweep.count().unwrap_or(0);
        let first = ids.steps[i];
        let step_ids = if count == 0 {
            IdSet::new()
        } else {
            IdSet::from_range(first, first + (count - 1) as u32)
        };
        let mut commands = Vec::new();
        for g in groups.iter().filter(|g| {
            step_ids.min().is_some_and(|m| g.ids.min() >= Some(m)) && g.ids.max() <= step_ids.max()
        }) {
            for id in g
                .ids
                .iter()
                .take(SHOWN_COMMANDS - commands.len().min(SHOWN_COMMANDS))
            {
                commands.push(format!("{id}: {}", task_command_line(g, id)));
            }
            if commands.len() >= SHOWN_COMMANDS {
                break;
            }
        }
        units.push(UnitSummary {
            title: format!("step `{}`", s.name),
            ids: step_ids,
            task_count: count,
            sweep: Some(s.sweep.describe()),
            deps: s
                .deps
                .iter()
                .map(|d| {
                    let how = if d.all {
                        "all tasks"
                    } else {
                        "matching parameters"
                    };
                    format!("{} ({how})", d.step)
                })
                .collect(),
            requests: distinct_requests(s.bodies.iter().map(|(_, b)| b)),
            more: count.saturating_sub(commands.len() as u64),
            commands,
        });
    }
    PlanSummary {
        task_count: groups.iter().map(|g| g.ids.len()).sum(),
        group_count: groups.len(),
        dag_depth: depth,
        units,
    }
}

pub(super) fn render(plan: &JobPlan) -> String {
    let s = &plan.summary;
    let mut out = String::new();
    let name = if plan.name.is_empty() {
        "(no name)".to_string()
    } else {
        format!("`{}`", plan.name)
    };
    let _ = writeln!(
        out,
        "Job {name}: {} tasks in {} groups, DAG depth {}",
        s.task_count, s.group_count, s.dag_depth
    );
    let max_fails = plan
        .max_fails
        .map_or("unlimited".to_string(), |m| m.to_string());
    let stream = plan.stream.as_deref().unwrap_or("none");
    let _ = writeln!(out, "  max_fails: {max_fails}, stream: {stream}");
    for u in &s.units {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}: {} tasks, IDs {}", u.title, u.task_count, u.ids);
        if let Some(sweep) = &u.sweep {
            let _ = writeln!(out, "  sweep: {sweep}");
        }
        if !u.deps.is_empty() {
            let _ = writeln!(out, "  deps: {}", u.deps.join(", "));
        }
        for r in &u.requests {
            let _ = writeln!(out, "  resources: {r}");
        }
        let _ = writeln!(out, "  commands:");
        for c in &u.commands {
            let _ = writeln!(out, "    {c}");
        }
        if u.more > 0 {
            let _ = writeln!(out, "    ... {} more", u.more);
        }
    }
    out
}

fn distinct_requests<'a>(bodies: impl IntoIterator<Item = &'a TaskBody>) -> Vec<String> {
    let mut seen: Vec<&ResourceRequestVariants> = Vec::new();
    for b in bodies {
        if !seen.contains(&&b.resources) {
            seen.push(&b.resources);
        }
    }
    seen.into_iter().map(describe_variants).collect()
}

fn describe_variants(v: &ResourceRequestVariants) -> String {
    v.variants
        .iter()
        .map(describe_request)
        .collect::<Vec<_>>()
        .join(" | ")
}

fn describe_request(r: &ResourceRequest) -> String {
    let mut parts: Vec<String> = r
        .resources
        .iter()
        .map(|e| format!("{}={}", e.resource, e.request))
        .collect();
    if r.n_nodes > 0 {
        parts.push(format!("nodes={}", r.n_nodes));
    }
    if r.min_time_secs > 0 {
        let t = humantime::format_duration(std::time::Duration::from_secs(r.min_time_secs));
        parts.push(format!("time_request={t}"));
    }
    if r.weight != ResourceAmount::ONE {
        parts.push(format!("weight={}", r.weight));
    }
    parts.join(", ")
}

/// The command of task `id` of a group, rendered if the body is a per-task template.
fn task_command_line(
    g: &crate::protocol::messages::TaskGroup,
    id: crate::protocol::messages::TaskId,
) -> String {
    let Some(tpl) = &g.body.template else {
        return command_line(&g.body);
    };
    let entry = g
        .ids
        .iter()
        .position(|x| x == id)
        .and_then(|k| g.entries.as_ref()?.get(k));
    match crate::common::template::render_program(
        &g.body.program,
        tpl,
        id,
        entry.map(|e| e.as_slice()),
    ) {
        Ok(program) => command_line(&TaskBody {
            program,
            ..g.body.clone()
        }),
        Err(e) => format!("<{e}>"),
    }
}

/// The command as a shell would need it written: arguments with spaces or quotes are quoted.
pub fn command_line(body: &TaskBody) -> String {
    body.program
        .args
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,%+@".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}
