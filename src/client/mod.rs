//! The client layer shared by the CLI and the Python package: find the server through the
//! server directory, connect and authenticate ([`Session`]), and typed requests (submit, job
//! details, wait with a progress callback, cancel, forget, failed tasks, workers, server,
//! journal, allocation queues) with typed errors. It never prints: callers present the results.

mod admin;
mod alloc;
mod jobs;
pub mod notify;
mod session;
mod wait;

pub use jobs::{CommandLog, FailedTasks, JobDetails, COMPLETED_STATES};
pub use session::Session;
pub use wait::{WaitProgress, WaitResult};

use crate::common::serverdir::ServerDirError;
use crate::protocol::ProtocolError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("No running instance of HQ found at {dir:?}.\nTry to start the server: `hq server start{hint}`")]
    NoServer { dir: PathBuf, hint: String },
    #[error("Access token found but HQ server {addr} is unreachable.\nTry to (re)start the server using `hq server start{hint}`")]
    Unreachable { addr: String, hint: String },
    #[error(transparent)]
    Dir(#[from] ServerDirError),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("the server closed the connection")]
    Disconnected,
    #[error("the connection to the server was lost while waiting: {0}")]
    LostWhileWaiting(Box<ClientError>),
    /// The server refused the request; the message is for the user.
    #[error("{0}")]
    Server(String),
    #[error("internal error, please report: unexpected response to `{request}` from the server: {response}")]
    Unexpected {
        request: &'static str,
        response: String,
    },
}

impl ClientError {
    fn unexpected(request: &'static str, response: impl std::fmt::Debug) -> Self {
        let mut response = format!("{response:?}");
        response.truncate(200);
        ClientError::Unexpected { request, response }
    }
}
