//! With `--journal`, queues, their pause state and their allocations survive a server crash;
//! workers of running allocations reconnect and are matched to them.

use super::*;
use crate::utils::HqEnv;

#[test]
fn queues_and_allocations_survive_a_restart() {
    let Some(slurm) = slurm_test("restart") else {
        return;
    };
    let mut env = HqEnv::new();
    env.set_env("HQ_AUTOALLOC_QUEUED_REFRESH_INTERVAL_MS", "300");
    let journal = env.file("journal.bin").display().to_string();
    let server = env.start_server(&["--journal", &journal]);
    let (a, b) = (format!("{}a", slurm.prefix), format!("{}b", slurm.prefix));
    env.ok(&w(&format!(
        "alloc add slurm --time-limit 10m --no-dry-run --cpus 1 --idle-timeout 2m --name {a}"
    )));
    env.ok(&w(&format!("alloc add slurm --time-limit 10m --no-dry-run --cpus 1 --resource special=[x] --name {b} -- --begin=now+1hour")));
    // Queue 1 gets a worker that idles on; queue 2 an allocation that waits in Slurm.
    let first = env.submit(&["--", "true"]);
    env.wait_job(first);
    let running = wait_allocations(&env, 1, "a running allocation", |x| {
        x.len() == 1 && x[0]["connected_workers"] == 1
    });
    let running_id = running[0]["id"].as_str().unwrap().to_string();
    env.submit(&["--resource", "special=1", "--", "true"]);
    let queued = wait_allocations(&env, 2, "a queued allocation", |x| {
        x.iter().any(|a| a["status"] == "QUEUED")
    });
    let queued_id = with_status(&queued, "QUEUED")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["alloc", "pause", "2"]);
    // Pruning keeps the queues and their active allocations.
    env.ok(&["journal", "prune"]);

    env.signal(server, libc::SIGKILL);
    env.wait_exit(server);
    let restarted = env.start_server(&["--journal", &journal]);

    let qs = queues(&env);
    assert_eq!(qs.len(), 2, "{qs:?}");
    assert_eq!(qs[0]["state"], "Active");
    assert_eq!(qs[1]["state"], "Paused");
    assert!(
        !qs[0]["known_worker_resources"].is_null(),
        "learned resources are restored"
    );
    // The idle worker finds the new server and is matched to its allocation.
    let r = wait_allocations(&env, 1, "the worker to reconnect", |x| {
        x.iter()
            .any(|a| a["id"] == running_id.as_str() && a["connected_workers"] == 1)
    });
    assert_eq!(with_status(&r, "RUNNING").len(), 1);
    let q2 = allocations(&env, 2);
    assert!(q2
        .iter()
        .any(|a| a["id"] == queued_id.as_str() && a["status"] == "QUEUED"));
    // Tracked on: cancelled in Slurm, it ends here too.
    std::process::Command::new("scancel")
        .arg(&queued_id)
        .status()
        .unwrap();
    wait_allocations(&env, 2, "the cancelled allocation to end", |x| {
        x.iter()
            .any(|a| a["id"] == queued_id.as_str() && a["status"] == "FAILED")
    });
    // The reconnected worker takes new work; no allocation is needed for it.
    let again = env.submit(&["--", "true"]);
    env.wait_job(again);
    assert_eq!(allocations(&env, 1).len(), 1);

    let export = env.ok(&["journal", "export", &journal]);
    assert!(
        export.contains("\"type\":\"autoalloc-queue-created\""),
        "{export}"
    );
    assert!(export.contains("\"type\":\"autoalloc-allocation-queued\""));
    assert!(export.contains("\"queue-id\":2"));
    env.ok(&["server", "stop"]);
    env.wait_exit(restarted);
    assert_ne!(slurm_state(&running_id).as_deref(), Some("RUNNING"));
    // The cancellation is recorded, so a restart would not wait for that allocation.
    let export = env.ok(&["journal", "export", &journal]);
    assert!(
        export.contains("cancelled when the server stopped"),
        "{export}"
    );
}
