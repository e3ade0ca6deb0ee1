//! The display worker: serves every display and cursor channel of the
//! machine. It reads damage and cursor records from the host's shared
//! framebuffer, keeps each client's pending damage, respects each client's
//! ACK window, encodes what is due and hands whole SPICE messages to the
//! supervisor.

mod bitmap;
pub mod codec;
mod cursor_conn;
mod damage;
mod display_conn;
mod encode;
mod flow;
mod palette_cache;
mod pixmap_cache;
pub mod seccomp;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Barrier};

use crossbeam_channel::{unbounded, Receiver};
use spicebox_ipc::{
    ConnId, Frame, FromWorker, IpcError, OutMessage, ResumeState, SyncSender, ToWorker,
};
use spicebox_protocol::consts::ChannelType;
use spicebox_shm::{Consumer, Doorbell, Event, Mode, Rect, ShmError};

use crate::cursor_conn::CursorConn;
use crate::display_conn::DisplayConn;
pub use crate::encode::{lz4_stream, Compression, WanOptions, WanSetting};

/// Errors that stop the worker.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// The supervisor link failed.
    #[error("supervisor link failed")]
    Ipc(#[from] IpcError),
    /// The shared framebuffer cannot be used.
    #[error("shared framebuffer")]
    Shm(#[from] ShmError),
    /// A helper thread could not start.
    #[error("cannot start thread")]
    Thread(#[source] std::io::Error),
    /// The sandbox could not be completed.
    #[error("cannot lock down the worker: {0}")]
    LockDown(String),
}

enum Wake {
    Ipc(ToWorker),
    IpcClosed(Option<IpcError>),
    Doorbell,
    DoorbellBroken(ShmError),
}

enum Conn {
    Display(Box<DisplayConn>),
    Cursor(CursorConn),
}

struct Worker {
    tx: SyncSender<FromWorker>,
    shm: Consumer,
    compression: Compression,
    wan: WanOptions,
    /// Sessions whose main channel measured a low-bandwidth link.
    low_bandwidth: HashMap<u32, bool>,
    conns: HashMap<ConnId, Conn>,
    /// Set when the shared framebuffer turned out corrupt: the display stops
    /// rather than sending garbage, and says so once.
    broken: Option<String>,
    test_hooks: bool,
    /// The state last reported per channel.
    reported: HashMap<ConnId, ResumeState>,
    /// The mode the host has painted since it last changed mode: drawn
    /// surfaces use it, never a mode whose pixels are still being written.
    painted: Option<Mode>,
}

/// How the worker is started.
pub struct Options {
    /// Image compression chosen at start.
    pub compression: Compression,
    /// When JPEG and ZLIB_GLZ may be used.
    pub wan: WanOptions,
    /// Accept [`spicebox_ipc::ToWorker::InjectFault`] (tests only).
    pub test_hooks: bool,
}

/// Runs the worker until the supervisor closes the link. `lock_down` is
/// called once the worker's threads exist and before any of them reads from
/// a peer: it installs the seccomp filter on every thread.
pub fn run(
    ipc: OwnedFd,
    shm: OwnedFd,
    bell: OwnedFd,
    options: Options,
    lock_down: impl FnOnce() -> Result<(), String>,
) -> Result<(), DisplayError> {
    let compression = options.compression;
    let (tx, mut rx) = spicebox_ipc::split_sync::<FromWorker, ToWorker>(ipc);
    let consumer = Consumer::open(shm)?;
    let doorbell = Doorbell::from_fd(bell);
    let (wake_tx, wake) = unbounded::<Wake>();
    // The helper threads finish starting (their start-up system calls)
    // before the filter is installed, and begin work only after it is.
    let ready = Arc::new(Barrier::new(3));
    let start = Arc::new(Barrier::new(3));

    let ipc_wake = wake_tx.clone();
    let ipc_start = start.clone();
    let ipc_ready = ready.clone();
    std::thread::Builder::new()
        .name("ipc-recv".into())
        .spawn(move || {
            ipc_ready.wait();
            ipc_start.wait();
            loop {
                match rx.recv() {
                    Ok(m) => {
                        if ipc_wake.send(Wake::Ipc(m)).is_err() {
                            return;
                        }
                    }
                    Err(IpcError::Closed) => {
                        let _ = ipc_wake.send(Wake::IpcClosed(None));
                        return;
                    }
                    Err(e) => {
                        let _ = ipc_wake.send(Wake::IpcClosed(Some(e)));
                        return;
                    }
                }
            }
        })
        .map_err(DisplayError::Thread)?;
    let bell_start = start.clone();
    let bell_ready = ready.clone();
    std::thread::Builder::new()
        .name("doorbell".into())
        .spawn(move || {
            bell_ready.wait();
            bell_start.wait();
            loop {
                match doorbell.wait() {
                    Ok(()) => {
                        if wake_tx.send(Wake::Doorbell).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = wake_tx.send(Wake::DoorbellBroken(e));
                        return;
                    }
                }
            }
        })
        .map_err(DisplayError::Thread)?;

    ready.wait();
    lock_down().map_err(DisplayError::LockDown)?;
    start.wait();
    let mut worker = Worker {
        tx,
        shm: consumer,
        compression,
        wan: options.wan,
        low_bandwidth: HashMap::new(),
        conns: HashMap::new(),
        broken: None,
        test_hooks: options.test_hooks,
        reported: HashMap::new(),
        painted: None,
    };
    // The first drain reports the host's current state rather than old
    // records, so a worker that starts late begins from what is on screen.
    worker.drain_host(&mut Vec::new());
    worker.main_loop(&wake)
}

impl Worker {
    fn main_loop(&mut self, wake: &Receiver<Wake>) -> Result<(), DisplayError> {
        let mut events = Vec::new();
        loop {
            let first = match self.next_deadline() {
                Some(at) => match wake.recv_deadline(at) {
                    Ok(w) => Some(w),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(()),
                },
                None => match wake.recv() {
                    Ok(w) => Some(w),
                    Err(_) => return Ok(()),
                },
            };
            // Handle everything that is already queued before drawing, so a
            // burst of ACKs or doorbells leads to one round of encoding.
            let mut doorbell = false;
            let mut next = first;
            while let Some(w) = next.take() {
                match w {
                    Wake::Ipc(m) => self.handle_ipc(m)?,
                    Wake::IpcClosed(None) => return Ok(()),
                    Wake::IpcClosed(Some(e)) => return Err(e.into()),
                    Wake::Doorbell => doorbell = true,
                    Wake::DoorbellBroken(e) => return Err(e.into()),
                }
                next = wake.try_recv().ok();
            }
            if doorbell {
                self.drain_host(&mut events);
            }
            self.flush_all()?;
        }
    }

    /// The earliest time a channel waiting for its link class gives up.
    fn next_deadline(&self) -> Option<std::time::Instant> {
        self.conns
            .values()
            .filter_map(|c| match c {
                Conn::Display(d) => d.link_wait_until(),
                Conn::Cursor(_) => None,
            })
            .min()
    }

    fn drain_host(&mut self, events: &mut Vec<Event>) {
        if self.broken.is_some() {
            return;
        }
        events.clear();
        if let Err(e) = self.shm.drain(events) {
            self.mark_broken(format!("host wrote a corrupt record: {e}"));
            return;
        }
        let bounds = match self.shm.mode() {
            Ok(m) => (m.width, m.height),
            Err(e) => {
                self.mark_broken(format!("host wrote a corrupt mode: {e}"));
                return;
            }
        };
        for ev in events.iter() {
            match ev {
                Event::ModeChanged(_) => self.painted = None,
                Event::Damage(_) | Event::Overflow => self.painted = self.shm.mode().ok(),
                _ => {}
            }
            for conn in self.conns.values_mut() {
                match (conn, ev) {
                    (Conn::Display(d), Event::Damage(r)) => d.damage.add(*r, bounds),
                    (Conn::Display(d), Event::Overflow) => d.damage.full(bounds),
                    (Conn::Cursor(c), Event::CursorMoved { .. }) => c.pending_move = true,
                    (Conn::Cursor(c), Event::CursorShape(_)) => c.pending_shape = true,
                    // A mode change is noticed by comparing modes at flush.
                    _ => {}
                }
            }
        }
    }

    fn mark_broken(&mut self, reason: String) {
        tracing::error!(%reason, "display stopped: the shared framebuffer cannot be trusted");
        self.broken = Some(reason);
    }

    fn handle_ipc(&mut self, msg: ToWorker) -> Result<(), DisplayError> {
        match msg {
            ToWorker::ChannelOpened { conn, info, resume } => {
                if self.conns.contains_key(&conn) {
                    // Already handed over when this worker started.
                    return Ok(());
                }
                let resume = resume.as_ref();
                let opened = if info.channel_type == ChannelType::Display.as_u8() {
                    let mut d = DisplayConn::new(&info, resume, self.wan);
                    if let Some(&low) = self.low_bandwidth.get(&info.session_id) {
                        d.set_low_bandwidth(low);
                    }
                    Some(Conn::Display(Box::new(d)))
                } else if info.channel_type == ChannelType::Cursor.as_u8() {
                    Some(Conn::Cursor(CursorConn::new(&info, resume)))
                } else {
                    None
                };
                match opened {
                    Some(mut c) => {
                        let first = match &mut c {
                            Conn::Display(d) => d.on_open(),
                            Conn::Cursor(cc) => cc.on_open(&self.shm),
                        };
                        self.conns.insert(conn, c);
                        self.send(conn, first)?;
                        self.report_state(conn)?;
                    }
                    None => self.tx.send(&FromWorker::CloseChannel {
                        conn,
                        reason: format!(
                            "display worker cannot serve channel type {}",
                            info.channel_type
                        ),
                    })?,
                }
            }
            ToWorker::ChannelClosed { conn } => {
                self.conns.remove(&conn);
                self.reported.remove(&conn);
            }
            ToWorker::ClientMessage {
                conn,
                msg_type,
                body,
            } => {
                let result = match self.conns.get_mut(&conn) {
                    Some(Conn::Display(d)) => d.on_client_message(msg_type, &body),
                    Some(Conn::Cursor(c)) => c.on_client_message(msg_type, &body),
                    None => Ok(()),
                };
                if let Err(reason) = result {
                    tracing::warn!(conn, msg_type, %reason, "bad display/cursor message; closing the channel");
                    self.conns.remove(&conn);
                    self.tx.send(&FromWorker::CloseChannel { conn, reason })?;
                } else {
                    self.report_state(conn)?;
                }
            }
            ToWorker::HostLeds { .. } => {}
            ToWorker::SessionLink {
                session_id,
                low_bandwidth,
            } => {
                tracing::debug!(session_id, low_bandwidth, "session link measured");
                self.low_bandwidth.insert(session_id, low_bandwidth);
                for c in self.conns.values_mut() {
                    if let Conn::Display(d) = c {
                        if d.session_id() == session_id {
                            d.set_low_bandwidth(low_bandwidth);
                        }
                    }
                }
            }
            ToWorker::SetCompression { mode } => match Compression::from_name(&mode) {
                Some(c) => {
                    tracing::info!(mode = %mode, "image compression changed");
                    self.compression = c;
                    for conn in self.conns.values_mut() {
                        if let Conn::Display(d) = conn {
                            d.clear_preference();
                        }
                    }
                }
                None => tracing::warn!(mode = %mode, "unknown image compression ignored"),
            },
            ToWorker::InjectFault { fault } => {
                if self.test_hooks {
                    tracing::warn!(?fault, "injecting a fault on request (test hooks)");
                    spicebox_sandbox::provoke(fault);
                } else {
                    tracing::warn!(?fault, "fault injection refused: test hooks are off");
                }
            }
            ToWorker::Screendump { request } => {
                let result = self.screendump();
                self.tx.send(&FromWorker::Screendump { request, result })?;
            }
        }
        Ok(())
    }

    fn screendump(&self) -> Result<Frame, String> {
        if let Some(reason) = &self.broken {
            return Err(reason.clone());
        }
        let mode = self.shm.mode().map_err(|e| e.to_string())?;
        if mode.width == 0 || mode.height == 0 {
            return Err("the host has not set a display mode yet".into());
        }
        let mut pixels = Vec::with_capacity(mode.width as usize * mode.height as usize * 4);
        self.shm
            .copy_rect(full_rect(&mode), &mut pixels)
            .map_err(|e| e.to_string())?;
        Ok(Frame {
            width: mode.width,
            height: mode.height,
            pixels,
        })
    }

    /// Tells the supervisor what the client now holds, when that changed,
    /// so that a replacement worker can take the channel over.
    fn report_state(&mut self, conn: ConnId) -> Result<(), IpcError> {
        let state = match self.conns.get(&conn) {
            Some(Conn::Display(d)) => d.state(),
            Some(Conn::Cursor(c)) => c.state(),
            None => return Ok(()),
        };
        if self.reported.get(&conn) == Some(&state) {
            return Ok(());
        }
        self.reported.insert(conn, state.clone());
        self.tx.send(&FromWorker::ChannelState { conn, state })
    }

    /// Sends messages with the channel's state after them, if it changed.
    fn send(&mut self, conn: ConnId, messages: Vec<OutMessage>) -> Result<(), IpcError> {
        if messages.is_empty() {
            return Ok(());
        }
        let state = match self.conns.get(&conn) {
            Some(Conn::Display(d)) => Some(d.state()),
            Some(Conn::Cursor(c)) => Some(c.state()),
            None => None,
        }
        .filter(|s| self.reported.get(&conn) != Some(s));
        if let Some(s) = &state {
            self.reported.insert(conn, s.clone());
        }
        self.tx.send(&FromWorker::Send {
            conn,
            messages,
            state,
        })
    }

    fn flush_all(&mut self) -> Result<(), DisplayError> {
        if self.broken.is_some() {
            return Ok(());
        }
        // Until the host has painted the current mode, a first picture
        // would show a half-written framebuffer.
        let mode = self.painted.unwrap_or(Mode::NONE);
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            let out = match self.conns.get_mut(&id) {
                Some(Conn::Display(d)) => d.flush(&self.shm, mode, self.compression),
                Some(Conn::Cursor(c)) => Ok(c.flush(&self.shm)),
                None => continue,
            };
            match out {
                Ok(messages) => {
                    self.send(id, messages)?;
                    self.report_state(id)?;
                }
                Err(e) => {
                    self.mark_broken(format!("cannot read the framebuffer: {e}"));
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// The whole surface of a mode.
pub(crate) fn full_rect(mode: &Mode) -> Rect {
    Rect {
        x: 0,
        y: 0,
        width: mode.width,
        height: mode.height,
    }
}
