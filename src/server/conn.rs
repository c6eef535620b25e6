//! Connection handlers: accept, handshake, then translate frames to actor events and back.
//! They never touch server state. A peer that fails the handshake (wrong key, oversized frame,
//! too slow) is disconnected and logged once; the log is rate-limited, so a flood of such peers
//! costs a line every few seconds.

use super::actor::Event;
use crate::protocol::messages::*;
use crate::protocol::{handshake, ProtocolError, SecretKey};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// Least time between two log lines about refused connections.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Logs refused connections at most once per [`REFUSAL_LOG_EVERY`], counting the others.
#[derive(Default)]
pub struct RefusalLog {
    /// When the last line was logged, and how many refusals were not logged since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl RefusalLog {
    fn refused(&self, what: &str, peer: Option<SocketAddr>, error: &ProtocolError) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = Instant::now();
        if state
            .0
            .is_some_and(|t| now.duration_since(t) < REFUSAL_LOG_EVERY)
        {
            state.1 += 1;
            return;
        }
        let skipped = std::mem::take(&mut state.1);
        state.0 = Some(now);
        drop(state);
        let peer = peer.map_or_else(|| "an unknown address".to_string(), |p| p.to_string());
        let more = match skipped {
            0 => String::new(),
            n => format!(" ({n} more connections were refused since the last such message)"),
        };
        log::warn!("refused a {what} connection from {peer}: {error}{more}");
    }
}

/// Accepts with a short back-off on errors (e.g. too many open files), so the loop never spins.
async fn accept_next(listener: &TcpListener) -> TcpStream {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(e) => {
                log::warn!("accept failed: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

pub async fn accept_clients(
    listener: TcpListener,
    key: Option<SecretKey>,
    events: mpsc::UnboundedSender<Event>,
) {
    accept_loop(listener, key, events, "client", serve_client).await
}

pub async fn accept_workers(
    listener: TcpListener,
    key: Option<SecretKey>,
    events: mpsc::UnboundedSender<Event>,
) {
    accept_loop(listener, key, events, "worker", serve_worker).await
}

/// Accepts connections forever, serving each in its own task.
async fn accept_loop<F, Fut>(
    listener: TcpListener,
    key: Option<SecretKey>,
    events: mpsc::UnboundedSender<Event>,
    what: &'static str,
    serve: F,
) where
    F: Fn(TcpStream, Option<SecretKey>, mpsc::UnboundedSender<Event>, Arc<RefusalLog>) -> Fut,
    Fut: std::future::Future<Output = Result<(), ProtocolError>> + Send + 'static,
{
    let refusals = Arc::new(RefusalLog::default());
    loop {
        let stream = accept_next(&listener).await;
        let connection = serve(stream, key, events.clone(), refusals.clone());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                log::debug!("{what} connection ended: {e}");
            }
        });
    }
}

async fn serve_client(
    stream: TcpStream,
    key: Option<SecretKey>,
    events: mpsc::UnboundedSender<Event>,
    refusals: Arc<RefusalLog>,
) -> Result<(), ProtocolError> {
    let peer = stream.peer_addr().ok();
    let (mut sender, mut receiver) =
        match handshake(stream, "hq-server", "hq-client", key.as_ref()).await {
            Ok(pair) => pair,
            Err(e) => {
                refusals.refused("client", peer, &e);
                return Err(e);
            }
        };
    while let Some(request) = receiver.recv::<ClientRequest>().await? {
        let (tx, mut rx) = mpsc::unbounded_channel();
        // Weak, so the stream still ends when the actor drops its sender.
        let weak = tx.downgrade();
        if events.send(Event::Client(request, tx)).is_err() {
            break;
        }
        loop {
            tokio::select! {
                response = rx.recv() => {
                    let Some(response) = response else { return Ok(()) };
                    let last = !matches!(
                        response,
                        ClientResponse::Progress { .. }
                            | ClientResponse::Notification(_)
                            | ClientResponse::EventLines(_)
                            | ClientResponse::Dashboard(_)
                    );

                    sender.send(&response).await?;
                    if last {
                        break;
                    }
                }
                // The client hung up while waiting (e.g. Ctrl-C during `hq job wait`).
                closed = receiver.recv::<ClientRequest>() => match closed {
                    // A dashboard moved to other rows: same reply channel, no answer of its own.
                    Ok(Some(view @ ClientRequest::DashboardView(_))) => {
                        if let Some(tx) = weak.upgrade() {
                            if events.send(Event::Client(view, tx)).is_err() {
                                return Ok(());
                            }
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => return Ok(()),
                }
            }
        }
    }
    Ok(())
}

async fn serve_worker(
    stream: TcpStream,
    key: Option<SecretKey>,
    events: mpsc::UnboundedSender<Event>,
    refusals: Arc<RefusalLog>,
) -> Result<(), ProtocolError> {
    let peer = stream.peer_addr().ok();
    let (mut sender, mut receiver) = match handshake(stream, "server", "worker", key.as_ref()).await
    {
        Ok(pair) => pair,
        Err(e) => {
            refusals.refused("worker", peer, &e);
            return Err(e);
        }
    };
    let Some(FromWorker::Register {
        config,
        late_results,
    }) = receiver.recv::<FromWorker>().await?
    else {
        return Ok(());
    };
    // A worker built by another program (or a buggy one) must not bring pools the scheduler
    // cannot reason about.
    let valid = config
        .resources
        .validate()
        .map_err(|e| e.to_string())
        .and_then(|()| {
            (config.min_utilization <= crate::resources::ResourceAmount::ONE)
                .then_some(())
                .ok_or_else(|| "min_utilization is above 1".to_string())
        });
    if let Err(reason) = valid {
        log::warn!("refused a worker registration from {peer:?}: {reason}");
        return Ok(());
    }
    let (to_worker, mut outgoing) = mpsc::unbounded_channel::<ToWorker>();
    let (reply_tx, reply_rx) = oneshot::channel();
    if events
        .send(Event::WorkerRegister(
            config,
            late_results,
            to_worker,
            reply_tx,
        ))
        .is_err()
    {
        return Ok(());
    }
    // The actor's first message on `outgoing` is the `Registered` answer.
    let Ok(worker_id) = reply_rx.await else {
        return Ok(());
    };

    let writer = tokio::spawn(async move {
        while let Some(msg) = outgoing.recv().await {
            let stop = matches!(msg, ToWorker::Stop);
            if sender.send(&msg).await.is_err() || stop {
                break;
            }
        }
    });
    let result = loop {
        match receiver.recv::<FromWorker>().await {
            Ok(Some(msg)) => {
                if events.send(Event::Worker(worker_id, msg)).is_err() {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let _ = events.send(Event::WorkerDisconnected(worker_id));
    writer.abort();
    result
}
