//! Errors of the journal: I/O, foreign or incompatible files, and corruption with its byte offset.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while writing or reading a journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The operating system refused an operation on the journal file.
    #[error("cannot {action} journal `{path}`")]
    Io {
        path: PathBuf,
        /// What was being done, e.g. "read", "create", "fsync".
        action: &'static str,
        #[source]
        source: io::Error,
    },

    /// The file does not start with the journal magic: it is something else, so it is left alone.
    #[error("`{path}` is not a hq journal (it does not start with the journal header)")]
    NotAJournal { path: PathBuf },

    /// The file is a journal of another format version.
    #[error(
        "journal `{path}` has format version {found} (written by hq {written_by}), \
         but this hq {ours} reads only format version {expected}; \
         use the hq version that wrote it, or move the file away to start with an empty journal"
    )]
    IncompatibleVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
        /// The hq version recorded in the file's header.
        written_by: String,
        /// The version of this program.
        ours: &'static str,
    },

    /// Damaged data that is not a torn tail: accepting the file would silently drop events.
    #[error(
        "journal `{path}` is corrupted at byte offset {offset}: {reason}; \
         the server refuses to start rather than silently lose jobs. \
         Move the file away to start with an empty journal, or see what is still readable \
         with `hq journal export {path}`"
    )]
    Corrupted {
        path: PathBuf,
        /// Byte offset, from the start of the file, of the first damaged record.
        offset: u64,
        reason: Corruption,
    },

    /// An event could not be encoded (a serde `Serialize` implementation failed).
    #[error("cannot encode a journal event")]
    Encode(#[source] postcard::Error),

    /// An event encodes to more than [`MAX_RECORD_LEN`](super::MAX_RECORD_LEN) bytes; it was not written.
    #[error("journal event of {size} bytes exceeds the maximum record size of {max} bytes")]
    RecordTooLarge { size: usize, max: usize },
}

impl JournalError {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        JournalError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

/// Why a record was rejected in the middle of a journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// The record's framing or checksum is broken, and intact records follow it.
    #[error("{damage}, and intact records follow at byte offset {resumes_at}")]
    Damaged { damage: Damage, resumes_at: u64 },

    /// The record is broken and what follows is too large to search for intact records.
    #[error(
        "{damage}, and the {remaining} bytes after it are too many to check for intact records"
    )]
    Unsearchable { damage: Damage, remaining: u64 },

    /// The record is intact (its checksum matches) but does not decode as an event.
    #[error("the record is intact but does not decode as an event (written by another hq version?): {source}")]
    Undecodable { source: postcard::Error },

    /// The record decodes as an event but has bytes left over.
    #[error("the record is intact but has {extra} bytes after its event (written by another hq version?)")]
    TrailingBytes { extra: usize },
}

/// What is wrong with the framing of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// Fewer bytes remain than a record header needs.
    #[error("the record header is cut short")]
    ShortHeader,
    /// The declared length exceeds [`MAX_RECORD_LEN`](super::MAX_RECORD_LEN).
    #[error("the record declares an impossible length of {len} bytes")]
    TooLong { len: u32 },
    /// The declared length reaches past the end of the file.
    #[error("the record declares {len} bytes but the file ends sooner")]
    PastEnd { len: u32 },
    /// The checksum does not match the record's content.
    #[error("the record's checksum does not match its content")]
    Checksum,
}
