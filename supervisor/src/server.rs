//! The serving supervisor: starts the host and the workers, accepts client
//! connections, runs their link stage, and hands each linked channel to the
//! main channel or to its worker.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use spicebox_ipc::WorkerRole;
use spicebox_protocol::consts::ChannelType;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::children::{DOORBELL_FD, SHM_FD};
use crate::cli::ServeArgs;
use crate::host::Host;
use crate::link::{self, LinkPolicy, Refusal};
use crate::sessions::{AdmitError, Sessions};
use crate::ticket::KeyPool;
use crate::workers::{Worker, WorkerSpec};
use crate::{control, main_channel, routed};

/// Channels a session may open besides main: a display and a cursor
/// channel per display, ids from 0, and one inputs channel.
pub fn worker_channels(displays: u8) -> Vec<(ChannelType, u8)> {
    let mut channels = Vec::with_capacity(usize::from(displays) * 2 + 1);
    for id in 0..displays {
        channels.push((ChannelType::Display, id));
        channels.push((ChannelType::Cursor, id));
    }
    channels.push((ChannelType::Inputs, 0));
    channels
}

/// Everything the connection tasks share.
pub struct Server {
    pub args: ServeArgs,
    password: Option<Vec<u8>>,
    pub keys: KeyPool,
    pub sessions: Sessions,
    /// One display worker per display; display `k` serves the display
    /// and cursor channels of id `k`.
    pub displays: Vec<Arc<Worker>>,
    pub inputs: Arc<Worker>,
    pub host: Host,
    pub name: String,
    pub uuid: [u8; 16],
    /// The image compression now in force (settable at run time).
    pub image_compression: std::sync::Mutex<crate::cli::ImageCompression>,
    pub started: Instant,
    next_conn: AtomicU64,
    rtt_us: AtomicU64,
}

impl Server {
    /// Records a measured main-channel round trip.
    pub fn record_rtt(&self, rtt: Duration) {
        self.rtt_us.store(
            u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Last measured round trip, microseconds (0: none yet).
    pub fn last_rtt_us(&self) -> u64 {
        self.rtt_us.load(Ordering::Relaxed)
    }
}

struct Policy<'a>(&'a Server);

impl LinkPolicy for Policy<'_> {
    fn password(&self) -> Option<&[u8]> {
        self.0.password.as_deref()
    }

    fn admit(
        &self,
        channel: ChannelType,
        channel_id: u8,
        connection_id: u32,
    ) -> Result<(), Refusal> {
        if channel == ChannelType::Main {
            // A non-zero id on main means migration, which is not offered.
            return match (connection_id, channel_id) {
                (0, 0) => Ok(()),
                (0, id) => Err(Refusal::ChannelNotAvailable(channel.name(), id)),
                (id, _) => Err(Refusal::BadConnectionId(id)),
            };
        }
        if !worker_channels(self.0.args.displays).contains(&(channel, channel_id))
            || !self
                .0
                .worker_for(channel, channel_id)
                .is_some_and(|w| w.available())
        {
            return Err(Refusal::ChannelNotAvailable(channel.name(), channel_id));
        }
        match self.0.sessions.can_add(connection_id, channel, channel_id) {
            Ok(()) => Ok(()),
            Err(AdmitError::NoSession(id)) => Err(Refusal::BadConnectionId(id)),
            Err(AdmitError::Duplicate(name, id)) => Err(Refusal::ChannelNotAvailable(name, id)),
        }
    }
}

/// Command-line arguments for a worker of `role`: its own, plus CPU pinning
/// and the test hooks.
fn worker_args(
    args: &ServeArgs,
    role: WorkerRole,
    mut own: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    if let Some(cpus) = args.cpus.for_role(role.name()) {
        let list: Vec<String> = cpus.iter().map(usize::to_string).collect();
        own.push(format!("--cpus={}", list.join(",")));
    }
    if args.test_hooks {
        own.push("--test-hooks".into());
        if args.test_fault_at_start.as_deref() == Some(role.name()) {
            own.push("--fault-at-start".into());
        }
    } else if args.test_fault_at_start.is_some() {
        anyhow::bail!("--test-fault-at-start needs --test-hooks");
    }
    Ok(own)
}

