//! Worker processes as the supervisor sees them. A [`Worker`] is a slot that
//! lives as long as the server: it starts its process, pumps IPC both ways,
//! routes what the worker says, and when the process dies it starts a new one
//! and hands it every channel's negotiated state, so that clients keep their
//! connections. Deaths are budgeted: a worker that keeps dying is given up,
//! its channels closed cleanly, and the rest of the server goes on.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use spicebox_ipc::{
    ChannelInfo, ConnId, Fault, Frame, FromWorker, OutMessage, ResumeState, ToHost, ToWorker,
    WorkerRole,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::children::{spawn_self, IPC_FD};

/// How many messages may wait for a worker before senders wait. Messages
/// queue here while a worker restarts, so a restart loses none of them.
const TO_WORKER_QUEUE: usize = 1024;

/// Unintended deaths allowed within [`DEATH_WINDOW`] before giving up.
const DEATH_BUDGET: usize = 5;
const DEATH_WINDOW: Duration = Duration::from_secs(60);

/// Restart delay after a second consecutive unintended death; doubles per
/// further death, capped at [`MAX_BACKOFF`]. The first is replaced at once.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A worker that lived this long is healthy again: its backoff resets.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// Lifecycle events kept for `ctl status`.
const HISTORY: usize = 32;

/// What a client connection task receives from its worker.
#[derive(Debug)]
pub enum ConnCommand {
    Send(Vec<OutMessage>),
    Close(String),
}

struct ConnEntry {
    inbox: mpsc::Sender<ConnCommand>,
    info: ChannelInfo,
    resume: Option<ResumeState>,
}

type DumpMap = HashMap<u64, oneshot::Sender<Result<Frame, String>>>;

/// How to start a worker process.
pub struct WorkerSpec {
    pub role: WorkerRole,
    /// The slot's name in logs, `ctl status` and `ctl restart-worker`:
    /// the role's, with the display's index after it for displays past
    /// the first (`display-1`).
    pub name: String,
    /// Arguments after `worker ROLE`.
    pub args: Vec<String>,
    /// Descriptors to duplicate into every instance, at these numbers.
    pub fds: Vec<(OwnedFd, RawFd)>,
}

/// Where a worker slot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Starting,
    Running,
    Restarting,
    /// Died too often; its channels are closed and new ones refused.
    GivenUp,
}

/// One lifecycle event, for `ctl status`.
#[derive(Debug, Clone, Serialize)]
pub struct LifeEvent {
    /// Milliseconds since the server started.
    pub at_ms: u64,
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

struct Lifecycle {
    phase: Phase,
    pid: u32,
    generation: u32,
    restarts: u32,
    deaths: VecDeque<Instant>,
    consecutive: u32,
    history: VecDeque<LifeEvent>,
}

/// What `ctl status` shows of a worker.
#[derive(Debug, Serialize)]
pub struct WorkerStatus {
    pub role: String,
    pub pid: u32,
    pub phase: Phase,
    pub generation: u32,
    pub restarts: u32,
    pub channels: usize,
    pub history: Vec<LifeEvent>,
}

/// A supervised worker slot.
pub struct Worker {
    pub role: WorkerRole,
    pub name: String,
    spec: WorkerSpec,
    to_worker: mpsc::Sender<ToWorker>,
    queue: tokio::sync::Mutex<mpsc::Receiver<ToWorker>>,
    /// A message a dead instance did not take, for the next one.
    pending: Mutex<Option<ToWorker>>,
    conns: Mutex<HashMap<ConnId, ConnEntry>>,
    dumps: Mutex<DumpMap>,
    next_dump: AtomicU64,
    /// Host state every instance must know (the keyboard LEDs).
    sticky_leds: Mutex<Option<u16>>,
    /// Each live session's measured link class, for later instances.
    sticky_links: Mutex<HashMap<u32, bool>>,
    /// Image compression set at run time, for every later instance.
    sticky_compression: Mutex<Option<String>>,
    life: Mutex<Lifecycle>,
    /// Set by `restart()`: the next death is on purpose and not budgeted.
    intended: AtomicBool,
    host: mpsc::Sender<ToHost>,
    epoch: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The worker is not serving.
#[derive(Debug, thiserror::Error)]
#[error("worker is not running")]
pub struct WorkerGone;

impl Worker {
    /// Creates the slot and starts supervising it (the first instance starts
    /// at once). Input the worker produces goes to `host`.
    pub fn start(spec: WorkerSpec, host: mpsc::Sender<ToHost>, epoch: Instant) -> Arc<Worker> {
        let (to_worker, queue) = mpsc::channel(TO_WORKER_QUEUE);
        let worker = Arc::new(Worker {
            role: spec.role,
            name: spec.name.clone(),
            spec,
            to_worker,
            queue: tokio::sync::Mutex::new(queue),
            pending: Mutex::new(None),
            conns: Mutex::default(),
            dumps: Mutex::default(),
            next_dump: AtomicU64::new(1),
            sticky_leds: Mutex::new(None),
            sticky_links: Mutex::new(HashMap::new()),
            sticky_compression: Mutex::new(None),
            life: Mutex::new(Lifecycle {
                phase: Phase::Starting,
                pid: 0,
                generation: 0,
                restarts: 0,
                deaths: VecDeque::new(),
                consecutive: 0,
                history: VecDeque::new(),
            }),
            intended: AtomicBool::new(false),
            host,
            epoch,
        });
        tokio::spawn(worker.clone().supervise());
        worker
    }

