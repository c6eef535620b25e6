//! Reads a directory of stream files into an [`OutputLog`]: per task, the output of each
//! instance; all instances but the last are superseded (server.md "Restarted tasks").

use super::{parse_file, Channel, FormatError, ParsedFile, EXTENSION};
use crate::protocol::messages::{InstanceId, JobId, TaskId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("No log files found")]
    NoFiles,
    #[error(
        "Found streams from multiple server instances:\n{}\nUse `--server-uid` to select one of them",
        .0.join("\n")
    )]
    MultipleServers(Vec<String>),
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid stream file `{}`: {source}", path.display())]
    Format { path: PathBuf, source: FormatError },
}

/// A piece of output; `seq` is its position among all records read, to keep equal times stable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub time_ms: u64,
    pub seq: usize,
    pub data: Vec<u8>,
}

/// One channel of one task instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelLog {
    pub chunks: Vec<Chunk>,
    pub size: u64,
    /// The end record was seen.
    pub finished: bool,
}

impl ChannelLog {
    pub fn content(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(|c| c.data.iter().copied())
            .collect()
    }
}

/// The streamed channels of one task instance (`None`: nothing of that channel was seen).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceLog {
    pub channels: [Option<ChannelLog>; 2],
}

impl InstanceLog {
    pub fn channel(&self, channel: Channel) -> Option<&ChannelLog> {
        self.channels[channel.index()].as_ref()
    }

    /// Every channel that was opened has ended.
    pub fn finished(&self) -> bool {
        self.channels.iter().flatten().all(|c| c.finished)
    }

    fn size(&self, channel: Channel) -> u64 {
        self.channel(channel).map_or(0, |c| c.size)
    }
}

/// All instances of one task that left output, by instance ID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskLog {
    pub instances: BTreeMap<InstanceId, InstanceLog>,
}

impl TaskLog {
    /// The last instance; the others are superseded.
    pub fn latest(&self) -> Option<&InstanceLog> {
        self.instances.values().next_back()
    }

    fn superseded(&self) -> impl Iterator<Item = &InstanceLog> {
        let n = self.instances.len().saturating_sub(1);
        self.instances.values().take(n)
    }
}

/// Counts shown by `hq output-log summary`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub n_files: u64,
    pub n_jobs: u64,
    pub n_tasks: u64,
    /// Streams (task instances, not superseded) that have not ended.
    pub n_opened: u64,
    pub stdout_size: u64,
    pub stderr_size: u64,
    pub n_superseded: u64,
    pub superseded_stdout_size: u64,
    pub superseded_stderr_size: u64,
}

/// A chunk of a current (not superseded) instance, for `show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShownChunk<'a> {
    pub job: JobId,
    pub task: TaskId,
    pub channel: Channel,
    pub chunk: &'a Chunk,
}

/// The combined content of the stream files of one server instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputLog {
    pub n_files: u64,
    pub tasks: BTreeMap<(JobId, TaskId), TaskLog>,
}

/// Combines parsed files; files of several server UIDs need `server_uid` to choose one.
pub fn collect(files: Vec<ParsedFile>, server_uid: Option<&str>) -> Result<OutputLog, ReadError> {
    let files: Vec<ParsedFile> = match server_uid {
        Some(uid) => files
            .into_iter()
            .filter(|f| f.header.server_uid == uid)
            .collect(),
        None => {
            let uids: BTreeSet<&str> = files.iter().map(|f| f.header.server_uid.as_str()).collect();
            if uids.len() > 1 {
                return Err(ReadError::MultipleServers(
                    uids.into_iter().map(String::from).collect(),
                ));
            }
            files
        }
    };
    if files.is_empty() {
        return Err(ReadError::NoFiles);
    }
    let mut log = OutputLog {
        n_files: files.len() as u64,
        tasks: BTreeMap::new(),
    };
    let mut seq = 0;
    for file in files {
        for r in file.records {
            let instance = log
                .tasks
                .entry((r.job, r.task))
                .or_default()
                .instances
                .entry(r.instance)
                .or_default();
            let channel = instance.channels[r.channel.index()].get_or_insert_with(Default::default);
            if r.data.is_empty() {
                channel.finished = true;
            } else {
                channel.size += r.data.len() as u64;
                channel.chunks.push(Chunk {
                    time_ms: r.time_ms,
                    seq,
                    data: r.data,
                });
            }
            seq += 1;
        }
    }
    Ok(log)
}

/// Reads every `*.hqs` file in `dir` (sorted by name) and combines them.
pub fn load_dir(dir: &Path, server_uid: Option<&str>) -> Result<OutputLog, ReadError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReadError::Io { path, source }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::NoFiles),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == EXTENSION) && p.is_file())
        .collect();
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let parsed = parse_file(&bytes).map_err(|source| ReadError::Format {
            path: path.clone(),
            source,
        })?;
        files.push(parsed);
    }
    collect(files, server_uid)
}

impl OutputLog {
    pub fn jobs(&self) -> Vec<JobId> {
        let set: BTreeSet<JobId> = self.tasks.keys().map(|(j, _)| *j).collect();
        set.into_iter().collect()
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            n_files: self.n_files,
            n_jobs: self.jobs().len() as u64,
            n_tasks: self.tasks.len() as u64,
            ..Summary::default()
        };
        for task in self.tasks.values() {
            if let Some(latest) = task.latest() {
                s.n_opened += u64::from(!latest.finished());
                s.stdout_size += latest.size(Channel::Stdout);
                s.stderr_size += latest.size(Channel::Stderr);
            }
            for old in task.superseded() {
                s.n_superseded += 1;
                s.superseded_stdout_size += old.size(Channel::Stdout);
                s.superseded_stderr_size += old.size(Channel::Stderr);
            }
        }
        s
    }

    /// The current instance of one task.
    pub fn task(&self, job: JobId, task: TaskId) -> Option<&InstanceLog> {
        self.tasks.get(&(job, task)).and_then(|t| t.latest())
    }

    /// The current instance of each task of `job`, by task ID.
    pub fn job_tasks(&self, job: JobId) -> impl Iterator<Item = (TaskId, &InstanceLog)> {
        self.tasks
            .range((job, 0)..=(job, TaskId::MAX))
            .filter_map(|((_, t), log)| log.latest().map(|i| (*t, i)))
    }

    /// Chunks of current instances in time order, optionally of one job or channel.
    pub fn chunks(&self, job: Option<JobId>, channel: Option<Channel>) -> Vec<ShownChunk<'_>> {
        let mut out = Vec::new();
        for ((j, t), task) in &self.tasks {
            if job.is_some_and(|job| job != *j) {
                continue;
            }
            let Some(latest) = task.latest() else {
                continue;
            };
            for ch in [Channel::Stdout, Channel::Stderr] {
                if channel.is_some_and(|c| c != ch) {
                    continue;
                }
                for chunk in latest.channel(ch).iter().flat_map(|c| &c.chunks) {
                    out.push(ShownChunk {
                        job: *j,
                        task: *t,
                        channel: ch,
                        chunk,
                    });
                }
            }
        }
        out.sort_by_key(|c| (c.chunk.time_ms, c.chunk.seq));
        out
    }
}
