use super::*;
use std::collections::HashMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hwdetect")
        .join(name)
}

fn run(
    name: &str,
    env: &[(&str, &str)],
    no_ht: bool,
    kinds: DetectKinds,
    affinity: Option<&[u32]>,
) -> (ResourceDescriptor, Vec<String>) {
    let vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    detect(
        &fixture(name),
        &|k| vars.get(k).cloned(),
        no_ht,
        &kinds,
        affinity,
    )
}

fn full(desc: &ResourceDescriptor, name: &str) -> Option<String> {
    desc.get(name).map(|k| k.full_description())
}

#[test]
fn cpu_lists() {
    assert_eq!(
        parse_cpu_list("0-3,8,10-11\n").unwrap(),
        vec![0, 1, 2, 3, 8, 10, 11]
    );
    assert_eq!(parse_cpu_list("0-6:2").unwrap(), vec![0, 2, 4, 6]);
    assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<u32>::new());
    assert_eq!(parse_cpu_list("3,1").unwrap(), vec![1, 3]);
    assert!(parse_cpu_list("3-1").is_err());
    let err = parse_cpu_list("x").unwrap_err().to_string();
    assert!(err.contains("`x`"), "{err}");
}

#[test]
fn hyper_thread_siblings() {
    assert!(is_first_thread(0, &[0, 8]));
    assert!(!is_first_thread(8, &[0, 8]));
    assert!(is_first_thread(5, &[]));
}

#[test]
fn meminfo_and_slurm() {
    let mem = parse_meminfo("MemTotal:       65756467 kB\nMemFree: 1 kB\n").unwrap();
    assert_eq!(mem.to_string(), "64215.2998");
    assert_eq!(
        parse_meminfo("MemTotal: 1024 kB").unwrap(),
        ResourceAmount::ONE
    );
    assert_eq!(
        parse_meminfo("MemFree: 1 kB"),
        Err(HwDetectError::NoMemTotal)
    );
    assert!(parse_meminfo("MemTotal: lots").is_err());
    assert_eq!(
        parse_slurm_mem("64000").unwrap(),
        ResourceAmount::whole(64000)
    );
    assert_eq!(parse_slurm_mem("2G").unwrap(), ResourceAmount::whole(2048));
    assert_eq!(parse_slurm_mem("512K").unwrap(), ResourceAmount(5000));
    assert!(parse_slurm_mem("a lot").is_err());
}

#[test]
fn visible_devices() {
    assert_eq!(
        parse_visible_devices("CUDA_VISIBLE_DEVICES", "0, 2").unwrap(),
        Some(vec!["0".to_string(), "2".to_string()])
    );
    assert_eq!(
        parse_visible_devices("X", "GPU-8c1c5b2e-aa,GPU-77").unwrap(),
        Some(vec!["GPU-8c1c5b2e-aa".to_string(), "GPU-77".to_string()])
    );
    assert_eq!(parse_visible_devices("X", "").unwrap(), None);
    let warning = parse_visible_devices("CUDA_VISIBLE_DEVICES", "0,1,0").unwrap_err();
    assert!(warning.contains("CUDA_VISIBLE_DEVICES contains duplicates (0,1,0)"));
}

#[test]
fn detect_kinds() {
    assert_eq!(DetectKinds::parse("all").unwrap(), DetectKinds::all());
    assert_eq!(DetectKinds::parse("none").unwrap(), DetectKinds::none());
    let k = DetectKinds::parse("cpus, gpus/amd").unwrap();
    assert!(k.cpus && k.gpus_amd && !k.gpus_nvidia && !k.mem);
    assert!(DetectKinds::parse("disks")
        .unwrap_err()
        .to_string()
        .contains("`disks`"));
    let mut user = ResourceDescriptor::default();
    user.add(
        "mem",
        ResourceDescriptorKind::Sum {
            size: ResourceAmount::ONE,
        },
    )
    .unwrap();
    let k = DetectKinds::all().without_defined(&user);
    assert!(k.cpus && !k.mem);
}

