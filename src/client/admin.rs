//! Typed requests about workers, the server and its journal.

use super::{ClientError, CommandLog, Session};
use crate::protocol::messages::*;

impl Session {
    /// Every worker the server knows, connected or gone.
    pub async fn worker_list(&mut self) -> Result<Vec<WorkerInfo>, ClientError> {
        match self.request(ClientRequest::WorkerList).await? {
            ClientResponse::Workers(w) => Ok(w),
            other => Err(ClientError::unexpected("worker list", other)),
        }
    }

    pub async fn stop_workers(&mut self, selector: IdSelector) -> Result<CommandLog, ClientError> {
        self.log_request("stop workers", ClientRequest::StopWorker { selector })
            .await
    }

    pub async fn server_info(&mut self) -> Result<ServerInfo, ClientError> {
        match self.request(ClientRequest::ServerInfo).await? {
            ClientResponse::ServerInfo(info) => Ok(info),
            other => Err(ClientError::unexpected("server info", other)),
        }
    }

    /// Asks the server to stop and waits (up to 10 s) until it has closed the connection, so
    /// a server started right after it finds the server directory free.
    pub async fn stop_server(&mut self) -> Result<(), ClientError> {
        self.expect_ok("stop server", ClientRequest::StopServer)
            .await?;
        let gone = async { while self.recv().await.is_ok() {} };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), gone).await;
        Ok(())
    }

    /// The server's internal state as a JSON document (`hq server debug-dump`).
    pub async fn debug_dump(&mut self) -> Result<String, ClientError> {
        match self.request(ClientRequest::DebugDump).await? {
            ClientResponse::DebugDump(text) => Ok(text),
            other => Err(ClientError::unexpected("debug dump", other)),
        }
    }

    /// Makes the server write its journal to disk now.
    pub async fn journal_flush(&mut self) -> Result<(), ClientError> {
        self.expect_ok("journal flush", ClientRequest::JournalFlush)
            .await
    }

    /// Makes the server rewrite its journal without completed jobs and gone workers.
    pub async fn journal_prune(&mut self) -> Result<(), ClientError> {
        self.expect_ok("journal prune", ClientRequest::JournalPrune)
            .await
    }

    async fn expect_ok(
        &mut self,
        what: &'static str,
        req: ClientRequest,
    ) -> Result<(), ClientError> {
        match self.request(req).await? {
            ClientResponse::Ok => Ok(()),
            other => Err(ClientError::unexpected(what, other)),
        }
    }

    /// The server's recorded events as JSON lines, handed to `on_lines` batch by batch. With
    /// `live`, goes on with new events until the server stops (which ends it normally).
    pub async fn journal_events(
        &mut self,
        live: bool,
        mut on_lines: impl FnMut(Vec<String>),
    ) -> Result<(), ClientError> {
        self.send(&ClientRequest::JournalEvents { live }).await?;
        loop {
            match self.recv().await {
                Ok(ClientResponse::EventLines(lines)) => on_lines(lines),
                Ok(ClientResponse::Ok) => return Ok(()),
                Ok(other) => return Err(ClientError::unexpected("journal events", other)),
                Err(ClientError::Disconnected) if live => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}
