//! One connected stretch of the QEMU host: register the listener, replay
//! input, follow the LEDs and the pointer kind, until the VM or the
//! supervisor goes.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use futures_util::StreamExt;
use zbus::proxy::CacheProperties;
use zbus::zvariant::Fd;
use zbus::Connection;

use super::bus::{ConsoleProxy, KeyboardProxy, MouseProxy, VmProxy};
use super::error::QemuError;
use super::input::{spice_leds, Call, Pointer};
use super::listener::{self, lock, Stop};
use super::{qmp, Host, QemuTarget};
use crate::error::VdiError;

/// How long connecting to the bus may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call to QEMU may take: a VM that stopped answering
/// (SIGSTOP, a hung main loop) must not hold the host forever.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a session ended.
pub(crate) enum Ended {
    /// The supervisor closed the link: the host stops.
    Supervisor,
    /// The VM went after it had been served: show it as gone, tell the
    /// supervisor and retry.
    Vm(QemuError),
    /// The VM was found but refused to be served (its console did not
    /// take the listener): retry as if it had not been found.
    Unreachable(QemuError),
}

/// QEMU's display objects on the bus.
pub(crate) struct Vm {
    /// What QEMU calls the VM (`-name`, or its own version).
    pub(crate) name: String,
    console: ConsoleProxy<'static>,
    keyboard: KeyboardProxy<'static>,
    mouse: MouseProxy<'static>,
    // Keeps the connection open for the proxies (they hold it too; this
    // names what the session depends on).
    _conn: Connection,
}

impl Vm {
    /// Connects to QEMU: on the bus at the target's address (and finds
    /// `org.qemu` there), or peer to peer through its QMP socket.
    pub(crate) async fn connect(target: &QemuTarget) -> Result<Vm, QemuError> {
        let conn = match target {
            QemuTarget::Bus(address) => {
                let build = zbus::connection::Builder::address(address.as_str())?
                    .method_timeout(CALL_TIMEOUT)
                    .build();
                tokio::time::timeout(CONNECT_TIMEOUT, build)
                    .await
                    .map_err(|_| QemuError::Timeout(CONNECT_TIMEOUT))??
            }
            QemuTarget::Qmp(path) => qmp::open_display(path).await?,
        };
        // Uncached: a missing `org.qemu` must fail here, not later.
        let vm = VmProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let name = vm.name().await?;
        // The console's size is re-read at the moment it matters (the
        // 7.2 mode-switch bug), so it must not come from a cache.
        let console = ConsoleProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let keyboard = KeyboardProxy::new(&conn).await?;
        let mouse = MouseProxy::new(&conn).await?;
        Ok(Vm {
            name,
            console,
            keyboard,
            mouse,
            _conn: conn,
        })
    }

    async fn call(&self, call: Call) -> zbus::Result<()> {
        match call {
            Call::Key {
                qnum,
                pressed: true,
            } => self.keyboard.press(qnum).await,
            Call::Key {
                qnum,
                pressed: false,
            } => self.keyboard.release(qnum).await,
            Call::Button {
                button,
                pressed: true,
            } => self.mouse.press(button).await,
            Call::Button {
                button,
                pressed: false,
            } => self.mouse.release(button).await,
            Call::Position { x, y } => self.mouse.set_abs_position(x, y).await,
            Call::Motion { dx, dy } => self.mouse.rel_motion(dx, dy).await,
        }
    }
}

/// Serves `vm` until it or the supervisor goes.
pub(crate) async fn serve(vm: &Vm, host: &mut Host) -> Result<Ended, VdiError> {
    lock(&host.screen).start_session()?;
    let (ours, theirs) = match UnixStream::pair() {
        Ok(pair) => pair,
        Err(e) => return Ok(Ended::Unreachable(QemuError::Socket(e))),
    };
    // Ready before QEMU is told: it talks to us from inside the call.
    let mut listening = tokio::spawn(listener::serve(
        ours,
        host.screen.clone(),
        vm.console.clone(),
    ));
    let registered = vm.console.register_listener(Fd::from(theirs.as_fd())).await;
    // QEMU has its own copy now.
    drop(theirs);
    if let Err(e) = registered {
        listening.abort();
        return Ok(Ended::Unreachable(e.into()));
    }
    tracing::info!(vm = %vm.name, "listening to the VM's console 0");

    let mut pointer = Pointer::new(vm.mouse.is_absolute().await.unwrap_or(false));
    let mut locks = vm.keyboard.modifiers().await.unwrap_or(0);
    if host.send_leds(spice_leds(locks))? {
        listening.abort();
        return Ok(Ended::Supervisor);
    }
    let mut locks_changed = vm.keyboard.receive_modifiers_changed().await;
    let mut absolute_changed = vm.mouse.receive_is_absolute_changed().await;
    loop {
        tokio::select! {
            stop = &mut listening => {
                return match stop {
                    Ok(Stop::Vm(e)) => Ok(Ended::Vm(e)),
                    Ok(Stop::Host(e)) => Err(e),
                    Err(e) => {
                        tracing::error!(error = %e, "the listener task failed");
                        Ok(Ended::Vm(QemuError::Closed))
                    }
                };
            }
            event = host.events.recv() => {
                let Some(event) = event else {
                    listening.abort();
                    return Ok(Ended::Supervisor);
                };
                let size = lock(&host.screen).guest_size();
                for call in pointer.translate(&event, size, locks) {
                    // A refused call (relative motion racing a switch to
                    // a tablet) costs one event; a VM that is gone shows
                    // up as the listener's end.
                    if let Err(error) = vm.call(call).await {
                        tracing::debug!(%error, ?call, "QEMU refused input");
                    }
                }
            }
            Some(change) = locks_changed.next() => {
                if let Ok(value) = change.get().await {
                    locks = value;
                    if host.send_leds(spice_leds(locks))? {
                        listening.abort();
                        return Ok(Ended::Supervisor);
                    }
                }
            }
            Some(change) = absolute_changed.next() => {
                if let Ok(absolute) = change.get().await {
                    tracing::info!(absolute, "the guest pointer changed kind");
                    pointer.absolute = absolute;
                }
            }
        }
    }
}
