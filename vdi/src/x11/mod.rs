//! The X11 source: shares an existing X display (`--source x11::99`), the
//! way x11spice does, through the same shared framebuffer the demo
//! desktop uses.
//!
//! * pixels: MIT-SHM `GetImage` into a memfd (core `GetImage` without it),
//!   converted to B,G,R,X ([`capture`], [`pixels`]);
//! * what to read: DAMAGE on the root window, collected once per frame
//!   ([`display`]);
//! * cursor: XFixes cursor image and the pointer position;
//! * input: XTEST key, button and motion events ([`input`], [`keymap`]);
//! * LEDs: XKB named indicators ([`leds`]);
//! * screen size: `ConfigureNotify` on the root window (RandR resizes
//!   send it), which becomes a new shared-memory mode.
//!
//! The host outlives the X server: when the connection breaks it logs one
//! error, shows a picture that says the display is gone ([`gone`]), tells
//! the supervisor (which may end the sessions, `--on-host-exit end`) and
//! tries again every [`X11Options::retry`]; when the display is back, it
//! resumes with a full picture. Nothing the X server sends can panic the
//! host: replies are bounds-checked by x11rb and by the code here.

mod capture;
mod display;
mod error;
mod gone;
mod input;
mod keymap;
mod leds;
mod pixels;
mod session;

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use spicebox_ipc::{FromHost, InputEvent, SyncReceiver, SyncSender as IpcSender, ToHost};
use spicebox_shm::{Doorbell, Producer, Rect};

pub use error::X11Error;
pub use gone::{ended_picture, gone_picture, GONE_BACKGROUND};

use crate::error::VdiError;
use crate::host::{peer_gone, receive_input, INPUT_QUEUE};
use display::Display;
use gone::Why;
use session::{Ended, Session};

/// Size of the "gone" picture when the display was never reached.
const FALLBACK_SIZE: (u32, u32) = (1024, 768);

/// Settings of the X11 source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X11Options {
    /// The DISPLAY string, e.g. `:99` or `unix/:0`.
    pub display: String,
    /// Most captures per second.
    pub fps: u32,
    /// Pause between two connection attempts while the display is gone.
    pub retry: Duration,
    /// The supervisor ends the sessions when a served display goes away
    /// (`--on-host-exit end`): the "gone" picture says so.
    pub ends_on_exit: bool,
}

impl X11Options {
    /// Options for `display` with the defaults: 30 captures per second,
    /// a reconnection attempt every 2 s.
    pub fn new(display: impl Into<String>) -> X11Options {
        X11Options {
            display: display.into(),
            fps: 30,
            retry: Duration::from_secs(2),
            ends_on_exit: false,
        }
    }
}

/// Runs the X11 host until the supervisor closes the link.
///
/// Never returns because of the X server: a display that goes away (or
/// never was there) is shown as gone and retried. Returns an error only
/// when the shared region or the link to the supervisor fails.
pub fn run(
    opts: X11Options,
    producer: Producer,
    doorbell: Doorbell,
    tx: IpcSender<FromHost>,
    rx: SyncReceiver<ToHost>,
) -> Result<(), VdiError> {
    let (events_tx, events_rx) = mpsc::sync_channel(INPUT_QUEUE);
    let receiver = thread::Builder::new()
        .name("x11-input".into())
        .spawn(move || receive_input(rx, None, events_tx))
        .map_err(VdiError::Thread)?;
    let mut host = Host {
        producer,
        doorbell,
        tx,
        events: events_rx,
        gone: None,
    };
    host.run(&opts)?;
    receiver.join().map_err(|_| VdiError::InputThreadPanicked)?
}

/// The host's side of the shared region and of the supervisor link,
/// which outlive every X connection.
pub(crate) struct Host {
    pub(crate) producer: Producer,
    pub(crate) doorbell: Doorbell,
    pub(crate) tx: IpcSender<FromHost>,
    pub(crate) events: Receiver<InputEvent>,
    /// What the "gone" picture currently shows, to log and paint once.
    gone: Option<Why>,
}

impl Host {
    fn run(&mut self, opts: &X11Options) -> Result<(), VdiError> {
        let period = Duration::from_secs(1) / opts.fps.clamp(1, crate::MAX_FPS);
        loop {
            match Display::connect(&opts.display) {
                Ok(display) => {
                    if self.gone.take().is_some() {
                        tracing::info!(display = %opts.display, "the X display is back");
                    }
                    match Session::new(display, period).run(self)? {
                        Ended::Supervisor => return Ok(()),
                        Ended::Display(error) => {
                            tracing::error!(display = %opts.display, %error, "lost the X display");
                            let why = match why(&error) {
                                Why::Gone if opts.ends_on_exit => Why::Ended,
                                other => other,
                            };
                            self.show_gone(&opts.display, why)?;
                            let reason = format!("X display {}: {error}", opts.display);
                            if peer_gone(self.tx.send(&FromHost::MachineGone { reason }))? {
                                return Ok(());
                            }
                        }
                    }
                }
                Err(error) => {
                    let why = why(&error);
                    if self.gone != Some(why) {
                        tracing::error!(display = %opts.display, %error, "cannot serve the X display; retrying every {:?}", opts.retry);
                    } else {
                        tracing::debug!(%error, "X display still unavailable");
                    }
                    self.show_gone(&opts.display, why)?;
                }
            }
            if !self.discard_input_for(opts.retry) {
                return Ok(());
            }
        }
    }

    /// Paints the "gone" picture at the current size (once per state).
    fn show_gone(&mut self, name: &str, why: Why) -> Result<(), VdiError> {
        if self.gone == Some(why) {
            return Ok(());
        }
        self.gone = Some(why);
        let mode = self.producer.mode();
        let (width, height) = if mode.is_set() {
            (mode.width, mode.height)
        } else {
            self.producer.set_mode(FALLBACK_SIZE.0, FALLBACK_SIZE.1)?;
            FALLBACK_SIZE
        };
        let picture = gone::paint(width, height, name, why);
        let full = Rect {
            x: 0,
            y: 0,
            width,
            height,
        };
        self.producer
            .write_rect(full, &picture, width as usize * 4)?;
        // No pointer over a display that is not there.
        self.producer.set_cursor_shape(1, 1, 0, 0, &[0; 4])?;
        self.doorbell.ring()?;
        Ok(())
    }

    /// Drops client input for `period` (there is no display to send it
    /// to, and the queue must not fill up). False when the supervisor has
    /// gone.
    fn discard_input_for(&self, period: Duration) -> bool {
        let deadline = Instant::now() + period;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            match self.events.recv_timeout(left) {
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }
}

/// Which "gone" picture an error calls for.
fn why(error: &X11Error) -> Why {
    match error {
        X11Error::UnsupportedFormat(_) | X11Error::MissingExtension(_) => Why::Unsupported,
        _ => Why::Gone,
    }
}
