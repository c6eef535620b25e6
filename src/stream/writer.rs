//! Appends records to one stream file. Synchronous and generic over the sink, so it is tested on
//! a `Vec<u8>`; the worker wraps a file in it (`worker::streamer`).

use super::{encode_header, encode_record, Channel, FileHeader};
use crate::protocol::messages::{InstanceId, JobId, TaskId};
use std::io::{self, BufWriter, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest data part of one record; bigger writes are split.
const MAX_CHUNK: usize = 1 << 20;

pub struct StreamWriter<W: Write> {
    out: BufWriter<W>,
    /// Reused buffer for encoding one record.
    scratch: Vec<u8>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl<W: Write> StreamWriter<W> {
    /// Writes the magic and header and flushes them, so that even an empty file is valid.
    pub fn create(sink: W, header: &FileHeader) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(64 * 1024, sink);
        out.write_all(&encode_header(header))?;
        out.flush()?;
        Ok(StreamWriter {
            out,
            scratch: Vec::new(),
        })
    }

    /// Appends output of one task instance; empty `data` writes nothing (size 0 means "end").
    pub fn chunk(
        &mut self,
        ids: (JobId, TaskId, InstanceId),
        channel: Channel,
        data: &[u8],
    ) -> io::Result<()> {
        for part in data.chunks(MAX_CHUNK) {
            self.record(ids, channel, part)?;
        }
        Ok(())
    }

    /// Marks the end of `channel` of one task instance.
    pub fn end(&mut self, ids: (JobId, TaskId, InstanceId), channel: Channel) -> io::Result<()> {
        self.record(ids, channel, &[])
    }

    fn record(
        &mut self,
        ids: (JobId, TaskId, InstanceId),
        channel: Channel,
        data: &[u8],
    ) -> io::Result<()> {
        self.scratch.clear();
        encode_record(&mut self.scratch, now_ms(), ids, channel, data);
        self.out.write_all(&self.scratch)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The sink (flushed first); used by tests.
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}
