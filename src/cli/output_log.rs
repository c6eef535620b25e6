//! `hq output-log DIR summary|jobs|show|cat|export`: reads stream files (`*.hqs`, written by
//! workers for `--stream`) without a server.

use super::output::{print_vertical, Out, OutputMode};
use super::{CliError, CliResult, GlobalOpts};
use crate::common::hwsummary::human_size;
use crate::common::idset::IdSet;
use crate::protocol::messages::{JobId, TaskId};
use crate::stream::reader::{load_dir, InstanceLog, OutputLog, ShownChunk};
use crate::stream::Channel;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct OutputLogArgs {
    /// Directory with the stream files (`*.hqs`)
    pub path: PathBuf,
    /// Read only the streams of this server instance (needed when DIR has several)
    #[arg(long, global = true, value_name = "UID")]
    pub server_uid: Option<String>,
    #[command(subcommand)]
    pub command: OutputLogCommand,
}

#[derive(Subcommand, Debug)]
pub enum OutputLogCommand {
    /// Counts of files, jobs, tasks, streams and sizes
    Summary,
    /// IDs of the jobs that have streams, one per line
    Jobs,
    /// All output in time order, each line prefixed `JOB.TASK:CHANNEL> `
    Show {
        /// Only this job
        #[arg(long)]
        job: Option<JobId>,
        /// Only this channel
        #[arg(long, value_enum)]
        channel: Option<ChannelArg>,
    },
    /// Raw content of one channel of a job, ordered by task ID
    Cat {
        /// `JOB stdout|stderr`, or only `stdout|stderr` when DIR holds one job (or with `--job`)
        #[arg(num_args = 1..=2, required = true, value_names = ["JOB", "CHANNEL"])]
        args: Vec<String>,
        /// The job, when not given as the first argument
        #[arg(long)]
        job: Option<JobId>,
        /// Only these tasks (e.g. `1-3,7`)
        #[arg(long, value_name = "SELECTOR")]
        task: Option<String>,
        /// Print streams that have not ended instead of failing
        #[arg(long)]
        allow_unfinished: bool,
    },
    /// The output of a job's tasks as JSON
    Export {
        job: JobId,
        /// Only these tasks (e.g. `1-3,7`)
        #[arg(long, value_name = "SELECTOR")]
        task: Option<String>,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChannelArg {
    Stdout,
    Stderr,
}

impl From<ChannelArg> for Channel {
    fn from(c: ChannelArg) -> Channel {
        match c {
            ChannelArg::Stdout => Channel::Stdout,
            ChannelArg::Stderr => Channel::Stderr,
        }
    }
}

pub fn run(g: &GlobalOpts, args: OutputLogArgs) -> CliResult {
    let out = g.out();
    let log = load_dir(&args.path, args.server_uid.as_deref())
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    match args.command {
        OutputLogCommand::Summary => summary(&out, &args.path, &log),
        OutputLogCommand::Jobs => jobs(&out, &log),
        OutputLogCommand::Show { job, channel } => show(&out, &log, job, channel.map(Into::into)),
        OutputLogCommand::Cat {
            args,
            job,
            task,
            allow_unfinished,
        } => {
            let (job, channel) = cat_target(&log, &args, job)?;
            cat(
                &log,
                job,
                channel,
                task_filter(task)?.as_deref(),
                allow_unfinished,
            )
        }
        OutputLogCommand::Export { job, task } => export(&log, job, task_filter(task)?.as_deref()),
    }
}

/// `--task`: the IDs in the order given (`3-4,2` is 3, 4, 2), each once.
fn task_filter(task: Option<String>) -> Result<Option<Vec<TaskId>>, CliError> {
    let Some(text) = task else {
        return Ok(None);
    };
    let mut ids = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for part in text.split(',') {
        let set = IdSet::parse(part)
            .map_err(|e| CliError::Usage(format!("invalid task selector `{text}`: {e}")))?;
        ids.extend(set.iter().filter(|id| seen.insert(*id)));
    }
    Ok(Some(ids))
}

/// The tasks of `job` to print: all by task ID, or the selected ones in the selector's order.
fn selection<'a>(
    log: &'a OutputLog,
    job: JobId,
    tasks: Option<&[TaskId]>,
) -> Vec<(TaskId, &'a InstanceLog)> {
    match tasks {
        None => log.job_tasks(job).collect(),
        Some(ids) => ids
            .iter()
            .filter_map(|t| log.task(job, *t).map(|i| (*t, i)))
            .collect(),
    }
}

/// `[JOB] CHANNEL` (+ `--job`): without a job, DIR must hold exactly one.
fn cat_target(
    log: &OutputLog,
    args: &[String],
    job: Option<JobId>,
) -> Result<(JobId, Channel), CliError> {
    let channel_of = |text: &str| {
        ChannelArg::from_str(text, false)
            .map(Channel::from)
            .map_err(|_| CliError::Usage(format!("invalid channel `{text}` (stdout or stderr)")))
    };
    match (args, job) {
        ([job, channel], None) => {
            let job = job
                .parse()
                .map_err(|_| CliError::Usage(format!("invalid job ID `{job}`")))?;
            Ok((job, channel_of(channel)?))
        }
        ([channel], Some(job)) => Ok((job, channel_of(channel)?)),
        ([channel], None) => {
            let channel = channel_of(channel)?;
            match log.jobs().as_slice() {
                [job] => Ok((*job, channel)),
                jobs => Err(CliError::Runtime(format!(
                    "The stream directory contains several jobs ({}); choose one with `--job`",
                    jobs.iter()
                        .map(|j| j.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
        _ => Err(CliError::Usage(
            "give the job either as an argument or with `--job`".into(),
        )),
    }
}

fn summary(out: &Out, path: &std::path::Path, log: &OutputLog) -> CliResult {
    let s = log.summary();
    match out.mode {
        OutputMode::Json => out.json(&serde_json::json!({
            "filename": path,
            "summary": s,
        })),
        OutputMode::Quiet => {}
        OutputMode::Cli => print_vertical(
            out,
            vec![
                ("Path", path.display().to_string()),
                ("Files", s.n_files.to_string()),
                ("Jobs", s.n_jobs.to_string()),
                ("Tasks", s.n_tasks.to_string()),
                ("Opened streams", s.n_opened.to_string()),
                (
                    "Stdout/stderr size",
                    format!(
                        "{} / {}",
                        human_size(s.stdout_size),
                        human_size(s.stderr_size)
                    ),
                ),
                ("Superseded streams", s.n_superseded.to_string()),
                (
                    "Superseded stdout/stderr size",
                    format!(
                        "{} / {}",
                        human_size(s.superseded_stdout_size),
                        human_size(s.superseded_stderr_size)
                    ),
                ),
            ],
        ),
    }
    Ok(())
}

fn jobs(out: &Out, log: &OutputLog) -> CliResult {
    let jobs = log.jobs();
    if out.mode == OutputMode::Json {
        out.json(&serde_json::json!(jobs));
    } else {
        for job in jobs {
            println!("{job}");
        }
    }
    Ok(())
}

fn show(out: &Out, log: &OutputLog, job: Option<JobId>, channel: Option<Channel>) -> CliResult {
    let chunks = log.chunks(job, channel);
    if out.mode == OutputMode::Json {
        let items: Vec<_> = chunks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "job": c.job,
                    "task": c.task,
                    "channel": c.channel.name(),
                    "time": super::output::format_iso(c.chunk.time_ms),
                    "data": String::from_utf8_lossy(&c.chunk.data),
                })
            })
            .collect();
        out.json(&serde_json::Value::Array(items));
        return Ok(());
    }
    let width = |n: u32| n.to_string().len();
    let job_w = chunks.iter().map(|c| width(c.job)).max().unwrap_or(1);
    let task_w = chunks.iter().map(|c| width(c.task)).max().unwrap_or(1);
    let mut stdout = std::io::stdout().lock();
    for ((job, task, channel), line) in lines(&chunks) {
        let prefix = format!("{job:0job_w$}.{task:0task_w$}:{}> ", channel.index());
        let _ = stdout.write_all(prefix.as_bytes());
        let _ = stdout.write_all(&line);
        if line.last() != Some(&b'\n') {
            let _ = stdout.write_all(b"\n");
        }
    }
    stdout.flush().map_err(|e| CliError::Runtime(e.to_string()))
}

type StreamKey = (JobId, TaskId, Channel);

/// The lines of time-ordered chunks, each printed once its newline arrives: a line that a task
/// wrote in pieces (`Ok`, then `\n`) is one line, not two. Unterminated rests come last.
fn lines(chunks: &[ShownChunk]) -> Vec<(StreamKey, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending: Vec<(StreamKey, Vec<u8>)> = Vec::new();
    let mut index: std::collections::HashMap<StreamKey, usize> = Default::default();
    for c in chunks {
        let key = (c.job, c.task, c.channel);
        let i = *index.entry(key).or_insert_with(|| {
            pending.push((key, Vec::new()));
            pending.len() - 1
        });
        let buf = &mut pending[i].1;
        buf.extend_from_slice(&c.chunk.data);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            out.push((key, buf.drain(..=end).collect()));
        }
    }
    out.extend(pending.into_iter().filter(|(_, rest)| !rest.is_empty()));
    out
}

fn cat(
    log: &OutputLog,
    job: JobId,
    channel: Channel,
    tasks: Option<&[TaskId]>,
    allow_unfinished: bool,
) -> CliResult {
    let selection = selection(log, job, tasks);
    if !allow_unfinished {
        if let Some((t, _)) = selection.iter().find(|(_, i)| !i.finished()) {
            return Err(CliError::Runtime(format!(
                "Stream for task {t} is not finished"
            )));
        }
    }
    let mut stdout = std::io::stdout().lock();
    let mut written = 0;
    let count = selection.len();
    for (_, instance) in selection {
        for chunk in instance.channel(channel).iter().flat_map(|c| &c.chunks) {
            written += chunk.data.len();
            stdout
                .write_all(&chunk.data)
                .map_err(|e| CliError::Runtime(e.to_string()))?;
        }
    }
    stdout
        .flush()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    if written == 0 {
        // Said on stderr, so stdout stays the tasks' data.
        let name = channel.name();
        if count == 0 && !log.jobs().contains(&job) {
            let jobs: Vec<String> = log.jobs().iter().map(|j| j.to_string()).collect();
            log::warn!(
                "Job {job} has no streams in this directory (jobs here: {})",
                jobs.join(", ")
            );
        } else if count == 0 {
            log::warn!("None of the selected tasks of job {job} has a stream here");
        } else {
            log::warn!("Job {job} wrote nothing to {name} ({count} tasks, all empty)");
        }
    }
    Ok(())
}

fn export(log: &OutputLog, job: JobId, tasks: Option<&[TaskId]>) -> CliResult {
    let items: Vec<_> = selection(log, job, tasks)
        .into_iter()
        .map(|(t, instance)| {
            let mut item = serde_json::json!({"id": t, "finished": instance.finished()});
            for ch in [Channel::Stdout, Channel::Stderr] {
                // A channel appears only when the task wrote something to it.
                if let Some(c) = instance.channel(ch).filter(|c| c.size > 0) {
                    item[ch.name()] = String::from_utf8_lossy(&c.content()).into();
                }
            }
            item
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&items).unwrap_or_default()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::reader::Chunk;

    #[test]
    fn lines_written_in_pieces_are_shown_whole() {
        let chunk = |seq, data: &[u8]| Chunk {
            time_ms: seq as u64,
            seq,
            data: data.to_vec(),
        };
        let data = [
            chunk(0, b"O"),
            chunk(1, b"Error\n"),
            chunk(2, b"k\n"),
            chunk(3, b"a\nb"),
        ];
        let shown = |i: usize, channel| ShownChunk {
            job: 1,
            task: 0,
            channel,
            chunk: &data[i],
        };
        let chunks = [
            shown(0, Channel::Stdout),
            shown(1, Channel::Stderr),
            shown(2, Channel::Stdout),
            shown(3, Channel::Stdout),
        ];
        let got: Vec<(Channel, String)> = lines(&chunks)
            .into_iter()
            .map(|((_, _, c), l)| (c, String::from_utf8(l).unwrap()))
            .collect();
        let want = [
            (Channel::Stderr, "Error\n"),
            (Channel::Stdout, "Ok\n"),
            (Channel::Stdout, "a\n"),
            (Channel::Stdout, "b"),
        ];
        assert_eq!(got, want.map(|(c, l)| (c, l.to_string())));
    }
}
