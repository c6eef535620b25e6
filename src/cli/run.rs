//! `hq run` (an embedded server and local worker that run one job to completion) and
//! `hq job submit-file` (job files through the planner).

use super::job::{wait_for_jobs, WaitStyle};
use super::output::{Out, OutputMode};
use super::submit::{build_request, send_submission, SubmitOpts};
use super::{CliError, CliResult, GlobalOpts};
use crate::client::Session;
use crate::common::idset::IdSet;
use crate::jobfile::JobFileOptions;
use crate::plan::JobPlan;
use crate::protocol::messages::*;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub opts: SubmitOpts,
    /// Print the plan of a job file without running it
    #[arg(long)]
    pub dry_run: bool,
    /// Worker CPUs (default: all CPUs of this machine)
    #[arg(long = "worker-cpus")]
    pub worker_cpus: Option<String>,
    /// A job file (`*.toml`), or the program and its arguments
    #[arg(trailing_var_arg = true, required = true, num_args = 1.., value_name = "FILE | COMMAND")]
    pub command: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct SubmitFileArgs {
    /// The TOML job file
    pub file: PathBuf,
    /// Add the tasks to this open job
    #[arg(long)]
    pub job: Option<JobId>,
    /// Print the plan without submitting (no server needed)
    #[arg(long)]
    pub dry_run: bool,
    /// Wait until the job completes
    #[arg(long, conflicts_with = "progress")]
    pub wait: bool,
    /// Show a progress bar until the job completes
    #[arg(long)]
    pub progress: bool,
}

fn is_job_file(command: &[String]) -> bool {
    command.len() == 1 && command[0].ends_with(".toml") && Path::new(&command[0]).is_file()
}

/// Plans a job file; a diagnostic is rendered on stderr (file, line, caret, hint).
fn plan(path: &Path, job: Option<JobId>) -> Result<JobPlan, CliError> {
    let submit_dir = std::env::current_dir()
        .map_err(|e| CliError::Runtime(format!("cannot read the current directory: {e}")))?;
    let opts = JobFileOptions {
        submit_dir,
        allow_external_deps: job.is_some(),
    };
    crate::jobfile::load_and_plan(path, &opts).map_err(|e| {
        if std::io::stderr().is_terminal() {
            eprintln!("{:?}", miette::Report::new(e));
        } else {
            eprintln!("{}", e.render_plain());
        }
        CliError::Reported
    })
}

fn plan_file(path: &Path, job: Option<JobId>) -> Result<SubmitRequest, CliError> {
    let plan = plan(path, job)?;
    let submit_dir = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let target = match job {
        Some(id) => JobTarget::Existing(id),
        None => JobTarget::New {
            name: plan.name,
            max_fails: plan.max_fails,
        },
    };
    Ok(SubmitRequest {
        target,
        submit_dir,
        stream_dir: plan.stream,
        groups: plan.groups,
        ids_after_existing: false,
    })
}

fn dry_run(path: &Path, job: Option<JobId>) -> CliResult {
    let plan = plan(path, job)?;
    print!("{}", plan.render_dry_run());
    Ok(())
}

pub async fn submit_file(g: &GlobalOpts, args: SubmitFileArgs) -> CliResult {
    let out = g.out();
    if args.dry_run {
        return dry_run(&args.file, args.job);
    }
    let request = plan_file(&args.file, args.job)?;
    let mut session = super::connect(g).await?;
    send_submission(&mut session, request, args.wait, args.progress, &out).await?;
    Ok(())
}

async fn submit(session: &mut Session, request: SubmitRequest) -> Result<JobId, CliError> {
    match session
        .request(ClientRequest::Submit(Box::new(request)))
        .await?
    {
        ClientResponse::JobCreated { job } => Ok(job),
        other => Err(CliError::Runtime(format!("unexpected response {other:?}"))),
    }
}

pub async fn run(g: &GlobalOpts, args: RunArgs) -> CliResult {
    let out = g.out();
    let file = is_job_file(&args.command).then(|| PathBuf::from(&args.command[0]));
    if args.dry_run {
        return match &file {
            Some(f) => dry_run(f, None),
            None => Err(CliError::Usage(
                "`--dry-run` needs a job file (`hq run --dry-run job.toml`)".into(),
            )),
        };
    }
    let request = match &file {
        Some(f) => plan_file(f, None)?,
        None => build_request(&args.opts, &args.command)?,
    };
    log::set_max_level(if g.debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Warn
    });
    let embedded = super::embedded::EmbeddedCluster::start(args.worker_cpus.as_deref()).await?;
    let result = run_on(&embedded, request, &out).await;
    embedded.stop().await;
    result
}

async fn run_on(
    cluster: &super::embedded::EmbeddedCluster,
    request: SubmitRequest,
    out: &Out,
) -> CliResult {
    let mut session = Session::connect(&cluster.server_dir).await?;
    let job = submit(&mut session, request).await?;
    let style = if out.mode == OutputMode::Cli {
        WaitStyle::Progress
    } else {
        WaitStyle::Silent
    };
    let started = std::time::Instant::now();
    let stats = wait_for_jobs(
        &mut session,
        IdSelector::Ids(IdSet::from_range(job, job)),
        false,
        style,
        out,
    )
    .await?;
    let (details, _) = super::job::fetch_details(
        &mut session,
        IdSelector::Ids(IdSet::from_range(job, job)),
        true,
        None,
    )
    .await?;
    super::embedded::print_summary(out, job, &stats, &details, started.elapsed());
    if stats.finished == stats.total() {
        Ok(())
    } else {
        Err(CliError::Reported)
    }
}
