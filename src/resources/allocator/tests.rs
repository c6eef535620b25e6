use super::*;
use crate::resources::descriptor::parse_resource_flag;
use proptest::prelude::*;

fn descriptor(defs: &[&str]) -> ResourceDescriptor {
    let mut d = ResourceDescriptor::default();
    for def in defs {
        let (name, kind) = parse_resource_flag(def).unwrap();
        d.add(&name, kind).unwrap();
    }
    d
}

fn worker(defs: &[&str]) -> WorkerAllocator {
    WorkerAllocator::new(&descriptor(defs))
}

fn req(entries: &[(&str, &str)]) -> ResourceRequest {
    let mut r = ResourceRequest::default();
    for (name, text) in entries {
        r.add(name, AllocationRequest::parse(text).unwrap())
            .unwrap();
    }
    r
}

fn cpus(text: &str) -> ResourceRequest {
    req(&[("cpus", text)])
}

/// Label indices of the first resource of an allocation.
fn ids(a: &Allocation) -> Vec<u32> {
    a.resources[0].indices.iter().map(|(i, _)| *i).collect()
}

#[test]
fn allocates_until_full_then_releases() {
    let mut w = worker(&["cpus=4"]);
    let a = w.try_allocate(&cpus("3")).unwrap();
    assert_eq!(ids(&a), vec![0, 1, 2]);
    assert_eq!(a.resources[0].amount, ResourceAmount::whole(3));
    assert!(w.try_allocate(&cpus("2")).is_none());
    assert_eq!(w.running(), 1);
    w.release(&a);
    assert!(w.is_idle());
    assert!(w.try_allocate(&cpus("4")).is_some());
    w.sanity_check();
}

#[test]
fn spec_policy_example_three_groups_of_four() {
    for (policy, expected) in [
        ("compact", vec![0, 1, 2, 4, 5, 6]),
        ("tight", vec![0, 1, 2, 3, 4, 5]),
        ("scatter", vec![0, 1, 4, 5, 8, 9]),
        ("compact!", vec![0, 1, 2, 4, 5, 6]),
        ("tight!", vec![0, 1, 2, 3, 4, 5]),
    ] {
        let mut w = worker(&["cpus=3x4"]);
        let a = w.try_allocate(&cpus(&format!("6 {policy}"))).unwrap();
        assert_eq!(ids(&a), expected, "{policy}");
    }
}

#[test]
fn compact_uses_fewest_groups_best_fit() {
    let mut w = worker(&["cpus=2x4"]);
    let one = w.try_allocate(&cpus("1")).unwrap();
    assert_eq!(ids(&one), vec![0]);
    // Group 0 has 3 free, group 1 has 4: two CPUs go to the fuller group 0.
    let two = w.try_allocate(&cpus("2")).unwrap();
    assert_eq!(ids(&two), vec![1, 2]);
    // Group 1 stays whole for a request that needs a whole group.
    let four = w.try_allocate(&cpus("4 compact!")).unwrap();
    assert_eq!(ids(&four), vec![4, 5, 6, 7]);
    w.sanity_check();
}

#[test]
fn strict_policies_wait_for_the_minimal_group_count() {
    let mut w = worker(&["cpus=3x4"]);
    let taken: Vec<Allocation> = (0..3)
        .map(|_| w.try_allocate(&cpus("1 scatter")).unwrap())
        .collect();
    assert_eq!(
        taken.iter().flat_map(ids).collect::<Vec<_>>(),
        vec![0, 4, 8]
    );
    // 3 free per group: 4 CPUs need two groups now, one on an empty worker.
    assert!(w.try_allocate(&cpus("4 compact!")).is_none());
    assert!(w.try_allocate(&cpus("4 tight!")).is_none());
    assert!(w.can_ever_run(&cpus("4 compact!")));
    let a = w.try_allocate(&cpus("4 compact")).unwrap();
    assert_eq!(ids(&a), vec![1, 2, 5, 6]);
    w.release(&a);
    // 6 needs two groups anyway: allowed.
    let six = w.try_allocate(&cpus("6 compact!")).unwrap();
    w.release(&six);
    w.release(&taken[1]);
    assert_eq!(
        ids(&w.try_allocate(&cpus("4 tight!")).unwrap()),
        vec![4, 5, 6, 7]
    );
}

