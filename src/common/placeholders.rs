//! `%{NAME}` placeholders in cwd, stdout, stderr and stream paths (tasks.md "Placeholders"): the
//! one resolver used by the server at submit, by the worker when it starts an execution and by
//! clients showing where a started task ran, plus the checks `hq submit` warns or fails with.
//!
//! Resolution happens in stages, each filling what it knows and keeping the rest verbatim: the
//! server fills the job's values (`JOB_ID`, `SUBMIT_DIR`, `SERVER_UID`, `JOB_NAME`) and makes the
//! paths absolute, so `hq job info` shows them; the worker fills `TASK_ID` and `INSTANCE_ID`.
//! Every stage is idempotent, so resolving an already resolved path changes nothing.

use crate::common::template::is_template;
use crate::protocol::messages::{InstanceId, JobId, ProgramDesc, StdioDef, TaskId};

pub const JOB_ID: &str = "JOB_ID";
pub const TASK_ID: &str = "TASK_ID";
pub const INSTANCE_ID: &str = "INSTANCE_ID";
pub const SUBMIT_DIR: &str = "SUBMIT_DIR";
pub const SERVER_UID: &str = "SERVER_UID";
pub const CWD: &str = "CWD";
pub const JOB_NAME: &str = "JOB_NAME";

/// Names `hq` knows; anything else is kept verbatim and warned about at submit.
pub const KNOWN: &[&str] = &[
    JOB_ID,
    TASK_ID,
    INSTANCE_ID,
    SUBMIT_DIR,
    SERVER_UID,
    CWD,
    JOB_NAME,
];

/// The values known at one stage of resolution; `None` keeps the placeholder for a later one.
/// `CWD` has no field: it is always the working directory resolved in the same call.
#[derive(Clone, Copy, Debug, Default)]
pub struct Values<'a> {
    pub job_id: Option<JobId>,
    pub task_id: Option<TaskId>,
    pub instance_id: Option<InstanceId>,
    /// Also the base of a relative working directory and stream directory.
    pub submit_dir: Option<&'a str>,
    pub server_uid: Option<&'a str>,
    pub job_name: Option<&'a str>,
}

impl<'a> Values<'a> {
    /// What the server knows when it accepts a submission into job `job_id`.
    pub fn at_submit(job_id: JobId, job_name: &'a str, submit_dir: &'a str, uid: &'a str) -> Self {
        Values {
            job_id: Some(job_id),
            submit_dir: Some(submit_dir),
            server_uid: Some(uid),
            job_name: Some(job_name),
            ..Values::default()
        }
    }

    /// The same values plus those of one execution.
    pub fn with_execution(self, task: TaskId, instance: InstanceId) -> Self {
        Values {
            task_id: Some(task),
            instance_id: Some(instance),
            ..self
        }
    }

    fn get(&self, name: &str, cwd: Option<&str>) -> Option<String> {
        match name {
            JOB_ID => self.job_id.map(|v| v.to_string()),
            TASK_ID => self.task_id.map(|v| v.to_string()),
            INSTANCE_ID => self.instance_id.map(|v| v.to_string()),
            SUBMIT_DIR => self.submit_dir.map(String::from),
            SERVER_UID => self.server_uid.map(String::from),
            JOB_NAME => self.job_name.map(String::from),
            CWD => cwd.map(String::from),
            _ => None,
        }
    }
}

/// Fills the placeholders of the program's working directory, stdout and stderr that `values`
/// knows (`%{CWD}` with the working directory as resolved here) and makes the paths absolute: the
/// working directory against the submit directory, the outputs against the working directory.
/// A path that is still a job-file template (rendered per task on the worker) is filled but not
/// joined, as what it renders to is not known yet.
pub fn resolve_program_paths(program: &mut ProgramDesc, values: &Values) {
    let cwd = fill_path(&program.cwd, values, None, values.submit_dir);
    let known_cwd = (!is_template(&cwd)).then_some(cwd.as_str());
    for stdio in [&mut program.stdout, &mut program.stderr] {
        if let StdioDef::File { path, .. } = stdio {
            *path = fill_path(path, values, known_cwd, known_cwd);
        }
    }
    program.cwd = cwd;
}

/// Where one execution runs and writes: what `hq task info` and `hq job info` show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskPaths {
    pub cwd: String,
    /// `None` for a channel that is discarded or streamed.
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

/// The paths of `program` for the execution `values` describe.
pub fn execution_paths(program: &ProgramDesc, values: &Values) -> TaskPaths {
    let mut p = ProgramDesc {
        args: vec![],
        env: vec![],
        cwd: program.cwd.clone(),
        stdout: program.stdout.clone(),
        stderr: program.stderr.clone(),
        stdin: vec![],
    };
    resolve_program_paths(&mut p, values);
    let file = |def: StdioDef| match def {
        StdioDef::File { path, .. } => Some(path),
        _ => None,
    };
    TaskPaths {
        cwd: p.cwd,
        stdout: file(p.stdout),
        stderr: file(p.stderr),
    }
}

