use super::*;

const STAT_1: &str = "cpu  10 0 10 80 0 0 0 0 0 0
cpu0 5 0 5 40 0 0 0 0 0 0
cpu1 5 0 5 40 0 0 0 0 0 0
intr 123
";
const STAT_2: &str = "cpu  10 0 10 80 0 0 0 0 0 0
cpu0 35 0 5 50 0 0 0 0 0 0
cpu1 5 0 5 140 0 0 0 0 0 0
";

#[test]
fn cpu_use_per_core_from_two_samples() {
    let a = parse_proc_stat(STAT_1);
    let b = parse_proc_stat(STAT_2);
    assert_eq!(a.len(), 2);
    assert_eq!(
        a[0],
        CoreTimes {
            busy: 10,
            total: 50
        }
    );
    // core 0: 30 busy of 40; core 1: 0 busy of 100.
    assert_eq!(core_usage(&a, &b), vec![75.0, 0.0]);
    assert_eq!(core_usage(&b, &b), vec![0.0, 0.0]);
}

#[test]
fn memory_prefers_available() {
    let m = parse_memory("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\n");
    assert_eq!(
        m,
        MemoryUsage {
            total: 1_024_000,
            free: 614_400
        }
    );
    assert_eq!(parse_memory("MemTotal: 2 kB\nMemFree: 1 kB\n").free, 1024);
}

#[test]
fn network_skips_loopback() {
    let text = "Inter-|   Receive |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 999 9 0 0 0 0 0 0 999 9 0 0 0 0 0 0
  eth0: 100 2 1 0 0 0 0 0 300 4 2 0 0 0 0 0
  eth1: 10 1 0 0 0 0 0 0 30 1 0 0 0 0 0 0
";
    let n = parse_net_dev(text);
    assert_eq!(
        n,
        NetworkUsage {
            rx_bytes: 110,
            rx_packets: 3,
            rx_errors: 1,
            tx_bytes: 330,
            tx_packets: 5,
            tx_errors: 2
        }
    );
}

#[test]
fn disks_count_whole_devices_only() {
    let text = "   8       0 sda 10 0 4 0 20 0 8 0 0 0 0
   8       1 sda1 10 0 4 0 20 0 8 0 0 0 0
   7       0 loop0 10 0 100 0 20 0 100 0 0 0 0
";
    let d = parse_diskstats(text, &["sda".to_string()]);
    assert_eq!(
        d,
        DiskUsage {
            read_bytes: 2048,
            write_bytes: 4096
        }
    );
}

#[test]
fn nvidia_smi_lines() {
    let gpus =
        parse_nvidia_smi("BUS1, 10.0 %, 100 MiB, 200 MiB\nBUS2, 3 %, 0 MiB, 0 MiB\n").unwrap();
    assert_eq!(gpus.len(), 2);
    assert_eq!(gpus[0].id, "BUS1");
    assert_eq!(gpus[0].processor_usage, 10.0);
    assert_eq!(gpus[0].mem_usage, 50.0);
    assert_eq!(gpus[1].mem_usage, 0.0);
    let err = parse_nvidia_smi("garbage").unwrap_err();
    assert!(err.contains("garbage"), "{err}");
}

#[test]
fn rocm_smi_json() {
    let text = r#"{"card1": {"GPU use (%)": "12.5", "GPU memory use (%)": "64.0", "PCI Bus": "B2"},
                   "card0": {"GPU use (%)": "1.5", "GPU memory use (%)": "12.5", "PCI Bus": "B1"},
                   "system": {}}"#;
    let gpus = parse_rocm_smi(text).unwrap();
    assert_eq!(gpus.len(), 2);
    assert_eq!((gpus[0].id.as_str(), gpus[0].processor_usage), ("B1", 1.5));
    assert_eq!((gpus[1].id.as_str(), gpus[1].mem_usage), ("B2", 64.0));
    assert!(parse_rocm_smi("not json").is_err());
}

#[test]
fn collector_reads_a_fixture_tree() {
    let root = tempfile::tempdir().unwrap();
    let put = |rel: &str, text: &str| {
        let p = root.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put("proc/stat", STAT_1);
    put("proc/meminfo", "MemTotal: 4 kB\nMemAvailable: 1 kB\n");
    put(
        "proc/net/dev",
        "h\nh\n eth0: 100 1 0 0 0 0 0 0 50 1 0 0 0 0 0 0\n",
    );
    put("proc/diskstats", "8 0 sda 1 0 2 0 1 0 2 0 0 0 0\n");
    std::fs::create_dir_all(root.path().join("sys/block/sda")).unwrap();
    std::fs::create_dir_all(root.path().join("sys/block/loop0")).unwrap();
    let mut c = Collector::new(root.path(), GpuKinds::default());
    let first = c.sample(7);
    assert_eq!(first.timestamp, 7);
    assert_eq!(first.cpu_usage.cpu_per_core_percent_usage, vec![0.0, 0.0]);
    assert_eq!(first.disk_usage.read_bytes, 1024);
    put("proc/stat", STAT_2);
    put(
        "proc/net/dev",
        "h\nh\n eth0: 1100 1 0 0 0 0 0 0 50 1 0 0 0 0 0 0\n",
    );
    let second = c.sample(8);
    assert_eq!(second.cpu_usage.cpu_per_core_percent_usage, vec![75.0, 0.0]);
    assert_eq!(second.memory_usage.total, 4096);
    assert!(second.rates.net_rx_bytes_per_s > 0.0);
    assert_eq!(second.rates.net_tx_bytes_per_s, 0.0);
    assert!(second.nvidia_gpus.is_none() && second.amd_gpus.is_none());
    assert_eq!(second.gpu_note.as_deref(), Some("the worker has no GPUs"));
}
