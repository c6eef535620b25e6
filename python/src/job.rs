//! Jobs built in Python, through the same planner as job files: the task dictionaries that
//! `hyperqueue.job.Job` produces become planner definitions, and the plan a submission.

use crate::errors::{invalid, plan_error};
use hyperqueue::plan::defs::{Definitions, TaskDef};
use hyperqueue::protocol::messages::*;
use hyperqueue::resources::{
    AllocationRequest, ResourceAmount, ResourceRequest, ResourceRequestVariants,
};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

/// What `Job._build()` returns.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct JobDesc {
    name: String,
    max_fails: Option<u32>,
    /// Absolute directory the client runs in (`%{SUBMIT_DIR}`).
    submit_dir: String,
    tasks: Vec<TaskDesc>,
}

/// One task of a Python job (`Task._build()`): a tuple, as 100,000 of them convert much
/// faster than dictionaries. Strings carry placeholders as in `hq submit`.
#[derive(FromPyObject)]
struct TaskDesc(
    u32,                   // id
    Vec<String>,           // args
    Vec<(String, String)>, // env
    String,                // cwd
    StdioDesc,             // stdout
    StdioDesc,             // stderr
    Option<PyBackedBytes>, // stdin
    Vec<u32>,              // deps
    bool,                  // task_dir
    i32,                   // priority
    Vec<RequestDesc>,      // resource variants; empty for the default `cpus = 1`
    Option<String>,        // crash limit: None (5), a number, `never-restart`, `unlimited`
);

/// `(path or None for the default, remove if finished)`.
#[derive(FromPyObject)]
struct StdioDesc(Option<String>, bool);

/// `hyperqueue.ffi.protocol.ResourceRequest`: `(n_nodes, cpus, [(name, amount)], min_time)`.
#[derive(FromPyObject)]
struct RequestDesc(u32, Option<String>, Vec<(String, String)>, f64);

const DEFAULT_STDOUT: &str = "%{CWD}/job-%{JOB_ID}/%{TASK_ID}.stdout";
const DEFAULT_STDERR: &str = "%{CWD}/job-%{JOB_ID}/%{TASK_ID}.stderr";

impl JobDesc {
    /// Plans the job: the same checks, and the same messages, as for a job file.
    pub fn plan(self) -> PyResult<SubmitRequest> {
        let mut defs = Definitions {
            name: self.name,
            max_fails: self.max_fails,
            ..Default::default()
        };
        defs.tasks.reserve(self.tasks.len());
        for t in self.tasks {
            let id = t.0;
            let deps = t.7.iter().map(|d| (*d, 0..0)).collect();
            let body = t
                .body()
                .map_err(|e| invalid(format!("invalid task {id}: {e}")))?;
            defs.tasks.push(TaskDef {
                id: Some((id, 0..0)),
                span: 0..0,
                deps,
                body,
            });
        }
        let plan = hyperqueue::plan::build(&defs).map_err(plan_error)?;
        Ok(SubmitRequest {
            target: JobTarget::New {
                name: plan.name,
                max_fails: plan.max_fails,
            },
            submit_dir: self.submit_dir,
            stream_dir: None,
            groups: plan.groups,
            ids_after_existing: false,
        })
    }
}

impl TaskDesc {
    fn body(self) -> Result<TaskBody, String> {
        let TaskDesc(
            _,
            args,
            env,
            cwd,
            stdout,
            stderr,
            stdin,
            _,
            task_dir,
            priority,
            resources,
            crash,
        ) = self;
        if args.is_empty() {
            return Err("the program has no arguments".into());
        }
        Ok(TaskBody {
            program: ProgramDesc {
                args,
                env,
                cwd,
                stdout: stdio(stdout, DEFAULT_STDOUT),
                stderr: stdio(stderr, DEFAULT_STDERR),
                stdin: stdin.map(|b| b.to_vec()).unwrap_or_default(),
            },
            resources: variants(&resources)?,
            pin: PinMode::None,
            task_dir,
            time_limit_ms: None,
            priority,
            crash_limit: crash_limit(crash.as_deref())?,
            max_retries: 0,
            retry_growth: vec![],
            template: None,
        })
    }
}

fn stdio(desc: StdioDesc, default: &str) -> StdioDef {
    StdioDef::File {
        path: desc.0.unwrap_or_else(|| default.into()),
        rm_if_finished: desc.1,
    }
}

fn crash_limit(text: Option<&str>) -> Result<CrashLimit, String> {
    match text {
        None => Ok(CrashLimit::Limit(5)),
        Some("never-restart") => Ok(CrashLimit::NeverRestart),
        Some("unlimited") => Ok(CrashLimit::Unlimited),
        Some(n) => match n.parse::<u32>() {
            Ok(n) if n > 0 => Ok(CrashLimit::Limit(n)),
            _ => Err(format!(
                "invalid crash_limit `{n}`: use a number >= 1, `never-restart` or `unlimited`"
            )),
        },
    }
}

fn variants(requests: &[RequestDesc]) -> Result<ResourceRequestVariants, String> {
    if requests.is_empty() {
        return Ok(ResourceRequestVariants::single(
            ResourceRequest::default_cpu(),
        ));
    }
    let variants = ResourceRequestVariants {
        variants: requests.iter().map(request).collect::<Result<_, _>>()?,
    };
    variants.validate().map_err(|e| e.to_string())?;
    Ok(variants)
}

fn request(desc: &RequestDesc) -> Result<ResourceRequest, String> {
    let RequestDesc(n_nodes, cpus, resources, min_time) = desc;
    if !min_time.is_finite() || *min_time < 0.0 {
        return Err(format!("invalid min_time {min_time}: give seconds >= 0"));
    }
    let mut out = ResourceRequest {
        n_nodes: *n_nodes,
        min_time_secs: min_time.ceil() as u64,
        weight: ResourceAmount::ONE,
        resources: vec![],
    };
    let amounts = cpus
        .iter()
        .map(|c| ("cpus", c.as_str()))
        .chain(resources.iter().map(|(n, a)| (n.as_str(), a.as_str())));
    for (name, amount) in amounts {
        let parsed = AllocationRequest::parse(amount)
            .map_err(|e| format!("invalid request for resource `{name}`: {e}"))?;
        out.add(name, parsed).map_err(|e| e.to_string())?;
    }
    out.validate().map_err(|e| e.to_string())?;
    Ok(out)
}
