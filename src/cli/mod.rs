//! The command line: clap definitions (one file per command group), dispatch, the forms the
//! spec says to "also accept", and the mapping of errors to exit codes.

mod aliases;
mod alloc;
mod alloc_print;
mod dashboard;
mod deploy_ssh;
mod directives;
mod doc;
mod embedded;
mod explain;
mod job;
mod job_print;
mod journal;
mod journal_report;
mod notify;

pub mod output;
mod output_log;
mod parse;
mod progress;
mod run;
mod server;
mod submission;
mod submit;
mod task;
mod worker;

pub use alloc_print::status_word as alloc_status_word;
pub use worker::state_word as worker_state_word;

use crate::client::{ClientError, Session};
use crate::common::serverdir;
use clap::{Parser, Subcommand};
use output::{ColorPolicy, Out, OutputMode};
use std::io::IsTerminal;
use std::path::PathBuf;

/// hq: run many small tasks on HPC clusters (server, worker and client in one binary).
#[derive(Parser, Debug)]
#[command(
    name = "hq",
    version,
    about,
    disable_help_subcommand = true,
    propagate_version = true
)]
pub struct Opts {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Server directory (default: $HOME/.hq-server)
    #[arg(long, global = true, env = "HQ_SERVER_DIR", value_name = "PATH")]
    pub server_dir: Option<PathBuf>,
    /// Output format
    #[arg(
        long,
        global = true,
        env = "HQ_OUTPUT_MODE",
        value_enum,
        default_value = "cli"
    )]
    pub output_mode: OutputMode,
    /// When to use colours
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub colors: ColorPolicy,
    /// Debug logging
    #[arg(long, global = true, env = "HQ_DEBUG")]
    pub debug: bool,
}

impl GlobalOpts {
    pub fn server_dir(&self) -> PathBuf {
        self.server_dir
            .as_deref()
            .map(serverdir::absolute)
            .unwrap_or_else(serverdir::default_server_dir)
    }

    pub fn out(&self) -> Out {
        let colors = match self.colors {
            ColorPolicy::Always => true,
            ColorPolicy::Never => false,
            ColorPolicy::Auto => std::io::stdout().is_terminal(),
        };
        Out {
            mode: self.output_mode,
            colors,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start, stop and inspect the server
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Start, stop and inspect workers
    #[command(subcommand)]
    Worker(worker::WorkerCommand),
    /// Submit a command as a job (same as `hq job submit`)
    Submit(Box<submit::SubmitArgs>),
    /// Inspect and control jobs
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Inspect tasks
    #[command(subcommand)]
    Task(task::TaskCommand),
    /// Inspect and maintain the server's event journal
    #[command(subcommand)]
    Journal(journal::JournalCommand),
    /// Automatic allocation: queues that submit Slurm/PBS jobs starting workers on demand
    #[command(subcommand)]
    Alloc(alloc::AllocCommand),
    /// Watch jobs, tasks, workers and their hardware in a terminal UI
    Dashboard(dashboard::DashboardArgs),
    /// Read the stream files that `--stream` jobs write (no server needed)
    OutputLog(output_log::OutputLogArgs),
    /// Run a job on an embedded server and local worker, then exit (no setup needed)
    Run(Box<run::RunArgs>),
    /// Print (or open) the address of the documentation page for a topic
    Doc(doc::DocArgs),
    /// Print a shell completion script
    GenerateCompletion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// A failure with its exit code: 2 for usage errors, 1 for everything else.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Already reported (e.g. a rendered job-file diagnostic); exit 1.
    #[error("")]
    Reported,
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

pub type CliResult = Result<(), CliError>;

/// Entry point used by `main`: parses argv, runs the command, returns the exit code.
pub fn main_with_args(args: Vec<String>) -> i32 {
    let args = aliases::rewrite(args);
    let opts = match Opts::try_parse_from(&args) {
        Ok(o) => o,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    output::init_logging(opts.global.debug);
    let out = opts.global.out();
    // The server (one actor) and the worker (one loop) run on one thread: on small nodes the
    // cores belong to the tasks, and cross-thread wake-ups cost more than they give.
    let current_thread = matches!(
        &opts.command,
        Command::Server(server::ServerCommand::Start(_))
            | Command::Worker(worker::WorkerCommand::Start(_))
    );
    // Client commands die quietly on a closed pipe (`hq job list | head`). Processes that feed
    // tasks' stdin (server, worker, `hq run`) keep SIGPIPE ignored, so a task that stops reading
    // its input gets only that write failed.
    let runs_tasks = current_thread || matches!(&opts.command, Command::Run(_));
    if !runs_tasks {
        // SAFETY: resetting a signal disposition before the runtime starts any thread.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let mut builder = if current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("cannot start the async runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(dispatch(opts));
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => 0,
        Err(CliError::Reported) => 1,
        Err(e) => {
            if out.mode == OutputMode::Json {
                out.json(&serde_json::json!({ "error": e.to_string() }));
            }
            log::error!("{e}");
            e.exit_code()
        }
    }
}

async fn dispatch(opts: Opts) -> CliResult {
    let g = opts.global;
    match opts.command {
        Command::Server(cmd) => server::run(&g, cmd).await,
        Command::Worker(cmd) => worker::run(&g, cmd).await,
        Command::Submit(args) => submission::run(&g, *args).await,
        Command::Job(cmd) => job::run(&g, cmd).await,
        Command::Task(cmd) => task::run(&g, cmd).await,
        Command::Run(args) => run::run(&g, *args).await,
        Command::Journal(cmd) => journal::run(&g, cmd).await,
        Command::Alloc(cmd) => alloc::run(&g, cmd).await,
        Command::OutputLog(args) => output_log::run(&g, args),
        Command::Dashboard(args) => dashboard::run(&g, args).await,
        Command::Doc(args) => doc::run(args),
        Command::GenerateCompletion { shell } => {
            log::info!("Generating completion file for {shell}...");
            let mut cmd = <Opts as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "hq", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Connects to the server named by the global options.
pub async fn connect(g: &GlobalOpts) -> Result<Session, CliError> {
    Ok(Session::connect(&g.server_dir()).await?)
}
