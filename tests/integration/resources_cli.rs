//! Resource flags on the command line: `hq worker hwdetect`, pool forms of `hq worker start`
//! as `hq worker info` reports them, and clear usage errors for malformed resource strings.

use crate::utils::HqEnv;

#[test]
fn hwdetect_text_and_json_list_cpus_first() {
    let env = HqEnv::new();
    // Only the structure: the host's values are not asserted.
    let text = env.ok(&["worker", "hwdetect"]);
    let (summary, full) = text
        .split_once("\n\nFull Description:\n")
        .unwrap_or_else(|| panic!("no Full Description section: {text}"));
    let summary = summary.strip_prefix("Summary:\n").expect(&text);
    assert!(summary.starts_with("cpus: "), "{text}");
    assert!(full.starts_with("cpus: ["), "{text}");
    assert_eq!(summary.lines().count(), full.lines().count(), "{text}");
    let v = env
        .run(&["worker", "hwdetect", "--output-mode", "json"])
        .json();
    let resources = v["resources"].as_array().expect("resources array");
    assert_eq!(resources[0]["name"], "cpus", "{v}");
    assert!(
        ["range", "list", "groups"].contains(&resources[0]["kind"].as_str().unwrap()),
        "{v}"
    );
    assert_eq!(v["coupling"]["weights"], serde_json::json!([]));
    assert_eq!(resources.len(), summary.lines().count());
    let r = env.run(&["worker", "hwdetect", "--no-hyper-threading"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Summary:\ncpus: "), "{}", r.stdout);
}

#[test]
fn worker_pool_forms_are_reported_by_worker_info() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[
        "--cpus",
        "[[0-3],[4-7]]",
        "--resource",
        "gpus/nvidia=[0,1]",
        "--resource",
        "mem=sum(2048)",
        "--resource",
        "x=range(1-3)",
        "--resource",
        "y=list(a,b)",
        "--resource",
        "z=2x3",
    ]);
    env.start_worker(&["--cpus", "2x3", "--resource", "fpga=[\"a b\", \"x,y\"]"]);
    let info = env.ok(&["worker", "info", "1"]);
    for line in [
        "cpus: 2x4",
        "gpus/nvidia: 2",
        "mem: 2.00 GiB",
        "x: 3",
        "y: 2",
        "z: 2x3",
    ] {
        assert!(info.contains(line), "no `{line}` in:\n{info}");
    }
    let v = env
        .run(&["worker", "info", "1-2", "--output-mode", "json"])
        .json();
    let pools = |w: usize| v[w]["configuration"]["resources"]["resources"].clone();
    let p = pools(0);
    assert_eq!(p[0]["name"], "cpus");
    assert_eq!(p[0]["kind"], "groups");
    assert_eq!(
        p[0]["groups"],
        serde_json::json!([["0", "1", "2", "3"], ["4", "5", "6", "7"]])
    );
    assert_eq!(p[1]["name"], "gpus/nvidia");
    assert_eq!(p[1]["values"], serde_json::json!(["0", "1"]));
    assert_eq!(p[2]["kind"], "sum");
    assert_eq!(p[3]["kind"], "range");
    assert_eq!(p[4]["values"], serde_json::json!(["a", "b"]));
    let p = pools(1);
    assert_eq!(
        p[0]["groups"],
        serde_json::json!([["0", "1", "2"], ["3", "4", "5"]])
    );
    assert_eq!(p[1]["values"], serde_json::json!(["a b", "x,y"]));
    let list = env.ok(&["worker", "list"]);
    assert!(list.contains("cpus 2x3"), "{list}");
}

fn assert_usage_error(env: &HqEnv, args: &[&str], flag: &str, detail: &str) {
    let r = env.fails(args);
    assert_eq!(r.code, 2, "`hq {}`: {}", args.join(" "), r.stderr);
    assert!(
        r.stderr.contains(flag) && r.stderr.contains(detail),
        "`hq {}` should name `{flag}` and say `{detail}`: {}",
        args.join(" "),
        r.stderr
    );
}

#[test]
fn malformed_worker_pools_are_usage_errors_naming_the_flag() {
    let env = HqEnv::with_server();
    fn start<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["worker", "start", "--no-detect-resources"];
        args.extend_from_slice(extra);
        args
    }
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--cpus", "[[0,1],[]]"], "--cpus", "[[0,1],[]]"),
        (&["--cpus", "abc"], "--cpus", "abc"),
        (
            &["--cpus", "sum(4)"],
            "--cpus",
            "Resource kind `sum` cannot be used with CPUs",
        ),
        (
            &["--cpus", "2", "--resource", "gpus=[0,0]"],
            "--resource",
            "gpus=[0,0]",
        ),
        (&["--cpus", "2", "--resource", "gpus"], "--resource", "gpus"),
        (
            &["--cpus", "2", "--resource", "x=sum(abc)"],
            "--resource",
            "sum(abc)",
        ),
        (&["--cpus", "2", "--resource", "1x=[0]"], "--resource", "1x"),
        (
            &["--cpus", "2", "--resource", "x=range(5-1)"],
            "--resource",
            "range(5-1)",
        ),
        (
            &["--cpus", "2", "--resource", "g=[0]", "--resource", "g=[1]"],
            "--resource",
            "Resource g defined twice",
        ),
        (
            &["--cpus", "2", "--resource", "cpus=4"],
            "--cpus",
            "--resource cpus=",
        ),
    ];
    for (extra, flag, detail) in cases {
        assert_usage_error(&env, &start(extra), flag, detail);
    }
    assert_eq!(env.worker_count(), 0);
}

#[test]
fn malformed_requests_are_usage_errors_naming_the_flag() {
    let env = HqEnv::with_server();
    fn submit<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["submit"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "true"]);
        args
    }
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--cpus", "abc"], "--cpus", "abc"),
        (
            &["--cpus", "0"],
            "--cpus",
            "Zero resources cannot be requested",
        ),
        (&["--cpus", "2 loose"], "--cpus", "loose"),
        (&["--cpus", "8-2"], "--cpus", "8-2"),
        (&["--resource", "gpus"], "--resource", "gpus"),
        (
            &["--resource", "gpus=0"],
            "--resource",
            "Zero resources cannot be requested",
        ),
        (
            &["--resource", "gpus=0.00001"],
            "--resource",
            "Resource precision exceeded",
        ),
        (&["--resource", "gpus=x"], "--resource", "`x`"),
        (&["--resource", "9gpus=1"], "--resource", "9gpus"),
        (
            &["--cpus", "2", "--resource", "cpus=1"],
            "--cpus",
            "--resource",
        ),
        (&["--nodes", "2", "--cpus", "2"], "--nodes", "--cpus"),
        (
            &["--nodes", "2", "--resource", "gpus=1"],
            "--nodes",
            "--resource",
        ),
        (&["--pin=numa"], "--pin", "numa"),
    ];
    for (extra, flag, detail) in cases {
        assert_usage_error(&env, &submit(extra), flag, detail);
    }
    let jobs = env.run(&["job", "list", "--output-mode", "json"]).json();
    assert_eq!(jobs, serde_json::json!([]));
}
