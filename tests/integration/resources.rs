//! The resource model end to end (resources.md, tasks.md): NUMA policies, fractional GPUs,
//! variants, time requests, multi-node tasks, pinning, and `hq task explain` for tasks that
//! wait. Tasks report what they got by writing files; tests poll those files and task states.

use crate::utils::{wait_until, HqEnv};

/// A task body that records `$WHAT` in `started-<task id>` and then waits for `release`.
fn hold(what: &str) -> String {
    format!(
        "echo \"{what}\" > started-$HQ_TASK_ID.tmp && mv started-$HQ_TASK_ID.tmp \
         started-$HQ_TASK_ID; while [ ! -f release ]; do sleep 0.05; done"
    )
}

fn states(env: &HqEnv, job: u32) -> Vec<String> {
    env.task_states(job).into_iter().map(|(_, s)| s).collect()
}

fn count(states: &[String], state: &str) -> usize {
    states.iter().filter(|s| *s == state).count()
}

/// Runs one task writing `$HQ_CPUS` and returns it.
fn cpus_of(env: &HqEnv, request: &str) -> String {
    let job = env.submit(&[
        "--cpus",
        request,
        "--",
        "bash",
        "-c",
        "echo -n $HQ_CPUS > cpus-$HQ_JOB_ID",
    ]);
    env.wait_job(job);
    assert_eq!(states(env, job), ["finished"], "`--cpus {request}`");
    env.read(&format!("cpus-{job}"))
}

/// Allowed CPUs of this process (`Cpus_allowed_list`), so pinning tests only name real CPUs.
fn allowed_cpus() -> Vec<u32> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap();
    let mut out = Vec::new();
    for item in line.trim().split(',') {
        match item.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<u32>().unwrap()..=b.parse().unwrap()),
            None => out.push(item.parse().unwrap()),
        }
    }
    out
}

#[test]
fn numa_policies_choose_the_expected_cpus() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "[[0-3],[4-7]]"]);
    // One group suffices: the whole first group.
    assert_eq!(cpus_of(&env, "4 compact"), "0,1,2,3");
    assert_eq!(cpus_of(&env, "4"), "0,1,2,3");
    // Two groups needed: evenly (compact), largest first (tight), spread (scatter).
    assert_eq!(cpus_of(&env, "6 compact"), "0,1,2,4,5,6");
    assert_eq!(cpus_of(&env, "6 tight"), "0,1,2,3,4,5");
    assert_eq!(cpus_of(&env, "4 scatter"), "0,1,4,5");
    assert_eq!(cpus_of(&env, "2 scatter"), "0,4");
    assert_eq!(cpus_of(&env, "4 compact!"), "0,1,2,3");
    assert_eq!(cpus_of(&env, "all"), "0,1,2,3,4,5,6,7");
}

#[test]
fn strict_compact_waits_for_one_whole_group() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "[[0-3],[4-7]]"]);
    // Hold one CPU of each group.
    let holder = env.submit(&["--cpus", "2 scatter", "--", "bash", "-c", &hold("$HQ_CPUS")]);
    wait_until("the holder to start", || env.file("started-0").exists());
    assert_eq!(env.read("started-0"), "0,4\n");
    let strict = env.submit(&[
        "--cpus",
        "4 compact!",
        "--",
        "bash",
        "-c",
        "echo -n $HQ_CPUS > strict",
    ]);
    // The non-strict request fits now, over both groups; the strict one must wait.
    let loose = env.submit(&[
        "--cpus",
        "4 compact",
        "--",
        "bash",
        "-c",
        "echo -n $HQ_CPUS > loose",
    ]);
    env.wait_job(loose);
    assert_eq!(env.read("loose"), "1,2,5,6");
    assert_eq!(states(&env, strict), ["waiting"]);
    std::fs::write(env.file("release"), "").unwrap();
    env.wait_job(holder);
    env.wait_job(strict);
    assert_eq!(env.read("strict"), "0,1,2,3");
}

