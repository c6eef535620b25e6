use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Each variant as `name=request` strings, e.g. `["cpus=1 compact", "gpus=1 compact"]`.
fn shape(v: &ResourceRequestVariants) -> Vec<Vec<String>> {
    v.variants
        .iter()
        .map(|r| {
            r.resources
                .iter()
                .map(|e| format!("{}={}", e.resource, e.request))
                .collect()
        })
        .collect()
}

#[test]
fn default_is_one_cpu() {
    let v = variants_from_cli(None, &[], 0, 0).unwrap();
    assert_eq!(
        v,
        ResourceRequestVariants::single(ResourceRequest::default_cpu())
    );
}

#[test]
fn cpu_range_gives_two_variants_larger_first() {
    let v = variants_from_cli(Some("2-8"), &[], 60, 0).unwrap();
    assert_eq!(
        shape(&v),
        vec![vec!["cpus=8 compact"], vec!["cpus=2 compact"]]
    );
    assert!(v.variants.iter().all(|r| r.min_time_secs == 60));
    let v = variants_from_cli(Some("2-8 compact!"), &[], 0, 0).unwrap();
    assert_eq!(
        shape(&v),
        vec![vec!["cpus=8 compact!"], vec!["cpus=2 compact!"]]
    );
    let v = variants_from_cli(Some("4-4"), &[], 0, 0).unwrap();
    assert_eq!(shape(&v), vec![vec!["cpus=4 compact"]]);
    assert!(variants_from_cli(Some("8-2"), &[], 0, 0)
        .unwrap_err()
        .to_string()
        .contains("`2-8`"));
    assert!(variants_from_cli(Some("a-b"), &[], 0, 0).is_err());
    assert_eq!(
        variants_from_cli(Some("0-2"), &[], 0, 0).map_err(|e| e.root().clone()),
        Err(ResourceError::ZeroAmount)
    );
}

#[test]
fn plain_cpus_and_resources_combine() {
    let v = variants_from_cli(Some("4 scatter"), &strings(&["gpus=1", "mem=100"]), 0, 0).unwrap();
    assert_eq!(
        shape(&v),
        vec![vec!["cpus=4 scatter", "gpus=1 compact", "mem=100 compact"]]
    );
    let v = variants_from_cli(None, &strings(&["gpus/nvidia=0.5"]), 0, 0).unwrap();
    assert_eq!(
        shape(&v),
        vec![vec!["cpus=1 compact", "gpus/nvidia=0.5 compact"]]
    );
}

#[test]
fn repeated_names_start_new_variants() {
    let flags = strings(&["cpus=4", "cpus=1", "gpus=1"]);
    let v = variants_from_cli(None, &flags, 0, 0).unwrap();
    assert_eq!(
        shape(&v),
        vec![
            vec!["cpus=4 compact"],
            vec!["cpus=1 compact", "gpus=1 compact"]
        ]
    );
    let flags = strings(&["gpus=2", "gpus=1"]);
    let v = variants_from_cli(None, &flags, 0, 0).unwrap();
    assert_eq!(
        shape(&v),
        vec![
            vec!["cpus=1 compact", "gpus=2 compact"],
            vec!["cpus=1 compact", "gpus=1 compact"]
        ]
    );
    let v = variants_from_cli(Some("2-4"), &flags, 0, 0).unwrap();
    assert_eq!(v.variants.len(), 4);
    assert_eq!(shape(&v)[1], vec!["cpus=2 compact", "gpus=2 compact"]);
}

#[test]
fn cli_errors() {
    assert_eq!(
        variants_from_cli(Some("2"), &strings(&["cpus=2"]), 0, 0),
        Err(ResourceError::CpusGivenTwice)
    );
    assert!(variants_from_cli(None, &strings(&["gpus"]), 0, 0)
        .unwrap_err()
        .to_string()
        .contains("NAME=AMOUNT"));
    assert_eq!(
        variants_from_cli(None, &strings(&["gpus=0"]), 0, 0),
        Err(ResourceError::ZeroAmount.in_flag("--resource", "gpus=0"))
    );
    assert_eq!(
        variants_from_cli(None, &strings(&["1x=1"]), 0, 0).map_err(|e| e.root().clone()),
        Err(ResourceError::InvalidName("1x".into()))
    );
    let many: Vec<String> = (1..=33).map(|i| format!("x={i}")).collect();
    assert!(variants_from_cli(None, &many, 0, 0)
        .unwrap_err()
        .to_string()
        .contains("at most 32"));
}

#[test]
fn multi_node() {
    let v = variants_from_cli(None, &[], 30, 3).unwrap();
    assert!(v.is_multi_node());
    assert_eq!(v.variants[0].n_nodes, 3);
    assert_eq!(v.variants[0].min_time_secs, 30);
    assert!(v.variants[0].resources.is_empty());
    assert!(variants_from_cli(Some("2"), &[], 0, 2).is_err());
    assert!(variants_from_cli(None, &strings(&["gpus=1"]), 0, 2).is_err());
}

#[test]
fn worker_pools() {
    let pools =
        worker_pools_from_cli(Some("2x4"), &strings(&["gpus=[0,1]", "mem=sum(100)"])).unwrap();
    assert_eq!(
        pools.descriptor.summary(),
        "cpus 2x4; gpus 2; mem 100.00 MiB"
    );
    assert!(!pools.no_hyper_threading);
    let pools = worker_pools_from_cli(Some("no-ht"), &[]).unwrap();
    assert!(pools.no_hyper_threading && pools.descriptor.resources.is_empty());
    assert_eq!(
        worker_pools_from_cli(Some("4"), &strings(&["cpus=[0]"])),
        Err(ResourceError::CpusGivenTwice)
    );
    assert_eq!(
        worker_pools_from_cli(None, &strings(&["a=[0]", "a=[1]"]))
            .unwrap_err()
            .to_string(),
        "invalid value `a=[1]` for `--resource`: Resource a defined twice"
    );
    assert_eq!(
        worker_pools_from_cli(None, &strings(&["cpus=sum(2)"])).map_err(|e| e.root().clone()),
        Err(ResourceError::SumForCpus)
    );
    let pools = worker_pools_from_cli(None, &strings(&["cpus=[1,2]"])).unwrap();
    assert_eq!(pools.descriptor.resources[0].name, "cpus");
}

#[test]
fn merging_with_detection() {
    let user = worker_pools_from_cli(None, &strings(&["gpus/nvidia=[7]"]))
        .unwrap()
        .descriptor;
    let detected =
        worker_pools_from_cli(Some("4"), &strings(&["gpus/nvidia=[0,1]", "mem=sum(1000)"]))
            .unwrap()
            .descriptor;
    let merged = merge_worker_descriptor(user.clone(), detected).unwrap();
    assert_eq!(merged.summary(), "cpus 4; gpus/nvidia 1; mem 0.98 GiB");
    assert_eq!(
        merge_worker_descriptor(user, ResourceDescriptor::default()),
        Err(ResourceError::CpusRequired)
    );
    // Ordered by name, whatever the order of the flags.
    let user = worker_pools_from_cli(Some("2"), &strings(&["zz=[1]", "b=sum(3)", "a=[1,2]"]))
        .unwrap()
        .descriptor;
    let merged = merge_worker_descriptor(user.clone(), ResourceDescriptor::default()).unwrap();
    assert_eq!(merged.summary(), "a 2; b 3; cpus 2; zz 1");
}
