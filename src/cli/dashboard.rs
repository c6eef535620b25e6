//! `hq dashboard`: the terminal UI, or one frame as text with `--once`.

use super::{CliError, CliResult, GlobalOpts};
use crate::autoalloc::QueueId;
use crate::dashboard::app::Screen;
use crate::dashboard::Source;
use crate::protocol::messages::{JobId, TaskId, WorkerId};
use std::io::IsTerminal;

#[derive(clap::Args, Debug)]
pub struct DashboardArgs {
    /// Print one frame as text to stdout and exit (for scripts and tests)
    #[arg(long)]
    pub once: bool,
    /// Size of the `--once` frame, `WIDTHxHEIGHT` (default: the terminal's, else 120x40)
    #[arg(long, value_name = "WxH", requires = "once")]
    pub size: Option<String>,
    /// Start on this screen: `overview`, `jobs`, `workers`, `timeline` or `allocations`
    /// (the allocation queues of `hq alloc`)
    #[arg(long, default_value = "overview", value_parser = ["overview", "jobs", "workers", "timeline", "allocations"])]
    pub screen: String,
    /// Start on this job's screen
    #[arg(long, conflicts_with = "worker")]
    pub job: Option<JobId>,
    /// With `--job`: start on this task's output
    #[arg(long, requires = "job")]
    pub task: Option<TaskId>,
    /// Start on this worker's screen
    #[arg(long, conflicts_with = "queue")]
    pub worker: Option<WorkerId>,
    /// Start on this allocation queue's screen (its allocations, last decision and error)
    #[arg(long, conflicts_with = "job")]
    pub queue: Option<QueueId>,
    /// With `--task`: show stderr instead of stdout
    #[arg(long, requires = "task")]
    pub stderr: bool,
    /// `stream` (the default: live data from the server) or `replay` (a journal file,
    /// offline: the state at its last event, and a timeline of its events)
    #[arg(value_parser = ["stream", "replay"])]
    pub mode: Option<String>,
    /// With `replay`: the journal file (`hq server start --journal FILE`)
    #[arg(value_name = "JOURNAL")]
    pub journal: Option<std::path::PathBuf>,
}

fn start_screen(args: &DashboardArgs) -> Screen {
    if let Some(q) = args.queue {
        return Screen::Queue(q);
    }
    match (args.job, args.task, args.worker) {
        (Some(job), Some(task), _) => Screen::Output {
            job,
            task,
            stderr: args.stderr,
        },
        (Some(job), None, _) => Screen::Job(job),
        (None, _, Some(w)) => Screen::Worker(w),
        _ => match args.screen.as_str() {
            "jobs" => Screen::Jobs,
            "workers" => Screen::Workers,
            "timeline" => Screen::Timeline,
            "allocations" => Screen::Queues,
            _ => Screen::Overview,
        },
    }
}

fn parse_size(text: &str) -> Result<(u16, u16), CliError> {
    let err = || {
        CliError::Usage(format!(
            "invalid `--size {text}`: use WIDTHxHEIGHT, e.g. `120x40` (at least 40x10)"
        ))
    };
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(err)?;
    let (w, h): (u16, u16) = (
        w.trim().parse().map_err(|_| err())?,
        h.trim().parse().map_err(|_| err())?,
    );
    if w < 40 || h < 10 {
        return Err(err());
    }
    Ok((w, h))
}

pub async fn run(g: &GlobalOpts, args: DashboardArgs) -> CliResult {
    let screen = start_screen(&args);
    let fail = |e: crate::dashboard::DashboardError| match e {
        crate::dashboard::DashboardError::Client(c) => CliError::Client(c),
        other => CliError::Runtime(other.to_string()),
    };
    let source = match (args.mode.as_deref(), &args.journal) {
        (Some("replay"), Some(path)) => Source::replay(path).map_err(fail)?,
        (Some("replay"), None) => {
            return Err(CliError::Usage(
                "`hq dashboard replay` needs the journal file: `hq dashboard replay JOURNAL`"
                    .into(),
            ))
        }
        (_, Some(path)) => {
            return Err(CliError::Usage(format!(
                "`{}` is only taken by `hq dashboard replay JOURNAL`",
                path.display()
            )))
        }
        _ => Source::Live(g.server_dir()),
    };
    if args.once {
        let (w, h) = match &args.size {
            Some(s) => parse_size(s)?,
            None => crossterm::terminal::size()
                .ok()
                .filter(|_| std::io::stdout().is_terminal())
                .unwrap_or((120, 40)),
        };
        let text = crate::dashboard::render_once(&source, screen, w, h)
            .await
            .map_err(fail)?;
        print!("{text}");
        return Ok(());
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "`hq dashboard` needs a terminal; use `hq dashboard --once` to print one frame".into(),
        ));
    }
    crate::dashboard::run_live(&source, screen)
        .await
        .map_err(fail)
}