#[test]
fn fractions_share_one_label_and_come_last() {
    let mut w = worker(&["cpus=2"]);
    let a = w.try_allocate(&cpus("0.5")).unwrap();
    let b = w.try_allocate(&cpus("0.5")).unwrap();
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a.resources[0].indices[0].1, ResourceAmount(5000));
    // The half-used label is gone, one whole label is left.
    assert!(w.try_allocate(&cpus("1.5")).is_none());
    w.release(&a);
    let c = w.try_allocate(&cpus("1.5")).unwrap();
    assert_eq!(
        c.resources[0].indices.as_slice(),
        [(1, ResourceAmount::ONE), (0, ResourceAmount(5000))]
    );
    assert_eq!(c.resources[0].amount, ResourceAmount::new(1, 5000));
    w.sanity_check();
}

#[test]
fn fraction_needs_one_label_with_enough_room() {
    let mut w = worker(&["gpus=[a,b]"]);
    let g = |t: &str| req(&[("gpus", t)]);
    let x = w.try_allocate(&g("0.75")).unwrap();
    let y = w.try_allocate(&g("0.75")).unwrap();
    assert_ne!(ids(&x), ids(&y));
    // 0.25 + 0.25 free in total, but no single label has 0.5.
    assert!(w.try_allocate(&g("0.5")).is_none());
    assert!(w.try_allocate(&g("0.25")).is_some());
    w.release(&x);
    // Best fit: 0.25 goes to the label with 0.25 left (b), not the free one (a).
    let z = w.try_allocate(&g("0.25")).unwrap();
    assert_eq!(ids(&z), vec![1]);
    let labels = descriptor(&["gpus=[a,b]"]).labels_of(&z.resources[0]);
    assert_eq!(labels, vec!["b"]);
}

#[test]
fn all_takes_the_whole_pool() {
    let mut w = worker(&["cpus=2x2", "mem=sum(100)"]);
    let all = req(&[("cpus", "all"), ("mem", "all")]);
    let a = w.try_allocate(&all).unwrap();
    assert_eq!(ids(&a), vec![0, 1, 2, 3]);
    assert_eq!(a.resources[0].amount, ResourceAmount::whole(4));
    assert_eq!(a.resources[1].amount, ResourceAmount::whole(100));
    assert!(w.try_allocate(&cpus("0.1")).is_none());
    w.release(&a);
    let part = w.try_allocate(&cpus("0.1")).unwrap();
    assert!(w.try_allocate(&all).is_none());
    w.release(&part);
    assert!(w.try_allocate(&all).is_some());
}

#[test]
fn sum_pools_subtract() {
    let mut w = worker(&["cpus=1", "mem=sum(1000.5)"]);
    let m = |t: &str| req(&[("mem", t)]);
    let a = w.try_allocate(&m("600")).unwrap();
    assert!(a.resources[0].indices.is_empty());
    assert_eq!(a.resources[0].resource, 1);
    assert!(w.try_allocate(&m("400.6")).is_none());
    let b = w.try_allocate(&m("400.5")).unwrap();
    assert_eq!(w.free_amount("mem"), Some(ResourceAmount::ZERO));
    w.release(&a);
    w.release(&b);
    assert_eq!(w.free_amount("mem"), Some(ResourceAmount::new(1000, 5000)));
}

#[test]
fn failure_rolls_back_earlier_entries() {
    let mut w = worker(&["cpus=4", "gpus=[0]"]);
    assert!(w
        .try_allocate(&req(&[("cpus", "2"), ("gpus", "2")]))
        .is_none());
    assert!(w
        .try_allocate(&req(&[("cpus", "2"), ("fpga", "1")]))
        .is_none());
    assert_eq!(w.free_amount("cpus"), Some(ResourceAmount::whole(4)));
    assert!(w.is_idle());
    w.sanity_check();
}

