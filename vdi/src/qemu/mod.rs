//! The QEMU source: serves a VM started with `-display dbus`
//! (`--source qemu-dbus:ADDRESS`), through the same shared framebuffer
//! the demo desktop uses.
//!
//! * bus: spicebox joins the D-Bus bus QEMU joined (`addr=` of
//!   `-display dbus`; libvirt runs one private bus per VM) and talks to
//!   `org.qemu` there ([`bus`]); or, for `-display dbus,p2p=yes`, gets a
//!   connection of its own from QEMU through its QMP socket ([`qmp`]);
//! * displays: spicebox's display k (one shared framebuffer each) shows
//!   the VM's k-th graphic console ([`consoles`]);
//! * pixels and cursor: per shown console, a `Listener` served on a
//!   peer-to-peer connection handed to QEMU with
//!   `Console_N.RegisterListener` ([`listener`]), copied into that
//!   display's framebuffer ([`screen`]);
//! * input: `Keyboard` and `Mouse` calls on the bus ([`input`]);
//! * LEDs: the `Keyboard.Modifiers` property;
//! * audio (bus mode only): an `AudioOutListener` on a peer-to-peer
//!   connection of its own, relayed to the supervisor ([`audio`]);
//! * ports: the VM's `-chardev dbus` list and whether the guest has each
//!   open ([`chardevs`]).
//!
//! The host outlives QEMU: when a listener connection closes (QEMU
//! exited) or the VM cannot be found, it logs one error, shows a picture
//! that says the VM is gone on every display, tells the supervisor
//! (which may end the sessions, `--on-host-exit end`) and tries again every
//! [`QemuOptions::retry`]; when the VM is back, it resumes with its
//! first scanout. Nothing QEMU sends can panic the host: every size,
//! stride and array length is checked before use.
//!
//! The D-Bus side runs on a small tokio runtime in the host process; the
//! supervisor link keeps its blocking reader thread, relayed into the
//! runtime by a second thread.

mod audio;
mod bus;
mod chardevs;
mod consoles;
mod error;
mod input;
mod listener;
mod p2p_link;
mod pixels;
mod qmp;
mod screen;
mod session;

use std::fmt;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use spicebox_ipc::{FromHost, InputEvent, SyncReceiver, SyncSender as IpcSender, ToHost};
use spicebox_shm::{Doorbell, Producer};
use tokio::sync::mpsc;

pub use crate::gone::GONE_BACKGROUND;
pub use error::QemuError;

use crate::error::VdiError;
use crate::gone::Why;
use crate::host::{peer_gone, receive_input, INPUT_QUEUE};
use consoles::Plan;
use listener::lock;
use screen::Screen;
use session::{Ended, Vm};

/// Where QEMU's display is found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QemuTarget {
    /// On the D-Bus bus QEMU joined (`-display dbus,addr=ADDRESS`), e.g.
    /// `unix:path=/run/libvirt/qemu/dbus/1-vm-dbus.sock`.
    Bus(String),
    /// Through QEMU's QMP socket, for `-display dbus,p2p=yes`: spicebox
    /// asks QEMU for a peer-to-peer D-Bus connection of its own.
    Qmp(PathBuf),
}

impl QemuTarget {
    /// `qmp=PATH` names a QMP socket; anything else is a D-Bus address.
    pub fn parse(spec: &str) -> QemuTarget {
        match spec.strip_prefix(QMP_PREFIX) {
            Some(path) => QemuTarget::Qmp(PathBuf::from(path)),
            None => QemuTarget::Bus(spec.to_string()),
        }
    }
}

/// How a QMP socket is spelled where a D-Bus address could stand.
pub const QMP_PREFIX: &str = "qmp=";

impl fmt::Display for QemuTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QemuTarget::Bus(address) => f.write_str(address),
            QemuTarget::Qmp(path) => write!(f, "{QMP_PREFIX}{}", path.display()),
        }
    }
}

/// Settings of the QEMU source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuOptions {
    /// Where the VM's display is.
    pub target: QemuTarget,
    /// Pause between two connection attempts while the VM is gone.
    pub retry: Duration,
    /// The supervisor ends the sessions when a served VM goes away
    /// (`--on-host-exit end`): the "gone" picture says so.
    pub ends_on_exit: bool,
}

