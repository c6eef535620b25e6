//! Hardware detection for `hq worker start` and `hq worker hwdetect`: CPUs (NUMA groups,
//! affinity, hyper-threading), NVIDIA/AMD GPUs and memory.
//!
//! Reading and parsing are kept apart: the parsers are pure functions of file or variable
//! text; [`detect`] reads below a root directory (a fixture tree in tests, `/` in production)
//! and takes the environment as a lookup closure, so no test depends on the host.

use crate::resources::{
    ResourceAmount, ResourceDescriptor, ResourceDescriptorKind, AMD_GPU_RESOURCE_NAME,
    CPU_RESOURCE_NAME, MEM_RESOURCE_NAME, NVIDIA_GPU_RESOURCE_NAME,
};
use std::collections::BTreeSet;
use std::path::Path;

/// Errors of the pure parsers; the reader turns them into warnings.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum HwDetectError {
    #[error("invalid CPU list `{text}`: {reason}")]
    CpuList { text: String, reason: String },
    #[error("no `MemTotal:` line found in /proc/meminfo")]
    NoMemTotal,
    #[error("invalid `MemTotal` line `{0}`: expected `MemTotal: <number> kB`")]
    MemTotal(String),
    #[error("invalid SLURM_MEM_PER_NODE `{0}`: expected a size in MiB such as `64000` or `64G`")]
    SlurmMem(String),
    #[error(
        "invalid value `{0}` for --detect-resources: use `all`, `none` or a comma list of \
         `cpus`, `mem`, `gpus/nvidia`, `gpus/amd`"
    )]
    Kind(String),
}

/// Which kinds of resources to detect (`--detect-resources`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectKinds {
    pub cpus: bool,
    pub gpus_nvidia: bool,
    pub gpus_amd: bool,
    pub mem: bool,
}

impl DetectKinds {
    pub fn all() -> Self {
        DetectKinds {
            cpus: true,
            gpus_nvidia: true,
            gpus_amd: true,
            mem: true,
        }
    }

    pub fn none() -> Self {
        DetectKinds {
            cpus: false,
            gpus_nvidia: false,
            gpus_amd: false,
            mem: false,
        }
    }

    /// Parses `all`, `none` or a comma list of `cpus`, `mem`, `gpus/nvidia`, `gpus/amd`
    /// (`gpus` enables both GPU kinds).
    pub fn parse(text: &str) -> Result<Self, HwDetectError> {
        match text.trim() {
            "all" => return Ok(Self::all()),
            "none" | "" => return Ok(Self::none()),
            _ => {}
        }
        let mut kinds = Self::none();
        for item in text.split(',').map(str::trim) {
            match item {
                "cpus" => kinds.cpus = true,
                "mem" => kinds.mem = true,
                "gpus/nvidia" => kinds.gpus_nvidia = true,
                "gpus/amd" => kinds.gpus_amd = true,
                "gpus" => (kinds.gpus_nvidia, kinds.gpus_amd) = (true, true),
                other => return Err(HwDetectError::Kind(other.to_string())),
            }
        }
        Ok(kinds)
    }

    /// The same kinds minus those the user defined explicitly.
    pub fn without_defined(mut self, user: &ResourceDescriptor) -> Self {
        let defined = |name: &str| user.get(name).is_some();
        self.cpus &= !defined(CPU_RESOURCE_NAME);
        self.gpus_nvidia &= !defined(NVIDIA_GPU_RESOURCE_NAME);
        self.gpus_amd &= !defined(AMD_GPU_RESOURCE_NAME);
        self.mem &= !defined(MEM_RESOURCE_NAME);
        self
    }
}

// ---- pure parsers ----

