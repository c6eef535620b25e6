//! A long random mix of what happens to chains of queued tasks (ends of running tasks, cancels
//! and retractions of queued ones anywhere in a chain, workers lost and added), checking after
//! every step that the chains and their summaries in the placements agree (`sanity_check`).

use super::tests::desc;
use super::*;
use crate::resources::ResourceRequestVariants;
use crate::resources::{AllocationRequest, ResourceAmount, ResourceRequest};
use std::collections::BTreeSet;

/// A small deterministic generator (xorshift64), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn one_cpu() -> ResourceRequestVariants {
    let mut r = ResourceRequest::default();
    r.add("cpus", AllocationRequest::parse("1").unwrap())
        .unwrap();
    ResourceRequestVariants::single(r)
}

fn add_worker(s: &mut Scheduler, id: u32) {
    s.add_worker(
        id,
        &desc("3", &[]),
        "default".into(),
        None,
        ResourceAmount::ZERO,
    );
}

#[test]
fn chains_stay_consistent_through_random_ends_cancels_and_lost_workers() {
    let mut s = Scheduler::new();
    s.set_queue_depth(3);
    let req = s.intern(&one_cpu());
    for w in 1..=3 {
        add_worker(&mut s, w);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut next_task = 0;
    let mut next_worker = 4;
    let mut running: BTreeSet<TaskKey> = BTreeSet::new();
    let mut queued: BTreeSet<TaskKey> = BTreeSet::new();
    for step in 0..4_000 {
        if s.ready_count() < 20 {
            for _ in 0..10 {
                s.add_ready(
                    TaskKey {
                        job: 1,
                        task: next_task,
                    },
                    req,
                    0,
                );
                next_task += 1;
            }
        }
        for a in s.schedule(0) {
            match a.after {
                None => running.insert(a.key),
                Some(_) => queued.insert(a.key),
            };
        }
        for (_, key) in s.take_retractions() {
            // The worker gives it back (or it started meanwhile, seen below).
            if queued.remove(&key) {
                s.task_done(key);
                s.add_ready(key, req, 0);
            }
        }
        match rng.below(10) {
            // A running task ends; the one queued behind it (if any) starts.
            0..=5 if !running.is_empty() => {
                let key = *running.iter().nth(rng.below(running.len())).unwrap();
                running.remove(&key);
                s.task_done(key);
            }
            // A queued task is canceled, wherever it is in its chain.
            6..=7 if !queued.is_empty() => {
                let key = *queued.iter().nth(rng.below(queued.len())).unwrap();
                queued.remove(&key);
                s.task_done(key);
            }
            // A worker is lost (its tasks wait again) and a new one comes.
            8 if step % 7 == 0 => {
                let wid = s
                    .placement(
                        *running
                            .iter()
                            .next()
                            .unwrap_or(&TaskKey { job: 0, task: 0 }),
                    )
                    .map(|(w, _)| w[0]);
                if let Some(wid) = wid {
                    for key in s.remove_worker(wid) {
                        running.remove(&key);
                        s.add_ready(key, req, 0);
                    }
                    queued.retain(|k| s.queued_on(*k).is_some());
                    add_worker(&mut s, next_worker);
                    next_worker += 1;
                }
            }
            _ => {}
        }
        // Queued tasks that started took over their predecessor's slot.
        let started: Vec<TaskKey> = queued
            .iter()
            .copied()
            .filter(|k| s.is_running(*k))
            .collect();
        for key in started {
            queued.remove(&key);
            running.insert(key);
        }
        s.sanity_check();
        assert_eq!(s.queued_count(), queued.len(), "step {step}");
    }
    assert!(next_task > 1_000, "only {next_task} tasks went through");
}
