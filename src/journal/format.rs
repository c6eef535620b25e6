//! The bytes on disk: the file header and the framing of one record.
//!
//! ```text
//! file   = header record*
//! header = magic "HQJOURNL" (8 bytes) | format version (u32 LE) | hq version (20 bytes, NUL padded)
//! record = crc32 (u32 LE) | len (u32 LE) | payload (len bytes)
//!          crc32 covers the len field and the payload; payload = postcard((time_ms: u64, event))
//! ```
//! Covering `len` by the checksum means a zero-filled tail (what some file systems leave after a
//! crash) or a damaged length never passes for a record.

use serde::Serialize;
use std::path::Path;

use super::crc::crc32;
use super::error::{Damage, JournalError};

/// First bytes of every journal file.
pub const MAGIC: [u8; 8] = *b"HQJOURNL";

/// Version of the on-disk format, including the encoding of the server's event type.
/// Bump it whenever either changes incompatibly: postcard is not self-describing, so an old
/// journal must be refused rather than misread.
pub const FORMAT_VERSION: u32 = 2;

/// Length of the file header in bytes.
pub const HEADER_LEN: usize = 32;

const HQ_VERSION_LEN: usize = HEADER_LEN - MAGIC.len() - 4;

/// Bytes in front of each record's payload (checksum and length).
pub const RECORD_HEADER_LEN: usize = 8;

/// Largest payload a record may have; a damaged length never makes the reader allocate more.
pub const MAX_RECORD_LEN: usize = 64 << 20;

/// The header this program writes.
pub(crate) fn encode_header() -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let version = env!("CARGO_PKG_VERSION").as_bytes();
    let n = version.len().min(HQ_VERSION_LEN);
    header[12..12 + n].copy_from_slice(&version[..n]);
    header
}

/// What the start of an existing file says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderState {
    /// A complete header of our version; records start at [`HEADER_LEN`].
    Valid,
    /// The file is empty or holds the beginning of a header only (a crash right after creation).
    Torn,
}

/// Checks the header at the start of `bytes` (the whole file, or at least its first bytes).
pub(crate) fn check_header(path: &Path, bytes: &[u8]) -> Result<HeaderState, JournalError> {
    let magic_part = bytes.len().min(MAGIC.len());
    if bytes[..magic_part] != MAGIC[..magic_part] {
        return Err(JournalError::NotAJournal { path: path.into() });
    }
    if bytes.len() < HEADER_LEN {
        return Ok(HeaderState::Torn);
    }
    let found = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if found != FORMAT_VERSION {
        let raw = &bytes[12..HEADER_LEN];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        return Err(JournalError::IncompatibleVersion {
            path: path.into(),
            found,
            expected: FORMAT_VERSION,
            written_by: String::from_utf8_lossy(&raw[..end]).into_owned(),
            ours: env!("CARGO_PKG_VERSION"),
        });
    }
    Ok(HeaderState::Valid)
}

/// Appends one framed record holding `value` to `buf`. On error `buf` is left as it was.
pub(crate) fn encode_record<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
) -> Result<(), JournalError> {
    let start = buf.len();
    buf.extend_from_slice(&[0; RECORD_HEADER_LEN]);
    if let Err(e) = crate::common::encode::encode_into(buf, value) {
        buf.truncate(start);
        return Err(JournalError::Encode(e));
    }
    let size = buf.len() - start - RECORD_HEADER_LEN;
    if size > MAX_RECORD_LEN {
        buf.truncate(start);
        return Err(JournalError::RecordTooLarge {
            size,
            max: MAX_RECORD_LEN,
        });
    }
    buf[start + 4..start + 8].copy_from_slice(&(size as u32).to_le_bytes());
    let crc = crc32(&buf[start + 4..]);
    buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The record starting at `pos` of `bytes`, if its framing and checksum are intact.
/// Returns the payload and the offset of the next record.
pub(crate) fn record_at(bytes: &[u8], pos: usize) -> Result<(&[u8], usize), Damage> {
    let rest = &bytes[pos.min(bytes.len())..];
    if rest.len() < RECORD_HEADER_LEN {
        return Err(Damage::ShortHeader);
    }
    let crc = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len as usize > MAX_RECORD_LEN {
        return Err(Damage::TooLong { len });
    }
    let end = RECORD_HEADER_LEN + len as usize;
    if end > rest.len() {
        return Err(Damage::PastEnd { len });
    }
    if crc32(&rest[4..end]) != crc {
        return Err(Damage::Checksum);
    }
    Ok((&rest[RECORD_HEADER_LEN..end], pos + end))
}