#[test]
fn can_ever_run() {
    let w = worker(&["cpus=2x2", "mem=sum(10)"]);
    assert!(w.can_ever_run(&cpus("4 compact!")));
    assert!(w.can_ever_run(&cpus("3.5")));
    assert!(!w.can_ever_run(&cpus("4.5")));
    assert!(!w.can_ever_run(&cpus("5")));
    assert!(w.can_ever_run(&req(&[("mem", "10")])));
    assert!(!w.can_ever_run(&req(&[("mem", "10.0001")])));
    assert!(!w.can_ever_run(&req(&[("gpus", "1")])));
    assert!(w.can_ever_run(&req(&[("cpus", "all"), ("mem", "all")])));
    let multi = ResourceRequest {
        n_nodes: 2,
        ..Default::default()
    };
    assert!(w.can_ever_run(&multi));
    assert!(worker(&["cpus=2"]).try_allocate(&multi).is_none());
}

#[test]
fn spec_variant_example() {
    // Variants {cpus=1, gpus=1} and {cpus=4} on a 16-CPU/4-GPU worker.
    let mut w = worker(&["cpus=16", "gpus=[0,1,2,3]"]);
    let variants = ResourceRequestVariants {
        variants: vec![req(&[("cpus", "1"), ("gpus", "1")]), cpus("4")],
    };
    let mut chosen = Vec::new();
    while let Some((i, _)) = w.try_allocate_variants(&variants) {
        chosen.push(i);
    }
    assert_eq!(chosen, vec![0, 0, 0, 0, 1, 1, 1]);
}

#[test]
fn allocation_round_trips_postcard() {
    let mut w = worker(&["cpus=2x2"]);
    let a = w.try_allocate(&cpus("2.5")).unwrap();
    let bytes = postcard::to_allocvec(&a).unwrap();
    assert_eq!(postcard::from_bytes::<Allocation>(&bytes).unwrap(), a);
}

/// Measures allocate+release pairs per second; run with
/// `cargo test --release -- --ignored allocator_speed --nocapture`.
#[test]
#[ignore]
fn allocator_speed() {
    let mut w = worker(&["cpus=128", "gpus=[0,1,2,3]", "mem=sum(100000)"]);
    let background: Vec<Allocation> = (0..60)
        .map(|_| w.try_allocate(&cpus("1")).unwrap())
        .collect();
    for (name, request) in [
        ("cpus=1", cpus("1")),
        ("cpus=8 compact", cpus("8")),
        (
            "cpus=1.5 + gpus=0.5 + mem=10",
            req(&[("cpus", "1.5"), ("gpus", "0.5"), ("mem", "10")]),
        ),
    ] {
        let rounds = 2_000_000u32;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            let a = w.try_allocate(std::hint::black_box(&request)).unwrap();
            w.release(&a);
        }
        let secs = start.elapsed().as_secs_f64();
        println!("{name}: {:.2} M pairs/s", f64::from(rounds) / secs / 1e6);
    }
    let mut w4 = worker(&["cpus=4x32"]);
    let request = cpus("4 compact!");
    let start = std::time::Instant::now();
    for _ in 0..1_000_000 {
        let a = w4.try_allocate(&request).unwrap();
        w4.release(&a);
    }
    println!(
        "cpus=4 compact! on 4x32: {:.2} M pairs/s",
        1.0 / start.elapsed().as_secs_f64()
    );
    drop(background);
}

// ---- property tests ----

