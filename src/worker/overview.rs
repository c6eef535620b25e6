//! Hardware reports of a worker (`--overview-interval`): CPU use per core, memory, network and
//! disk counters and rates, and GPU state (NVIDIA through NVML loaded at run time, falling back
//! to `nvidia-smi`; AMD through `rocm-smi`).
//!
//! As in `hwdetect`, reading and parsing are apart: the parsers are pure functions of the text
//! of `/proc/stat`, `/proc/meminfo`, `/proc/net/dev`, `/proc/diskstats` and the GPU tools'
//! output; [`Collector`] reads below a root directory so tests can use a fixture tree.

use crate::protocol::messages::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Busy and total jiffies of one core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreTimes {
    pub busy: u64,
    pub total: u64,
}

/// Per-core times from `/proc/stat` (`cpuN` lines, in order; the `cpu` sum line is skipped).
pub fn parse_proc_stat(text: &str) -> Vec<CoreTimes> {
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: u64 = v.iter().take(8).sum();
            // idle + iowait are not busy.
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            CoreTimes {
                busy: total.saturating_sub(idle),
                total,
            }
        })
        .collect()
}

/// Percent use of each core between two samples (0 for a core without progress).
pub fn core_usage(before: &[CoreTimes], after: &[CoreTimes]) -> Vec<f32> {
    after
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let b = before.get(i).copied().unwrap_or_default();
            let total = a.total.saturating_sub(b.total);
            if total == 0 {
                return 0.0;
            }
            let busy = a.busy.saturating_sub(b.busy);
            ((busy as f64 / total as f64 * 1000.0).round() / 10.0) as f32
        })
        .collect()
}

/// `MemTotal` and `MemAvailable` (falling back to `MemFree`) in bytes.
pub fn parse_memory(text: &str) -> MemoryUsage {
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    MemoryUsage {
        total: field("MemTotal:").unwrap_or(0),
        free: field("MemAvailable:")
            .or_else(|| field("MemFree:"))
            .unwrap_or(0),
    }
}

/// Sums of `/proc/net/dev` over every interface except `lo`.
pub fn parse_net_dev(text: &str) -> NetworkUsage {
    let mut u = NetworkUsage::default();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if v.len() < 11 {
            continue;
        }
        u.rx_bytes += v[0];
        u.rx_packets += v[1];
        u.rx_errors += v[2];
        u.tx_bytes += v[8];
        u.tx_packets += v[9];
        u.tx_errors += v[10];
    }
    u
}

/// Bytes read and written on the devices named in `disks` (whole disks, so partitions are not
/// counted twice), from `/proc/diskstats` (sectors of 512 bytes).
pub fn parse_diskstats(text: &str, disks: &[String]) -> DiskUsage {
    let mut u = DiskUsage::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || !disks.iter().any(|d| d == f[2]) {
            continue;
        }
        u.read_bytes += f[5].parse::<u64>().unwrap_or(0) * 512;
        u.write_bytes += f[9].parse::<u64>().unwrap_or(0) * 512;
    }
    u
}

/// `nvidia-smi --query-gpu=pci.bus_id,utilization.gpu,memory.used,memory.total
/// --format=csv,noheader` lines such as `00000000:3B:00.0, 10 %, 100 MiB, 200 MiB`.
pub fn parse_nvidia_smi(text: &str) -> Result<Vec<GpuState>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let number = |s: &str| -> Result<f32, String> {
                let n = s.split_whitespace().next().unwrap_or("");
                n.parse::<f32>()
                    .map_err(|_| format!("unexpected nvidia-smi value `{s}` in `{line}`"))
            };
            if f.len() < 4 {
                return Err(format!("unexpected nvidia-smi line `{line}`"));
            }
            let (used, total) = (number(f[2])?, number(f[3])?);
            Ok(GpuState {
                id: f[0].to_string(),
                processor_usage: number(f[1])?,
                mem_usage: if total > 0.0 {
                    used / total * 100.0
                } else {
                    0.0
                },
            })
        })
        .collect()
}

/// `rocm-smi --showuse --showmemuse --showbus --json`: one object per `cardN` with
/// `GPU use (%)`, `GPU memory use (%)` and `PCI Bus`.
pub fn parse_rocm_smi(text: &str) -> Result<Vec<GpuState>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("rocm-smi printed invalid JSON: {e}"))?;
    let cards = v
        .as_object()
        .ok_or_else(|| "rocm-smi printed JSON that is not an object".to_string())?;
    let number = |card: &serde_json::Value, key: &str| -> f32 {
        match &card[key] {
            serde_json::Value::String(s) => s.trim().parse().unwrap_or(0.0),
            serde_json::Value::Number(n) => n.as_f64().unwrap_or(0.0) as f32,
            _ => 0.0,
        }
    };
    let mut names: Vec<&String> = cards.keys().filter(|k| k.starts_with("card")).collect();
    names.sort_by_key(|k| k[4..].parse::<u32>().unwrap_or(u32::MAX));
    Ok(names
        .into_iter()
        .map(|name| {
            let card = &cards[name];
            GpuState {
                id: card["PCI Bus"].as_str().unwrap_or(name).to_string(),
                processor_usage: number(card, "GPU use (%)"),
                mem_usage: number(card, "GPU memory use (%)"),
            }
        })
        .collect())
}