#[test]
fn fractional_gpus_share_an_id_and_a_third_share_waits() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "8", "--resource", "gpus/nvidia=[0,1]"]);
    let job = env.submit(&[
        "--array",
        "0-4",
        "--resource",
        "gpus/nvidia=0.5",
        "--",
        "bash",
        "-c",
        &hold(
            "$CUDA_VISIBLE_DEVICES $HQ_RESOURCE_VALUES_gpus_nvidia \
             $HQ_RESOURCE_REQUEST_gpus_nvidia/$CUDA_DEVICE_ORDER",
        ),
    ]);
    let started = |env: &HqEnv| {
        (0..5)
            .filter(|t| env.file(&format!("started-{t}")).exists())
            .collect::<Vec<_>>()
    };
    wait_until("four tasks to start", || started(&env).len() == 4);
    // Two halves per GPU fill both; the fifth task stays waiting while they run.
    let s = states(&env, job);
    assert_eq!(count(&s, "running"), 4, "{s:?}");
    assert_eq!(count(&s, "waiting"), 1, "{s:?}");
    let mut per_gpu = [0, 0];
    for t in started(&env) {
        let line = env.read(&format!("started-{t}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 4, "{line}");
        assert_eq!(words[0], words[1], "CUDA_VISIBLE_DEVICES = values: {line}");
        assert_eq!(words[2], "0.5");
        assert_eq!(words[3], "compact/PCI_BUS_ID");
        per_gpu[words[0].parse::<usize>().unwrap()] += 1;
    }
    assert_eq!(per_gpu, [2, 2]);
    std::fs::write(env.file("release"), "").unwrap();
    env.wait_job(job);
    assert_eq!(count(&states(&env, job), "finished"), 5);
}

#[test]
fn variants_pick_the_first_that_fits_and_fall_back() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4", "--resource", "gpus=[0]"]);
    // Repeated same-name `--resource` flags: {cpus=1, gpus=1} or {cpus=2}.
    let job = env.submit(&[
        "--array",
        "0-2",
        "--resource",
        "cpus=1",
        "--resource",
        "gpus=1",
        "--resource",
        "cpus=2",
        "--",
        "bash",
        "-c",
        &hold("$HQ_RESOURCE_VARIANT ${HQ_RESOURCE_VALUES_gpus-none} $HQ_CPUS"),
    ]);
    wait_until("two tasks to start", || {
        env.file("started-0").exists() && env.file("started-1").exists()
    });
    let first: Vec<String> = env
        .read("started-0")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(first[..2], ["0", "0"], "first variant with the GPU");
    assert_eq!(first[2].split(',').count(), 1);
    let second: Vec<String> = env
        .read("started-1")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(second[..2], ["1", "none"], "fallback to the CPU variant");
    assert_eq!(second[2].split(',').count(), 2);
    // One CPU is left: neither variant fits the third task.
    assert_eq!(states(&env, job)[2], "waiting");
    let info = env.ok(&["task", "info", &job.to_string(), "2"]);
    assert!(
        info.contains("# Variant 1") && info.contains("# Variant 2"),
        "{info}"
    );
    std::fs::write(env.file("release"), "").unwrap();
    env.wait_job(job);
    assert_eq!(count(&states(&env, job), "finished"), 3);
}

#[test]
fn cpu_range_request_takes_the_larger_count_when_free() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "8"]);
    let script = "echo \"$HQ_RESOURCE_VARIANT $HQ_CPUS\" > range-$HQ_JOB_ID";
    let job = env.submit(&["--cpus", "2-8", "--", "bash", "-c", script]);
    env.wait_job(job);
    assert_eq!(env.read("range-1"), "0 0,1,2,3,4,5,6,7\n");
    // With one CPU busy, 8 does not fit: the second variant gives 2.
    let holder = env.submit(&["--", "bash", "-c", &hold("$HQ_CPUS")]);
    wait_until("the holder to start", || env.file("started-0").exists());
    let job = env.submit(&["--cpus", "2-8", "--", "bash", "-c", script]);
    env.wait_job(job);
    let out = env.read("range-3");
    let (variant, cpus) = out.trim().split_once(' ').unwrap();
    assert_eq!(variant, "1");
    assert_eq!(cpus.split(',').count(), 2, "{out}");
    std::fs::write(env.file("release"), "").unwrap();
    env.wait_job(holder);
}

#[test]
fn worker_cpu_range_form_and_all() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "2-8"]);
    let v = env
        .run(&["worker", "info", "1", "--output-mode", "json"])
        .json();
    let cpus = &v[0]["configuration"]["resources"]["resources"][0];
    assert_eq!(cpus["name"], "cpus");
    assert_eq!(cpus["kind"], "range", "{cpus}");
    assert_eq!(
        (cpus["start"].clone(), cpus["end"].clone()),
        (2.into(), 8.into())
    );
    assert_eq!(cpus_of(&env, "all"), "2,3,4,5,6,7,8");
}

