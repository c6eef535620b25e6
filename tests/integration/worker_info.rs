//! What `hq worker list/info` show about a worker's pools, limits and activity, and the
//! worker-level scheduling knobs (`--coupling`, `--min-utilization`).

use crate::utils::{wait_until, HqEnv};

/// The value of a row of a vertical table (`Name | value`, continuation lines kept).
fn row(table: &str, name: &str) -> String {
    let mut lines = table.lines().skip_while(|l| {
        !l.trim_start_matches(['|', ' '])
            .starts_with(&format!("{name} "))
    });
    let Some(first) = lines.next() else {
        return String::new();
    };
    let mut value = vec![first.split('|').nth(2).unwrap_or("").trim().to_string()];
    for l in lines {
        let cells: Vec<&str> = l.split('|').collect();
        if cells.len() < 3 || !cells[1].trim().is_empty() {
            break;
        }
        value.push(cells[2].trim().to_string());
    }
    value.retain(|v| !v.is_empty());
    value.join("\n")
}

#[test]
fn pools_are_listed_by_name_with_group_summaries_smallest_first() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[
        "--cpus",
        "[[0, 1], [2], [10, 11, 12]]",
        "--resource",
        "potato=range(1-12)",
        "--resource",
        "fairy=sum(1000_1000)",
    ]);
    let list = env.ok(&["worker", "list"]);
    assert!(
        list.contains("cpus 1x1 1x2 1x3; fairy 10001000; potato 12"),
        "{list}"
    );
    let info = env.ok(&["worker", "info", "1"]);
    assert_eq!(
        row(&info, "Resources"),
        "cpus: 1x1 1x2 1x3\nfairy: 10001000\npotato: 12"
    );
}

#[test]
fn info_shows_limits_to_the_millisecond_and_what_the_worker_does() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--time-limit", "1h 200ms", "--heartbeat", "2s 500ms"]);
    let info = env.ok(&["worker", "info", "1"]);
    assert_eq!(row(&info, "Time Limit"), "1h 200ms");
    assert_eq!(row(&info, "Heartbeat"), "2s 500ms");
    assert_eq!(row(&info, "Runtime Info"), "assigned tasks: 0");
    assert_eq!(row(&info, "Last task started"), "");
    let job = env.submit(&["--", "bash", "-c", "touch started; sleep 100"]);
    wait_until("the task to start", || env.file("started").exists());
    let info = env.ok(&["worker", "info", "1"]);
    assert_eq!(
        row(&info, "Runtime Info"),
        "assigned tasks: 1; running tasks: 1"
    );
    assert!(
        row(&info, "Last task started").starts_with(&format!("{job}@0; Time: ")),
        "{info}"
    );
}

#[test]
fn multi_node_tasks_show_main_and_secondary_nodes() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.start_worker(&[]);
    env.submit(&[
        "--nodes",
        "2",
        "--",
        "bash",
        "-c",
        "touch started; sleep 100",
    ]);
    wait_until("the task to start", || env.file("started").exists());
    let mut roles: Vec<String> = (1..=2)
        .map(|id| {
            row(
                &env.ok(&["worker", "info", &id.to_string()]),
                "Runtime Info",
            )
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            "running multinode task; main node",
            "running multinode task; secondary node"
        ]
    );
    let json = env
        .run(&["worker", "info", "1-2", "--output-mode", "json"])
        .json();
    let mains: Vec<bool> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            w["runtime_info"]["MultiNodeTask"]["main_node"]
                .as_bool()
                .unwrap()
        })
        .collect();
    assert_eq!(mains.iter().filter(|m| **m).count(), 1);
}

#[test]
fn json_has_the_configuration_the_worker_registered() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--min-utilization", "0.25", "--hostname", "cn7"]);
    let w = &env
        .run(&["worker", "info", "1", "--output-mode", "json"])
        .json()[0];
    let c = &w["configuration"];
    assert_eq!(c["min_utilization"], 0.25);
    // The worker's end of its connection: the hostname and a real port.
    let addr = c["listen_address"].as_str().unwrap();
    let port: u16 = addr.strip_prefix("cn7:").unwrap().parse().unwrap();
    assert_ne!(port, 0);
    assert_eq!(
        c["resources"]["coupling"],
        serde_json::json!({"weights": []})
    );
    assert!(w.get("state").is_none(), "{w}");
    assert_eq!(
        w["runtime_info"],
        serde_json::json!({"SingleNodeTasks": {"assigned_tasks": 0, "running_tasks": 0, "is_reserved": false}})
    );
    let r = env.fails(&["worker", "start", "--cpus", "1", "--min-utilization", "1.5"]);
    assert!(
        r.stderr.contains("not a fraction from 0 to 1"),
        "{}",
        r.stderr
    );
}

#[test]
fn coupling_is_shown_and_keeps_coupled_groups_together() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[
        "--cpus",
        "[[1, 2, 3], [4, 5, 6]]",
        "--resource",
        "foo=[[10, 20, 30, 40], [50, 60, 70, 80]]",
        "--resource",
        "ddd=sum(5)",
        "--coupling",
        "cpus[0]:foo[0],cpus[1]:foo[1]",
    ]);
    let info = env.ok(&["worker", "info", "1"]);
    assert_eq!(
        row(&info, "Resources"),
        "cpus: 2x3 [coupled]\nddd: 5\nfoo: 2x4 [coupled]"
    );
    let json = env
        .run(&["worker", "info", "1", "--output-mode", "json"])
        .json();
    assert_eq!(
        json[0]["configuration"]["resources"]["coupling"]["weights"][1],
        serde_json::json!({"resource1_idx": 0, "group1_idx": 1, "resource2_idx": 2, "group2_idx": 1, "weight": 256})
    );
    let script = "echo $HQ_RESOURCE_VALUES_cpus:$HQ_RESOURCE_VALUES_foo";
    let job = env.submit(&[
        "--array",
        "1-8",
        "--resource",
        "foo=3 compact!",
        "--",
        "bash",
        "-c",
        script,
    ]);
    env.wait_job(job);
    for t in 1..=8 {
        let out = env.read(&format!("job-{job}/{t}.stdout"));
        let (cpu, foos) = out.trim().split_once(':').unwrap();
        let group = |v: &str, per: u32| v.parse::<u32>().unwrap() / per;
        let cpu_group = group(cpu, 4);
        assert!(
            foos.split(',').all(|f| group(f, 50) == cpu_group),
            "task {t}: {out}"
        );
    }
}

