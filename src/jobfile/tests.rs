//! Tests of the whole pipeline on strings, the examples and the malformed fixtures.

use super::*;
use crate::common::idset::IdSet;
use crate::plan::error::ErrorKind;
use crate::protocol::messages::{CrashLimit, PinMode, StdioDef, TaskGroup};
use crate::resources::{AllocationRequest, ResourceAmount, ResourceRequest};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn opts() -> JobFileOptions {
    JobFileOptions {
        submit_dir: PathBuf::from("/submit"),
        allow_external_deps: false,
    }
}

fn plan(src: &str) -> JobPlan {
    match plan_from_str(src, "job.toml", &opts()) {
        Ok(p) => p,
        Err(e) => panic!("unexpected error:\n{}", e.render_plain()),
    }
}

fn error(src: &str) -> JobFileError {
    plan_from_str(src, "job.toml", &opts()).expect_err("expected an error")
}

fn ids(plan: &JobPlan) -> Vec<String> {
    plan.groups.iter().map(|g| g.ids.to_string()).collect()
}

#[test]
fn automatic_ids_follow_the_largest_explicit_id() {
    let p = plan(
        r#"
[[task]]
command = ["a"]
[[task]]
id = 12
command = ["a"]
[[task]]
id = 3
command = ["a"]
[[task]]
command = ["a"]
[[task]]
command = ["a"]
"#,
    );
    assert_eq!(ids(&p), ["13", "12", "3", "14", "15"]);
    let p = plan("[[task]]\ncommand = [\"a\"]\n[[task]]\ncommand = [\"b\"]\n");
    assert_eq!(ids(&p), ["1", "2"]);
}

#[test]
fn task_defaults_match_the_cli() {
    let p = plan("[[task]]\ncommand = [\"echo\", \"hi\"]\n");
    let b = &p.groups[0].body;
    assert_eq!(b.program.args, ["echo", "hi"]);
    assert_eq!(b.program.cwd, "/submit");
    assert_eq!(
        b.program.stdout,
        StdioDef::File {
            path: "%{CWD}/job-%{JOB_ID}/%{TASK_ID}.stdout".into(),
            rm_if_finished: false
        }
    );
    assert_eq!(b.resources.variants, vec![ResourceRequest::default_cpu()]);
    assert_eq!(b.crash_limit, CrashLimit::Limit(5));
    assert_eq!((b.priority, b.max_retries, b.pin), (0, 0, PinMode::None));
    assert!(b.program.stdin.is_empty() && b.time_limit_ms.is_none());
}

#[test]
fn every_task_key_is_read() {
    let p = plan(
        r#"
stream = "s/%{JOB_ID}"
[[task]]
id = 7
command = ["prog"]
env = { A = "1", B = "2" }
cwd = "%{SUBMIT_DIR}/w"
stdout = { path = "o.txt", mode = "rm-if-finished" }
stdin = "in"
pin = "omp"
task_dir = true
time_limit = "1m 10s"
priority = -3
crash_limit = "unlimited"
max_retries = 2
  [[task.request]]
  resources = { gpus = 1.5, mem = "100 scatter" }
  time_request = "1h"
  weight = 0.25
"#,
    );
    let b = &p.groups[0].body;
    assert_eq!(
        b.program.env,
        [("A".into(), "1".into()), ("B".into(), "2".into())]
    );
    assert_eq!(b.program.cwd, "%{SUBMIT_DIR}/w");
    assert_eq!(
        b.program.stdout,
        StdioDef::File {
            path: "o.txt".into(),
            rm_if_finished: true
        }
    );
    assert_eq!(b.program.stderr, StdioDef::Stream);
    assert_eq!(b.program.stdin, b"in");
    assert_eq!(
        (b.pin, b.task_dir, b.time_limit_ms),
        (PinMode::OpenMp, true, Some(70_000))
    );
    assert_eq!(
        (b.priority, b.crash_limit, b.max_retries),
        (-3, CrashLimit::Unlimited, 2)
    );
    let r = &b.resources.variants[0];
    assert_eq!(
        r.get("gpus"),
        Some(&AllocationRequest::Compact(ResourceAmount(15_000)))
    );
    assert_eq!(
        r.get("mem").map(|m| m.to_string()),
        Some("100 scatter".into())
    );
    assert_eq!(r.get("cpus"), None, "an explicit request does not add cpus");
    assert_eq!((r.min_time_secs, r.weight), (3600, ResourceAmount(2500)));
    assert_eq!(p.stream.as_deref(), Some("s/%{JOB_ID}"));
}

