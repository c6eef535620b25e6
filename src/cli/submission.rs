//! Sending submissions and reporting them: `hq submit` (flags and `#HQ` directives), `hq job
//! submit-file` (job files through the planner, with diagnostics), and the waits after them.

use super::output::{Out, OutputMode};
use super::progress::{report_end, wait, WaitStyle};
use super::submit::{build_request, SubmitArgs};
use super::{connect, CliError, CliResult, GlobalOpts};
use crate::client::Session;
use crate::common::idset::IdSet;
use crate::jobfile::JobFileOptions;
use crate::plan::JobPlan;
use crate::protocol::messages::*;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct SubmitFileArgs {
    /// The TOML job file
    pub file: PathBuf,
    /// Add the tasks to this open job
    #[arg(long)]
    pub job: Option<JobId>,
    /// Print the plan without submitting (no server needed)
    #[arg(long, conflicts_with_all = ["wait", "progress"])]
    pub dry_run: bool,
    /// Wait until the job completes
    #[arg(long, conflicts_with = "progress")]
    pub wait: bool,
    /// Show a progress bar until the job completes
    #[arg(long)]
    pub progress: bool,
}

/// `hq submit`.
pub async fn run(g: &GlobalOpts, args: SubmitArgs) -> CliResult {
    let (opts, command) = super::directives::apply(args.opts, args.command)?;
    let on_notify = match &opts.on_notify {
        Some(_) if !opts.wait => {
            return Err(CliError::Usage("`--on-notify` requires `--wait`".into()))
        }
        Some(cmd) => Some(super::notify::parse_command(cmd)?),
        None => None,
    };
    let request = build_request(&opts, &command)?;
    let mut session = connect(g).await?;
    let callbacks = on_notify.map(super::notify::Callbacks::start);
    let result = send_and_report(
        &mut session,
        request,
        opts.wait,
        opts.progress,
        &g.out(),
        callbacks.as_ref(),
    )
    .await;
    if let Some(c) = callbacks {
        c.finish().await;
    }
    result.map(|_| ())
}

/// `hq job submit-file`.
pub async fn submit_file(g: &GlobalOpts, args: SubmitFileArgs) -> CliResult {
    if args.dry_run {
        return dry_run(&args.file, args.job);
    }
    let request = plan_file(&args.file, args.job)?;
    let mut session = connect(g).await?;
    send_and_report(
        &mut session,
        request,
        args.wait,
        args.progress,
        &g.out(),
        None,
    )
    .await?;
    Ok(())
}

/// Sends a submission, prints the new job's ID and, with `wait` or `progress`, waits for it.
pub async fn send_and_report(
    session: &mut Session,
    request: SubmitRequest,
    wait_for_it: bool,
    progress: bool,
    out: &Out,
    callbacks: Option<&super::notify::Callbacks>,
) -> Result<JobId, CliError> {
    let job = session.submit(request).await?;
    print_submitted(out, job, !(wait_for_it || progress));
    if wait_for_it || progress {
        let style = if progress {
            WaitStyle::Progress
        } else {
            WaitStyle::Silent
        };
        let selector = IdSelector::Ids(IdSet::from_range(job, job));
        let result = wait(session, selector, false, style, out, callbacks).await?;
        report_end(session, &result, out).await;
        if out.mode == OutputMode::Json {
            out.json(&serde_json::json!({ "id": job }));
        }
    }
    Ok(job)
}

fn print_submitted(out: &Out, job: JobId, json: bool) {
    match out.mode {
        OutputMode::Json if json => out.json(&serde_json::json!({ "id": job })),
        OutputMode::Json => {}
        OutputMode::Quiet => println!("{job}"),
        OutputMode::Cli => {
            println!(
                "Job submitted {}, job ID: {job}",
                out.paint("successfully", "32")
            )
        }
    }
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

/// The submission of a job file (to a new job, or to the open job `job`).
pub fn plan_file(path: &Path, job: Option<JobId>) -> Result<SubmitRequest, CliError> {
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

/// `--dry-run`: prints the plan.
pub fn dry_run(path: &Path, job: Option<JobId>) -> CliResult {
    let plan = plan(path, job)?;
    print!("{}", plan.render_dry_run());
    Ok(())
}
