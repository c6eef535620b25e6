//! The dependency graph (petgraph): one node per `[[task]]`, the `[array]` and each step. Checks
//! that dependencies exist, reports a cycle as its whole chain, and measures the DAG depth.

use super::defs::Definitions;
use super::error::{did_you_mean, Diag, ErrorKind};
use super::{suggest_id, Ids};
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;
use std::ops::Range;

/// A step dependency with the step resolved to its index.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedDep {
    pub step: usize,
    pub all: bool,
}

pub struct Graph {
    /// Longest chain of dependent tasks (1 for independent tasks).
    pub depth: u64,
    pub step_deps: Vec<Vec<ResolvedDep>>,
}

/// How a node is named in a cycle chain.
enum Node {
    Task(u32),
    Array,
    Step(String),
}

impl Node {
    fn name(&self) -> String {
        match self {
            Node::Task(id) => id.to_string(),
            Node::Array => "array".into(),
            Node::Step(s) => s.clone(),
        }
    }
}

pub fn build(defs: &Definitions, ids: &Ids) -> Result<Graph, Diag> {
    // Edges point from a dependent to what it depends on; weights are the spans of the deps.
    let mut g: DiGraph<Node, Range<usize>> = DiGraph::new();
    let task_nodes: Vec<NodeIndex> = ids
        .tasks
        .iter()
        .map(|id| g.add_node(Node::Task(*id)))
        .collect();
    let array_node = defs.array.as_ref().map(|_| g.add_node(Node::Array));
    let step_nodes: Vec<NodeIndex> = defs
        .steps
        .iter()
        .map(|s| g.add_node(Node::Step(s.name.clone())))
        .collect();
    let by_id: HashMap<u32, NodeIndex> = ids
        .tasks
        .iter()
        .copied()
        .zip(task_nodes.iter().copied())
        .collect();
    let step_range = |id: u32| {
        defs.steps.iter().enumerate().position(|(i, s)| {
            let first = ids.steps[i] as u64;
            let count = s.sweep.count().unwrap_or(0);
            (first..first + count).contains(&(id as u64))
        })
    };
    for (i, t) in defs.tasks.iter().enumerate() {
        for (dep, span) in &t.deps {
            let target = by_id
                .get(dep)
                .copied()
                .or_else(|| {
                    array_node.filter(|_| defs.array.as_ref().is_some_and(|a| a.ids.contains(*dep)))
                })
                .or_else(|| step_range(*dep).map(|s| step_nodes[s]));
            match target {
                Some(node) => {
                    g.add_edge(task_nodes[i], node, span.clone());
                }
                None if defs.allow_external_deps => {}
                None => {
                    let id = ids.tasks[i];
                    return Err(Diag::new(
                        ErrorKind::UnknownDependency,
                        format!("Task {id} has an invalid dependency on {dep}: no task {dep} is defined in this file"),
                    )
                    .at(span.clone(), "unknown task")
                    .maybe_help(suggest_id(*dep, ids.tasks.iter().copied()).or_else(|| {
                        Some("dependencies name the `id` of another `[[task]]` in this file, or, with `hq job submit-file --job ID`, of a task already in that open job".into())
                    })));
                }
            }
        }
    }
    let by_name: HashMap<&str, usize> = defs
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut step_deps = Vec::with_capacity(defs.steps.len());
    for (i, s) in defs.steps.iter().enumerate() {
        let mut resolved = Vec::new();
        for dep in &s.deps {
            let Some(&target) = by_name.get(dep.step.as_str()) else {
                return Err(Diag::new(
                    ErrorKind::UnknownDependency,
                    format!("step `{}` depends on unknown step `{}`", s.name, dep.step),
                )
                .at(dep.span.clone(), "no step has this name")
                .maybe_help(
                    did_you_mean(&dep.step, by_name.keys().copied()).or_else(|| {
                        Some(format!(
                            "known steps: {}",
                            defs.steps
                                .iter()
                                .map(|s| s.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    }),
                ));
            };
            g.add_edge(step_nodes[i], step_nodes[target], dep.span.clone());
            resolved.push(ResolvedDep {
                step: target,
                all: dep.all,
            });
        }
        step_deps.push(resolved);
    }
    check_cycles(&g)?;
    Ok(Graph {
        depth: depth(&g),
        step_deps,
    })
}

/// Reports the first cycle (in file order) as `a -> b -> c -> a`, pointing at the dependency
/// that leaves its first node.
fn check_cycles(g: &DiGraph<Node, Range<usize>>) -> Result<(), Diag> {
    let mut cyclic: Vec<Vec<NodeIndex>> = tarjan_scc(g)
        .into_iter()
        .filter(|scc| scc.len() > 1 || g.contains_edge(scc[0], scc[0]))
        .collect();
    for scc in &mut cyclic {
        scc.sort();
    }
    cyclic.sort();
    let Some(scc) = cyclic.first() else {
        return Ok(());
    };
    let start = scc[0];
    let chain = cycle_from(g, start, scc);
    let names: Vec<String> = chain.iter().map(|n| g[*n].name()).collect();
    let edge = g
        .find_edge(chain[0], chain[1])
        .expect("internal error: cycle edge missing");
    let what = match &g[start] {
        Node::Task(id) => format!("Task {id}"),
        Node::Array => "The array".into(),
        Node::Step(s) => format!("Step `{s}`"),
    };
    let mut d = Diag::new(
        ErrorKind::Cycle,
        format!("{what} is part of dependency cycle: {}", names.join(" -> ")),
    )
    .at(
        g[edge].clone(),
        format!("{} depends on {}", names[0], names[1]),
    )
    .help("each item depends on the next; remove one of these dependencies to break the cycle");
    for pair in chain.windows(2).skip(1) {
        if let Some(e) = g.find_edge(pair[0], pair[1]) {
            d = d.also(
                g[e].clone(),
                format!("{} depends on {}", g[pair[0]].name(), g[pair[1]].name()),
            );
        }
    }
    Err(d)
}

/// A path start -> ... -> start inside one strongly connected component (breadth-first, so the
/// chain is as short as possible).
fn cycle_from(
    g: &DiGraph<Node, Range<usize>>,
    start: NodeIndex,
    scc: &[NodeIndex],
) -> Vec<NodeIndex> {
    if g.contains_edge(start, start) {
        return vec![start, start];
    }
    let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        let mut next: Vec<NodeIndex> = g
            .neighbors(n)
            .filter(|m| scc.binary_search(m).is_ok())
            .collect();
        next.sort();
        for m in next {
            if m == start {
                let mut path = vec![start, n];
                let mut cur = n;
                while let Some(p) = parent.get(&cur) {
                    path.push(*p);
                    cur = *p;
                }
                // path is start, n, parent(n), ..., start reversed; rebuild forwards.
                let mut forward: Vec<NodeIndex> = path[1..].iter().rev().copied().collect();
                forward.push(start);
                return forward;
            }
            if m != start && !parent.contains_key(&m) {
                parent.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    vec![start, start]
}

/// Number of nodes on the longest dependency chain.
fn depth(g: &DiGraph<Node, Range<usize>>) -> u64 {
    let Ok(order) = toposort(g, None) else {
        return 0;
    };
    let mut depth = vec![1u64; g.node_count()];
    // Dependents come first in `order`; walk backwards so dependencies are done first.
    for n in order.iter().rev() {
        let d = g
            .neighbors(*n)
            .map(|m| depth[m.index()] + 1)
            .max()
            .unwrap_or(1);
        depth[n.index()] = d;
    }
    depth.into_iter().max().unwrap_or(0)
}
