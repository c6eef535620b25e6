//! `hq run`: an embedded server and local worker that run one job (a command or a job file)
//! to completion.

use super::output::{Out, OutputMode};
use super::progress::{wait, WaitStyle};
use super::submission::{dry_run, plan_file};
use super::submit::{build_request, SubmitOpts};
use super::{CliError, CliResult, GlobalOpts};
use crate::client::Session;
use crate::common::idset::IdSet;
use crate::protocol::messages::*;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub opts: SubmitOpts,
    /// Print the plan of a job file without running it
    #[arg(long)]
    pub dry_run: bool,
    /// CPUs of the local worker, as `hq worker start --cpus` takes them (default: detected)
    #[arg(long = "worker-cpus", value_name = "DEF")]
    pub worker_cpus: Option<String>,
    /// A resource pool of the local worker, as `hq worker start --resource` takes it, e.g.
    /// `gpus=[0,1]` (repeatable; other kinds are detected)
    #[arg(long = "worker-resource", value_name = "NAME=DEF")]
    pub worker_resources: Vec<String>,
    /// A job file (`*.toml`), or the program and its arguments
    #[arg(trailing_var_arg = true, required = true, num_args = 1.., value_name = "FILE | COMMAND")]
    pub command: Vec<String>,
}

fn is_job_file(command: &[String]) -> bool {
    command.len() == 1 && command[0].ends_with(".toml") && Path::new(&command[0]).is_file()
}

pub async fn run(g: &GlobalOpts, args: RunArgs) -> CliResult {
    let out = g.out();
    let file = is_job_file(&args.command).then(|| PathBuf::from(&args.command[0]));
    if let Some(f) = &file {
        refuse_submit_flags(f, &args.opts)?;
    }
    if args.dry_run {
        return match &file {
            Some(f) => dry_run(f, None),
            None => Err(CliError::Usage(
                "`--dry-run` needs a job file (`hq run --dry-run job.toml`)".into(),
            )),
        };
    }
    let (request, on_notify) = match &file {
        Some(f) => (plan_file(f, None)?, None),
        None => {
            let (opts, command) = super::directives::apply(args.opts, args.command)?;
            if let Some(job) = opts.job {
                return Err(CliError::Usage(format!(
                    "`--job {job}` cannot be used with `hq run`: its embedded server starts without jobs; use `hq submit --job {job}` with a running server"
                )));
            }
            let on_notify = opts
                .on_notify
                .as_deref()
                .map(super::notify::parse_command)
                .transpose()?;
            (build_request(&opts, &command)?, on_notify)
        }
    };
    log::set_max_level(if g.debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Warn
    });
    let resources =
        super::embedded::local_resources(args.worker_cpus.as_deref(), &args.worker_resources)?;
    super::embedded::check_feasible(&request, &resources)?;
    let embedded = super::embedded::EmbeddedCluster::start(resources).await?;
    let callbacks = on_notify.map(super::notify::Callbacks::start);
    let result = run_on(&embedded, request, &out, callbacks.as_ref()).await;
    if let Some(c) = callbacks {
        c.finish().await;
    }
    embedded.stop().await;
    result
}

/// A job file carries every job setting itself: the `hq submit` flags would be ignored
/// (`--wait` and `--progress` only say what `hq run` always does).
fn refuse_submit_flags(file: &Path, opts: &SubmitOpts) -> CliResult {
    let mut given = opts.given_flags();
    given.retain(|f| f != "--wait" && f != "--progress");
    if given.is_empty() {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{} cannot be used with a job file: `hq run {}` takes every job setting from the file. \
         Write them in the file (docs/jobfile.md), or use `hq run [FLAGS] -- COMMAND` for a command",
        given
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", "),
        file.display()
    )))
}

async fn run_on(
    cluster: &super::embedded::EmbeddedCluster,
    request: SubmitRequest,
    out: &Out,
    callbacks: Option<&super::notify::Callbacks>,
) -> CliResult {
    let mut session = Session::connect(&cluster.server_dir).await?;
    let job = session.submit(request).await?;
    let style = if out.mode == OutputMode::Cli {
        WaitStyle::Progress
    } else {
        WaitStyle::Silent
    };
    let started = std::time::Instant::now();
    let selector = IdSelector::Ids(IdSet::from_range(job, job));
    let result = wait(&mut session, selector.clone(), false, style, out, callbacks).await?;
    // Only what the summary shows: the tasks of a small job (their output is printed), or the
    // first task of a larger one (where the output went); never every task of a huge job.
    let summary = session.job_details(selector.clone(), false, None).await?;
    let mut first: Vec<u32> = summary
        .jobs
        .iter()
        .flat_map(|d| {
            d.groups
                .iter()
                .flat_map(|g| g.ids.iter().take(super::embedded::SMALL_JOB + 1))
        })
        .collect();
    first.sort_unstable();
    first.truncate(super::embedded::SMALL_JOB + 1);
    let details = match first.is_empty() {
        true => summary.jobs,
        false => {
            let tasks = Some(IdSet::from_ids(first));
            session.job_details(selector, true, tasks).await?.jobs
        }
    };
    let stats = result.state.totals();
    let summary = super::progress::end_lines(&mut session, &result).await;
    super::embedded::print_summary(out, job, &stats, &details, &summary, started.elapsed());
    if result.all_finished() {
        Ok(())
    } else {
        Err(CliError::Reported)
    }
}
