//! Task groups of a step with symbolic dependencies. A dependency on another step matches tasks
//! with equal values on the axes both steps sweep: a single match becomes an ID offset, several
//! a common ID set. Consecutive tasks with the same body and the same symbolic dependencies form
//! one group, so element-wise and fan-in dependencies of a million tasks stay a few groups.

use super::defs::{Definitions, StepDef, Sweep};
use super::graph::ResolvedDep;
use super::Ids;
use crate::common::idset::IdSet;
use crate::protocol::messages::{GroupDeps, TaskGroup, TaskId};
use std::collections::HashMap;

/// How one task of a step depends on one of the step's dependencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DepRef {
    /// No task of the dependency has matching values.
    Nothing,
    /// Exactly one task: `own id + offset`.
    Offset(i64),
    /// Several tasks: an index into the dependency's sets.
    Set(usize),
}

/// The matching tasks of one dependency, per combination of shared values.
struct DepIndex {
    /// (axis position in the dependent step, axis position in the dependency, axis length).
    shared: Vec<(usize, usize, u64)>,
    /// Sets of dependency IDs (single IDs are stored as offsets instead).
    sets: Vec<IdSet>,
    /// Shared-value key -> matching dependency IDs.
    by_key: HashMap<u128, Matches>,
    /// Used when nothing is shared or the dependency is fan-in.
    all: Option<usize>,
}

enum Matches {
    One(TaskId),
    Many(usize),
}

fn key(sweep: &Sweep, k: u64, positions: impl Iterator<Item = (usize, u64)>) -> u128 {
    positions.fold(0u128, |acc, (pos, len)| {
        acc.wrapping_mul(len as u128)
            .wrapping_add(sweep.value_index(k, pos) as u128)
    })
}

fn index(step: &StepDef, dep: &StepDef, dep_first: TaskId, all: bool) -> DepIndex {
    let shared: Vec<(usize, usize, u64)> = if all {
        vec![]
    } else {
        step.sweep
            .axes
            .iter()
            .enumerate()
            .filter_map(|(i, (name, len))| dep.sweep.position(name).map(|j| (i, j, *len)))
            .collect()
    };
    let count = dep.sweep.count().unwrap_or(0);
    if shared.is_empty() {
        let set = IdSet::from_range(dep_first, (dep_first as u64 + count.max(1) - 1) as TaskId);
        return DepIndex {
            shared,
            sets: vec![set],
            by_key: HashMap::new(),
            all: Some(0),
        };
    }
    let mut grouped: HashMap<u128, Vec<TaskId>> = HashMap::new();
    for j in 0..count {
        let k = key(
            &dep.sweep,
            j,
            shared.iter().map(|(_, pos, len)| (*pos, *len)),
        );
        grouped.entry(k).or_default().push(dep_first + j as TaskId);
    }
    let mut sets = Vec::new();
    let by_key = grouped
        .into_iter()
        .map(|(k, ids)| {
            if ids.len() == 1 {
                (k, Matches::One(ids[0]))
            } else {
                sets.push(IdSet::from_ids(ids));
                (k, Matches::Many(sets.len() - 1))
            }
        })
        .collect();
    DepIndex {
        shared,
        sets,
        by_key,
        all: None,
    }
}

impl DepIndex {
    fn lookup(&self, sweep: &Sweep, k: u64, id: TaskId) -> DepRef {
        if let Some(all) = self.all {
            return DepRef::Set(all);
        }
        let key = key(
            sweep,
            k,
            self.shared.iter().map(|(pos, _, len)| (*pos, *len)),
        );
        match self.by_key.get(&key) {
            None => DepRef::Nothing,
            Some(Matches::One(d)) => DepRef::Offset(*d as i64 - id as i64),
            Some(Matches::Many(s)) => DepRef::Set(*s),
        }
    }
}

/// The groups of step number `i`.
pub(super) fn step_groups(
    defs: &Definitions,
    ids: &Ids,
    step: &StepDef,
    i: usize,
    deps: &[ResolvedDep],
) -> Vec<TaskGroup> {
    let first = ids.steps[i];
    let indexes: Vec<DepIndex> = deps
        .iter()
        .map(|d| index(step, &defs.steps[d.step], ids.steps[d.step], d.all))
        .collect();
    let mut groups = Vec::new();
    let mut k: u64 = 0;
    for (run, body) in &step.bodies {
        let end = k + run;
        let mut start = k;
        let mut current: Vec<DepRef> = Vec::new();
        let mut next: Vec<DepRef> = Vec::with_capacity(indexes.len());
        while k < end {
            let id = first + k as TaskId;
            next.clear();
            next.extend(indexes.iter().map(|x| x.lookup(&step.sweep, k, id)));
            if k > start && next != current {
                groups.push(group(step, first, start, k, body, &current, &indexes));
                start = k;
            }
            std::mem::swap(&mut current, &mut next);
            k += 1;
        }
        if end > start {
            groups.push(group(step, first, start, end, body, &current, &indexes));
        }
    }
    groups
}

fn group(
    step: &StepDef,
    first: TaskId,
    start: u64,
    end: u64,
    body: &crate::protocol::messages::TaskBody,
    refs: &[DepRef],
    indexes: &[DepIndex],
) -> TaskGroup {
    let mut offsets = Vec::new();
    let mut sets: Vec<&IdSet> = Vec::new();
    for (r, x) in refs.iter().zip(indexes) {
        match r {
            DepRef::Nothing => {}
            DepRef::Offset(o) => {
                if !offsets.contains(o) {
                    offsets.push(*o)
                }
            }
            DepRef::Set(s) => sets.push(&x.sets[*s]),
        }
    }
    let common = match sets.as_slice() {
        [] => IdSet::new(),
        [one] => (*one).clone(),
        many => IdSet::from_ids(many.iter().flat_map(|s| s.iter())),
    };
    TaskGroup {
        ids: IdSet::from_range(first + start as TaskId, first + (end - 1) as TaskId),
        entries: step
            .entries
            .as_ref()
            .map(|e| e[start as usize..end as usize].to_vec()),
        body: {
            let mut body = body.clone();
            if let Some(t) = &mut body.template {
                t.first_id = first;
            }
            body
        },
        deps: GroupDeps { common, offsets },
    }
}
