//! One connected stretch of the QEMU host: find the VM's consoles,
//! register one listener per served console (display k shows the k-th
//! graphic console, see [`consoles`](super::consoles)), replay input,
//! follow the LEDs and the pointer kind, until the VM or the supervisor
//! goes. The VM counts as gone as soon as any listener connection ends:
//! QEMU closes them all when it exits, and one that QEMU dropped alone
//! means the VM is no longer served as asked. On a bus, the VM's audio
//! output (if it has `-audiodev dbus`) is relayed too; its connection
//! ending costs the audio, not the session. The VM's D-Bus chardevs are
//! listed for the supervisor, and their guest side followed.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use zbus::proxy::CacheProperties;
use zbus::zvariant::Fd;
use zbus::Connection;

use super::audio::{self, AudioEnd, AudioListening};
use super::bus::{console_path, AudioProxy, ConsoleProxy, KeyboardProxy, MouseProxy, VmProxy};
use super::chardevs::Ports;
use super::consoles::Plan;
use super::error::QemuError;
use super::input::{spice_leds, Call, Pointer};
use super::listener::{self, lock, Listening, Stop};
use super::screen::Screen;
use super::{qmp, Host, QemuTarget};
use crate::error::VdiError;
use spicebox_ipc::FromHost;

/// How long connecting to the bus may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call to QEMU may take: a VM that stopped answering
/// (SIGSTOP, a hung main loop) must not hold the host forever.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Most consoles looked at: QEMU makes one per display head and `vc`
/// chardev, a handful; a longer list is not worth a call per entry.
const MAX_CONSOLES: usize = 64;

/// Why a session ended.
pub(crate) enum Ended {
    /// The supervisor closed the link: the host stops.
    Supervisor,
    /// The VM went after it had been served (the listener connection of
    /// `console` ended first): show it as gone, tell the supervisor and
    /// retry.
    Vm {
        /// The console whose listener ended.
        console: u32,
        /// Why.
        error: QemuError,
    },
    /// The VM was found but refused to be served (it listed no console,
    /// or a console did not take the listener): retry as if it had not
    /// been found.
    Unreachable(QemuError),
}

/// QEMU's display objects on the bus.
pub(crate) struct Vm {
    /// What QEMU calls the VM (`-name`, or its own version).
    pub(crate) name: String,
    vm: VmProxy<'static>,
    /// Console 0's: keys go there whichever display the client looks at.
    keyboard: KeyboardProxy<'static>,
    /// Console 0's: buttons and relative motion go there.
    mouse: MouseProxy<'static>,
    conn: Connection,
    /// Reached peer to peer through QMP (no bus).
    p2p: bool,
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
        let keyboard = KeyboardProxy::new(&conn).await?;
        let mouse = MouseProxy::new(&conn).await?;
        Ok(Vm {
            name,
            vm,
            keyboard,
            mouse,
            conn,
            p2p: matches!(target, QemuTarget::Qmp(_)),
        })
    }

    /// The VM's consoles: id and `Type`.
    async fn consoles(&self) -> Result<Vec<(u32, String)>, QemuError> {
        let mut ids = self.vm.console_ids().await?;
        if ids.len() > MAX_CONSOLES {
            tracing::warn!(
                listed = ids.len(),
                "QEMU lists more consoles than spicebox looks at; using the first {MAX_CONSOLES}"
            );
            ids.truncate(MAX_CONSOLES);
        }
        let mut consoles = Vec::with_capacity(ids.len());
        for id in ids {
            let kind = self.console(id).await?.kind().await?;
            consoles.push((id, kind));
        }
        Ok(consoles)
    }

    /// Console `id`, uncached: its size is re-read at the moment it
    /// matters (the 7.2 mode-switch bug), so it must not come from a cache.
    async fn console(&self, id: u32) -> Result<ConsoleProxy<'static>, QemuError> {
        Ok(ConsoleProxy::builder(&self.conn)
            .path(console_path(id))?
            .cache_properties(CacheProperties::No)
            .build()
            .await?)
    }

    /// The `Mouse` of console `id`, for positions on its display.
    async fn mouse_of(&self, id: u32) -> Result<MouseProxy<'static>, QemuError> {
        Ok(MouseProxy::builder(&self.conn)
            .path(console_path(id))?
            .cache_properties(CacheProperties::No)
            .build()
            .await?)
    }

    /// Makes `call`; `mice` are the served consoles' mice, display by
    /// display.
    async fn call(&self, mice: &[MouseProxy<'static>], call: Call) -> zbus::Result<()> {
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
            Call::Position { display, x, y } => match mice.get(display) {
                Some(mouse) => mouse.set_abs_position(x, y).await,
                // The pointer only names served displays.
                None => Ok(()),
            },
            Call::Motion { dx, dy } => self.mouse.rel_motion(dx, dy).await,
        }
    }
}