#[test]
fn time_request_needs_enough_worker_lifetime() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--time-limit", "10m"]);
    let long = env.submit(&["--time-request", "1h", "--", "bash", "-c", "touch long"]);
    // A shorter request runs on the same worker, so the scheduler had its chance.
    let short = env.submit(&["--time-request", "5m", "--", "true"]);
    env.wait_job(short);
    assert_eq!(states(&env, short), ["finished"]);
    assert_eq!(states(&env, long), ["waiting"]);
    assert!(!env.file("long").exists());
    let explain = env.ok(&["task", "explain", &long.to_string(), "0"]);
    assert!(
        explain.contains("There is no worker where the task can run."),
        "{explain}"
    );
    assert!(explain.contains("time"), "{explain}");
    // A worker without a time limit accepts it.
    env.start_worker(&[]);
    env.wait_job(long);
    let v = env
        .run(&["job", "info", &long.to_string(), "--output-mode", "json"])
        .json();
    assert_eq!(v[0]["tasks"][0]["state"], "finished");
    assert_eq!(v[0]["tasks"][0]["worker"], 2);
}

#[test]
fn multi_node_task_gets_node_and_host_files() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--hostname", "node-a.cluster.example"]);
    let big = env.submit(&["--nodes", "3", "--", "true"]);
    env.start_worker(&["--hostname", "node-b"]);
    let job = env.submit(&[
        "--nodes",
        "2",
        "--",
        "bash",
        "-c",
        "cp $HQ_NODE_FILE nodes; cp $HQ_HOST_FILE hosts; \
         echo \"$HQ_NUM_NODES ${HQ_CPUS-none} ${HQ_TASK_DIR:+dir}\" > num",
    ]);
    env.wait_job(job);
    assert_eq!(states(&env, job), ["finished"]);
    assert_eq!(env.read("num"), "2 none dir\n");
    let mut nodes: Vec<String> = env.read("nodes").lines().map(String::from).collect();
    nodes.sort();
    assert_eq!(nodes, ["node-a", "node-b"]);
    let mut hosts: Vec<String> = env.read("hosts").lines().map(String::from).collect();
    hosts.sort();
    assert_eq!(hosts, ["node-a.cluster.example", "node-b"]);
    // Three nodes are more than the group has: it waits, and explain says why.
    assert_eq!(states(&env, big), ["waiting"]);
    let explain = env.ok(&["task", "explain", &big.to_string(), "0"]);
    assert!(
        explain.contains("There is no worker where the task can run."),
        "{explain}"
    );
    assert!(explain.contains("group size 2"), "{explain}");
}

#[test]
fn unsatisfiable_task_waits_and_explain_names_each_worker() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "2", "--hostname", "w1"]);
    env.start_worker(&["--cpus", "4", "--resource", "gpus=[0]", "--hostname", "w2"]);
    let job = env.submit(&[
        "--cpus",
        "4",
        "--resource",
        "gpus=2",
        "--",
        "bash",
        "-c",
        "touch ran",
    ]);
    let fits = env.submit(&["--", "true"]);
    env.wait_job(fits);
    assert_eq!(states(&env, job), ["waiting"]);
    assert!(!env.file("ran").exists());
    let text = env.ok(&["task", "explain", &job.to_string(), "0"]);
    assert!(
        text.contains("There is no worker where the task can run."),
        "{text}"
    );
    let v = env
        .run(&[
            "task",
            "explain",
            &job.to_string(),
            "0",
            "--output-mode",
            "json",
        ])
        .json();
    let workers = v["explanation"]["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{v}");
    // (worker amount, requested amount) of one resource, in 1/10000 units.
    let amounts = |w: usize, name: &str| {
        workers[w]["variants"][0]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["Resources"]["resource"] == name)
            .map(|c| {
                (
                    c["Resources"]["worker_amount"].clone(),
                    c["Resources"]["request_amount"].clone(),
                )
            })
            .unwrap_or_else(|| panic!("no {name} check for worker {w}: {v}"))
    };
    // Worker 1 lacks CPUs and GPUs; worker 2 has the CPUs but only one GPU.
    assert_eq!(amounts(0, "cpus"), (20_000.into(), 40_000.into()));
    assert_eq!(amounts(0, "gpus"), (0.into(), 20_000.into()));
    assert_eq!(amounts(1, "cpus"), (40_000.into(), 40_000.into()));
    assert_eq!(amounts(1, "gpus"), (10_000.into(), 20_000.into()));
    // The table says so per worker: first row of each worker has its ID and verdict.
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    let row = |worker: &str, kind: &str| {
        rows.iter()
            .position(|r| r[1] == worker)
            .and_then(|i| rows[i..].iter().find(|r| r[4] == kind))
            .unwrap_or_else(|| panic!("no {kind} row of worker {worker}: {text}"))
            .clone()
    };
    assert_eq!(row("1", "cpus")[2], "No");
    assert_eq!(row("1", "gpus")[5], "0");
    assert_eq!(row("2", "cpus")[5..7], ["4", "4"]);
    assert_eq!(row("2", "gpus")[5..7], ["1", "2"]);
}