#[test]
fn array_entries_follow_the_written_id_order() {
    let p = plan("[array]\nids = \"5,1-2\"\nentries = [\"a\", \"b\", \"c\"]\ncommand = [\"x\"]\n");
    let g = &p.groups[0];
    assert_eq!(g.ids.to_string(), "1-2,5");
    assert_eq!(
        g.entries.as_ref().unwrap(),
        &vec![b"b".to_vec(), b"c".to_vec(), b"a".to_vec()]
    );
    let p = plan("[array]\nentries = [\"a\", \"b\"]\ncommand = [\"x\"]\n");
    assert_eq!(p.groups[0].ids.to_string(), "0-1");
}

#[test]
fn spec_messages_are_kept() {
    assert_eq!(error("name = \"x\"\n").message(), "No tasks defined");
    let e = error("[array]\nids = \"1\"\ncommand = [\"a\"]\n[[task]]\ncommand = [\"a\"]\n");
    assert_eq!(
        e.message(),
        "Definition of array job and individual task cannot be mixed"
    );
    let e = error("[array]\ncommand = [\"a\"]\n");
    assert_eq!(
        e.message(),
        "One of attributes of array must be defined: 'ids', 'entries'"
    );
    let e = error("[array]\nids = \"1-3\"\nentries = [\"a\"]\ncommand = [\"a\"]\n");
    assert_eq!(e.message(), "Items 'ids' and 'entries' does not match");
    let e = error("[[task]]\nid = 1\ncommand = [\"a\"]\n[[task]]\nid = 1\ncommand = [\"a\"]\n");
    assert_eq!(
        (e.message(), e.line()),
        ("Task 1 is defined multiple times", Some(5))
    );
    let e = error("[[task]]\ncommand = [\"a\"]\n  [[task.request]]\n  time_request = \"1s\"\n");
    assert_eq!(
        (e.message(), e.line()),
        ("Resource request is empty", Some(3))
    );
}

#[test]
fn cycles_are_reported_as_the_whole_chain() {
    let e = error(
        "[[task]]\nid = 1\ndeps = [3]\ncommand = [\"a\"]\n[[task]]\nid = 2\ndeps = [1]\ncommand = [\"a\"]\n[[task]]\nid = 3\ndeps = [2]\ncommand = [\"a\"]\n",
    );
    assert_eq!(e.kind(), ErrorKind::Cycle);
    assert!(e.message().contains("1 -> 3 -> 2 -> 1"), "{}", e.message());
    assert_eq!(e.line(), Some(3));
    let rendered = e.render_plain();
    assert!(rendered.contains("job.toml:3:9"), "{rendered}");
    assert!(rendered.contains("1 depends on 3"), "{rendered}");
}

#[test]
fn unknown_dependencies_suggest_a_close_id() {
    let e = error(
        "[[task]]\nid = 12\ncommand = [\"a\"]\n[[task]]\nid = 2\ndeps = [13]\ncommand = [\"a\"]\n",
    );
    assert_eq!(e.kind(), ErrorKind::UnknownDependency);
    assert_eq!(e.help_text(), Some("did you mean `12`?"));
    let external = JobFileOptions {
        allow_external_deps: true,
        ..opts()
    };
    let p = plan_from_str("[[task]]\ndeps = [13]\ncommand = [\"a\"]\n", "f", &external).unwrap();
    assert_eq!(p.groups[0].deps.common.to_string(), "13");
}

#[test]
fn unknown_keys_name_the_path_and_the_intended_key() {
    let e = error("[[task]]\ncommand = [\"a\"]\n[[task]]\ncomand = [\"a\"]\n");
    assert_eq!(e.kind(), ErrorKind::UnknownKey);
    assert_eq!(e.message(), "unknown key `comand` in `task[1]`");
    assert_eq!(e.help_text(), Some("did you mean `command`?"));
    assert_eq!((e.line(), e.column()), (Some(4), Some(1)));
}

fn sweep_file(second: &str) -> String {
    format!(
        r#"
[axes.model]
values = ["a", "b"]
[axes.seed]
range = "1-3"
[[step]]
name = "gen"
product = ["model", "seed"]
command = ["echo", "{{{{ model }}}}-{{{{ seed }}}}"]
{second}
"#
    )
}

fn deps_of(g: &TaskGroup) -> (String, String, Vec<i64>) {
    (
        g.ids.to_string(),
        g.deps.common.to_string(),
        g.deps.offsets.clone(),
    )
}