/// Serves `vm` until it or the supervisor goes.
pub(crate) async fn serve(vm: &Vm, host: &mut Host) -> Result<Ended, VdiError> {
    let plan = match vm.consoles().await {
        Ok(consoles) => Plan::new(&consoles, host.screens.len()),
        Err(e) => return Ok(Ended::Unreachable(e)),
    };
    if plan.served.is_empty() {
        return Ok(Ended::Unreachable(QemuError::NoConsole));
    }
    host.tell_plan(&plan);
    // Dropping these (any return below) closes every listener connection.
    let mut listening = Vec::with_capacity(plan.served.len());
    let mut mice = Vec::with_capacity(plan.served.len());
    for (&id, screen) in plan.served.iter().zip(&host.screens) {
        match register(vm, id, screen).await? {
            Ok(listener) => listening.push(listener),
            Err(e) => return Ok(Ended::Unreachable(e)),
        }
        match vm.mouse_of(id).await {
            Ok(mouse) => mice.push(mouse),
            Err(e) => return Ok(Ended::Unreachable(e)),
        }
    }
    for display in plan.missing() {
        host.show_missing(display, plan.graphic)?;
    }
    tracing::info!(vm = %vm.name, consoles = ?plan.served, "listening to the VM's consoles (display k shows the k-th)");
    // The host is borrowed again below (input, LEDs).
    let served: Vec<Arc<Mutex<Screen>>> = host.screens[..listening.len()].to_vec();

    let mut pointer = Pointer::new(vm.mouse.is_absolute().await.unwrap_or(false));
    let mut locks = vm.keyboard.modifiers().await.unwrap_or(0);
    if host.send_leds(spice_leds(locks))? {
        return Ok(Ended::Supervisor);
    }
    let mut audio = register_audio(vm, host).await?;
    let mut ports = match Ports::find(&vm.conn).await {
        Ok(ports) => ports,
        Err(error) => {
            tracing::warn!(%error, "cannot list the VM's chardevs");
            Ports::none()
        }
    };
    if !ports.list.is_empty() {
        let names: Vec<&str> = ports.list.iter().map(|p| p.name.as_str()).collect();
        tracing::info!(chardevs = ?names, "the VM's D-Bus chardevs");
    }
    let chardevs = FromHost::Chardevs {
        chardevs: ports.list.clone(),
    };
    if host.send(&chardevs)? {
        return Ok(Ended::Supervisor);
    }
    let mut locks_changed = vm.keyboard.receive_modifiers_changed().await;
    let mut absolute_changed = vm.mouse.receive_is_absolute_changed().await;
    loop {
        tokio::select! {
            (console, stop) = listener::first_end(&mut listening) => {
                return match stop {
                    Stop::Vm(error) => Ok(Ended::Vm { console, error }),
                    Stop::Host(e) => Err(e),
                };
            }
            end = audio_end(&mut audio) => {
                audio = None;
                match end {
                    AudioEnd::Supervisor => return Ok(Ended::Supervisor),
                    AudioEnd::Host(e) => return Err(e),
                    // QEMU exiting closes it too; the display listeners
                    // tell that apart.
                    AudioEnd::Vm(QemuError::Closed) => {
                        tracing::info!("QEMU closed the audio connection")
                    }
                    AudioEnd::Vm(error) => tracing::warn!(
                        %error,
                        "the QEMU audio connection failed; the VM goes on without audio"
                    ),
                }
            }
            (name, open) = ports.changed() => {
                tracing::debug!(chardev = %name, open, "the guest side of a chardev changed");
                if host.send(&FromHost::ChardevGuestOpen { name, open })? {
                    return Ok(Ended::Supervisor);
                }
            }
            event = host.events.recv() => {
                let Some(event) = event else {
                    return Ok(Ended::Supervisor);
                };
                let sizes: Vec<(u32, u32)> =
                    served.iter().map(|screen| lock(screen).guest_size()).collect();
                for call in pointer.translate(&event, &sizes, locks) {
                    // A refused call (relative motion racing a switch to
                    // a tablet) costs one event; a VM that is gone shows
                    // up as the listeners' end.
                    if let Err(error) = vm.call(&mice, call).await {
                        tracing::debug!(%error, ?call, "QEMU refused input");
                    }
                }
            }
            Some(change) = locks_changed.next() => {
                if let Ok(value) = change.get().await {
                    locks = value;
                    if host.send_leds(spice_leds(locks))? {
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

/// Registers a listener for console `id` that fills `screen`: Ok(Err)
/// when QEMU refuses it.
async fn register(
    vm: &Vm,
    id: u32,
    screen: &Arc<Mutex<Screen>>,
) -> Result<Result<Listening, QemuError>, VdiError> {
    let console = match vm.console(id).await {
        Ok(console) => console,
        Err(e) => return Ok(Err(e)),
    };
    lock(screen).start_session()?;
    let (ours, theirs) = match UnixStream::pair() {
        Ok(pair) => pair,
        Err(e) => return Ok(Err(QemuError::Socket(e))),
    };
    // Ready before QEMU is told: it talks to us from inside the call.
    let listening = listener::start(id, ours, screen.clone(), console.clone())?;
    let registered = console.register_listener(Fd::from(theirs.as_fd())).await;
    // QEMU has its own copy now.
    drop(theirs);
    Ok(registered.map(|()| listening).map_err(QemuError::from))
}

/// Registers the audio output listener when the VM has D-Bus audio and
/// is on a bus. Never fails the session: a VM without audio is served
/// without it.
async fn register_audio(vm: &Vm, host: &Host) -> Result<Option<AudioListening>, VdiError> {
    if vm.p2p {
        tracing::info!(
            "peer-to-peer mode: no audio listener is registered (QEMU 7.2 crashes when an \
             audio listener registers on a peer-to-peer connection); use a bus for audio"
        );
        return Ok(None);
    }
    let proxy = AudioProxy::builder(&vm.conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await;
    let proxy = match proxy {
        Ok(proxy) => proxy,
        Err(error) => {
            tracing::warn!(%error, "cannot reach QEMU's audio object; no audio is relayed");
            return Ok(None);
        }
    };
    let (ours, theirs) = match UnixStream::pair() {
        Ok(pair) => pair,
        Err(error) => {
            tracing::warn!(%error, "no socket pair for the audio listener; no audio is relayed");
            return Ok(None);
        }
    };
    // Ready before QEMU is told: it calls `Init` from inside the call.
    let listening = audio::start(ours, host.tx.clone())?;
    let registered = proxy.register_out_listener(Fd::from(theirs.as_fd())).await;
    drop(theirs);
    match registered {
        Ok(()) => {
            tracing::info!("relaying the VM's audio output");
            Ok(Some(listening))
        }
        Err(error) => {
            tracing::info!(
                %error,
                "the VM has no D-Bus audio (-audiodev dbus,id=ID with -display dbus,audiodev=ID); \
                 no audio is relayed"
            );
            Ok(None)
        }
    }
}

/// How the audio listener ended; never, when there is none.
async fn audio_end(audio: &mut Option<AudioListening>) -> AudioEnd {
    match audio {
        Some(listening) => listening.ended().await,
        None => std::future::pending().await,
    }
}