/// Which GPU families the worker has (from its resources), so no tool runs needlessly.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuKinds {
    pub nvidia: bool,
    pub amd: bool,
}

/// Reads one report after another; keeps the previous sample for rates and CPU use.
pub struct Collector {
    root: PathBuf,
    gpus: GpuKinds,
    disks: Vec<String>,
    nvml: Option<super::gpu::Nvml>,
    nvml_tried: bool,
    prev: Option<(Instant, Vec<CoreTimes>, NetworkUsage, DiskUsage)>,
}

impl Collector {
    pub fn new(root: &Path, gpus: GpuKinds) -> Collector {
        let disks = std::fs::read_dir(root.join("sys/block"))
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with("loop") && !n.starts_with("ram"))
                    .collect()
            })
            .unwrap_or_default();
        Collector {
            root: root.to_path_buf(),
            gpus,
            disks,
            nvml: None,
            nvml_tried: false,
            prev: None,
        }
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_default()
    }

    /// Takes one report; `timestamp` is seconds since the Unix epoch.
    pub fn sample(&mut self, timestamp: u64) -> HwState {
        let now = Instant::now();
        let cores = parse_proc_stat(&self.read("proc/stat"));
        let net = parse_net_dev(&self.read("proc/net/dev"));
        let disk = parse_diskstats(&self.read("proc/diskstats"), &self.disks);
        let (usage, rates) = match &self.prev {
            Some((at, before, net0, disk0)) => {
                let secs = now.duration_since(*at).as_secs_f64().max(1e-3);
                let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
                (
                    core_usage(before, &cores),
                    IoRates {
                        net_rx_bytes_per_s: rate(net.rx_bytes, net0.rx_bytes),
                        net_tx_bytes_per_s: rate(net.tx_bytes, net0.tx_bytes),
                        disk_read_bytes_per_s: rate(disk.read_bytes, disk0.read_bytes),
                        disk_write_bytes_per_s: rate(disk.write_bytes, disk0.write_bytes),
                    },
                )
            }
            None => (vec![0.0; cores.len()], IoRates::default()),
        };
        let (nvidia_gpus, amd_gpus, gpu_note) = self.gpu_state();
        let state = HwState {
            timestamp,
            cpu_usage: CpuUsage {
                cpu_per_core_percent_usage: usage,
            },
            memory_usage: parse_memory(&self.read("proc/meminfo")),
            network_usage: net.clone(),
            disk_usage: disk.clone(),
            rates,
            nvidia_gpus,
            amd_gpus,
            gpu_note,
        };
        self.prev = Some((now, cores, net, disk));
        state
    }

    fn gpu_state(
        &mut self,
    ) -> (
        Option<GpuFamilyState>,
        Option<GpuFamilyState>,
        Option<String>,
    ) {
        let mut notes = Vec::new();
        let nvidia = if self.gpus.nvidia {
            if !self.nvml_tried {
                self.nvml_tried = true;
                self.nvml = super::gpu::Nvml::load();
            }
            let result = match &self.nvml {
                Some(nvml) => nvml.state(),
                None => super::gpu::run_tool(
                    "nvidia-smi",
                    &[
                        "--query-gpu=pci.bus_id,utilization.gpu,memory.used,memory.total",
                        "--format=csv,noheader",
                    ],
                )
                .and_then(|out| parse_nvidia_smi(&out)),
            };
            result
                .map_err(|e| notes.push(format!("nvidia: {e}")))
                .ok()
                .map(|gpus| GpuFamilyState { gpus })
        } else {
            None
        };
        let amd = if self.gpus.amd {
            super::gpu::run_tool(
                "rocm-smi",
                &["--showuse", "--showmemuse", "--showbus", "--json"],
            )
            .and_then(|out| parse_rocm_smi(&out))
            .map_err(|e| notes.push(format!("amd: {e}")))
            .ok()
            .map(|gpus| GpuFamilyState { gpus })
        } else {
            None
        };
        if !self.gpus.nvidia && !self.gpus.amd {
            notes.push("the worker has no GPUs".into());
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        (nvidia, amd, note)
    }
}

/// Delay of the first report after the worker starts (at most the interval).
const FIRST_REPORT: Duration = Duration::from_millis(250);

/// Runs the collector on its own thread (reading `/proc` and running GPU tools blocks) and
/// sends a report every `interval` until the receiver is dropped.
pub fn spawn(
    interval: Duration,
    gpus: GpuKinds,
) -> tokio::sync::mpsc::UnboundedReceiver<Box<HwState>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name("hq-overview".into())
        .spawn(move || {
            let mut collector = Collector::new(Path::new("/"), gpus);
            // The first sample only primes the counters used for CPU use and rates; the first
            // report follows soon after, so a new worker shows its state quickly.
            collector.sample(crate::server::now_ms() / 1000);
            let mut wait = interval.min(FIRST_REPORT);
            loop {
                std::thread::sleep(wait);
                wait = interval;
                let state = collector.sample(crate::server::now_ms() / 1000);
                if tx.send(Box::new(state)).is_err() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("cannot start the hardware overview thread: {e}");
    }
    rx
}

#[cfg(test)]
#[path = "overview_tests.rs"]
mod tests;