/// Parses the Linux list format of `possible`, `cpulist` and `thread_siblings_list`:
/// `0-3,8,10-11` (also `0-7:2` strides); empty text is an empty list.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, HwDetectError> {
    let bad = |reason: &str| HwDetectError::CpuList {
        text: text.trim().to_string(),
        reason: reason.to_string(),
    };
    let num = |s: &str| s.trim().parse::<u32>().map_err(|_| bad("expected numbers"));
    let mut out = BTreeSet::new();
    for item in text.trim().split(',').filter(|s| !s.trim().is_empty()) {
        let (range, stride) = match item.split_once(':') {
            Some((r, s)) => (r, num(s)?),
            None => (item, 1),
        };
        let (a, b) = match range.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(range)?, num(range)?),
        };
        if a > b || stride == 0 {
            return Err(bad("a range must go upwards with a positive stride"));
        }
        if b - a > 1 << 20 {
            return Err(bad("the range is implausibly large"));
        }
        out.extend((a..=b).step_by(stride as usize));
    }
    Ok(out.into_iter().collect())
}

/// Whether `cpu` is the first hardware thread of its core, from its siblings list.
pub fn is_first_thread(cpu: u32, siblings: &[u32]) -> bool {
    siblings.iter().min().is_none_or(|&first| first >= cpu)
}

/// `MemTotal:       65756467 kB` → MiB with 4 decimals.
pub fn parse_meminfo(text: &str) -> Result<ResourceAmount, HwDetectError> {
    let line = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .ok_or(HwDetectError::NoMemTotal)?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let kib: u64 = words
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| HwDetectError::MemTotal(line.to_string()))?;
    if !matches!(words.next(), None | Some("kB")) {
        return Err(HwDetectError::MemTotal(line.to_string()));
    }
    // kB / 1024 = MiB, kept to 1/10000 MiB (truncated).
    Ok(ResourceAmount(
        (u128::from(kib) * 10_000 / 1024).min(u128::from(u64::MAX)) as u64,
    ))
}

/// `SLURM_MEM_PER_NODE` (MiB, optionally with a `K`/`M`/`G`/`T` suffix) → MiB.
pub fn parse_slurm_mem(text: &str) -> Result<ResourceAmount, HwDetectError> {
    let t = text.trim();
    let bad = || HwDetectError::SlurmMem(t.to_string());
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(pos) => t.split_at(pos),
        None => (t, ""),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let amount = match unit.to_ascii_uppercase().as_str() {
        "K" => ResourceAmount(n.saturating_mul(10_000) / 1024),
        "" | "M" => ResourceAmount::whole(n),
        "G" => ResourceAmount::whole(n.saturating_mul(1024)),
        "T" => ResourceAmount::whole(n.saturating_mul(1024 * 1024)),
        _ => return Err(bad()),
    };
    Ok(amount)
}

/// Parses `CUDA_VISIBLE_DEVICES`/`ROCR_VISIBLE_DEVICES` (comma list; UUIDs allowed).
/// `Ok(None)` for an empty value; `Err(warning)` for a list with duplicates, which is ignored.
pub fn parse_visible_devices(var: &str, value: &str) -> Result<Option<Vec<String>>, String> {
    let labels: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if labels.is_empty() {
        return Ok(None);
    }
    let unique: BTreeSet<&String> = labels.iter().collect();
    if unique.len() != labels.len() {
        return Err(format!(
            "{var} contains duplicates ({value}); it is ignored for GPU detection"
        ));
    }
    Ok(Some(labels))
}

