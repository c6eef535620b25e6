//! Why a request can never run on a set of workers, in words: used by `hq run` to refuse a job
//! its local worker cannot satisfy, and by the dashboard to say why a job waits.

use super::{ResourceDescriptor, ResourceRequest, ResourceRequestVariants, WorkerAllocator};

/// `nodes: 2` or `cpus: 4 compact`, `gpus/nvidia: 1 compact`: the parts of one variant.
pub fn request_parts(r: &ResourceRequest) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    if r.n_nodes > 0 {
        parts.push(format!("nodes: {}", r.n_nodes));
    }
    parts.extend(
        r.resources
            .iter()
            .map(|e| format!("{}: {}", e.resource, e.request)),
    );
    parts
}

/// `cpus: 4 compact, gpus/nvidia: 1 compact` (one variant on one line).
pub fn request_line(r: &ResourceRequest) -> String {
    request_parts(r).join(", ")
}

/// `None` when some variant fits some worker (when it is empty); otherwise why none does,
/// e.g. ``no connected worker has `gpus/nvidia` `` or ``no connected worker offers `cpus: 4
/// compact` (the largest has 2)``.
pub fn why_never_runs(
    request: &ResourceRequestVariants,
    workers: &[&ResourceDescriptor],
) -> Option<String> {
    why_never_runs_on(request, workers, "connected worker")
}

/// [`why_never_runs`] naming the workers `who` (`local worker` for `hq run`).
pub fn why_never_runs_on(
    request: &ResourceRequestVariants,
    workers: &[&ResourceDescriptor],
    who: &str,
) -> Option<String> {
    if workers.is_empty() {
        return Some(format!("there is no {who}"));
    }
    let allocators: Vec<WorkerAllocator> =
        workers.iter().map(|d| WorkerAllocator::new(d)).collect();
    let reasons: Vec<String> = request
        .variants
        .iter()
        .map(|v| variant_reason(v, workers, &allocators, who))
        .collect::<Option<Vec<String>>>()?;
    if reasons.len() == 1 {
        return reasons.into_iter().next();
    }
    let each: Vec<String> = reasons
        .iter()
        .enumerate()
        .map(|(i, r)| format!("variant {}: {r}", i + 1))
        .collect();
    Some(format!(
        "none of the {} variants fits a {who} ({})",
        reasons.len(),
        each.join("; ")
    ))
}

/// `None` if the variant fits some worker.
fn variant_reason(
    v: &ResourceRequest,
    workers: &[&ResourceDescriptor],
    allocators: &[WorkerAllocator],
    who: &str,
) -> Option<String> {
    if v.n_nodes > 0 {
        return (workers.len() < v.n_nodes as usize).then(|| {
            format!(
                "needs {} nodes, but there are only {} of them ({who}s)",
                v.n_nodes,
                workers.len()
            )
        });
    }
    if allocators.iter().any(|a| a.can_ever_run(v)) {
        return None;
    }
    for entry in &v.resources {
        if allocators.iter().any(|a| a.can_ever_run_entry(entry)) {
            continue;
        }
        let offered: Vec<String> = workers
            .iter()
            .filter_map(|d| d.get(&entry.resource).map(|k| k.size().to_string()))
            .collect();
        return Some(match offered.iter().max_by(|a, b| cmp_amounts(a, b)) {
            None => format!("no {who} has `{}`", entry.resource),
            Some(max) => format!(
                "no {who} offers `{}: {}` (the largest has {max})",
                entry.resource, entry.request
            ),
        });
    }
    // Each entry fits somewhere, but never all on one worker.
    Some(format!("no {who} has all of `{}` at once", request_line(v)))
}

fn cmp_amounts(a: &str, b: &str) -> std::cmp::Ordering {
    let num = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    num(a).total_cmp(&num(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::flags::worker_pools_from_cli;
    use crate::resources::variants_from_cli;

    fn worker(cpus: &str, extra: &[&str]) -> ResourceDescriptor {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        worker_pools_from_cli(Some(cpus), &extra)
            .unwrap()
            .descriptor
    }

    fn request(cpus: &str, extra: &[&str]) -> ResourceRequestVariants {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        variants_from_cli(Some(cpus), &extra, 0, 0).unwrap()
    }

    #[test]
    fn reasons_in_words() {
        let two = worker("2", &[]);
        let gpu = worker("2", &["gpus=[0]"]);
        assert_eq!(why_never_runs(&request("1", &[]), &[&two]), None);
        assert_eq!(
            why_never_runs(&request("1", &[]), &[]).as_deref(),
            Some("there is no connected worker")
        );
        assert_eq!(
            why_never_runs(&request("4", &[]), &[&two]).as_deref(),
            Some("no connected worker offers `cpus: 4 compact` (the largest has 2)")
        );
        assert_eq!(
            why_never_runs(&request("1", &["gpus=1"]), &[&two]).as_deref(),
            Some("no connected worker has `gpus`")
        );
        assert_eq!(
            why_never_runs(&request("1", &["gpus=1"]), &[&two, &gpu]),
            None
        );
    }
}
