//! Tests of exec threads: starting, reaping, hand-over and withdrawal of successors.

use super::*;
use crate::worker::spawn::{prepare, SpawnRequest};
use std::ffi::OsStr;
use std::path::Path;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn launch(args: &[String], env: &[(&OsStr, &OsStr)], cwd: &Path, stdout: Option<File>) -> Launch {
    let req = SpawnRequest {
        args,
        env,
        cwd,
        death_signal: libc::SIGTERM,
    };
    Launch {
        prepared: prepare(&req).unwrap(),
        setup: Box::new(move || {
            Ok(Outputs {
                stdout,
                stderr: None,
            })
        }),
    }
}

async fn run(args: &[String], env: &[(&OsStr, &OsStr)]) -> StartReply {
    start(launch(args, env, Path::new("/"), None), None)
        .started()
        .await
        .expect("not withdrawn")
}

#[tokio::test]
async fn exit_codes_and_path_lookup() {
    let mut p = run(&args(&["true"]), &[]).await.unwrap();
    assert!(p.wait().await.unwrap().success());
    let mut p = run(&args(&["sh", "-c", "exit 3"]), &[]).await.unwrap();
    assert_eq!(p.wait().await.unwrap().code(), Some(3));
    match run(&args(&["surely-not-a-program-xyz"]), &[]).await {
        Err(StartError::Spawn(SpawnError::Io(e))) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
        _ => panic!("expected NotFound"),
    }
    let no_path = [(OsStr::new("PATH"), OsStr::new("/nonexistent"))];
    assert!(matches!(
        run(&args(&["true"]), &no_path).await,
        Err(StartError::Spawn(SpawnError::Io(_)))
    ));
}

#[tokio::test]
async fn env_cwd_and_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let out = File::create(dir.path().join("out")).unwrap();
    let a = args(&["sh", "-c", "echo $HQ_X $(pwd)"]);
    let env = [(OsStr::new("HQ_X"), OsStr::new("y"))];
    let l = launch(&a, &env, dir.path(), Some(out));
    let mut p = start(l, None).started().await.unwrap().unwrap();
    assert!(p.wait().await.unwrap().success());
    let text = std::fs::read_to_string(dir.path().join("out")).unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(text, format!("y {}\n", cwd.display()));
}

#[tokio::test]
async fn script_without_shebang_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s");
    std::fs::write(&script, "exit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let a = vec![script.display().to_string()];
    // A process another test forks while the script is open for writing keeps the file busy
    // for a moment (`ETXTBSY`), the known race of writing a program and running it at once.
    let mut result = run(&a, &[]).await;
    for _ in 0..50 {
        match &result {
            Err(StartError::Spawn(SpawnError::Io(e)))
                if e.raw_os_error() == Some(libc::ETXTBSY) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                result = run(&a, &[]).await;
            }
            _ => break,
        }
    }
    match result {
        Err(StartError::Spawn(SpawnError::Unsupported)) => {}
        Err(e) => panic!("expected Unsupported, got {e:?}"),
        Ok(_) => panic!("expected Unsupported, the script started"),
    }
}

#[tokio::test]
async fn a_failing_setup_is_the_task_error() {
    let a = args(&["true"]);
    let mut l = launch(&a, &[], Path::new("/"), None);
    l.setup = Box::new(|| Err("Cannot create file x".into()));
    match start(l, None).started().await {
        Some(Err(StartError::Setup(e))) => assert_eq!(e, "Cannot create file x"),
        _ => panic!("expected the setup error"),
    }
}

/// A predecessor that runs until `release` is called: it reads one line from a FIFO.
struct Held {
    fifo: std::path::PathBuf,
    args: Vec<String>,
}

impl Held {
    fn new(dir: &Path) -> Held {
        let fifo = dir.join("fifo");
        let path = std::ffi::CString::new(fifo.display().to_string()).unwrap();
        // SAFETY: creates a FIFO at a path we own.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let args = args(&["sh", "-c", &format!("read x < {}", fifo.display())]);
        Held { fifo, args }
    }

    fn release(&self) {
        std::fs::write(&self.fifo, "go\n").unwrap();
    }
}

/// A held predecessor running in `dir`, and `second` handed over behind it.
async fn handed_behind_held(dir: &Path, second: &[String]) -> (Held, TaskProcess, Pending) {
    handed_behind_held_via(dir, second, None).await
}

/// [`handed_behind_held`], the chain telling of what follows its first start through `mailbox`.
async fn handed_behind_held_via(
    dir: &Path,
    second: &[String],
    mailbox: Option<Arc<Mailbox>>,
) -> (Held, TaskProcess, Pending) {
    let held = Held::new(dir);
    let l = launch(&held.args, &[], Path::new("/"), None);
    let first = start(l, mailbox).started().await.unwrap().unwrap();
    let (pending, _) = first
        .slot()
        .hand_over(launch(second, &[], dir, None))
        .expect("the predecessor runs");
    (held, first, pending)
}

#[tokio::test]
async fn a_handed_over_successor_starts_when_its_predecessor_exits() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("second");
    let second = args(&["sh", "-c", &format!("echo $$ > {}", marker.display())]);
    let (held, mut first, pending) = handed_behind_held(dir.path(), &second).await;
    let mut pending = Box::pin(pending.started());
    assert!(futures::poll!(&mut pending).is_pending());
    assert!(!marker.exists());
    held.release();
    assert!(first.wait().await.unwrap().success());
    let mut p = pending.await.unwrap().unwrap();
    assert!(p.wait().await.unwrap().success());
    let pid: u32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, p.id());
    // The chain has ended: nothing can be handed over to it any more.
    let late = p.slot().hand_over(launch(&second, &[], dir.path(), None));
    assert!(late.is_none());
}

