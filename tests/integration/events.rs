//! The event shapes of `hq journal replay|stream|export`, and replay without a journal.

use crate::utils::{wait_until, HqEnv};
use serde_json::Value;

fn events(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn replay_without_a_journal_shows_the_events_since_the_server_started() {
    let mut env = HqEnv::with_server();
    let first = env.start_worker(&[]);
    env.start_worker(&[]);
    env.ok(&["worker", "stop", "1"]);
    env.wait_exit(first);
    wait_until("worker 1 to be lost", || {
        of_type(&events(&env.ok(&["journal", "replay"])), "worker-lost").len() == 1
    });
    let all = events(&env.ok(&["journal", "replay"]));
    assert_eq!(all[0]["type"], "server-start");
    let connected: Vec<&Value> = of_type(&all, "worker-connected")
        .into_iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(connected, [&Value::from(1), &Value::from(2)]);
    let lost = of_type(&all, "worker-lost");
    assert_eq!(lost[0]["id"], 1);
    assert_eq!(lost[0]["reason"], "Stopped");
}

#[test]
fn job_created_and_task_started_carry_the_reference_fields() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4"]);
    env.write(
        "job.toml",
        "name = \"sweep\"\n[[task]]\nid = 0\ncommand = [\"true\"]\n\
         [[task.request]]\nresources = { cpus = \"8\" }\n\
         [[task.request]]\nresources = { cpus = \"4\" }\n\
         [[task]]\nid = 1\ncommand = [\"true\"]\ndeps = [0]\n",
    );
    env.ok(&["job", "submit-file", "job.toml"]);
    env.wait_job(1);
    let all = events(&env.ok(&["journal", "replay"]));
    let created = of_type(&all, "job-created");
    assert_eq!(created[0]["job"], 1);
    assert_eq!(created[0]["closed_job"], true);
    assert_eq!(created[0]["job_desc"]["name"], "sweep");
    assert!(created[0]["submit_desc"].is_object());
    let started: Vec<Value> = of_type(&all, "task-started").into_iter().cloned().collect();
    assert_eq!(
        started,
        [
            serde_json::json!({"type": "task-started", "job": 1, "task": 0, "instance": 0, "worker": 1, "variant": 1}),
            serde_json::json!({"type": "task-started", "job": 1, "task": 1, "instance": 0, "worker": 1}),
        ]
    );
}

#[test]
fn a_live_stream_ends_with_the_server_without_a_stop_event() {
    let mut env = HqEnv::new();
    let journal = env.file("j.bin").display().to_string();
    env.start_server(&["--journal", &journal]);
    env.submit(&["--", "true"]);
    let stream = env.spawn(&["journal", "stream"]);
    let stream_log = 1; // server, stream
    wait_until("the stream to replay the past", || {
        env.proc_log(stream_log).contains("job-created")
    });
    env.submit(&["--", "true"]);
    wait_until("the stream to see the second job", || {
        env.proc_log(stream_log).matches("job-created").count() == 2
    });
    env.ok(&["server", "stop"]);
    env.wait_exit(stream);
    let kinds: Vec<Value> = events(&env.proc_log(stream_log))
        .into_iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(kinds, ["server-start", "job-created", "job-created"]);
    // The journal has the stop.
    let exported = events(&env.ok(&["journal", "export", &journal]));
    assert_eq!(exported.last().unwrap()["type"], "server-stop");
}