/// The job's stream directory: `JOB_ID`, `SUBMIT_DIR`, `SERVER_UID` and `JOB_NAME` filled (a
/// stream directory is shared by all tasks of the job), relative to the submit directory.
pub fn resolve_stream_dir(dir: &str, values: &Values) -> String {
    let job_values = Values {
        task_id: None,
        instance_id: None,
        ..*values
    };
    fill_path(dir, &job_values, None, values.submit_dir)
}

fn fill_path(text: &str, values: &Values, cwd: Option<&str>, base: Option<&str>) -> String {
    let filled = fill(text, |name| values.get(name, cwd));
    match base {
        Some(base) if !is_template(&filled) => join(base, &filled),
        _ => filled,
    }
}

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

/// Whether `text` uses placeholder `name`.
pub fn uses(text: &str, name: &str) -> bool {
    names(text).iter().any(|n| n == name)
}

/// Names used in `text` that `hq` does not know.
pub fn unknown(text: &str) -> Vec<String> {
    names(text)
        .into_iter()
        .filter(|n| !KNOWN.contains(&n.as_str()))
        .collect()
}

/// A working directory may not refer to itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Working directory path cannot contain the working directory placeholder `%{{CWD}}`.")]
pub struct CwdInCwd;

pub fn check_cwd(cwd: &str) -> Result<(), CwdInCwd> {
    if uses(cwd, CWD) {
        Err(CwdInCwd)
    } else {
        Ok(())
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

    fn program(cwd: &str, stdout: &str) -> ProgramDesc {
        ProgramDesc {
            args: vec![],
            env: vec![],
            cwd: cwd.into(),
            stdout: StdioDef::File {
                path: stdout.into(),
                rm_if_finished: false,
            },
            stderr: StdioDef::Null,
            stdin: vec![],
        }
    }

    fn stdout(p: &ProgramDesc) -> &str {
        match &p.stdout {
            StdioDef::File { path, .. } => path,
            _ => panic!("not a file"),
        }
    }

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
    fn submit_stage_fills_job_values_and_the_partial_cwd() {
        let mut p = program("/tmp/%{TASK_ID}", "%{CWD}/job-%{JOB_ID}/%{TASK_ID}.stdout");
        resolve_program_paths(&mut p, &Values::at_submit(1, "j", "/sub", "uid"));
        assert_eq!(p.cwd, "/tmp/%{TASK_ID}");
        assert_eq!(stdout(&p), "/tmp/%{TASK_ID}/job-1/%{TASK_ID}.stdout");
    }

    #[test]
    fn relative_paths_join_the_submit_dir_then_the_cwd() {
        let mut p = program("work-%{INSTANCE_ID}", "out-%{SERVER_UID}");
        let submit = Values::at_submit(1, "j", "/sub/", "uid");
        resolve_program_paths(&mut p, &submit);
        assert_eq!(p.cwd, "/sub/work-%{INSTANCE_ID}");
        assert_eq!(stdout(&p), "/sub/work-%{INSTANCE_ID}/out-uid");
        let once = p.clone();
        resolve_program_paths(&mut p, &submit);
        assert_eq!(p, once, "resolving twice changes nothing");
        resolve_program_paths(&mut p, &Values::default().with_execution(4, 2));
        assert_eq!(p.cwd, "/sub/work-2");
        assert_eq!(stdout(&p), "/sub/work-2/out-uid");
    }

    #[test]
    fn templates_are_filled_but_not_joined() {
        let mut p = program("{{ dir }}", "%{CWD}/{{ name }}");
        resolve_program_paths(&mut p, &Values::at_submit(1, "j", "/sub", "uid"));
        assert_eq!(p.cwd, "{{ dir }}");
        assert_eq!(stdout(&p), "%{CWD}/{{ name }}");
    }

    #[test]
    fn stream_dirs_get_only_job_values() {
        let v = Values::at_submit(2, "j", "/sub", "uid").with_execution(3, 0);
        assert_eq!(
            resolve_stream_dir("log-%{JOB_ID}-%{TASK_ID}", &v),
            "/sub/log-2-%{TASK_ID}"
        );
    }

    #[test]
    fn cwd_may_not_contain_cwd() {
        assert_eq!(check_cwd("%{CWD}/x"), Err(CwdInCwd));
        assert_eq!(check_cwd("%{SUBMIT_DIR}/x"), Ok(()));
    }
}
