//! The server event journal: append, replay, compact. Generic over the event type.
//!
//! The on-disk format is described in the [`format`](mod@format) module. Guarantees:
//! - events appended and then [`JournalWriter::flush`]ed survive a crash;
//! - a torn last record (crash during a write) is cut off by [`open`] with a warning;
//! - damage in the middle makes [`open`] fail with [`JournalError::Corrupted`] and the byte offset,
//!   never a panic and never silently dropped events; [`read_all`] reads around it for export;
//! - [`rewrite`] replaces the journal atomically (temporary file, fsync, rename).
//!
//! [`write_json_line`] renders events as the NDJSON of `hq journal export`. The event type must
//! keep serde's default enum tagging (postcard cannot decode `#[serde(tag = ..)]`, `untagged` or
//! `flatten`).
//!
//! Only one process may write a journal at a time; the caller ensures it.

mod crc;
mod error;
mod export;
pub mod format;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use error::{Corruption, Damage, JournalError};
pub use export::{iso8601_ms, json_event, write_json_line};
pub use format::{FORMAT_VERSION, MAX_RECORD_LEN};
pub use reader::TORN_TAIL_WARNING;
pub use writer::JournalWriter;

use format::{check_header, encode_header, HeaderState, HEADER_LEN};
use reader::{scan, Mode};
use writer::sync_parent_dir;

/// The content of a journal as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay<E> {
    /// The events in the order they were appended, with their time (ms since the Unix epoch).
    pub events: Vec<(u64, E)>,
    /// Things the user should be told (e.g. a torn tail that was cut off).
    pub warnings: Vec<String>,
    /// Length in bytes of the valid part of the file (header included).
    pub valid_len: u64,
}

/// Opens the journal at `path` for the server: replays it and returns a writer appending to it.
///
/// A missing file is created. A torn tail is cut off the file (with a warning in
/// [`Replay::warnings`]); any other damage is an error and the file is left untouched.
pub fn open<E: DeserializeOwned + Serialize>(
    path: impl AsRef<Path>,
) -> Result<(Replay<E>, JournalWriter<E>), JournalError> {
    let path = path.as_ref();
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let writer = JournalWriter::create(path)?;
            return Ok((empty_replay(Vec::new()), writer));
        }
        Err(e) => return Err(JournalError::io(path, "open", e)),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| JournalError::io(path, "read", e))?;

    let replay = match check_header(path, &bytes)? {
        HeaderState::Valid => scan(path, &bytes, Mode::Strict)?,
        HeaderState::Torn => {
            rewrite_header(path, &mut file)?;
            let warning = format!(
                "{TORN_TAIL_WARNING} (the journal `{}` had only {} bytes of its header)",
                path.display(),
                bytes.len()
            );
            empty_replay(vec![warning])
        }
    };
    if replay.valid_len < bytes.len() as u64 {
        file.set_len(replay.valid_len)
            .and_then(|()| file.sync_all())
            .map_err(|e| JournalError::io(path, "cut the torn tail of", e))?;
    }
    file.seek(SeekFrom::Start(replay.valid_len))
        .map_err(|e| JournalError::io(path, "seek in", e))?;
    let writer = JournalWriter::from_file(file, path, replay.valid_len);
    Ok((replay, writer))
}

/// Reads a journal without modifying it (for `hq journal export`).
///
/// Unlike [`open`], damage is not an error: damaged parts are skipped and reported in
/// [`Replay::warnings`], so that whatever is intact can still be exported.
/// A foreign file or an incompatible version is still an error.
pub fn read_all<E: DeserializeOwned>(path: impl AsRef<Path>) -> Result<Replay<E>, JournalError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| JournalError::io(path, "read", e))?;
    match check_header(path, &bytes)? {
        HeaderState::Valid => scan(path, &bytes, Mode::Salvage),
        HeaderState::Torn => Ok(empty_replay(vec![format!(
            "the journal `{}` has only {} bytes of its header and no events",
            path.display(),
            bytes.len()
        )])),
    }
}

/// Replaces the journal at `path` by one holding exactly `events` (for `hq journal prune`).
///
/// The new journal is written to a temporary file next to `path`, fsynced and renamed over the
/// old one, so a crash leaves either the old or the new journal, never a mix. Returns a writer
/// appending to the new file; a writer still open on the old file must be flushed before the
/// call and dropped after it (it would append to the replaced file).
pub fn rewrite<'a, E, I>(
    path: impl AsRef<Path>,
    events: I,
) -> Result<JournalWriter<E>, JournalError>
where
    E: Serialize + 'a,
    I: IntoIterator<Item = (u64, &'a E)>,
{
    let path = path.as_ref();
    let (tmp, mut writer) = write_temp(path, events)?;
    if let Err(e) = fs::rename(&tmp, path) {
        drop(writer);
        let _ = fs::remove_file(&tmp);
        return Err(JournalError::io(path, "replace", e));
    }
    writer.set_path(path);
    sync_parent_dir(path)?;
    Ok(writer)
}

/// First half of [`rewrite`]: the complete, fsynced new journal under a temporary name.
fn write_temp<'a, E, I>(path: &Path, events: I) -> Result<(PathBuf, JournalWriter<E>), JournalError>
where
    E: Serialize + 'a,
    I: IntoIterator<Item = (u64, &'a E)>,
{
    let tmp = temp_path(path)?;
    // Left over by a rewrite that crashed before its rename; it never holds the only copy.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(JournalError::io(&tmp, "remove the stale temporary", e)),
    }
    let mut writer = JournalWriter::create(&tmp)?;
    let result = events
        .into_iter()
        .try_for_each(|(time, event)| writer.append(time, event))
        .and_then(|()| writer.flush());
    match result {
        Ok(()) => Ok((tmp, writer)),
        Err(e) => {
            drop(writer);
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// `dir/.NAME.rewrite` for `dir/NAME`: same directory, so the rename is atomic.
fn temp_path(path: &Path) -> Result<PathBuf, JournalError> {
    let Some(name) = path.file_name() else {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name");
        return Err(JournalError::io(path, "rewrite", e));
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".rewrite");
    Ok(path.with_file_name(tmp_name))
}

fn rewrite_header(path: &Path, file: &mut File) -> Result<(), JournalError> {
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(&encode_header()))
        .and_then(|()| file.sync_all())
        .map_err(|e| JournalError::io(path, "write the header of", e))
}

fn empty_replay<E>(warnings: Vec<String>) -> Replay<E> {
    Replay {
        events: Vec::new(),
        warnings,
        valid_len: HEADER_LEN as u64,
    }
}