/// Worker shapes: CPU groups, a small GPU list and a memory sum pool.
fn shapes() -> impl Strategy<Value = ResourceDescriptor> {
    (prop::collection::vec(1usize..6, 1..4), 1usize..4, 1u64..50).prop_map(|(groups, gpus, mem)| {
        let mut next = 0;
        let groups: Vec<String> = groups
            .iter()
            .map(|&size| {
                let g: Vec<String> = (next..next + size).map(|i| i.to_string()).collect();
                next += size;
                format!("[{}]", g.join(","))
            })
            .collect();
        let gpu_list: Vec<String> = (0..gpus).map(|i| format!("g{i}")).collect();
        descriptor(&[
            &format!("cpus=[{}]", groups.join(",")),
            &format!("gpus=[{}]", gpu_list.join(",")),
            &format!("mem=sum({mem})"),
        ])
    })
}

fn requests() -> impl Strategy<Value = ResourceRequest> {
    let one = (0usize..3, 0u64..60_000, 0usize..6).prop_map(|(res, units, policy)| {
        let amount = ResourceAmount(units.max(1));
        let request = match policy {
            0 => AllocationRequest::Compact(amount),
            1 => AllocationRequest::ForceCompact(amount),
            2 => AllocationRequest::Tight(amount),
            3 => AllocationRequest::ForceTight(amount),
            4 => AllocationRequest::Scatter(amount),
            _ => AllocationRequest::All,
        };
        (["cpus", "gpus", "mem"][res], request)
    });
    prop::collection::vec(one, 1..3).prop_map(|entries| {
        let mut r = ResourceRequest::default();
        for (name, request) in entries {
            let _ = r.add(name, request);
        }
        r
    })
}

#[derive(Clone, Debug)]
enum Op {
    Alloc(ResourceRequest),
    Release(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => requests().prop_map(Op::Alloc),
        2 => any::<usize>().prop_map(Op::Release),
    ];
    prop::collection::vec(op, 1..40)
}

/// Free units of every label / sum pool.
fn snapshot(w: &WorkerAllocator) -> Vec<Vec<u64>> {
    w.pools
        .iter()
        .map(|p| match &p.state {
            PoolState::Indexed(ip) => ip.free.iter().map(|&f| u64::from(f)).collect(),
            PoolState::Sum { free, .. } => vec![*free],
        })
        .collect()
}

