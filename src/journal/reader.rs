//! Reading records back: tells a torn tail (cut off with a warning) from damage in the middle.
//!
//! When a record is broken at offset `p`, the rest of the file is searched for any intact record.
//! None found: the tail was being written when the machine stopped, and everything from `p` on is
//! a torn write. One found: the damage is in the middle, and in strict mode that is an error.

use serde::de::DeserializeOwned;
use std::path::Path;

use super::error::{Corruption, JournalError};
use super::format::{record_at, HEADER_LEN, MAX_RECORD_LEN, RECORD_HEADER_LEN};
use super::Replay;

/// The text the spec prescribes when a torn tail is cut off.
pub const TORN_TAIL_WARNING: &str =
    "Journal contains not fully written data; they will be removed from the log";

/// Bytes of checksumming the search for intact records may spend before giving up
/// (and then assuming the worst: damage in the middle).
const SEARCH_BUDGET: usize = 4 * MAX_RECORD_LEN;

/// How damaged data is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Server start: damage in the middle is an error.
    Strict,
    /// Offline export: skip damaged parts with a warning and keep reading.
    Salvage,
}

/// Reads all records of `bytes` (a whole journal file whose header is valid).
pub(crate) fn scan<E: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    mode: Mode,
) -> Result<Replay<E>, JournalError> {
    let mut replay = Replay {
        events: Vec::new(),
        warnings: Vec::new(),
        valid_len: HEADER_LEN as u64,
    };
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        match record_at(bytes, pos) {
            Ok((payload, next)) => {
                match decode::<E>(payload) {
                    Ok(event) => replay.events.push(event),
                    Err(reason) => {
                        if mode == Mode::Strict {
                            return Err(corrupted(path, pos, reason));
                        }
                        replay.warnings.push(format!(
                            "skipped the record at byte offset {pos} of `{}`: {reason}",
                            path.display()
                        ));
                    }
                }
                pos = next;
                replay.valid_len = next as u64;
            }
            Err(damage) => match search_intact(bytes, pos + 1) {
                Search::NotFound => {
                    replay
                        .warnings
                        .push(torn_tail_warning(path, pos, bytes.len() - pos, mode));
                    break;
                }
                Search::Found(next) => {
                    if mode == Mode::Strict {
                        let resumes_at = next as u64;
                        let reason = Corruption::Damaged { damage, resumes_at };
                        return Err(corrupted(path, pos, reason));
                    }
                    replay.warnings.push(format!(
                        "skipped {} damaged bytes at byte offset {pos} of `{}` ({damage})",
                        next - pos,
                        path.display()
                    ));
                    pos = next;
                }
                Search::GaveUp => {
                    let remaining = (bytes.len() - pos) as u64;
                    if mode == Mode::Strict {
                        let reason = Corruption::Unsearchable { damage, remaining };
                        return Err(corrupted(path, pos, reason));
                    }
                    replay.warnings.push(format!(
                        "stopped reading at byte offset {pos} of `{}` ({damage}); \
                         {remaining} bytes after it were not read",
                        path.display()
                    ));
                    break;
                }
            },
        }
    }
    Ok(replay)
}

fn decode<E: DeserializeOwned>(payload: &[u8]) -> Result<(u64, E), Corruption> {
    match postcard::take_from_bytes::<(u64, E)>(payload) {
        Ok((event, [])) => Ok(event),
        Ok((_, rest)) => Err(Corruption::TrailingBytes { extra: rest.len() }),
        Err(source) => Err(Corruption::Undecodable { source }),
    }
}

fn corrupted(path: &Path, pos: usize, reason: Corruption) -> JournalError {
    JournalError::Corrupted {
        path: path.into(),
        offset: pos as u64,
        reason,
    }
}

fn torn_tail_warning(path: &Path, pos: usize, len: usize, mode: Mode) -> String {
    let what = match mode {
        Mode::Strict => TORN_TAIL_WARNING,
        Mode::Salvage => "Journal contains not fully written data; they were not read",
    };
    format!(
        "{what} ({len} bytes at byte offset {pos} of `{}`)",
        path.display()
    )
}

enum Search {
    Found(usize),
    NotFound,
    GaveUp,
}

/// Finds the first offset at or after `from` where an intact record starts.
fn search_intact(bytes: &[u8], from: usize) -> Search {
    let mut budget = SEARCH_BUDGET;
    let last_start = bytes.len().saturating_sub(RECORD_HEADER_LEN);
    for pos in from..=last_start {
        let len = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        if len > MAX_RECORD_LEN || len > bytes.len() - pos - RECORD_HEADER_LEN {
            continue;
        }
        if len > budget {
            return Search::GaveUp;
        }
        budget -= len;
        if record_at(bytes, pos).is_ok() {
            return Search::Found(pos);
        }
    }
    Search::NotFound
}