#[test]
fn pin_taskset_restricts_the_process() {
    let mut env = HqEnv::with_server();
    let allowed = allowed_cpus();
    let ids: Vec<String> = allowed.iter().take(2).map(u32::to_string).collect();
    let def = format!("[{}]", ids.join(","));
    env.start_worker(&["--cpus", &def]);
    let job = env.submit(&[
        "--pin",
        "taskset",
        "--cpus",
        "1",
        "--",
        "bash",
        "-c",
        "echo \"$HQ_PIN $HQ_CPUS\" > pin; grep Cpus_allowed_list /proc/self/status >> pin",
    ]);
    env.wait_job(job);
    assert_eq!(states(&env, job), ["finished"]);
    let out = env.read("pin");
    let mut lines = out.lines();
    let (pin, cpus) = lines.next().unwrap().split_once(' ').unwrap();
    assert_eq!(pin, "taskset");
    assert!(ids.contains(&cpus.to_string()), "{out}");
    let allowed_line = lines.next().unwrap();
    assert_eq!(allowed_line.split_whitespace().nth(1), Some(cpus), "{out}");
    // Bare `--pin` means taskset.
    let job = env.submit(&["--pin", "--", "bash", "-c", "echo -n $HQ_PIN > bare"]);
    env.wait_job(job);
    assert_eq!(env.read("bare"), "taskset");
}

#[test]
fn pin_omp_sets_openmp_variables() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4"]);
    let job = env.submit(&[
        "--pin",
        "omp",
        "--cpus",
        "2",
        "--",
        "bash",
        "-c",
        "echo \"$HQ_PIN $OMP_PROC_BIND $OMP_PLACES $OMP_NUM_THREADS $HQ_CPUS\" > omp",
    ]);
    env.wait_job(job);
    let out = env.read("omp");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words[..2], ["omp", "close"], "{out}");
    assert_eq!(words[2], format!("{{{}}}", words[4]), "{out}");
    assert_eq!(words[3], "2");
    // User values of the OpenMP variables win.
    let job = env.submit(&[
        "--pin",
        "omp",
        "--env",
        "OMP_PROC_BIND=spread",
        "--",
        "bash",
        "-c",
        "echo -n \"$OMP_PROC_BIND\" > omp-user",
    ]);
    env.wait_job(job);
    assert_eq!(env.read("omp-user"), "spread");
}

#[test]
fn explain_counts_fitting_variants_per_worker() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "2"]);
    env.start_worker(&["--cpus", "2", "--resource", "gpus=[0]"]);
    env.start_worker(&["--cpus", "1"]);
    // Variants {cpus=2, gpus=1} or {cpus=2}: workers 1 and 2 fit one or both, worker 3 none.
    let job = env.submit(&[
        "--resource",
        "cpus=2",
        "--resource",
        "gpus=1",
        "--resource",
        "cpus=2",
        "--",
        "sleep",
        "100",
    ]);
    let text = env.ok(&["task", "explain", &job.to_string(), "0"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..2],
        [
            format!("Task {job}@0 is ready to run because it has no dependencies.").as_str(),
            "The task can run on 2 workers: 1-2",
        ],
        "{text}"
    );
    let verdicts: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 2 && cells[1].parse::<u32>().is_ok())
                .then(|| format!("{} {}", cells[1], cells[2]))
        })
        .collect();
    assert_eq!(
        verdicts,
        ["1 Yes (1/2)", "2 Yes (2/2)", "3 No (0/2)"],
        "{text}"
    );
}
