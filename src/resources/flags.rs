//! Pure interpretation of resource command-line flags: `hq submit --cpus/--resource/--nodes`
//! into request variants (including the README's "also accept" forms), and
//! `hq worker start --cpus/--resource` into the user-defined part of a worker descriptor.

use super::descriptor::{parse_cpu_definition, parse_resource_flag, validate_name};
use super::request::MAX_VARIANTS;
use super::{
    AllocationRequest, ResourceAmount, ResourceDescriptor, ResourceError, ResourceRequest,
    ResourceRequestEntry, ResourceRequestVariants, CPU_RESOURCE_NAME,
};

/// Builds the request variants of `hq submit`.
///
/// - `cpus`: the `--cpus` value; `A-B[ policy]` (A < B) gives two variants, `cpus=B` then `cpus=A`.
/// - `resources`: `--resource NAME=REQ` values in command-line order. Reading them left to right,
///   a flag whose name already occurs in the current variant starts a new variant; distinct
///   names combine (`cpus=4`, `cpus=1`, `gpus=1` → {cpus=4} or {cpus=1, gpus=1}).
/// - Single-node variants without a CPU entry get `cpus=1 compact` (first).
/// - `nodes > 0` gives one multi-node variant and excludes `--cpus` and `--resource`.
///
/// With both a CPU range and several resource variants, every resource variant is combined
/// with every CPU alternative (resource variants outermost).
pub fn variants_from_cli(
    cpus: Option<&str>,
    resources: &[String],
    time_request_secs: u64,
    nodes: u32,
) -> Result<ResourceRequestVariants, ResourceError> {
    if nodes > 0 {
        if cpus.is_some() || !resources.is_empty() {
            return Err(ResourceError::InvalidVariants(
                "`--nodes` reserves whole workers and cannot be combined with `--cpus` or \
                 `--resource`; remove them or drop `--nodes`"
                    .into(),
            ));
        }
        return Ok(ResourceRequestVariants::single(ResourceRequest {
            n_nodes: nodes,
            min_time_secs: time_request_secs,
            ..Default::default()
        }));
    }
    let cpu_choices = match cpus {
        Some(text) => parse_cpu_request(text).map_err(|e| e.in_flag("--cpus", text))?,
        None => vec![AllocationRequest::Compact(ResourceAmount::ONE)],
    };
    let mut groups: Vec<Vec<ResourceRequestEntry>> = vec![Vec::new()];
    for flag in resources {
        let entry = parse_request_flag(flag).map_err(|e| e.in_flag("--resource", flag))?;
        if entry.resource == CPU_RESOURCE_NAME && cpus.is_some() {
            return Err(ResourceError::CpusGivenTwice);
        }
        let current = groups.last_mut().expect("groups start non-empty");
        if current.iter().any(|e| e.resource == entry.resource) {
            groups.push(vec![entry]);
        } else {
            current.push(entry);
        }
    }
    let mut variants = Vec::new();
    for group in &groups {
        let has_cpus = group.iter().any(|e| e.resource == CPU_RESOURCE_NAME);
        let choices: &[AllocationRequest] = if has_cpus { &[] } else { &cpu_choices };
        let mut push = |cpu: Option<&AllocationRequest>| {
            let mut resources = Vec::with_capacity(group.len() + 1);
            if let Some(cpu) = cpu {
                resources.push(ResourceRequestEntry {
                    resource: CPU_RESOURCE_NAME.to_string(),
                    request: cpu.clone(),
                });
            }
            resources.extend(group.iter().cloned());
            variants.push(ResourceRequest {
                min_time_secs: time_request_secs,
                resources,
                ..Default::default()
            });
        };
        if choices.is_empty() {
            push(None);
        } else {
            choices.iter().for_each(|c| push(Some(c)));
        }
    }
    if variants.len() > MAX_VARIANTS {
        return Err(ResourceError::InvalidVariants(format!(
            "the flags give {} resource variants; at most {MAX_VARIANTS} are allowed",
            variants.len()
        )));
    }
    let variants = ResourceRequestVariants { variants };
    variants.validate()?;
    Ok(variants)
}

