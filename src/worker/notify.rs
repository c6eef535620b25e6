//! The worker's local listener for `hq task notify`: an abstract Unix socket with a random
//! name (given to tasks in `HQ_ACCESS_KEY`). Each request goes to the worker loop, which checks
//! the execution's secret, forwards the message to the server and answers.

use crate::common::notify::{self, AccessKey};
use crate::protocol::messages::FromWorker;
use rand::distributions::{Alphanumeric, DistString};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// A request for the worker loop; `ack` gets the answer for the task.
pub struct NotifyRequest {
    pub key: AccessKey,
    pub message: Vec<u8>,
    pub ack: oneshot::Sender<Result<(), String>>,
}

/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the listener and serves it in the background; returns its name, or `None` (logged)
/// when it cannot be bound, in which case `hq task notify` reports that tasks cannot notify.
pub fn listen(requests: mpsc::UnboundedSender<NotifyRequest>) -> Option<String> {
    let name = format!(
        "hq-notify-{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 16)
    );
    let bound = SocketAddr::from_abstract_name(name.as_bytes())
        .and_then(|addr| std::os::unix::net::UnixListener::bind_addr(&addr))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(UnixListener::from_std);
    match bound {
        Ok(listener) => {
            tokio::spawn(accept_loop(listener, requests));
            Some(name)
        }
        Err(e) => {
            log::warn!("cannot listen for task notifications: {e}");
            None
        }
    }
}

async fn accept_loop(listener: UnixListener, requests: mpsc::UnboundedSender<NotifyRequest>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, requests.clone()));
            }
            Err(e) => {
                log::debug!("accepting a notification failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if requests.is_closed() {
            return;
        }
    }
}

/// Reads one request (bounded in size and time), hands it to the worker loop, writes the
/// answer.
async fn serve(mut stream: UnixStream, requests: mpsc::UnboundedSender<NotifyRequest>) {
    let mut data = Vec::new();
    let limit = notify::MAX_REQUEST as u64 + 1;
    let mut limited = (&mut stream).take(limit);
    let read = limited.read_to_end(&mut data);
    let result = match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
        Ok(Ok(_)) if data.len() as u64 >= limit => Err("the request is too large".to_string()),
        Ok(Ok(_)) => match notify::decode_request(&data) {
            Ok((key, message)) => forward(&requests, key, message).await,
            Err(e) => Err(e.to_string()),
        },
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the request was not sent in time".to_string()),
    };
    let _ = stream.write_all(&notify::encode_reply(&result)).await;
}

async fn forward(
    requests: &mpsc::UnboundedSender<NotifyRequest>,
    key: AccessKey,
    message: Vec<u8>,
) -> Result<(), String> {
    let (ack, answer) = oneshot::channel();
    let stopping = || "the worker is stopping".to_string();
    requests
        .send(NotifyRequest { key, message, ack })
        .map_err(|_| stopping())?;
    answer.await.unwrap_or_else(|_| Err(stopping()))
}

impl super::WorkerLoop {
    /// The message for the server if the notification comes from a running execution.
    pub(super) fn notification(
        &self,
        key: AccessKey,
        message: Vec<u8>,
    ) -> Result<FromWorker, String> {
        let exec = (key.job, key.task, key.instance);
        match self.running.get(&exec) {
            Some(r) if r.secret == key.secret => Ok(FromWorker::Notify {
                job: key.job,
                task: key.task,
                instance: key.instance,
                message,
            }),
            _ => Err("the task is not running on this worker".into()),
        }
    }
}
