//! An authenticated connection to the server named by a server directory.

use super::ClientError;
use crate::common::serverdir::{self, ServerDirError};
use crate::protocol::messages::*;
use crate::protocol::{handshake, FrameReceiver, FrameSender};
use std::path::Path;
use tokio::net::TcpStream;

/// An authenticated connection to the server.
pub struct Session {
    sender: FrameSender,
    receiver: FrameReceiver,
}

/// ` --server-dir DIR` for hints, unless the directory is the default one.
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

    /// The next response; a server-side `Error` becomes [`ClientError::Server`].
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