    fn record(&self, event: &'static str, pid: Option<u32>, detail: Option<String>) {
        let at_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut life = lock(&self.life);
        if life.history.len() == HISTORY {
            life.history.pop_front();
        }
        life.history.push_back(LifeEvent {
            at_ms,
            event,
            pid,
            detail,
        });
    }

    fn spawn_instance(&self) -> anyhow::Result<(tokio::process::Child, OwnedFd)> {
        let (ours, theirs) = spicebox_ipc::socket_pair()?;
        let mut fds = vec![(theirs, IPC_FD)];
        for (fd, target) in &self.spec.fds {
            fds.push((fd.as_fd().try_clone_to_owned()?, *target));
        }
        let mut args = vec!["worker".to_string(), self.role.name().to_string()];
        args.extend(self.spec.args.iter().cloned());
        let child = spawn_self(&args, fds)?;
        Ok((child, ours))
    }

    /// Starts instances for as long as the budget allows.
    async fn supervise(self: Arc<Self>) {
        let role = self.name.clone();
        let role = role.as_str();
        loop {
            let started = Instant::now();
            match self.spawn_instance() {
                Ok((child, ours)) => self.clone().run_instance(child, ours, started).await,
                Err(error) => {
                    tracing::error!(role, error = %format!("{error:#}"), "worker could not be started");
                    self.record("start-failed", None, Some(format!("{error:#}")));
                }
            }
            let intended = self.intended.swap(false, Ordering::SeqCst);
            let delay = {
                let mut life = lock(&self.life);
                if intended {
                    life.consecutive = 0;
                    None
                } else {
                    let now = Instant::now();
                    life.deaths.push_back(now);
                    while life
                        .deaths
                        .front()
                        .is_some_and(|t| now.duration_since(*t) > DEATH_WINDOW)
                    {
                        life.deaths.pop_front();
                    }
                    if started.elapsed() >= HEALTHY_AFTER {
                        life.consecutive = 0;
                    }
                    life.consecutive += 1;
                    if life.deaths.len() > DEATH_BUDGET {
                        life.phase = Phase::GivenUp;
                        life.pid = 0;
                        Some(Duration::MAX)
                    } else if life.consecutive <= 1 {
                        // A first death after a healthy run is most likely a
                        // one-off: replace the worker at once.
                        Some(Duration::ZERO)
                    } else {
                        let exp = life.consecutive.saturating_sub(2).min(16);
                        Some((FIRST_BACKOFF * 2u32.pow(exp)).min(MAX_BACKOFF))
                    }
                }
            };
            if delay == Some(Duration::MAX) {
                tracing::error!(
                    role,
                    budget = DEATH_BUDGET,
                    window_s = DEATH_WINDOW.as_secs(),
                    "worker keeps dying; giving up: its channels are closed, the rest of the server goes on"
                );
                self.record("given-up", None, None);
                self.give_up().await;
                return;
            }
            let delay = delay.unwrap_or(Duration::ZERO);
            {
                let mut life = lock(&self.life);
                life.phase = Phase::Restarting;
                life.restarts += 1;
            }
            tracing::warn!(
                role,
                delay_ms = delay.as_millis() as u64,
                intended,
                "restarting worker"
            );
            self.record(
                "restarting",
                None,
                Some(format!(
                    "after {} ms{}",
                    delay.as_millis(),
                    if intended { ", on request" } else { "" }
                )),
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Serves one instance from start to death.
    async fn run_instance(
        self: Arc<Self>,
        mut child: tokio::process::Child,
        ours: OwnedFd,
        started: Instant,
    ) {
        let role = self.name.clone();
        let role = role.as_str();
        let pid = child.id().unwrap_or(0);
        let generation = {
            let mut life = lock(&self.life);
            life.generation += 1;
            life.pid = pid;
            life.phase = Phase::Running;
            life.generation
        };
        tracing::info!(role, pid, generation, "worker started");
        self.record("started", Some(pid), None);

        let (mut tx, mut rx) = match spicebox_ipc::split_async::<ToWorker, FromWorker>(ours) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::error!(role, %error, "cannot talk to the new worker");
                let _ = child.start_kill();
                let _ = child.wait().await;
                return;
            }
        };

        // Hand over before anything queued: every channel this slot serves,
        // with what its client already holds, then the host's state.
        let mut handover: Vec<ToWorker> = lock(&self.conns)
            .iter()
            .map(|(conn, e)| ToWorker::ChannelOpened {
                conn: *conn,
                info: e.info.clone(),
                resume: e.resume.clone(),
            })
            .collect();
        if let Some(modifiers) = *lock(&self.sticky_leds) {
            handover.push(ToWorker::HostLeds { modifiers });
        }
        if let Some(mode) = lock(&self.sticky_compression).clone() {
            handover.push(ToWorker::SetCompression { mode });
        }
        handover.extend(lock(&self.sticky_links).iter().map(|(&session_id, &low)| {
            ToWorker::SessionLink {
                session_id,
                low_bandwidth: low,
            }
        }));
        handover.extend(lock(&self.pending).take());

        let stop_writer = CancellationToken::new();
        let writer = {
            let me = self.clone();
            let stop = stop_writer.clone();
            tokio::spawn(async move {
                for msg in handover {
                    if tx.send(&msg).await.is_err() {
                        return;
                    }
                }
                let mut queue = me.queue.lock().await;
                loop {
                    let msg = tokio::select! {
                        biased;
                        _ = stop.cancelled() => return,
                        m = queue.recv() => match m {
                            Some(m) => m,
                            None => return,
                        },
                    };
                    if tx.send(&msg).await.is_err() {
                        *lock(&me.pending) = Some(msg);
                        return;
                    }
                }
            })
        };

        loop {
            match rx.recv().await {
                Ok(msg) => self.route(msg).await,
                Err(spicebox_ipc::IpcError::Closed) => break,
                Err(error) => {
                    tracing::error!(role, pid, %error, "worker sent a malformed message; stopping it");
                    let _ = child.start_kill();
                    break;
                }
            }
        }
        stop_writer.cancel();
        let _ = writer.await;
        let status = child.wait().await;
        let detail = match &status {
            Ok(s) => s.to_string(),
            Err(e) => format!("lost: {e}"),
        };
        tracing::error!(role, pid, status = %detail, lived_ms = started.elapsed().as_millis() as u64, "worker died");
        self.record("died", Some(pid), Some(detail));
        for (_, waiter) in lock(&self.dumps).drain() {
            let _ = waiter.send(Err(format!("{role} worker died")));
        }
    }

    async fn give_up(&self) {
        let inboxes: Vec<_> = lock(&self.conns).drain().map(|(_, e)| e.inbox).collect();
        for inbox in inboxes {
            let _ = inbox
                .send(ConnCommand::Close(format!(
                    "{} worker failed and was given up",
                    self.name
                )))
                .await;
        }
        for (_, waiter) in lock(&self.dumps).drain() {
            let _ = waiter.send(Err(format!("{} worker was given up", self.name)));
        }
    }

    /// Whether the slot can serve channels.
    pub fn available(&self) -> bool {
        lock(&self.life).phase != Phase::GivenUp
    }

    /// Registers a client connection and tells the worker about it.
    pub async fn open_channel(
        &self,
        conn: ConnId,
        inbox: mpsc::Sender<ConnCommand>,
        info: ChannelInfo,
    ) -> Result<(), WorkerGone> {
        if !self.available() {
            return Err(WorkerGone);
        }
        lock(&self.conns).insert(
            conn,
            ConnEntry {
                inbox,
                info: info.clone(),
                resume: None,
            },
        );
        self.send(ToWorker::ChannelOpened {
            conn,
            info,
            resume: None,
        })
        .await
    }

    /// Forgets a client connection and tells the worker.
    pub async fn close_channel(&self, conn: ConnId) {
        lock(&self.conns).remove(&conn);
        let _ = self.send(ToWorker::ChannelClosed { conn }).await;
    }

    /// Queues a message for the worker; it waits through a restart.
    pub async fn send(&self, msg: ToWorker) -> Result<(), WorkerGone> {
        if !self.available() {
            return Err(WorkerGone);
        }
        self.to_worker.send(msg).await.map_err(|_| WorkerGone)
    }

    /// Host LED state: kept for future instances, and sent now.
    pub async fn host_leds(&self, modifiers: u16) {
        *lock(&self.sticky_leds) = Some(modifiers);
        let _ = self.send(ToWorker::HostLeds { modifiers }).await;
    }

    /// A session's link class: kept for later instances, and sent now.
    pub async fn session_link(&self, session_id: u32, low_bandwidth: bool) {
        lock(&self.sticky_links).insert(session_id, low_bandwidth);
        let _ = self
            .send(ToWorker::SessionLink {
                session_id,
                low_bandwidth,
            })
            .await;
    }

    /// Forgets an ended session's link class.
    pub fn forget_session(&self, session_id: u32) {
        lock(&self.sticky_links).remove(&session_id);
    }

    /// Image compression for this and every later instance.
    pub async fn set_compression(&self, mode: String) -> Result<(), WorkerGone> {
        *lock(&self.sticky_compression) = Some(mode.clone());
        self.send(ToWorker::SetCompression { mode }).await
    }

    /// Kills the current instance on purpose; the slot starts a new one
    /// without counting it against the budget.
    pub fn restart(&self) -> Result<u32, String> {
        let (pid, phase) = {
            let life = lock(&self.life);
            (life.pid, life.phase)
        };
        if phase != Phase::Running || pid == 0 {
            return Err(format!("{} worker is not running ({phase:?})", self.name));
        }
        self.intended.store(true, Ordering::SeqCst);
        tracing::warn!(role = %self.name, pid, "worker restart requested");
        let pid_i = i32::try_from(pid).map_err(|_| "bad pid".to_string())?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid_i),
            nix::sys::signal::Signal::SIGKILL,
        )
        .map_err(|e| format!("cannot stop pid {pid}: {e}"))?;
        Ok(pid)
    }

