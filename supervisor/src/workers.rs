//! Worker processes as the supervisor sees them: spawning, the IPC pumps in
//! both directions, and routing of their messages to client connections, the
//! host and pending control requests.

use std::collections::HashMap;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use spicebox_ipc::{ConnId, Frame, FromWorker, OutMessage, ToHost, ToWorker, WorkerRole};
use tokio::sync::{mpsc, oneshot};

use crate::children::{spawn_self, IPC_FD};

/// How many messages may wait for a worker before senders wait.
const TO_WORKER_QUEUE: usize = 1024;

/// What a client connection task receives from its worker.
#[derive(Debug)]
pub enum ConnCommand {
    Send(Vec<OutMessage>),
    Close(String),
}

type ConnMap = HashMap<ConnId, mpsc::Sender<ConnCommand>>;
type DumpMap = HashMap<u64, oneshot::Sender<Result<Frame, String>>>;

/// A running worker.
pub struct Worker {
    pub role: WorkerRole,
    pub pid: u32,
    to_worker: mpsc::Sender<ToWorker>,
    conns: Arc<Mutex<ConnMap>>,
    dumps: Arc<Mutex<DumpMap>>,
    next_dump: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Worker {
    /// Starts a worker of `role` with the extra descriptors it needs, and the
    /// tasks that pump its IPC. Input it produces goes to `host`.
    pub fn start(
        role: WorkerRole,
        extra_args: Vec<String>,
        extra_fds: Vec<(OwnedFd, RawFd)>,
        host: mpsc::Sender<ToHost>,
    ) -> anyhow::Result<Arc<Worker>> {
        let (ours, theirs) = spicebox_ipc::socket_pair()?;
        let mut fds = vec![(theirs, IPC_FD)];
        fds.extend(extra_fds);
        let mut args = vec!["worker".to_string(), role.name().to_string()];
        args.extend(extra_args);
        let mut child = spawn_self(&args, fds)?;
        let pid = child.id().unwrap_or(0);
        let (mut tx, mut rx) = spicebox_ipc::split_async::<ToWorker, FromWorker>(ours)?;
        let (to_worker, mut outbox) = mpsc::channel::<ToWorker>(TO_WORKER_QUEUE);
        let worker = Arc::new(Worker {
            role,
            pid,
            to_worker,
            conns: Arc::default(),
            dumps: Arc::default(),
            next_dump: AtomicU64::new(1),
        });
        tracing::info!(role = role.name(), pid, "worker started");

        tokio::spawn(async move {
            while let Some(msg) = outbox.recv().await {
                if let Err(error) = tx.send(&msg).await {
                    tracing::warn!(role = role.name(), %error, "cannot write to worker");
                    break;
                }
            }
        });

        let conns = worker.conns.clone();
        let dumps = worker.dumps.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(msg) => route(role, msg, &conns, &dumps, &host).await,
                    Err(spicebox_ipc::IpcError::Closed) => break,
                    Err(error) => {
                        tracing::error!(role = role.name(), %error, "worker sent a bad message; stopping it");
                        let _ = child.start_kill();
                        break;
                    }
                }
            }
            let status = child.wait().await;
            match status {
                Ok(status) => tracing::error!(role = role.name(), pid, %status, "worker exited"),
                Err(error) => tracing::error!(role = role.name(), pid, %error, "worker lost"),
            }
            // Without a worker its channels cannot be served; close them so
            // the client sees the channel go rather than a silent freeze.
            let senders: Vec<_> = lock(&conns).drain().map(|(_, s)| s).collect();
            for s in senders {
                let _ = s
                    .send(ConnCommand::Close(format!("{} worker exited", role.name())))
                    .await;
            }
            for (_, waiter) in lock(&dumps).drain() {
                let _ = waiter.send(Err("display worker exited".into()));
            }
        });
        Ok(worker)
    }

    /// Registers a client connection's inbox.
    pub fn attach(&self, conn: ConnId, inbox: mpsc::Sender<ConnCommand>) {
        lock(&self.conns).insert(conn, inbox);
    }

    /// Forgets a client connection.
    pub fn detach(&self, conn: ConnId) {
        lock(&self.conns).remove(&conn);
    }

    /// Sends a message to the worker.
    pub async fn send(&self, msg: ToWorker) -> Result<(), WorkerGone> {
        self.to_worker.send(msg).await.map_err(|_| WorkerGone)
    }

    /// Asks the (display) worker for the primary surface.
    pub async fn screendump(&self) -> Result<Frame, String> {
        let request = self.next_dump.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.dumps).insert(request, tx);
        self.send(ToWorker::Screendump { request })
            .await
            .map_err(|_| "display worker is not running".to_string())?;
        match tokio::time::timeout(std::time::Duration::from_secs(10), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("display worker dropped the request".into()),
            Err(_) => {
                lock(&self.dumps).remove(&request);
                Err("display worker did not answer within 10 s".into())
            }
        }
    }
}

/// The worker's process is gone.
#[derive(Debug, thiserror::Error)]
#[error("worker is not running")]
pub struct WorkerGone;

async fn route(
    role: WorkerRole,
    msg: FromWorker,
    conns: &Mutex<ConnMap>,
    dumps: &Mutex<DumpMap>,
    host: &mpsc::Sender<ToHost>,
) {
    match msg {
        FromWorker::Send { conn, messages } => {
            let inbox = lock(conns).get(&conn).cloned();
            if let Some(inbox) = inbox {
                // Waits when the client reads slowly; the display worker's
                // ACK window keeps what can queue here small.
                let _ = inbox.send(ConnCommand::Send(messages)).await;
            }
        }
        FromWorker::CloseChannel { conn, reason } => {
            let inbox = lock(conns).get(&conn).cloned();
            if let Some(inbox) = inbox {
                let _ = inbox.send(ConnCommand::Close(reason)).await;
            }
        }
        FromWorker::Input { session_id, event } => {
            if role != WorkerRole::Inputs {
                tracing::warn!(
                    role = role.name(),
                    "worker that does not own input sent input; ignored"
                );
                return;
            }
            if host
                .send(ToHost::Input { session_id, event })
                .await
                .is_err()
            {
                tracing::warn!("host is gone; input dropped");
            }
        }
        FromWorker::ChannelState { .. } => {}
        FromWorker::Screendump { request, result } => {
            if let Some(waiter) = lock(dumps).remove(&request) {
                let _ = waiter.send(result);
            }
        }
    }
}
