//! The tail of a task's stdout or stderr for the output screen: from its file, or from the
//! job's stream directory (`--stream`). Read by the dashboard itself, like `hq job cat`.

use crate::protocol::messages::{JobId, TaskId, TaskOutput};
use std::io::{Read, Seek, SeekFrom};

/// At most this many bytes from the end are shown.
const TAIL_BYTES: u64 = 64 * 1024;

pub fn read_tail(out: &TaskOutput, job: JobId, task: TaskId, stderr: bool) -> String {
    match out {
        TaskOutput::None => "(this channel is discarded: `none`)".into(),
        TaskOutput::File(path) => match file_tail(path) {
            Ok(text) if text.is_empty() => "(empty)".into(),
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("(no file yet: {path})")
            }
            Err(e) => format!("(cannot read {path}: {e})"),
        },
        TaskOutput::Stream(dir) => stream_tail(dir, job, task, stderr),
    }
}

fn file_tail(path: &str) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > TAIL_BYTES {
        f.seek(SeekFrom::Start(len - TAIL_BYTES))?;
    }
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn stream_tail(dir: &str, job: JobId, task: TaskId, stderr: bool) -> String {
    let log = match crate::stream::reader::load_dir(std::path::Path::new(dir), None) {
        Ok(log) => log,
        Err(e) => return format!("(cannot read the stream directory {dir}: {e})"),
    };
    let channel = if stderr {
        crate::stream::Channel::Stderr
    } else {
        crate::stream::Channel::Stdout
    };
    let content = log
        .tasks
        .get(&(job, task))
        .and_then(|t| t.latest())
        .and_then(|i| i.channel(channel))
        .map(|c| c.content());
    match content {
        None => "(nothing streamed yet)".into(),
        Some(data) if data.is_empty() => "(empty)".into(),
        Some(data) => {
            let start = data.len().saturating_sub(TAIL_BYTES as usize);
            String::from_utf8_lossy(&data[start..]).into_owned()
        }
    }
}
