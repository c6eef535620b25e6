//! The physical limit for `benchmarks/throughput.sh`: starts N processes with at most C in
//! flight and waits for each, the way a worker runs N tasks on C cpus, with nothing else.
//! Build: `rustc -O benchmarks/spawnloop.rs -o spawnloop`. Usage: `spawnloop N C [CMD ARGS...]`
//! (default command `true`). Prints the wall time in seconds.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .expect("usage: spawnloop N C [CMD...]");
    let c: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .expect("usage: spawnloop N C [CMD...]");
    let cmd: Vec<String> = if args.len() > 3 {
        args[3..].to_vec()
    } else {
        vec!["true".into()]
    };
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    // One thread per slot: each starts a process, waits for it, and takes the next one.
    let threads: Vec<_> = (0..c)
        .map(|_| {
            let next = next.clone();
            let cmd = cmd.clone();
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let status = Command::new(&cmd[0])
                        .args(&cmd[1..])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .expect("cannot start the command");
                    assert!(status.success(), "the command failed");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    println!("{:.3}", start.elapsed().as_secs_f64());
}
