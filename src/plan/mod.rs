//! The planner: turns [`Definitions`] into a validated submission — unique IDs, known
//! dependencies, no cycles (reported as the whole chain), symbolic step dependencies — plus the
//! summary `--dry-run` prints. Pure: no I/O.

pub mod defs;
pub mod error;
mod graph;
mod groups;
mod summary;

#[cfg(test)]
mod tests;

use crate::common::idset::IdSet;
use crate::protocol::messages::{GroupDeps, TaskGroup, TaskId};
use defs::Definitions;
use error::{did_you_mean, Diag, ErrorKind};
use std::collections::HashMap;
use std::ops::Range;

pub use summary::{PlanSummary, UnitSummary};

/// A job file ready to submit.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub name: String,
    pub max_fails: Option<u32>,
    pub stream: Option<String>,
    pub groups: Vec<TaskGroup>,
    pub summary: PlanSummary,
}

impl JobPlan {
    /// Number of tasks in all groups.
    pub fn task_count(&self) -> u64 {
        self.groups.iter().map(|g| g.ids.len()).sum()
    }

    /// The human-readable plan for `--dry-run`.
    pub fn render_dry_run(&self) -> String {
        summary::render(self)
    }
}

/// Where each definition's tasks landed.
pub(crate) struct Ids {
    /// ID of each `[[task]]`, in file order.
    pub tasks: Vec<TaskId>,
    /// First ID of each step (its tasks are contiguous).
    pub steps: Vec<TaskId>,
}

/// Plans the definitions.
pub fn build(defs: &Definitions) -> Result<JobPlan, Diag> {
    let steps: u64 = defs
        .steps
        .iter()
        .map(|s| s.sweep.count().unwrap_or(u64::MAX))
        .fold(0, u64::saturating_add);
    let arrays = defs.array.as_ref().map_or(0, |a| a.ids.len());
    if defs.tasks.is_empty() && arrays == 0 && steps == 0 {
        return Err(Diag::new(
            ErrorKind::Invalid,
            "Submitted job must have at least a single task",
        )
        .help("every step and array of this job expands to no task; check the axes' sources"));
    }
    let ids = assign_ids(defs)?;
    let graph = graph::build(defs, &ids)?;
    let mut groups = Vec::new();
    for (t, id) in defs.tasks.iter().zip(&ids.tasks) {
        groups.push(TaskGroup {
            ids: IdSet::from_range(*id, *id),
            entries: None,
            body: t.body.clone(),
            deps: GroupDeps {
                common: IdSet::from_ids(t.deps.iter().map(|(d, _)| *d)),
                offsets: vec![],
            },
        });
    }
    if let Some(a) = &defs.array {
        groups.push(TaskGroup {
            ids: a.ids.clone(),
            entries: a.entries.clone(),
            body: a.body.clone(),
            deps: GroupDeps::default(),
        });
    }
    for (i, step) in defs.steps.iter().enumerate() {
        groups.extend(groups::step_groups(
            defs,
            &ids,
            step,
            i,
            &graph.step_deps[i],
        ));
    }
    let summary = summary::summarize(defs, &ids, &groups, graph.depth);
    Ok(JobPlan {
        name: defs.name.clone(),
        max_fails: defs.max_fails,
        stream: defs.stream.clone(),
        groups,
        summary,
    })
}

/// Explicit IDs as written, automatic ones after the largest explicit ID (1 when none), steps
/// after every ID used before them.
fn assign_ids(defs: &Definitions) -> Result<Ids, Diag> {
    let mut first_def: HashMap<TaskId, Range<usize>> = HashMap::new();
    for t in &defs.tasks {
        if let Some((id, span)) = &t.id {
            if let Some(first) = first_def.get(id) {
                return Err(Diag::new(
                    ErrorKind::Duplicate,
                    format!("Task {id} is defined multiple times"),
                )
                .at(span.clone(), "defined again here")
                .also(first.clone(), "first defined here")
                .help("task IDs must be unique within a job; change or remove one `id`"));
            }
            first_def.insert(*id, span.clone());
        }
    }
    let max_explicit = first_def.keys().max().copied();
    let mut next: u64 = max_explicit.map_or(1, |m| m as u64 + 1);
    let mut tasks = Vec::with_capacity(defs.tasks.len());
    for t in &defs.tasks {
        match &t.id {
            Some((id, _)) => tasks.push(*id),
            None => {
                let id = TaskId::try_from(next).map_err(|_| {
                    Diag::new(ErrorKind::Invalid, "automatic task ID exceeds the largest task ID")
                        .at(t.span.clone(), "this task")
                        .help("automatic IDs continue after the largest explicit `id`; give this task an explicit `id`")
                })?;
                tasks.push(id);
                next += 1;
            }
        }
    }
    let mut taken: Vec<(u64, u64)> = tasks.iter().map(|t| (*t as u64, *t as u64)).collect();
    if let Some(a) = &defs.array {
        taken.extend(a.ids.ranges().iter().map(|(s, e)| (*s as u64, *e as u64)));
    }
    let mut steps = Vec::with_capacity(defs.steps.len());
    for s in &defs.steps {
        let count = s.sweep.count().unwrap_or(u64::MAX);
        let first = match &s.first_id {
            Some((f, _)) => *f as u64,
            None => taken.iter().map(|(_, e)| e + 1).max().unwrap_or(1),
        };
        let last = first + count.max(1) - 1;
        let at = s
            .first_id
            .as_ref()
            .map_or(s.name_span.clone(), |(_, sp)| sp.clone());
        if last > TaskId::MAX as u64 {
            return Err(Diag::new(
                ErrorKind::Invalid,
                format!(
                    "the IDs of step `{}` ({first}..) exceed the largest task ID",
                    s.name
                ),
            )
            .at(at, "too many IDs")
            .help("a job has at most 4294967296 task IDs"));
        }
        if count > 0 {
            if let Some((a, b)) = taken.iter().find(|(a, b)| *a <= last && first <= *b) {
                return Err(Diag::new(
                    ErrorKind::Duplicate,
                    format!(
                        "the IDs of step `{}` ({first}-{last}) overlap task IDs {a}-{b} used before",
                        s.name
                    ),
                )
                .at(at, "overlapping IDs")
                .help("choose a `first_id` after the IDs used by other tasks, or remove it"));
            }
            taken.push((first, last));
        }
        steps.push(first as TaskId);
    }
    Ok(Ids { tasks, steps })
}

/// "did you mean" among numeric IDs.
pub(crate) fn suggest_id(missing: TaskId, known: impl Iterator<Item = TaskId>) -> Option<String> {
    if missing < 10 {
        return None;
    }
    let names: Vec<String> = known.map(|k| k.to_string()).collect();
    did_you_mean(&missing.to_string(), names.iter().map(String::as_str))
}
