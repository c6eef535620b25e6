//! Finds every process of a task execution, including descendants that left its process group
//! (`setsid`, double fork), by the unique `HQ_ACCESS_KEY` value they inherit in their
//! environment. Reading is split from parsing so the parser is tested without a host.

use std::path::Path;

/// The environment entry that marks processes of one execution.
pub const MARKER_VAR: &str = "HQ_ACCESS_KEY";

/// Whether a NUL-separated environment block contains `MARKER_VAR=value`.
pub fn environ_has_marker(environ: &[u8], value: &str) -> bool {
    let wanted = format!("{MARKER_VAR}={value}");
    environ
        .split(|b| *b == 0)
        .any(|entry| entry == wanted.as_bytes())
}

/// PIDs under `proc_root` (normally `/proc`) whose environment carries the marker.
pub fn marked_processes(proc_root: &Path, value: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return vec![];
    };
    let own = std::process::id() as i32;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| *pid != own)
        .filter(|pid| {
            std::fs::read(proc_root.join(pid.to_string()).join("environ"))
                .is_ok_and(|env| environ_has_marker(&env, value))
        })
        .collect()
}

/// Sends `signal` to every marked process outside the process group `group`, which the caller
/// signals with killpg: a process must not get the signal twice (a SIGINT handler would run
/// twice).
pub fn signal_marked(value: &str, signal: i32, group: i32) -> usize {
    let mut sent = 0;
    for pid in marked_processes(Path::new("/proc"), value) {
        // SAFETY: getpgid and kill(2) only read a process's group and send a signal; a process
        // that is already gone yields ESRCH.
        unsafe {
            if libc::getpgid(pid) == group {
                continue;
            }
            libc::kill(pid, signal);
        }
        sent += 1;
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_marker_among_entries() {
        let env = b"PATH=/bin\0HQ_ACCESS_KEY=abc:1:2:0\0HOME=/root\0";
        assert!(environ_has_marker(env, "abc:1:2:0"));
        assert!(!environ_has_marker(env, "abc:1:2"));
        assert!(!environ_has_marker(
            b"HQ_ACCESS_KEY=abc:1:2:0x\0",
            "abc:1:2:0"
        ));
    }

    #[test]
    fn scans_a_fixture_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        for (pid, env) in [
            ("10", "HQ_ACCESS_KEY=k\0"),
            ("11", "X=1\0"),
            ("self", "HQ_ACCESS_KEY=k\0"),
        ] {
            std::fs::create_dir(dir.path().join(pid)).unwrap();
            std::fs::write(dir.path().join(pid).join("environ"), env).unwrap();
        }
        assert_eq!(marked_processes(dir.path(), "k"), vec![10]);
    }
}