impl Server {
    /// The worker serving a channel.
    pub fn worker_for(&self, channel: ChannelType, id: u8) -> Option<&Arc<Worker>> {
        match WorkerRole::for_channel_type(channel.as_u8())? {
            WorkerRole::Display => self.displays.get(usize::from(id)),
            WorkerRole::Inputs => Some(&self.inputs),
        }
    }

    /// The worker named on the control socket (`display`, `display-1`,
    /// `inputs`).
    pub fn worker_named(&self, name: &str) -> Option<&Arc<Worker>> {
        self.workers().find(|w| w.name == name)
    }

    /// Every worker slot: the displays in order, then inputs.
    pub fn workers(&self) -> impl Iterator<Item = &Arc<Worker>> {
        self.displays.iter().chain(std::iter::once(&self.inputs))
    }
}

/// The name of display `index`'s worker slot.
fn display_worker_name(index: usize) -> String {
    match index {
        0 => WorkerRole::Display.name().to_string(),
        n => format!("{}-{n}", WorkerRole::Display.name()),
    }
}

/// Reads the password from the configured places.
fn resolve_password(args: &ServeArgs) -> anyhow::Result<Option<Vec<u8>>> {
    if args.disable_ticketing {
        return Ok(None);
    }
    let password = if let Some(file) = &args.password_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read password file {}", file.display()))?;
        Some(text.lines().next().unwrap_or("").to_string())
    } else {
        std::env::var("SPICEBOX_PASSWORD").ok()
    };
    match password {
        Some(p) if p.len() > spicebox_protocol::consts::MAX_PASSWORD_LENGTH => anyhow::bail!(
            "password is longer than the {} bytes SPICE clients can send",
            spicebox_protocol::consts::MAX_PASSWORD_LENGTH
        ),
        Some(p) => Ok(Some(p.into_bytes())),
        None => {
            tracing::warn!("no password configured (--password-file or SPICEBOX_PASSWORD): ticketing is disabled");
            Ok(None)
        }
    }
}

/// How long clients see the host's "gone" picture (painted before the
/// host reported) before their sessions end.
const GONE_PICTURE_TIME: Duration = Duration::from_secs(1);
/// How long the connection writers get to shut their sockets down.
const CLOSE_TIME: Duration = Duration::from_millis(200);

/// `--on-host-exit end`: the machine is gone, so is the server. Every
/// session ends (its connections are shut down), the host is stopped,
/// and `serve` returns, so spicebox exits with status 0.
async fn end_with_the_machine(server: &Server, reason: &str) {
    let sessions = server.sessions.status();
    tracing::info!(
        %reason,
        sessions = sessions.len(),
        "the served machine is gone; ending every session and exiting (--on-host-exit end)"
    );
    tokio::time::sleep(GONE_PICTURE_TIME).await;
    // Sessions that linked during the pause end too.
    for session in server.sessions.status() {
        server.sessions.end(session.id);
    }
    server.host.stop().await;
    tokio::time::sleep(CLOSE_TIME).await;
}