#[test]
fn element_wise_deps_become_offsets() {
    let p = plan(&sweep_file("[[step]]\nname = \"use\"\nproduct = [\"model\", \"seed\"]\ndeps = [\"gen\"]\ncommand = [\"true\"]\n"));
    assert_eq!(p.task_count(), 12);
    assert_eq!(
        p.groups.len(),
        2,
        "one templated group for `gen`, rendered per task by the worker, one for `use`"
    );
    assert_eq!(deps_of(&p.groups[1]), ("7-12".into(), "".into(), vec![-6]));
    let g = &p.groups[0];
    let tpl = g.body.template.as_ref().expect("a templated body");
    let entry = g.entries.as_ref().unwrap()[0].as_slice();
    let first =
        crate::common::template::render_program(&g.body.program, tpl, 1, Some(entry)).unwrap();
    assert_eq!(first.args, ["echo", "a-1"]);
    assert_eq!(
        p.groups[0].entries.as_ref().unwrap()[0],
        br#"{"model":"a","seed":1}"#
    );
    assert_eq!(p.summary.dag_depth, 2);
}

#[test]
fn shared_axes_give_partial_fan_in_and_deps_all_full_fan_in() {
    let p = plan(&sweep_file(
        "[[step]]\nname = \"per-model\"\nproduct = [\"model\"]\ndeps = [\"gen\"]\ncommand = [\"true\"]\n[[step]]\nname = \"end\"\ndeps_all = [\"per-model\"]\ncommand = [\"true\"]\n",
    ));
    let tail: Vec<_> = p.groups[1..].iter().map(deps_of).collect();
    assert_eq!(
        tail,
        [
            ("7".into(), "1-3".into(), vec![]),
            ("8".into(), "4-6".into(), vec![]),
            ("9".into(), "7-8".into(), vec![])
        ]
    );
    assert_eq!(p.summary.dag_depth, 3);
}

#[test]
fn dependency_sets_follow_the_shared_axes() {
    let p = plan(&sweep_file("[[step]]\nname = \"per-seed\"\nproduct = [\"seed\"]\ndeps = [\"gen\"]\ncommand = [\"true\"]\n"));
    let tail: Vec<_> = p.groups[1..].iter().map(deps_of).collect();
    assert_eq!(
        tail,
        [
            ("7".into(), "1,4".into(), vec![]),
            ("8".into(), "2,5".into(), vec![]),
            ("9".into(), "3,6".into(), vec![])
        ]
    );
}

#[test]
fn undefined_template_variables_are_named_with_their_line() {
    let e = error(&sweep_file(
        "[[step]]\nname = \"x\"\nproduct = [\"seed\"]\ncommand = [\"echo\", \"{{ sed }}\"]\n",
    ));
    assert_eq!(e.kind(), ErrorKind::Template);
    assert!(
        e.message().contains("undefined variable `sed`"),
        "{}",
        e.message()
    );
    assert_eq!((e.line(), e.column()), (Some(13), Some(24)));
    assert!(e.help_text().unwrap().contains("did you mean `seed`?"));
}

#[test]
fn steps_without_per_task_variables_form_one_group() {
    let p = plan("[axes.n]\nrange = \"1-1000\"\n[vars]\nx = \"v\"\n[[step]]\nname = \"s\"\nproduct = [\"n\"]\ncommand = [\"echo\", \"{{ x }} {{ step }}\"]\n");
    assert_eq!(p.groups.len(), 1);
    assert_eq!(p.groups[0].ids, IdSet::from_range(1, 1000));
    assert_eq!(p.groups[0].body.program.args, ["echo", "v s"]);
    assert_eq!(p.groups[0].entries.as_ref().unwrap().len(), 1000);
}

#[test]
fn dry_run_shows_steps_counts_depth_requests_and_commands() {
    let p = plan(&sweep_file("[[step]]\nname = \"use\"\nproduct = [\"model\", \"seed\"]\ndeps = [\"gen\"]\ncommand = [\"true\"]\n  [[step.request]]\n  resources = { gpus = 1 }\n"));
    let text = p.render_dry_run();
    for needle in [
        "12 tasks in 2 groups, DAG depth 2",
        "step `gen`: 6 tasks, IDs 1-6",
        "sweep: product(model[2] x seed[3])",
        "deps: gen (matching parameters)",
        "resources: gpus=1 compact",
        "1: echo a-1",
        "... 3 more",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn every_example_plans() {
    let dir = Path::new(ROOT).join("examples");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let external = path.file_name().is_some_and(|n| n == "open-job-step.toml");
            let o = JobFileOptions {
                allow_external_deps: external,
                ..opts()
            };
            match load_and_plan(&path, &o) {
                Ok(p) => assert!(p.task_count() > 0),
                Err(e) => panic!("{}:\n{}", path.display(), e.render_plain()),
            }
            count += 1;
        }
    }
    assert!(count >= 8, "only {count} examples");
}

