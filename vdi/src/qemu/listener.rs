//! The `org.qemu.Display1.Listener` object spicebox serves to QEMU on
//! the peer-to-peer connection of `Console.RegisterListener`.
//!
//! QEMU 7.2 replies to `RegisterListener` first, then, still inside the
//! handler on its main thread, authenticates the new connection and builds
//! a proxy for our object (which reads its properties). Until we answer,
//! the whole VM stands still, so each listener (one per served console)
//! runs on a thread and runtime of its own, started before
//! `RegisterListener` is called: a large frame being copied for one
//! console never delays another console's handshake. A listener never
//! waits on the bus while QEMU waits on it — except for the size re-read
//! of the 7.2 mode-switch bug, which QEMU answers from its main loop.
//!
//! Calls are dispatched by hand from the connection's message stream,
//! not through zbus's object server: that keeps them strictly in order
//! (an `Update` must not overtake the `Scanout` before it) and lets the
//! pixel arrays be borrowed from the message instead of copied.

use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use tokio::sync::oneshot;
use zbus::message::Header;
use zbus::{Message, MessageStream};

use super::bus::ConsoleProxy;
use super::error::QemuError;
use super::p2p_link::{self, Answer};
use super::screen::{Fault, Screen, Updated};
use crate::error::VdiError;

/// Where QEMU looks for the listener.
const PATH: &str = "/org/qemu/Display1/Listener";
const LISTENER: &str = "org.qemu.Display1.Listener";
/// Calls read ahead of the one being applied.
const MAX_QUEUED: usize = 4;

/// Why the listener stopped.
pub(crate) enum Stop {
    /// The VM went (or broke the protocol): show it as gone.
    Vm(QemuError),
    /// The shared region failed: the host stops.
    Host(VdiError),
}

/// A listener serving one console on a thread of its own. Dropping it
/// closes the connection, and QEMU forgets the listener.
pub(crate) struct Listening {
    /// The console it listens to.
    pub(crate) console: u32,
    /// How it ended, once it has.
    done: oneshot::Receiver<Stop>,
    /// Dropped with the handle, which stops the thread.
    _cancel: oneshot::Sender<()>,
}

/// Starts serving the listener for console `id` on our end of its socket
/// pair, copying what QEMU sends into `screen`.
pub(crate) fn start(
    id: u32,
    ours: UnixStream,
    screen: Arc<Mutex<Screen>>,
    console: ConsoleProxy<'static>,
) -> Result<Listening, VdiError> {
    let (done_tx, done) = oneshot::channel();
    let (cancel, cancelled) = oneshot::channel::<()>();
    thread::Builder::new()
        .name(format!("qemu-listener-{id}"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let stop = match runtime {
                Ok(runtime) => runtime.block_on(async {
                    tokio::select! {
                        stop = serve(ours, &screen, &console) => Some(stop),
                        _ = cancelled => None,
                    }
                }),
                Err(e) => Some(Stop::Host(VdiError::Runtime(e))),
            };
            if let Some(stop) = stop {
                // Nobody waits any more when the session already ended.
                let _ = done_tx.send(stop);
            }
        })
        .map_err(VdiError::Thread)?;
    Ok(Listening {
        console: id,
        done,
        _cancel: cancel,
    })
}

/// The first of `listening` to end: its console and why. Never returns
/// for an empty list.
pub(crate) async fn first_end(listening: &mut [Listening]) -> (u32, Stop) {
    if listening.is_empty() {
        return std::future::pending().await;
    }
    let ends = listening.iter_mut().map(|l| &mut l.done);
    let (end, index, _) = futures_util::future::select_all(ends).await;
    let console = listening[index].console;
    let stop = end.unwrap_or_else(|_| {
        // The thread went without a word: it panicked.
        tracing::error!(console, "the listener thread failed");
        Stop::Vm(QemuError::Closed)
    });
    (console, stop)
}

/// Serves the listener on our end of the socket pair until QEMU closes it.
async fn serve(ours: UnixStream, screen: &Mutex<Screen>, console: &ConsoleProxy<'static>) -> Stop {
    match run(ours, screen, console).await {
        Ok(()) => Stop::Vm(QemuError::Closed),
        Err(stop) => stop,
    }
}

