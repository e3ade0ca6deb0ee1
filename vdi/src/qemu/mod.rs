//! The QEMU source: serves a VM started with `-display dbus`
//! (`--source qemu-dbus:ADDRESS`), through the same shared framebuffer
//! the demo desktop uses.
//!
//! * bus: spicebox joins the D-Bus bus QEMU joined (`addr=` of
//!   `-display dbus`; libvirt runs one private bus per VM) and talks to
//!   `org.qemu` there ([`bus`]);
//! * pixels and cursor: a `Listener` served on a peer-to-peer connection
//!   handed to QEMU with `Console_0.RegisterListener` ([`listener`]),
//!   copied into the shared framebuffer ([`screen`]);
//! * input: `Keyboard` and `Mouse` calls on the bus ([`input`]);
//! * LEDs: the `Keyboard.Modifiers` property.
//!
//! The host outlives QEMU: when the listener connection closes (QEMU
//! exited) or the VM cannot be found, it logs one error, shows a picture
//! that says the VM is gone and tries again every
//! [`QemuOptions::retry`]; when the VM is back, it resumes with its
//! first scanout. Nothing QEMU sends can panic the host: every size,
//! stride and array length is checked before use.
//!
//! The D-Bus side runs on a small tokio runtime in the host process; the
//! supervisor link keeps its blocking reader thread, relayed into the
//! runtime by a second thread.

mod bus;
mod error;
mod input;
mod listener;
mod pixels;
mod screen;
mod session;

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
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
use listener::lock;
use screen::Screen;
use session::{Ended, Vm};

/// Settings of the QEMU source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuOptions {
    /// The D-Bus address of the bus QEMU joined, e.g.
    /// `unix:path=/run/libvirt/qemu/dbus/1-vm-dbus.sock`.
    pub address: String,
    /// Pause between two connection attempts while the VM is gone.
    pub retry: Duration,
}

impl QemuOptions {
    /// Options for the bus at `address`, retrying every 2 s.
    pub fn new(address: impl Into<String>) -> QemuOptions {
        QemuOptions {
            address: address.into(),
            retry: Duration::from_secs(2),
        }
    }
}

/// Runs the QEMU host until the supervisor closes the link.
///
/// Never returns because of QEMU: a VM that goes away (or never was
/// there) is shown as gone and retried. Returns an error only when the
/// shared region or the link to the supervisor fails.
pub fn run(
    opts: QemuOptions,
    producer: Producer,
    doorbell: Doorbell,
    tx: IpcSender<FromHost>,
    rx: SyncReceiver<ToHost>,
) -> Result<(), VdiError> {
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
    let mut host = Host {
        screen: Arc::new(Mutex::new(Screen::new(producer, doorbell))),
        tx,
        events: async_rx,
        leds: None,
        gone: false,
        subject: "The QEMU VM".into(),
    };
    runtime.block_on(host.run(&opts))?;
    drop(runtime);
    receiver.join().map_err(|_| VdiError::InputThreadPanicked)?
}

/// The host's side of the shared region and of the supervisor link,
/// which outlive every connection to QEMU.
pub(crate) struct Host {
    pub(crate) screen: Arc<Mutex<Screen>>,
    tx: IpcSender<FromHost>,
    pub(crate) events: mpsc::Receiver<InputEvent>,
    /// The LEDs last told to the supervisor.
    leds: Option<u16>,
    /// Whether the VM is shown as gone (to log it once).
    gone: bool,
    /// How the "gone" picture names the VM.
    subject: String,
}

impl Host {
    async fn run(&mut self, opts: &QemuOptions) -> Result<(), VdiError> {
        let address = opts.address.as_str();
        loop {
            match Vm::connect(address).await {
                Ok(vm) => {
                    let back = if std::mem::take(&mut self.gone) {
                        " (back)"
                    } else {
                        ""
                    };
                    tracing::info!(address, vm = %vm.name, "serving the QEMU VM{back}");
                    self.subject = format!("VM \"{}\"", vm.name);
                    match session::serve(&vm, self).await? {
                        Ended::Supervisor => return Ok(()),
                        Ended::Vm(error) => {
                            tracing::error!(address, %error, "lost the QEMU VM; waiting for it to come back");
                            self.show_gone()?;
                        }
                    }
                }
                Err(error) => {
                    if !self.gone {
                        tracing::error!(address, %error, "cannot reach the QEMU VM; retrying every {:?}", opts.retry);
                    } else {
                        tracing::debug!(%error, "the QEMU VM is still unreachable");
                    }
                    self.show_gone()?;
                }
            }
            if !self.discard_input_for(opts.retry).await {
                return Ok(());
            }
        }
    }

    fn show_gone(&mut self) -> Result<(), VdiError> {
        self.gone = true;
        lock(&self.screen).show_gone(&self.subject, Why::Gone)?;
        Ok(())
    }

    /// Tells the supervisor the guest's LEDs if they changed. True when
    /// the supervisor has gone.
    pub(crate) fn send_leds(&mut self, leds: u16) -> Result<bool, VdiError> {
        if self.leds == Some(leds) {
            return Ok(false);
        }
        self.leds = Some(leds);
        peer_gone(self.tx.send(&FromHost::Leds { modifiers: leds }))
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
