//! Workers' hardware reports (`--overview-interval`).

use super::*;

// Field names of the hardware report follow the original's `hw-state` JSON (journal export,
// `hq worker info`), so scripts written for it read these unchanged. No `skip_serializing_if`:
// the journal encodes these with postcard, which needs every field.

/// One hardware report of a worker (`--overview-interval`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HwState {
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    pub cpu_usage: CpuUsage,
    pub memory_usage: MemoryUsage,
    /// Cumulative counters of all interfaces except loopback.
    pub network_usage: NetworkUsage,
    /// Cumulative bytes read and written on whole disks.
    pub disk_usage: DiskUsage,
    /// Rates since the previous report (bytes per second).
    pub rates: IoRates,
    /// `None`: the worker has no NVIDIA GPUs (or could not read them; see `gpu_note`).
    pub nvidia_gpus: Option<GpuFamilyState>,
    pub amd_gpus: Option<GpuFamilyState>,
    /// Why GPU state is missing, e.g. `no GPUs` or `nvidia: NVML not loaded, nvidia-smi failed`.
    pub gpu_note: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    pub cpu_per_core_percent_usage: Vec<f32>,
}

impl CpuUsage {
    /// Mean use over all cores, in percent.
    pub fn average(&self) -> f32 {
        let n = self.cpu_per_core_percent_usage.len();
        if n == 0 {
            return 0.0;
        }
        self.cpu_per_core_percent_usage.iter().sum::<f32>() / n as f32
    }
}

/// Bytes; `free` is what a new process could use (`MemAvailable`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryUsage {
    pub total: u64,
    pub free: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkUsage {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUsage {
    pub read_bytes: u64,
    pub write_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IoRates {
    pub net_rx_bytes_per_s: f64,
    pub net_tx_bytes_per_s: f64,
    pub disk_read_bytes_per_s: f64,
    pub disk_write_bytes_per_s: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuFamilyState {
    pub gpus: Vec<GpuState>,
}

/// Use of one GPU, in percent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuState {
    /// PCI bus ID.
    pub id: String,
    pub processor_usage: f32,
    pub mem_usage: f32,
}