/// Runs the server until SIGTERM/SIGINT, or until the host's machine goes
/// away with `--on-host-exit end`.
pub async fn serve(args: ServeArgs, inherited: Vec<std::net::TcpListener>) -> anyhow::Result<()> {
    let password = resolve_password(&args)?;
    let mut regions = Vec::with_capacity(usize::from(args.displays));
    for index in 0..args.displays {
        let shm = spicebox_shm::create_region(&spicebox_shm::ShmLayout::default())
            .with_context(|| format!("cannot create the shared framebuffer of display {index}"))?;
        let doorbell = spicebox_shm::Doorbell::new()
            .with_context(|| format!("cannot create the doorbell of display {index}"))?;
        regions.push((shm, doorbell));
    }

    let started = Instant::now();
    let (host_tx, host_rx) = mpsc::channel(1024);
    let mut displays = Vec::with_capacity(regions.len());
    for (index, (shm, doorbell)) in regions.iter().enumerate() {
        displays.push(Worker::start(
            WorkerSpec {
                role: WorkerRole::Display,
                name: display_worker_name(index),
                args: worker_args(
                    &args,
                    WorkerRole::Display,
                    vec![
                        format!("--image-compression={}", args.image_compression.name()),
                        format!(
                            "--jpeg-wan-compression={}",
                            args.jpeg_wan_compression.name()
                        ),
                        format!(
                            "--zlib-glz-wan-compression={}",
                            args.zlib_glz_wan_compression.name()
                        ),
                    ],
                )?,
                fds: vec![
                    (shm.try_clone().context("dup shm")?, SHM_FD),
                    (
                        doorbell.try_clone_fd().context("dup doorbell")?,
                        DOORBELL_FD,
                    ),
                ],
            },
            host_tx.clone(),
            started,
        ));
    }
    let inputs = Worker::start(
        WorkerSpec {
            role: WorkerRole::Inputs,
            name: WorkerRole::Inputs.name().to_string(),
            args: worker_args(&args, WorkerRole::Inputs, Vec::new())?,
            fds: Vec::new(),
        },
        host_tx,
        started,
    );
    let mut host_regions = Vec::with_capacity(regions.len());
    for (shm, doorbell) in regions {
        host_regions.push((shm, doorbell.try_clone_fd().context("dup doorbell")?));
    }
    let (host, machine_gone) = Host::start(&args, host_regions, host_rx, inputs.clone())?;

    let listeners = if inherited.is_empty() {
        let addr = SocketAddr::new(args.addr, args.port);
        vec![TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?]
    } else {
        inherited
            .into_iter()
            .map(|l| {
                l.set_nonblocking(true)?;
                TcpListener::from_std(l)
            })
            .collect::<Result<Vec<_>, _>>()
            .context("cannot use the inherited sockets")?
    };

    let server = Arc::new(Server {
        password,
        keys: KeyPool::start(),
        sessions: Sessions::default(),
        displays,
        inputs,
        host,
        name: "spicebox demo".to_string(),
        uuid: rand::random(),
        image_compression: std::sync::Mutex::new(args.image_compression),
        started,
        next_conn: AtomicU64::new(1),
        rtt_us: AtomicU64::new(0),
        args,
    });

    for l in &listeners {
        if let Ok(addr) = l.local_addr() {
            tracing::info!(%addr, "listening; connect with: remote-viewer spice://{addr}");
        }
    }
    let control_path = server.args.control.clone();
    if let Some(path) = &control_path {
        control::start(path, server.clone()).await?;
    }
    for l in listeners {
        let server = server.clone();
        tokio::spawn(async move { accept_loop(l, server).await });
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        reason = machine_gone.wait() => end_with_the_machine(&server, &reason).await,
    }
    if let Some(path) = control_path {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, server: Arc<Server>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let server = server.clone();
                tokio::spawn(async move { handle_connection(server, stream, peer).await });
            }
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle_connection(server: Arc<Server>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let limit = Duration::from_secs(server.args.link_timeout.max(1));
    let policy = Policy(&server);
    let linked = match tokio::time::timeout(limit, link::run(&mut stream, &policy, &server.keys))
        .await
    {
        Err(_) => {
            tracing::warn!(%peer, reason = %format!("link stage not completed within {} s", limit.as_secs()), "link refused");
            return;
        }
        Ok(Err(reason)) => {
            tracing::warn!(%peer, %reason, "link refused");
            return;
        }
        Ok(Ok(linked)) => linked,
    };
    match linked.channel_type {
        ChannelType::Main => main_channel::serve(&server, stream, peer, linked).await,
        other => {
            let Some(worker) = server.worker_for(other, linked.channel_id).cloned() else {
                return;
            };
            let conn = server.next_conn.fetch_add(1, Ordering::Relaxed);
            routed::serve(&server, worker, stream, peer, linked, conn).await;
        }
    }
}
