//! Flags that used to be accepted and then ignored: each now does what it says or is refused
//! with a message naming it (issue 9, "no flag is accepted and ignored").

use crate::utils::*;

const JOB_FILE: &str = "[[task]]\ncommand = [\"sh\", \"-c\", \"echo from-file\"]\n";

#[test]
fn run_of_a_job_file_refuses_the_submit_flags_it_would_ignore() {
    let env = HqEnv::new();
    env.write("job.toml", JOB_FILE);
    let r = env.fails(&["run", "--cpus", "2", "--env", "A=1", "job.toml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`--cpus`, `--env` cannot be used with a job file: `hq run job.toml`"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("from-file"), "nothing ran: {}", r.stdout);
    let r = env.fails(&["run", "--dry-run", "--array", "1-3", "job.toml"]);
    assert!(
        r.stderr.contains("`--array` cannot be used"),
        "{}",
        r.stderr
    );
    // `--wait` is what `hq run` always does.
    let out = env.ok(&["run", "--wait", "job.toml"]);
    assert!(out.starts_with("from-file\n"), "{out}");
}

#[test]
fn run_of_a_script_applies_its_directives_and_on_notify() {
    let env = HqEnv::new();
    env.write(
        "task.sh",
        "#!/bin/sh\n#HQ --env FOO=from-directive\necho foo=$FOO\n",
    );
    let out = env.ok(&["run", "./task.sh"]);
    assert!(out.starts_with("foo=from-directive\n"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    let script = env.file("task.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.ok(&["run", "--directives", "off", "./task.sh"]);
    assert!(out.starts_with("foo=\n"), "{out}");

    let log = env.file("notes.txt");
    let callback = format!("sh -c 'echo $HQ_TASK_ID:$0 >> {}'", log.display());
    let task = format!("{HQ} task notify hello");
    env.ok(&["run", "--on-notify", &callback, "--", "sh", "-c", &task]);
    assert_eq!(env.read("notes.txt"), "0:hello\n");

    let r = env.fails(&["run", "--job", "3", "--", "true"]);
    assert!(
        r.stderr.contains("`--job 3` cannot be used with `hq run`"),
        "{}",
        r.stderr
    );
}

#[test]
fn directives_refuse_words_they_would_drop() {
    let env = HqEnv::new();
    env.write("stray.sh", "#!/bin/sh\n#HQ --cpus 1 extra\ntrue\n");
    let r = env.fails(&["submit", "./stray.sh"]);
    assert!(
        r.stderr
            .contains("You have used invalid parameter(s) after a #HQ directive.")
            && r.stderr.contains("unexpected argument 'extra'"),
        "{}",
        r.stderr
    );
    env.write("mode.sh", "#!/bin/sh\n#HQ --directives off\ntrue\n");
    let r = env.fails(&["submit", "./mode.sh"]);
    assert!(
        r.stderr
            .contains("`--directives` only works on the command line"),
        "{}",
        r.stderr
    );
}

#[test]
fn flag_values_that_would_do_nothing_are_refused() {
    let env = HqEnv::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["job", "forget", "all", "--filter", "finished,running"],
            "invalid value `running` for `--filter` of `hq job forget`",
        ),
        (
            &["worker", "list", "--filter", "gone"],
            "invalid value 'gone' for '--filter <FILTER>'",
        ),
        (
            &["worker", "list", "--all", "--filter", "running"],
            "cannot be used with",
        ),
        (
            &["dashboard", "--size", "80x20"],
            "the following required arguments were not provided",
        ),
        (
            &["job", "submit-file", "--dry-run", "--wait", "job.toml"],
            "the argument '--dry-run' cannot be used with '--wait'",
        ),
        (
            &[
                "alloc",
                "dry-run",
                "slurm",
                "--time-limit",
                "1h",
                "--no-dry-run",
            ],
            "`--no-dry-run` cannot be used with `hq alloc dry-run`",
        ),
    ];
    for (args, message) in cases {
        let r = env.fails(args);
        assert_eq!(r.code, 2, "hq {}: {}", args.join(" "), r.stderr);
        assert!(
            r.stderr.contains(message),
            "hq {}: {}",
            args.join(" "),
            r.stderr
        );
    }
}

#[test]
fn a_sub_second_time_request_still_asks_for_lifetime() {
    let env = HqEnv::with_server();
    env.submit(&["--time-request", "500ms", "--", "true"]);
    env.write(
        "job.toml",
        "[[task]]\ncommand = [\"true\"]\n[[task.request]]\nresources = { cpus = 1 }\ntime_request = \"1500ms\"\n",
    );
    env.ok(&["job", "submit-file", "job.toml"]);
    let info = env
        .run(&["--output-mode", "json", "job", "info", "1-2"])
        .json();
    let min_time = |i: usize| {
        info[i]["submits"][0]
            .as_object()
            .and_then(|s| s.values().next())
            .map(|d| {
                let d = if d.is_array() { &d[0] } else { d };
                d["resources"][0]["min_time"].clone()
            })
    };
    assert_eq!(min_time(0), Some(serde_json::json!(1.0)), "{info}");
    assert_eq!(min_time(1), Some(serde_json::json!(2.0)), "{info}");
}

#[test]
fn doc_prints_or_opens_the_page_of_a_topic() {
    let env = HqEnv::new();
    let version = env!("CARGO_PKG_VERSION");
    let base = format!("https://it4innovations.github.io/hyperqueue/v{version}/");
    assert_eq!(env.ok(&["doc"]), format!("{base}\n"));
    // Aliases name the same page.
    for topic in ["autoalloc", "slurm", "pbs"] {
        assert_eq!(
            env.ok(&["doc", topic]),
            format!("{base}deployment/allocation/\n")
        );
    }
    assert_eq!(env.ok(&["doc", "python"]), format!("{base}python/\n"));
    let r = env.run(&["doc", "bogus"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("possible values"), "{}", r.stderr);
    // `--open` hands the address to xdg-open.
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let opener = bin.join("xdg-open");
    let log = env.path().join("opened");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\necho \"$1\" > {}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let r = env.run_env(&["doc", "faq", "--open"], &[("PATH", &path)]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("{base}faq/\n")
    );
}