/// Checks that live allocations never exceed capacity nor share an exclusive label, and that
/// the allocator's free state is exactly capacity minus what is live.
fn check_live(desc: &ResourceDescriptor, w: &WorkerAllocator, live: &[Allocation]) {
    w.sanity_check();
    let fresh = snapshot(&WorkerAllocator::new(desc));
    let mut used: Vec<Vec<u64>> = fresh.iter().map(|p| vec![0; p.len()]).collect();
    for a in live {
        for r in &a.resources {
            let pool = &mut used[r.resource as usize];
            if r.indices.is_empty() {
                pool[0] += r.amount.0;
            } else {
                let total: u64 = r.indices.iter().map(|(_, x)| x.0).sum();
                assert_eq!(total, r.amount.0);
                for (i, x) in &r.indices {
                    pool[*i as usize] += x.0;
                }
            }
        }
    }
    let now = snapshot(w);
    for (p, pool) in used.iter().enumerate() {
        for (i, &u) in pool.iter().enumerate() {
            assert!(u <= fresh[p][i], "over capacity: pool {p} label {i}");
            assert_eq!(
                now[p][i],
                fresh[p][i] - u,
                "free state of pool {p} label {i}"
            );
        }
    }
    // A label held whole by one allocation appears in no other live allocation.
    for (x, a) in live.iter().enumerate() {
        for r in &a.resources {
            for (i, amount) in &r.indices {
                if *amount == ResourceAmount::ONE {
                    for b in live.iter().skip(x + 1) {
                        let shared = b
                            .get(r.resource)
                            .is_some_and(|rb| rb.indices.iter().any(|(j, _)| j == i));
                        assert!(!shared, "exclusive label {i} of pool {} shared", r.resource);
                    }
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn live_allocations_respect_capacity_and_exclusivity(desc in shapes(), ops in ops()) {
        let mut w = WorkerAllocator::new(&desc);
        let mut live: Vec<Allocation> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc(r) => {
                    let before = snapshot(&w);
                    match w.try_allocate(&r) {
                        Some(a) => {
                            for (entry, got) in r.resources.iter().zip(&a.resources) {
                                if let Some(want) = entry.request.amount() {
                                    prop_assert_eq!(got.amount, want);
                                }
                            }
                            live.push(a);
                        }
                        None => prop_assert_eq!(snapshot(&w), before),
                    }
                }
                Op::Release(k) if !live.is_empty() => {
                    let a = live.swap_remove(k % live.len());
                    w.release(&a);
                }
                Op::Release(_) => {}
            }
            prop_assert_eq!(w.running() as usize, live.len());
            check_live(&desc, &w, &live);
        }
        for a in live.drain(..) {
            w.release(&a);
        }
        prop_assert!(w.is_idle());
        prop_assert_eq!(snapshot(&w), snapshot(&WorkerAllocator::new(&desc)));
    }

    #[test]
    fn release_restores_the_state(desc in shapes(), setup in ops(), r in requests()) {
        let mut w = WorkerAllocator::new(&desc);
        let mut live = Vec::new();
        for op in setup {
            if let Op::Alloc(x) = op {
                live.extend(w.try_allocate(&x));
            }
        }
        let before = snapshot(&w);
        if let Some(a) = w.try_allocate(&r) {
            w.release(&a);
        }
        prop_assert_eq!(snapshot(&w), before);
        prop_assert_eq!(w.running() as usize, live.len());
    }

    #[test]
    fn fits_empty_worker_iff_can_ever_run(desc in shapes(), r in requests()) {
        let mut w = WorkerAllocator::new(&desc);
        prop_assert_eq!(w.can_ever_run(&r), w.try_allocate(&r).is_some());
    }
}

fn coupled_worker(defs: &[&str], coupling: &str) -> WorkerAllocator {
    let mut d = descriptor(defs);
    let items = crate::resources::coupling::parse_coupling(coupling).unwrap();
    d.coupling = crate::resources::coupling::resolve_coupling(&items, &d).unwrap();
    WorkerAllocator::new(&d)
}

/// Groups (by the label's tens digit) used by each resource of an allocation.
fn groups_used(a: &Allocation, per_group: u32) -> Vec<Vec<u32>> {
    a.resources
        .iter()
        .map(|r| {
            let mut g: Vec<u32> = r.indices.iter().map(|(i, _)| i / per_group).collect();
            g.dedup();
            g
        })
        .collect()
}

#[test]
fn coupled_pools_are_taken_from_coupled_groups() {
    // cpus 2 groups of 3, foo 2 groups of 4, coupled 0–0 and 1–1.
    let mut w = coupled_worker(
        &[
            "cpus=[[1,2,3],[4,5,6]]",
            "foo=[[10,20,30,40],[50,60,70,80]]",
        ],
        "cpus[0]:foo[0],cpus[1]:foo[1]",
    );
    let r = req(&[("cpus", "1"), ("foo", "3 compact!")]);
    let first = w.try_allocate(&r).unwrap();
    // Without coupling the CPU would come from the fuller group 0 while `foo` only fits in
    // group 1; with coupling both come from group 1.
    let second = w.try_allocate(&r).unwrap();
    let cpu_group = |a: &Allocation| a.resources[0].indices[0].0 / 3;
    let foo_groups = |a: &Allocation| {
        let mut g: Vec<u32> = a.resources[1].indices.iter().map(|(i, _)| i / 4).collect();
        g.dedup();
        g
    };
    assert_eq!(foo_groups(&first), vec![cpu_group(&first)]);
    assert_eq!(foo_groups(&second), vec![cpu_group(&second)]);
    assert_ne!(cpu_group(&first), cpu_group(&second));
    // Strict: one CPU and 3 foo are left in no coupled group (foo has 1 free in each).
    assert!(w.try_allocate(&r).is_none());
    w.sanity_check();
}

/// Leaves only `free` labels of pool `pool` (named `name`) free.
fn leave_free(w: &mut WorkerAllocator, pool: u32, name: &str, free: &[u32]) {
    w.hold(&[(name, None)]).unwrap();
    w.release(&Allocation {
        resources: smallvec::smallvec![ResourceAllocation {
            resource: pool,
            amount: ResourceAmount::whole(free.len() as u64),
            indices: free.iter().map(|&i| (i, ResourceAmount::ONE)).collect(),
        }],
    });
}

#[test]
fn strict_policies_demand_the_coupling_optimal_placement() {
    // The spec's example: cpus free [4,4,0], gpus free [0,2,2].
    let defs = ["cpus=3x4", "gpus=3x2"];
    let coupling = "cpus[0]:gpus[0],cpus[1]:gpus[1],cpus[2]:gpus[2]";
    let strict = req(&[("cpus", "8 compact!"), ("gpus", "4 compact!")]);
    let lax = req(&[("cpus", "8 compact"), ("gpus", "4 compact")]);
    let setup = |w: &mut WorkerAllocator| {
        leave_free(w, 0, "cpus", &[0, 1, 2, 3, 4, 5, 6, 7]);
        leave_free(w, 1, "gpus", &[2, 3, 4, 5]);
    };
    let mut plain = worker(&defs);
    setup(&mut plain);
    assert!(plain.try_allocate(&strict).is_some());
    let mut coupled = coupled_worker(&defs, coupling);
    setup(&mut coupled);
    assert!(coupled.try_allocate(&strict).is_none());
    let a = coupled.try_allocate(&lax).unwrap();
    assert_eq!(groups_used(&a, 4)[0], vec![0, 1]);
    coupled.sanity_check();
    // On an empty coupled worker the strict request gets two coupled pairs.
    let mut empty = coupled_worker(&defs, coupling);
    let a = empty.try_allocate(&strict).unwrap();
    let cpu_groups = groups_used(&a, 4)[0].clone();
    let gpu_groups: Vec<u32> = {
        let mut g: Vec<u32> = a.resources[1].indices.iter().map(|(i, _)| i / 2).collect();
        g.dedup();
        g
    };
    assert_eq!(cpu_groups, gpu_groups);
}

/// Allocations keep small lists inline, but travel (to workers) and are journaled exactly as
/// the vectors they replaced, so journals and peers of earlier builds still read them.
#[test]
fn allocation_encodes_like_vectors() {
    #[derive(Serialize)]
    struct PoolAsVec {
        resource: u32,
        amount: ResourceAmount,
        indices: Vec<(u32, ResourceAmount)>,
    }
    #[derive(Serialize)]
    struct AllocationAsVec {
        resources: Vec<PoolAsVec>,
    }
    let pools = [
        (0, vec![(2, ResourceAmount::ONE)]),
        (
            1,
            vec![
                (0, ResourceAmount::ONE),
                (3, ResourceAmount(5000)),
                (7, ResourceAmount::ONE),
            ],
        ),
        (2, vec![]),
    ];
    for count in 0..=pools.len() {
        let used = &pools[..count];
        let inline = Allocation {
            resources: used
                .iter()
                .map(|(r, ix)| ResourceAllocation {
                    resource: *r,
                    amount: ResourceAmount::ONE,
                    indices: ix.iter().copied().collect(),
                })
                .collect(),
        };
        let vectors = AllocationAsVec {
            resources: used
                .iter()
                .map(|(r, ix)| PoolAsVec {
                    resource: *r,
                    amount: ResourceAmount::ONE,
                    indices: ix.clone(),
                })
                .collect(),
        };
        let bytes = postcard::to_allocvec(&vectors).unwrap();
        assert_eq!(postcard::to_allocvec(&inline).unwrap(), bytes);
        assert_eq!(postcard::from_bytes::<Allocation>(&bytes).unwrap(), inline);
    }
}
