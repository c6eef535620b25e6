//! The server directory (`~/.hq-server`): numbered run directories, the `hq-current` link and
//! the owner-only `access.json` with hosts, ports and keys.

use crate::protocol::messages::HQ_VERSION;
use crate::protocol::SecretKey;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const CURRENT_LINK: &str = "hq-current";
pub const ACCESS_FILE: &str = "access.json";

#[derive(Debug, thiserror::Error)]
pub enum ServerDirError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid access file {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("Hyperqueue version mismatch detected. Access record contains version {found}, but the current version is {ours}.")]
    VersionMismatch { found: String, ours: String },
    #[error(
        "access file {path} has no `{part}` part; use the full access file or the {part}-only one"
    )]
    MissingPart { path: PathBuf, part: &'static str },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ServerDirError + '_ {
    move |source| ServerDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One side (client or worker) of the access record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessPart {
    pub host: String,
    pub port: u16,
    /// 64 hex digits, or null when authentication is disabled for this side.
    pub secret_key: Option<String>,
}

impl AccessPart {
    pub fn key(&self) -> Result<Option<SecretKey>, String> {
        match &self.secret_key {
            None => Ok(None),
            Some(hex_key) => {
                let bytes =
                    hex::decode(hex_key).map_err(|e| format!("secret_key is not hex: {e}"))?;
                let key: SecretKey = bytes
                    .try_into()
                    .map_err(|_| "secret_key must be 32 bytes (64 hex digits)".to_string())?;
                Ok(Some(key))
            }
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessRecord {
    pub version: String,
    /// Empty (and not written) in the client-only and worker-only files of `generate-access`,
    /// which hold only `version` and their part, as the reference writes them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<AccessPart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<AccessPart>,
}

impl AccessRecord {
    pub fn client_part(&self, path: &Path) -> Result<&AccessPart, ServerDirError> {
        self.client.as_ref().ok_or(ServerDirError::MissingPart {
            path: path.to_path_buf(),
            part: "client",
        })
    }
    pub fn worker_part(&self, path: &Path) -> Result<&AccessPart, ServerDirError> {
        self.worker.as_ref().ok_or(ServerDirError::MissingPart {
            path: path.to_path_buf(),
            part: "worker",
        })
    }
}

/// A fresh key as 64 hex digits.
pub fn new_secret() -> String {
    hex::encode(crate::protocol::connection::random_bytes::<32>())
}

/// Six random ASCII letters and digits.
pub fn new_server_uid() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// The default server directory: `$HOME/.hq-server`, or the temp dir without a home.
pub fn default_server_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home).join(".hq-server"),
        _ => std::env::temp_dir().join(".hq-server"),
    }
}

/// Makes a user-given path absolute against the current directory.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// The directory whose `access.json` clients and workers read: `<dir>/hq-current` if that is a
/// directory, else `<dir>` itself.
pub fn resolve_active_dir(server_dir: &Path) -> PathBuf {
    let current = server_dir.join(CURRENT_LINK);
    if current.is_dir() {
        current
    } else {
        server_dir.to_path_buf()
    }
}

/// Reads and version-checks `access.json` in `dir`; `Ok(None)` if there is none.
pub fn read_access(dir: &Path) -> Result<Option<AccessRecord>, ServerDirError> {
    let path = dir.join(ACCESS_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    read_access_file(&path, &text).map(Some)
}

pub fn read_access_file(path: &Path, text: &str) -> Result<AccessRecord, ServerDirError> {
    let record: AccessRecord = serde_json::from_str(text).map_err(|e| ServerDirError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if record.version != HQ_VERSION {
        return Err(ServerDirError::VersionMismatch {
            found: record.version,
            ours: HQ_VERSION.into(),
        });
    }
    Ok(record)
}

/// Writes an access record exclusively with mode 0400.
pub fn write_access_file(path: &Path, record: &AccessRecord) -> Result<(), ServerDirError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(path)
        .map_err(io_err(path))?;
    let text = serde_json::to_string_pretty(record).unwrap_or_default();
    file.write_all(text.as_bytes()).map_err(io_err(path))?;
    Ok(())
}

/// Creates the next numbered run directory (`001`, `002`, ...) and returns it.
pub fn create_run_dir(server_dir: &Path) -> Result<PathBuf, ServerDirError> {
    fs::create_dir_all(server_dir).map_err(io_err(server_dir))?;
    let _ = fs::set_permissions(server_dir, fs::Permissions::from_mode(0o700));
    let largest = fs::read_dir(server_dir)
        .map_err(io_err(server_dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir() && e.file_name() != CURRENT_LINK)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .max()
        .unwrap_or(0);
    let run = server_dir.join(format!("{:03}", largest + 1));
    fs::create_dir(&run).map_err(io_err(&run))?;
    let _ = fs::set_permissions(&run, fs::Permissions::from_mode(0o700));
    Ok(run)
}

/// Points `hq-current` at `run_dir` (replacing an old link).
pub fn link_current(server_dir: &Path, run_dir: &Path) -> Result<(), ServerDirError> {
    let link = server_dir.join(CURRENT_LINK);
    let _ = fs::remove_file(&link);
    let target = run_dir
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| run_dir.to_path_buf());
    std::os::unix::fs::symlink(target, &link).map_err(io_err(&link))
}

/// Removes `hq-current` if it still points at `run_dir`.
pub fn unlink_current(server_dir: &Path, run_dir: &Path) {
    let link = server_dir.join(CURRENT_LINK);
    if let (Ok(target), Some(name)) = (fs::read_link(&link), run_dir.file_name()) {
        if target.as_os_str() == name || target == run_dir {
            let _ = fs::remove_file(&link);
        }
    }
}

/// The local host name, for access files and worker tables.
pub fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        if let Ok(s) = std::str::from_utf8(&buf[..end]) {
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    "localhost".to_string()
}