async fn run(
    ours: UnixStream,
    screen: &Mutex<Screen>,
    console: &ConsoleProxy<'static>,
) -> Result<(), Stop> {
    let conn = p2p_link::accept(ours, MAX_QUEUED).await.map_err(Stop::Vm)?;
    let mut messages = MessageStream::from(&conn);
    let mut warned = false;
    while let Some(msg) = p2p_link::next_call(&mut messages).await.map_err(vm)? {
        let header = msg.header();
        let answer = handle(&msg, &header, screen, console).await?;
        if let Err(QemuError::BadFrame(why)) = &answer {
            // Once per connection: a broken producer would flood the log.
            if !warned {
                tracing::warn!(%why, "dropping an update QEMU sent; further ones are logged at debug level");
                warned = true;
            } else {
                tracing::debug!(%why, "dropped an update");
            }
        }
        p2p_link::reply(&conn, &header, &answer).await.map_err(vm)?;
    }
    Ok(())
}

async fn handle(
    msg: &Message,
    header: &Header<'_>,
    screen: &Mutex<Screen>,
    console: &ConsoleProxy<'static>,
) -> Result<Result<Answer, QemuError>, Stop> {
    if header.path().map(|p| p.as_str()) != Some(PATH) {
        return Ok(Ok(Answer::Unknown(
            "org.freedesktop.DBus.Error.UnknownObject",
        )));
    }
    let interface = header.interface().map(|i| i.as_str()).unwrap_or("");
    let member = header.member().map(|m| m.as_str()).unwrap_or("");
    let body = msg.body();
    match (interface, member) {
        (LISTENER, "Scanout") => {
            let (w, h, stride, format, data): (u32, u32, u32, u32, &[u8]) =
                body.deserialize().map_err(vm)?;
            applied(lock(screen).scanout(w, h, stride, format, data))
        }
        (LISTENER, "Update") => {
            let (x, y, w, h, stride, format, data): (i32, i32, i32, i32, u32, u32, &[u8]) =
                body.deserialize().map_err(vm)?;
            let rect = (x, y, w, h);
            let first = lock(screen).update(rect, stride, format, data, false);
            if !matches!(first, Ok(Updated::OutsideScreen)) {
                return applied(first.map(|_| ()));
            }
            // QEMU 7.2 changed modes without a Scanout: its Console
            // already has the new size.
            let (width, height) = (
                console.width().await.map_err(vm)?,
                console.height().await.map_err(vm)?,
            );
            let mut screen = lock(screen);
            if screen.guest_size() != (width, height) {
                if let Err(e) = screen.resize(width, height) {
                    return applied(Err(e));
                }
            }
            applied(screen.update(rect, stride, format, data, true).map(|_| ()))
        }
        (LISTENER, "CursorDefine") => {
            let (w, h, hot_x, hot_y, data): (i32, i32, i32, i32, &[u8]) =
                body.deserialize().map_err(vm)?;
            applied(lock(screen).define_cursor((w, h), (hot_x, hot_y), data))
        }
        (LISTENER, "MouseSet") => {
            let (x, y, on): (i32, i32, i32) = body.deserialize().map_err(vm)?;
            applied(lock(screen).set_mouse(x, y, on != 0).map_err(Fault::Shm))
        }
        (LISTENER, "Disable") => applied(lock(screen).disable().map_err(Fault::Shm)),
        // Only with `gl=on`, which needs a render node spicebox does not
        // import; QEMU falls back to nothing, so say so clearly.
        (LISTENER, "ScanoutDMABUF" | "UpdateDMABUF") => {
            tracing::warn!(
                "QEMU sends DMABUF scanouts (gl=on); spicebox needs -display dbus without gl"
            );
            Ok(Ok(Answer::Unknown(
                "org.freedesktop.DBus.Error.NotSupported",
            )))
        }
        ("org.freedesktop.DBus.Properties", "GetAll") => Ok(Ok(Answer::NoProperties)),
        ("org.freedesktop.DBus.Peer", "Ping") => Ok(Ok(Answer::Empty)),
        _ => Ok(Ok(Answer::Unknown(
            "org.freedesktop.DBus.Error.UnknownMethod",
        ))),
    }
}

/// The outcome of a call on the screen: QEMU's faults are answered, the
/// region's end the host.
fn applied(result: Result<(), Fault>) -> Result<Result<Answer, QemuError>, Stop> {
    match result {
        Ok(()) => Ok(Ok(Answer::Empty)),
        Err(Fault::Frame(why)) => Ok(Err(QemuError::BadFrame(why))),
        Err(Fault::Shm(e)) => Err(Stop::Host(e.into())),
    }
}

fn vm(e: impl Into<QemuError>) -> Stop {
    Stop::Vm(e.into())
}

/// The screen, even if a panic elsewhere poisoned the lock: its state is
/// always consistent between calls.
pub(crate) fn lock(screen: &Mutex<Screen>) -> MutexGuard<'_, Screen> {
    screen.lock().unwrap_or_else(PoisonError::into_inner)
}