#[test]
fn malformed_files_fail_with_the_expected_line_and_message() {
    let dir = Path::new(ROOT).join("tests/fixtures/jobfiles/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    assert!(files.len() >= 40, "only {} fixtures", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let header = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
                .unwrap_or_else(|| panic!("{} has no `# {key}:` line", path.display()))
                .trim()
                .to_string()
        };
        let (line, expect) = (
            header("expect-line").parse::<usize>().unwrap(),
            header("expect"),
        );
        match load_and_plan(path, &opts()) {
            Ok(_) => failures.push(format!("{}: planned without error", path.display())),
            Err(e) => {
                let rendered = e.render_plain();
                let text = format!("{}\n{}", e.message(), e.help_text().unwrap_or_default());
                if e.line() != Some(line) || !text.contains(&expect) {
                    failures.push(format!(
                        "{}: expected line {line} and {expect:?}, got line {:?}:\n{rendered}",
                        path.display(),
                        e.line()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Plans `benchmarks/jobfile-100k.toml` (two steps of 50,000 tasks, element-wise deps) and
/// prints the time: `cargo test --release --lib plan_100k -- --ignored --nocapture`.
#[test]
#[ignore]
fn plan_100k_tasks_benchmark() {
    let path = Path::new(ROOT).join("benchmarks/jobfile-100k.toml");
    for _ in 0..3 {
        let start = std::time::Instant::now();
        let p = load_and_plan(&path, &opts()).unwrap();
        let elapsed = start.elapsed();
        println!(
            "planned {} tasks in {} groups in {:.1} ms",
            p.task_count(),
            p.groups.len(),
            elapsed.as_secs_f64() * 1000.0
        );
        assert_eq!(p.task_count(), 100_000);
    }
    // The same DAG with commands that read $HQ_ENTRY instead of templates: two groups.
    let source = std::fs::read_to_string(&path)
        .unwrap()
        .replace("{{ i }}", "$HQ_ENTRY");
    let start = std::time::Instant::now();
    let p = plan_from_str(&source, "bench.toml", &opts()).unwrap();
    println!(
        "untemplated: planned {} tasks in {} groups in {:.1} ms",
        p.task_count(),
        p.groups.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(p.groups.len(), 2);
}

#[test]
#[ignore]
fn show() {
    let dir = Path::new(ROOT).join("tests/fixtures/jobfiles/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        if let Err(e) = load_and_plan(f, &opts()) {
            println!(
                "{}:{:?}:{:?} {} | {}",
                f.file_name().unwrap().to_string_lossy(),
                e.line(),
                e.column(),
                e.message(),
                e.help_text().unwrap_or_default()
            );
        }
    }
}

#[test]
#[ignore]
fn print_dry_run() {
    let path = std::env::var("HQ_DRY_RUN_FILE").unwrap();
    println!(
        "{}",
        load_and_plan(Path::new(&path), &opts())
            .unwrap()
            .render_dry_run()
    );
}

#[test]
fn retry_growth_scales_time_limit_and_resources_per_retry() {
    let p = plan("[[task]]\ncommand = [\"x\"]\ntime_limit = \"10s\"\nmax_retries = 2\nretry_growth = { time_limit = 2.0, mem = 1.5 }\n  [[task.request]]\n  resources = { cpus = 1, mem = 100 }\n");
    let b = &p.groups[0].body;
    assert_eq!(b.time_limit_after(0), Some(10_000));
    assert_eq!(b.time_limit_after(2), Some(40_000));
    assert!(b.resources_after(0).is_none());
    let grown = b.resources_after(2).unwrap();
    let mem = grown.variants[0].get("mem").unwrap().amount().unwrap();
    assert_eq!(mem.to_string(), "225");
    assert_eq!(
        grown.variants[0]
            .get("cpus")
            .unwrap()
            .amount()
            .unwrap()
            .to_string(),
        "1"
    );
    let e = error("[[task]]\ncommand = [\"x\"]\nretry_growth = { mem = 0.5 }\n");
    assert!(e.message().contains("growth factor"), "{}", e.message());
    assert_eq!(e.line(), Some(3));
}