/// Builds the CPU pool from NUMA nodes: drops CPUs outside `affinity` and those `keep`
/// rejects, drops empty nodes. One group → a plain list. Returns the pool (if any CPU is left)
/// and warnings.
pub fn cpu_pool(
    nodes: Vec<Vec<u32>>,
    affinity: Option<&[u32]>,
    keep: impl Fn(u32) -> bool,
) -> (Option<ResourceDescriptorKind>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut outside = Vec::new();
    let groups: Vec<Vec<String>> = nodes
        .into_iter()
        .map(|cpus| {
            cpus.into_iter()
                .filter(|cpu| {
                    let allowed = affinity.is_none_or(|a| a.contains(cpu));
                    if !allowed {
                        outside.push(*cpu);
                    }
                    allowed && keep(*cpu)
                })
                .map(|cpu| cpu.to_string())
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect();
    if !outside.is_empty() {
        let ids = crate::common::idset::IdSet::from_ids(outside.iter().copied());
        warnings.push(format!(
            "CPUs {ids} are outside the process affinity mask and are not used"
        ));
    }
    let pool = (!groups.is_empty()).then(|| ResourceDescriptorKind::from_groups(groups));
    (pool, warnings)
}

fn labels(count: usize) -> ResourceDescriptorKind {
    ResourceDescriptorKind::List {
        values: (0..count).map(|i| i.to_string()).collect(),
    }
}

// ---- reading ----

/// Detects the enabled kinds below `root` (`/` in production). `env` looks up environment
/// variables; `affinity` is the process CPU mask (see [`process_affinity`]), also used as the
/// CPU list when there is no NUMA information. Returns the pools (cpus, gpus/nvidia, gpus/amd,
/// mem) and warnings to log.
pub fn detect(
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    no_hyper_threading: bool,
    kinds: &DetectKinds,
    affinity: Option<&[u32]>,
) -> (ResourceDescriptor, Vec<String>) {
    let mut desc = ResourceDescriptor::default();
    let mut warnings = Vec::new();
    let push = |desc: &mut ResourceDescriptor, name: &str, kind| {
        // Names are distinct constants, so `add` cannot fail.
        let _ = desc.add(name, kind);
    };
    if kinds.cpus {
        let (pool, mut w) = read_cpus(root, no_hyper_threading, affinity);
        warnings.append(&mut w);
        if let Some(pool) = pool {
            push(&mut desc, CPU_RESOURCE_NAME, pool);
        }
    }
    let mut gpu_list_taken = false;
    for (enabled, var, name) in [
        (
            kinds.gpus_nvidia,
            "CUDA_VISIBLE_DEVICES",
            NVIDIA_GPU_RESOURCE_NAME,
        ),
        (
            kinds.gpus_amd,
            "ROCR_VISIBLE_DEVICES",
            AMD_GPU_RESOURCE_NAME,
        ),
    ] {
        let Some(value) = env(var).filter(|_| enabled) else {
            continue;
        };
        match parse_visible_devices(var, &value) {
            Ok(Some(values)) => {
                gpu_list_taken = true;
                push(&mut desc, name, ResourceDescriptorKind::List { values });
            }
            Ok(None) => gpu_list_taken = true,
            Err(warning) => warnings.push(warning),
        }
    }
    if kinds.gpus_nvidia && !gpu_list_taken {
        let count = std::fs::read_dir(root.join("proc/driver/nvidia/gpus"))
            .map(|dir| dir.filter_map(Result::ok).count())
            .unwrap_or(0);
        if count > 0 {
            push(&mut desc, NVIDIA_GPU_RESOURCE_NAME, labels(count));
        }
    }
    if kinds.mem {
        let mem = match env("SLURM_MEM_PER_NODE") {
            Some(value) => parse_slurm_mem(&value),
            None => std::fs::read_to_string(root.join("proc/meminfo"))
                .map_err(|_| HwDetectError::NoMemTotal)
                .and_then(|text| parse_meminfo(&text)),
        };
        match mem {
            Ok(size) if !size.is_zero() => push(
                &mut desc,
                MEM_RESOURCE_NAME,
                ResourceDescriptorKind::Sum { size },
            ),
            Ok(_) => {}
            Err(e) => warnings.push(format!("memory was not detected: {e}")),
        }
    }
    (desc, warnings)
}

/// Reads NUMA nodes and their CPU lists; falls back to the affinity mask (or the number of
/// available CPUs) as one group.
fn read_cpus(
    root: &Path,
    no_hyper_threading: bool,
    affinity: Option<&[u32]>,
) -> (Option<ResourceDescriptorKind>, Vec<String>) {
    let node_dir = root.join("sys/devices/system/node");
    let read_list = |path: &Path| -> Option<Vec<u32>> {
        parse_cpu_list(&std::fs::read_to_string(path).ok()?).ok()
    };
    let nodes: Vec<Vec<u32>> = read_list(&node_dir.join("possible"))
        .unwrap_or_default()
        .into_iter()
        // Possible nodes that are not present have no directory; skip them.
        .filter_map(|n| read_list(&node_dir.join(format!("node{n}/cpulist"))))
        .filter(|cpus| !cpus.is_empty())
        .collect();
    let mut warnings = Vec::new();
    let nodes = if nodes.is_empty() {
        let fallback: Vec<u32> = match affinity {
            Some(cpus) => cpus.to_vec(),
            None => {
                let n = std::thread::available_parallelism().map_or(1, |n| n.get());
                (0..n as u32).collect()
            }
        };
        vec![fallback]
    } else {
        nodes
    };
    let unreadable = std::cell::Cell::new(false);
    let keep = |cpu: u32| {
        if !no_hyper_threading {
            return true;
        }
        let path = root.join(format!(
            "sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        ));
        match read_list(&path) {
            Some(siblings) => is_first_thread(cpu, &siblings),
            None => {
                unreadable.set(true);
                true
            }
        }
    };
    let (pool, mut w) = cpu_pool(nodes, affinity, keep);
    warnings.append(&mut w);
    if unreadable.get() {
        warnings.push(
            "--no-hyper-threading: some thread_siblings_list files could not be read; \
             those CPUs were kept"
                .to_string(),
        );
    }
    (pool, warnings)
}

/// The CPUs this process may run on (`sched_getaffinity`), or `None` if unavailable.
pub fn process_affinity() -> Option<Vec<u32>> {
    // SAFETY: `cpu_set_t` is plain data; sched_getaffinity writes at most `size_of` bytes.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
        Some(
            (0..max)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .map(|cpu| cpu as u32)
                .collect(),
        )
    }
}

/// Detection on this host: `/`, the process environment and affinity. With the `hwloc`
/// feature CPUs and NUMA nodes come from hwloc (falling back to /sys if it fails).
pub fn detect_host(
    no_hyper_threading: bool,
    kinds: &DetectKinds,
) -> (ResourceDescriptor, Vec<String>) {
    let affinity = process_affinity();
    let (hw_cpus, mut warnings) = if kinds.cpus {
        hwloc_cpus(no_hyper_threading, affinity.as_deref())
    } else {
        (None, Vec::new())
    };
    let kinds = DetectKinds {
        cpus: kinds.cpus && hw_cpus.is_none(),
        ..*kinds
    };
    let (desc, mut rest) = detect(
        Path::new("/"),
        &|name| std::env::var(name).ok(),
        no_hyper_threading,
        &kinds,
        affinity.as_deref(),
    );
    warnings.append(&mut rest);
    let Some(pool) = hw_cpus else {
        return (desc, warnings);
    };
    let mut all = ResourceDescriptor::default();
    // The descriptor is empty, so adding `cpus` cannot fail.
    let _ = all.add(CPU_RESOURCE_NAME, pool);
    all.resources.extend(desc.resources);
    (all, warnings)
}

#[cfg(feature = "hwloc")]
fn hwloc_cpus(
    no_hyper_threading: bool,
    affinity: Option<&[u32]>,
) -> (Option<ResourceDescriptorKind>, Vec<String>) {
    hwloc::host_cpus(no_hyper_threading, affinity)
}

#[cfg(not(feature = "hwloc"))]
fn hwloc_cpus(
    _no_hyper_threading: bool,
    _affinity: Option<&[u32]>,
) -> (Option<ResourceDescriptorKind>, Vec<String>) {
    (None, Vec::new())
}

/// Compatibility shim for the first worker code: host detection of CPUs and memory only,
/// warnings dropped. Prefer [`detect_host`], which also returns the warnings to log.
pub fn detect_basic(detect_cpus: bool, detect_mem: bool) -> ResourceDescriptor {
    let kinds = DetectKinds {
        cpus: detect_cpus,
        mem: detect_mem,
        ..DetectKinds::none()
    };
    detect_host(false, &kinds).0
}

/// The text of `hq worker hwdetect`: `Summary:` and `Full Description:` sections.
pub fn format_hwdetect(desc: &ResourceDescriptor) -> String {
    let mut out = String::from("Summary:\n");
    for line in desc.summary_lines() {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("\nFull Description:\n");
    for item in &desc.resources {
        out.push_str(&format!(
            "{}: {}\n",
            item.name,
            item.kind.full_description()
        ));
    }
    out
}

#[cfg(feature = "hwloc")]
pub mod hwloc;
#[cfg(test)]
mod tests;