/// Appends the PID of the shell to `log`.
fn log_pid(log: &Path) -> Vec<String> {
    args(&["sh", "-c", &format!("echo $$ >> {}", log.display())])
}

#[tokio::test]
async fn successors_handed_over_start_in_order_and_one_that_fails_lets_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (held, mut first, second) = handed_behind_held(dir.path(), &log_pid(&log)).await;
    let failing = Launch {
        setup: Box::new(|| Err("no room".into())),
        ..launch(&log_pid(&log), &[], dir.path(), None)
    };
    let (third, _) = first.slot().hand_over(failing).unwrap();
    let (fourth, _) = first
        .slot()
        .hand_over(launch(&log_pid(&log), &[], dir.path(), None))
        .unwrap();
    let mut fourth = Box::pin(fourth.started());
    assert!(futures::poll!(&mut fourth).is_pending());
    held.release();
    assert!(first.wait().await.unwrap().success());
    let mut second = second.started().await.unwrap().unwrap();
    assert!(second.wait().await.unwrap().success());
    match third.started().await {
        Some(Err(StartError::Setup(e))) => assert_eq!(e, "no room"),
        _ => panic!("the failing setup is the third's error"),
    }
    let mut fourth = fourth.await.unwrap().unwrap();
    assert!(fourth.wait().await.unwrap().success());
    let pids: Vec<u32> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids, vec![second.id(), fourth.id()]);
}

#[tokio::test]
async fn a_withdrawn_successor_never_starts() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("second");
    let second = args(&["sh", "-c", &format!("touch {}", marker.display())]);
    let held = Held::new(dir.path());
    let mut first = run(&held.args, &[]).await.unwrap();
    let (pending, ticket) = first
        .slot()
        .hand_over(launch(&second, &[], dir.path(), None))
        .unwrap();
    let log = dir.path().join("log");
    let (behind, _) = first
        .slot()
        .hand_over(launch(&log_pid(&log), &[], dir.path(), None))
        .unwrap();
    assert!(first.slot().withdraw(ticket));
    assert!(!first.slot().withdraw(ticket));
    assert!(pending.started().await.is_none());
    held.release();
    assert!(first.wait().await.unwrap().success());
    // The one behind it moved up: it starts when the first exits.
    let mut behind = behind.started().await.unwrap().unwrap();
    assert!(behind.wait().await.unwrap().success());
    assert!(log.exists());
    // A successor is cloned before its predecessor's end is sent; the withdrawn one never was.
    assert!(!marker.exists());
}

#[tokio::test]
async fn a_chain_leaves_what_follows_its_first_start_in_the_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("second");
    let second = args(&["sh", "-c", &format!("touch {}", marker.display())]);
    let mailbox = Arc::new(Mailbox::default());
    // The first start is answered directly.
    let (held, mut first, pending) =
        handed_behind_held_via(dir.path(), &second, Some(mailbox.clone())).await;
    let mut woken = Box::pin(super::super::mailbox::next(None, &mailbox));
    assert!(futures::poll!(&mut woken).is_pending());
    held.release();
    // The second starts at the first's exit; the loop hears of both only when it collects.
    woken.await;
    for _ in 0..1000 {
        if marker.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(marker.exists());
    let mut pending = Box::pin(pending.started());
    assert!(futures::poll!(&mut pending).is_pending());
    assert!(futures::poll!(Box::pin(first.wait())).is_pending());
    assert!(mailbox.deliver());
    assert!(first.wait().await.unwrap().success());
    let mut second = pending.await.unwrap().unwrap();
    // The chain's last exit, with nobody behind it, is answered directly.
    assert!(second.wait().await.unwrap().success());
    // Collected and empty: disarmed, so the next post wakes the loop again.
    assert!(!mailbox.deliver());
}

#[tokio::test]
async fn a_direct_mailbox_delivers_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mailbox = Arc::new(Mailbox::default());
    mailbox.set_direct(true);
    let (held, mut first, pending) =
        handed_behind_held_via(dir.path(), &args(&["true"]), Some(mailbox.clone())).await;
    held.release();
    assert!(first.wait().await.unwrap().success());
    let mut second = pending.started().await.unwrap().unwrap();
    assert!(second.wait().await.unwrap().success());
    assert!(!mailbox.deliver());
}

#[tokio::test]
async fn a_task_variable_replaces_the_workers_and_the_last_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let out = File::create(dir.path().join("out")).unwrap();
    let a = args(&["sh", "-c", "echo $HQ_X $HOME; env | grep -c '^HOME='"]);
    let env = [
        (OsStr::new("HQ_X"), OsStr::new("a")),
        (OsStr::new("HOME"), OsStr::new("/h1")),
        (OsStr::new("HQ_X"), OsStr::new("b")),
    ];
    let l = launch(&a, &env, dir.path(), Some(out));
    let mut p = start(l, None).started().await.unwrap().unwrap();
    assert!(p.wait().await.unwrap().success());
    let text = std::fs::read_to_string(dir.path().join("out")).unwrap();
    assert_eq!(text, "b /h1\n1\n");
}