#[test]
fn coupling_errors_name_the_problem() {
    let env = HqEnv::with_server();
    let start = |extra: &[&str]| {
        let mut args = vec!["worker", "start", "--no-detect-resources", "--cpus", "2x2"];
        args.extend_from_slice(extra);
        env.fails(&args).stderr
    };
    assert!(start(&["--coupling", "foo[0]:cpus[1]"]).contains("Resource not found: foo"));
    let err = start(&["--resource", "x=[1,2]", "--coupling", "x[0]:cpus[1]"]);
    assert!(
        err.contains("Resource 'x' has only a single group"),
        "{err}"
    );
    let err = start(&["--coupling", "cpus[0]:cpus[2]"]);
    assert!(
        err.contains("Invalid group id 2 for resource 'cpus'"),
        "{err}"
    );
    let err = start(&["--coupling", "cpus[0]-cpus[1]"]);
    assert!(err.contains("has no `:`"), "{err}");
}

#[test]
fn min_utilization_waits_for_a_set_of_tasks_that_fills_the_worker() {
    let mut env = HqEnv::with_server();
    // Three 1-CPU tasks would keep only 3 of 4 CPUs busy.
    let small = env.submit(&["--array", "1-3", "--", "bash", "-c", "sleep 100"]);
    let big = env.submit(&["--cpus", "all", "--", "bash", "-c", "touch big"]);
    env.start_worker(&["--cpus", "4", "--min-utilization", "1"]);
    env.wait_job(big);
    assert!(env.file("big").exists());
    let states: Vec<String> = env.task_states(small).into_iter().map(|(_, s)| s).collect();
    assert_eq!(states, ["waiting", "waiting", "waiting"]);
    // A fourth 1-CPU task makes a set that fills the worker.
    let fourth = env.submit(&["--", "bash", "-c", "sleep 100"]);
    wait_until("the four tasks to run", || {
        env.task_states(small).iter().all(|(_, s)| s == "running")
            && env.task_states(fourth) == [(0, "running".to_string())]
    });
}

#[test]
fn tasks_go_to_the_busy_worker_before_an_idle_one() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4"]);
    let first = env.submit(&["--", "bash", "-c", "touch first; sleep 100"]);
    wait_until("the first task to start", || env.file("first").exists());
    env.start_worker(&["--cpus", "4"]);
    let more = env.submit(&["--array", "1-3", "--", "bash", "-c", "sleep 100"]);
    wait_until("the tasks to start", || {
        env.task_states(more).iter().all(|(_, s)| s == "running")
    });
    let workers = |job: u32| -> Vec<u64> {
        let v = env
            .run(&["task", "list", &job.to_string(), "--output-mode", "json"])
            .json();
        v[job.to_string()]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["worker"].as_u64().unwrap_or(0))
            .collect()
    };
    assert_eq!(workers(first), [1]);
    assert_eq!(workers(more), [1, 1, 1]);
}

#[test]
fn nodes_of_a_multi_node_task_do_not_stop_on_their_idle_timeout_while_it_runs() {
    let mut env = HqEnv::with_server();
    let a = env.start_worker(&["--idle-timeout", "1s", "--heartbeat", "500ms"]);
    let b = env.start_worker(&["--idle-timeout", "1s", "--heartbeat", "500ms"]);
    let job = env.submit(&["--nodes", "2", "--", "bash", "-c", "sleep 3"]);
    env.wait_job(job);
    // Afterwards both time out; neither did while the task ran.
    assert_eq!(env.wait_exit(a), 0);
    assert_eq!(env.wait_exit(b), 0);
    let task = &env
        .run(&["task", "list", &job.to_string(), "--output-mode", "json"])
        .json()[job.to_string()][0];
    assert_eq!(task["state"], "finished");
    let finished = task["finished_at"].as_str().unwrap().to_string();
    let workers = env
        .run(&["worker", "list", "--all", "--output-mode", "json"])
        .json();
    for w in workers.as_array().unwrap() {
        let ended = w["ended"]["at"].as_str().unwrap();
        assert!(
            ended >= finished.as_str(),
            "worker {} ended at {ended}, task at {finished}",
            w["id"]
        );
    }
    assert_eq!(
        env.ok(&["worker", "list", "--all", "--output-mode", "quiet"]),
        "1 IDLE TIMEOUT\n2 IDLE TIMEOUT\n"
    );
}

#[test]
fn an_ended_multi_node_task_still_lists_all_its_nodes() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.start_worker(&[]);
    let job = env.submit(&["--nodes", "2", "--", "bash", "-c", "exit 1"]);
    env.wait_job(job);
    let task = &env
        .run(&["task", "list", &job.to_string(), "--output-mode", "json"])
        .json()[job.to_string()][0];
    assert_eq!(task["state"], "failed");
    let mut nodes: Vec<u64> = task["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(nodes, [1, 2]);
}