impl QemuOptions {
    /// Options for `spec`, a D-Bus address or `qmp=PATH` (see
    /// [`QemuTarget::parse`]), retrying every 2 s.
    pub fn new(spec: impl AsRef<str>) -> QemuOptions {
        QemuOptions {
            target: QemuTarget::parse(spec.as_ref()),
            retry: Duration::from_secs(2),
            ends_on_exit: false,
        }
    }
}

/// Runs the QEMU host until the supervisor closes the link.
///
/// `displays` are the shared regions of spicebox's displays, display 0
/// first: display k shows the VM's k-th graphic console (normally
/// `Console_k`).
///
/// Never returns because of QEMU: a VM that goes away (or never was
/// there) is shown as gone and retried. Returns an error only when
/// `displays` is empty, or when a shared region or the link to the
/// supervisor fails.
pub fn run(
    opts: QemuOptions,
    displays: Vec<(Producer, Doorbell)>,
    tx: IpcSender<FromHost>,
    rx: SyncReceiver<ToHost>,
) -> Result<(), VdiError> {
    if displays.is_empty() {
        return Err(VdiError::NoDisplay);
    }
    let (events_tx, events_rx) = std_mpsc::sync_channel(INPUT_QUEUE);
    let receiver = thread::Builder::new()
        .name("qemu-input".into())
        .spawn(move || receive_input(rx, None, events_tx))
        .map_err(VdiError::Thread)?;
    // Bounded both ways: when the runtime falls behind, the relay blocks,
    // the receiver's queue fills and the supervisor socket pushes back.
    let (async_tx, async_rx) = mpsc::channel(INPUT_QUEUE);
    thread::Builder::new()
        .name("qemu-input-relay".into())
        .spawn(move || {
            while let Ok(event) = events_rx.recv() {
                if async_tx.blocking_send(event).is_err() {
                    break;
                }
            }
        })
        .map_err(VdiError::Thread)?;
    // Two threads: the listener answers QEMU while the host loop waits
    // on the bus for an input call.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("qemu-host")
        .enable_all()
        .build()
        .map_err(VdiError::Runtime)?;
    let screens = displays
        .into_iter()
        .map(|(producer, doorbell)| Arc::new(Mutex::new(Screen::new(producer, doorbell))))
        .collect();
    let mut host = Host {
        screens,
        tx: Arc::new(Mutex::new(tx)),
        events: async_rx,
        leds: None,
        gone: false,
        subject: "The QEMU VM".into(),
        told: None,
    };
    runtime.block_on(host.run(&opts))?;
    drop(runtime);
    receiver.join().map_err(|_| VdiError::InputThreadPanicked)?
}

/// The link to the supervisor. Several threads write to it (the host
/// loop, the audio listener); the lock keeps each frame whole.
pub(crate) type Link = Arc<Mutex<IpcSender<FromHost>>>;

/// The link, even if a panic elsewhere poisoned the lock: a frame is
/// written whole or the link has failed anyway.
pub(crate) fn lock_link(link: &Link) -> MutexGuard<'_, IpcSender<FromHost>> {
    link.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The host's side of the shared region and of the supervisor link,
/// which outlive every connection to QEMU.
pub(crate) struct Host {
    /// One per display, display 0 first.
    pub(crate) screens: Vec<Arc<Mutex<Screen>>>,
    /// Shared with the audio listener's thread.
    pub(crate) tx: Link,
    pub(crate) events: mpsc::Receiver<InputEvent>,
    /// The LEDs last told to the supervisor.
    leds: Option<u16>,
    /// Whether the VM is shown as gone (to log it once).
    gone: bool,
    /// How the "gone" picture names the VM.
    subject: String,
    /// The console plan last logged (a VM that comes back unchanged is
    /// not described again).
    told: Option<Plan>,
}

impl Host {
    async fn run(&mut self, opts: &QemuOptions) -> Result<(), VdiError> {
        let target = &opts.target;
        loop {
            match Vm::connect(target).await {
                Ok(vm) => {
                    let back = if std::mem::take(&mut self.gone) {
                        " (back)"
                    } else {
                        ""
                    };
                    tracing::info!(%target, vm = %vm.name, "serving the QEMU VM{back}");
                    self.subject = format!("VM \"{}\"", vm.name);
                    match session::serve(&vm, self).await? {
                        Ended::Supervisor => return Ok(()),
                        Ended::Vm { console, error } => {
                            tracing::error!(%target, console, %error, "lost the QEMU VM");
                            self.show_gone(if opts.ends_on_exit {
                                Why::Ended
                            } else {
                                Why::Gone
                            })?;
                            let reason = format!("QEMU {}: {error}", self.subject);
                            if peer_gone(
                                lock_link(&self.tx).send(&FromHost::MachineGone { reason }),
                            )? {
                                return Ok(());
                            }
                        }
                        Ended::Unreachable(error) => {
                            self.unreachable(target, &error, opts.retry)?
                        }
                    }
                }
                Err(error) => self.unreachable(target, &error, opts.retry)?,
            }
            if !self.discard_input_for(opts.retry).await {
                return Ok(());
            }
        }
    }

