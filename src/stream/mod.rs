//! The output-stream file format (`.hqs`, server.md "Output streaming"): the byte layout, a
//! writer used by the worker, and a reader that `hq output-log` builds its views from.
//!
//! Layout (integers little-endian):
//! - magic `hqsf0000`;
//! - header: `u32` length + UTF-8 server UID, `u32` worker ID;
//! - records: `u64` time (ms since the Unix epoch), `u32` job, `u32` task, `u32` instance,
//!   `u8` channel (0 stdout, 1 stderr), `u32` size, then `size` bytes of data. Size 0 marks the
//!   end of that channel for that task instance.
//!
//! A file cut off in the middle of a record (a worker killed while writing) is read up to the
//! last complete record.

pub mod reader;
pub mod writer;

#[cfg(test)]
mod tests;

use crate::protocol::messages::{InstanceId, JobId, TaskId};

/// First eight bytes of every stream file.
pub const MAGIC: &[u8; 8] = b"hqsf0000";
/// File-name extension of stream files.
pub const EXTENSION: &str = "hqs";
/// Bytes of a record header: time, job, task, instance, channel, size.
const RECORD_HEADER_LEN: usize = 8 + 4 + 4 + 4 + 1 + 4;

/// Which output of a task a record belongs to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Stdout = 0,
    Stderr = 1,
}

impl Channel {
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Channel::Stdout => "stdout",
            Channel::Stderr => "stderr",
        }
    }

    fn from_byte(b: u8) -> Option<Channel> {
        match b {
            0 => Some(Channel::Stdout),
            1 => Some(Channel::Stderr),
            _ => None,
        }
    }
}

/// Who wrote a file: streams of different server instances must not be mixed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub server_uid: String,
    pub worker_id: u32,
}

/// One record: a chunk of output, or (empty `data`) the end of a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub time_ms: u64,
    pub job: JobId,
    pub task: TaskId,
    pub instance: InstanceId,
    pub channel: Channel,
    pub data: Vec<u8>,
}

/// The contents of one stream file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedFile {
    pub header: FileHeader,
    pub records: Vec<Record>,
    /// The file ended inside a record (that record is not in `records`).
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("not a stream file (bad magic)")]
    BadMagic,
    #[error("the header is truncated")]
    TruncatedHeader,
    #[error("the server UID is not valid UTF-8")]
    BadServerUid,
    #[error("invalid channel {channel} in the record at byte {offset}")]
    BadChannel { channel: u8, offset: usize },
}

/// The magic and header of a new file.
pub fn encode_header(header: &FileHeader) -> Vec<u8> {
    let uid = header.server_uid.as_bytes();
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + uid.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(uid.len() as u32).to_le_bytes());
    out.extend_from_slice(uid);
    out.extend_from_slice(&header.worker_id.to_le_bytes());
    out
}

/// Appends one record (header and data) to `out`; `data` must fit in `u32`.
pub fn encode_record(
    out: &mut Vec<u8>,
    time_ms: u64,
    ids: (JobId, TaskId, InstanceId),
    channel: Channel,
    data: &[u8],
) {
    out.extend_from_slice(&time_ms.to_le_bytes());
    out.extend_from_slice(&ids.0.to_le_bytes());
    out.extend_from_slice(&ids.1.to_le_bytes());
    out.extend_from_slice(&ids.2.to_le_bytes());
    out.push(channel as u8);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
}

/// Reads little-endian integers from a byte slice; `None` when the slice is too short.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }
}

/// Parses a whole stream file.
pub fn parse_file(bytes: &[u8]) -> Result<ParsedFile, FormatError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let mut c = Cursor {
        bytes,
        pos: MAGIC.len(),
    };
    let uid_len = c.u32().ok_or(FormatError::TruncatedHeader)? as usize;
    let uid = c.take(uid_len).ok_or(FormatError::TruncatedHeader)?;
    let server_uid = String::from_utf8(uid.to_vec()).map_err(|_| FormatError::BadServerUid)?;
    let worker_id = c.u32().ok_or(FormatError::TruncatedHeader)?;
    let mut records = Vec::new();
    let mut truncated = false;
    while c.pos < bytes.len() {
        let offset = c.pos;
        match parse_record(&mut c, offset)? {
            Some(r) => records.push(r),
            None => {
                truncated = true;
                break;
            }
        }
    }
    Ok(ParsedFile {
        header: FileHeader {
            server_uid,
            worker_id,
        },
        records,
        truncated,
    })
}

/// One record at the cursor; `Ok(None)` if the bytes end inside it.
fn parse_record(c: &mut Cursor<'_>, offset: usize) -> Result<Option<Record>, FormatError> {
    if c.bytes.len() - c.pos < RECORD_HEADER_LEN {
        return Ok(None);
    }
    let (Some(time_ms), Some(job), Some(task), Some(instance), Some(ch), Some(size)) =
        (c.u64(), c.u32(), c.u32(), c.u32(), c.take(1), c.u32())
    else {
        return Ok(None);
    };
    let channel = Channel::from_byte(ch[0]).ok_or(FormatError::BadChannel {
        channel: ch[0],
        offset,
    })?;
    let Some(data) = c.take(size as usize) else {
        return Ok(None);
    };
    Ok(Some(Record {
        time_ms,
        job,
        task,
        instance,
        channel,
        data: data.to_vec(),
    }))
}