/// Parses one `--resource NAME=REQ` of `hq submit`.
pub fn parse_request_flag(text: &str) -> Result<ResourceRequestEntry, ResourceError> {
    let (name, req) = text.split_once('=').ok_or_else(|| {
        ResourceError::request(
            text,
            "expected NAME=AMOUNT, e.g. `gpus=1` or `mem=100 compact`",
        )
    })?;
    let name = name.trim();
    validate_name(name)?;
    Ok(ResourceRequestEntry {
        resource: name.to_string(),
        request: AllocationRequest::parse(req)?,
    })
}

/// `--cpus` of submit: a request, or `A-B[ policy]` meaning "B if possible, else A".
fn parse_cpu_request(text: &str) -> Result<Vec<AllocationRequest>, ResourceError> {
    let t = text.trim();
    let (first, policy) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    if let Some((a, b)) = first.split_once('-') {
        let policy = policy.trim();
        let with = |amount: &str| {
            AllocationRequest::parse(&format!("{amount} {policy}")).map_err(|e| match e {
                ResourceError::InvalidAmount(_) => ResourceError::request(
                    text,
                    "expected a CPU count like `4`, `4 compact!` or a range like `2-8`",
                ),
                other => other,
            })
        };
        let (low, high) = (with(a)?, with(b)?);
        return match low.amount().cmp(&high.amount()) {
            std::cmp::Ordering::Less => Ok(vec![high, low]),
            std::cmp::Ordering::Equal => Ok(vec![low]),
            std::cmp::Ordering::Greater => Err(ResourceError::request(
                text,
                format!("the range must go from the smaller count to the larger: `{b}-{a}`"),
            )),
        };
    }
    Ok(vec![AllocationRequest::parse(t)?])
}

/// The user-defined part of a worker's pools, from `hq worker start`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerPoolFlags {
    /// Pools given explicitly, `cpus` first when given.
    pub descriptor: ResourceDescriptor,
    /// `--cpus=no-ht` was used (an older spelling of `--no-hyper-threading`).
    pub no_hyper_threading: bool,
}

/// Interprets `--cpus DEF` and `--resource NAME=DEF` of `hq worker start` / `hq alloc add`.
pub fn worker_pools_from_cli(
    cpus: Option<&str>,
    resources: &[String],
) -> Result<WorkerPoolFlags, ResourceError> {
    let mut out = WorkerPoolFlags::default();
    let cpus = match cpus.map(str::trim) {
        Some("no-ht") => {
            out.no_hyper_threading = true;
            None
        }
        other => other,
    };
    if let Some(def) = cpus {
        let kind = parse_cpu_definition(def).map_err(|e| e.in_flag("--cpus", def))?;
        out.descriptor.add(CPU_RESOURCE_NAME, kind)?;
    }
    for flag in resources {
        let in_flag = |e: ResourceError| e.in_flag("--resource", flag);
        let (name, kind) = parse_resource_flag(flag).map_err(in_flag)?;
        if name == CPU_RESOURCE_NAME && cpus.is_some() {
            return Err(ResourceError::CpusGivenTwice);
        }
        out.descriptor.add(&name, kind).map_err(in_flag)?;
    }
    Ok(out)
}

/// Joins user-defined pools with detected ones the user did not define, ordered by name (as the
/// reference orders a worker's pools: summaries, JSON and coupling indices follow this order).
/// Fails without any `cpus` pool.
pub fn merge_worker_descriptor(
    user: ResourceDescriptor,
    detected: ResourceDescriptor,
) -> Result<ResourceDescriptor, ResourceError> {
    let mut all: Vec<_> = user.resources;
    for item in detected.resources {
        if !all.iter().any(|r| r.name == item.name) {
            all.push(item);
        }
    }
    if !all.iter().any(|r| r.name == CPU_RESOURCE_NAME) {
        return Err(ResourceError::CpusRequired);
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ResourceDescriptor::new(all))
}

#[cfg(test)]
mod tests;
