//! The append side: records are encoded into a buffer and reach the disk on `flush`.

use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::error::JournalError;
use super::format::{encode_header, encode_record};

/// Above this many buffered bytes, `append` hands the buffer to the OS (without fsync)
/// so memory stays bounded between two flushes.
const WRITE_THRESHOLD: usize = 1 << 20;

/// Appends events to a journal file. Events are durable only after [`flush`](Self::flush).
///
/// Dropping the writer hands buffered events to the OS but does not fsync them; call `flush`
/// before a clean shutdown to learn about errors.
pub struct JournalWriter<E> {
    file: File,
    path: PathBuf,
    /// Encoded records not yet written to the file.
    buffer: Vec<u8>,
    /// Bytes of the file that hold complete data; a failed write is cut back to this length,
    /// so a half-written batch can never end up in the middle of the journal.
    written: u64,
    /// Whether bytes were written since the last fsync.
    unsynced: bool,
    /// The last write failed (e.g. the disk is full): `append` stops trying until `flush`.
    write_failed: bool,
    _event: PhantomData<fn(&E)>,
}

impl<E: Serialize> JournalWriter<E> {
    /// Creates a new journal file with a header, readable only by its owner (it holds every
    /// command line and environment). Fails if `path` already exists.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| JournalError::io(path, "create", e))?;
        let header = encode_header();
        file.write_all(&header)
            .and_then(|()| file.sync_all())
            .map_err(|e| JournalError::io(path, "write the header of", e))?;
        sync_parent_dir(path)?;
        Ok(Self::from_file(file, path, header.len() as u64))
    }

    /// Buffers one event stamped with `time_ms` (milliseconds since the Unix epoch).
    pub fn append(&mut self, time_ms: u64, event: &E) -> Result<(), JournalError> {
        encode_record(&mut self.buffer, &(time_ms, event))?;
        if self.buffer.len() >= WRITE_THRESHOLD && !self.write_failed {
            self.write_buffer()?;
        }
        Ok(())
    }
}

impl<E> JournalWriter<E> {
    /// Wraps `file`, whose first `len` bytes are valid journal data, positioned at `len`.
    pub(crate) fn from_file(file: File, path: &Path, len: u64) -> Self {
        JournalWriter {
            file,
            path: path.to_owned(),
            buffer: Vec::new(),
            written: len,
            unsynced: false,
            write_failed: false,
            _event: PhantomData,
        }
    }

    /// Writes buffered events and makes them durable (fdatasync).
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.write_buffer()?;
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(|e| JournalError::io(&self.path, "fsync", e))?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Drops every event appended after the journal had `size` bytes (a [`size`](Self::size)
    /// taken earlier): from the buffer, and from the file if they were already written.
    pub fn rollback_to(&mut self, size: u64) -> Result<(), JournalError> {
        if size >= self.written {
            let keep = (size - self.written) as usize;
            self.buffer.truncate(keep);
            return Ok(());
        }
        self.buffer.clear();
        self.file
            .set_len(size)
            .and_then(|()| self.file.seek(SeekFrom::Start(size)).map(|_| ()))
            .map_err(|e| JournalError::io(&self.path, "cut back", e))?;
        self.written = size;
        Ok(())
    }

    /// Size of the journal in bytes, including events not yet flushed.
    pub fn size(&self) -> u64 {
        self.written + self.buffer.len() as u64
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn set_path(&mut self, path: &Path) {
        self.path = path.to_owned();
    }

    fn write_buffer(&mut self) -> Result<(), JournalError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_all(&self.buffer) {
            // Cut off whatever part was written; the buffer is kept for the next attempt.
            let _ = self.file.set_len(self.written);
            let _ = self.file.seek(SeekFrom::Start(self.written));
            self.write_failed = true;
            return Err(JournalError::io(&self.path, "write to", e));
        }
        self.write_failed = false;
        self.written += self.buffer.len() as u64;
        self.buffer.clear();
        self.unsynced = true;
        Ok(())
    }
}

impl<E> Drop for JournalWriter<E> {
    fn drop(&mut self) {
        let _ = self.write_buffer();
    }
}

impl<E> std::fmt::Debug for JournalWriter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("path", &self.path)
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

/// Makes a new directory entry (a created or renamed file) durable.
pub(crate) fn sync_parent_dir(path: &Path) -> Result<(), JournalError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io(path, "fsync the directory of", e))
}
