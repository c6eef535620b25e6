//! Human-readable sizes and the text summary of a worker's hardware report, shared by `hq
//! worker info`, `hq output-log` and the dashboard.

use crate::protocol::messages::{GpuFamilyState, HwSample, HwState};

/// `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `1.5 KiB/s`.
pub fn human_rate(bytes_per_s: f64) -> String {
    format!("{}/s", human_size(bytes_per_s.max(0.0) as u64))
}

fn gpu_line(family: &str, state: &Option<GpuFamilyState>) -> Option<String> {
    let gpus = &state.as_ref()?.gpus;
    let each: Vec<String> = gpus
        .iter()
        .map(|g| {
            format!(
                "{} {:.0}% (memory {:.0}%)",
                g.id, g.processor_usage, g.mem_usage
            )
        })
        .collect();
    Some(format!("{family} GPUs: {}", each.join(", ")))
}

/// Lines for a table cell: CPU, memory, network, disk, GPUs.
pub fn summary_lines(s: &HwState) -> String {
    let cores = &s.cpu_usage.cpu_per_core_percent_usage;
    let m = &s.memory_usage;
    let used = m.total.saturating_sub(m.free);
    let mut lines = vec![
        format!(
            "CPU: {:.1}% average over {} cores",
            s.cpu_usage.average(),
            cores.len()
        ),
        format!(
            "Memory: {} used of {} ({} free)",
            human_size(used),
            human_size(m.total),
            human_size(m.free)
        ),
        format!(
            "Network: rx {}, tx {}",
            human_rate(s.rates.net_rx_bytes_per_s),
            human_rate(s.rates.net_tx_bytes_per_s)
        ),
        format!(
            "Disk: read {}, write {}",
            human_rate(s.rates.disk_read_bytes_per_s),
            human_rate(s.rates.disk_write_bytes_per_s)
        ),
    ];
    lines.extend(gpu_line("NVIDIA", &s.nvidia_gpus));
    lines.extend(gpu_line("AMD", &s.amd_gpus));
    if let Some(note) = &s.gpu_note {
        lines.push(format!("GPUs: {note}"));
    }
    lines.join("\n")
}

/// The point of a history chart for one report: mean CPU, memory used, mean GPU use.
pub fn sample(s: &HwState) -> HwSample {
    let m = &s.memory_usage;
    let gpus: Vec<f32> = [&s.nvidia_gpus, &s.amd_gpus]
        .into_iter()
        .flatten()
        .flat_map(|f| f.gpus.iter().map(|g| g.processor_usage))
        .collect();
    HwSample {
        timestamp: s.timestamp,
        cpu_percent: s.cpu_usage.average(),
        mem_percent: if m.total > 0 {
            (m.total.saturating_sub(m.free) as f64 / m.total as f64 * 100.0) as f32
        } else {
            0.0
        },
        gpu_percent: (!gpus.is_empty()).then(|| gpus.iter().sum::<f32>() / gpus.len() as f32),
    }
}
