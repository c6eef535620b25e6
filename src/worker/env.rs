//! The environment, working directory and output paths of one task execution (tasks.md).

use super::mailbox::Mailbox;
use crate::common::notify::KEY_VAR;
use crate::common::placeholders::{self, Values};
use crate::protocol::messages::{BodyMsg, PinMode, ProgramDesc, StdioDef, TaskAssignment};
use crate::resources::ResourceDescriptor;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything the launcher needs that is not in the assignment itself.
pub struct WorkerContext {
    pub worker_id: u32,
    pub server_uid: String,
    pub hostname: String,
    pub work_dir: PathBuf,
    pub resources: ResourceDescriptor,
    pub hq_path: String,
    /// Where exec threads leave what the worker loop collects (`mailbox.rs`).
    pub mailbox: Arc<Mailbox>,
}

/// A resolved execution plan: program, env, cwd and where the output goes.
pub struct Prepared {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub stdout: Option<(PathBuf, bool)>,
    pub stderr: Option<(PathBuf, bool)>,
    pub task_dir: Option<PathBuf>,
}

/// `gpus/nvidia` → `gpus_nvidia`.
pub fn env_name(resource: &str) -> String {
    resource
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The task's program: the body's, or its per-task rendering for a templated job-file step.
pub fn program_of<'a>(
    a: &TaskAssignment,
    body: &'a BodyMsg,
) -> Result<std::borrow::Cow<'a, ProgramDesc>, String> {
    match &body.body.template {
        None => Ok(std::borrow::Cow::Borrowed(&body.body.program)),
        Some(tpl) => crate::common::template::render_program(
            &body.body.program,
            tpl,
            a.task,
            a.entry.as_deref(),
        )
        .map(std::borrow::Cow::Owned),
    }
}

/// The execution's plan; `access_key` becomes its `HQ_ACCESS_KEY` (common/notify.rs).
pub fn prepare(
    ctx: &WorkerContext,
    a: &TaskAssignment,
    body: &BodyMsg,
    program: &ProgramDesc,
    access_key: &str,
) -> Prepared {
    let values = Values::at_submit(a.job, &body.job_name, &body.submit_dir, &ctx.server_uid)
        .with_execution(a.task, a.instance);
    let paths = placeholders::execution_paths(program, &values);
    let cwd = PathBuf::from(&paths.cwd);
    let stdio = |def: &StdioDef, path: Option<String>| match def {
        StdioDef::File { rm_if_finished, .. } => path.map(|p| (PathBuf::from(p), *rm_if_finished)),
        StdioDef::Null | StdioDef::Stream => None,
    };
    let stdout = stdio(&program.stdout, paths.stdout);
    let stderr = stdio(&program.stderr, paths.stderr);
    let multi_node = !a.nodes.is_empty();
    let task_dir = (body.body.task_dir || multi_node).then(|| {
        ctx.work_dir
            .join("tasks")
            .join(format!("{}-{}-{}", a.job, a.task, a.instance))
    });

    let mut env: Vec<(String, String)> = program.env.clone();
    let user_has = |k: &str| program.env.iter().any(|(n, _)| n == k);
    let set = |env: &mut Vec<(String, String)>, k: &str, v: String| {
        env.retain(|(n, _)| n != k);
        env.push((k.to_string(), v));
    };
    set(&mut env, "HQ_JOB_ID", a.job.to_string());
    set(&mut env, "HQ_TASK_ID", a.task.to_string());
    set(&mut env, "HQ_INSTANCE_ID", a.instance.to_string());
    if body.body.max_retries > 0 {
        set(&mut env, "HQ_RETRIES", a.retries.to_string());
    }

    set(&mut env, "HQ_SUBMIT_DIR", body.submit_dir.clone());
    set(&mut env, "HQ_JOB_NAME", body.job_name.clone());
    set(&mut env, "HQ", ctx.hq_path.clone());
    set(&mut env, KEY_VAR, access_key.to_string());
    if let Some(entry) = &a.entry {
        set(
            &mut env,
            "HQ_ENTRY",
            String::from_utf8_lossy(entry).into_owned(),
        );
    }
    if let Some(dir) = &task_dir {
        set(&mut env, "HQ_TASK_DIR", dir.display().to_string());
        set(
            &mut env,
            "HQ_ERROR_FILENAME",
            dir.join("hq-error").display().to_string(),
        );
    }
    let grown = body.body.resources_after(a.retries);
    let variants = &grown.as_ref().unwrap_or(&body.body.resources).variants;

    if variants.len() > 1 {
        set(&mut env, "HQ_RESOURCE_VARIANT", a.variant.to_string());
    }
    let mut args = program.args.clone();
    if multi_node {
        set(&mut env, "HQ_NUM_NODES", a.nodes.len().to_string());
        if let Some(dir) = &task_dir {
            set(
                &mut env,
                "HQ_NODE_FILE",
                dir.join("hq-nodefile").display().to_string(),
            );
            set(
                &mut env,
                "HQ_HOST_FILE",
                dir.join("hq-hostfile").display().to_string(),
            );
        }
        return Prepared {
            args,
            env,
            cwd,
            stdout,
            stderr,
            task_dir,
        };
    }
    if let Some(request) = variants.get(a.variant as usize) {
        for e in &request.resources {
            set(
                &mut env,
                &format!("HQ_RESOURCE_REQUEST_{}", env_name(&e.resource)),
                e.request.to_string(),
            );
        }
    }
    let mut cpus: Option<(String, bool)> = None;
    for r in &a.allocation.resources {
        let Some(item) = ctx.resources.resources.get(r.resource as usize) else {
            continue;
        };
        if r.indices.is_empty() {
            continue;
        }
        let labels = ctx.resources.labels_of(r).join(",");
        set(
            &mut env,
            &format!("HQ_RESOURCE_VALUES_{}", env_name(&item.name)),
            labels.clone(),
        );
        match item.name.as_str() {
            "cpus" => cpus = Some((labels, r.amount.is_integral())),
            "gpus/nvidia" => {
                set(&mut env, "CUDA_VISIBLE_DEVICES", labels);
                set(&mut env, "CUDA_DEVICE_ORDER", "PCI_BUS_ID".into());
            }
            "gpus/amd" => set(&mut env, "ROCR_VISIBLE_DEVICES", labels),
            _ => {}
        }
    }
    if let Some((ids, integral)) = &cpus {
        set(&mut env, "HQ_CPUS", ids.clone());
        if *integral && !user_has("OMP_NUM_THREADS") {
            set(
                &mut env,
                "OMP_NUM_THREADS",
                ids.split(',').count().to_string(),
            );
        }
        match body.body.pin {
            PinMode::TaskSet => {
                set(&mut env, "HQ_PIN", "taskset".into());
                let mut pinned = vec!["taskset".to_string(), "-c".to_string(), ids.clone()];
                pinned.append(&mut args);
                args = pinned;
            }
            PinMode::OpenMp => {
                set(&mut env, "HQ_PIN", "omp".into());
                if !user_has("OMP_PROC_BIND") {
                    set(&mut env, "OMP_PROC_BIND", "close".into());
                }
                if !user_has("OMP_PLACES") {
                    set(&mut env, "OMP_PLACES", format!("{{{ids}}}"));
                }
            }
            PinMode::None => {}
        }
    }
    Prepared {
        args,
        env,
        cwd,
        stdout,
        stderr,
        task_dir,
    }
}