    /// Test hooks: asks the worker to misbehave.
    pub async fn inject(&self, fault: Fault) -> Result<(), WorkerGone> {
        self.send(ToWorker::InjectFault { fault }).await
    }

    /// Asks the (display) worker for the primary surface.
    pub async fn screendump(&self) -> Result<Frame, String> {
        let request = self.next_dump.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.dumps).insert(request, tx);
        if self.send(ToWorker::Screendump { request }).await.is_err() {
            lock(&self.dumps).remove(&request);
            return Err(format!("{} worker is not running", self.name));
        }
        match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the worker dropped the request".into()),
            Err(_) => {
                lock(&self.dumps).remove(&request);
                Err("the worker did not answer within 10 s".into())
            }
        }
    }

    /// Snapshot for `ctl status`.
    pub fn status(&self) -> WorkerStatus {
        let channels = lock(&self.conns).len();
        let life = lock(&self.life);
        WorkerStatus {
            role: self.name.clone(),
            pid: life.pid,
            phase: life.phase,
            generation: life.generation,
            restarts: life.restarts,
            channels,
            history: life.history.iter().cloned().collect(),
        }
    }

    async fn route(&self, msg: FromWorker) {
        match msg {
            FromWorker::Send {
                conn,
                messages,
                state,
            } => {
                let inbox = {
                    let mut conns = lock(&self.conns);
                    let entry = conns.get_mut(&conn);
                    if let (Some(e), Some(state)) = (entry, state) {
                        e.resume = Some(state);
                    }
                    conns.get(&conn).map(|e| e.inbox.clone())
                };
                if let Some(inbox) = inbox {
                    // Waits when the client reads slowly; the display worker's
                    // ACK window keeps what can queue here small.
                    let _ = inbox.send(ConnCommand::Send(messages)).await;
                }
            }
            FromWorker::CloseChannel { conn, reason } => {
                let inbox = lock(&self.conns).get(&conn).map(|e| e.inbox.clone());
                if let Some(inbox) = inbox {
                    let _ = inbox.send(ConnCommand::Close(reason)).await;
                }
            }
            FromWorker::ChannelState { conn, state } => {
                if let Some(e) = lock(&self.conns).get_mut(&conn) {
                    e.resume = Some(state);
                }
            }
            FromWorker::Input { session_id, event } => {
                if self.role != WorkerRole::Inputs {
                    tracing::warn!(
                        role = %self.name,
                        "a worker that does not own input sent input; ignored"
                    );
                    return;
                }
                if self
                    .host
                    .send(ToHost::Input { session_id, event })
                    .await
                    .is_err()
                {
                    tracing::warn!("host is gone; input dropped");
                }
            }
            FromWorker::Screendump { request, result } => {
                if let Some(waiter) = lock(&self.dumps).remove(&request) {
                    let _ = waiter.send(result);
                }
            }
        }
    }
}
