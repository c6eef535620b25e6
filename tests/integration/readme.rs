//! The README's five-minute tour runs as written in an empty directory.

use crate::utils::*;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The shell block after "Then, as written" in README.md.
fn tour() -> String {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let start = readme
        .find("Then, as written")
        .expect("the tour in README.md");
    let rest = &readme[start..];
    let code = &rest[rest.find("```bash\n").unwrap() + 8..];
    code[..code.find("```").unwrap()].to_string()
}

#[test]
fn readme_tour_runs_as_written_in_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = std::path::Path::new(HQ).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let script = format!("set -eu\n{}", tour());
    let child = Command::new("bash")
        .args(["-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("EXAMPLES", format!("{ROOT}/examples"))
        .env("HQ_SERVER_DIR", dir.path().join(".hq-server"))
        .env_remove("HQ_OUTPUT_MODE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so whatever the tour left running can be ended.
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let out = child.wait_with_output().unwrap();
    // SAFETY: signalling the process group this test created.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tour failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for expected in [
        "Job submitted successfully, job ID: 1",
        "3\n",
        "sum: 5050",
        "Job submitted successfully, job ID: 4",
        "line 99\nline 100\n",
        "HyperQueue",
        "CPU: ",
    ] {
        assert!(
            stdout.contains(expected),
            "no `{expected}` in:\n{stdout}\n{stderr}"
        );
    }
    assert!(dir.path().join("job-2/1.stdout").exists());
}