#[test]
fn two_numa_nodes_with_gpus_and_memory() {
    let (desc, warnings) = run("two-numa-ht", &[], false, DetectKinds::all(), None);
    assert!(warnings.is_empty(), "{warnings:?}");
    let names: Vec<&str> = desc.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["cpus", "gpus/nvidia", "mem"]);
    assert_eq!(
        full(&desc, "cpus").unwrap(),
        "[[0,1,2,3,8,9,10,11],[4,5,6,7,12,13,14,15]]"
    );
    assert_eq!(desc.summary(), "cpus 2x8; gpus/nvidia 2; mem 62.71 GiB");
    assert_eq!(
        format_hwdetect(&desc),
        "Summary:\ncpus: 2x8\ngpus/nvidia: 2\nmem: 62.71 GiB\n\nFull Description:\n\
         cpus: [[0,1,2,3,8,9,10,11],[4,5,6,7,12,13,14,15]]\ngpus/nvidia: [0,1]\n\
         mem: sum(64215.2998)\n"
    );
}

#[test]
fn no_hyper_threading_keeps_first_siblings() {
    let (desc, _) = run("two-numa-ht", &[], true, DetectKinds::all(), None);
    assert_eq!(full(&desc, "cpus").unwrap(), "[[0,1,2,3],[4,5,6,7]]");
}

#[test]
fn affinity_removes_cpus_and_empty_nodes() {
    let mask: Vec<u32> = vec![0, 1, 8, 9];
    let (desc, warnings) = run("two-numa-ht", &[], false, DetectKinds::all(), Some(&mask));
    assert_eq!(full(&desc, "cpus").unwrap(), "[0,1,8,9]");
    assert_eq!(
        warnings,
        vec!["CPUs 2-7,10-15 are outside the process affinity mask and are not used"]
    );
}

#[test]
fn gpus_from_environment() {
    let env = [
        ("CUDA_VISIBLE_DEVICES", "3,1"),
        ("ROCR_VISIBLE_DEVICES", "0"),
    ];
    let (desc, _) = run("two-numa-ht", &env, false, DetectKinds::all(), None);
    assert_eq!(full(&desc, "gpus/nvidia").unwrap(), "[3,1]");
    assert_eq!(full(&desc, "gpus/amd").unwrap(), "[0]");
    let names: Vec<&str> = desc.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["cpus", "gpus/nvidia", "gpus/amd", "mem"]);

    // A list with duplicates is ignored with a warning; procfs is counted instead.
    let env = [("CUDA_VISIBLE_DEVICES", "0,0")];
    let (desc, warnings) = run("two-numa-ht", &env, false, DetectKinds::all(), None);
    assert_eq!(full(&desc, "gpus/nvidia").unwrap(), "[0,1]");
    assert_eq!(warnings.len(), 1);

    // An AMD list counts as a GPU list taken from the environment: no procfs fallback.
    let env = [("ROCR_VISIBLE_DEVICES", "0")];
    let (desc, _) = run("two-numa-ht", &env, false, DetectKinds::all(), None);
    assert!(desc.get("gpus/nvidia").is_none());

    // Hidden on purpose.
    let env = [("CUDA_VISIBLE_DEVICES", "")];
    let (desc, _) = run("two-numa-ht", &env, false, DetectKinds::all(), None);
    assert!(desc.get("gpus/nvidia").is_none());
}

#[test]
fn only_enabled_kinds() {
    let kinds = DetectKinds::parse("mem").unwrap();
    let env = [
        ("CUDA_VISIBLE_DEVICES", "0"),
        ("SLURM_MEM_PER_NODE", "4000"),
    ];
    let (desc, _) = run("two-numa-ht", &env, false, kinds, None);
    assert_eq!(desc.summary(), "mem 3.91 GiB");
    let (desc, _) = run("two-numa-ht", &[], false, DetectKinds::none(), None);
    assert!(desc.resources.is_empty());
}

#[test]
fn fallback_without_numa_information() {
    let mask: Vec<u32> = vec![2, 3, 5];
    let (desc, warnings) = run("flat", &[], false, DetectKinds::all(), Some(&mask));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(full(&desc, "cpus").unwrap(), "[2,3,5]");
    assert_eq!(desc.summary(), "cpus 3; mem 256.00 MiB");
}

#[test]
fn sparse_and_missing_nodes() {
    let (desc, warnings) = run("sparse-nodes", &[], true, DetectKinds::all(), None);
    assert_eq!(full(&desc, "cpus").unwrap(), "[[0,1],[2,3]]");
    assert!(desc.get("mem").is_none());
    assert!(desc.get("gpus/nvidia").is_none());
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("thread_siblings_list"));
    assert!(warnings[1].starts_with("memory was not detected"));
}
