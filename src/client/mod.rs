//! The client side of the protocol: find the server through the server directory, connect,
//! authenticate, and exchange typed requests. It never prints.

use crate::common::serverdir::{self, ServerDirError};
use crate::protocol::messages::*;
use crate::protocol::{handshake, FrameReceiver, FrameSender, ProtocolError};
use std::path::{Path, PathBuf};
use tokio::net::TcpStream;

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
    #[error("{0}")]
    Server(String),
    #[error("unexpected response from the server: {0}")]
    Unexpected(String),
}

/// An authenticated connection to the server.
pub struct Session {
    sender: FrameSender,
    receiver: FrameReceiver,
}

fn dir_hint(server_dir: &Path) -> String {
    if server_dir == serverdir::default_server_dir() {
        String::new()
    } else {
        format!(" --server-dir {}", server_dir.display())
    }
}

impl Session {
    /// Connects to the server that the server directory names.
    pub async fn connect(server_dir: &Path) -> Result<Session, ClientError> {
        let dir = serverdir::resolve_active_dir(server_dir);
        let hint = dir_hint(server_dir);
        let record = serverdir::read_access(&dir)?.ok_or_else(|| ClientError::NoServer {
            dir: server_dir.to_path_buf(),
            hint: hint.clone(),
        })?;
        let path = dir.join(serverdir::ACCESS_FILE);
        let part = record.client_part(&path)?;
        let key = part.key().map_err(|reason| ServerDirError::Invalid {
            path: path.clone(),
            reason,
        })?;
        let addr = format!("{}:{}", part.host, part.port);
        let stream = TcpStream::connect(&addr)
            .await
            .map_err(|_| ClientError::Unreachable { addr, hint })?;
        let (sender, receiver) = handshake(stream, "hq-client", "hq-server", key.as_ref()).await?;
        Ok(Session { sender, receiver })
    }

    pub async fn send(&mut self, req: &ClientRequest) -> Result<(), ClientError> {
        self.sender.send(req).await?;
        Ok(())
    }

    pub async fn recv(&mut self) -> Result<ClientResponse, ClientError> {
        match self.receiver.recv::<ClientResponse>().await? {
            Some(ClientResponse::Error(e)) => Err(ClientError::Server(e)),
            Some(r) => Ok(r),
            None => Err(ClientError::Disconnected),
        }
    }

    /// The two directions of the connection, for a client that sends while it receives
    /// (`hq dashboard`).
    pub fn into_parts(self) -> (FrameSender, FrameReceiver) {
        (self.sender, self.receiver)
    }

    /// Sends a request and returns its (single) response.
    pub async fn request(&mut self, req: ClientRequest) -> Result<ClientResponse, ClientError> {
        self.send(&req).await?;
        self.recv().await
    }
}
