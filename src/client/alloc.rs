//! Typed requests about allocation queues (`hq alloc`, the dashboard).

use super::{ClientError, CommandLog, Session};
use crate::autoalloc::info::QueueInfo;
use crate::autoalloc::{QueueId, QueueParams};
use crate::protocol::messages::*;

impl Session {
    /// Every queue (`None`) or one, with its allocations and last decision.
    pub async fn alloc_queues(
        &mut self,
        queue: Option<QueueId>,
    ) -> Result<Vec<QueueInfo>, ClientError> {
        let req = ClientRequest::Alloc(AllocRequest::Queues { queue });
        match self.request(req).await? {
            ClientResponse::AllocQueues(q) => Ok(q),
            other => Err(ClientError::unexpected("allocation queues", other)),
        }
    }

    /// Creates a queue, after a test submission when `dry_run`.
    pub async fn alloc_add(
        &mut self,
        params: QueueParams,
        dry_run: bool,
    ) -> Result<CommandLog, ClientError> {
        let params = Box::new(params);
        self.alloc_log("add queue", AllocRequest::Add { params, dry_run })
            .await
    }

    /// Submits a test allocation with these parameters and cancels it.
    pub async fn alloc_dry_run(&mut self, params: QueueParams) -> Result<CommandLog, ClientError> {
        let params = Box::new(params);
        self.alloc_log("dry run", AllocRequest::DryRun { params })
            .await
    }

    /// Pauses (`pause`) or resumes a queue.
    pub async fn alloc_pause(
        &mut self,
        queue: QueueId,
        pause: bool,
    ) -> Result<CommandLog, ClientError> {
        let req = match pause {
            true => AllocRequest::Pause { queue },
            false => AllocRequest::Resume { queue },
        };
        self.alloc_log("pause or resume queue", req).await
    }

    /// Cancels a queue's allocations and removes it (running ones only with `force`).
    pub async fn alloc_remove(
        &mut self,
        queue: QueueId,
        force: bool,
    ) -> Result<CommandLog, ClientError> {
        self.alloc_log("remove queue", AllocRequest::Remove { queue, force })
            .await
    }

    async fn alloc_log(
        &mut self,
        what: &'static str,
        req: AllocRequest,
    ) -> Result<CommandLog, ClientError> {
        self.log_request(what, ClientRequest::Alloc(req)).await
    }
}
