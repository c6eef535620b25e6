//! Connection handlers: accept, handshake, then translate frames to actor events and back.
//! They never touch server state.

use super::actor::Event;
use crate::protocol::messages::*;
use crate::protocol::{handshake, SecretKey};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

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
    F: Fn(TcpStream, Option<SecretKey>, mpsc::UnboundedSender<Event>) -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::protocol::ProtocolError>> + Send + 'static,
{
    loop {
        let stream = accept_next(&listener).await;
        let connection = serve(stream, key, events.clone());
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
) -> Result<(), crate::protocol::ProtocolError> {
    let peer = stream.peer_addr().ok();
    let (mut sender, mut receiver) =
        match handshake(stream, "hq-server", "hq-client", key.as_ref()).await {
            Ok(pair) => pair,
            Err(e) => {
                log::warn!("refused a client connection from {peer:?}: {e}");
                return Err(e);
            }
        };
    while let Some(request) = receiver.recv::<ClientRequest>().await? {
        let (tx, mut rx) = mpsc::unbounded_channel();
        if events.send(Event::Client(request, tx)).is_err() {
            break;
        }
        loop {
            tokio::select! {
                response = rx.recv() => {
                    let Some(response) = response else { return Ok(()) };
                    let last = !matches!(response, ClientResponse::Progress { .. } | ClientResponse::EventLines(_));

                    sender.send(&response).await?;
                    if last {
                        break;
                    }
                }
                // The client hung up while waiting (e.g. Ctrl-C during `hq job wait`).
                closed = receiver.recv::<ClientRequest>() => {
                    if !matches!(closed, Ok(Some(_))) {
                        return Ok(());
                    }
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
) -> Result<(), crate::protocol::ProtocolError> {
    let peer = stream.peer_addr().ok();
    let (mut sender, mut receiver) = match handshake(stream, "server", "worker", key.as_ref()).await
    {
        Ok(pair) => pair,
        Err(e) => {
            log::warn!("refused a worker connection from {peer:?}: {e}");
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
    let (to_worker, mut outgoing) = mpsc::unbounded_channel::<ToWorker>();
    let (reply_tx, reply_rx) = oneshot::channel();
    if events
        .send(Event::WorkerRegister(
            *config,
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
