//! The actor: one task owns the [`ServerCore`]; connection handlers and timers send it
//! [`Event`]s. A round handles every queued event, schedules once, flushes the journal and then
//! ships the outbox (worker batches, client replies). This is the only place that sends. A
//! round whose pass stopped at the scheduler's time limit is followed at once by another.

use super::conn;
use super::core::{now_ms, ServerCore};
use super::journal::JournalEvent;
use super::requests::After;
use crate::protocol::messages::*;
use crate::protocol::SecretKey;
use std::collections::HashMap;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Messages into the actor.
pub enum Event {
    Client(ClientRequest, mpsc::UnboundedSender<ClientResponse>),
    /// A worker sent its registration; the actor answers with its ID on the oneshot and then
    /// sends everything for it (first `Registered`) through the unbounded channel.
    WorkerRegister(
        Box<WorkerConfiguration>,
        Vec<TaskResult>,
        mpsc::UnboundedSender<ToWorker>,
        oneshot::Sender<WorkerId>,
    ),
    Worker(WorkerId, FromWorker),
    WorkerDisconnected(WorkerId),
    /// A finished autoalloc operation (submission, status query, cancellation).
    AutoAlloc(super::autoalloc_ops::AllocResult),
    Tick,
    Shutdown,
}

/// Starts the connection handlers and the ticker, then runs the actor until it stops.
pub async fn run(
    core: ServerCore,
    clients: TcpListener,
    workers: TcpListener,
    [client_key, worker_key]: [Option<SecretKey>; 2],
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut core = core;
    core.autoalloc.attach(tx.clone());
    tokio::spawn(conn::accept_clients(clients, client_key, tx.clone()));
    tokio::spawn(conn::accept_workers(workers, worker_key, tx.clone()));
    let ticker = tx.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        loop {
            interval.tick().await;
            if ticker.send(Event::Tick).is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(Event::Shutdown);
    });
    run_actor(core, rx).await;
}

/// The actor loop: handle every pending event, then end the round and ship its messages.
pub(super) async fn run_actor(mut core: ServerCore, mut rx: mpsc::UnboundedReceiver<Event>) {
    let mut senders: HashMap<WorkerId, mpsc::UnboundedSender<ToWorker>> = HashMap::new();
    loop {
        let mut stop = false;
        if core.pass_cut_short {
            // The last pass stopped at `--scheduler-time-limit`: let the connections deliver
            // what came in meanwhile, then run another round (and pass) without waiting.
            tokio::task::yield_now().await;
            core.now = now_ms();
        } else {
            let Some(event) = rx.recv().await else { break };
            stop = handle_event(&mut core, &mut senders, event);
        }
        while !stop {
            match rx.try_recv() {
                Ok(event) => stop = handle_event(&mut core, &mut senders, event),
                Err(_) => break,
            }
        }
        if stop {
            core.stopping = true;
            core.alloc_shutdown().await;
            // Workers are not sent `Stop`: they see the connection close when the actor ends
            // and follow their `--on-server-lost` policy (exit code 1, as when the server is
            // killed).
            core.commit(JournalEvent::ServerStop);
        }
        end_round(&mut core, stop);
        ship(&mut core, &senders);
        if stop {
            log::info!("Stopping server");
            // Give the writer tasks a moment to deliver the last replies.
            tokio::time::sleep(Duration::from_millis(50)).await;
            break;
        }
    }
}

/// Schedules if anything changed, flushes the journal, tells waiting clients.
pub(super) fn end_round(core: &mut ServerCore, force_flush: bool) {
    if core.needs_schedule {
        core.schedule();
    }
    core.alloc_round();
    let _ = core.flush_journal(force_flush);
    core.notify_waiters(false);
    core.dashboard_tick();
}

/// Applies one event; returns true when the server must stop.
fn handle_event(
    core: &mut ServerCore,
    senders: &mut HashMap<WorkerId, mpsc::UnboundedSender<ToWorker>>,
    event: Event,
) -> bool {
    core.now = now_ms();
    match event {
        Event::Client(req, reply) => {
            return matches!(core.handle_request(req, reply), After::StopServer);
        }
        Event::WorkerRegister(config, late_results, sender, reply) => {
            let id = core.register_worker(*config, late_results);
            senders.insert(id, sender);
            let _ = reply.send(id);
        }
        Event::Worker(id, msg) => core.on_worker_message(id, msg),
        Event::WorkerDisconnected(id) => {
            senders.remove(&id);
            core.on_worker_disconnected(id);
        }
        Event::AutoAlloc(result) => core.alloc_result(result),
        Event::Tick => {
            core.check_heartbeats();
            core.notify_waiters(true);
        }
        Event::Shutdown => return true,
    }
    false
}

/// Sends the outbox: worker messages, then client replies.
fn ship(core: &mut ServerCore, senders: &HashMap<WorkerId, mpsc::UnboundedSender<ToWorker>>) {
    for (id, msg) in core.outbox.take_worker_messages() {
        if let Some(tx) = senders.get(&id) {
            let _ = tx.send(msg);
        }
    }
    for (to, response) in std::mem::take(&mut core.outbox.replies) {
        let _ = to.send(response);
    }
}
