//! GPU state for hardware reports: NVML (`libnvidia-ml.so`, opened at run time by
//! `nvml-wrapper`, so the binary runs where no driver exists) and the `nvidia-smi`/`rocm-smi`
//! tools as programs on `PATH`.

use crate::protocol::messages::GpuState;

/// An opened NVML library.
pub struct Nvml(nvml_wrapper::Nvml);

impl Nvml {
    /// Opens NVML; `None` where the library or driver is missing.
    pub fn load() -> Option<Nvml> {
        match nvml_wrapper::Nvml::init() {
            Ok(n) => Some(Nvml(n)),
            Err(e) => {
                log::debug!("NVML not available ({e}); using nvidia-smi for GPU reports");
                None
            }
        }
    }

    pub fn state(&self) -> Result<Vec<GpuState>, String> {
        let count = self.0.device_count().map_err(|e| format!("NVML: {e}"))?;
        (0..count)
            .map(|i| {
                let dev = self
                    .0
                    .device_by_index(i)
                    .map_err(|e| format!("NVML: {e}"))?;
                let id = dev
                    .pci_info()
                    .map(|p| p.bus_id)
                    .unwrap_or_else(|_| i.to_string());
                let util = dev.utilization_rates().map_err(|e| format!("NVML: {e}"))?;
                let mem = dev.memory_info().map_err(|e| format!("NVML: {e}"))?;
                Ok(GpuState {
                    id,
                    processor_usage: util.gpu as f32,
                    mem_usage: if mem.total > 0 {
                        (mem.used as f64 / mem.total as f64 * 100.0) as f32
                    } else {
                        0.0
                    },
                })
            })
            .collect()
    }
}

/// Runs a tool and returns its stdout; errors say what went wrong in a few words.
pub fn run_tool(program: &str, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("`{program}` not found"),
            _ => format!("cannot run `{program}`: {e}"),
        })?;
    if !out.status.success() {
        return Err(format!("`{program}` failed ({})", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
