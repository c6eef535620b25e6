//! What the planner takes: definitions with concrete bodies but unresolved IDs and dependencies,
//! each carrying the spans that errors point at. Built by `jobfile`, or by tests directly.

use crate::protocol::messages::{TaskBody, TaskId};
use std::ops::Range;

/// A whole job file after parsing, templates and axis expansion.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    pub name: String,
    pub max_fails: Option<u32>,
    pub stream: Option<String>,
    /// `[[task]]` entries in file order.
    pub tasks: Vec<TaskDef>,
    pub array: Option<ArrayDef>,
    /// `[[step]]` entries in file order.
    pub steps: Vec<StepDef>,
    /// Dependencies on IDs not defined in the file are left to the server (open jobs).
    pub allow_external_deps: bool,
}

/// One `[[task]]`.
#[derive(Debug, Clone)]
pub struct TaskDef {
    pub id: Option<(TaskId, Range<usize>)>,
    /// The whole `[[task]]` table.
    pub span: Range<usize>,
    pub deps: Vec<(TaskId, Range<usize>)>,
    pub body: TaskBody,
}

/// The `[array]`.
#[derive(Debug, Clone)]
pub struct ArrayDef {
    pub ids: crate::common::idset::IdSet,
    pub entries: Option<Vec<Vec<u8>>>,
    pub span: Range<usize>,
    pub body: TaskBody,
}

/// How a step combines its axes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// (axis name, number of values), in the order written.
    pub axes: Vec<(String, u64)>,
    /// `zip` (element by element) instead of `product`.
    pub zip: bool,
}

impl Sweep {
    /// A step without axes: one task.
    pub fn single() -> Self {
        Sweep {
            axes: vec![],
            zip: false,
        }
    }

    /// Number of tasks; None when it does not fit in u64.
    pub fn count(&self) -> Option<u64> {
        if self.axes.is_empty() {
            return Some(1);
        }
        if self.zip {
            return Some(self.axes[0].1);
        }
        self.axes
            .iter()
            .try_fold(1u64, |acc, (_, n)| acc.checked_mul(*n))
    }

    /// The value index of axis `axis` (position in `axes`) in task number `k` of the step.
    /// Product order: the last axis varies fastest.
    pub fn value_index(&self, k: u64, axis: usize) -> u64 {
        if self.zip {
            return k;
        }
        let stride: u64 = self.axes[axis + 1..].iter().map(|(_, n)| *n).product();
        (k / stride) % self.axes[axis].1
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.axes.iter().position(|(n, _)| n == name)
    }

    /// `product(model[3] x seed[10])` for the dry run.
    pub fn describe(&self) -> String {
        if self.axes.is_empty() {
            return "single task".into();
        }
        let parts: Vec<String> = self.axes.iter().map(|(n, c)| format!("{n}[{c}]")).collect();
        if self.zip {
            format!("zip({})", parts.join(", "))
        } else {
            format!("product({})", parts.join(" x "))
        }
    }
}

/// A dependency of a step on another step.
#[derive(Debug, Clone)]
pub struct StepDep {
    pub step: String,
    pub span: Range<usize>,
    /// Fan-in: every task of `step`, whatever the parameter values.
    pub all: bool,
}

/// One `[[step]]`, expanded.
#[derive(Debug, Clone)]
pub struct StepDef {
    pub name: String,
    pub name_span: Range<usize>,
    pub first_id: Option<(TaskId, Range<usize>)>,
    pub sweep: Sweep,
    pub deps: Vec<StepDep>,
    /// Run-length encoded bodies of the step's tasks in sweep order (counts sum to the count).
    pub bodies: Vec<(u64, TaskBody)>,
    /// `HQ_ENTRY` of each task (the parameter values as JSON), when the step sweeps axes.
    pub entries: Option<Vec<Vec<u8>>>,
}
