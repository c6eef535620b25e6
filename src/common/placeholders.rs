//! `%{NAME}` placeholders in cwd, stdout, stderr and stream paths (tasks.md "Placeholders"), and
//! the paths of a started task as a client reconstructs them.

use crate::protocol::messages::{InstanceId, ProgramDesc, StdioDef, TaskId};

/// Names `hq` knows; anything else is kept verbatim and warned about at submit.
pub const KNOWN: &[&str] = &[
    "JOB_ID",
    "TASK_ID",
    "INSTANCE_ID",
    "SUBMIT_DIR",
    "SERVER_UID",
    "CWD",
    "JOB_NAME",
];

/// Replaces every `%{NAME}` for which `value` returns `Some`, keeping the others as written.
pub fn fill(text: &str, mut value: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match value(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push_str("%{");
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholder names used in `text`.
pub fn names(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    fill(text, |name| {
        found.push(name.to_string());
        None
    });
    found
}

/// Names used in `text` that `hq` does not know.
pub fn unknown(text: &str) -> Vec<String> {
    names(text)
        .into_iter()
        .filter(|n| !KNOWN.contains(&n.as_str()))
        .collect()
}

/// Where an execution of a task runs and writes, from the body the server stored (whose
/// `JOB_ID`, `SUBMIT_DIR` and `SERVER_UID` are already filled): what `hq task info` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskPaths {
    pub cwd: String,
    /// `None` for a channel that is discarded or streamed.
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

pub fn task_paths(
    submit_dir: &str,
    program: &ProgramDesc,
    task: TaskId,
    instance: InstanceId,
) -> TaskPaths {
    let fill_task = |text: &str, cwd: Option<&str>| {
        fill(text, |n| match n {
            "TASK_ID" => Some(task.to_string()),
            "INSTANCE_ID" => Some(instance.to_string()),
            "CWD" => cwd.map(String::from),
            _ => None,
        })
    };
    let cwd = join(submit_dir, &fill_task(&program.cwd, None));
    let file = |def: &StdioDef| match def {
        StdioDef::File { path, .. } => Some(join(&cwd, &fill_task(path, Some(&cwd)))),
        _ => None,
    };
    TaskPaths {
        stdout: file(&program.stdout),
        stderr: file(&program.stderr),
        cwd,
    }
}

fn join(base: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", base.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_known_and_keeps_unknown() {
        let r = fill("%{CWD}/job-%{JOB_ID}/%{TASK_ID}.%{X}", |n| match n {
            "CWD" => Some("/w".into()),
            "JOB_ID" => Some("3".into()),
            "TASK_ID" => Some("7".into()),
            _ => None,
        });
        assert_eq!(r, "/w/job-3/7.%{X}");
        assert_eq!(unknown("%{JOB_ID}%{FOO}"), vec!["FOO".to_string()]);
    }

    #[test]
    fn task_paths_resolve_relative_to_cwd_and_submit_dir() {
        let program = ProgramDesc {
            args: vec![],
            env: vec![],
            cwd: "work-%{TASK_ID}".into(),
            stdout: StdioDef::File {
                path: "%{CWD}/out-%{INSTANCE_ID}".into(),
                rm_if_finished: false,
            },
            stderr: StdioDef::Null,
            stdin: vec![],
        };
        let p = task_paths("/sub/", &program, 4, 2);
        assert_eq!(p.cwd, "/sub/work-4");
        assert_eq!(p.stdout.as_deref(), Some("/sub/work-4/out-2"));
        assert_eq!(p.stderr, None);
    }
}