    /// The VM could not be served (yet): shown as gone, logged once.
    fn unreachable(
        &mut self,
        target: &QemuTarget,
        error: &QemuError,
        retry: Duration,
    ) -> Result<(), VdiError> {
        if !self.gone {
            tracing::error!(%target, %error, "cannot reach the QEMU VM; retrying every {retry:?}");
        } else {
            tracing::debug!(%error, "the QEMU VM is still unreachable");
        }
        self.show_gone(Why::Gone)
    }

    /// Every display shows the VM as gone.
    fn show_gone(&mut self, why: Why) -> Result<(), VdiError> {
        self.gone = true;
        for screen in &self.screens {
            lock(screen).show_gone(&self.subject, why)?;
        }
        Ok(())
    }

    /// `display` shows that the VM, which has `consoles` graphic
    /// consoles, has none for it.
    pub(crate) fn show_missing(&mut self, display: usize, consoles: usize) -> Result<(), VdiError> {
        if let Some(screen) = self.screens.get(display) {
            let why = Why::NoConsole { display, consoles };
            lock(screen).show_gone(&self.subject, why)?;
        }
        Ok(())
    }

    /// Logs, once per VM layout, which consoles are not shown and which
    /// displays have no console.
    pub(crate) fn tell_plan(&mut self, plan: &Plan) {
        if self.told.as_ref() == Some(plan) {
            return;
        }
        if !plan.unserved.is_empty() {
            tracing::info!(
                consoles = ?plan.unserved,
                graphic = plan.graphic,
                displays = plan.displays,
                "the VM has more graphic consoles than spicebox has displays; these are not shown \
                 (start spicebox with --displays {} to show them all)",
                plan.graphic
            );
        }
        if plan.graphic == 0 {
            tracing::info!(
                console = ?plan.served.first(),
                "the VM has no graphic console; display 0 shows its first console"
            );
        }
        let missing = plan.missing();
        if !missing.is_empty() {
            tracing::info!(
                displays = ?missing,
                graphic = plan.graphic,
                "the VM has fewer graphic consoles than spicebox has displays; \
                 the displays without one say so"
            );
        }
        self.told = Some(plan.clone());
    }

    /// Tells the supervisor the guest's LEDs if they changed. True when
    /// the supervisor has gone.
    pub(crate) fn send_leds(&mut self, leds: u16) -> Result<bool, VdiError> {
        if self.leds == Some(leds) {
            return Ok(false);
        }
        self.leds = Some(leds);
        peer_gone(lock_link(&self.tx).send(&FromHost::Leds { modifiers: leds }))
    }

    /// Tells the supervisor `msg`. True when the supervisor has gone.
    pub(crate) fn send(&self, msg: &FromHost) -> Result<bool, VdiError> {
        peer_gone(lock_link(&self.tx).send(msg))
    }

    /// Drops client input for `period` (there is no VM to send it to, and
    /// the queue must not fill up). False when the supervisor has gone.
    async fn discard_input_for(&mut self, period: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + period;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(_)) => {}
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qmp_socket_or_a_bus_address_names_the_vm() {
        assert_eq!(
            QemuTarget::parse("qmp=/run/vm1/qmp.sock"),
            QemuTarget::Qmp(PathBuf::from("/run/vm1/qmp.sock"))
        );
        let bus = "unix:path=/run/vm1/bus.sock";
        assert_eq!(QemuTarget::parse(bus), QemuTarget::Bus(bus.into()));
        for spec in [bus, "qmp=vm/qmp.sock"] {
            assert_eq!(QemuTarget::parse(spec).to_string(), spec);
        }
        assert_eq!(
            QemuOptions::new("qmp=q.sock").target,
            QemuTarget::Qmp("q.sock".into())
        );
    }
}
