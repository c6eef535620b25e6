//! Worker hardware reports (`--overview-interval`): in `hq worker info`, in the event stream,
//! and GPU state from the vendor tools.

use crate::utils::*;
use std::time::{Duration, Instant};

fn overview(env: &HqEnv) -> serde_json::Value {
    env.run(&["worker", "info", "1", "--output-mode", "json"])
        .json()[0]["overview"]
        .clone()
}

#[test]
fn worker_info_shows_cpu_and_memory_within_two_intervals() {
    let mut env = HqEnv::with_server();
    let interval = Duration::from_secs(1);
    env.start_worker(&["--overview-interval", "1s"]);
    let registered = Instant::now();
    let mut state = serde_json::Value::Null;
    while state.is_null() {
        assert!(
            registered.elapsed() < 2 * interval,
            "no hardware report after two intervals"
        );
        std::thread::sleep(Duration::from_millis(50));
        state = overview(&env)["state"].clone();
    }
    let cores = state["cpu_usage"]["cpu_per_core_percent_usage"]
        .as_array()
        .unwrap();
    assert!(!cores.is_empty(), "{state}");
    assert!(cores.iter().all(|c| c.is_f64()));
    assert!(state["memory_usage"]["total"].as_u64().unwrap() > 0);
    assert!(state["memory_usage"]["free"].as_u64().unwrap() > 0);
    assert!(state["network_usage"]["rx_bytes"].is_u64());
    assert!(state["nvidia_gpus"].is_null());
    assert_eq!(state["gpu_note"], "the worker has no GPUs");
    let info = env.ok(&["worker", "info", "1"]);
    assert!(info.contains("Overview interval"), "{info}");
    assert!(info.contains("CPU: "), "{info}");
    assert!(info.contains("the worker has no GPUs"), "{info}");
}

/// The first report does not wait for the interval: a worker reporting hourly shows its state
/// soon after it starts (the README tour's `hq worker info` relies on this).
#[test]
fn the_first_report_comes_long_before_the_interval() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--overview-interval", "1h"]);
    let registered = Instant::now();
    while overview(&env)["state"].is_null() {
        assert!(
            registered.elapsed() < Duration::from_secs(60),
            "no hardware report a minute after the worker started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn without_overview_interval_there_is_no_report() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--overview-interval", "0s"]);
    let info = env
        .run(&["worker", "info", "1", "--output-mode", "json"])
        .json();
    assert!(info[0]["overview"].is_null());
    assert!(info[0]["configuration"]["overview_interval"].is_null());
}

#[test]
fn gpu_state_from_nvidia_smi_and_rocm_smi() {
    let mut env = HqEnv::with_server();
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tool = |name: &str, body: &str| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    tool("nvidia-smi", "echo 'BUS1, 10.0 %, 100 MiB, 200 MiB'");
    tool(
        "rocm-smi",
        r#"echo '{"card0": {"GPU use (%)": "1.5", "GPU memory use (%)": "12.5", "PCI Bus": "AMD1"}}'"#,
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    env.start_worker_env(
        &[
            "--overview-interval",
            "100ms",
            "--resource",
            "gpus/nvidia=[0]",
            "--resource",
            "gpus/amd=[0]",
        ],
        &[("PATH", path)],
    );
    let mut state = serde_json::Value::Null;
    wait_until("a hardware report", || {
        state = overview(&env)["state"].clone();
        !state.is_null()
    });
    // NVML is not installed here, so the worker falls back to nvidia-smi.
    let nvidia = &state["nvidia_gpus"]["gpus"][0];
    assert_eq!(nvidia["id"], "BUS1");
    assert_eq!(nvidia["processor_usage"], 10.0);
    assert_eq!(nvidia["mem_usage"], 50.0);
    let amd = &state["amd_gpus"]["gpus"][0];
    assert_eq!(amd["id"], "AMD1");
    assert_eq!(amd["mem_usage"], 12.5);
    assert!(state["gpu_note"].is_null(), "{state}");
}

#[test]
fn reports_are_in_the_event_stream() {
    let mut env = HqEnv::new();
    env.start_server(&["--journal", "j.bin"]);
    env.start_worker(&["--overview-interval", "50ms"]);
    wait_until("a hardware report", || !overview(&env).is_null());
    env.ok(&["worker", "stop", "1"]);
    let replay = env.ok(&["journal", "replay"]);
    let event = replay
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"]["type"] == "worker-overview")
        .expect("a worker-overview event");
    assert_eq!(event["event"]["id"], 1);
    assert!(event["event"]["hw-state"]["state"]["timestamp"].is_u64());
}
