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
    /// Worker CPUs (default: all CPUs of this machine)
    #[arg(long = "worker-cpus")]
    pub worker_cpus: Option<String>,
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
    let job = session.submit(request).await?;
    let style = if out.mode == OutputMode::Cli {
        WaitStyle::Progress
    } else {
        WaitStyle::Silent
    };
    let started = std::time::Instant::now();
    let selector = IdSelector::Ids(IdSet::from_range(job, job));
    let result = wait(&mut session, selector.clone(), false, style, out).await?;
    let details = session.job_details(selector, true, None).await?.jobs;
    let stats = result.state.totals();
    super::embedded::print_summary(out, job, &stats, &details, started.elapsed());
    if result.all_finished() {
        Ok(())
    } else {
        Err(CliError::Reported)
    }
}
