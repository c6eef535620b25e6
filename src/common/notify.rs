//! `hq task notify`: the task's access key (`HQ_ACCESS_KEY`) and the one-message exchange
//! between an `hq task notify` process and its worker over the worker's local socket (an
//! abstract Unix socket, so no path on any file system is needed).
//!
//! Request: the key, a newline, then the message bytes up to end of stream. Answer: one line,
//! `ok` or `error: <reason>`. The worker forwards an accepted message to the server, which
//! hands it to the clients waiting for the job with `--on-notify`.

use crate::protocol::messages::{InstanceId, JobId, TaskId};
use std::fmt;
use std::str::FromStr;

/// The most bytes a notification may carry.
pub const MAX_MESSAGE: usize = 1024;
/// The most bytes a request may have (key line plus message).
pub const MAX_REQUEST: usize = MAX_MESSAGE + 512;
/// The environment variable that holds the key.
pub const KEY_VAR: &str = "HQ_ACCESS_KEY";

/// `HQ_ACCESS_KEY` = `<socket>:<job>:<task>:<instance>:<secret>`: where the worker listens and
/// which execution is speaking, proven by a secret only the worker and that execution know.
/// Unique per execution, so it also marks the execution's processes (`worker/reaper.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKey {
    /// Abstract socket name of the worker's listener; empty when it has none.
    pub socket: String,
    pub job: JobId,
    pub task: TaskId,
    pub instance: InstanceId,
    pub secret: String,
}

impl fmt::Display for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}:{}",
            self.socket, self.job, self.task, self.instance, self.secret
        )
    }
}

impl FromStr for AccessKey {
    type Err = NotifyError;

    fn from_str(text: &str) -> Result<Self, NotifyError> {
        let invalid = || NotifyError::InvalidKey(text.to_string());
        let parts: Vec<&str> = text.trim().split(':').collect();
        let [socket, job, task, instance, secret] = parts.as_slice() else {
            return Err(invalid());
        };
        let number = |s: &str| s.parse::<u32>().map_err(|_| invalid());
        Ok(AccessKey {
            socket: socket.to_string(),
            job: number(job)?,
            task: number(task)?,
            instance: number(instance)?,
            secret: secret.to_string(),
        })
    }
}

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("HQ_ACCESS_KEY variable not found. Are you running this command inside a task?")]
    NoKey,
    #[error("invalid HQ_ACCESS_KEY `{0}`: it is set by the worker for each task")]
    InvalidKey(String),
    #[error("the message has {0} bytes; a notification may have at most 1024")]
    TooLong(usize),
    #[error("the worker of this task does not accept notifications")]
    NoListener,
    #[error("cannot reach the worker of this task: {0}")]
    Worker(#[source] std::io::Error),
    #[error("the worker refused the notification: {0}")]
    Refused(String),
    #[error("invalid notification request")]
    InvalidRequest,
}

pub fn encode_request(key: &AccessKey, message: &[u8]) -> Vec<u8> {
    let mut out = format!("{key}\n").into_bytes();
    out.extend_from_slice(message);
    out
}

pub fn decode_request(data: &[u8]) -> Result<(AccessKey, Vec<u8>), NotifyError> {
    let end = data
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(NotifyError::InvalidRequest)?;
    let key = std::str::from_utf8(&data[..end]).map_err(|_| NotifyError::InvalidRequest)?;
    let message = &data[end + 1..];
    if message.len() > MAX_MESSAGE {
        return Err(NotifyError::TooLong(message.len()));
    }
    Ok((key.parse()?, message.to_vec()))
}

pub fn encode_reply(result: &Result<(), String>) -> Vec<u8> {
    match result {
        Ok(()) => b"ok\n".to_vec(),
        Err(reason) => format!("error: {reason}\n").into_bytes(),
    }
}

pub fn decode_reply(data: &[u8]) -> Result<(), NotifyError> {
    let text = String::from_utf8_lossy(data);
    let line = text.trim_end();
    match line.strip_prefix("error: ") {
        _ if line == "ok" => Ok(()),
        Some(reason) => Err(NotifyError::Refused(reason.to_string())),
        None => Err(NotifyError::Refused(format!("unexpected answer `{line}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_request_round_trip() {
        let key = AccessKey {
            socket: "hq-abc".into(),
            job: 3,
            task: 7,
            instance: 1,
            secret: "00ff".into(),
        };
        assert_eq!(key.to_string(), "hq-abc:3:7:1:00ff");
        assert_eq!(key.to_string().parse::<AccessKey>().unwrap(), key);
        let (k, m) = decode_request(&encode_request(&key, b"hello\nworld")).unwrap();
        assert_eq!((k, m.as_slice()), (key, &b"hello\nworld"[..]));
        assert!("a:b".parse::<AccessKey>().is_err());
        assert!(decode_reply(&encode_reply(&Ok(()))).is_ok());
        let refused = decode_reply(&encode_reply(&Err("finished".into())));
        assert!(matches!(refused, Err(NotifyError::Refused(r)) if r == "finished"));
    }
}
